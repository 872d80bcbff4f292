// Reading ACP tool-call `content` and `locations` (carried as JSON in berth events) into
// shapes the views can show: text, diffs as unified hunks, terminals.

import { structuredPatch } from "diff";
import type { JsonValue } from "../protocol";

export type ToolPart =
  | { type: "text"; text: string }
  | { type: "diff"; path: string; oldText: string | null; newText: string }
  | { type: "terminal"; terminalId: string }
  | { type: "other"; json: string };

export interface Location {
  path: string;
  line?: number;
}

type Obj = { [key: string]: JsonValue };

function isObj(v: JsonValue | undefined): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function str(v: JsonValue | undefined): string | null {
  return typeof v === "string" ? v : null;
}

/** The parts of a tool call's `content` (an ACP `ToolCallContent[]`). */
export function toolParts(content: JsonValue | undefined): ToolPart[] {
  if (content === undefined || content === null) return [];
  const list = Array.isArray(content) ? content : [content];
  const parts: ToolPart[] = [];
  for (const entry of list) {
    if (!isObj(entry)) {
      parts.push({ type: "other", json: JSON.stringify(entry) });
      continue;
    }
    const type = str(entry.type);
    if (type === "diff") {
      parts.push({
        type: "diff",
        path: str(entry.path) ?? "",
        oldText: str(entry.oldText) ?? str(entry.old_text),
        newText: str(entry.newText) ?? str(entry.new_text) ?? "",
      });
    } else if (type === "terminal") {
      parts.push({ type: "terminal", terminalId: str(entry.terminalId) ?? str(entry.terminal_id) ?? "" });
    } else if (type === "content" && isObj(entry.content)) {
      const block = entry.content;
      const text = str(block.text);
      if (text !== null) parts.push({ type: "text", text });
      else parts.push({ type: "other", json: `[${str(block.type) ?? "content"}]` });
    } else if (str(entry.text) !== null) {
      parts.push({ type: "text", text: str(entry.text)! });
    } else {
      parts.push({ type: "other", json: JSON.stringify(entry, null, 2) });
    }
  }
  return parts;
}

/** A tool call's `locations` (`[{"path", "line"?}]`). */
export function toolLocations(locations: JsonValue | undefined): Location[] {
  if (!Array.isArray(locations)) return [];
  const out: Location[] = [];
  for (const l of locations) {
    if (!isObj(l)) continue;
    const path = str(l.path);
    if (!path) continue;
    const line = typeof l.line === "number" ? l.line : undefined;
    out.push(line === undefined ? { path } : { path, line });
  }
  return out;
}

export interface DiffLine {
  kind: "add" | "del" | "ctx";
  text: string;
  oldNo: number | null;
  newNo: number | null;
}

export interface DiffHunk {
  header: string;
  lines: DiffLine[];
}

/** Unified hunks (3 lines of context) from old to new text; a new file is all additions. */
export function diffHunks(oldText: string | null, newText: string): DiffHunk[] {
  const patch = structuredPatch("a", "b", oldText ?? "", newText, "", "", { context: 3 });
  return patch.hunks.map((h) => {
    let oldNo = h.oldStart;
    let newNo = h.newStart;
    const lines: DiffLine[] = [];
    for (const raw of h.lines) {
      const mark = raw[0];
      const text = raw.slice(1);
      if (mark === "+") lines.push({ kind: "add", text, oldNo: null, newNo: newNo++ });
      else if (mark === "-") lines.push({ kind: "del", text, oldNo: oldNo++, newNo: null });
      else if (mark === " ") lines.push({ kind: "ctx", text, oldNo: oldNo++, newNo: newNo++ });
      // "\ No newline at end of file" markers are dropped
    }
    return { header: `@@ -${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@`, lines };
  });
}
