import { describe, expect, it } from "vitest";
import type { AgentConfig } from "../protocol";
import { currentChoices } from "./ConfigPicker";

const offer: AgentConfig = {
  modes: [
    { id: "ask", name: "Ask" },
    { id: "code", name: "Code" },
  ],
  options: [
    { id: "model", name: "Model", kind: "select", value: "fast", values: [{ id: "fast", name: "Fast" }, { id: "smart", name: "Smart" }], category: "model" },
    { id: "think", name: "Think", kind: "boolean", value: false },
  ],
};

describe("currentChoices", () => {
  it("is the agent's current values, with waiting changes over them", () => {
    expect(currentChoices(offer, "code")).toEqual({ mode: "code", options: { model: "fast", think: false } });
    expect(
      currentChoices(offer, "code", [
        { mode: "ask" },
        { option: "think", value: true },
      ]),
    ).toEqual({ mode: "ask", options: { model: "fast", think: true } });
  });
});
