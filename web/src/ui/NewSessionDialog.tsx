import { useEffect, useState, type FormEvent } from "react";
import type { AgentInfo, CreateSession } from "../protocol";
import { errorText } from "../api/rest";
import { Dialog } from "./Dialog";
import { useServices } from "./hooks";

/** Pick an agent (with why one is unavailable), a working directory and a title. */
export function NewSessionDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const { api, store, navigate } = useServices();
  const [agents, setAgents] = useState<AgentInfo[] | null>(null);
  const [agent, setAgent] = useState("");
  const [cwd, setCwd] = useState("");
  const [title, setTitle] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (!open) return;
    setError(null);
    setAgents(null);
    api
      .agents()
      .then(({ agents }) => {
        setAgents(agents);
        setAgent((cur) => (agents.some((a) => a.id === cur && a.available) ? cur : (agents.find((a) => a.available)?.id ?? "")));
      })
      .catch((e: unknown) => setError(errorText(e)));
  }, [open, api]);

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!agent) return;
    setBusy(true);
    setError(null);
    const body: CreateSession = { agent };
    if (cwd.trim()) body.cwd = cwd.trim();
    if (title.trim()) body.title = title.trim();
    try {
      const session = await api.create(body);
      store.upsertSummary(session);
      setTitle("");
      onClose();
      navigate({ kind: "session", id: session.id });
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Dialog open={open} onClose={onClose} title="New session" testId="new-session-dialog">
      <form onSubmit={submit} className="form">
        <fieldset className="agents">
          <legend>Agent</legend>
          {agents === null && !error ? <p className="muted">Looking for agents…</p> : null}
          {agents?.map((a) => (
            <label key={a.id} className={`agent-choice ${a.available ? "" : "unavailable"}`} data-testid={`agent-${a.id}`}>
              <input type="radio" name="agent" value={a.id} checked={agent === a.id} disabled={!a.available} onChange={() => setAgent(a.id)} />
              <span className="agent-name">{a.name}</span>
              {a.available ? <span className="pill ok">available</span> : <span className="pill">unavailable</span>}
              {!a.available && a.reason ? <span className="agent-reason">{inlineCode(a.reason)}</span> : null}
            </label>
          ))}
        </fieldset>
        <label className="field">
          <span>Working directory</span>
          <input className="input" value={cwd} onChange={(e) => setCwd(e.target.value)} placeholder="/absolute/path (default: a new directory in berth's data)" data-testid="new-cwd" />
        </label>
        <label className="field">
          <span>Title (optional)</span>
          <input className="input" value={title} onChange={(e) => setTitle(e.target.value)} placeholder="What is this session about?" data-testid="new-title" />
        </label>
        {error ? (
          <p className="form-error" role="alert">
            {error}
          </p>
        ) : null}
        <div className="form-actions">
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn primary" disabled={busy || !agent} data-testid="new-submit">
            Create
          </button>
        </div>
      </form>
    </Dialog>
  );
}

/** `code` spans of a plain sentence as <code>; everything stays text (React escapes it). */
function inlineCode(text: string) {
  return text.split("`").map((part, i) => (i % 2 === 1 ? <code key={i}>{part}</code> : part));
}
