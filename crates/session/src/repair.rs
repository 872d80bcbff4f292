//! Rebuilding a session's runtime state from its log when it is loaded, and finding
//! what a previous server left open (invariant 8: no ghost status).

use std::collections::BTreeSet;

use berth_protocol::{
    AgentCommand, AgentConfig, ConfigChange, Event, ExitReason, Resolution, StopReason, Usage,
};
use berth_store::{Store, StoredEvent};

use crate::SessionError;

/// The kinds that decide turn and prompt state.
const KINDS: &[&str] = &[
    "turn_started",
    "turn_ended",
    "permission_requested",
    "question_asked",
    "prompt_resolved",
    "commands_changed",
    "mode_changed",
    "usage",
    "config_changed",
    "config_pending",
    "turn_queued",
    "turn_unqueued",
    "agent_exited",
];

/// What the log says about turns and prompts.
#[derive(Debug, Default)]
pub(crate) struct LoggedState {
    /// A turn with `turn_started` but no `turn_ended`.
    pub open_turn: Option<String>,
    /// Prompts asked and never resolved, by id.
    pub unresolved: Vec<String>,
    pub resolutions: Vec<Resolution>,
    /// How the last closed turn ended.
    pub last_stop: Option<StopReason>,
    /// The user stopped the agent after the last turn (`agent_exited` reason `user`), so
    /// the session shows `stopped`.
    pub stopped: bool,
    /// The agent's last announced slash commands and mode (summary state).
    pub commands: Vec<AgentCommand>,
    pub mode: Option<String>,
    /// The agent's last usage report.
    pub usage: Option<Usage>,
    /// The agent's last offer, and the changes waiting for it to start.
    pub config: Option<AgentConfig>,
    pub pending_config: Vec<ConfigChange>,
    /// Turns queued and never started nor taken out, in order.
    pub queued: Vec<String>,
}

pub(crate) async fn load(store: &Store, session_id: &str) -> Result<LoggedState, SessionError> {
    let events = store.read_events_of_kinds(session_id, KINDS, 0).await?;
    Ok(fold(&events))
}

fn fold(events: &[StoredEvent]) -> LoggedState {
    let mut state = LoggedState::default();
    let mut unresolved: BTreeSet<String> = BTreeSet::new();
    for stored in events {
        let Ok(event) = serde_json::from_str::<Event>(&stored.data) else {
            tracing::warn!(
                seq = stored.seq,
                "unreadable event in log; skipped during repair"
            );
            continue;
        };
        match &event {
            Event::TurnStarted { turn_id } => {
                // A queued turn that starts logs `turn_started` with its id.
                state.queued.retain(|queued| queued != turn_id);
                state.open_turn = Some(turn_id.clone());
                state.stopped = false;
            }
            Event::TurnEnded { stop_reason, .. } => {
                state.open_turn = None;
                state.last_stop = Some(*stop_reason);
            }
            Event::AgentExited { reason, .. } => {
                state.stopped = *reason == Some(ExitReason::User);
            }
            Event::PermissionRequested { prompt_id, .. }
            | Event::QuestionAsked { prompt_id, .. } => {
                unresolved.insert(prompt_id.clone());
            }
            Event::PromptResolved { prompt_id, outcome } => {
                unresolved.remove(prompt_id);
                state.resolutions.push(Resolution {
                    prompt_id: prompt_id.clone(),
                    outcome: outcome.clone(),
                    resolved_at: stored.ts,
                });
            }
            Event::CommandsChanged { commands } => state.commands = commands.clone(),
            Event::ModeChanged { mode_id } => state.mode = Some(mode_id.clone()),
            Event::Usage { .. } => state.usage = Usage::of_event(&event),
            Event::ConfigChanged { config } => state.config = Some(config.clone()),
            Event::ConfigPending { pending } => state.pending_config = pending.clone(),
            Event::TurnQueued { turn_id, .. } => state.queued.push(turn_id.clone()),
            Event::TurnUnqueued { turn_id, .. } => {
                state.queued.retain(|queued| queued != turn_id);
            }
            _ => {}
        }
    }
    state.unresolved = unresolved.into_iter().collect();
    state
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_protocol::{Outcome, Seq};

    fn stored(seq: Seq, event: Event) -> StoredEvent {
        StoredEvent {
            seq,
            ts: chrono::Utc::now(),
            kind: event.kind().into(),
            data: serde_json::to_string(&event).unwrap().into(),
        }
    }

    fn asked(id: &str) -> Event {
        Event::PermissionRequested {
            turn_id: "t2".into(),
            prompt_id: id.into(),
            tool_call_id: None,
            title: "x".into(),
            options: vec![],
        }
    }

    #[test]
    fn finds_the_open_turn_and_its_unresolved_prompts() {
        let events = vec![
            stored(
                1,
                Event::TurnStarted {
                    turn_id: "t1".into(),
                },
            ),
            stored(
                2,
                Event::TurnEnded {
                    turn_id: "t1".into(),
                    stop_reason: StopReason::EndTurn,
                    error: None,
                },
            ),
            stored(
                3,
                Event::TurnStarted {
                    turn_id: "t2".into(),
                },
            ),
            stored(4, asked("p1")),
            stored(5, asked("p2")),
            stored(
                6,
                Event::PromptResolved {
                    prompt_id: "p1".into(),
                    outcome: Outcome::cancelled(),
                },
            ),
        ];
        let state = fold(&events);
        assert_eq!(state.open_turn.as_deref(), Some("t2"));
        assert_eq!(state.unresolved.len(), 1);
        assert_eq!(state.unresolved[0], "p2");
        assert_eq!(state.resolutions.len(), 1);
        assert_eq!(state.last_stop, Some(StopReason::EndTurn));
    }

    #[test]
    fn a_closed_log_has_nothing_open() {
        let events = vec![
            stored(
                1,
                Event::TurnStarted {
                    turn_id: "t1".into(),
                },
            ),
            stored(
                2,
                Event::TurnEnded {
                    turn_id: "t1".into(),
                    stop_reason: StopReason::Error,
                    error: Some("boom".into()),
                },
            ),
        ];
        let state = fold(&events);
        assert!(state.open_turn.is_none());
        assert!(state.unresolved.is_empty());
        assert_eq!(state.last_stop, Some(StopReason::Error));
    }
}
