import { describe, expect, it } from "vitest";
import type { ServerFrame } from "../protocol";
import type { ConnectionInfo } from "../state/store";
import { Connection, backoffDelay, type SocketLike } from "./connection";

class FakeSocket implements SocketLike {
  readyState = 0;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  sent: string[] = [];
  send(data: string) {
    this.sent.push(data);
  }
  close() {
    this.readyState = 3;
    this.onclose?.({ code: 1000 });
  }
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  frame(f: ServerFrame) {
    this.onmessage?.({ data: JSON.stringify(f) });
  }
  fail() {
    this.readyState = 3;
    this.onclose?.({ code: 1006 });
  }
}

function harness() {
  const sockets: FakeSocket[] = [];
  const timers: { fn: () => void; ms: number; live: boolean }[] = [];
  const infos: ConnectionInfo[] = [];
  const frames: ServerFrame[] = [];
  const conn = new Connection({
    url: "ws://x/api/v1/ws",
    onFrame: (f) => frames.push(f),
    onInfo: (i) => infos.push(i),
    createSocket: () => {
      const s = new FakeSocket();
      sockets.push(s);
      return s;
    },
    random: () => 0.5,
    now: () => 0,
    setTimer: (fn, ms) => {
      const t = { fn, ms, live: true };
      timers.push(t);
      return t;
    },
    clearTimer: (h) => {
      (h as { live: boolean }).live = false;
    },
  });
  const retries = () => timers.filter((t) => t.live && t.ms < 20_000 && t.ms !== 10_000);
  return { conn, sockets, timers, infos, frames, retries };
}

describe("backoffDelay", () => {
  it("grows exponentially to a cap, with jitter within [step/2, step]", () => {
    const lo = [0, 1, 2, 3, 4, 10].map((a) => backoffDelay(a, () => 0));
    const hi = [0, 1, 2, 3, 4, 10].map((a) => backoffDelay(a, () => 1));
    expect(lo).toEqual([250, 500, 1000, 2000, 4000, 4000]);
    expect(hi).toEqual([500, 1000, 2000, 4000, 8000, 8000]);
  });
});

describe("Connection", () => {
  it("reports open on hello and forwards frames", () => {
    const h = harness();
    h.conn.start();
    expect(h.infos.at(-1)?.state).toBe("connecting");
    h.sockets[0]!.open();
    h.sockets[0]!.frame({ type: "hello", epoch: "e", server_version: "1" });
    expect(h.infos.at(-1)?.state).toBe("open");
    expect(h.frames).toHaveLength(1);
    expect(h.conn.send({ op: "ping" })).toBe(true);
  });

  it("reconnects with growing delays after failures, and resets after success", () => {
    const h = harness();
    h.conn.start();
    h.sockets[0]!.open();
    h.sockets[0]!.fail();
    expect(h.infos.at(-1)?.state).toBe("reconnecting");
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      const t = h.retries().at(-1)!;
      delays.push(t.ms);
      t.live = false;
      t.fn();
      h.sockets.at(-1)!.fail();
    }
    expect(delays).toEqual([375, 750, 1500, 3000]);
    const t = h.retries().at(-1)!;
    t.live = false;
    t.fn();
    h.sockets.at(-1)!.open();
    h.sockets.at(-1)!.frame({ type: "hello", epoch: "e", server_version: "1" });
    h.sockets.at(-1)!.fail();
    expect(h.retries().at(-1)!.ms).toBe(375);
  });

  it("keeps backing off when the socket opens but closes before hello", () => {
    const h = harness();
    h.conn.start();
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      // The upgrade succeeds (a proxy, a server starting or stopping) but no hello comes.
      h.sockets.at(-1)!.open();
      h.sockets.at(-1)!.fail();
      const t = h.retries().at(-1)!;
      delays.push(t.ms);
      t.live = false;
      t.fn();
    }
    expect(delays).toEqual([375, 750, 1500, 3000]);
    expect(h.infos.at(-1)?.state).toBe("reconnecting");
    // A hello starts the backoff over.
    h.sockets.at(-1)!.open();
    h.sockets.at(-1)!.frame({ type: "hello", epoch: "e", server_version: "1" });
    expect(h.infos.at(-1)).toMatchObject({ state: "open", attempt: 0 });
    h.sockets.at(-1)!.fail();
    expect(h.retries().at(-1)!.ms).toBe(375);
  });

  it("does not send while closed, and retryNow skips the wait", () => {
    const h = harness();
    h.conn.start();
    expect(h.conn.send({ op: "ping" })).toBe(false);
    h.sockets[0]!.fail();
    h.conn.retryNow();
    expect(h.sockets).toHaveLength(2);
  });
});
