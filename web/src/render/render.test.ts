import { describe, expect, it } from "vitest";
import { renderMarkdown } from "./markdown";
import { diffHunks, toolLocations, toolParts } from "./toolContent";

describe("renderMarkdown", () => {
  it("shows raw HTML as text", () => {
    const html = renderMarkdown('<script>alert(1)</script> and <img src=x onerror="alert(2)">');
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/<img/i);
    expect(html).toContain("&lt;script&gt;");
    expect(html).toContain("&lt;img src=x onerror=");
  });

  it("refuses script links and opens links without opener", () => {
    const html = renderMarkdown("[x](javascript:alert(1)) [y](https://example.com)");
    expect(html).not.toContain('href="javascript:');
    expect(html).toContain('<a href="https://example.com" target="_blank" rel="noopener noreferrer nofollow">y</a>');
  });

  it("turns images into links", () => {
    const html = renderMarkdown("![logo](https://example.com/a.png)");
    expect(html).not.toContain("<img");
    expect(html).toContain('href="https://example.com/a.png"');
  });

  it("highlights code and escapes it", () => {
    const html = renderMarkdown("```rust\nfn main() { let x = \"<b>\"; }\n```");
    expect(html).toContain('<span class="hljs-keyword">fn</span>');
    expect(html).toContain("&lt;b&gt;");
    const unknown = renderMarkdown("```nolang\n<b>hi</b>\n```");
    expect(unknown).toContain("&lt;b&gt;hi&lt;/b&gt;");
  });
});

describe("tool content", () => {
  it("reads ACP content, diffs and locations", () => {
    const parts = toolParts([
      { type: "content", content: { type: "text", text: "done" } },
      { type: "diff", path: "/w/a.rs", oldText: "a\nb\n", newText: "a\nc\n" },
      { type: "terminal", terminalId: "t1" },
    ]);
    expect(parts.map((p) => p.type)).toEqual(["text", "diff", "terminal"]);
    expect(toolLocations([{ path: "/w/a.rs", line: 3 }, { nope: 1 }])).toEqual([{ path: "/w/a.rs", line: 3 }]);
  });

  it("diffs line by line with numbers", () => {
    const [hunk] = diffHunks("a\nb\nc\n", "a\nB\nc\nd\n");
    expect(hunk!.lines.map((l) => `${l.kind}:${l.text}`)).toEqual(["ctx:a", "del:b", "add:B", "ctx:c", "add:d"]);
    expect(hunk!.lines[2]).toMatchObject({ newNo: 2, oldNo: null });
    const created = diffHunks(null, "x\n");
    expect(created[0]!.lines).toEqual([{ kind: "add", text: "x", oldNo: null, newNo: 1 }]);
  });
});
