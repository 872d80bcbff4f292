import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import type { SessionView } from "../state/session";
import { ScrollKeeperContext, type ScrollKeeper } from "./Fold";
import { ItemView } from "./Items";

/** Items rendered when following the end; older ones come in steps as the user scrolls up. */
const WINDOW = 150;
const STEP = 150;
/** How close to the bottom (px) counts as "at the bottom". */
const STICK_PX = 48;

interface Props {
  view: SessionView;
  /** The session's working directory (paths inside it are shown relative). */
  cwd?: string;
  /** Whether a turn runs (shows the working indicator). */
  busy: boolean;
  waiting: boolean;
  /** The end of the transcript is on screen in a visible tab: the user has seen `seq`. */
  onSeen: (seq: number) => void;
}

/**
 * The session's transcript: a window over its items (the last WINDOW, more on demand), stuck
 * to the bottom while new content arrives unless the user scrolled up.
 */
export function Transcript({ view, cwd, busy, waiting, onSeen }: Props) {
  const scroller = useRef<HTMLDivElement>(null);
  const content = useRef<HTMLDivElement>(null);
  const stuck = useRef(true);
  const [away, setAway] = useState(false);
  /** null: follow the end. A number: the first rendered item, frozen (the user loaded earlier ones). */
  const [start, setStart] = useState<number | null>(null);
  const restoreFromBottom = useRef<number | null>(null);

  const n = view.items.length;
  const first = start === null ? Math.max(0, n - WINDOW) : Math.min(start, Math.max(0, n - WINDOW));
  const shown = view.items.slice(first);

  const seen = useCallback(() => {
    if (stuck.current && document.visibilityState === "visible" && view.cursor > 0) onSeen(view.cursor);
  }, [view.cursor, onSeen]);

  const toBottom = useCallback(() => {
    const el = scroller.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, []);

  // After every change: keep the bottom in view (or the reading position after loading
  // earlier items), then tell that the end was seen.
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    if (restoreFromBottom.current !== null) {
      el.scrollTop = el.scrollHeight - restoreFromBottom.current;
      restoreFromBottom.current = null;
    } else if (stuck.current) {
      el.scrollTop = el.scrollHeight;
    }
    seen();
  });

  // Content that changes size by itself (a details opened, fonts) keeps the bottom stuck.
  useEffect(() => {
    const el = content.current;
    if (!el || typeof ResizeObserver === "undefined") return;
    const ro = new ResizeObserver(() => {
      if (stuck.current) toBottom();
    });
    ro.observe(el);
    return () => ro.disconnect();
  }, [toBottom]);

  useEffect(() => {
    const onVisible = () => seen();
    document.addEventListener("visibilitychange", onVisible);
    window.addEventListener("focus", onVisible);
    return () => {
      document.removeEventListener("visibilitychange", onVisible);
      window.removeEventListener("focus", onVisible);
    };
  }, [seen]);

  const loadEarlier = useCallback(() => {
    const el = scroller.current;
    if (!el || first === 0) return;
    restoreFromBottom.current = el.scrollHeight - el.scrollTop;
    setStart(Math.max(0, first - STEP));
  }, [first]);

  // Scrolling near the top loads earlier items.
  const sentinel = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = sentinel.current;
    if (!el || first === 0 || typeof IntersectionObserver === "undefined") return;
    const io = new IntersectionObserver(
      (entries) => {
        if (entries.some((e) => e.isIntersecting) && !stuck.current) loadEarlier();
      },
      { root: scroller.current, rootMargin: "400px 0px 0px 0px" },
    );
    io.observe(el);
    return () => io.disconnect();
  }, [first, loadEarlier]);

  function onScroll() {
    const el = scroller.current;
    if (!el) return;
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < STICK_PX;
    stuck.current = atBottom;
    setAway(!atBottom);
    // Reading further up: freeze the window, so items arriving at the end do not push
    // the ones being read out of it.
    if (!atBottom && start === null) setStart(first);
    if (atBottom) {
      // Back at the end: stop holding earlier items.
      if (start !== null && n - first > 2 * WINDOW) setStart(null);
      seen();
    }
  }

  // Folds opening or closing (see Fold.tsx): the reader stays where they read. The
  // transcript stops following the end first (else it would jump to the bottom of what
  // opened), then puts the anchor back in place and sees where that left it.
  const onScrollRef = useRef(onScroll);
  onScrollRef.current = onScroll;
  const keeper = useMemo<ScrollKeeper>(
    () => ({
      keep(anchor) {
        const el = scroller.current;
        if (!el) return () => {};
        const before = anchor.getBoundingClientRect().top;
        stuck.current = false;
        return () => {
          if (anchor.isConnected) el.scrollTop += anchor.getBoundingClientRect().top - before;
          onScrollRef.current();
        };
      },
    }),
    [],
  );

  function jump() {
    stuck.current = true;
    setAway(false);
    setStart(null);
    toBottom();
  }

  return (
    <div className="transcript-wrap">
      <div className="transcript" ref={scroller} onScroll={onScroll} data-testid="transcript" data-cursor={view.cursor}>
        <div className="transcript-inner" ref={content}>
          {first > 0 ? (
            <div ref={sentinel} className="earlier">
              <button type="button" className="btn small" onClick={loadEarlier} data-testid="load-earlier">
                Show earlier ({first} more)
              </button>
            </div>
          ) : null}
          <ScrollKeeperContext.Provider value={keeper}>
            {shown.map((item) => (
              <ItemView key={item.key} item={item} session={view.id} cwd={cwd} />
            ))}
          </ScrollKeeperContext.Provider>
          {busy ? (
            <div className={`working ${waiting ? "waiting" : ""}`} data-testid="working">
              {waiting ? "Waiting for your answer" : "Working"}
              <span className="dots" aria-hidden>
                <i />
                <i />
                <i />
              </span>
            </div>
          ) : null}
        </div>
      </div>
      {away ? (
        <button type="button" className="btn jump" onClick={jump} data-testid="jump-latest">
          {view.pending.length > 0 ? "↓ Prompt waiting" : "↓ Jump to latest"}
        </button>
      ) : null}
    </div>
  );
}
