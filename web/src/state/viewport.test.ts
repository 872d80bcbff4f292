import { describe, expect, it } from "vitest";
import type { ClientOp, Event, ServerFrame, Session } from "../protocol";
import { Store, immediateScheduler } from "./store";
import { Viewport, type Link } from "./viewport";
import { TS, summary } from "./fixtures";

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

function setup(sessions: Session[] = []) {
  const store = new Store(immediateScheduler);
  const calls: string[] = [];
  const vp = new Viewport({
    store,
    api: {
      sessions: async () => ({ sessions }),
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

  it("marks read forward only, one request at a time", async () => {
    const { vp, calls } = setup();
    vp.handle({ type: "session", summary: summary("a", { read_seq: 3 }) });
    vp.markRead("a", 2);
    vp.markRead("a", 5);
    vp.markRead("a", 7);
    await new Promise((r) => setTimeout(r, 0));
    await new Promise((r) => setTimeout(r, 0));
    expect(calls).toEqual(["read a 5", "read a 7"]);
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
