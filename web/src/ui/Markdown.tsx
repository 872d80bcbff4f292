import { memo, useRef } from "react";
import { renderMarkdown } from "../render/markdown";
import { splitBlocks, type Blocks } from "../render/blocks";

/**
 * Agent markdown. Long and streaming texts are split into blocks that stop changing, so a
 * new chunk re-renders only the last block. The HTML comes from markdown-it with raw HTML
 * disabled (see render/markdown.ts): setting it as innerHTML is safe.
 */
export function Markdown({ text, className }: { text: string; className?: string }) {
  const prev = useRef<Blocks | undefined>(undefined);
  const blocks = splitBlocks(text, prev.current);
  prev.current = blocks;
  return (
    <div className={className ? `md ${className}` : "md"}>
      {blocks.blocks.map((b) => (
        <MarkdownBlock key={b.start} text={b.text} cont={b.cont} />
      ))}
    </div>
  );
}

const MarkdownBlock = memo(function MarkdownBlock({ text, cont }: { text: string; cont: boolean }) {
  return (
    <div className={cont ? "md-block cont" : "md-block"} dangerouslySetInnerHTML={{ __html: renderMarkdown(text) }} />
  );
});
