import { useEffect, useState, type FormEvent } from "react";
import type { AgentConfig, AgentInfo, ConfigChange, CreateSession } from "../protocol";
import { ConfigPicker, currentChoices, type Choices } from "./ConfigPicker";
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
  // What the chosen agent offered in its last session, and the user's picks from it.
  const chosen = agents?.find((a) => a.id === agent);
  const offer = chosen?.config;
  const [choices, setChoices] = useState<Choices | null>(null);
  useEffect(() => setChoices(offer ? currentChoices(offer, chosen?.mode) : null), [offer, chosen?.mode]);

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
      let session = await api.create(body);
      // Kept by the server until the agent starts (then checked against what it offers).
      // The session exists whatever becomes of these: a failed one is left to the
      // header's pickers rather than keeping the dialog open (Create again would make a
      // second session).
      try {
        for (const change of changes(choices, offer)) session = await api.configure(session.id, change);
      } catch (e) {
        console.warn("a picked mode or option was not kept", e);
      }
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
        {offer && choices ? (
          <div className="field">
            <span>Mode and model (as this agent offered last time)</span>
            <ConfigPicker
              config={offer}
              choices={choices}
              testId="new-config"
              onChange={(change) =>
                setChoices((cur) => {
                  const next: Choices = { mode: cur?.mode, options: { ...cur?.options } };
                  if ("mode" in change) next.mode = change.mode;
                  else next.options[change.option] = change.value;
                  return next;
                })
              }
            />
          </div>
        ) : null}
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

/**
 * Every pick as a change: a new agent starts from its own defaults, so what the dialog
 * showed is sent, not only what was changed in it. A `mode` option of an agent that
 * has modes is the mode again (the picker hides it): sent once, as the mode.
 */
function changes(choices: Choices | null, offer: AgentConfig | undefined): ConfigChange[] {
  if (!choices) return [];
  const list: ConfigChange[] = [];
  if (choices.mode) list.push({ mode: choices.mode });
  const hasModes = (offer?.modes ?? []).length > 0;
  for (const [option, value] of Object.entries(choices.options)) {
    const category = offer?.options?.find((o) => o.id === option)?.category;
    if (hasModes && category === "mode") continue;
    list.push({ option, value });
  }
  return list;
}
