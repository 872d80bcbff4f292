import { memo, useCallback, useEffect, useRef, useState, type FormEvent } from "react";
import type { Session, Status } from "../protocol";
import { ApiError, errorText } from "../api/rest";
import { Dialog } from "./Dialog";
import { timeAgo, useNow, useServices, useSessionList, useStore, type Route } from "./hooks";

const STATUS_LABEL: Record<Status, string> = {
  starting: "Starting",
  idle: "Idle",
  running: "Streaming",
  awaiting_input: "Awaiting input",
  error: "Error",
  stopped: "Stopped",
};

export function statusLabel(status: Status): string {
  return STATUS_LABEL[status] ?? status;
}

export function StatusDot({ status }: { status: Status }) {
  return <span className={`dot status-${status}`} role="img" aria-label={statusLabel(status)} data-testid="status-dot" data-status={status} />;
}

interface SidebarProps {
  route: Route;
  onNew: () => void;
  onNavigate: (to: Route) => void;
  notifications: NotificationsProps;
}

export interface NotificationsProps {
  permission: NotificationPermission | "unsupported";
  request: () => void;
}

export function Sidebar({ route, onNew, onNavigate, notifications }: SidebarProps) {
  const sessions = useSessionList();
  const inboxCount = useStore((s) => s.inbox.length);
  const connection = useStore((s) => s.connection.state);
  const [filter, setFilter] = useState("");
  const now = useNow();
  const activeId = route.kind === "session" ? route.id : null;
  // One callback for every row (rows are memoised: a row re-renders only when its own
  // session, its active mark or the clock changes).
  const openSession = useCallback((id: string) => onNavigate({ kind: "session", id }), [onNavigate]);
  const q = filter.trim().toLowerCase();
  const shown = q
    ? sessions.filter((s) => [s.title, s.agent, s.cwd, s.slug, s.preview ?? ""].some((f) => f.toLowerCase().includes(q)))
    : sessions;

  return (
    <nav className="sidebar" aria-label="Sessions" data-testid="sidebar">
      <div className="side-head">
        <span className="brand">berth</span>
        <button type="button" className="btn primary small" onClick={onNew} data-testid="new-session">
          + New
        </button>
      </div>
      <button
        type="button"
        className={`inbox-link ${route.kind === "inbox" ? "active" : ""}`}
        onClick={() => onNavigate({ kind: "inbox" })}
        data-testid="inbox-link"
        aria-current={route.kind === "inbox" ? "page" : undefined}
      >
        <span>Inbox</span>
        {inboxCount > 0 ? (
          <span className="badge attention" data-testid="inbox-count">
            {inboxCount}
          </span>
        ) : null}
      </button>
      <input
        type="search"
        className="input filter"
        placeholder="Filter sessions"
        aria-label="Filter sessions"
        value={filter}
        onChange={(e) => setFilter(e.target.value)}
        data-testid="session-filter"
      />
      <ul className="session-list" data-testid="session-list">
        {shown.map((s) => (
          <SessionRow key={s.id} session={s} active={s.id === activeId} now={now} onOpen={openSession} />
        ))}
        {shown.length === 0 ? <li className="empty small">{q ? "No session matches." : "No sessions yet."}</li> : null}
      </ul>
      <div className="side-foot">
        <span className={`conn conn-${connection}`} data-testid="conn-state">
          {connection === "open" ? "Connected" : connection === "offline" ? "Offline" : connection === "connecting" ? "Connecting…" : "Reconnecting…"}
        </span>
        {notifications.permission === "default" ? (
          <button type="button" className="btn link small" onClick={notifications.request} data-testid="enable-notifications">
            Enable notifications
          </button>
        ) : null}
        <span className="kbd-hint">
          <kbd>Ctrl</kbd>+<kbd>K</kbd> switch
        </span>
      </div>
    </nav>
  );
}

/** A preview line: the server's (the last line of the latest text, the same on every
 * device, kept for sessions this tab has not opened), else where the session runs. */
function usePreview(session: Session): string {
  const line = session.preview?.replace(/^\s*(?:[-*+>#]+\s+)+/, "").replace(/[`*_]/g, "");
  return line ? line : shortPath(session.cwd);
}

/** The last two components of a path ("…/proj/src"). */
function shortPath(path: string): string {
  const parts = path.split("/").filter(Boolean);
  return parts.length <= 2 ? path : `…/${parts.slice(-2).join("/")}`;
}

const SessionRow = memo(function SessionRow({
  session,
  active,
  now,
  onOpen,
}: {
  session: Session;
  active: boolean;
  now: number;
  onOpen: (id: string) => void;
}) {
  const preview = usePreview(session);
  return (
    <li
      className={`session-row ${active ? "active" : ""} ${session.unread > 0 && !active ? "unread" : ""}`}
      data-testid="session-row"
      data-session-id={session.id}
      data-status={session.status}
      data-active={active ? "true" : "false"}
    >
      <button type="button" className="row-main" onClick={() => onOpen(session.id)} aria-current={active ? "page" : undefined}>
        <span className="row-line">
          <StatusDot status={session.status} />
          <span className="row-title" data-testid="row-title">
            {session.title || "Untitled session"}
          </span>
          {session.pending_prompts > 0 ? (
            <span className="badge attention" title="Prompts waiting for an answer" data-testid="pending-badge">
              ? {session.pending_prompts}
            </span>
          ) : null}
          {session.unread > 0 && !active ? (
            <span className="badge" title="Unread events" data-testid="unread-badge" data-count={session.unread}>
              {session.unread > 999 ? "999+" : session.unread}
            </span>
          ) : null}
        </span>
        <span className="row-line sub">
          <span className="row-agent">{session.agent}</span>
          <span className="sep">·</span>
          <span className="row-time">{timeAgo(session.updated_at, now)}</span>
        </span>
        <span className="row-preview" data-testid="row-preview">
          {preview}
        </span>
      </button>
      <SessionMenu session={session} />
    </li>
  );
});

/** Row actions: cancel a running turn, rename, delete (confirmed). */
export function SessionMenu({ session }: { session: Session }) {
  const { api, store } = useServices();
  const [open, setOpen] = useState(false);
  const [dialog, setDialog] = useState<"rename" | "delete" | null>(null);
  const ref = useRef<HTMLDivElement>(null);
  const running = session.status === "running" || session.status === "awaiting_input" || session.status === "starting";

  useEffect(() => {
    if (!open) return;
    const close = (e: MouseEvent) => {
      if (ref.current && !ref.current.contains(e.target as Node)) setOpen(false);
    };
    const esc = (e: KeyboardEvent) => {
      if (e.key === "Escape") setOpen(false);
    };
    document.addEventListener("mousedown", close);
    document.addEventListener("keydown", esc);
    return () => {
      document.removeEventListener("mousedown", close);
      document.removeEventListener("keydown", esc);
    };
  }, [open]);

  async function cancel() {
    setOpen(false);
    try {
      await api.cancel(session.id);
    } catch (e) {
      if (!(e instanceof ApiError && e.code === "conflict")) store.toast(errorText(e), "error");
    }
  }

  return (
    <div className="menu" ref={ref}>
      <button
        type="button"
        className="btn icon"
        aria-label={`Actions for ${session.title || "session"}`}
        aria-expanded={open}
        onClick={() => setOpen((o) => !o)}
        data-testid="session-menu"
      >
        ⋯
      </button>
      {open ? (
        <div className="menu-list" role="menu">
          {running ? (
            <button type="button" role="menuitem" onClick={() => void cancel()} data-testid="action-cancel">
              Cancel turn
            </button>
          ) : null}
          <button
            type="button"
            role="menuitem"
            onClick={() => {
              setOpen(false);
              setDialog("rename");
            }}
            data-testid="action-rename"
          >
            Rename…
          </button>
          <button
            type="button"
            role="menuitem"
            className="danger"
            onClick={() => {
              setOpen(false);
              setDialog("delete");
            }}
            data-testid="action-delete"
          >
            Delete…
          </button>
        </div>
      ) : null}
      <RenameDialog session={session} open={dialog === "rename"} onClose={() => setDialog(null)} />
      <DeleteDialog session={session} open={dialog === "delete"} onClose={() => setDialog(null)} />
    </div>
  );
}

function RenameDialog({ session, open, onClose }: { session: Session; open: boolean; onClose: () => void }) {
  const { api, store } = useServices();
  const [title, setTitle] = useState(session.title);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (open) {
      setTitle(session.title);
      setError(null);
    }
  }, [open, session.title]);
  async function submit(e: FormEvent) {
    e.preventDefault();
    try {
      store.upsertSummary(await api.rename(session.id, title.trim()));
      onClose();
    } catch (err) {
      setError(errorText(err));
    }
  }
  return (
    <Dialog open={open} onClose={onClose} title="Rename session" testId="rename-dialog">
      <form onSubmit={submit} className="form">
        <input className="input" autoFocus value={title} onChange={(e) => setTitle(e.target.value)} aria-label="Title" data-testid="rename-input" />
        {error ? <p className="form-error">{error}</p> : null}
        <div className="form-actions">
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn primary" disabled={title.trim() === ""} data-testid="rename-submit">
            Rename
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function DeleteDialog({ session, open, onClose }: { session: Session; open: boolean; onClose: () => void }) {
  const { api } = useServices();
  const [error, setError] = useState<string | null>(null);
  async function confirm() {
    try {
      await api.remove(session.id);
      onClose();
    } catch (err) {
      setError(errorText(err));
    }
  }
  return (
    <Dialog open={open} onClose={onClose} title="Delete session?" testId="delete-dialog">
      <p>
        “{session.title || "Untitled session"}” and its whole history will be deleted, and its agent stopped. This cannot be undone.
      </p>
      {error ? <p className="form-error">{error}</p> : null}
      <div className="form-actions">
        <button type="button" className="btn" onClick={onClose} autoFocus>
          Keep it
        </button>
        <button type="button" className="btn danger" onClick={() => void confirm()} data-testid="delete-confirm">
          Delete
        </button>
      </div>
    </Dialog>
  );
}
