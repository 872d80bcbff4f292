// Folding long tool output: a diff or a text past FOLD_LINES lines (or FOLD_CHARS
// characters) shows its first HEAD_LINES lines (at most HEAD_CHARS characters) and the
// exact count of what is hidden. Pure functions: the views render only `head` (or the
// shown hunks) while folded, so the hidden part costs no DOM, markdown or highlighting.

import { diffHunks, type DiffHunk } from "./toolContent";

export interface FoldLimits {
  /** Content with more lines than this folds. */
  foldLines: number;
  /** Content with more characters than this folds (long lines, minified files). */
  foldChars: number;
  /** Lines shown while folded. */
  headLines: number;
  /** Characters shown at most while folded. */
  headChars: number;
  /** A diff's cut moves to the nearest hunk end within this many rows of `headLines`. */
  hunkSlack: number;
}

export const FOLD: FoldLimits = {
  foldLines: 200,
  foldChars: 20_000,
  headLines: 120,
  headChars: 12_000,
  hunkSlack: 40,
};

export interface Fold {
  /** Long enough to fold (otherwise shown whole, with no control). */
  folded: boolean;
  /** Lines in all (a diff: its +/−/context lines, not the hunk headers). */
  totalLines: number;
  /** Lines not (or not completely) shown while folded. */
  hiddenLines: number;
  /** Characters not shown while folded. */
  hiddenChars: number;
  /** The character budget, not the line count, decided the cut (long lines). */
  byChars: boolean;
}

/** Lines in a text: a final newline ends the last line, it does not start another. */
export function countLines(text: string): number {
  if (text === "") return 0;
  let n = 1;
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) n += 1;
  return text.endsWith("\n") ? n - 1 : n;
}

/** Offset just past the `n`th newline, or -1 when the text has fewer. */
function afterLine(text: string, n: number): number {
  let at = -1;
  for (let i = 0; i < n; i++) {
    at = text.indexOf("\n", at + 1);
    if (at < 0) return -1;
  }
  return at + 1;
}

/** Cut at `at` without splitting a surrogate pair. */
function safeCut(text: string, at: number): number {
  const code = text.charCodeAt(at - 1);
  return code >= 0xd800 && code <= 0xdbff ? at - 1 : at;
}

export interface TextFold extends Fold {
  /** What to render while folded (the whole text when it does not fold). */
  head: string;
}

/** Fold plain text (a `<pre>`) by lines, then by characters. */
export function foldText(text: string, limits: FoldLimits = FOLD): TextFold {
  const totalLines = countLines(text);
  if (totalLines <= limits.foldLines && text.length <= limits.foldChars) {
    return { folded: false, totalLines, hiddenLines: 0, hiddenChars: 0, byChars: false, head: text };
  }
  // The first headLines lines (the hidden part starts after their newline)…
  let cut = afterLine(text, limits.headLines);
  if (cut < 0) cut = text.length;
  let byChars = false;
  if (cut > limits.headChars) {
    // …or fewer, whole lines within the character budget; a first line longer than the
    // budget is cut inside.
    byChars = true;
    const nl = text.lastIndexOf("\n", limits.headChars - 1);
    cut = nl >= 0 ? nl + 1 : safeCut(text, limits.headChars);
  }
  const head = text.slice(0, cut);
  const shownLines = countLines(head) - (head.endsWith("\n") || head === "" ? 0 : 1);
  return {
    folded: true,
    totalLines,
    hiddenLines: totalLines - shownLines,
    hiddenChars: text.length - cut,
    byChars,
    head: head.endsWith("\n") ? head.slice(0, -1) : head,
  };
}

const FENCE = /^ {0,3}(`{3,}|~{3,})([^`]*)$/;

/** Whether `line` closes a fence opened with `fence` (same character, at least as long). */
function closes(line: string, fence: string): boolean {
  // Most lines do not start with the fence's character: no trimming, no regex for them.
  let i = 0;
  while (line.charCodeAt(i) === 32) i += 1;
  if (line[i] !== fence[0]) return false;
  const t = line.trim();
  return t.length >= fence.length && (fence[0] === "`" ? /^`+$/ : /^~+$/).test(t);
}

/**
 * Fold agent markdown. A text that is one fenced block (how agents send a command's
 * output, possibly still unclosed while it streams) counts and folds the lines inside the
 * fence; the shown part is fenced again. Other markdown folds by source lines, with an
 * open fence at the cut closed so the shown part renders as it will when expanded.
 */
export function foldMarkdown(text: string, limits: FoldLimits = FOLD): TextFold {
  const block = singleFence(text);
  if (block) {
    const inner = foldText(block.body, limits);
    if (!inner.folded) return { ...inner, head: text };
    return { ...inner, head: `${block.open}\n${inner.head}\n${block.fence}` };
  }
  const f = foldText(text, limits);
  if (!f.folded) return f;
  let fence: string | null = null;
  for (const line of f.head.split("\n")) {
    if (fence) {
      if (closes(line, fence)) fence = null;
    } else {
      const m = FENCE.exec(line);
      if (m) fence = m[1]!;
    }
  }
  return fence ? { ...f, head: `${f.head}\n${fence}` } : f;
}

/** The parts of a text that is exactly one fenced block (closed or not), else null. */
export function singleFence(text: string): { open: string; fence: string; body: string } | null {
  const firstNl = text.indexOf("\n");
  if (firstNl < 0) return null;
  const open = text.slice(0, firstNl);
  const m = FENCE.exec(open);
  if (!m) return null;
  const fence = m[1]!;
  const rest = text.slice(firstNl + 1);
  // The closing fence is the last non-blank line; no line before it may close the fence.
  const trimmed = rest.trimEnd();
  const lastNl = trimmed.lastIndexOf("\n");
  const lastLine = trimmed.slice(lastNl + 1);
  const closed = closes(lastLine, fence);
  const body = closed ? (lastNl >= 0 ? trimmed.slice(0, lastNl) : "") : rest;
  for (let at = 0; at <= body.length; ) {
    const nl = body.indexOf("\n", at);
    const end = nl < 0 ? body.length : nl;
    if (closes(body.slice(at, end), fence)) return null;
    at = end + 1;
  }
  return { open, fence, body };
}

// ---- diffs ----

export interface DiffModel {
  hunks: DiffHunk[];
  adds: number;
  dels: number;
  /** Diff lines (+, −, context) in all hunks. */
  lines: number;
  /** Rendered rows: the lines and one header per hunk. */
  rows: number;
  /** Characters of the lines' text. */
  chars: number;
  /** Digits of the largest line number. */
  numberWidth: number;
  /** Each hunk's header row, counted from 0. */
  hunkRows: number[];
}

export function diffModelOf(hunks: DiffHunk[]): DiffModel {
  let adds = 0;
  let dels = 0;
  let lines = 0;
  let chars = 0;
  let maxNo = 0;
  const hunkRows: number[] = [];
  for (const h of hunks) {
    hunkRows.push(lines + hunkRows.length);
    lines += h.lines.length;
    for (const l of h.lines) {
      if (l.kind === "add") adds += 1;
      else if (l.kind === "del") dels += 1;
      chars += l.text.length;
      maxNo = Math.max(maxNo, l.oldNo ?? 0, l.newNo ?? 0);
    }
  }
  return { hunks, adds, dels, lines, rows: lines + hunks.length, chars, numberWidth: String(maxNo).length, hunkRows };
}

const diffCache = new Map<string, { oldText: string | null; model: DiffModel }>();
const DIFF_CACHE_MAX = 32;

/**
 * The diff of two texts with its counts, memoised per content: a tool call re-rendered
 * (a status update, a remount when the pane comes back) does not diff again.
 */
export function diffModel(oldText: string | null, newText: string): DiffModel {
  const hit = diffCache.get(newText);
  if (hit && hit.oldText === oldText) {
    // Most recently used last.
    diffCache.delete(newText);
    diffCache.set(newText, hit);
    return hit.model;
  }
  const model = diffModelOf(diffHunks(oldText, newText));
  diffCache.delete(newText);
  if (diffCache.size >= DIFF_CACHE_MAX) {
    const first = diffCache.keys().next().value;
    if (first !== undefined) diffCache.delete(first);
  }
  diffCache.set(newText, { oldText, model });
  return model;
}

export interface DiffFold extends Fold {
  /** Hunks shown whole while folded. */
  wholeHunks: number;
  /** Lines shown of the hunk after them (0: none of it, not even its header). */
  partLines: number;
  /** Rows shown while folded (headers included): the first `shownRows` of the diff. */
  shownRows: number;
}

/**
 * Fold a diff: the first `headLines` rows (hunk headers count as rows), moved to the end
 * of a hunk when one ends within `hunkSlack` rows, so whole hunks show where it is cheap.
 */
export function foldDiff(model: DiffModel, limits: FoldLimits = FOLD): DiffFold {
  const whole = { wholeHunks: model.hunks.length, partLines: 0, shownRows: model.rows };
  if (model.rows <= limits.foldLines && model.chars <= limits.foldChars) {
    return { folded: false, totalLines: model.lines, hiddenLines: 0, hiddenChars: 0, byChars: false, ...whole };
  }
  // The row budget: headLines rows, fewer if their text passes headChars.
  let budget = 0;
  let chars = 0;
  let byChars = false;
  // Hunk ends (rows shown when cut there) within the budget's reach, with their chars.
  const ends: { rows: number; hunks: number; chars: number }[] = [];
  const reach = limits.headLines + limits.hunkSlack;
  let rows = 0;
  walk: for (let h = 0; h < model.hunks.length; h++) {
    rows += 1; // header
    if (rows <= limits.headLines) budget = rows;
    for (const line of model.hunks[h]!.lines) {
      rows += 1;
      chars += line.text.length;
      if (chars > limits.headChars) {
        // Within the line budget: the characters decided.
        if (rows <= limits.headLines) byChars = true;
        break walk;
      }
      if (rows <= limits.headLines) budget = rows;
      if (rows > reach) break walk;
    }
    ends.push({ rows, hunks: h + 1, chars });
  }
  // The hunk end nearest the budget (the later one on a tie), if near enough.
  let best: { rows: number; hunks: number } | null = null;
  for (const e of ends) {
    if (e.rows >= model.rows || Math.abs(e.rows - budget) > limits.hunkSlack) continue;
    if (!best || Math.abs(e.rows - budget) <= Math.abs(best.rows - budget)) best = e;
  }
  let cut: { wholeHunks: number; partLines: number };
  if (best) {
    cut = { wholeHunks: best.hunks, partLines: 0 };
  } else {
    // Inside a hunk: whole hunks, then the rest of the budget from the next one.
    let left = budget;
    let h = 0;
    while (h < model.hunks.length && left >= 1 + model.hunks[h]!.lines.length) {
      left -= 1 + model.hunks[h]!.lines.length;
      h += 1;
    }
    cut = { wholeHunks: h, partLines: Math.max(0, left - 1) };
  }
  let shownLines = 0;
  let shownChars = 0;
  for (let h = 0; h < cut.wholeHunks; h++) {
    for (const l of model.hunks[h]!.lines) shownChars += l.text.length;
    shownLines += model.hunks[h]!.lines.length;
  }
  for (const l of model.hunks[cut.wholeHunks]?.lines.slice(0, cut.partLines) ?? []) shownChars += l.text.length;
  shownLines += cut.partLines;
  return {
    folded: true,
    totalLines: model.lines,
    hiddenLines: model.lines - shownLines,
    hiddenChars: model.chars - shownChars,
    byChars,
    ...cut,
    shownRows: (model.hunkRows[cut.wholeHunks] ?? model.rows) + (cut.partLines > 0 ? 1 + cut.partLines : 0),
  };
}

/** Rows per table of a rendered diff: each is laid out only when near the screen. */
export const DIFF_CHUNK_ROWS = 100;

export interface DiffPiece {
  hunk: number;
  /** Its header row is in this piece. */
  header: boolean;
  /** Lines `from` to `to` (excluded) of the hunk. */
  from: number;
  to: number;
}

/**
 * The rows of chunk `index` (rows index·size to (index+1)·size, none past `upto`), as
 * pieces of hunks. Where chunks start depends only on the row, so a folded diff's chunks
 * are the expanded one's first chunks (the last one shorter).
 */
export function diffChunk(model: DiffModel, index: number, upto: number, size = DIFF_CHUNK_ROWS): DiffPiece[] {
  const a = index * size;
  const b = Math.min(upto, a + size);
  const pieces: DiffPiece[] = [];
  for (let h = 0; h < model.hunks.length; h++) {
    const r = model.hunkRows[h]!;
    const end = r + 1 + model.hunks[h]!.lines.length;
    if (end <= a) continue;
    if (r >= b) break;
    pieces.push({ hunk: h, header: r >= a, from: Math.max(0, a - r - 1), to: Math.min(model.hunks[h]!.lines.length, b - r - 1) });
  }
  return pieces;
}

// ---- words ----

/** "3,016", as the rest of the (English) UI's words. Not Intl: its first use costs ~25 ms. */
export const number = (n: number) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");

/** The control's label while folded: "Show all 3,016 lines". */
export function showAllLabel(fold: Fold, fmt: (n: number) => string = number): string {
  return fold.totalLines === 1 ? "Show the whole line" : `Show all ${fmt(fold.totalLines)} lines`;
}

/** What is hidden: "2,896 more lines", with the characters when long lines decided the cut. */
export function hiddenNote(fold: Fold, fmt: (n: number) => string = number): string {
  const lines = `${fmt(fold.hiddenLines)} more ${fold.hiddenLines === 1 ? "line" : "lines"}`;
  return fold.byChars ? `${lines} (${fmt(fold.hiddenChars)} more characters)` : lines;
}
