import { describe, expect, it } from "vitest";
import type { Session, SessionList, SessionsQuery } from "../protocol";
import { ApiError } from "../api/rest";
import { Store, immediateScheduler } from "./store";
import { Viewport, type Link } from "./viewport";
import { DEFAULT_QUERY, PAGE_SIZE, byActivity, matchesSearch, type ListQuery } from "./listing";
import { summary } from "./fixtures";

/** A session whose last activity is `n` seconds into the day (higher: newer). */
function at(id: string, n: number, over: Partial<Session> = {}): Session {
  const t = new Date(Date.UTC(2026, 10, 21, 0, 0, n)).toISOString();
  return summary(id, { updated_at: t, created_at: t, ...over });
}

/**
 * A fake server holding `all` sessions: pages them like `GET /sessions` (newest first,
 * `before` = the id of the previous page's last row), filters by `archived` and `q`.
 */
function fakeServer(all: Session[]) {
  const requests: SessionsQuery[] = [];
  /** Requests held back until released (to race them against the socket). */
  let hold: Promise<void> | null = null;
  const api = {
    sessions: async (query: SessionsQuery = {}): Promise<SessionList> => {
      requests.push(query);
      const snapshot = [...all];
      if (hold) await hold;
      const rows = snapshot
        .filter((s) => s.archived === (query.archived ?? false) && matchesSearch(s, query.q ?? ""))
        .sort(byActivity);
      const from = query.before === undefined ? 0 : rows.findIndex((s) => s.id === query.before) + 1;
      const limit = query.limit ?? rows.length;
      const page = rows.slice(from, from + limit);
      const more = from + limit < rows.length;
      return more ? { sessions: page, next: page[page.length - 1]!.id } : { sessions: page };
    },
    session: async (id: string) => {
      const found = all.find((s) => s.id === id);
      if (!found) throw new ApiError(404, "not_found", "no such session");
      return found;
    },
    prompts: async () => ({ prompts: [] }),
    markRead: async (id: string) => summary(id),
  };
  return {
    api,
    requests,
    /** Hold every request until the returned function is called. */
    holdRequests() {
      let release!: () => void;
      hold = new Promise((r) => (release = r));
      return () => {
        hold = null;
        release();
      };
    },
  };
}

function setup(all: Session[]) {
  const store = new Store(immediateScheduler);
  const server = fakeServer(all);
  const vp = new Viewport({ store, api: server.api });
  const link: Link = { send: () => true, isOpen: true };
  vp.setLink(link);
  return { store, vp, server };
}

const ids = (list: readonly Session[]) => list.map((s) => s.id);
/** s1 (oldest) … s<n> (newest). */
const many = (n: number, over: (i: number) => Partial<Session> = () => ({})) => Array.from({ length: n }, (_, i) => at(`s${i + 1}`, i + 1, over(i + 1)));
/** The ids s<to> … s<from>, newest first. */
const newestFirst = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `s${to - i}`);

describe("paged session lists", () => {
  it("loads the first page of 50, then the next ones by cursor, until there is no more", async () => {
    const { store, vp, server } = setup(many(120));
    await vp.refreshSessions();
    expect(server.requests).toEqual([{ limit: PAGE_SIZE }]);
    expect(ids(store.list())).toEqual(newestFirst(71, 120));
    expect(store.listing(DEFAULT_QUERY)).toMatchObject({ loaded: true, more: true, loading: false });
    expect(store.listed).toBe(true);
    await vp.loadMore(DEFAULT_QUERY);
    expect(server.requests[1]).toEqual({ limit: PAGE_SIZE, before: "s71" });
    await vp.loadMore(DEFAULT_QUERY);
    expect(ids(store.list())).toEqual(newestFirst(1, 120));
    expect(store.listing(DEFAULT_QUERY).more).toBe(false);
    await vp.loadMore(DEFAULT_QUERY); // nothing left: no request
    expect(server.requests).toHaveLength(3);
  });

  it("one page at a time: a second loadMore while one is on its way asks nothing", async () => {
    const { vp, server } = setup(many(120));
    await vp.refreshSessions();
    const release = server.holdRequests();
    const a = vp.loadMore(DEFAULT_QUERY);
    const b = vp.loadMore(DEFAULT_QUERY);
    release();
    await Promise.all([a, b]);
    expect(server.requests).toHaveLength(2);
  });

  it("live news: a known session moves up in place; a new one is inserted in order; one beyond the loaded pages waits for its page", async () => {
    const { store, vp } = setup(many(120));
    await vp.refreshSessions();
    // A session on the first page becomes the newest.
    vp.handle({ type: "session", summary: at("s80", 500, { last_seq: 3 }) });
    expect(ids(store.list()).slice(0, 2)).toEqual(["s80", "s120"]);
    expect(store.list()).toHaveLength(50);
    // A new session (newer than everything) joins at the top.
    vp.handle({ type: "session", summary: at("fresh", 600) });
    expect(ids(store.list())[0]).toBe("fresh");
    // A session of a page not loaded yet, in its old place (a read cursor moved): not shown
    // (it would sit below rows it does not follow).
    vp.handle({ type: "session", summary: at("s10", 10, { read_seq: 1 }) });
    expect(ids(store.list())).not.toContain("s10");
    // Newly active, it is at the top.
    vp.handle({ type: "session", summary: at("s10", 700, { last_seq: 1 }) });
    expect(ids(store.list())[0]).toBe("s10");
    expect(store.list()).toHaveLength(52);
    // A later page does not list it twice.
    await vp.loadMore(DEFAULT_QUERY);
    await vp.loadMore(DEFAULT_QUERY);
    expect(new Set(ids(store.list())).size).toBe(store.list().length);
  });

  it("an archived session leaves the default list and joins the archived one if it is loaded; unarchived, it comes back", async () => {
    const all = [...many(5), at("old-archived", 0, { archived: true })];
    const { store, vp, server } = setup(all);
    await vp.refreshSessions();
    const archived: ListQuery = { archived: true, q: "" };
    const release = vp.want(archived);
    await new Promise((r) => setTimeout(r, 0));
    expect(server.requests.at(-1)).toEqual({ limit: PAGE_SIZE, archived: true });
    expect(ids(store.listing(archived).sessions)).toEqual(["old-archived"]);
    expect(ids(store.list())).not.toContain("old-archived");
    // Archived (a PATCH answer, or the `session` frame every tab gets).
    store.upsertSummary(at("s3", 3, { archived: true }));
    expect(ids(store.list())).toEqual(["s5", "s4", "s2", "s1"]);
    expect(ids(store.listing(archived).sessions)).toEqual(["s3", "old-archived"]);
    // Unarchived: back in its place.
    store.upsertSummary(at("s3", 3, { archived: false }));
    expect(ids(store.list())).toEqual(["s5", "s4", "s3", "s2", "s1"]);
    expect(ids(store.listing(archived).sessions)).toEqual(["old-archived"]);
    release();
  });

  it("an archived session leaves the default list even when the archived list is not loaded", async () => {
    const { store, vp } = setup(many(3));
    await vp.refreshSessions();
    vp.handle({ type: "session", summary: at("s2", 2, { archived: true }) });
    expect(ids(store.list())).toEqual(["s3", "s1"]);
    // The pane still knows it.
    expect(store.summary("s2")?.archived).toBe(true);
  });

  it("asks the server for archived sessions and searches, paged too", async () => {
    const all = [...many(70, (i) => ({ title: i % 2 === 0 ? `even ${i}` : `odd ${i}` })), at("a1", 1000, { archived: true, title: "even archived" })];
    const { store, vp, server } = setup(all);
    await vp.refreshSessions();
    const search: ListQuery = { archived: false, q: "  EVEN " };
    const release = vp.want(search);
    // Before the server answers, the list is what the tab knows that matches.
    expect(ids(store.listing(search).sessions)).toEqual(newestFirst(21, 70).filter((id) => Number(id.slice(1)) % 2 === 0));
    expect(store.listing(search).loading).toBe(true);
    await new Promise((r) => setTimeout(r, 0));
    expect(server.requests.at(-1)).toEqual({ limit: PAGE_SIZE, q: "EVEN" });
    const found = store.listing(search);
    expect(found.loaded).toBe(true);
    expect(found.more).toBe(false);
    // Every even one, also those beyond the default list's first page; not the archived one.
    expect(ids(found.sessions)).toEqual(newestFirst(1, 70).filter((id) => Number(id.slice(1)) % 2 === 0));
    // A session renamed to match joins the results live; one that stops matching stays
    // (the server's answer said it matches, until the next answer).
    vp.handle({ type: "session", summary: at("s71", 2000, { title: "even newer" }) });
    expect(ids(store.listing(search).sessions)[0]).toBe("s71");
    vp.handle({ type: "session", summary: at("s72", 2001, { title: "odd newer" }) });
    expect(ids(store.listing(search).sessions)).not.toContain("s72");
    // The default list was not touched by the search.
    expect(store.list()).toHaveLength(52);
    release();
    // Released by its last view, the search is forgotten.
    expect(store.queries()).toEqual([DEFAULT_QUERY]);
  });

  it("two views of one search share it; it stays until both let go", async () => {
    const { store, vp, server } = setup(many(3));
    const q: ListQuery = { archived: false, q: "s1" };
    const a = vp.want(q);
    const b = vp.want({ archived: false, q: "S1" });
    await new Promise((r) => setTimeout(r, 0));
    expect(server.requests).toHaveLength(1);
    a();
    expect(store.queries()).toHaveLength(2);
    b();
    expect(store.queries()).toHaveLength(1);
  });

  it("a reconnect reloads every row loaded, from the top, and drops those gone meanwhile", async () => {
    const all = many(120);
    const { store, vp, server } = setup(all);
    await vp.refreshSessions();
    await vp.loadMore(DEFAULT_QUERY);
    expect(store.list()).toHaveLength(100);
    // While the tab was away: s110 was deleted, s90 archived (no frame reached the tab).
    all.splice(all.findIndex((s) => s.id === "s110"), 1);
    all[all.findIndex((s) => s.id === "s90")] = at("s90", 90, { archived: true });
    await vp.refreshSessions();
    expect(server.requests.at(-1)).toEqual({ limit: 100 });
    const shown = ids(store.list());
    expect(shown).toHaveLength(100);
    expect(shown).not.toContain("s110");
    expect(shown).not.toContain("s90");
    expect(shown.at(-1)).toBe("s19");
    // And paging goes on from there.
    await vp.loadMore(DEFAULT_QUERY);
    expect(store.list()).toHaveLength(118);
  });

  it("a page asked before a reload is not applied after it (the list moved on from its cursor)", async () => {
    const { store, vp, server } = setup(many(200));
    await vp.refreshSessions();
    const release = server.holdRequests();
    const more = vp.loadMore(DEFAULT_QUERY);
    const reload = vp.refreshSessions();
    release();
    await Promise.all([more, reload]);
    // Whichever answered first, the list is one prefix of the server's order with no hole.
    const shown = ids(store.list());
    expect(shown).toEqual(newestFirst(201 - shown.length, 200));
    expect(store.listing(DEFAULT_QUERY).more).toBe(true);
  });

  it("keeps sessions the socket announced while a first page was in flight, in order", async () => {
    const { store, vp, server } = setup(many(60));
    const release = server.holdRequests();
    const first = vp.refreshSessions();
    vp.handle({ type: "session", summary: at("new", 999) });
    release();
    await first;
    expect(ids(store.list())[0]).toBe("new");
    expect(store.list()).toHaveLength(51);
  });

  it("a followed session archived elsewhere while the tab was away is not reported deleted", async () => {
    const all = many(3);
    const deleted: string[] = [];
    const store = new Store(immediateScheduler);
    const server = fakeServer(all);
    const vp = new Viewport({ store, api: server.api, onDeleted: (id) => deleted.push(id) });
    const sent: unknown[] = [];
    vp.setLink({ send: (op) => sent.push(op) > 0, isOpen: true });
    await vp.refreshSessions();
    vp.show("s2");
    vp.handle({ type: "attached", id: "attach-1", session: "s2", epoch: "e", last_seq: 0, summary: at("s2", 2) });
    all[1] = at("s2", 2, { archived: true });
    await vp.refreshSessions();
    expect(deleted).toEqual([]);
    expect(store.toasts).toEqual([]);
    expect(store.summary("s2")?.archived).toBe(true);
    expect(ids(store.list())).toEqual(["s3", "s1"]);
    // Unarchived, then deleted for real, both unheard of: reported.
    store.upsertSummary(at("s2", 2, { archived: false, last_seq: 1 }));
    all.splice(1, 1);
    await vp.refreshSessions();
    expect(deleted).toEqual(["s2"]);
  });

  it("a failed page says why, and the next success clears it", async () => {
    const { store, vp, server } = setup(many(80));
    await vp.refreshSessions();
    const real = server.api.sessions;
    server.api.sessions = async () => {
      throw new ApiError(0, "network", "The server cannot be reached.");
    };
    await vp.loadMore(DEFAULT_QUERY);
    expect(store.listing(DEFAULT_QUERY)).toMatchObject({ error: "The server cannot be reached.", more: true, loading: false });
    server.api.sessions = real;
    await vp.loadMore(DEFAULT_QUERY);
    expect(store.listing(DEFAULT_QUERY)).toMatchObject({ error: null, more: false });
    expect(store.list()).toHaveLength(80);
  });

  it("snapshots stay the same object until something in them changes", async () => {
    const { store, vp } = setup(many(3));
    await vp.refreshSessions();
    const a = store.listing(DEFAULT_QUERY);
    expect(store.listing(DEFAULT_QUERY)).toBe(a);
    expect(store.list()).toBe(a.sessions);
    const guess = store.listing({ archived: true, q: "" });
    expect(store.listing({ archived: true, q: "" })).toBe(guess);
    store.upsertSummary(at("s1", 50, { last_seq: 2 }));
    expect(store.listing(DEFAULT_QUERY)).not.toBe(a);
  });
});
