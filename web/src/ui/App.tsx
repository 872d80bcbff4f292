import { useCallback, useEffect, useState } from "react";
import { ConnectionBanner, Login, Toasts } from "./Chrome";
import { Inbox } from "./Inbox";
import { NewSessionDialog } from "./NewSessionDialog";
import { SessionPane } from "./SessionPane";
import { Sidebar, type NotificationsProps } from "./Sidebar";
import { Switcher } from "./Switcher";
import { useNarrow, useServices, useStore, type Route } from "./hooks";

export function App({ route }: { route: Route }) {
  const { navigate } = useServices();
  const auth = useStore((s) => s.auth);
  const listed = useStore((s) => s.listed);
  const newest = useStore((s) => s.list()[0]?.id ?? null);
  const count = useStore((s) => s.list().length);
  const [drawer, setDrawer] = useState(false);
  const [newOpen, setNewOpen] = useState(false);
  const [switcher, setSwitcher] = useState(false);
  const narrow = useNarrow();
  const notifications = useNotificationPermission();
  const waiting = useStore((s) => s.inbox.length);
  const title = useStore((s) => (route.kind === "session" ? (s.summary(route.id)?.title ?? null) : null));

  useEffect(() => {
    const head = route.kind === "inbox" ? "Inbox" : title || "berth";
    document.title = `${waiting > 0 ? `(${waiting}) ` : ""}${head}${head === "berth" ? "" : " · berth"}`;
  }, [route.kind, title, waiting]);

  // The root page opens the most recent session as the page loads: only a navigation,
  // nothing else (a root page left open does not jump to sessions created later).
  const [rootDecided, setRootDecided] = useState(false);
  useEffect(() => {
    if (rootDecided || !listed) return;
    setRootDecided(true);
    if (route.kind === "root" && newest !== null) navigate({ kind: "session", id: newest });
  }, [rootDecided, route.kind, listed, newest, navigate]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && !e.altKey && e.key.toLowerCase() === "k") {
        e.preventDefault();
        setSwitcher((o) => !o);
      } else if (e.key === "Escape" && drawer) {
        setDrawer(false);
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [drawer]);

  // Picking something in the drawer closes it.
  const go = useCallback(
    (to: Route) => {
      setDrawer(false);
      navigate(to);
    },
    [navigate],
  );

  if (auth === "required") return <Login />;

  const openDrawer = () => setDrawer(true);
  return (
    <div className={`app ${drawer ? "drawer-open" : ""} ${narrow ? "narrow" : ""}`} data-testid="app">
      <Sidebar route={route} onNew={() => setNewOpen(true)} onNavigate={go} notifications={notifications} />
      {drawer ? <div className="backdrop" onClick={() => setDrawer(false)} data-testid="drawer-backdrop" /> : null}
      <main className="main">
        <ConnectionBanner />
        {route.kind === "session" ? (
          <SessionPane key={route.id} id={route.id} onOpenDrawer={openDrawer} />
        ) : route.kind === "inbox" ? (
          <Inbox onOpenDrawer={openDrawer} />
        ) : (
          <Welcome listed={listed} count={count} onNew={() => setNewOpen(true)} onOpenDrawer={openDrawer} />
        )}
      </main>
      <NewSessionDialog open={newOpen} onClose={() => setNewOpen(false)} />
      <Switcher open={switcher} onClose={() => setSwitcher(false)} />
      <Toasts />
    </div>
  );
}

/**
 * The root page. It opens the newest session only as the page loads (see App); after that
 * (e.g. the session on screen was deleted) it waits for the user to pick one.
 */
function Welcome({ listed, count, onNew, onOpenDrawer }: { listed: boolean; count: number; onNew: () => void; onOpenDrawer: () => void }) {
  return (
    <section className="pane" data-testid="welcome">
      <header className="pane-head">
        <button type="button" className="btn icon drawer-toggle" onClick={onOpenDrawer} aria-label="Open the session list" data-testid="drawer-open">
          ☰
        </button>
        <div className="pane-title">
          <h1>berth</h1>
        </div>
      </header>
      <div className="welcome">
        {listed && count > 0 ? (
          <>
            <p data-testid="welcome-pick">
              Pick a session from the list, or start a new one. Sessions keep running when no tab shows them.
            </p>
            <button type="button" className="btn" onClick={onNew}>
              New session
            </button>
          </>
        ) : listed ? (
          <>
            <p data-testid="welcome-empty">
              No sessions yet. A session is a conversation with one agent in one directory; it keeps running when you close this tab.
            </p>
            <button type="button" className="btn primary" onClick={onNew}>
              Start a session
            </button>
          </>
        ) : (
          <p className="muted">Loading sessions…</p>
        )}
      </div>
    </section>
  );
}

function useNotificationPermission(): NotificationsProps {
  const supported = typeof Notification !== "undefined";
  const [permission, setPermission] = useState<NotificationsProps["permission"]>(supported ? Notification.permission : "unsupported");
  const request = useCallback(() => {
    if (!supported) return;
    void Notification.requestPermission().then(setPermission);
  }, [supported]);
  return { permission, request };
}
