// @ts-check
// End-to-end helpers: a real berth server per scenario group, Debian's Chromium driven by
// playwright-core, a REST client, and waiting on conditions (never on fixed sleeps).

import { spawn, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const WEB = resolve(here, "..");
export const SCREENSHOTS = join(here, "screenshots");
export const TOKEN = "e2e-token-0123456789abcdef0123456789abcdef";
export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
export const FAKE_AGENT = join(here, "fake-agent.mjs");
export const BERTH_BIN = resolve(WEB, process.env.BERTH_BIN ?? "../target/release/berth");

/** Make sure Debian's Chromium is there; install it when missing. */
export function ensureChromium() {
  if (existsSync(CHROMIUM)) return;
  console.log(`# ${CHROMIUM} is missing: installing Debian's chromium (apt-get install -y chromium)`);
  const root = typeof process.getuid === "function" && process.getuid() === 0;
  const run = (/** @type {string[]} */ cmd) =>
    execFileSync(root ? cmd[0] : "sudo", root ? cmd.slice(1) : cmd, {
      stdio: "inherit",
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    });
  run(["apt-get", "update"]);
  run(["apt-get", "install", "-y", "chromium"]);
  if (!existsSync(CHROMIUM)) throw new Error(`chromium was installed but ${CHROMIUM} is still missing`);
}

/**
 * Poll `check` until it returns a truthy value (returned), or fail after `timeout` ms with
 * `what` and the last value seen.
 * @template T
 * @param {() => Promise<T> | T} check
 * @param {{ timeout?: number, interval?: number, what?: string }} [opts]
 * @returns {Promise<NonNullable<T>>}
 */
export async function waitFor(check, { timeout = 15_000, interval = 50, what = "condition" } = {}) {
  const deadline = Date.now() + timeout;
  /** @type {unknown} */
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return /** @type {NonNullable<T>} */ (last);
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

/**
 * A berth server: `serve --port <port> --data-dir <dir> --token <TOKEN>` with a clean
 * environment (own XDG dirs, no BERTH_* from the caller).
 */
export class BerthServer {
  /** @param {{ dataDir?: string, port?: number, config?: string }} [opts] */
  constructor(opts = {}) {
    this.root = mkdtempSync(join(tmpdir(), "berth-e2e-"));
    this.dataDir = opts.dataDir ?? join(this.root, "data");
    this.port = opts.port ?? 0;
    /** @type {import("node:child_process").ChildProcess | null} */
    this.proc = null;
    this.url = "";
    this.log = "";
    this.config = opts.config ?? "";
  }

  async start() {
    if (!existsSync(BERTH_BIN)) {
      throw new Error(`berth binary not found at ${BERTH_BIN}: run \`cargo build --release -p berth\` (or set BERTH_BIN)`);
    }
    mkdirSync(join(this.root, "config", "berth"), { recursive: true });
    writeFileSync(join(this.root, "config", "berth", "config.toml"), this.config);
    /** @type {NodeJS.ProcessEnv} */
    const env = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("BERTH_")) env[k] = v;
    env.XDG_CONFIG_HOME = join(this.root, "config");
    env.XDG_DATA_HOME = join(this.root, "xdg-data");
    env.RUST_LOG = env.RUST_LOG ?? "warn";
    const proc = spawn(BERTH_BIN, ["serve", "--port", String(this.port), "--data-dir", this.dataDir, "--token", TOKEN], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.proc = proc;
    /** @type {NodeJS.Timeout | undefined} */
    let late;
    const url = await new Promise((resolveUrl, reject) => {
      let out = "";
      const onData = (/** @type {Buffer} */ d) => {
        out += d.toString();
        this.log += d.toString();
        const m = /listening on (http:\/\/[^\s/]+)\//.exec(out);
        if (m) resolveUrl(m[1]);
      };
      proc.stdout?.on("data", onData);
      proc.stderr?.on("data", (d) => (this.log += d.toString()));
      proc.on("exit", (code, sig) => reject(new Error(`berth exited (${code ?? sig}) before listening:\n${this.log}`)));
      late = setTimeout(() => reject(new Error(`berth did not print its URL within 20 s:\n${this.log}`)), 20_000);
    }).finally(() => clearTimeout(late));
    this.url = /** @type {string} */ (url);
    this.port = Number(new URL(this.url).port);
    await waitFor(async () => (await fetch(`${this.url}/api/v1/health`)).ok, { what: "health", timeout: 20_000 });
    await checkUi(this.url);
    return this;
  }

  /** Kill the process (SIGKILL by default: a crash, nothing flushed on purpose). */
  async kill(signal = /** @type {NodeJS.Signals} */ ("SIGKILL")) {
    const proc = this.proc;
    if (!proc) return;
    // Already gone (exited, or killed by a signal: then exitCode stays null): waiting for
    // its `exit` again would hang the run.
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((r) => proc.once("exit", r));
      proc.kill(signal);
      // A server that ignores SIGTERM must not hang the run either.
      const hard = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(hard);
    }
    this.proc = null;
  }

  async stop() {
    await this.kill("SIGTERM");
    rmSync(this.root, { recursive: true, force: true });
  }

  /**
   * REST call with the bearer token (no Origin: judged by the token alone).
   * @param {string} method @param {string} path @param {unknown} [body]
   * @returns {Promise<any>}
   */
  async api(method, path, body) {
    const res = await fetch(`${this.url}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }

  /** @param {string} title @param {string} [agent] @returns {Promise<any>} */
  createSession(title, agent = "demo") {
    return this.api("POST", "/sessions", { agent, title });
  }

  /** @param {string} id @param {string} text */
  send(id, text) {
    return this.api("POST", `/sessions/${id}/turns`, { text });
  }

  /** Every event of a session, paged. @param {string} id */
  async events(id) {
    /** @type {any[]} */
    const all = [];
    for (;;) {
      const page = await this.api("GET", `/sessions/${id}/events?after=${all.length}&limit=5000`);
      all.push(...page.events);
      if (page.events.length === 0 || all.length >= page.last_seq) return all;
    }
  }

  /**
   * Wait until the turn started by the user message `text` has ended in the log (the
   * summary's status may trail the log, so it is not what is waited on).
   * @param {string} id @param {string} text
   */
  async turnEnded(id, text, timeout = 60_000) {
    return waitFor(
      async () => {
        const events = await this.events(id);
        const asked = events.filter((e) => e.event.kind === "user_message" && e.event.text === text).at(-1);
        if (!asked) return null;
        return events.find((e) => e.event.kind === "turn_ended" && e.event.turn_id === asked.event.turn_id) ?? null;
      },
      { timeout, interval: 100, what: `the turn "${text}" of ${id} to end` },
    );
  }

  /** Send `text` and wait until its turn has ended. @param {string} id @param {string} text */
  async turn(id, text, timeout = 60_000) {
    await this.send(id, text);
    return this.turnEnded(id, text, timeout);
  }
}

let uiChecked = false;

/**
 * The binary must serve the UI in web/dist (a release build embeds it when compiled): an
 * older embedded build would test stale code. Checked once per run.
 * @param {string} url
 */
async function checkUi(url) {
  if (uiChecked) return;
  uiChecked = true;
  const built = join(WEB, "dist", "index.html");
  if (!existsSync(built)) throw new Error("web/dist is not built: run `npm run build` first");
  const served = await (await fetch(`${url}/`)).text();
  if (served !== readFileSync(built, "utf8")) {
    throw new Error(
      `${BERTH_BIN} serves another UI build than web/dist: rebuild it after \`npm run build\` ` +
        "(cargo build --release -p berth), or point BERTH_BIN at a debug build (it reads web/dist at run time)",
    );
  }
}

/**
 * A browser with a fresh profile (its own --user-data-dir), signed in to `server`.
 * @param {BerthServer} server
 * @param {{ viewport?: { width: number, height: number }, login?: boolean }} [opts]
 */
export async function openBrowser(server, opts = {}) {
  const profile = mkdtempSync(join(tmpdir(), "berth-e2e-profile-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: opts.viewport ?? { width: 1280, height: 800 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const errors = /** @type {string[]} */ ([]);
  context.on("page", (page) => watch(page, errors));
  for (const page of context.pages()) watch(page, errors);
  if (opts.login !== false) {
    // Sign in once: the cookie is shared by every tab of this browser.
    const first = context.pages()[0] ?? (await context.newPage());
    await first.goto(`${server.url}/?token=${TOKEN}`);
    await first.waitForURL(`${server.url}/**`);
    if (new URL(first.url()).search.includes("token")) throw new Error("the token stayed in the URL");
    // Park the sign-in tab: it must not view (and mark read) what the tests create.
    await first.goto("about:blank");
  }
  return {
    context,
    errors,
    /** A new tab at `path`. @param {string} path */
    async tab(path = "/") {
      const page = await context.newPage();
      await page.goto(server.url + path);
      await page.waitForSelector('[data-testid="app"], [data-testid="login"]');
      return page;
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * A berth server and a signed-in browser for the enclosing describe group: started before
 * its tests, closed after them. The returned object's `server` and `browser` are set once
 * the group's `before` ran.
 * @param {{ dataDir?: string, port?: number, config?: string }} [opts] the server's options
 */
export function withServer(opts) {
  const env = /** @type {{ server: BerthServer, browser: Awaited<ReturnType<typeof openBrowser>> }} */ ({});
  before(async () => {
    env.server = await new BerthServer(opts).start();
    env.browser = await openBrowser(env.server);
  });
  after(async () => {
    await env.browser?.close();
    await env.server?.stop();
  });
  return env;
}

/** Page errors and dialogs are test failures (an alert would mean script ran). */
function watch(/** @type {import("playwright-core").Page} */ page, /** @type {string[]} */ errors) {
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  page.on("dialog", (d) => {
    errors.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  page.on("console", (m) => {
    if (m.type() === "error" && !/Failed to load resource|WebSocket connection/.test(m.text())) errors.push(`console: ${m.text()}`);
  });
}

/** @param {import("playwright-core").Page} page @param {string} name */
export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
}

/**
 * The `chunk N` numbers in a page's transcript DOM, in order. textContent, not innerText:
 * blocks scrolled far away are not laid out (content-visibility) and innerText skips them.
 * @param {import("playwright-core").Page} page
 */
export async function shownChunks(page) {
  const text = (await page.locator('[data-testid="transcript"]').textContent()) ?? "";
  // No \b before "chunk": textContent joins elements without spaces ("every=10chunk 1").
  return [...text.matchAll(/(?<![A-Za-z])chunk (\d+)\b/g)].map((m) => Number(m[1]));
}

/** [1, 2, …, n] @param {number} n */
export function range(n) {
  return Array.from({ length: n }, (_, i) => i + 1);
}

/** The text of `chunk 1` … `chunk n`, one per line, as the demo agent streams it. @param {number} n */
export function chunkText(n) {
  return range(n).map((i) => `chunk ${i}\n`).join("");
}

/** Write a JSON report next to the screenshots. @param {string} name @param {unknown} data */
export function writeReport(name, data) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  writeFileSync(join(SCREENSHOTS, `${name}.json`), JSON.stringify(data, null, 2));
}
