// One session's local state in a tab: its cursor, epoch and the transcript derived from
// the events applied (the events themselves are not kept: the server holds the log and
// replays it by seq when asked). Pure: no I/O, no timers, no DOM. The connection feeds it frames; the
// views read snapshots of it.

import type { EventRecord, Session } from "../protocol";
import { isStale } from "./summary";
import { Transcript, type Item, type ItemOf } from "./transcript";

/** What applying one event frame did. */
export type ApplyResult =
  /** The frame extended the log. */
  | "applied"
  /** Every seq it covers was already applied (a replay overlap): ignored. */
  | "duplicate"
  /**
   * It does not continue the log: it starts past `cursor + 1` (a gap) or straddles the
   * cursor (a coalesced frame partly seen). Nothing was applied; re-attach from `cursor`.
   */
  | "discontinuous";

/** An immutable picture of a session for the views; a new object after every change. */
export interface SessionView {
  id: string;
  /** Highest seq applied. */
  cursor: number;
  items: readonly Item[];
  /** Unresolved prompts, oldest first. */
  pending: readonly ItemOf<"prompt">[];
  runningTurn: string | null;
  title: string | null;
  /**
   * A long replay is under way (attached far behind the log's end): views may wait for it
   * to finish rather than render every step of it.
   */
  loading: boolean;
  /** The log's end when the last attach was answered. */
  replayUntil: number;
}

/** A replay longer than this (events) counts as loading. */
const LOADING_THRESHOLD = 300;

export class SessionState {
  readonly id: string;
  epoch: string | null = null;
  cursor = 0;
  transcript = new Transcript();
  /** The newest summary the server sent (attach reply or `session` frame). */
  summary: Session | null = null;
  /** The log's end when the last attach was answered, and the cursor then. */
  replayUntil = 0;
  private replayFrom = 0;
  private view: SessionView | null = null;

  constructor(id: string) {
    this.id = id;
  }

  /**
   * Apply one `event` frame (or REST record). Frames that repeat seqs already applied are
   * ignored; a frame that does not continue the log is refused (see `ApplyResult`).
   */
  applyEvent(record: EventRecord): ApplyResult {
    const first = record.first_seq ?? record.seq;
    if (record.seq <= this.cursor) return "duplicate";
    if (first !== this.cursor + 1) return "discontinuous";
    this.transcript.apply(record);
    this.cursor = record.seq;
    this.view = null;
    return "applied";
  }

  /** `reset`: the cursor cannot be honoured. Drop everything; the caller re-attaches from 0. */
  reset(epoch: string | null): void {
    this.epoch = epoch;
    this.cursor = 0;
    // The log may have been rolled back: the next summary is not "older" than this one.
    this.summary = null;
    this.transcript = new Transcript();
    this.replayUntil = 0;
    this.replayFrom = 0;
    this.view = null;
  }

  /** `attached`: remember the epoch the cursor belongs to and the fresh summary. */
  attached(epoch: string, summary: Session, lastSeq: number = summary.last_seq): void {
    if (this.epoch !== null && this.epoch !== epoch) {
      // Should not happen (the server sends `reset` first), but never mix epochs.
      this.reset(epoch);
    }
    this.epoch = epoch;
    this.setSummary(summary);
    this.replayUntil = lastSeq;
    this.replayFrom = this.cursor;
    this.view = null;
  }

  /** Take a summary unless it is older than the one held (see summary.ts). */
  setSummary(summary: Session): void {
    if (!isStale(summary, this.summary)) this.summary = summary;
  }

  /** The current picture; the same object until something changes. */
  snapshot(): SessionView {
    if (this.view === null) {
      const t = this.transcript;
      this.view = {
        id: this.id,
        cursor: this.cursor,
        items: t.items.slice(),
        pending: [...t.pending.values()],
        runningTurn: t.runningTurn,
        title: t.title,
        loading: this.cursor < this.replayUntil && this.replayUntil - this.replayFrom > LOADING_THRESHOLD,
        replayUntil: this.replayUntil,
      };
    }
    return this.view;
  }
}
