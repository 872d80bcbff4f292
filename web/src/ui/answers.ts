// What a question form sends: pure, so it is unit-tested without a DOM.

import type { AnswerValue, Question } from "../protocol";

export interface FormAnswer {
  /** Whether the form can be sent as it is. */
  complete: boolean;
  /** The `answers` to send: every filled-in value, optional questions left blank left out. */
  answers: Record<string, AnswerValue>;
}

/** Whether a value counts as an answer (blank text does not). */
function filled(value: string | undefined): value is string {
  return value !== undefined && value.trim() !== "";
}

/**
 * The choices of a `multiple` question: the ticked options in the order offered, then
 * the typed text (free-text questions only), unless it repeats one. Beside options,
 * typed text is one more choice, commas and all; with no options to tick it is the
 * whole answer, read as a comma-separated list (as the server reads such a string).
 */
export function choices(q: Question, ticked: readonly string[] = [], typed?: string): string[] {
  const options = q.options ?? [];
  const out = options.filter((o) => ticked.includes(o));
  if (!q.free_text && options.length > 0) return out;
  const text = typed?.trim() ?? "";
  const typedChoices = options.length === 0 ? text.split(",").map((t) => t.trim()) : [text];
  for (const t of typedChoices) if (t !== "" && !out.includes(t)) out.push(t);
  return out;
}

/** `ticked` with `option` ticked or not, in the order `options` offers them. */
export function toggle(options: readonly string[], ticked: readonly string[], option: string, on: boolean): string[] {
  return options.filter((o) => (o === option ? on : ticked.includes(o)));
}

/**
 * The answer a question form gives with `values` typed or picked (one string per
 * question) and, for `multiple` questions, the options `ticked`. Every question that is
 * not `optional` needs an answer; optional ones may be left blank and are then left out.
 * A `multiple` question's answer is always a list. A form needs at least one answer
 * (berth refuses an empty one: Dismiss cancels instead).
 */
export function formAnswer(
  questions: readonly Question[],
  values: Readonly<Record<string, string>>,
  ticked: Readonly<Record<string, readonly string[]>> = {},
): FormAnswer {
  const answers: Record<string, AnswerValue> = {};
  let complete = true;
  for (const q of questions) {
    if (q.multiple) {
      const chosen = choices(q, ticked[q.id], values[q.id]);
      if (chosen.length > 0) answers[q.id] = chosen;
      else if (!q.optional) complete = false;
      continue;
    }
    const value = values[q.id];
    if (filled(value)) answers[q.id] = value;
    else if (!q.optional) complete = false;
  }
  if (Object.keys(answers).length === 0) complete = false;
  return { complete, answers };
}

/** An answer in words: a list's choices joined by commas, a choice holding one quoted. */
export function describeAnswer(value: AnswerValue): string {
  if (typeof value === "string") return value;
  return value.map((c) => (c.includes(",") ? `“${c}”` : c)).join(", ");
}
