// The tab's state, keyed by session id: one `SessionState` per session the tab has
// attached, the summary of every session it heard of, the sidebar's lists of them (paged
// from the server, see listing.ts), the connection and a few bits of UI-wide state. Views subscribe and read snapshots; changes are announced at most once
// per animation frame, so a burst of 1000 events costs one render.

import type { PendingPrompt, Session, SessionList } from "../protocol";
import { SessionState, type SessionView } from "./session";
import { compareSummaries, isStale } from "./summary";
import {
  DEFAULT_KEY,
  DEFAULT_QUERY,
  belongs,
  byActivity,
  listKey,
  matchesSearch,
  withinLoaded,
  type ListQuery,
  type ListSnapshot,
} from "./listing";

export type ConnectionState = "connecting" | "open" | "reconnecting" | "offline";

export interface ConnectionInfo {
  state: ConnectionState;
  /** When the next reconnect attempt happens (ms since epoch), while reconnecting. */
  retryAt: number | null;
  /** Failed attempts in a row. */
  attempt: number;
}

export type AuthState = "unknown" | "ok" | "required";

export interface Toast {
  id: number;
  text: string;
  level: "info" | "error";
}

/** What `upsertSummary` did: `old` is the summary it replaced. */
export type SummaryUpdate = { applied: false } | { applied: true; old: Session | undefined };

/** How long a toast stays (ms). */
export const TOAST_TTL = 6000;

export type Scheduler = (flush: () => void) => void;

/** rAF when the page is visible (one flush per frame); a timer otherwise (rAF sleeps). */
export const frameScheduler: Scheduler = (flush) => {
  let done = false;
  const run = () => {
    if (!done) {
      done = true;
      flush();
    }
  };
  const hidden = typeof document !== "undefined" && document.hidden;
  if (typeof requestAnimationFrame === "function" && !hidden) requestAnimationFrame(run);
  // A hidden tab renders twice a second: enough for its title and nothing wasted.
  setTimeout(run, hidden ? 500 : 100);
};

/** Runs the flush right away (tests). */
export const immediateScheduler: Scheduler = (flush) => flush();

export class Store {
  private readonly states = new Map<string, SessionState>();
  private readonly summaries = new Map<string, Session>();
  /** The lists views show, by `listKey`; the default one always. */
  private readonly lists = new Map<string, List>([[DEFAULT_KEY, newList(DEFAULT_QUERY, 0)]]);
  /** Snapshots of lists nobody asked for yet (see `listing`). */
  private readonly guesses = new Map<string, ListSnapshot>();
  /** A logical clock: ticks on every summary taken and every `mark()`. */
  private clock = 0;
  /** When (on `clock`) each session's summary last arrived from a live source. */
  private readonly received = new Map<string, number>();
  /** Sessions deleted (ids are never reused): no summary brings them back. */
  private readonly gone = new Set<string>();
  /** Sessions whose next summary is taken whatever its order (see `forgetOrder`). */
  private readonly unordered = new Map<string, number>();
  private readonly listeners = new Set<() => void>();
  private scheduled = false;
  private toastSeq = 0;
  private readonly toastTimers = new Map<number, ReturnType<typeof setTimeout>>();
  /** How many batched change announcements went out (renders; read by the perf tests). */
  flushes = 0;

  connection: ConnectionInfo = { state: "connecting", retryAt: null, attempt: 0 };
  auth: AuthState = "unknown";
  /** The server's epoch from the last `hello`. */
  epoch: string | null = null;
  /** Whether the default list's first page arrived (the root page waits for it). */
  listed = false;
  toasts: readonly Toast[] = [];
  /** Every pending prompt of every session (`GET /prompts`), for the inbox. */
  inbox: readonly PendingPrompt[] = [];

  constructor(private readonly schedule: Scheduler = frameScheduler) {}

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  /** Announce a change (batched). */
  changed(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.schedule(() => {
      this.scheduled = false;
      this.flushes += 1;
      for (const listener of [...this.listeners]) listener();
    });
  }

  // ---- per-session state ----

  /** The session's local state, created on first use. */
  session(id: string): SessionState {
    let state = this.states.get(id);
    if (!state) {
      state = new SessionState(id);
      const summary = this.summaries.get(id);
      if (summary) state.setSummary(summary);
      this.states.set(id, state);
    }
    return state;
  }

  peek(id: string): SessionState | undefined {
    return this.states.get(id);
  }

  view(id: string): SessionView | null {
    return this.states.get(id)?.snapshot() ?? null;
  }

  /** Forget a session's local state (detached for good). */
  drop(id: string): void {
    if (this.states.delete(id)) this.changed();
  }

  // ---- summaries (sidebar) ----

  summary(id: string): Session | undefined {
    return this.summaries.get(id);
  }

  /** The default list (sessions not archived), newest activity first; the same array until one changes. */
  list(): readonly Session[] {
    return this.listing(DEFAULT_QUERY).sessions;
  }

  /**
   * One list as a view reads it; the same object until something in it changes. A list
   * nobody asked for (see `want`) reads as what the tab already knows that belongs in it.
   */
  listing(query: ListQuery): ListSnapshot {
    const key = listKey(query);
    const list = this.lists.get(key);
    if (!list) {
      let guess = this.guesses.get(key);
      if (!guess) {
        guess = { sessions: this.known(query), loaded: false, more: false, loading: false, error: null };
        this.guesses.set(key, guess);
      }
      return guess;
    }
    if (!list.snapshot) {
      const sessions: Session[] = [];
      for (const id of list.ids) {
        const s = this.summaries.get(id);
        if (s) sessions.push(s);
      }
      list.snapshot = {
        sessions: sessions.sort(byActivity),
        loaded: list.loaded,
        more: list.next !== null,
        loading: list.loadingTop > 0 || list.loadingMore,
        error: list.error,
      };
    }
    return list.snapshot;
  }

  /**
   * A view shows this list: keep it (counted; `unwant` when done). Returns true when the
   * list is new, so its first page is to be fetched. It starts with the sessions the tab
   * knows that belong in it, until the server answers.
   */
  want(query: ListQuery): boolean {
    const key = listKey(query);
    const held = this.lists.get(key);
    if (held) {
      held.users += 1;
      return false;
    }
    const list = newList(query, this.mark());
    list.users = 1;
    for (const s of this.known(query)) list.ids.add(s.id);
    this.lists.set(key, list);
    this.touched();
    return true;
  }

  /** A view no longer shows this list; the last one out forgets it (never the default). */
  unwant(query: ListQuery): void {
    const key = listKey(query);
    const list = this.lists.get(key);
    if (!list || key === DEFAULT_KEY) return;
    list.users -= 1;
    if (list.users <= 0) {
      this.lists.delete(key);
      this.touched();
    }
  }

  /** The lists held (what a reconnect reloads). */
  queries(): ListQuery[] {
    return [...this.lists.values()].map((l) => l.query);
  }

  /** What the next request for a list needs: its `next` cursor and how many rows it has. */
  paging(query: ListQuery): { next: string | null; rows: number; loadingMore: boolean } | null {
    const list = this.lists.get(listKey(query));
    return list ? { next: list.next, rows: list.ids.size, loadingMore: list.loadingMore } : null;
  }

  /** A request for a list started or ended (`top`: its first page, or a reload of it). */
  setListLoading(query: ListQuery, kind: "top" | "more", on: boolean): void {
    const list = this.lists.get(listKey(query));
    if (!list) return;
    if (kind === "top") list.loadingTop = Math.max(0, list.loadingTop + (on ? 1 : -1));
    else list.loadingMore = on;
    this.touched();
  }

  setListError(query: ListQuery, error: string | null): void {
    const list = this.lists.get(listKey(query));
    if (!list || list.error === error) return;
    list.error = error;
    this.touched();
  }

  /**
   * Take a summary from the live sources (`attached`, `session` frames, REST answers about
   * one session). Ignored when it is stale (older than the one held, see summary.ts) or
   * the session was deleted; otherwise it replaces the one held, which is returned. The
   * lists follow: it joins those it belongs in (when it sorts within what they loaded)
   * and leaves those of the other archived state.
   */
  upsertSummary(summary: Session): SummaryUpdate {
    if (this.gone.has(summary.id)) return { applied: false };
    const old = this.summaries.get(summary.id);
    if (!this.unordered.has(summary.id) && isStale(summary, old)) return { applied: false };
    this.unordered.delete(summary.id);
    this.summaries.set(summary.id, summary);
    this.received.set(summary.id, ++this.clock);
    this.states.get(summary.id)?.setSummary(summary);
    for (const list of this.lists.values()) admit(list, summary);
    this.touched();
    return { applied: true, old };
  }

  /**
   * The server's log of these sessions may have been rolled back (`reset`, a new epoch):
   * their next summary is taken as it comes, older-looking or not.
   */
  forgetOrder(ids: Iterable<string> = this.summaries.keys()): void {
    const now = ++this.clock;
    for (const id of ids) this.unordered.set(id, now);
  }

  /**
   * A mark on the store's clock. Summaries and deletions that arrive after it are "newer
   * than the mark": a listing requested at the mark cannot know about them.
   */
  mark(): number {
    return ++this.clock;
  }

  /** Whether a summary of the session arrived (over a live source) after `mark`. */
  receivedSince(id: string, mark: number): boolean {
    return (this.received.get(id) ?? 0) > mark;
  }

  /**
   * Whether a first page (or reload) of the list requested at `mark` is still worth
   * applying: false once the answer to a later request was applied, or the list is gone.
   */
  topIsCurrent(query: ListQuery, mark: number): boolean {
    const list = this.lists.get(listKey(query));
    return list !== undefined && mark >= list.topMark;
  }

  /**
   * Apply a page of a list (`GET /sessions`) requested at `mark` (see `mark()`): the first
   * page (or a reload from the top) when `after` is null, else the page after the cursor
   * `after`. The page is a picture from some moment after the request started, so what
   * the socket said in the meantime is merged, not overwritten:
   * - a summary held that is newer than the page's is kept; on a tie the one that arrived
   *   after the mark is kept (a later change would have come over the socket too);
   * - a session deleted in this tab's knowledge (a `session_deleted`) stays deleted;
   * - from the top, the page is the list's new start: a row the page lacks stays only if
   *   its summary arrived after the mark (it may have been created, or become active,
   *   after the page was taken) and it still sorts within the page; otherwise it left
   *   (deleted, archived, no longer matching) while the tab was not told.
   * Returns false (nothing done) when a later first page was applied already, or the
   * list moved on from `after` (it was reloaded meanwhile).
   */
  applyPage(query: ListQuery, page: SessionList, mark: number, after: string | null = null): boolean {
    const list = this.lists.get(listKey(query));
    if (!list) return false;
    if (after === null) {
      if (mark < list.topMark) return false;
      list.topMark = mark;
    } else if (list.next !== after) {
      return false;
    }
    const rows: Session[] = [];
    for (const s of page.sessions) {
      const kept = this.takeListed(s, mark, list);
      if (kept) rows.push(kept);
    }
    const last = page.sessions[page.sessions.length - 1];
    list.next = page.next ?? null;
    // The boundary is the page's last row as the server listed it (what its cursor means).
    if (list.next === null) list.boundary = null;
    else if (last) list.boundary = last;
    if (after === null) {
      const live = [...list.ids].filter((id) => {
        const s = this.summaries.get(id);
        return s !== undefined && this.receivedSince(id, mark) && belongs(s, list.query) && withinLoaded(s, list.boundary);
      });
      list.ids.clear();
      for (const id of live) list.ids.add(id);
    }
    for (const s of rows) if (s.archived === list.query.archived) list.ids.add(s.id);
    list.loaded = true;
    list.error = null;
    if (listKey(query) === DEFAULT_KEY) this.listed = true;
    this.touched();
    return true;
  }

  /** A summary from a list's page: kept or taken (see `applyPage`); null when deleted. */
  private takeListed(s: Session, mark: number, from: List): Session | null {
    if (this.gone.has(s.id)) return null;
    const known = this.summaries.get(s.id);
    const forgotten = this.unordered.get(s.id);
    let take: boolean;
    if (forgotten !== undefined && forgotten < mark) {
      // Requested after the order was forgotten: the page is the server's word.
      this.unordered.delete(s.id);
      take = true;
    } else {
      take = known === undefined || !(isStale(s, known) || (this.receivedSince(s.id, mark) && compareSummaries(s, known) === 0));
    }
    if (!take) return known ?? null;
    this.summaries.set(s.id, s);
    this.states.get(s.id)?.setSummary(s);
    // What this page says of the session holds for the other lists too (e.g. it was
    // unarchived elsewhere: it leaves the archived list).
    for (const list of this.lists.values()) if (list !== from) admit(list, s);
    return s;
  }

  /** The session was deleted: forget its summary, and never take one for it again. */
  removeSummary(id: string): Session | undefined {
    this.gone.add(id);
    this.received.delete(id);
    const old = this.summaries.get(id);
    this.summaries.delete(id);
    let listed = false;
    for (const list of this.lists.values()) listed = list.ids.delete(id) || listed;
    if (old || listed) this.touched();
    return old;
  }

  /** The sessions held that belong in a list, in its order. */
  private known(query: ListQuery): Session[] {
    return [...this.summaries.values()].filter((s) => belongs(s, query)).sort(byActivity);
  }

  /** Summaries or lists changed: every list's snapshot is built again when read. */
  private touched(): void {
    for (const list of this.lists.values()) list.snapshot = null;
    this.guesses.clear();
    this.changed();
  }

  // ---- the rest ----

  setConnection(info: ConnectionInfo): void {
    this.connection = info;
    this.changed();
  }

  setAuth(auth: AuthState): void {
    if (this.auth !== auth) {
      this.auth = auth;
      this.changed();
    }
  }

  setInbox(prompts: readonly PendingPrompt[]): void {
    this.inbox = prompts;
    this.changed();
  }

  /**
   * Show a toast. It goes away by itself after `ttl` ms (one timer per toast, started
   * here, once), or earlier when dismissed.
   */
  toast(text: string, level: Toast["level"] = "info", ttl: number = TOAST_TTL): number {
    const id = ++this.toastSeq;
    this.toasts = [...this.toasts, { id, text, level }];
    if (ttl > 0 && Number.isFinite(ttl)) {
      this.toastTimers.set(
        id,
        setTimeout(() => {
          this.toastTimers.delete(id);
          this.dismissToast(id);
        }, ttl),
      );
    }
    this.changed();
    return id;
  }

  dismissToast(id: number): void {
    const timer = this.toastTimers.get(id);
    if (timer !== undefined) {
      clearTimeout(timer);
      this.toastTimers.delete(id);
    }
    if (!this.toasts.some((t) => t.id === id)) return;
    this.toasts = this.toasts.filter((t) => t.id !== id);
    this.changed();
  }
}

interface List {
  readonly query: ListQuery;
  /** The sessions in it: the pages loaded, and what the socket added since. */
  readonly ids: Set<string>;
  /** The last row of the last page loaded, as listed; null when nothing is left to load. */
  boundary: Session | null;
  /** The server's cursor for the next page. */
  next: string | null;
  /** A first page was applied (before, every live session that belongs is taken in). */
  loaded: boolean;
  /** The mark of the first page applied last (or of the list's creation). */
  topMark: number;
  loadingTop: number;
  loadingMore: boolean;
  error: string | null;
  /** Views showing it (see `Store.want`). */
  users: number;
  snapshot: ListSnapshot | null;
}

function newList(query: ListQuery, mark: number): List {
  return {
    query: { archived: query.archived, q: query.q.trim() },
    ids: new Set(),
    boundary: null,
    next: null,
    loaded: false,
    topMark: mark,
    loadingTop: 0,
    loadingMore: false,
    error: null,
    users: 0,
    snapshot: null,
  };
}

/**
 * Live news of one session for a list: it leaves when its archived state is not the
 * list's; it joins when it belongs and sorts within what the list loaded (a session
 * further down is for a later page to bring). A row already in keeps its place even if
 * the search no longer seems to match: the server's answer said it does.
 */
function admit(list: List, s: Session): void {
  if (s.archived !== list.query.archived) {
    list.ids.delete(s.id);
  } else if (!list.ids.has(s.id) && matchesSearch(s, list.query.q) && (!list.loaded || withinLoaded(s, list.boundary))) {
    list.ids.add(s.id);
  }
}
