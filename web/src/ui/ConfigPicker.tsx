import { useState } from "react";
import type { AgentConfig, ConfigChange, ConfigOption, OptionValue, Session } from "../protocol";
import { errorText } from "../api/rest";
import { useServices } from "./hooks";

/** The current choice of each thing an agent offers: its mode and every option's value. */
export interface Choices {
  mode?: string;
  options: Record<string, OptionValue>;
}

/** The choices a summary shows: the agent's current ones, with waiting changes over them. */
export function currentChoices(config: AgentConfig, mode: string | undefined, pending: ConfigChange[] = []): Choices {
  const choices: Choices = { mode, options: {} };
  for (const option of config.options ?? []) choices.options[option.id] = option.value;
  for (const change of pending) {
    if ("mode" in change) choices.mode = change.mode;
    else choices.options[change.option] = change.value;
  }
  return choices;
}

/**
 * Pickers for what an agent offers: a mode select, a select per `select` option, a
 * checkbox per `boolean` one. Model first (what users switch most), then the mode,
 * then the rest. The server checks every change; this only offers what the agent did.
 */
export function ConfigPicker({
  config,
  choices,
  disabled,
  onChange,
  testId,
}: {
  config: AgentConfig;
  choices: Choices;
  disabled?: boolean;
  onChange: (change: ConfigChange) => void;
  testId: string;
}) {
  const modes = config.modes ?? [];
  // Claude Code and Codex offer their modes twice (as `modes` and as a `mode` option):
  // one picker, the modes one.
  const options = (config.options ?? [])
    .filter((o) => modes.length === 0 || o.category !== "mode")
    .sort((a, b) => rank(a) - rank(b));
  return (
    <span className="config-picker" data-testid={testId}>
      {options.filter((o) => rank(o) === 0).map((option) => optionControl(option, choices, disabled, onChange))}
      {modes.length > 0 ? (
        <select
          className="config-select"
          aria-label="Mode"
          title="The agent's mode"
          data-testid="config-mode"
          value={choices.mode ?? ""}
          disabled={disabled}
          onChange={(e) => onChange({ mode: e.target.value })}
        >
          {choices.mode === undefined ? <option value="">Mode…</option> : null}
          {modes.map((m) => (
            <option key={m.id} value={m.id} title={m.description}>
              {m.name}
            </option>
          ))}
        </select>
      ) : null}
      {options.filter((o) => rank(o) !== 0).map((option) => optionControl(option, choices, disabled, onChange))}
    </span>
  );
}

function rank(option: ConfigOption): number {
  return option.category === "model" ? 0 : 1;
}

function optionControl(
  option: ConfigOption,
  choices: Choices,
  disabled: boolean | undefined,
  onChange: (change: ConfigChange) => void,
) {
  const value = choices.options[option.id] ?? option.value;
  if (option.kind === "boolean") {
    return (
      <label key={option.id} className="config-flag" title={option.description}>
        <input
          type="checkbox"
          checked={value === true}
          disabled={disabled}
          data-testid={`config-option-${option.id}`}
          onChange={(e) => onChange({ option: option.id, value: e.target.checked })}
        />
        {option.name}
      </label>
    );
  }
  return (
    <select
      key={option.id}
      className="config-select"
      aria-label={option.name}
      title={option.description ?? option.name}
      data-testid={`config-option-${option.id}`}
      value={typeof value === "string" ? value : ""}
      disabled={disabled}
      onChange={(e) => onChange({ option: option.id, value: e.target.value })}
    >
      {(option.values ?? []).map((v) => (
        <option key={v.id} value={v.id} title={v.description}>
          {v.group ? `${v.group}: ${v.name}` : v.name}
        </option>
      ))}
    </select>
  );
}

/** The session header's pickers: changes go to the server, which answers with the summary. */
export function SessionConfig({ session }: { session: Session }) {
  const { api, store } = useServices();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const config = session.config;
  const pending = session.pending_config ?? [];
  const offered = config !== undefined && ((config.modes ?? []).length > 0 || (config.options ?? []).length > 0);
  if (!offered && pending.length === 0) return null;
  const choose = async (change: ConfigChange) => {
    setBusy(true);
    setError(null);
    try {
      store.upsertSummary(await api.configure(session.id, change));
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="pane-config">
      {offered ? (
        <ConfigPicker config={config} choices={currentChoices(config, session.mode, pending)} disabled={busy} onChange={choose} testId="session-config" />
      ) : null}
      {pending.length > 0 ? (
        <span className="muted" data-testid="config-pending" title="The agent is not running; berth applies these when it next starts">
          {/* With no picker to show them in, say what waits. */}
          {offered ? "" : `${pending.map(describeChange).join(", ")}: `}
          applies when the agent starts
        </span>
      ) : null}
      {error ? (
        <span className="form-error" role="alert" data-testid="config-error">
          {error}
        </span>
      ) : null}
    </div>
  );
}

function describeChange(change: ConfigChange): string {
  return "mode" in change ? `mode ${change.mode}` : `${change.option} ${String(change.value)}`;
}
