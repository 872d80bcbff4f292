import { useCallback, useEffect, useRef, useState, type KeyboardEvent } from "react";
import type { Session } from "../protocol";
import type { SessionView } from "../state/session";
import { ApiError, errorText } from "../api/rest";
import { useConnected, useNarrow, useServices, useSessionView, useSummary } from "./hooks";
import { Transcript } from "./Transcript";
import { SessionConfig } from "./ConfigPicker";
import { formatCost, formatTokens } from "./usage";
import { ClipIcon, formatSize } from "./Attachments";
import { SessionMenu, StatusDot, statusLabel } from "./Sidebar";

/** The pane on screen: a projection of one session's state, nothing more. */
export function SessionPane({ id, onOpenDrawer }: { id: string; onOpenDrawer: () => void }) {
  const { viewport } = useServices();
  const live = useSessionView(id);
  const summary = useSummary(id);
  const connected = useConnected();
  // During a long replay keep showing what was there (or a progress line) instead of
  // rendering every step of it; the transcript renders once, caught up.
  const settled = useRef<SessionView | null>(null);
  if (live && !live.loading) settled.current = live;
  const view = live?.loading ? settled.current : live;

  useEffect(() => {
    viewport.show(id);
    // Leaving the pane (another session, the inbox, the root): nothing is on screen until
    // the next pane says so. Guarded: the next pane's effect may already have run.
    return () => {
      if (viewport.activeSession === id) viewport.show(null);
    };
  }, [viewport, id]);

  const onSeen = useCallback((seq: number) => viewport.markRead(id, seq), [viewport, id]);

  const status = summary?.status;
  const busy = (view?.runningTurn ?? null) !== null || status === "starting" || status === "running" || status === "awaiting_input";
  const waiting = status === "awaiting_input" || (view?.pending.length ?? 0) > 0;
  const title = summary?.title || view?.title || "Untitled session";

  return (
    <section className="pane" data-testid="session-pane" data-session-id={id} aria-label={title}>
      <header className="pane-head">
        <button type="button" className="btn icon drawer-toggle" onClick={onOpenDrawer} aria-label="Open the session list" data-testid="drawer-open">
          ☰
        </button>
        <div className="pane-title">
          <h1 data-testid="pane-title">{title}</h1>
          <div className="pane-meta">
            {summary ? (
              <>
                {summary.archived ? (
                  <span className="pill" data-testid="pane-archived" title="Left out of the session list; find it under Archived">
                    Archived
                  </span>
                ) : null}
                <StatusDot status={summary.status} connected={connected} />
                <span data-testid="pane-status">{statusLabel(summary.status, connected)}</span>
                <span className="sep">·</span>
                <span>{summary.agent}</span>
                <span className="cwd-wrap">
                  <span className="sep">·</span>
                  <code className="cwd" title={summary.cwd}>
                    {summary.cwd}
                  </code>
                </span>
              </>
            ) : null}
            {summary?.usage ? (
              <>
                <span className="sep">·</span>
                <span className="usage" data-testid="usage" title="Tokens in the agent's context, as it last reported">
                  {formatTokens(summary.usage.used_tokens)}
                  {summary.usage.context_size ? ` / ${formatTokens(summary.usage.context_size)} tokens` : " tokens"}
                </span>
                {summary.usage.cost ? (
                  <>
                    <span className="sep">·</span>
                    <span className="cost" data-testid="cost" title="This session's cost so far, as the agent reported it">
                      {formatCost(summary.usage.cost)}
                    </span>
                  </>
                ) : null}
              </>
            ) : null}
            {summary && summary.viewers > 1 ? (
              <>
                <span className="sep">·</span>
                <span title="Viewports attached to this session">{summary.viewers} viewers</span>
              </>
            ) : null}
          </div>
          {summary ? <SessionConfig session={summary} /> : null}
        </div>
        {summary ? <SessionMenu session={summary} /> : null}
      </header>
      {view ? (
        <Transcript key={id} view={view} cwd={summary?.cwd} busy={busy} waiting={waiting} onSeen={onSeen} />
      ) : (
        <div className="transcript-wrap">
          <p className="empty" data-testid="loading">
            {live?.loading ? `Loading ${live.cursor.toLocaleString()} of ${live.replayUntil.toLocaleString()} events…` : "Loading…"}
          </p>
        </div>
      )}
      <Composer id={id} busy={busy} summary={summary} />
    </section>
  );
}


/** A file picked, pasted or dropped into the composer, not yet sent. */
interface Picked {
  file: File;
  key: string;
  /** An object URL for an image's thumbnail. */
  preview?: string;
}

/** Drafts survive switching sessions (per session, this tab only). */
const drafts = new Map<string, string>();

function Composer({ id, busy, summary }: { id: string; busy: boolean; summary: Session | undefined }) {
  const { api, store } = useServices();
  const [text, setText] = useState(() => drafts.get(id) ?? "");
  const [sending, setSending] = useState(false);
  const [files, setFiles] = useState<Picked[]>([]);
  // A file input made on demand, not kept in the page: the system's picker (on a
  // phone: camera, gallery, files) is all it is for.
  const pick = () => {
    const input = document.createElement("input");
    input.type = "file";
    input.multiple = true;
    input.onchange = () => addFiles(input.files);
    input.click();
  };
  const addFiles = (list: FileList | null | undefined) => {
    const picked = [...(list ?? [])].map((file) => ({
      file,
      key: `${file.name}-${file.size}-${Math.random()}`,
      preview: file.type.startsWith("image/") ? URL.createObjectURL(file) : undefined,
    }));
    if (picked.length > 0) setFiles((cur) => [...cur, ...picked]);
  };
  const dropFile = (key: string) =>
    setFiles((cur) => {
      const gone = cur.find((f) => f.key === key);
      if (gone?.preview) URL.revokeObjectURL(gone.preview);
      return cur.filter((f) => f.key !== key);
    });
  const clearFiles = () =>
    setFiles((cur) => {
      for (const f of cur) if (f.preview) URL.revokeObjectURL(f.preview);
      return [];
    });
  const [error, setError] = useState<string | null>(null);
  const area = useRef<HTMLTextAreaElement>(null);
  const narrow = useNarrow();

  useEffect(() => {
    setText(drafts.get(id) ?? "");
    setError(null);
    // Files belong to the session they were picked for.
    clearFiles();
  }, [id]);

  useEffect(() => {
    drafts.set(id, text);
    const el = area.current;
    if (el) {
      el.style.height = "auto";
      el.style.height = `${Math.min(el.scrollHeight, 240)}px`;
    }
  }, [id, text]);

  async function send() {
    const t = text.trim();
    if ((!t && files.length === 0) || sending) return;
    setSending(true);
    setError(null);
    try {
      // Uploaded first (in order), then sent by id; a failed upload sends nothing.
      // The files as they were when Send was pressed; any added meanwhile stay.
      const sent = files;
      const ids: string[] = [];
      for (const f of sent) ids.push((await api.upload(id, f.file)).id);
      // Always with `queue`: the server starts it now if no turn runs, else it waits.
      await api.send(id, t || "(see the attached files)", true, ids);
      setText("");
      drafts.delete(id);
      setFiles((cur) => {
        for (const f of sent) if (f.preview) URL.revokeObjectURL(f.preview);
        return cur.filter((f) => !sent.includes(f));
      });
    } catch (e) {
      setError(errorText(e));
    } finally {
      setSending(false);
    }
  }

  async function unqueue(turnId: string) {
    setError(null);
    try {
      store.upsertSummary(await api.unqueue(id, turnId));
    } catch (e) {
      // Already started or gone: the next summary shows what is left.
      if (!(e instanceof ApiError && (e.code === "not_found" || e.code === "conflict"))) setError(errorText(e));
    }
  }

  async function cancel() {
    setError(null);
    try {
      await api.cancel(id);
    } catch (e) {
      if (!(e instanceof ApiError && e.code === "conflict")) setError(errorText(e));
    }
  }

  function onKeyDown(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      void send();
    }
  }

  const queued = summary?.queued ?? [];
  const commands = summary?.commands ?? [];
  const hint = commands.length > 0 && text.startsWith("/") ? commands.filter((c) => `/${c.name}`.startsWith(text.split(/\s/)[0] ?? "")).slice(0, 5) : [];
  return (
    <footer
      className="composer"
      onDragOver={(e) => {
        if (e.dataTransfer.types.includes("Files")) e.preventDefault();
      }}
      onDrop={(e) => {
        if (e.dataTransfer.files.length === 0) return;
        e.preventDefault();
        addFiles(e.dataTransfer.files);
      }}
    >
      {error ? (
        <p className="composer-error" role="alert" data-testid="composer-error">
          {error}
        </p>
      ) : null}
      {queued.length > 0 ? (
        <ol className="queued" aria-label="Queued messages" data-testid="queued">
          {queued.map((q) => (
            <li key={q.turn_id} data-testid="queued-item" data-turn-id={q.turn_id}>
              <span className="queued-label">Next:</span>
              <span className="queued-text">{q.preview}</span>
              <button type="button" className="btn icon small" onClick={() => void unqueue(q.turn_id)} aria-label="Remove from the queue" title="Remove from the queue" data-testid="queued-remove">
                ×
              </button>
            </li>
          ))}
        </ol>
      ) : null}
      {hint.length > 0 ? (
        <ul className="command-hints" aria-label="Agent commands">
          {hint.map((c) => (
            <li key={c.name}>
              <code>/{c.name}</code> {c.hint ? <span className="hint">{c.hint}</span> : null} <span className="desc">{c.description}</span>
            </li>
          ))}
        </ul>
      ) : null}
      {files.length > 0 ? (
        <ul className="composer-files" aria-label="Files to send" data-testid="composer-files">
          {files.map((f) => (
            <li key={f.key} className="attachment" title={`${f.file.name} · ${formatSize(f.file.size)}`} data-testid="composer-file">
              {f.preview ? (
                <img className="thumb" src={f.preview} alt={f.file.name} />
              ) : (
                <span className="chip">
                  <ClipIcon /> {f.file.name}
                </span>
              )}
              <button type="button" className="btn icon small remove" onClick={() => dropFile(f.key)} aria-label={`Remove ${f.file.name}`} data-testid="composer-file-remove">
                ×
              </button>
            </li>
          ))}
        </ul>
      ) : null}
      <div className="composer-row">
        <button type="button" className="btn icon" onClick={pick} aria-label="Attach files" title="Attach files (or paste, or drop them here)" data-testid="composer-attach">
          <ClipIcon />
        </button>
        <textarea
          ref={area}
          className="input composer-input"
          rows={1}
          value={text}
          placeholder={
            busy
              ? narrow
                ? "Queue a message"
                : "A turn is running; Enter queues a message for after it"
              : summary?.status === "stopped"
                ? "The agent is stopped; a message starts it again"
                : narrow
                  ? "Message the agent"
                  : "Message the agent (Enter sends, Shift+Enter for a new line)"
          }
          aria-label="Message"
          onChange={(e) => setText(e.target.value)}
          onKeyDown={onKeyDown}
          onPaste={(e) => {
            if (e.clipboardData.files.length === 0) return;
            e.preventDefault();
            addFiles(e.clipboardData.files);
          }}
          data-testid="composer-input"
        />
        {busy ? (
          <button type="button" className="btn danger" onClick={() => void cancel()} data-testid="composer-cancel">
            Cancel
          </button>
        ) : null}
        <button type="button" className="btn primary" onClick={() => void send()} disabled={sending || (text.trim() === "" && files.length === 0)} data-testid="composer-send">
          {busy ? "Queue" : "Send"}
        </button>
      </div>
    </footer>
  );
}
