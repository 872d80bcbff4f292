// What a question form sends: pure, so it is unit-tested without a DOM.

import type { Question } from "../protocol";

export interface FormAnswer {
  /** Whether the form can be sent as it is. */
  complete: boolean;
  /** The `answers` to send: every filled-in value, optional questions left blank left out. */
  answers: Record<string, string>;
}

/** Whether a value counts as an answer (blank text does not). */
function filled(value: string | undefined): value is string {
  return value !== undefined && value.trim() !== "";
}

/**
 * The answer a question form gives with `values` entered. Every question that is not
 * `optional` needs an answer; optional ones may be left blank and are then left out. A
 * form needs at least one answer (berth refuses an empty one: Dismiss cancels instead).
 */
export function formAnswer(questions: readonly Question[], values: Readonly<Record<string, string>>): FormAnswer {
  const answers: Record<string, string> = {};
  let complete = true;
  for (const q of questions) {
    const value = values[q.id];
    if (filled(value)) answers[q.id] = value;
    else if (!q.optional) complete = false;
  }
  if (Object.keys(answers).length === 0) complete = false;
  return { complete, answers };
}
