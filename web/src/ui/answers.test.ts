import { describe, expect, it } from "vitest";
import type { Question } from "../protocol";
import { choices, describeAnswer, formAnswer, toggle } from "./answers";

const q = (id: string, optional?: boolean): Question =>
  optional === undefined ? { id, question: id, free_text: true } : { id, question: id, free_text: true, optional };

describe("formAnswer", () => {
  it("needs every required question answered", () => {
    const form = [q("a"), q("b", false)];
    expect(formAnswer(form, { a: "x" }).complete).toBe(false);
    expect(formAnswer(form, { a: "x", b: "  " }).complete).toBe(false);
    expect(formAnswer(form, { a: "x", b: "y" })).toEqual({ complete: true, answers: { a: "x", b: "y" } });
  });

  it("lets optional questions be skipped, and leaves their blank answers out", () => {
    const form = [q("name"), q("nickname", true), q("notes", true)];
    expect(formAnswer(form, { name: "Ada" })).toEqual({ complete: true, answers: { name: "Ada" } });
    expect(formAnswer(form, { name: "Ada", nickname: "", notes: "   " })).toEqual({ complete: true, answers: { name: "Ada" } });
    expect(formAnswer(form, { name: "Ada", notes: "hi" })).toEqual({ complete: true, answers: { name: "Ada", notes: "hi" } });
    expect(formAnswer(form, { nickname: "A" }).complete).toBe(false);
  });

  it("needs at least one answer when every question is optional", () => {
    const form = [q("a", true), q("b", true)];
    expect(formAnswer(form, {}).complete).toBe(false);
    expect(formAnswer(form, { a: "" }).complete).toBe(false);
    expect(formAnswer(form, { b: "y" })).toEqual({ complete: true, answers: { b: "y" } });
  });
});

const multi = (id: string, options: string[], extra: Partial<Question> = {}): Question => ({
  id,
  question: id,
  options,
  free_text: false,
  multiple: true,
  ...extra,
});

describe("multiple-choice questions", () => {
  const checks = multi("checks", ["lint", "Yes, with tests", "docs"]);

  it("send the ticked options as a list, in the order offered, even one", () => {
    expect(formAnswer([checks], {}, { checks: ["docs", "lint"] })).toEqual({ complete: true, answers: { checks: ["lint", "docs"] } });
    expect(formAnswer([checks], {}, { checks: ["Yes, with tests"] })).toEqual({
      complete: true,
      answers: { checks: ["Yes, with tests"] },
    });
  });

  it("need a choice unless optional", () => {
    expect(formAnswer([checks], {}, {}).complete).toBe(false);
    expect(formAnswer([checks], {}, { checks: [] }).complete).toBe(false);
    const optional = { ...checks, optional: true };
    const other: Question = { id: "other", question: "Other", free_text: true, optional: true };
    expect(formAnswer([optional, other], { other: "mine" }, { checks: [] })).toEqual({ complete: true, answers: { other: "mine" } });
    expect(formAnswer([optional, other], {}, { checks: [] }).complete).toBe(false);
  });

  it("add typed text as one more choice only when free text is allowed, commas and all", () => {
    const open = multi("tags", ["a", "b"], { free_text: true });
    expect(formAnswer([open], { tags: " c, d " }, { tags: ["b"] }).answers).toEqual({ tags: ["b", "c, d"] });
    expect(formAnswer([open], { tags: "b" }, { tags: ["b"] }).answers).toEqual({ tags: ["b"] });
    expect(formAnswer([checks], { checks: "typed" }, { checks: ["lint"] }).answers).toEqual({ checks: ["lint"] });
  });

  it("toggle keeps the offered order and never repeats", () => {
    const options = ["a", "b", "c"];
    expect(toggle(options, [], "c", true)).toEqual(["c"]);
    expect(toggle(options, ["c"], "a", true)).toEqual(["a", "c"]);
    expect(toggle(options, ["a", "c"], "a", true)).toEqual(["a", "c"]);
    expect(toggle(options, ["a", "c"], "a", false)).toEqual(["c"]);
  });

  it("with no options to tick, typed text is a comma-separated list of choices", () => {
    const free = multi("tags", [], { free_text: true });
    expect(formAnswer([free], { tags: " a, b ,, a " }).answers).toEqual({ tags: ["a", "b"] });
    expect(formAnswer([free], { tags: " , " }).complete).toBe(false);
  });

  it("choices ignore ticks that are not options", () => {
    expect(choices(checks, ["lint", "nope"])).toEqual(["lint"]);
  });

  it("describe a list with a comma-holding choice quoted", () => {
    expect(describeAnswer("blue")).toBe("blue");
    expect(describeAnswer(["lint", "Yes, with tests"])).toBe("lint, “Yes, with tests”");
  });
});
