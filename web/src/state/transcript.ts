// The transcript: what a session pane shows, derived from the event log one event at a
// time. Items are immutable; an update replaces the item object, so a view can tell what
// changed by identity (React.memo) and re-render only that.

import type {
  AskEvent,
  Attachment,
  EventRecord,
  ExitReason,
  JsonValue,
  Outcome,
  PlanEntry,
  StopReason,
} from "../protocol";

interface Base {
  /** Stable key: the seq of the item's first event. */
  key: string;
  seq: number;
  ts: string;
}

export type Item =
  | (Base & { type: "created"; agent: string; cwd: string; title: string })
  | (Base & { type: "user"; turnId: string; text: string; attachments: Attachment[] })
  /** Agent text, every chunk of one message joined; `lastSeq` is its newest chunk. */
  | (Base & { type: "agent"; turnId: string; text: string; lastSeq: number })
  | (Base & { type: "thought"; turnId: string; text: string; lastSeq: number })
  | (Base & {
      type: "tool";
      turnId: string;
      toolCallId: string;
      title: string;
      toolKind: string;
      status: string;
      input?: JsonValue;
      content?: JsonValue;
      locations?: JsonValue;
    })
  | (Base & { type: "plan"; turnId: string; entries: PlanEntry[] })
  /** A permission request or question; `outcome` is set once it is resolved. */
  | (Base & { type: "prompt"; event: AskEvent; outcome: Outcome | null })
  | (Base & { type: "turn_end"; turnId: string; stopReason: StopReason; error?: string })
  | (Base & { type: "notice"; level: NoticeLevel; text: string });

export type NoticeLevel = "error" | "notice" | "info";

export type ItemOf<T extends Item["type"]> = Extract<Item, { type: T }>;

/** Why berth stopped an agent (`agent_exited.reason`), in words. */
const STOPPED_BECAUSE: Record<ExitReason, string> = {
  idle: "Agent stopped: idle for a while.",
  limit: "Agent stopped to free a slot for another session (max_live_agents).",
  user: "Agent stopped by you.",
};

/** Incrementally built transcript plus the runtime facts the log implies. */
export class Transcript {
  items: Item[] = [];
  /** The turn that has started and not ended, from the log. */
  runningTurn: string | null = null;
  title: string | null = null;
  /** Texts of queued turns, for the line that says one was cancelled. */
  private queuedText = new Map<string, string>();
  /** The agent's mode as last logged: only a change of it is worth a line. */
  private mode: string | null = null;
  /** Unresolved prompts by prompt id (their transcript item). */
  readonly pending = new Map<string, ItemOf<"prompt">>();
  private readonly toolIndex = new Map<string, number>();
  private readonly promptIndex = new Map<string, number>();
  private readonly planIndex = new Map<string, number>();

  /** Apply one log record (possibly a coalesced run of chunks). */
  apply(record: EventRecord): void {
    const { seq, ts, event } = record;
    const first = record.first_seq ?? seq;
    const key = `s${first}`;
    switch (event.kind) {
      case "session_created":
        this.title = event.title;
        this.push({ type: "created", key, seq: first, ts, agent: event.agent, cwd: event.cwd, title: event.title });
        break;
      case "user_message":
        this.push({ type: "user", key, seq: first, ts, turnId: event.turn_id, text: event.text, attachments: event.attachments ?? [] });
        break;
      case "turn_started":
        this.runningTurn = event.turn_id;
        break;
      case "agent_message_chunk":
      case "agent_thought_chunk": {
        const type = event.kind === "agent_message_chunk" ? "agent" : "thought";
        const last = this.items[this.items.length - 1];
        if (last && last.type === type && last.turnId === event.turn_id) {
          this.items[this.items.length - 1] = { ...last, text: last.text + event.text, lastSeq: seq };
        } else {
          this.push({ type, key, seq: first, ts, turnId: event.turn_id, text: event.text, lastSeq: seq });
        }
        break;
      }
      case "tool_call": {
        const item: ItemOf<"tool"> = {
          type: "tool",
          key,
          seq: first,
          ts,
          turnId: event.turn_id,
          toolCallId: event.tool_call_id,
          title: event.title,
          toolKind: event.tool_kind,
          status: event.status,
          input: event.input,
          content: event.content,
          locations: event.locations,
        };
        const at = this.toolIndex.get(event.tool_call_id);
        if (at !== undefined) {
          // A repeated tool_call restates the call: keep its place in the transcript.
          this.items[at] = { ...item, key: this.items[at]!.key, seq: this.items[at]!.seq };
        } else {
          this.toolIndex.set(event.tool_call_id, this.items.length);
          this.push(item);
        }
        break;
      }
      case "tool_call_update": {
        const at = this.toolIndex.get(event.tool_call_id);
        if (at === undefined) {
          // An update for a call we never saw: show it as a call of its own.
          this.toolIndex.set(event.tool_call_id, this.items.length);
          this.push({
            type: "tool",
            key,
            seq: first,
            ts,
            turnId: event.turn_id,
            toolCallId: event.tool_call_id,
            title: event.title ?? event.tool_call_id,
            toolKind: "other",
            status: event.status ?? "pending",
            content: event.content,
            locations: event.locations,
          });
          break;
        }
        const old = this.items[at] as ItemOf<"tool">;
        this.items[at] = {
          ...old,
          status: event.status ?? old.status,
          title: event.title ?? old.title,
          content: event.content !== undefined ? event.content : old.content,
          locations: event.locations !== undefined ? event.locations : old.locations,
        };
        break;
      }
      case "plan": {
        // A plan restates the whole list: update the turn's plan in place.
        const at = this.planIndex.get(event.turn_id);
        if (at !== undefined) {
          const old = this.items[at] as ItemOf<"plan">;
          this.items[at] = { ...old, entries: event.entries };
        } else {
          this.planIndex.set(event.turn_id, this.items.length);
          this.push({ type: "plan", key, seq: first, ts, turnId: event.turn_id, entries: event.entries });
        }
        break;
      }
      case "permission_requested":
      case "question_asked": {
        const item: ItemOf<"prompt"> = { type: "prompt", key, seq: first, ts, event, outcome: null };
        this.promptIndex.set(event.prompt_id, this.items.length);
        this.pending.set(event.prompt_id, item);
        this.push(item);
        break;
      }
      case "prompt_resolved": {
        const at = this.promptIndex.get(event.prompt_id);
        this.pending.delete(event.prompt_id);
        if (at !== undefined) {
          const old = this.items[at] as ItemOf<"prompt">;
          this.items[at] = { ...old, outcome: event.outcome };
        }
        break;
      }
      case "usage":
        // Not a transcript item: the server reads it into the summary's `usage`.
        break;
      case "turn_ended":
        if (this.runningTurn === event.turn_id) this.runningTurn = null;
        if (event.stop_reason !== "end_turn" || event.error) {
          this.push({
            type: "turn_end",
            key,
            seq: first,
            ts,
            turnId: event.turn_id,
            stopReason: event.stop_reason,
            error: event.error,
          });
        }
        break;
      case "agent_exited": {
        if (event.reason) {
          // berth stopped it on purpose: not a failure, and nothing is lost.
          this.push({ type: "notice", key, seq: first, ts, level: "info", text: `${STOPPED_BECAUSE[event.reason]} The next prompt starts it again.` });
          break;
        }
        const how =
          event.signal != null ? `killed by signal ${event.signal}` : event.code != null ? `exit code ${event.code}` : "no exit status";
        this.push({ type: "notice", key, seq: first, ts, level: event.code === 0 ? "info" : "error", text: `The agent process exited (${how}).` });
        break;
      }
      case "title_changed":
        this.title = event.title;
        break;
      case "error":
        this.push({ type: "notice", key, seq: first, ts, level: "error", text: event.message });
        break;
      case "notice":
        this.push({ type: "notice", key, seq: first, ts, level: "notice", text: event.message });
        break;
      case "turn_queued":
        // Listed above the composer (the summary's `queued`) until it starts; its
        // `user_message` then shows it in the transcript.
        this.queuedText.set(event.turn_id, event.text);
        break;
      case "turn_unqueued": {
        const text = this.queuedText.get(event.turn_id);
        this.queuedText.delete(event.turn_id);
        if (event.reason === "cancelled") {
          const what = text === undefined ? "A queued message" : `The queued message “${text.length > 80 ? `${text.slice(0, 80)}…` : text}”`;
          this.push({ type: "notice", key, seq: first, ts, level: "info", text: `${what} was cancelled with the turn before it.` });
        }
        break;
      }
      case "mode_changed":
        // The first report is where the agent starts, not news (the header shows it).
        if (this.mode !== null && this.mode !== event.mode_id) {
          this.push({ type: "notice", key, seq: first, ts, level: "info", text: `Mode: ${event.mode_id}` });
        }
        this.mode = event.mode_id;
        break;
      case "agent_started":
      case "commands_changed":
      case "config_changed":
      case "config_pending":
      case "agent_update":
        // Nothing to show in the transcript (the summary carries commands, the agent's
        // offer and what waits for it; the header shows them).
        break;
      default:
        // An event kind from a newer server: ignore it rather than break the pane.
        break;
    }
  }

  private push(item: Item): void {
    this.items.push(item);
  }
}
