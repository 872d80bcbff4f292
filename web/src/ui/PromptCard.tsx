import { memo, useState, type FormEvent } from "react";
import type { Answer, AnswerValue, AskEvent, Outcome, Resolution } from "../protocol";
import { outcomeKind } from "../protocol";
import { ApiError, errorText } from "../api/rest";
import { describeAnswer, formAnswer, toggle } from "./answers";
import { useServices } from "./hooks";

/** Words for how a prompt was resolved. */
function describeOutcome(event: AskEvent, outcome: Outcome): string {
  switch (outcomeKind(outcome)) {
    case "selected": {
      const id = (outcome as { option_id: string }).option_id;
      const opt = event.kind === "permission_requested" ? event.options.find((o) => o.option_id === id) : undefined;
      return opt ? opt.name : id;
    }
    case "answered": {
      const answers = (outcome as { answers: Record<string, AnswerValue> }).answers;
      return Object.entries(answers)
        .map(([k, v]) => {
          const q = event.kind === "question_asked" ? event.questions.find((x) => x.id === k) : undefined;
          return `${q?.question ?? k}: ${describeAnswer(v)}`;
        })
        .join("; ");
    }
    default:
      return "Cancelled";
  }
}

interface Props {
  session: string;
  event: AskEvent;
  /** Set once the prompt is resolved (from the log). */
  outcome: Outcome | null;
  /** Shown above the card (the inbox names the session). */
  context?: React.ReactNode;
}

/**
 * A permission request or a question. The same card shows in every tab that shows the
 * session; the first answer wins, and a late answer shows the winner instead of an error.
 */
export const PromptCard = memo(function PromptCard({ session, event, outcome, context }: Props) {
  const { api } = useServices();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [late, setLate] = useState<Resolution | null>(null);
  const [answered, setAnswered] = useState<Outcome | null>(null);
  const resolved = outcome ?? late?.outcome ?? answered;

  async function send(answer: Answer) {
    setBusy(true);
    setError(null);
    try {
      const { resolved: r } = await api.answer(session, event.prompt_id, answer);
      setAnswered(r.outcome);
    } catch (e) {
      if (e instanceof ApiError && e.code === "already_resolved" && e.resolution) {
        setLate(e.resolution);
      } else {
        setError(errorText(e));
      }
    } finally {
      setBusy(false);
    }
  }

  const isPermission = event.kind === "permission_requested";
  return (
    <section
      className={`prompt-card ${resolved ? "resolved" : "pending"}`}
      data-testid="prompt-card"
      data-prompt-id={event.prompt_id}
      data-state={resolved ? "resolved" : "pending"}
      aria-label={isPermission ? "Permission request" : "Question"}
    >
      {context}
      <header>
        <span className="prompt-kind">{isPermission ? "Permission" : "Question"}</span>
        <span className="prompt-title">{isPermission ? event.title : event.message}</span>
      </header>
      {resolved ? (
        <p className="prompt-outcome" data-testid="prompt-outcome">
          {outcomeKind(resolved) === "cancelled" ? "Cancelled" : `Answered: ${describeOutcome(event, resolved)}`}
          {late && !answered ? <span className="prompt-late"> (answered elsewhere first; your answer was not used)</span> : null}
        </p>
      ) : isPermission ? (
        <div className="prompt-options">
          {event.options.map((o) => (
            <button
              key={o.option_id}
              type="button"
              className={o.kind.startsWith("allow") ? "btn primary" : "btn danger"}
              data-testid={`prompt-option-${o.option_id}`}
              disabled={busy}
              onClick={() => void send({ option_id: o.option_id })}
            >
              {o.name}
            </button>
          ))}
        </div>
      ) : (
        <QuestionForm event={event} busy={busy} onAnswer={(a) => void send(a)} />
      )}
      {error ? (
        <p className="prompt-error" role="alert">
          {error}
        </p>
      ) : null}
    </section>
  );
});

function QuestionForm({
  event,
  busy,
  onAnswer,
}: {
  event: Extract<AskEvent, { kind: "question_asked" }>;
  busy: boolean;
  onAnswer: (a: Answer) => void;
}) {
  const [values, setValues] = useState<Record<string, string>>({});
  const [ticked, setTicked] = useState<Record<string, readonly string[]>>({});
  const { complete, answers } = formAnswer(event.questions, values, ticked);
  function submit(e: FormEvent) {
    e.preventDefault();
    if (complete) onAnswer({ answers });
  }
  return (
    <form className="question-form" onSubmit={submit}>
      {event.questions.map((q) => {
        const options = q.options ?? [];
        const set = (v: string) => setValues((old) => ({ ...old, [q.id]: v }));
        const tick = (o: string, on: boolean) => setTicked((old) => ({ ...old, [q.id]: toggle(options, old[q.id] ?? [], o, on) }));
        return (
          <fieldset key={q.id} className="question">
            <legend>
              {q.question}
              {q.multiple && options.length > 0 ? <span className="muted"> (choose one or more)</span> : null}
              {q.optional ? <span className="muted optional"> (optional)</span> : null}
            </legend>
            {q.multiple && options.length > 0 ? (
              <div className="question-options">
                {options.map((o) => (
                  <label key={o} className="choice">
                    <input
                      type="checkbox"
                      name={`${event.prompt_id}-${q.id}`}
                      value={o}
                      checked={(ticked[q.id] ?? []).includes(o)}
                      onChange={(e) => tick(o, e.target.checked)}
                      data-testid={`question-option-${q.id}-${o}`}
                    />
                    {o}
                  </label>
                ))}
              </div>
            ) : options.length > 0 ? (
              <div className="question-options">
                {options.map((o) => (
                  <label key={o} className="choice">
                    <input
                      type="radio"
                      name={`${event.prompt_id}-${q.id}`}
                      value={o}
                      checked={values[q.id] === o}
                      onChange={() => set(o)}
                      data-testid={`question-option-${q.id}-${o}`}
                    />
                    {o}
                  </label>
                ))}
              </div>
            ) : null}
            {q.free_text || options.length === 0 ? (
              <input
                type="text"
                className="input"
                placeholder={options.length > 0 ? (q.multiple ? "Or add your own" : "Or type an answer") : q.multiple ? "Your answers, separated by commas" : "Your answer"}
                value={!q.multiple && options.includes(values[q.id] ?? "") ? "" : (values[q.id] ?? "")}
                onChange={(e) => set(e.target.value)}
                data-testid={`question-text-${q.id}`}
              />
            ) : null}
            {q.optional && !q.multiple && options.includes(values[q.id] ?? "") ? (
              <button type="button" className="btn link small" onClick={() => set("")} data-testid={`question-clear-${q.id}`}>
                Clear (leave unanswered)
              </button>
            ) : null}
          </fieldset>
        );
      })}
      <div className="prompt-options">
        <button type="submit" className="btn primary" disabled={busy || !complete} data-testid="question-submit">
          Answer
        </button>
        <button type="button" className="btn" disabled={busy} onClick={() => onAnswer({ cancel: true })}>
          Dismiss
        </button>
      </div>
    </form>
  );
}
