// The sidebar's session lists, as the server pages them (`GET /sessions?limit&before&
// archived&q`): newest activity first, ties by id descending. A list holds a prefix of the
// server's order (the pages loaded so far) plus what the socket announced since.
//
// Paging by activity is stable enough to merge live news into: `updated_at` only moves
// forward, so a session can only move from a later page to the top, never back down. A
// session that is not in the loaded prefix and sorts after its last row (the boundary)
// belongs to a page not loaded yet, and is left for that page to bring.

import type { Session } from "../protocol";
import { timeOf } from "./summary";

/** What one list shows: archived sessions or the others, and the search text. */
export interface ListQuery {
  archived: boolean;
  /** Search text ("" for none); the server matches it case-insensitively. */
  q: string;
}

/** Rows per page. */
export const PAGE_SIZE = 50;
/** The server's largest page (a reload of everything loaded asks for at most this many). */
export const MAX_PAGE = 1000;

export const DEFAULT_QUERY: ListQuery = { archived: false, q: "" };

/** One key per distinct list (the server ignores the case of `q`). */
export function listKey(query: ListQuery): string {
  return `${query.archived ? "archived" : "active"}:${query.q.trim().toLowerCase()}`;
}

export const DEFAULT_KEY = listKey(DEFAULT_QUERY);

/** The server's order: newest activity first, ties by id descending. */
export function byActivity(a: Session, b: Session): number {
  const d = timeOf(b.updated_at) - timeOf(a.updated_at);
  if (d !== 0) return d;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/**
 * Whether the server's search would find the session: the same fields (title, slug,
 * agent, preview, id), case-insensitively. Used to take live news into a search's results
 * and to narrow a list while the server has not answered yet.
 */
export function matchesSearch(s: Session, q: string): boolean {
  const needle = q.trim().toLowerCase();
  if (needle === "") return true;
  return [s.title, s.slug, s.agent, s.preview ?? "", s.id].some((f) => f.toLowerCase().includes(needle));
}

/** Whether the session belongs in the list by its own fields (not by where it sorts). */
export function belongs(s: Session, query: ListQuery): boolean {
  return s.archived === query.archived && matchesSearch(s, query.q);
}

/**
 * Whether the session sorts within the loaded prefix whose last row was `boundary` (as
 * it was listed). `null`: the list is complete, everything is within.
 */
export function withinLoaded(s: Session, boundary: Session | null): boolean {
  return boundary === null || byActivity(s, boundary) <= 0;
}

/** What a view reads of one list. */
export interface ListSnapshot {
  sessions: readonly Session[];
  /** A first page arrived (before that, `sessions` are what the tab already knew). */
  loaded: boolean;
  /** The server has more pages (`next`). */
  more: boolean;
  /** A page is being fetched. */
  loading: boolean;
  /** Why the last page failed, until one succeeds. */
  error: string | null;
}
