// The tab's state, keyed by session id: one `SessionState` per session the tab has
// attached, the summaries of every session (the sidebar), the connection and a few bits of
// UI-wide state. Views subscribe and read snapshots; changes are announced at most once
// per animation frame, so a burst of 1000 events costs one render.

import type { PendingPrompt, Session } from "../protocol";
import { SessionState, type SessionView } from "./session";
import { compareSummaries, isStale, timeOf } from "./summary";

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
  private sortedList: Session[] | null = null;
  /** A logical clock: ticks on every summary taken and every `mark()`. */
  private clock = 0;
  /** When (on `clock`) each session's summary last arrived from a live source. */
  private readonly received = new Map<string, number>();
  /** Sessions deleted (ids are never reused): no summary brings them back. */
  private readonly gone = new Set<string>();
  /** Sessions whose next summary is taken whatever its order (see `forgetOrder`). */
  private readonly unordered = new Map<string, number>();
  /** The mark of the listing applied last. */
  private listingMark = 0;
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
  /** Whether the summaries were listed once (the root page waits for it). */
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

  /** Every session, newest activity first; the same array until one changes. */
  list(): readonly Session[] {
    if (this.sortedList === null) {
      this.sortedList = [...this.summaries.values()].sort(byActivity);
    }
    return this.sortedList;
  }

  /**
   * Take a summary from the live sources (`attached`, `session` frames, REST answers about
   * one session). Ignored when it is stale (older than the one held, see summary.ts) or
   * the session was deleted; otherwise it replaces the one held, which is returned.
   */
  upsertSummary(summary: Session): SummaryUpdate {
    if (this.gone.has(summary.id)) return { applied: false };
    const old = this.summaries.get(summary.id);
    if (!this.unordered.has(summary.id) && isStale(summary, old)) return { applied: false };
    this.unordered.delete(summary.id);
    this.summaries.set(summary.id, summary);
    this.received.set(summary.id, ++this.clock);
    this.states.get(summary.id)?.setSummary(summary);
    this.sortedList = null;
    this.changed();
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
   * Whether a listing requested at `mark` is still worth applying: false once the answer
   * to a later request was applied.
   */
  listingIsCurrent(mark: number): boolean {
    return mark >= this.listingMark;
  }

  /**
   * Replace the summaries with a full listing (`GET /sessions`) requested at `mark` (see
   * `mark()`). The listing is a picture from some moment after the request started, so
   * what the WebSocket said in the meantime is merged, not overwritten:
   * - a session the listing lacks is kept if its summary arrived after the mark (it may
   *   have been created after the listing was taken); otherwise it is gone;
   * - a session deleted in this tab's knowledge (a `session_deleted`) stays deleted;
   * - a summary held that is newer than the listing's is kept; on a tie the one that
   *   arrived after the mark is kept (a later change would have come over the socket too).
   * Returns false (nothing done) when a listing requested later was already applied.
   */
  replaceSummaries(list: readonly Session[], mark: number = this.mark()): boolean {
    if (!this.listingIsCurrent(mark)) return false;
    this.listingMark = mark;
    const next = new Map<string, Session>();
    for (const s of list) {
      if (this.gone.has(s.id)) continue;
      const known = this.summaries.get(s.id);
      const forgotten = this.unordered.get(s.id);
      if (forgotten !== undefined && forgotten < mark) {
        // Requested after the order was forgotten: the listing is the server's word.
        this.unordered.delete(s.id);
        next.set(s.id, s);
        continue;
      }
      const keep = known !== undefined && (isStale(s, known) || (this.receivedSince(s.id, mark) && compareSummaries(s, known) === 0));
      next.set(s.id, keep ? known : s);
    }
    for (const [id, known] of this.summaries) {
      if (!next.has(id) && this.receivedSince(id, mark)) next.set(id, known);
    }
    for (const id of this.summaries.keys()) {
      if (!next.has(id)) this.received.delete(id);
    }
    this.summaries.clear();
    for (const [id, s] of next) {
      this.summaries.set(id, s);
      this.states.get(id)?.setSummary(s);
    }
    this.sortedList = null;
    this.listed = true;
    this.changed();
    return true;
  }

  /** The session was deleted: forget its summary, and never take one for it again. */
  removeSummary(id: string): Session | undefined {
    this.gone.add(id);
    this.received.delete(id);
    const old = this.summaries.get(id);
    if (old) {
      this.summaries.delete(id);
      this.sortedList = null;
      this.changed();
    }
    return old;
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

function byActivity(a: Session, b: Session): number {
  const d = timeOf(b.updated_at) - timeOf(a.updated_at);
  if (d !== 0) return d;
  return a.id < b.id ? 1 : -1;
}
