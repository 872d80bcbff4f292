import { memo, useMemo, useState, type CSSProperties } from "react";
import type { Item, ItemOf } from "../state/transcript";
import { toolLocations, toolParts, type DiffHunk, type ToolPart } from "../render/toolContent";
import { DIFF_CHUNK_ROWS, diffChunk, diffModel, foldDiff, foldMarkdown, foldText, type DiffModel } from "../render/fold";
import { Foldable } from "./Fold";
import { Markdown } from "./Markdown";
import { PromptCard } from "./PromptCard";
import { AttachmentList } from "./Attachments";

/** One transcript item. Memoised by identity: the store replaces an item when it changes. */
export const ItemView = memo(function ItemView({ item, session, cwd }: { item: Item; session: string; cwd?: string }) {
  switch (item.type) {
    case "created":
      return (
        <div className="item created" data-testid="item-created">
          Session started with <b>{item.agent}</b> in <code>{item.cwd}</code>
        </div>
      );
    case "user":
      return (
        <div className="item user" data-testid="item-user" data-seq={item.seq}>
          <div className="bubble">
            {item.text}
            <AttachmentList session={session} attachments={item.attachments} />
          </div>
        </div>
      );
    case "agent":
      return (
        <div className="item agent" data-testid="item-agent" data-seq={item.seq} data-last-seq={item.lastSeq}>
          <Markdown text={item.text} />
        </div>
      );
    case "thought":
      return <Thought item={item} />;
    case "tool":
      return <ToolCall item={item} session={session} cwd={cwd} />;
    case "plan":
      return <Plan item={item} />;
    case "prompt":
      return (
        <div className="item prompt">
          <PromptCard session={session} event={item.event} outcome={item.outcome} />
        </div>
      );
    case "turn_end":
      return (
        <div className={`item turn-end ${item.stopReason}`} data-testid="item-turn-end" role={item.stopReason === "error" ? "alert" : undefined}>
          {turnEndText(item)}
        </div>
      );
    case "notice":
      return (
        <div className={`item notice ${item.level}`} data-testid={`item-notice-${item.level}`}>
          {item.text}
        </div>
      );
  }
});

function turnEndText(item: ItemOf<"turn_end">): string {
  const why: Record<string, string> = {
    end_turn: "Turn ended",
    cancelled: "Turn cancelled",
    error: "Turn failed",
    max_tokens: "Turn stopped: the agent hit its token limit",
    refusal: "The agent refused to continue",
  };
  const head = why[item.stopReason] ?? `Turn ended (${item.stopReason})`;
  return item.error ? `${head}: ${item.error}` : `${head}.`;
}

function Thought({ item }: { item: ItemOf<"thought"> }) {
  const [open, setOpen] = useState(false);
  const firstLine = item.text.trim().split("\n")[0] ?? "";
  return (
    <details className="item thought" data-testid="item-thought" onToggle={(e) => setOpen((e.target as HTMLDetailsElement).open)}>
      <summary>
        <span className="thought-label">Thought</span> <span className="thought-preview">{firstLine.slice(0, 120)}</span>
      </summary>
      {open ? <Markdown text={item.text} className="thought-body" /> : null}
    </details>
  );
}

/** Small line icons (SVG paths on a 16x16 grid) for tool kinds; fonts may lack emoji. */
const KIND_PATH: Record<string, string> = {
  read: "M2 3h5a1 1 0 0 1 1 1v9a1 1 0 0 0-1-1H2zM14 3H9a1 1 0 0 0-1 1v9a1 1 0 0 1 1-1h5z",
  edit: "M3 13l1-3 7-7 2 2-7 7zM10 4l2 2",
  delete: "M3 4h10M6 4V2.5h4V4M4.5 4l.7 9.5h5.6l.7-9.5",
  move: "M2 8h12M11 5l3 3-3 3M5 5L2 8l3 3",
  search: "M7 3a4 4 0 1 0 0 8 4 4 0 0 0 0-8zM10 10l4 4",
  execute: "M2 3h12v10H2zM4.5 6l2 2-2 2M8 10h3",
  think: "M8 2a4 4 0 0 0-2.5 7.1V11h5V9.1A4 4 0 0 0 8 2zM6 13h4",
  fetch: "M8 2a6 6 0 1 0 0 12A6 6 0 0 0 8 2zM2 8h12M8 2c2 2 2 10 0 12M8 2c-2 2-2 10 0 12",
  other: "M6.5 2.5l1 1.8 2-.2.6 1.9 1.9.6-.2 2 1.8 1-1.8 1 .2 2-1.9.6-.6 1.9-2-.2-1 1.8-1-1.8M8 6a2 2 0 1 0 0 4 2 2 0 0 0 0-4z",
};

function KindIcon({ kind }: { kind: string }) {
  return (
    <svg viewBox="0 0 16 16" fill="none" stroke="currentColor" strokeWidth="1.3" strokeLinecap="round" strokeLinejoin="round" aria-hidden>
      <path d={KIND_PATH[kind] ?? KIND_PATH.other} />
    </svg>
  );
}

/** A path relative to the session's directory when it lies inside it. */
function relPath(path: string, cwd?: string): string {
  if (cwd && path.replace(/\/$/, "") === cwd.replace(/\/$/, "")) return ".";
  if (cwd && path.startsWith(cwd.endsWith("/") ? cwd : `${cwd}/`)) return path.slice(cwd.length).replace(/^\//, "");
  return path;
}

function ToolCall({ item, session, cwd }: { item: ItemOf<"tool">; session: string; cwd?: string }) {
  const parts = useMemo(() => toolParts(item.content), [item.content]);
  const locations = toolLocations(item.locations);
  /** Each part's fold is kept per session, item and part. */
  const foldId = `${session}/${item.key}`;
  return (
    <div className={`item tool status-${item.status}`} data-testid="item-tool" data-tool-call-id={item.toolCallId}>
      <div className="tool-head">
        <span className="tool-icon">
          <KindIcon kind={item.toolKind} />
        </span>
        <span className="tool-title">{item.title}</span>
        <span className="tool-kind">{item.toolKind}</span>
        <span className={`pill status-${item.status}`} data-testid="tool-status">
          {item.status.replace(/_/g, " ")}
        </span>
      </div>
      {locations.length > 0 ? (
        <ul className="tool-locations">
          {locations.map((l, i) => (
            <li key={i}>
              <code title={l.path}>
                {relPath(l.path, cwd) || "."}
                {l.line !== undefined ? `:${l.line}` : ""}
              </code>
            </li>
          ))}
        </ul>
      ) : null}
      {parts.map((p, i) => (
        <ToolPartView key={i} part={p} cwd={cwd} foldId={`${foldId}/${i}`} />
      ))}
      {item.input !== undefined && item.input !== null ? <ToolInput input={item.input} foldId={`${foldId}/input`} /> : null}
    </div>
  );
}

/** The call's input, built only while open (a big file written is a big input). */
function ToolInput({ input, foldId }: { input: unknown; foldId: string }) {
  const [open, setOpen] = useState(false);
  return (
    <details className="tool-input" onToggle={(e) => setOpen((e.target as HTMLDetailsElement).open)}>
      <summary>Input</summary>
      {open ? <PlainText text={JSON.stringify(input, null, 2)} foldId={foldId} /> : null}
    </details>
  );
}

function ToolPartView({ part, cwd, foldId }: { part: ToolPart; cwd?: string; foldId: string }) {
  switch (part.type) {
    case "text":
      return <ToolText text={part.text} foldId={foldId} />;
    case "diff":
      return <DiffView path={part.path} shownPath={relPath(part.path, cwd)} oldText={part.oldText} newText={part.newText} foldId={foldId} />;
    case "terminal":
      return <div className="tool-terminal">Terminal {part.terminalId}</div>;
    case "other":
      return <PlainText text={part.json} foldId={foldId} className="tool-other" />;
  }
}

/** Tool output (markdown); while folded only its first part is rendered. */
const ToolText = memo(function ToolText({ text, foldId }: { text: string; foldId: string }) {
  const fold = useMemo(() => foldMarkdown(text), [text]);
  return <Foldable id={foldId} fold={fold}>{(expanded) => <Markdown text={expanded ? text : fold.head} className="tool-text" />}</Foldable>;
});

const PlainText = memo(function PlainText({ text, foldId, className }: { text: string; foldId: string; className?: string }) {
  const fold = useMemo(() => foldText(text), [text]);
  return <Foldable id={foldId} fold={fold}>{(expanded) => <pre className={className}>{expanded ? text : fold.head}</pre>}</Foldable>;
});

/**
 * A diff as unified hunks. Diffed once per content (`diffModel`); while folded only the
 * first rows are built, and chunks already built are not rendered again.
 */
const DiffView = memo(function DiffView({
  path,
  shownPath,
  oldText,
  newText,
  foldId,
}: {
  path: string;
  shownPath?: string;
  oldText: string | null;
  newText: string;
  foldId: string;
}) {
  const model = useMemo(() => diffModel(oldText, newText), [oldText, newText]);
  const fold = useMemo(() => foldDiff(model), [model]);
  return (
    <div className="diff" data-testid="diff">
      <div className="diff-head">
        <code title={path}>{shownPath ?? path}</code>
        {oldText === null ? <span className="pill">new file</span> : null}
        <span className="diff-stat">
          <span className="add">+{model.adds}</span> <span className="del">−{model.dels}</span>
        </span>
      </div>
      <Foldable id={foldId} fold={fold}>
        {(expanded) => {
          const upto = expanded ? model.rows : fold.shownRows;
          const chunks = [];
          // (Each chunk gets its own end: a full one renders nothing again when the fold opens.)
          for (let i = 0; i * DIFF_CHUNK_ROWS < upto; i++) {
            chunks.push(<DiffChunk key={i} model={model} index={i} upto={Math.min(upto, (i + 1) * DIFF_CHUNK_ROWS)} />);
          }
          return (
            <div className="diff-rows" style={{ "--ln-width": `${Math.max(3, model.numberWidth)}ch` } as CSSProperties}>
              {chunks}
            </div>
          );
        }}
      </Foldable>
    </div>
  );
});

/**
 * Up to DIFF_CHUNK_ROWS rows of a diff, as a table of its own in a box laid out only near
 * the screen (`content-visibility`): an expanded 3 000-line diff costs about its visible
 * part. The line-number columns have one width for the whole diff, so the tables align.
 */
const DiffChunk = memo(function DiffChunk({ model, index, upto }: { model: DiffModel; index: number; upto: number }) {
  const pieces = diffChunk(model, index, upto);
  let rows = 0;
  for (const p of pieces) rows += (p.header ? 1 : 0) + p.to - p.from;
  return (
    <div className="diff-chunk" style={{ "--rows": rows } as CSSProperties}>
      <table className="diff-body">
        <tbody>
          {pieces.map((p) => (
            <HunkRows key={p.hunk} hunk={model.hunks[p.hunk]!} header={p.header} from={p.from} to={p.to} />
          ))}
        </tbody>
      </table>
    </div>
  );
});

/** Lines `from`–`to` of a hunk, after its header if `header`. */
function HunkRows({ hunk, header, from, to }: { hunk: DiffHunk; header: boolean; from: number; to: number }) {
  return (
    <>
      {header ? (
        <tr className="diff-hunk">
          <td colSpan={3}>{hunk.header}</td>
        </tr>
      ) : null}
      {hunk.lines.slice(from, to).map((l, i) => (
        <tr key={from + i} className={`diff-${l.kind}`}>
          <td className="ln">{l.oldNo ?? ""}</td>
          <td className="ln">{l.newNo ?? ""}</td>
          <td className="code">
            <span className="mark">{l.kind === "add" ? "+" : l.kind === "del" ? "−" : " "}</span>
            {l.text}
          </td>
        </tr>
      ))}
    </>
  );
}

const PLAN_MARK: Record<string, string> = { completed: "☑", in_progress: "◐", pending: "☐" };

function Plan({ item }: { item: ItemOf<"plan"> }) {
  return (
    <div className="item plan" data-testid="item-plan">
      <div className="plan-head">Plan</div>
      <ul>
        {item.entries.map((e, i) => (
          <li key={i} className={`plan-entry ${e.status}`}>
            <span className="plan-mark" aria-label={e.status.replace(/_/g, " ")}>
              {PLAN_MARK[e.status] ?? "☐"}
            </span>
            <span className="plan-text">{e.content}</span>
            {e.priority === "high" ? <span className="pill">high</span> : null}
          </li>
        ))}
      </ul>
    </div>
  );
}
