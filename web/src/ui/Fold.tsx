import { createContext, useContext, useId, useLayoutEffect, useRef, useState, type ReactNode } from "react";
import { hiddenNote, showAllLabel, type Fold } from "../render/fold";

/**
 * What the transcript offers a fold: keep the reading position while it opens or closes.
 * `keep` is called before the change (it stops following the end, so the transcript does
 * not jump to the bottom of what just opened) and returns what to call once the DOM has
 * changed, to put `anchor` back where it was on screen.
 */
export interface ScrollKeeper {
  keep(anchor: HTMLElement): () => void;
}

export const ScrollKeeperContext = createContext<ScrollKeeper | null>(null);

/**
 * Folds the user opened, by id (session, item, part): an open fold stays open when its item
 * is rendered again (a streaming update), scrolled out of the transcript's window and back,
 * or shown again after switching sessions.
 */
const opened = new Set<string>();

/**
 * Long content, folded: `children(expanded)` renders the first part or all of it (only
 * what it returns is built), followed by a bar with the count and a "Show all N lines" /
 * "Show less" button. Content that does not fold is rendered whole, with no bar.
 */
export function Foldable({ id, fold, children }: { id: string; fold: Fold; children: (expanded: boolean) => ReactNode }) {
  const [expanded, setExpanded] = useState(() => opened.has(id));
  const keeper = useContext(ScrollKeeperContext);
  const box = useRef<HTMLDivElement>(null);
  const restore = useRef<(() => void) | null>(null);
  const contentId = useId();

  useLayoutEffect(() => {
    restore.current?.();
    restore.current = null;
  }, [expanded]);

  // The same elements whether it folds or not: content that grows past the threshold while
  // it streams keeps its rendered parts.
  if (!fold.folded) {
    return (
      <div className="foldable whole" data-testid="foldable" data-fold="whole">
        <div className="fold-content">{children(true)}</div>
      </div>
    );
  }

  function toggle(button: HTMLElement) {
    const next = !expanded;
    // Opening grows the content below what is read: its top stays put. Closing removes
    // what the (sticky) bar was under: the bar stays under the pointer.
    const anchor = next ? box.current : button;
    restore.current = anchor && keeper ? keeper.keep(anchor) : null;
    if (next) opened.add(id);
    else opened.delete(id);
    setExpanded(next);
  }

  return (
    <div ref={box} className={`foldable ${expanded ? "expanded" : "folded"}`} data-testid="foldable" data-fold={expanded ? "expanded" : "folded"}>
      <div id={contentId} className="fold-content">
        {children(expanded)}
      </div>
      <div className="fold-bar">
        <button
          type="button"
          className="btn small fold-toggle"
          aria-expanded={expanded}
          aria-controls={contentId}
          onClick={(e) => toggle(e.currentTarget)}
          data-testid="fold-toggle"
        >
          {expanded ? "Show less" : showAllLabel(fold)}
        </button>
        {expanded ? null : (
          <span className="fold-note" data-testid="fold-note">
            {hiddenNote(fold)}
          </span>
        )}
      </div>
    </div>
  );
}
