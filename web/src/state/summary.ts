// Which of two summaries of one session is the later one.
//
// Summaries reach the tab from several places that race each other: `attached` frames
// (written by the connection's own task when it serves the attach), `session` frames (the
// session's summary bus), and REST answers (`GET /sessions`, create, rename, read). The
// server gives no version number, so the order comes from the fields that only ever move
// forward in one session's life:
//
//   1. `last_seq`   — the log only grows;
//   2. `updated_at` — the time of the last logged event (it follows the log: equal
//                     `last_seq` normally means equal `updated_at`; compared as times);
//   3. `read_seq`   — the read cursor only moves forward.
//
// Compared in that order, the first that differs decides. A summary that is behind on
// them is stale and must not replace the one held: it would bring back an earlier status
// (a "running" spinner after the turn ended), earlier prompts or an earlier title. Every
// other field (status, title, pending prompts, viewers, …) changes along with these or on
// its own; when all three are equal nothing tells the two apart, and the one that arrived
// last is taken (the server sends one session's frames in order).

import type { Session } from "../protocol";

/** RFC 3339 timestamps vary in their fraction digits: compare them as times, not text. */
export function timeOf(rfc3339: string): number {
  const t = Date.parse(rfc3339);
  return Number.isNaN(t) ? 0 : t;
}

/**
 * Compare two summaries of one session by how far they are along (see above): negative
 * when `a` is older than `b`, positive when newer, 0 when nothing tells them apart.
 */
export function compareSummaries(a: Session, b: Session): number {
  if (a.last_seq !== b.last_seq) return a.last_seq - b.last_seq;
  const t = timeOf(a.updated_at) - timeOf(b.updated_at);
  if (t !== 0) return t;
  return a.read_seq - b.read_seq;
}

/** Whether `incoming` is older than `known` (and must not replace it). */
export function isStale(incoming: Session, known: Session | undefined | null): boolean {
  return known != null && compareSummaries(incoming, known) < 0;
}
