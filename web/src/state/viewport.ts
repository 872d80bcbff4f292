// This tab as a berth viewport: one connection, many attached sessions, each with its own
// cursor. It turns server frames into store changes and keeps the attachments right across
// reconnects, resets and deletions. No DOM here beyond what is injected.

import type { ClientOp, PendingPrompt, ServerFrame, Session, SessionList, SessionsQuery } from "../protocol";
import { isPendingPrompt } from "../protocol";
import { ApiError, errorText, type Api } from "../api/rest";
import { DEFAULT_KEY, MAX_PAGE, PAGE_SIZE, listKey, withinLoaded, type ListQuery } from "./listing";
import type { Store } from "./store";

/** The transport as the viewport sees it (a `Connection`, or a fake in tests). */
export interface Link {
  send(op: ClientOp): boolean;
  readonly isOpen: boolean;
}

type Phase = "detached" | "attaching" | "attached";

interface Attachment {
  phase: Phase;
  /** The op id of the attach in flight (its `attached` or `error` echoes it). */
  opId: string | null;
  /** Last time the tab showed it (for evicting the least recently shown). */
  shownAt: number;
  /**
   * The store's clock when the tab started following it (`Store.mark()`): a session
   * listing requested before then says nothing about whether it exists.
   */
  since: number;
}

export interface ViewportOptions {
  store: Store;
  api: Pick<Api, "sessions" | "session" | "prompts" | "markRead">;
  /** Sessions kept attached besides the one on screen (switching back is instant). */
  keepAttached?: number;
  now?: () => number;
  /**
   * Least time between two read-cursor updates of one session. While a stream is on
   * screen the cursor moves every frame; each update is a write on the server, and other
   * devices' unread badges need no more than about one a second. The last one is always sent.
   */
  readIntervalMs?: number;
  /** A session started waiting for input or finished (the UI may notify). */
  onAttention?: (summary: Session, what: "waiting" | "finished" | "failed") => void;
  /** A session on screen was deleted. */
  onDeleted?: (id: string, title: string | null) => void;
}

const READ_INTERVAL_MS = 1000;

export class Viewport {
  readonly store: Store;
  private link: Link | null = null;
  private readonly attachments = new Map<string, Attachment>();
  private opSeq = 0;
  private active: string | null = null;
  private readonly opts: ViewportOptions;
  private readonly readSent = new Map<string, number>();
  private readonly readInFlight = new Set<string>();
  private readonly readWanted = new Map<string, number>();
  /** The gap after a session's last read update, while it runs. */
  private readonly readGap = new Map<string, ReturnType<typeof setTimeout>>();
  /** Sessions whose next read update must not wait for a gap (they left the screen). */
  private readonly readNow = new Set<string>();
  private inboxFetch: Promise<void> | null = null;
  private inboxAgain = false;

  constructor(options: ViewportOptions) {
    this.opts = options;
    this.store = options.store;
  }

  setLink(link: Link): void {
    this.link = link;
  }

  // ---- what the tab shows ----

  /** The session on screen (or none). Attaches it; may detach a long-unseen one. */
  show(id: string | null): void {
    // What was seen of the session leaving the screen is sent now: its sidebar row is
    // about to show its unread count, which must not count what was just on screen.
    if (this.active !== null && this.active !== id) this.flushRead(this.active);
    this.active = id;
    if (id === null) return;
    const now = (this.opts.now ?? Date.now)();
    const att = this.attachments.get(id);
    if (att) {
      att.shownAt = now;
    } else {
      this.attachments.set(id, { phase: "detached", opId: null, shownAt: now, since: this.store.mark() });
      this.store.session(id);
      this.attach(id);
    }
    this.evict();
  }

  get activeSession(): string | null {
    return this.active;
  }

  isAttached(id: string): boolean {
    return this.attachments.get(id)?.phase === "attached";
  }

  attachedIds(): string[] {
    return [...this.attachments.keys()];
  }

  private evict(): void {
    const keep = this.opts.keepAttached ?? 6;
    const others = [...this.attachments.entries()]
      .filter(([id]) => id !== this.active)
      .sort((a, b) => b[1].shownAt - a[1].shownAt);
    for (const [id] of others.slice(keep)) this.release(id);
  }

  /** Stop following a session in this tab and forget its local state. */
  release(id: string): void {
    const att = this.attachments.get(id);
    if (!att) return;
    this.attachments.delete(id);
    if (att.phase !== "detached") this.link?.send({ op: "detach", session: id });
    this.store.drop(id);
  }

  private attach(id: string): void {
    const att = this.attachments.get(id);
    if (!att) return;
    const state = this.store.session(id);
    const opId = `attach-${++this.opSeq}`;
    const op: ClientOp = { op: "attach", id: opId, session: id, after: state.cursor };
    if (state.epoch !== null) op.epoch = state.epoch;
    if (this.link?.send(op)) {
      // Until `attached` answers this op, event frames for the session belong to an
      // earlier subscription and are ignored: the replay after `attached` starts exactly
      // at cursor + 1.
      att.phase = "attaching";
      att.opId = opId;
    } else {
      att.phase = "detached";
      att.opId = null;
    }
  }

  // ---- connection events ----

  /** The socket closed: every attachment is void until the next `hello`. */
  disconnected(): void {
    for (const att of this.attachments.values()) {
      att.phase = "detached";
      att.opId = null;
    }
  }

  handle(frame: ServerFrame): void {
    const store = this.store;
    switch (frame.type) {
      case "hello": {
        // Another epoch: another log (restored, replaced); summaries may go "back".
        if (store.epoch !== null && store.epoch !== frame.epoch) store.forgetOrder();
        store.epoch = frame.epoch;
        // Re-attach every session with its cursor; a cursor of another epoch gets `reset`.
        for (const id of this.attachments.keys()) this.attach(id);
        // Summaries may have changed (or sessions come and gone) while we were away.
        void this.refreshSessions();
        this.refreshInbox();
        store.changed();
        break;
      }
      case "attached": {
        const att = this.attachments.get(frame.session);
        if (!att || (frame.id !== undefined && frame.id !== att.opId)) break;
        att.phase = "attached";
        att.opId = null;
        store.session(frame.session).attached(frame.epoch, frame.summary, frame.last_seq);
        this.takeSummary(frame.summary);
        break;
      }
      case "event": {
        const att = this.attachments.get(frame.session);
        if (!att || att.phase !== "attached") break;
        const state = store.session(frame.session);
        const result = state.applyEvent({
          seq: frame.seq,
          first_seq: frame.first_seq,
          ts: frame.ts,
          event: frame.event,
        });
        if (result === "applied") {
          store.changed();
        } else if (result === "discontinuous") {
          // Never expected (the server guarantees contiguity); recover by re-attaching
          // from what we have rather than showing a hole.
          this.attach(frame.session);
        }
        break;
      }
      case "reset": {
        const att = this.attachments.get(frame.session);
        if (!att) break;
        store.session(frame.session).reset(frame.epoch);
        store.forgetOrder([frame.session]);
        store.changed();
        this.attach(frame.session);
        break;
      }
      case "session":
        this.takeSummary(frame.summary);
        break;
      case "session_deleted":
        this.deleted(frame.session);
        break;
      case "error": {
        // An attach of a session that is gone: drop it.
        const id = typeof frame.id === "string" ? frame.id : null;
        if (id && frame.code === "not_found") {
          for (const [session, att] of this.attachments) {
            if (att.opId === id) this.deleted(session);
          }
        }
        break;
      }
      case "pong":
        break;
    }
  }

  /** A summary from the socket; a stale one (see summary.ts) changes nothing. */
  private takeSummary(summary: Session): void {
    const update = this.store.upsertSummary(summary);
    if (!update.applied) return;
    const old = update.old;
    if (old && old.pending_prompts !== summary.pending_prompts) this.refreshInbox();
    if (old && this.opts.onAttention) {
      const was = old.status;
      const now = summary.status;
      if (now === "awaiting_input" && was !== "awaiting_input") {
        this.opts.onAttention(summary, "waiting");
      } else if ((was === "running" || was === "awaiting_input" || was === "starting") && now === "idle") {
        this.opts.onAttention(summary, "finished");
      } else if (was !== "error" && now === "error") {
        this.opts.onAttention(summary, "failed");
      }
    }
  }

  private deleted(id: string): void {
    const summary = this.store.removeSummary(id);
    const title = summary?.title ?? this.store.peek(id)?.transcript.title ?? null;
    const att = this.attachments.get(id);
    if (att) {
      this.attachments.delete(id);
      this.store.drop(id);
    }
    if (summary || att) {
      this.store.toast(
        summary || title !== null ? `Session “${title || "untitled"}” was deleted.` : "That session does not exist (it may have been deleted).",
      );
      this.opts.onDeleted?.(id, title);
    }
    if (summary && summary.pending_prompts > 0) this.refreshInbox();
  }

  // ---- REST-backed refreshes ----

  // ---- the session lists (see listing.ts) ----

  /**
   * A view shows the list of `query`: its first page is fetched when the tab did not hold
   * the list yet. Returns the release, for when the view goes.
   */
  want(query: ListQuery): () => void {
    if (this.store.want(query)) void this.loadTop(query);
    return () => this.store.unwant(query);
  }

  /** Reload every list the tab holds from the top: sessions may have come and gone while it was away. */
  async refreshSessions(): Promise<void> {
    await Promise.all(this.store.queries().map((q) => this.loadTop(q)));
  }

  /** The next page of a list, when it has one and none is on its way. */
  async loadMore(query: ListQuery): Promise<void> {
    const paging = this.store.paging(query);
    if (!paging || paging.next === null || paging.loadingMore) return;
    const after = paging.next;
    const mark = this.store.mark();
    this.store.setListLoading(query, "more", true);
    try {
      const page = await this.opts.api.sessions(pageQuery(query, PAGE_SIZE, after));
      this.store.applyPage(query, page, mark, after);
    } catch (e) {
      this.store.setListError(query, errorText(e));
    } finally {
      this.store.setListLoading(query, "more", false);
    }
  }

  /**
   * A list's first page; for a list already loaded, as many rows from the top as it holds
   * (up to the server's largest page), so a reload covers what is on screen. The answer is
   * merged with what the socket said while it was in flight (see `Store.applyPage`).
   */
  private async loadTop(query: ListQuery): Promise<void> {
    const mark = this.store.mark();
    const rows = this.store.paging(query)?.rows ?? 0;
    this.store.setListLoading(query, "top", true);
    try {
      const page = await this.opts.api.sessions(pageQuery(query, Math.min(MAX_PAGE, Math.max(PAGE_SIZE, rows))));
      this.store.setAuth("ok");
      // A later first page was applied already: this one has nothing to add.
      if (!this.store.topIsCurrent(query, mark)) return;
      if (listKey(query) === DEFAULT_KEY) await this.checkFollowed(page, mark);
      this.store.applyPage(query, page, mark);
    } catch (e) {
      // 401 is handled by the API layer; other failures leave the list as it was.
      this.store.setListError(query, errorText(e));
    } finally {
      this.store.setListLoading(query, "top", false);
    }
  }

  /**
   * Sessions the tab follows that the default list's first page lacks, though the page
   * covers where they sort, were deleted or archived while the tab was not told; but only
   * if the page can know: the tab followed them before it was requested, and no summary of
   * them arrived since (a session created meanwhile is not in it). Which of the two it was
   * is asked of the server.
   */
  private async checkFollowed(page: SessionList, mark: number): Promise<void> {
    const listed = new Set(page.sessions.map((s) => s.id));
    const last = page.sessions[page.sessions.length - 1];
    const boundary = page.next && last ? last : null;
    const missing = [...this.attachments].filter(([id, att]) => {
      if (listed.has(id) || att.since >= mark || this.store.receivedSince(id, mark)) return false;
      const held = this.store.summary(id);
      return held === undefined ? boundary === null : !held.archived && withinLoaded(held, boundary);
    });
    await Promise.all(
      missing.map(async ([id]) => {
        try {
          this.store.upsertSummary(await this.opts.api.session(id));
        } catch (e) {
          if (e instanceof ApiError && e.status === 404) this.deleted(id);
        }
      }),
    );
  }

  /** Refetch the pending prompts (coalesced: one request in flight, one queued). */
  refreshInbox(): void {
    if (this.inboxFetch) {
      this.inboxAgain = true;
      return;
    }
    this.inboxFetch = this.opts.api
      .prompts()
      .then(({ prompts }) => {
        this.store.setInbox(prompts.filter(isPendingPrompt) as PendingPrompt[]);
      })
      .catch(() => {})
      .finally(() => {
        this.inboxFetch = null;
        if (this.inboxAgain) {
          this.inboxAgain = false;
          this.refreshInbox();
        }
      });
  }

  /**
   * The user has seen the session up to `seq` (its end was on screen in a visible tab).
   * The read cursor lives on the server; one request in flight per session, spaced by
   * `readIntervalMs`, the newest cursor sent when the gap is over.
   */
  markRead(id: string, seq: number): void {
    const summary = this.store.summary(id);
    const known = Math.max(summary?.read_seq ?? 0, this.readSent.get(id) ?? 0);
    if (seq <= known) return;
    if (this.readInFlight.has(id)) {
      this.readWanted.set(id, Math.max(seq, this.readWanted.get(id) ?? 0));
      return;
    }
    this.readSent.set(id, seq);
    this.readInFlight.add(id);
    this.opts.api
      .markRead(id, seq)
      .then((s) => {
        this.store.upsertSummary(s);
      })
      .catch(() => {
        this.readSent.delete(id);
      })
      .finally(() => {
        // Still "in flight" for the gap: calls meanwhile only raise `readWanted`.
        const gap = this.readNow.delete(id) ? 0 : (this.opts.readIntervalMs ?? READ_INTERVAL_MS);
        this.readGap.set(
          id,
          setTimeout(() => this.readGapOver(id), gap),
        );
      });
  }

  private readGapOver(id: string): void {
    this.readGap.delete(id);
    this.readInFlight.delete(id);
    const wanted = this.readWanted.get(id);
    this.readWanted.delete(id);
    if (wanted !== undefined) this.markRead(id, wanted);
  }

  /** Send a session's newest read cursor without waiting for the gap. */
  private flushRead(id: string): void {
    if (!this.readWanted.has(id)) return;
    const timer = this.readGap.get(id);
    if (timer === undefined) {
      this.readNow.add(id); // a request is in flight: no gap after it
      return;
    }
    clearTimeout(timer);
    this.readGapOver(id);
  }
}

/** The request for one page of a list. */
function pageQuery(query: ListQuery, limit: number, before?: string): SessionsQuery {
  const q: SessionsQuery = { limit };
  if (before !== undefined) q.before = before;
  if (query.archived) q.archived = true;
  if (query.q.trim() !== "") q.q = query.q.trim();
  return q;
}
