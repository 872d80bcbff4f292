import { useEffect, useState, type KeyboardEvent } from "react";
import { Dialog } from "./Dialog";
import { StatusDot, useSearch } from "./Sidebar";
import { useConnected, useServices } from "./hooks";

/**
 * Ctrl/Cmd+K: jump to a session by typing part of its title, agent, slug or id. The server
 * searches every session (not only the rows loaded); what is typed narrows the rows at once.
 */
export function Switcher({ open, onClose }: { open: boolean; onClose: () => void }) {
  const { navigate } = useServices();
  const connected = useConnected();
  const [q, setQ] = useState("");
  const [sel, setSel] = useState(0);
  useEffect(() => {
    if (open) {
      setQ("");
      setSel(0);
    }
  }, [open]);
  // Closed, it holds no search of its own (the default list is held anyway).
  const { shown } = useSearch(false, open ? q.trim() : "");
  const matches = shown.slice(0, 50);

  function go(i: number) {
    const s = matches[i];
    if (!s) return;
    onClose();
    navigate({ kind: "session", id: s.id });
  }

  function onKeyDown(e: KeyboardEvent) {
    if (e.key === "ArrowDown") {
      e.preventDefault();
      setSel((i) => Math.min(i + 1, matches.length - 1));
    } else if (e.key === "ArrowUp") {
      e.preventDefault();
      setSel((i) => Math.max(i - 1, 0));
    } else if (e.key === "Enter") {
      e.preventDefault();
      go(sel);
    }
  }

  return (
    <Dialog open={open} onClose={onClose} title="Switch to session" testId="switcher" className="switcher">
      <input
        className="input"
        autoFocus
        placeholder="Type to filter…"
        value={q}
        onChange={(e) => {
          setQ(e.target.value);
          setSel(0);
        }}
        onKeyDown={onKeyDown}
        aria-label="Session"
        data-testid="switcher-input"
      />
      <ul className="switcher-list" role="listbox">
        {matches.map((s, i) => (
          <li key={s.id} role="option" aria-selected={i === sel}>
            <button type="button" className={i === sel ? "selected" : ""} onMouseEnter={() => setSel(i)} onClick={() => go(i)} data-testid="switcher-item">
              <StatusDot status={s.status} connected={connected} />
              <span className="row-title">{s.title || "Untitled session"}</span>
              <span className="muted">{s.agent}</span>
            </button>
          </li>
        ))}
        {matches.length === 0 ? <li className="empty small">No session matches.</li> : null}
      </ul>
    </Dialog>
  );
}
