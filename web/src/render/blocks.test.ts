import { describe, expect, it } from "vitest";
import { SOFT_LINES, splitBlocks, type Blocks } from "./blocks";

const join = (b: Blocks) => b.blocks.map((x) => x.text).join("");

describe("splitBlocks", () => {
  it("covers the text exactly, in order", () => {
    const text = "# Title\n\nPara one\nstill one\n\n- a\n- b\n\nend";
    const b = splitBlocks(text);
    expect(join(b)).toBe(text);
    expect(b.blocks.map((x) => x.text)).toEqual(["# Title\n\n", "Para one\nstill one\n\n", "- a\n- b\n\nend"]);
    // The unfinished last line stays with its block until its newline arrives.
  });

  it("never splits inside a code fence", () => {
    const text = "```js\na\n\nb\n```\n\nafter\n";
    const b = splitBlocks(text);
    expect(b.blocks[0]!.text).toBe("```js\na\n\nb\n```\n\n");
    expect(join(b)).toBe(text);
  });

  it("does not split before an indented continuation", () => {
    const text = "- item\n\n    more of the item\n\nnext\n";
    expect(splitBlocks(text).blocks.map((x) => x.text)).toEqual(["- item\n\n    more of the item\n\n", "next\n"]);
  });

  it("splits long runs of plain lines softly", () => {
    const lines = Array.from({ length: 100 }, (_, i) => `chunk ${i + 1}\n`).join("");
    const b = splitBlocks(lines);
    expect(b.blocks.length).toBe(3);
    expect(b.blocks[1]!.cont).toBe(true);
    expect(b.blocks[0]!.text.split("\n").length - 1).toBe(SOFT_LINES);
    expect(join(b)).toBe(lines);
  });

  it("incremental splitting equals splitting at once, and keeps finished blocks", () => {
    const full =
      "Intro line\n\n```rust\nfn main() {}\n\n```\n\n" +
      Array.from({ length: 130 }, (_, i) => `chunk ${i}\n`).join("") +
      "\n| a | b |\n|---|---|\n| 1 | 2 |\n\ntail";
    let prev: Blocks | undefined;
    const kept: unknown[] = [];
    for (let n = 1; n <= full.length; n += 7) {
      const next = splitBlocks(full.slice(0, n), prev);
      expect(next).toEqual(splitBlocks(full.slice(0, n)));
      if (prev && prev.blocks.length > 1) kept.push(next.blocks[0] === prev.blocks[0]);
      prev = next;
    }
    const last = splitBlocks(full, prev);
    expect(last).toEqual(splitBlocks(full));
    expect(join(last)).toBe(full);
    expect(kept.every(Boolean)).toBe(true);
  });
});
