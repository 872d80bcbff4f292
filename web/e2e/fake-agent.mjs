// @ts-check
// A tiny ACP agent (JSON-RPC 2.0, one message per line on stdio) for the end-to-end tests:
// every prompt gets a thought, a plan, an edit tool call carrying a diff, and a markdown
// reply with a highlighted code block (`/bigdiff`: a huge diff and a long output). It lets
// the UI's rich rendering be checked through the real server, which the scripted demo
// agent does not exercise (it sends no diffs).

import { createInterface } from "node:readline";

/** @param {unknown} msg */
function send(msg) {
  process.stdout.write(JSON.stringify({ jsonrpc: "2.0", ...(/** @type {object} */ (msg)) }) + "\n");
}

/** @param {string} sessionId @param {object} update */
function update(sessionId, update) {
  send({ method: "session/update", params: { sessionId, update } });
}

const OLD = `fn login(user: &str) -> bool {\n    let ok = check(user);\n    ok\n}\n\nfn check(user: &str) -> bool {\n    !user.is_empty()\n}\n`;
const NEW = `fn login(user: &str) -> Result<(), Error> {\n    check(user)?;\n    Ok(())\n}\n\nfn check(user: &str) -> Result<(), Error> {\n    if user.is_empty() { return Err(Error::Empty); }\n    Ok(())\n}\n`;

const REPLY = [
  "I changed `login` to return a `Result`, so a failed check says **why**:\n\n",
  "```rust\n",
  "fn login(user: &str) -> Result<(), Error> {\n",
  "    check(user)?;\n",
  "    Ok(())\n",
  "}\n",
  "```\n\n",
  "| file | change |\n|---|---|\n| `src/auth/login.rs` | returns `Result` |\n",
];

/**
 * `/rate N PER_SEC`: N chunks ("chunk i\n") at PER_SEC chunks a second, sent in small
 * batches every 10 ms against the clock (so timer jitter does not lower the rate).
 * @param {unknown} id @param {string} sid @param {number} n @param {number} perSec
 */
function streamAtRate(id, sid, n, perSec) {
  const start = Date.now();
  let sent = 0;
  const tick = () => {
    const due = Math.min(n, Math.floor(((Date.now() - start) / 1000) * perSec) + 1);
    while (sent < due) {
      sent += 1;
      update(sid, { sessionUpdate: "agent_message_chunk", content: { type: "text", text: `chunk ${sent}\n` } });
    }
    if (sent < n) setTimeout(tick, 10);
    else send({ id, result: { stopReason: "end_turn" } });
  };
  tick();
}

/**
 * `/bigdiff`: one big edit (a ~3 000-line diff in ~330 hunks, plus a 40-line insertion) and
 * one long command output (2 000 lines in a fenced block, streamed as a call then an
 * update). `/bigdiff more` restates that output with 500 more lines (a later update of the
 * same call), to check that an expanded fold stays expanded while content arrives.
 */
function bigDiffTexts() {
  const old = [];
  const neu = [];
  for (let i = 1; i <= 6600; i++) {
    old.push(`    entry(${i}, "value ${i}"),`);
    neu.push(i % 20 === 7 ? `    entry(${i}, "VALUE ${i}"),` : `    entry(${i}, "value ${i}"),`);
    if (i === 3000) for (let j = 1; j <= 40; j++) neu.push(`    extra(${j}),`);
  }
  return { oldText: `${old.join("\n")}\n`, newText: `${neu.join("\n")}\n` };
}

/** A fenced command output of `n` lines (as agents send a shell tool's output). @param {number} n */
function bigOutput(n) {
  const lines = ["$ cargo test --workspace"];
  for (let i = 1; i < n; i++) lines.push(`test suite_${Math.ceil(i / 50)}::case_${i} ... ok`);
  return "```console\n" + lines.join("\n") + "\n```";
}

/** @param {string} text */
function outputContent(text) {
  return [{ type: "content", content: { type: "text", text } }];
}

/** @param {unknown} id @param {string} sid @param {boolean} more */
function bigDiff(id, sid, more) {
  const cwd = process.cwd();
  if (more) {
    update(sid, { sessionUpdate: "tool_call_update", toolCallId: "bigdiff-out", content: outputContent(bigOutput(2500)) });
    send({ id, result: { stopReason: "end_turn" } });
    return;
  }
  const { oldText, newText } = bigDiffTexts();
  update(sid, {
    sessionUpdate: "tool_call",
    toolCallId: "bigdiff-edit",
    title: "Edit src/big/table.rs",
    kind: "edit",
    status: "completed",
    locations: [{ path: `${cwd}/src/big/table.rs` }],
    content: [{ type: "diff", path: `${cwd}/src/big/table.rs`, oldText, newText }],
  });
  update(sid, {
    sessionUpdate: "tool_call",
    toolCallId: "bigdiff-out",
    title: "cargo test --workspace",
    kind: "execute",
    status: "in_progress",
    content: outputContent(bigOutput(1000)),
  });
  update(sid, { sessionUpdate: "tool_call_update", toolCallId: "bigdiff-out", status: "completed", content: outputContent(bigOutput(2000)) });
  update(sid, { sessionUpdate: "agent_message_chunk", content: { type: "text", text: "Changed every 20th entry and ran the tests." } });
  send({ id, result: { stopReason: "end_turn" } });
}

/** Requests this agent sent to the client, waiting for their answer: id → what to do with it. */
const waiting = new Map();
let requests = 0;

/** Send the client a request; `then` gets its result (or `{ error }`). */
function request(/** @type {string} */ method, /** @type {object} */ params, /** @type {(result: any) => void} */ then) {
  const id = `fixture-req-${++requests}`;
  waiting.set(id, then);
  send({ id, method, params });
}

let sessions = 0;
const rl = createInterface({ input: process.stdin });
rl.on("line", (line) => {
  /** @type {any} */
  let msg;
  try {
    msg = JSON.parse(line);
  } catch {
    return;
  }
  if (msg.id !== undefined && msg.method === undefined) {
    // The answer to one of our requests.
    const then = waiting.get(msg.id);
    waiting.delete(msg.id);
    then?.(msg.result ?? { error: msg.error });
    return;
  }
  if (msg.id === undefined || msg.method === undefined) return; // notifications
  switch (msg.method) {
    case "initialize":
      send({
        id: msg.id,
        result: { protocolVersion: 1, agentCapabilities: { loadSession: false }, authMethods: [], agentInfo: { name: "fixture", version: "1.0.0" } },
      });
      break;
    case "session/new":
      send({ id: msg.id, result: { sessionId: `fixture-${++sessions}` } });
      break;
    case "session/prompt": {
      const sid = msg.params.sessionId;
      const text = (msg.params.prompt ?? []).map((/** @type {any} */ b) => b.text ?? "").join("");
      const rate = /^\/rate (\d+) (\d+)$/.exec(text.trim());
      if (rate) {
        streamAtRate(msg.id, sid, Number(rate[1]), Number(rate[2]));
        break;
      }
      if (text.trim() === "/bigdiff" || text.trim() === "/bigdiff more") {
        bigDiff(msg.id, sid, text.trim() === "/bigdiff more");
        break;
      }
      if (text.trim() === "/form") {
        // A form with one required and one optional field (an ACP form elicitation); the
        // reply quotes what came back.
        const requestedSchema = {
          type: "object",
          properties: { name: { type: "string", title: "Your name" }, nickname: { type: "string", title: "A nickname" } },
          required: ["name"],
        };
        request("elicitation/create", { sessionId: sid, mode: "form", message: "Tell me about you", requestedSchema }, (result) => {
          update(sid, { sessionUpdate: "agent_message_chunk", content: { type: "text", text: `Form result: \`${JSON.stringify(result)}\`` } });
          send({ id: msg.id, result: { stopReason: "end_turn" } });
        });
        break;
      }
      if (text.trim() === "/multi") {
        // A required multi-select field (an array of titled options, the shape Claude's
        // AskUserQuestion with multiSelect sends); an option holds a comma. The reply
        // quotes what came back.
        const options = ["lint", "unit tests", "Yes, with tests"].map((o) => ({ const: o, title: o }));
        const requestedSchema = {
          type: "object",
          properties: { checks: { type: "array", title: "Which checks?", items: { anyOf: options } } },
          required: ["checks"],
        };
        request("elicitation/create", { sessionId: sid, mode: "form", message: "Pick the checks to run", requestedSchema }, (result) => {
          update(sid, { sessionUpdate: "agent_message_chunk", content: { type: "text", text: `Form result: \`${JSON.stringify(result)}\`` } });
          send({ id: msg.id, result: { stopReason: "end_turn" } });
        });
        break;
      }
      const cwd = process.cwd();
      update(sid, { sessionUpdate: "agent_thought_chunk", content: { type: "text", text: "The login check returns a bare bool; " } });
      update(sid, { sessionUpdate: "agent_thought_chunk", content: { type: "text", text: "a Result would carry the reason." } });
      update(sid, {
        sessionUpdate: "plan",
        entries: [
          { content: "Read src/auth/login.rs", priority: "high", status: "completed" },
          { content: "Return a Result from login", priority: "medium", status: "completed" },
          { content: "Run the tests", priority: "low", status: "pending" },
        ],
      });
      update(sid, {
        sessionUpdate: "tool_call",
        toolCallId: "edit-1",
        title: "Edit src/auth/login.rs",
        kind: "edit",
        status: "in_progress",
        locations: [{ path: `${cwd}/src/auth/login.rs`, line: 1 }],
        content: [{ type: "diff", path: `${cwd}/src/auth/login.rs`, oldText: OLD, newText: NEW }],
      });
      update(sid, { sessionUpdate: "tool_call_update", toolCallId: "edit-1", status: "completed" });
      for (const text of REPLY) update(sid, { sessionUpdate: "agent_message_chunk", content: { type: "text", text } });
      send({ id: msg.id, result: { stopReason: "end_turn" } });
      break;
    }
    default:
      send({ id: msg.id, error: { code: -32601, message: `method not found: ${msg.method}` } });
  }
});
