import { useEffect } from "react";
import { PromptCard } from "./PromptCard";
import { useServices, useStore } from "./hooks";

/** Every pending prompt of every session, answerable here. */
export function Inbox({ onOpenDrawer }: { onOpenDrawer: () => void }) {
  const { viewport, navigate } = useServices();
  const prompts = useStore((s) => s.inbox);
  // The asking sessions' titles, joined: one string is a stable snapshot (an array built
  // on every read would not be).
  const titles = useStore((s) => s.inbox.map((p) => s.summary(p.session)?.title ?? "").join("\u0000")).split("\u0000");

  useEffect(() => {
    viewport.refreshInbox();
  }, [viewport]);


  return (
    <section className="pane" data-testid="inbox" aria-label="Inbox">
      <header className="pane-head">
        <button type="button" className="btn icon drawer-toggle" onClick={onOpenDrawer} aria-label="Open the session list" data-testid="drawer-open">
          ☰
        </button>
        <div className="pane-title">
          <h1>Inbox</h1>
          <div className="pane-meta">Everything the agents are waiting on you for, across all sessions.</div>
        </div>
      </header>
      <div className="transcript-wrap">
        <div className="transcript">
          <div className="transcript-inner">
            {prompts.length === 0 ? (
              <p className="empty" data-testid="inbox-empty">
                Nothing is waiting for you.
              </p>
            ) : (
              prompts.map((p, i) => (
                <div className="item prompt" key={`${p.session}/${p.prompt_id}`} data-testid="inbox-item">
                  <PromptCard
                    session={p.session}
                    event={p}
                    outcome={null}
                    context={
                      <button type="button" className="btn link small inbox-session" onClick={() => navigate({ kind: "session", id: p.session })}>
                        {titles[i] || "Untitled session"} →
                      </button>
                    }
                  />
                </div>
              ))
            )}
          </div>
        </div>
      </div>
    </section>
  );
}
