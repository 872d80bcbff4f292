import { describe, expect, it, vi } from "vitest";
import type { ClientOp, Event, ServerFrame, Session } from "../protocol";
import { Store, immediateScheduler } from "./store";
import { Viewport, type Link } from "./viewport";
import { TS, summary } from "./fixtures";
import { ApiError } from "../api/rest";

class FakeLink implements Link {
  sent: ClientOp[] = [];
  isOpen = true;
  send(op: ClientOp): boolean {
    if (!this.isOpen) return false;
    this.sent.push(op);
    return true;
  }
  take(): ClientOp[] {
    const s = this.sent;
    this.sent = [];
    return s;
  }
}

function setup(sessions: Session[] | (() => Promise<Session[]>) = []) {
  const store = new Store(immediateScheduler);
  const calls: string[] = [];
  const list = async () => (typeof sessions === "function" ? await sessions() : sessions);
  const vp = new Viewport({
    store,
    api: {
      sessions: async () => ({ sessions: await list() }),
      // The server's word on one session: what the listing holds, else not found.
      session: async (id: string) => {
        const found = (await list()).find((s) => s.id === id);
        if (!found) throw new ApiError(404, "not_found", "no such session");
        return found;
      },
      prompts: async () => ({ prompts: [] }),
      markRead: async (id: string, seq: number) => {
        calls.push(`read ${id} ${seq}`);
        return summary(id, { read_seq: seq });
      },
    },
    keepAttached: 2,
  });
  const link = new FakeLink();
  vp.setLink(link);
  return { store, vp, link, calls };
}

const chunk = (text: string): Event => ({ kind: "agent_message_chunk", turn_id: "t", text });
const ev = (session: string, seq: number, event: Event, first_seq?: number): ServerFrame =>
  first_seq === undefined
    ? { type: "event", session, seq, ts: TS, event }
    : { type: "event", session, seq, first_seq, ts: TS, event };

function attachOp(op: ClientOp | undefined) {
  if (!op || op.op !== "attach") throw new Error(`not an attach: ${JSON.stringify(op)}`);
  return op;
}

function attached(vp: Viewport, link: FakeLink, id: string, epoch = "e1", last_seq = 0) {
  const op = attachOp(link.take().find((o) => o.op === "attach" && o.session === id));
  vp.handle({ type: "attached", id: op.id, session: id, epoch, last_seq, summary: summary(id, { last_seq }) });
  return op;
}

describe("Viewport", () => {
  it("attaches what it shows, from its cursor", () => {
    const { vp, link, store } = setup();
    vp.handle({ type: "hello", epoch: "e1", server_version: "1" });
    vp.show("a");
    const op = attached(vp, link, "a");
    expect(op.after).toBe(0);
    vp.handle(ev("a", 1, chunk("x")));
    vp.handle(ev("a", 2, chunk("y")));
    expect(store.view("a")?.cursor).toBe(2);
  });

  it("ignores frames of an earlier subscription until `attached` answers", () => {
    const { vp, link, store } = setup();
    vp.show("a");
    attached(vp, link, "a");
    vp.handle(ev("a", 1, chunk("1")));
    // Reconnect: the replay starts after the cursor.
    vp.disconnected();
    vp.handle({ type: "hello", epoch: "e1", server_version: "1" });
    const op = attachOp(link.take().find((o) => o.op === "attach"));
    expect(op.after).toBe(1);
    expect(op.epoch).toBe("e1");
    vp.handle(ev("a", 2, chunk("stale"))); // before `attached`: not ours
    vp.handle({ type: "attached", id: op.id, session: "a", epoch: "e1", last_seq: 3, summary: summary("a") });
    vp.handle(ev("a", 3, chunk("23"), 2));
    const item = store.view("a")?.items[0];
    expect(item?.type === "agent" && item.text).toBe("123");
  });

  it("re-attaches every session with its own cursor on reconnect", () => {
    const { vp, link } = setup();
    vp.handle({ type: "hello", epoch: "e1", server_version: "1" });
    vp.show("a");
    attached(vp, link, "a");
    vp.show("b");
    attached(vp, link, "b");
    vp.handle(ev("a", 1, chunk("a1")));
    vp.handle(ev("b", 1, chunk("b1")));
    vp.handle(ev("b", 2, chunk("b2")));
    vp.disconnected();
    link.isOpen = false;
    vp.show("a"); // cannot send now; done at hello
    link.isOpen = true;
    vp.handle({ type: "hello", epoch: "e1", server_version: "1" });
    const ops = link.take().filter((o) => o.op === "attach").map(attachOp);
    expect(ops.map((o) => [o.session, o.after]).sort()).toEqual([
      ["a", 1],
      ["b", 2],
    ]);
  });

  it("reset rebuilds the session from seq 1", () => {
    const { vp, link, store } = setup();
    vp.show("a");
    attached(vp, link, "a");
    vp.handle(ev("a", 1, chunk("old")));
    vp.handle({ type: "reset", session: "a", epoch: "e2" });
    expect(store.view("a")?.cursor).toBe(0);
    const op = attached(vp, link, "a", "e2");
    expect(op.after).toBe(0);
    vp.handle(ev("a", 1, chunk("new")));
    const item = store.view("a")?.items[0];
    expect(item?.type === "agent" && item.text).toBe("new");
  });

  it("re-attaches from its cursor when a frame does not continue the log", () => {
    const { vp, link, store } = setup();
    vp.show("a");
    attached(vp, link, "a");
    vp.handle(ev("a", 1, chunk("1")));
    vp.handle(ev("a", 3, chunk("3")));
    expect(store.view("a")?.cursor).toBe(1);
    const op = attachOp(link.take().find((o) => o.op === "attach"));
    expect(op.after).toBe(1);
  });

  it("background sessions update their own state, never the one on screen", () => {
    const { vp, link, store } = setup();
    vp.show("a");
    attached(vp, link, "a");
    vp.show("b");
    attached(vp, link, "b");
    vp.handle(ev("b", 1, chunk("b")));
    const before = store.view("b");
    vp.handle(ev("a", 1, chunk("a")));
    expect(store.view("b")).toBe(before);
    expect(store.view("a")?.cursor).toBe(1);
  });

  it("detaches the least recently shown beyond the limit", () => {
    const { vp, link, store } = setup();
    let t = 0;
    (vp as unknown as { opts: { now: () => number } }).opts.now = () => ++t;
    for (const id of ["a", "b", "c", "d"]) {
      vp.show(id);
      attached(vp, link, id);
    }
    expect(vp.attachedIds().sort()).toEqual(["b", "c", "d"]);
    expect(store.peek("a")).toBeUndefined();
  });

  it("a deleted session leaves with a toast", () => {
    const deleted: string[] = [];
    const { vp, link, store } = setup();
    (vp as unknown as { opts: { onDeleted: (id: string) => void } }).opts.onDeleted = (id) => deleted.push(id);
    vp.handle({ type: "session", summary: summary("a") });
    vp.show("a");
    attached(vp, link, "a");
    vp.handle({ type: "session_deleted", session: "a" });
    expect(store.list()).toHaveLength(0);
    expect(store.peek("a")).toBeUndefined();
    expect(store.toasts.map((t) => t.text)).toEqual(["Session “title a” was deleted."]);
    expect(deleted).toEqual(["a"]);
  });

  it("summaries drive the list, newest activity first", () => {
    const { vp, store } = setup();
    vp.handle({ type: "session", summary: summary("a", { updated_at: "2026-11-21T10:00:00.5Z" }) });
    vp.handle({ type: "session", summary: summary("b", { updated_at: "2026-11-21T10:00:00.25Z" }) });
    expect(store.list().map((s) => s.id)).toEqual(["a", "b"]);
    vp.handle({ type: "session", summary: summary("b", { updated_at: "2026-11-21T10:00:01Z" }) });
    expect(store.list().map((s) => s.id)).toEqual(["b", "a"]);
  });

  it("marks read forward only, one request at a time, spaced out, the newest cursor last", async () => {
    vi.useFakeTimers();
    try {
      const { vp, calls } = setup();
      vp.handle({ type: "session", summary: summary("a", { read_seq: 3 }) });
      vp.markRead("a", 2);
      vp.markRead("a", 5);
      vp.markRead("a", 7);
      await vi.advanceTimersByTimeAsync(0);
      expect(calls).toEqual(["read a 5"]);
      // A stream on screen: the cursor moves every frame; one update per interval goes out.
      for (let seq = 8; seq <= 60; seq += 1) {
        vp.markRead("a", seq);
        await vi.advanceTimersByTimeAsync(16);
      }
      await vi.advanceTimersByTimeAsync(2000);
      expect(calls[calls.length - 1]).toBe("read a 60");
      expect(calls.length).toBeLessThanOrEqual(3);
      // Other sessions are not held back by this one's gap.
      vp.markRead("b", 4);
      await vi.advanceTimersByTimeAsync(0);
      expect(calls[calls.length - 1]).toBe("read b 4");
      // A session leaving the screen sends what was seen at once, not after the gap.
      vp.show("a");
      vp.markRead("a", 70);
      await vi.advanceTimersByTimeAsync(0);
      expect(calls[calls.length - 1]).toBe("read a 70");
      vp.markRead("a", 75);
      await vi.advanceTimersByTimeAsync(10);
      expect(calls[calls.length - 1]).toBe("read a 70");
      vp.show("b");
      await vi.advanceTimersByTimeAsync(0);
      expect(calls[calls.length - 1]).toBe("read a 75");
    } finally {
      vi.useRealTimers();
    }
  });

  it("tells when a session starts waiting or finishes", () => {
    const seen: string[] = [];
    const { vp } = setup();
    (vp as unknown as { opts: { onAttention: (s: Session, w: string) => void } }).opts.onAttention = (s, w) =>
      seen.push(`${s.id} ${w}`);
    vp.handle({ type: "session", summary: summary("a", { status: "idle" }) });
    vp.handle({ type: "session", summary: summary("a", { status: "running" }) });
    vp.handle({ type: "session", summary: summary("a", { status: "awaiting_input" }) });
    vp.handle({ type: "session", summary: summary("a", { status: "running" }) });
    vp.handle({ type: "session", summary: summary("a", { status: "idle" }) });
    expect(seen).toEqual(["a waiting", "a finished"]);
  });
});

/** A promise settled from outside (a request in flight). */
function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Let pending promise callbacks run. */
const settle = () => new Promise((r) => setTimeout(r, 0));

describe("Viewport: summaries arriving out of order", () => {
  const T0 = "2026-11-21T10:00:00Z";
  const T1 = "2026-11-21T10:00:01Z";
  const T2 = "2026-11-21T10:00:02Z";

  it("a stale `attached` summary does not overwrite a newer `session` frame (no stuck spinner)", () => {
    const { vp, link, store } = setup();
    vp.show("a");
    const op = attachOp(link.take().find((o) => o.op === "attach"));
    // The session task's frame (turn over) overtakes the attach reply (turn running).
    vp.handle({ type: "session", summary: summary("a", { status: "idle", last_seq: 12, updated_at: T2 }) });
    vp.handle({
      type: "attached",
      id: op.id,
      session: "a",
      epoch: "e1",
      last_seq: 10,
      summary: summary("a", { status: "running", last_seq: 10, updated_at: T1 }),
    });
    expect(store.summary("a")?.status).toBe("idle");
    expect(store.summary("a")?.last_seq).toBe(12);
    expect(store.peek("a")?.summary?.status).toBe("idle");
    expect(vp.isAttached("a")).toBe(true);
  });

  it("a stale `session` frame after a newer `attached` summary is ignored too", () => {
    const { vp, link, store } = setup();
    vp.show("a");
    const op = attachOp(link.take().find((o) => o.op === "attach"));
    vp.handle({ type: "attached", id: op.id, session: "a", epoch: "e1", last_seq: 7, summary: summary("a", { status: "idle", last_seq: 7, updated_at: T2 }) });
    vp.handle({ type: "session", summary: summary("a", { status: "running", last_seq: 5, updated_at: T1 }) });
    expect(store.summary("a")?.status).toBe("idle");
  });

  it("at an equal last_seq the later updated_at wins, whatever the order of arrival", () => {
    const { vp, store } = setup();
    vp.handle({ type: "session", summary: summary("a", { status: "awaiting_input", pending_prompts: 1, last_seq: 9, updated_at: T2 }) });
    vp.handle({ type: "session", summary: summary("a", { status: "running", pending_prompts: 0, last_seq: 9, updated_at: T1 }) });
    expect(store.summary("a")?.status).toBe("awaiting_input");
    vp.handle({ type: "session", summary: summary("b", { status: "running", title: "old", last_seq: 9, updated_at: "2026-11-21T10:00:01.5Z" }) });
    vp.handle({ type: "session", summary: summary("b", { status: "idle", title: "new", last_seq: 9, updated_at: "2026-11-21T10:00:01.75Z" }) });
    expect(store.summary("b")).toMatchObject({ status: "idle", title: "new" });
  });

  it("when last_seq and updated_at tie, a read cursor behind is stale; anything else is taken as it arrives", () => {
    const { vp, store } = setup();
    vp.handle({ type: "session", summary: summary("a", { last_seq: 9, updated_at: T1, read_seq: 9, unread: 0 }) });
    vp.handle({ type: "session", summary: summary("a", { last_seq: 9, updated_at: T1, read_seq: 4, unread: 5 }) });
    expect(store.summary("a")?.unread).toBe(0);
    vp.handle({ type: "session", summary: summary("a", { last_seq: 9, updated_at: T1, read_seq: 9, unread: 0, viewers: 3, title: "renamed" }) });
    expect(store.summary("a")).toMatchObject({ viewers: 3, title: "renamed" });
  });

  it("a stale summary raises no attention (no false 'finished') and no inbox refetch", () => {
    const seen: string[] = [];
    let inboxFetches = 0;
    const store = new Store(immediateScheduler);
    const vp = new Viewport({
      store,
      api: {
        sessions: async () => ({ sessions: [] }),
        session: async (id: string) => summary(id),
        prompts: async () => {
          inboxFetches += 1;
          return { prompts: [] };
        },
        markRead: async (id: string) => summary(id),
      },
      onAttention: (s, w) => seen.push(`${s.id} ${w}`),
    });
    vp.handle({ type: "session", summary: summary("a", { status: "idle", last_seq: 20, updated_at: T2 }) });
    vp.handle({ type: "session", summary: summary("a", { status: "awaiting_input", pending_prompts: 1, last_seq: 15, updated_at: T1 }) });
    expect(seen).toEqual([]);
    expect(inboxFetches).toBe(0);
  });

  it("a REST answer older than the socket's summary is ignored", () => {
    const { vp, store } = setup();
    vp.handle({ type: "session", summary: summary("a", { title: "new", last_seq: 3, updated_at: T2 }) });
    store.upsertSummary(summary("a", { title: "old", last_seq: 3, updated_at: T0 }));
    expect(store.summary("a")?.title).toBe("new");
  });

  it("after a reset the next summary is taken even if it looks older (the log was rolled back)", () => {
    const { vp, link, store } = setup();
    vp.show("a");
    attached(vp, link, "a", "e1", 50);
    expect(store.summary("a")?.last_seq).toBe(50);
    vp.handle({ type: "reset", session: "a", epoch: "e2" });
    const op = attachOp(link.take().find((o) => o.op === "attach"));
    vp.handle({ type: "attached", id: op.id, session: "a", epoch: "e2", last_seq: 30, summary: summary("a", { last_seq: 30 }) });
    expect(store.summary("a")?.last_seq).toBe(30);
    expect(store.peek("a")?.summary?.last_seq).toBe(30);
  });
});

describe("Viewport: the session listing races the socket", () => {
  it("keeps a session the socket announced while GET /sessions was in flight", async () => {
    const answer = deferred<Session[]>();
    const { vp, store } = setup(() => answer.promise);
    vp.handle({ type: "session", summary: summary("old") });
    const refresh = vp.refreshSessions();
    vp.handle({ type: "session", summary: summary("new") });
    answer.resolve([summary("old")]); // taken before "new" existed
    await refresh;
    expect(store.list().map((s) => s.id).sort()).toEqual(["new", "old"]);
  });

  it("drops a session the listing lacks when nothing was heard of it since the request", async () => {
    const answer = deferred<Session[]>();
    const { vp, store } = setup(() => answer.promise);
    vp.handle({ type: "session", summary: summary("gone") });
    vp.handle({ type: "session", summary: summary("kept") });
    const refresh = vp.refreshSessions();
    answer.resolve([summary("kept")]);
    await refresh;
    expect(store.list().map((s) => s.id)).toEqual(["kept"]);
  });

  it("does not bring back a session deleted while GET /sessions was in flight", async () => {
    const answer = deferred<Session[]>();
    const { vp, store } = setup(() => answer.promise);
    vp.handle({ type: "session", summary: summary("a") });
    vp.handle({ type: "session", summary: summary("b") });
    const refresh = vp.refreshSessions();
    vp.handle({ type: "session_deleted", session: "a" });
    answer.resolve([summary("a"), summary("b")]); // taken before the deletion
    await refresh;
    expect(store.list().map((s) => s.id)).toEqual(["b"]);
    // Nor does a late summary of it.
    vp.handle({ type: "session", summary: summary("a", { last_seq: 9 }) });
    expect(store.summary("a")).toBeUndefined();
  });

  it("keeps the socket's newer summary over the listing's older one", async () => {
    const answer = deferred<Session[]>();
    const { vp, store } = setup(() => answer.promise);
    const refresh = vp.refreshSessions();
    vp.handle({ type: "session", summary: summary("a", { status: "idle", last_seq: 8 }) });
    answer.resolve([summary("a", { status: "running", last_seq: 6 })]);
    await refresh;
    expect(store.summary("a")?.status).toBe("idle");
  });

  it("never reports a session deleted from a listing requested before the tab opened it", async () => {
    const answer = deferred<Session[]>();
    const deleted: string[] = [];
    const { vp, link, store } = setup(() => answer.promise);
    (vp as unknown as { opts: { onDeleted: (id: string) => void } }).opts.onDeleted = (id) => deleted.push(id);
    vp.handle({ type: "hello", epoch: "e1", server_version: "1" }); // starts a listing
    await settle();
    const refresh = vp.refreshSessions();
    // Created elsewhere after the request went out, and opened here at once.
    vp.show("fresh");
    answer.resolve([]);
    await refresh;
    expect(deleted).toEqual([]);
    expect(store.toasts).toEqual([]);
    expect(vp.attachedIds()).toEqual(["fresh"]);
    // Its attach is answered normally.
    attached(vp, link, "fresh");
    expect(vp.isAttached("fresh")).toBe(true);
    expect(store.summary("fresh")).toBeDefined();
  });

  it("never reports a session deleted when its summary arrived after the listing was requested", async () => {
    const answer = deferred<Session[]>();
    const deleted: string[] = [];
    const { vp, link, store } = setup(() => answer.promise);
    (vp as unknown as { opts: { onDeleted: (id: string) => void } }).opts.onDeleted = (id) => deleted.push(id);
    vp.show("x");
    const refresh = vp.refreshSessions();
    attached(vp, link, "x"); // the attach reply proves it exists, later than the request
    answer.resolve([]);
    await refresh;
    expect(deleted).toEqual([]);
    expect(store.toasts).toEqual([]);
    expect(store.summary("x")).toBeDefined();
  });

  it("still reports a followed session the listing lacks when the listing can know", async () => {
    const deleted: string[] = [];
    let list: Session[] = [summary("x")];
    const { vp, link, store } = setup(async () => list);
    (vp as unknown as { opts: { onDeleted: (id: string) => void } }).opts.onDeleted = (id) => deleted.push(id);
    await vp.refreshSessions();
    vp.show("x");
    attached(vp, link, "x");
    list = []; // deleted while this tab was disconnected
    await vp.refreshSessions();
    expect(deleted).toEqual(["x"]);
    expect(store.toasts.map((t) => t.text)).toEqual(["Session “title x” was deleted."]);
  });

  it("ignores a listing answered after one requested later", async () => {
    const first = deferred<Session[]>();
    const second = deferred<Session[]>();
    const answers = [first, second];
    const { vp, store } = setup(() => answers.shift()!.promise);
    const r1 = vp.refreshSessions();
    const r2 = vp.refreshSessions();
    second.resolve([summary("a", { title: "later" }), summary("b")]);
    await r2;
    first.resolve([summary("a", { title: "earlier" })]);
    await r1;
    expect(store.list().map((s) => s.id).sort()).toEqual(["a", "b"]);
    expect(store.summary("a")?.title).toBe("later");
  });
});
