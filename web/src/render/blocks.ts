// Splitting a streamed markdown message into blocks that stop changing: only the last block
// grows while chunks arrive, so only it is rendered again. A 10k-line message becomes a few
// hundred small blocks, each rendered once.
//
// Boundaries are placed only outside code fences, between complete lines:
// - after a blank line, before a line that does not continue the block (not indented);
// - inside a long run of plain paragraph lines (a "soft" boundary, `cont`: the next block
//   continues the paragraph; rendering with `breaks: true`, this only loses nothing).

export interface Block {
  /** Offset of the block in the text (its stable key). */
  start: number;
  text: string;
  /** A soft boundary precedes it: it continues the previous block's paragraph. */
  cont: boolean;
}

export interface Blocks {
  text: string;
  blocks: Block[];
}

/** Lines in a block before a soft boundary may be placed. */
export const SOFT_LINES = 40;

const FENCE = /^ {0,3}(`{3,}|~{3,})/;
const NOT_PLAIN = /^(\s|[-*+]\s|\d{1,9}[.)](\s|$)|>|#|=|-|_|\||\[|`|~)/;

function isBlank(line: string): boolean {
  return line.trim() === "";
}

/** A line that can only be a paragraph line, and a paragraph line only. */
function isPlain(line: string): boolean {
  return !isBlank(line) && !NOT_PLAIN.test(line) && !line.includes("|");
}

/**
 * Split `text` into blocks, reusing `prev` (the split of a prefix of `text`): every block
 * of `prev` but its last is kept as is, and scanning starts at that last block.
 */
export function splitBlocks(text: string, prev?: Blocks): Blocks {
  let blocks: Block[] = [];
  let from = 0;
  if (prev && prev.blocks.length > 0 && text.length >= prev.text.length && text.startsWith(prev.text)) {
    blocks = prev.blocks.slice(0, -1);
    from = prev.blocks[prev.blocks.length - 1]!.start;
  }
  let blockStart = from;
  let blockCont = blocks.length > 0 && prev ? prev.blocks[prev.blocks.length - 1]!.cont : false;
  let linesInBlock = 0;
  let fence: { ch: string; len: number } | null = null;

  let pos = from;
  let line: string | null = nextLine(text, pos);
  while (line !== null) {
    const end = pos + line.length + 1; // past the '\n'
    linesInBlock += 1;
    if (fence) {
      const m = FENCE.exec(line);
      if (m && m[1]![0] === fence.ch && m[1]!.length >= fence.len && line.trim() === m[1]) fence = null;
    } else {
      const m = FENCE.exec(line);
      if (m) fence = { ch: m[1]![0]!, len: m[1]!.length };
    }
    const next = nextLine(text, end);
    if (!fence && next !== null) {
      let boundary: "hard" | "soft" | null = null;
      if (isBlank(line) && !isBlank(next) && !/^\s/.test(next)) boundary = "hard";
      else if (linesInBlock >= SOFT_LINES && isPlain(line) && isPlain(next)) boundary = "soft";
      if (boundary) {
        blocks.push({ start: blockStart, text: text.slice(blockStart, end), cont: blockCont });
        blockStart = end;
        blockCont = boundary === "soft";
        linesInBlock = 0;
      }
    }
    pos = end;
    line = next;
  }
  if (blockStart < text.length || blocks.length === 0) {
    blocks.push({ start: blockStart, text: text.slice(blockStart), cont: blockCont });
  }
  return { text, blocks };
}

/** The complete line (without its '\n') starting at `pos`, or null if none is complete. */
function nextLine(text: string, pos: number): string | null {
  const nl = text.indexOf("\n", pos);
  return nl < 0 ? null : text.slice(pos, nl);
}
