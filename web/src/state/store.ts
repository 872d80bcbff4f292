// The tab's state, keyed by session id: one `SessionState` per session the tab has
// attached, the summaries of every session (the sidebar), the connection and a few bits of
// UI-wide state. Views subscribe and read snapshots; changes are announced at most once
// per animation frame, so a burst of 1000 events costs one render.

import type { PendingPrompt, Session } from "../protocol";
import { SessionState, type SessionView } from "./session";

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
  private readonly listeners = new Set<() => void>();
  private scheduled = false;
  private toastSeq = 0;
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

  /** Take a summary; returns the one it replaced. */
  upsertSummary(summary: Session): Session | undefined {
    const old = this.summaries.get(summary.id);
    this.summaries.set(summary.id, summary);
    this.states.get(summary.id)?.setSummary(summary);
    this.sortedList = null;
    this.changed();
    return old;
  }

  /** Take a summary from a REST answer unless the WebSocket already delivered a later one. */
  mergeSummary(summary: Session): void {
    const known = this.summaries.get(summary.id);
    if (known && known.last_seq > summary.last_seq) return;
    this.upsertSummary(summary);
  }

  /**
   * Replace the summaries with a full listing (`GET /sessions`). A summary the WebSocket
   * delivered that is ahead of the listing (raced with it) is kept.
   */
  replaceSummaries(list: readonly Session[]): void {
    const next = new Map<string, Session>();
    for (const s of list) {
      const known = this.summaries.get(s.id);
      next.set(s.id, known && isAhead(known, s) ? known : s);
    }
    this.summaries.clear();
    for (const [id, s] of next) {
      this.summaries.set(id, s);
      this.states.get(id)?.setSummary(s);
    }
    this.sortedList = null;
    this.listed = true;
    this.changed();
  }

  removeSummary(id: string): Session | undefined {
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

  toast(text: string, level: Toast["level"] = "info"): number {
    const id = ++this.toastSeq;
    this.toasts = [...this.toasts, { id, text, level }];
    this.changed();
    return id;
  }

  dismissToast(id: number): void {
    this.toasts = this.toasts.filter((t) => t.id !== id);
    this.changed();
  }
}

/** RFC 3339 timestamps vary in their fraction digits: compare them as times, not text. */
export function timeOf(rfc3339: string): number {
  const t = Date.parse(rfc3339);
  return Number.isNaN(t) ? 0 : t;
}

function byActivity(a: Session, b: Session): number {
  const d = timeOf(b.updated_at) - timeOf(a.updated_at);
  if (d !== 0) return d;
  return a.id < b.id ? 1 : -1;
}

/** Whether `a` describes a later state of the session than `b`. */
function isAhead(a: Session, b: Session): boolean {
  if (a.last_seq !== b.last_seq) return a.last_seq > b.last_seq;
  return timeOf(a.updated_at) > timeOf(b.updated_at);
}
