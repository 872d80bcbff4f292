import { memo, useCallback, useEffect, useMemo, useRef, useState, type FormEvent, type RefObject } from "react";
import type { Session, Status } from "../protocol";
import { API, ApiError, errorText } from "../api/rest";
import { matchesSearch, type ListQuery, type ListSnapshot } from "../state/listing";
import { Dialog } from "./Dialog";
import { formatCost } from "./usage";
import { timeAgo, useConnected, useDebounced, useListing, useNow, useServices, useStore, type Route } from "./hooks";

const STATUS_LABEL: Record<Status, string> = {
  starting: "Starting",
  idle: "Idle",
  running: "Streaming",
  awaiting_input: "Awaiting input",
  error: "Error",
  stopped: "Stopped",
};

/** Statuses that change by the second: while this tab is not connected, showing one
 *  ("Streaming") would claim something nobody is watching any more. */
const LIVE_ONLY: ReadonlySet<Status> = new Set<Status>(["starting", "running"]);

/** The words for `status`; with `connected` false, a live-only status is
 *  "Reconnecting…" (the last one known is kept for the tooltip). */
export function statusLabel(status: Status, connected = true): string {
  if (!connected && LIVE_ONLY.has(status)) return "Reconnecting…";
  return STATUS_LABEL[status] ?? status;
}

export function StatusDot({ status, connected = true }: { status: Status; connected?: boolean }) {
  const stale = !connected && LIVE_ONLY.has(status);
  return (
    <span
      className={`dot status-${status} ${stale ? "stale" : ""}`}
      role="img"
      aria-label={statusLabel(status, connected)}
      title={stale ? `Last known: ${statusLabel(status)}` : undefined}
      data-testid="status-dot"
      data-status={status}
      data-stale={stale ? "true" : "false"}
    />
  );
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
  const inboxCount = useStore((s) => s.inbox.length);
  const connection = useStore((s) => s.connection.state);
  const [filter, setFilter] = useState("");
  const [archived, setArchived] = useState(false);
  const now = useNow();
  const activeId = route.kind === "session" ? route.id : null;
  // One callback for every row (rows are memoised: a row re-renders only when its own
  // session, its active mark or the clock changes).
  const openSession = useCallback((id: string) => onNavigate({ kind: "session", id }), [onNavigate]);
  const typed = filter.trim();
  const { snapshot, shown, query, pending } = useSearch(archived, typed);
  const { viewport } = useServices();
  const more = useCallback(() => void viewport.loadMore(query), [viewport, query]);
  const scroller = useRef<HTMLUListElement>(null);

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
        placeholder={archived ? "Search archived sessions" : "Search sessions"}
        aria-label="Search sessions"
        value={filter}
        onChange={(e) => setFilter(e.target.value)}
        data-testid="session-filter"
      />
      <div className="list-tabs" role="group" aria-label="Which sessions">
        <button type="button" aria-pressed={!archived} className={!archived ? "on" : ""} onClick={() => setArchived(false)} data-testid="list-active">
          Sessions
        </button>
        <button type="button" aria-pressed={archived} className={archived ? "on" : ""} onClick={() => setArchived(true)} data-testid="list-archived">
          Archived
        </button>
      </div>
      <ul
        className="session-list"
        ref={scroller}
        data-testid="session-list"
        data-list={archived ? "archived" : "active"}
        data-loaded={snapshot.loaded && !snapshot.loading ? "true" : "false"}
        aria-busy={snapshot.loading}
      >
        {shown.map((s) => (
          <SessionRow key={s.id} session={s} active={s.id === activeId} now={now} onOpen={openSession} />
        ))}
        {shown.length === 0 && !snapshot.more ? (
          <li className="empty small" data-testid="list-empty">
            {snapshot.error !== null
              ? `Could not list the sessions: ${snapshot.error}`
              : !snapshot.loaded
                ? "Loading…"
                : typed
                  ? "No session matches."
                  : archived
                    ? "No archived sessions."
                    : "No sessions yet."}
          </li>
        ) : null}
        {/* While a search is being typed the rows are narrowed here: the list's end comes
            into sight, but the next page is of the list being left, not of the search. */}
        <ListEnd snapshot={snapshot} onMore={more} root={scroller} paused={pending} />
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

/** How long typing rests before the search goes to the server. */
const SEARCH_DEBOUNCE_MS = 200;

/**
 * The list for a search typed (empty: the whole list), searched on the server once the
 * typing rests. Until then what is shown is narrowed here as the user types, so the rows
 * follow every key (and Enter in the switcher picks what is on screen).
 */
export function useSearch(archived: boolean, typed: string) {
  const q = useDebounced(typed, SEARCH_DEBOUNCE_MS);
  const query = useMemo<ListQuery>(() => ({ archived, q }), [archived, q]);
  const snapshot = useListing(query);
  const shown = useMemo(
    () => (typed === q ? snapshot.sessions : snapshot.sessions.filter((s) => matchesSearch(s, typed))),
    [snapshot.sessions, typed, q],
  );
  return { snapshot, shown, query, pending: typed !== q };
}

/**
 * The end of a list: when it scrolls near (an IntersectionObserver on the list), the
 * next page loads. A new observer after every page: its first report says whether the
 * end is still in sight (a short page leaves it there, and another page is due).
 */
function ListEnd({
  snapshot,
  onMore,
  root,
  paused,
}: {
  snapshot: ListSnapshot;
  onMore: () => void;
  root: RefObject<HTMLUListElement | null>;
  paused: boolean;
}) {
  const ref = useRef<HTMLLIElement>(null);
  const { more, loading, error } = snapshot;
  const armed = more && !loading && error === null && !paused;
  useEffect(() => {
    const el = ref.current;
    if (!el || !armed || typeof IntersectionObserver === "undefined") return;
    const io = new IntersectionObserver((entries) => entries.some((e) => e.isIntersecting) && onMore(), {
      root: root.current,
      rootMargin: "0px 0px 300px 0px",
    });
    io.observe(el);
    return () => io.disconnect();
  }, [armed, onMore, root]);
  if (!more) return null;
  return (
    <li ref={ref} className="list-end small" data-testid="list-more" data-state={error !== null ? "error" : loading ? "loading" : "idle"}>
      {loading ? (
        "Loading…"
      ) : error !== null ? (
        <>
          <span>Could not load more: {error}</span>{" "}
          <button type="button" className="btn link small" onClick={onMore}>
            Retry
          </button>
        </>
      ) : null}
    </li>
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
  const connected = useConnected();
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
          <StatusDot status={session.status} connected={connected} />
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
          {session.usage?.cost ? (
            <>
              <span className="sep">·</span>
              <span className="row-cost" data-testid="row-cost">
                {formatCost(session.usage.cost)}
              </span>
            </>
          ) : null}
        </span>
        <span className="row-preview" data-testid="row-preview">
          {preview}
        </span>
      </button>
      <SessionMenu session={session} />
    </li>
  );
});

/** Row actions: cancel a running turn, stop the agent, rename, archive or unarchive, delete (confirmed). */
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

  async function stop() {
    setOpen(false);
    try {
      store.upsertSummary(await api.stop(session.id));
    } catch (e) {
      store.toast(errorText(e), "error");
    }
  }

  async function archive(archived: boolean) {
    setOpen(false);
    const title = session.title || "Untitled session";
    try {
      store.upsertSummary(await api.archive(session.id, archived));
      store.toast(archived ? `Archived “${title}”: it is under Archived in the list.` : `“${title}” is back in the list.`);
    } catch (e) {
      store.toast(errorText(e), "error");
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
            disabled={!session.agent_running}
            title="Stop the agent's process (a running turn is cancelled); the next prompt starts it again"
            onClick={() => void stop()}
            data-testid="action-stop"
          >
            Stop agent
          </button>
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
          {/* Downloads; the server keeps a copy in the session's exports/ too. */}
          <a role="menuitem" className="menu-link" href={`${API}/sessions/${encodeURIComponent(session.id)}/export?format=md`} download onClick={() => setOpen(false)} data-testid="action-export-md">
            Export as Markdown
          </a>
          <a role="menuitem" className="menu-link" href={`${API}/sessions/${encodeURIComponent(session.id)}/export?format=json`} download onClick={() => setOpen(false)} data-testid="action-export-json">
            Export as JSON
          </a>
          <button type="button" role="menuitem" onClick={() => void archive(!session.archived)} data-testid={session.archived ? "action-unarchive" : "action-archive"}>
            {session.archived ? "Unarchive" : "Archive"}
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
