// The protocol types, generated from the Rust protocol crate (berth-protocol, ts-rs).
// Everything in the UI imports wire types from here, never from ./generated directly,
// and never declares them by hand.
export type * from "./generated";

import type { Event, Outcome, Prompt } from "./generated";

/** One `kind` of the `event` object. */
export type EventKind = Event["kind"];

/** The `event` object of one kind. */
export type EventOf<K extends EventKind> = Extract<Event, { kind: K }>;

/** The two events a human answers. */
export type AskEvent = EventOf<"permission_requested"> | EventOf<"question_asked">;

/** A pending prompt as `GET /prompts` lists it, narrowed to the kinds it can be. */
export type PendingPrompt = Prompt & AskEvent;

export function isPendingPrompt(prompt: Prompt): prompt is PendingPrompt {
  return prompt.kind === "permission_requested" || prompt.kind === "question_asked";
}

/** Which outcome shape an `Outcome` is. */
export function outcomeKind(outcome: Outcome): "selected" | "answered" | "cancelled" {
  if ("option_id" in outcome) return "selected";
  if ("answers" in outcome) return "answered";
  return "cancelled";
}
