import { describe, expect, it } from "vitest";
import type { Question } from "../protocol";
import { formAnswer } from "./answers";

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
