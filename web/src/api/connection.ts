// The tab's one WebSocket (`/api/v1/ws`): opens it, keeps it open (reconnects with
// exponential backoff and jitter), and hands every server frame to its owner. What to
// attach after a (re)connect is the owner's business (see viewport.ts).

import type { ClientOp, ServerFrame } from "../protocol";
import type { ConnectionInfo } from "../state/store";

/** The part of `WebSocket` used here (a fake one in tests). */
export interface SocketLike {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export interface ConnectionOptions {
  url: string;
  onFrame: (frame: ServerFrame) => void;
  onInfo: (info: ConnectionInfo) => void;
  /** The socket closed (after being open or not); `opened` says whether it had opened. */
  onClosed?: (opened: boolean) => void;
  createSocket?: (url: string) => SocketLike;
  random?: () => number;
  now?: () => number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
  /** Seconds between pings while open (a dead link is noticed by a missing pong). */
  pingEvery?: number;
}

/** Delay before reconnect attempt `attempt` (0-based): exponential, capped, with jitter. */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const base = 500;
  const cap = 8_000;
  const ceiling = Math.min(cap, base * 2 ** Math.min(attempt, 10));
  // "Equal jitter": half fixed, half random, so tabs do not reconnect in lockstep and
  // no attempt comes sooner than half its step.
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

const OPEN = 1;

export class Connection {
  private socket: SocketLike | null = null;
  private opened = false;
  private attempt = 0;
  private retryTimer: unknown = null;
  private pingTimer: unknown = null;
  private pongTimer: unknown = null;
  private stopped = false;
  private offline = false;
  private readonly opts: Required<Omit<ConnectionOptions, "onClosed">> & Pick<ConnectionOptions, "onClosed">;

  constructor(options: ConnectionOptions) {
    this.opts = {
      createSocket: (url) => new WebSocket(url) as unknown as SocketLike,
      random: Math.random,
      now: Date.now,
      setTimer: (fn, ms) => setTimeout(fn, ms),
      clearTimer: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
      pingEvery: 25,
      ...options,
    };
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.clearTimers();
    this.socket?.close(1000, "bye");
    this.socket = null;
  }

  get isOpen(): boolean {
    return this.socket !== null && this.socket.readyState === OPEN && this.opened;
  }

  /** Send an op if the socket is open; false otherwise (it is re-sent on reconnect). */
  send(op: ClientOp): boolean {
    if (!this.socket || this.socket.readyState !== OPEN) return false;
    this.socket.send(JSON.stringify(op));
    return true;
  }

  /** Skip the wait: try to reconnect now (the banner's "Retry now", the `online` event). */
  retryNow(): void {
    if (this.stopped || this.socket) return;
    this.clearRetry();
    this.connect();
  }

  /** The browser says the network is gone or back. */
  setOffline(offline: boolean): void {
    this.offline = offline;
    if (offline) {
      if (!this.socket) this.report("offline", null);
    } else {
      this.retryNow();
    }
  }

  private connect(): void {
    if (this.stopped) return;
    this.opened = false;
    this.report(this.attempt === 0 ? "connecting" : "reconnecting", null);
    let socket: SocketLike;
    try {
      socket = this.opts.createSocket(this.opts.url);
    } catch {
      this.scheduleRetry();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      this.opened = true;
      this.startPing();
      // "open" is reported on `hello` (the owner re-attaches then); see onmessage. The
      // backoff starts over only then too: a server that accepts the upgrade and closes
      // before saying hello (a proxy, a server starting or stopping) is still failing.
    };
    socket.onmessage = (ev) => {
      this.alive();
      if (typeof ev.data !== "string") return;
      let frame: ServerFrame;
      try {
        frame = JSON.parse(ev.data) as ServerFrame;
      } catch {
        return;
      }
      if (frame.type === "hello") {
        this.attempt = 0;
        this.report("open", null);
      }
      this.opts.onFrame(frame);
    };
    socket.onerror = () => {
      // A close event always follows; handled there.
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      const opened = this.opened;
      this.socket = null;
      this.opened = false;
      this.clearTimers();
      this.opts.onClosed?.(opened);
      if (!this.stopped) this.scheduleRetry();
    };
  }

  private scheduleRetry(): void {
    const delay = backoffDelay(this.attempt, this.opts.random);
    this.attempt += 1;
    const at = this.opts.now() + delay;
    this.report(this.offline ? "offline" : "reconnecting", at);
    this.clearRetry();
    this.retryTimer = this.opts.setTimer(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
  }

  private startPing(): void {
    const every = this.opts.pingEvery * 1000;
    const tick = () => {
      if (!this.send({ op: "ping" })) return;
      // No frame at all within 10 s of a ping: the link is dead; close and reconnect.
      this.pongTimer = this.opts.setTimer(() => this.socket?.close(4000, "no pong"), 10_000);
      this.pingTimer = this.opts.setTimer(tick, every);
    };
    this.pingTimer = this.opts.setTimer(tick, every);
  }

  /** Any frame proves the link alive. */
  private alive(): void {
    if (this.pongTimer !== null) {
      this.opts.clearTimer(this.pongTimer);
      this.pongTimer = null;
    }
  }

  private report(state: ConnectionInfo["state"], retryAt: number | null): void {
    this.opts.onInfo({ state, retryAt, attempt: this.attempt });
  }

  private clearRetry(): void {
    if (this.retryTimer !== null) {
      this.opts.clearTimer(this.retryTimer);
      this.retryTimer = null;
    }
  }

  private clearTimers(): void {
    this.clearRetry();
    if (this.pingTimer !== null) this.opts.clearTimer(this.pingTimer);
    if (this.pongTimer !== null) this.opts.clearTimer(this.pongTimer);
    this.pingTimer = null;
    this.pongTimer = null;
  }
}

/** `ws://host/api/v1/ws` for the page's origin. */
export function socketUrl(loc: { protocol: string; host: string } = location): string {
  return `${loc.protocol === "https:" ? "wss:" : "ws:"}//${loc.host}/api/v1/ws`;
}
