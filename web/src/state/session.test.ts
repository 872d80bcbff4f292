import { describe, expect, it } from "vitest";
import type { Event, EventRecord } from "../protocol";
import { SessionState } from "./session";
import { summary } from "./fixtures";

const TS = "2026-11-21T10:00:00Z";
let turn = "t1";

function rec(seq: number, event: Event, first_seq?: number): EventRecord {
  return first_seq === undefined ? { seq, ts: TS, event } : { seq, first_seq, ts: TS, event };
}
const chunk = (text: string): Event => ({ kind: "agent_message_chunk", turn_id: turn, text });
const thought = (text: string): Event => ({ kind: "agent_thought_chunk", turn_id: turn, text });

/** A typical turn, one event per seq, starting at seq 1. */
function turnLog(): EventRecord[] {
  return [
    rec(1, { kind: "session_created", agent: "demo", cwd: "/w", title: "t" }),
    rec(2, { kind: "user_message", turn_id: turn, text: "hi" }),
    rec(3, { kind: "turn_started", turn_id: turn }),
    rec(4, chunk("chunk 1\n")),
    rec(5, chunk("chunk 2\n")),
    rec(6, chunk("chunk 3\n")),
    rec(7, { kind: "turn_ended", turn_id: turn, stop_reason: "end_turn" }),
  ];
}

function applyAll(state: SessionState, records: EventRecord[]) {
  return records.map((r) => state.applyEvent(r));
}

describe("SessionState.applyEvent", () => {
  it("applies a log in order and derives the transcript", () => {
    const s = new SessionState("s1");
    expect(applyAll(s, turnLog())).toEqual(Array(7).fill("applied"));
    expect(s.cursor).toBe(7);
    const v = s.snapshot();
    expect(v.items.map((i) => i.type)).toEqual(["created", "user", "agent"]);
    const agent = v.items[2];
    expect(agent?.type === "agent" && agent.text).toBe("chunk 1\nchunk 2\nchunk 3\n");
    expect(agent?.type === "agent" && agent.lastSeq).toBe(6);
    expect(v.runningTurn).toBeNull();
  });

  it("tracks the running turn", () => {
    const s = new SessionState("s1");
    applyAll(s, turnLog().slice(0, 4));
    expect(s.snapshot().runningTurn).toBe(turn);
  });

  it("ignores duplicates by seq", () => {
    const s = new SessionState("s1");
    const log = turnLog();
    applyAll(s, log.slice(0, 5));
    expect(s.applyEvent(log[3]!)).toBe("duplicate");
    expect(s.applyEvent(log[4]!)).toBe("duplicate");
    expect(s.applyEvent(log[0]!)).toBe("duplicate");
    expect(s.applyEvent(log[5]!)).toBe("applied");
    const agent = s.snapshot().items[2];
    expect(agent?.type === "agent" && agent.text).toBe("chunk 1\nchunk 2\nchunk 3\n");
    expect(s.cursor).toBe(6);
  });

  it("refuses a frame that leaves a gap, and one that straddles the cursor", () => {
    const s = new SessionState("s1");
    const log = turnLog();
    applyAll(s, log.slice(0, 3));
    expect(s.applyEvent(log[4]!)).toBe("discontinuous");
    expect(s.cursor).toBe(3);
    s.applyEvent(log[3]!);
    // 4..6 coalesced while we hold 4: half of it is new, but which half of the text is
    // unknown, so none of it is taken.
    expect(s.applyEvent(rec(6, chunk("chunk 1\nchunk 2\nchunk 3\n"), 4))).toBe("discontinuous");
    // 3..4 coalesced: all seen.
    expect(s.applyEvent(rec(4, chunk("chunk 1\n"), 3))).toBe("duplicate");
    expect(s.cursor).toBe(4);
    const agent = s.snapshot().items[2];
    expect(agent?.type === "agent" && agent.text).toBe("chunk 1\n");
  });

  it("takes a coalesced replay (first_seq..seq) as the same transcript as live chunks", () => {
    const live = new SessionState("a");
    applyAll(live, turnLog());
    const replayed = new SessionState("b");
    const log = turnLog();
    applyAll(replayed, [
      log[0]!,
      log[1]!,
      log[2]!,
      rec(6, chunk("chunk 1\nchunk 2\nchunk 3\n"), 4),
      log[6]!,
    ]);
    expect(replayed.cursor).toBe(7);
    const strip = (s: SessionState) => s.snapshot().items.map((i) => ({ ...i, key: "", seq: 0 }));
    expect(strip(replayed)).toEqual(strip(live));
  });

  it("a coalesced frame continues a message whose start was seen live", () => {
    const s = new SessionState("s1");
    const log = turnLog();
    applyAll(s, log.slice(0, 4)); // chunk 1 live
    expect(s.applyEvent(rec(6, chunk("chunk 2\nchunk 3\n"), 5))).toBe("applied");
    const agent = s.snapshot().items[2];
    expect(agent?.type === "agent" && agent.text).toBe("chunk 1\nchunk 2\nchunk 3\n");
    expect(s.cursor).toBe(6);
  });

  it("keeps thoughts and messages apart, and messages of different turns apart", () => {
    const s = new SessionState("s1");
    applyAll(s, [rec(1, thought("hmm ")), rec(2, thought("yes")), rec(3, chunk("a"))]);
    turn = "t2";
    s.applyEvent(rec(4, chunk("b")));
    turn = "t1";
    const items = s.snapshot().items;
    expect(items.map((i) => i.type)).toEqual(["thought", "agent", "agent"]);
    expect(items[0]?.type === "thought" && items[0].text).toBe("hmm yes");
  });

  it("reset drops everything; the next attach starts from seq 1", () => {
    const s = new SessionState("s1");
    applyAll(s, turnLog());
    s.attached("e1", summary("s1"));
    s.reset("e2");
    expect(s.cursor).toBe(0);
    expect(s.epoch).toBe("e2");
    expect(s.snapshot().items).toHaveLength(0);
    expect(applyAll(s, turnLog())).toEqual(Array(7).fill("applied"));
    expect(s.snapshot().items).toHaveLength(3);
  });

  it("snapshots are stable until something changes", () => {
    const s = new SessionState("s1");
    applyAll(s, turnLog().slice(0, 4));
    const a = s.snapshot();
    expect(s.snapshot()).toBe(a);
    s.applyEvent(turnLog()[3]!); // duplicate: no change
    expect(s.snapshot()).toBe(a);
    s.applyEvent(turnLog()[4]!);
    const b = s.snapshot();
    expect(b).not.toBe(a);
    // Items that did not change keep their identity (views re-render only the changed one).
    expect(b.items[0]).toBe(a.items[0]);
    expect(b.items[2]).not.toBe(a.items[2]);
  });
});

describe("replay progress", () => {
  it("a long replay is loading until the cursor reaches the log's end at attach", () => {
    const s = new SessionState("s1");
    s.attached("e1", summary("s1", { last_seq: 1000 }), 1000);
    expect(s.snapshot().loading).toBe(true);
    for (let i = 1; i <= 999; i++) s.applyEvent(rec(i, chunk("x")));
    expect(s.snapshot().loading).toBe(true);
    s.applyEvent(rec(1000, chunk("x")));
    expect(s.snapshot().loading).toBe(false);
  });

  it("a short catch-up (a reconnect) is not loading", () => {
    const s = new SessionState("s1");
    s.attached("e1", summary("s1", { last_seq: 0 }), 0);
    for (let i = 1; i <= 50; i++) s.applyEvent(rec(i, chunk("x")));
    s.attached("e1", summary("s1", { last_seq: 60 }), 60);
    expect(s.snapshot().loading).toBe(false);
  });
});

describe("transcript details", () => {
  it("the agent's first mode is not news; a change of it is a line", () => {
    const s = new SessionState("s1");
    applyAll(s, [rec(1, { kind: "mode_changed", mode_id: "code" }), rec(2, { kind: "mode_changed", mode_id: "code" })]);
    expect(s.snapshot().items).toHaveLength(0);
    s.applyEvent(rec(3, { kind: "mode_changed", mode_id: "ask" }));
    const items = s.snapshot().items;
    expect(items).toHaveLength(1);
    expect(items[0]?.type === "notice" && items[0].text).toBe("Mode: ask");
  });

  it("a queued message shows when it starts; a cancelled queue says which", () => {
    const s = new SessionState("s1");
    applyAll(s, [
      rec(1, { kind: "turn_queued", turn_id: "q1", text: "then run the tests" }),
      rec(2, { kind: "turn_queued", turn_id: "q2", text: "and lint" }),
      rec(3, { kind: "turn_unqueued", turn_id: "q2", reason: "removed" }),
    ]);
    expect(s.snapshot().items).toHaveLength(0);
    s.applyEvent(rec(4, { kind: "turn_unqueued", turn_id: "q1", reason: "cancelled" }));
    const items = s.snapshot().items;
    expect(items.map((i) => (i.type === "notice" ? i.text : i.type))).toEqual([
      "The queued message “then run the tests” was cancelled with the turn before it.",
    ]);
  });

  it("a user message keeps its attachments", () => {
    const s = new SessionState("s1");
    const attachment = { id: "u1", name: "dot.png", mime_type: "image/png", size: 70 };
    s.applyEvent(rec(1, { kind: "user_message", turn_id: turn, text: "look", attachments: [attachment] }));
    const item = s.snapshot().items[0];
    expect(item?.type === "user" && item.attachments).toEqual([attachment]);
  });

  it("tool calls are updated in place", () => {
    const s = new SessionState("s1");
    applyAll(s, [
      rec(1, { kind: "tool_call", turn_id: turn, tool_call_id: "c1", title: "Read", tool_kind: "read", status: "pending" }),
      rec(2, chunk("text")),
      rec(3, { kind: "tool_call_update", turn_id: turn, tool_call_id: "c1", status: "completed", content: [{ type: "content", content: { type: "text", text: "ok" } }] }),
    ]);
    const items = s.snapshot().items;
    expect(items).toHaveLength(2);
    const tool = items[0];
    expect(tool?.type === "tool" && tool.status).toBe("completed");
    expect(tool?.type === "tool" && tool.title).toBe("Read");
  });

  it("prompts are pending until resolved, and keep the winning outcome", () => {
    const s = new SessionState("s1");
    applyAll(s, [
      rec(1, {
        kind: "permission_requested",
        turn_id: turn,
        prompt_id: "p1",
        title: "Write",
        options: [
          { option_id: "allow", name: "Allow once", kind: "allow_once" },
          { option_id: "reject", name: "Reject", kind: "reject_once" },
        ],
      }),
      rec(2, { kind: "question_asked", turn_id: turn, prompt_id: "p2", message: "?", questions: [{ id: "color", question: "Pick", options: ["red"], free_text: false }] }),
    ]);
    expect(s.snapshot().pending.map((p) => p.event.prompt_id)).toEqual(["p1", "p2"]);
    s.applyEvent(rec(3, { kind: "prompt_resolved", prompt_id: "p1", outcome: { option_id: "allow" } }));
    const v = s.snapshot();
    expect(v.pending.map((p) => p.event.prompt_id)).toEqual(["p2"]);
    const card = v.items[0];
    expect(card?.type === "prompt" && card.outcome).toEqual({ option_id: "allow" });
  });

  it("an agent berth stopped says why, and that the next prompt starts it again", () => {
    const s = new SessionState("s1");
    applyAll(s, [
      rec(1, { kind: "agent_exited", code: null, signal: 15, reason: "idle" }),
      rec(2, { kind: "agent_exited", code: null, signal: 15, reason: "limit" }),
      rec(3, { kind: "agent_exited", code: 0, signal: null, reason: "user" }),
      rec(4, { kind: "agent_exited", code: 0, signal: null }),
    ]);
    const notices = s.snapshot().items.map((i) => (i.type === "notice" ? `${i.level}: ${i.text}` : i.type));
    expect(notices).toEqual([
      "info: Agent stopped: idle for a while. The next prompt starts it again.",
      "info: Agent stopped to free a slot for another session (max_live_agents). The next prompt starts it again.",
      "info: Agent stopped by you. The next prompt starts it again.",
      "info: The agent process exited (exit code 0).",
    ]);
  });

  it("a plan is restated in place; failures and exits are shown", () => {
    const s = new SessionState("s1");
    applyAll(s, [
      rec(1, { kind: "plan", turn_id: turn, entries: [{ content: "a", status: "pending", priority: "high" }] }),
      rec(2, { kind: "plan", turn_id: turn, entries: [{ content: "a", status: "completed", priority: "high" }] }),
      rec(3, { kind: "turn_ended", turn_id: turn, stop_reason: "error", error: "boom" }),
      rec(4, { kind: "agent_exited", code: 1, signal: null }),
      rec(5, { kind: "usage", used_tokens: 10, context_size: 100 }),
      rec(6, { kind: "title_changed", title: "new" }),
    ]);
    const v = s.snapshot();
    expect(v.items.map((i) => i.type)).toEqual(["plan", "turn_end", "notice"]);
    const plan = v.items[0];
    expect(plan?.type === "plan" && plan.entries[0]?.status).toBe("completed");
    expect(v.title).toBe("new");
  });
});
