import { describe, expect, it } from "vitest";
import { FOLD, countLines, diffChunk, diffModel, diffModelOf, foldDiff, foldMarkdown, foldText, hiddenNote, number, showAllLabel, singleFence } from "./fold";
import { diffHunks, type DiffHunk } from "./toolContent";

const en = number;
const lines = (n: number, make = (i: number) => `line ${i}`) => Array.from({ length: n }, (_, i) => make(i + 1));
const text = (n: number) => `${lines(n).join("\n")}\n`;

/** A hunk of `n` lines (context), with its header. */
const hunk = (n: number): DiffHunk => ({ header: "@@", lines: lines(n).map((t) => ({ kind: "ctx" as const, text: t, oldNo: 1, newNo: 1 })) });

/** The rows a folded diff renders (headers included), as the view does: every chunk up to `shownRows`. */
function shownRows(model: ReturnType<typeof diffModelOf>, f: ReturnType<typeof foldDiff>): number {
  let rows = 0;
  for (let h = 0; h < f.wholeHunks; h++) rows += 1 + model.hunks[h]!.lines.length;
  rows += f.partLines > 0 ? 1 + f.partLines : 0;
  expect(f.shownRows).toBe(rows);
  let rendered = 0;
  for (let i = 0; i * 100 < f.shownRows; i++) {
    for (const p of diffChunk(model, i, f.shownRows)) rendered += (p.header ? 1 : 0) + p.to - p.from;
  }
  expect(rendered).toBe(rows);
  return rows;
}

describe("number", () => {
  it("groups thousands", () => {
    expect([0, 7, 999, 1000, 2686, 12_345_678].map(number)).toEqual(["0", "7", "999", "1,000", "2,686", "12,345,678"]);
  });
});

describe("countLines", () => {
  it("counts lines, a final newline ending the last one", () => {
    expect(countLines("")).toBe(0);
    expect(countLines("a")).toBe(1);
    expect(countLines("a\n")).toBe(1);
    expect(countLines("a\nb")).toBe(2);
    expect(countLines("a\n\n")).toBe(2);
    expect(countLines("\n")).toBe(1);
    expect(countLines(text(2000))).toBe(2000);
  });
});

describe("foldText", () => {
  it("leaves 200 lines whole and folds 201 to the first 120", () => {
    const whole = foldText(text(200));
    expect(whole).toMatchObject({ folded: false, totalLines: 200, hiddenLines: 0 });
    expect(whole.head).toBe(text(200));
    const f = foldText(text(201));
    expect(f).toMatchObject({ folded: true, totalLines: 201, hiddenLines: 81, byChars: false });
    expect(f.head).toBe(lines(120).join("\n"));
    expect(f.hiddenChars).toBe(text(201).length - text(120).length);
  });

  it("folds past 20 000 characters, keeping whole lines within 12 000", () => {
    const at = "x".repeat(199) + "\n"; // 200 chars a line
    expect(foldText(at.repeat(100)).folded).toBe(false); // exactly 20 000
    const long = "x".repeat(250) + "\n"; // 251 chars a line, 100 lines
    const f = foldText(long.repeat(100));
    // 47 lines end at or before character 12 000 (47 × 251 = 11 797).
    expect(f).toMatchObject({ folded: true, totalLines: 100, hiddenLines: 53, hiddenChars: 25_100 - 11_797, byChars: true });
    expect(countLines(f.head)).toBe(47);
    expect(hiddenNote(f, en)).toBe("53 more lines (13,303 more characters)");
  });

  it("cuts one huge line inside, never between a surrogate pair", () => {
    const f = foldText("y".repeat(50_000));
    expect(f).toMatchObject({ folded: true, totalLines: 1, hiddenLines: 1, hiddenChars: 38_000, byChars: true });
    expect(f.head.length).toBe(FOLD.headChars);
    expect(showAllLabel(f, en)).toBe("Show the whole line");
    expect(hiddenNote(f, en)).toBe("1 more line (38,000 more characters)");
    const emoji = foldText("a" + "😀".repeat(15_000)); // the pair straddles 12 000
    expect(emoji.head.length).toBe(FOLD.headChars - 1);
    expect(emoji.head.endsWith("😀")).toBe(true);
  });
});

describe("foldMarkdown", () => {
  const output = (n: number, close = true) => "```console\n" + lines(n).join("\n") + (close ? "\n```" : "\n");

  it("counts and folds the lines inside a fenced output, fenced again", () => {
    const f = foldMarkdown(output(2000));
    expect(f).toMatchObject({ folded: true, totalLines: 2000, hiddenLines: 1880 });
    expect(f.head).toBe("```console\n" + lines(120).join("\n") + "\n```");
    expect(showAllLabel(f, en)).toBe("Show all 2,000 lines");
    expect(hiddenNote(f, en)).toBe("1,880 more lines");
    // While it streams the fence is still open: the same counts.
    expect(foldMarkdown(output(2000, false))).toMatchObject({ totalLines: 2000, hiddenLines: 1880 });
    // 200 lines in a fence do not fold (the fence lines are not output).
    expect(foldMarkdown(output(200))).toMatchObject({ folded: false, totalLines: 200, head: output(200) });
  });

  it("tells one fenced block from markdown holding several", () => {
    expect(singleFence("```\na\n```\n")).toEqual({ open: "```", fence: "```", body: "a" });
    expect(singleFence("~~~~ sh\na\n~~~\n~~~~")).toEqual({ open: "~~~~ sh", fence: "~~~~", body: "a\n~~~" });
    expect(singleFence("```\na\n```\nafter")).toBeNull();
    expect(singleFence("```\na\n```\n```\nb\n```")).toBeNull();
    expect(singleFence("text\n```\na\n```")).toBeNull();
  });

  it("folds other markdown by source lines and closes a fence open at the cut", () => {
    const md = "Ran the tests:\n\n```\n" + lines(300).join("\n") + "\n```\nAll passed.\n";
    const f = foldMarkdown(md);
    expect(f).toMatchObject({ folded: true, totalLines: 305, hiddenLines: 185 });
    expect(f.head).toBe("Ran the tests:\n\n```\n" + lines(117).join("\n") + "\n```");
    const prose = foldMarkdown(text(250));
    expect(prose.head).toBe(lines(120).join("\n"));
  });
});

describe("foldDiff", () => {
  it("leaves 200 rows whole and folds 201 rows", () => {
    const whole = diffModel(null, text(199)); // one header + 199 lines
    expect(whole).toMatchObject({ rows: 200, lines: 199, adds: 199, dels: 0, numberWidth: 3 });
    // The widest number may be an old one, before a run of additions.
    expect(diffModel(text(1000), "line 1\nx\ny\n").numberWidth).toBe(4);
    expect(foldDiff(whole)).toMatchObject({ folded: false, hiddenLines: 0, wholeHunks: 1, partLines: 0 });
    const m = diffModel(null, text(200));
    const f = foldDiff(m);
    // One hunk, no hunk end near: cut inside it at 120 rows (the header and 119 lines).
    expect(f).toMatchObject({ folded: true, totalLines: 200, hiddenLines: 81, wholeHunks: 0, partLines: 119 });
    expect(shownRows(m, f)).toBe(120);
    expect(showAllLabel(f, en)).toBe("Show all 200 lines");
    expect(hiddenNote(f, en)).toBe("81 more lines");
  });

  it("cuts at the hunk end nearest 120 rows", () => {
    // Every 20th line changed: hunks of 8 lines (3 context, −, +, 3 context), 9 rows each.
    const old = text(1000);
    const neu = `${lines(1000, (i) => (i % 20 === 7 ? `LINE ${i}` : `line ${i}`)).join("\n")}\n`;
    const m = diffModel(old, neu);
    expect(m.hunks.length).toBe(50);
    expect(m).toMatchObject({ lines: 400, rows: 450, adds: 50, dels: 50, numberWidth: 3 });
    const f = foldDiff(m);
    // Ends at 117 and 126 rows: 117 is nearer to 120.
    expect(f).toMatchObject({ folded: true, totalLines: 400, wholeHunks: 13, partLines: 0, hiddenLines: 400 - 13 * 8 });
    expect(shownRows(m, f)).toBe(117);
    expect(hiddenNote(f, en)).toBe("296 more lines");
  });

  it("prefers the later hunk end on a tie, and cuts inside a hunk when no end is near", () => {
    // Ends at 100 and 140 rows.
    const tie = diffModelOf([hunk(99), hunk(39), hunk(200)]);
    expect(foldDiff(tie)).toMatchObject({ wholeHunks: 2, partLines: 0, hiddenLines: 200 });
    // Ends at 70 and 371: cut in the second hunk at 120 rows (its header and 49 lines).
    const far = diffModelOf([hunk(69), hunk(300), hunk(10)]);
    const f = foldDiff(far);
    expect(f).toMatchObject({ wholeHunks: 1, partLines: 49, hiddenLines: 379 - 69 - 49 });
    expect(shownRows(far, f)).toBe(120);
    // A cut that would leave only a header shows none of that hunk.
    // (Row 120 is the second hunk's header; the end at 119 is out of a zero slack.)
    const header = foldDiff(diffModelOf([hunk(118), hunk(300)]), { ...FOLD, hunkSlack: 0 });
    expect(header).toMatchObject({ wholeHunks: 1, partLines: 0, hiddenLines: 300 });
  });

  it("folds long lines by their characters", () => {
    const m = diffModel(null, `${lines(30, () => "z".repeat(1000)).join("\n")}\n`);
    expect(m).toMatchObject({ rows: 31, chars: 30_000 });
    const f = foldDiff(m);
    // 12 lines of 1 000 characters fit in 12 000.
    expect(f).toMatchObject({ folded: true, byChars: true, wholeHunks: 0, partLines: 12, hiddenLines: 18, hiddenChars: 18_000 });
    expect(hiddenNote(f, en)).toBe("18 more lines (18,000 more characters)");
  });

  it("splits the rows into chunks, the folded ones a prefix of the expanded ones", () => {
    const m = diffModelOf([hunk(150), hunk(20), hunk(300)]); // headers at rows 0, 151, 172
    expect(m.hunkRows).toEqual([0, 151, 172]);
    expect(diffChunk(m, 0, m.rows)).toEqual([{ hunk: 0, header: true, from: 0, to: 99 }]);
    expect(diffChunk(m, 1, m.rows)).toEqual([
      { hunk: 0, header: false, from: 99, to: 150 },
      { hunk: 1, header: true, from: 0, to: 20 },
      { hunk: 2, header: true, from: 0, to: 27 },
    ]);
    expect(diffChunk(m, 4, m.rows)).toEqual([{ hunk: 2, header: false, from: 227, to: 300 }]);
    expect(diffChunk(m, 5, m.rows)).toEqual([]);
    // Folded at the end of the first hunk (row 151, near enough to 120): the second chunk
    // stops there; at 120 rows, inside the hunk.
    const f = foldDiff(m);
    expect(f).toMatchObject({ wholeHunks: 1, partLines: 0, shownRows: 151 });
    expect(diffChunk(m, 1, f.shownRows)).toEqual([{ hunk: 0, header: false, from: 99, to: 150 }]);
    expect(diffChunk(m, 1, 120)).toEqual([{ hunk: 0, header: false, from: 99, to: 119 }]);
    let rows = 0;
    for (let i = 0; i * 100 < m.rows; i++) for (const p of diffChunk(m, i, m.rows)) rows += (p.header ? 1 : 0) + p.to - p.from;
    expect(rows).toBe(m.rows);
  });

  it("diffs each content once", () => {
    const a = text(500);
    const b = text(500).replace("line 250\n", "line 250!\n");
    const first = diffModel(a, b);
    // Equal strings built anew (as a restated tool call would carry them) hit the cache.
    expect(diffModel(a.slice(0), `${b.slice(0, 10)}${b.slice(10)}`)).toBe(first);
    expect(diffModel(null, b)).not.toBe(first);
    expect(first.hunks).toEqual(diffHunks(a, b));
  });
});
