//! The actor's part in an agent's config: what it offers (`config_changed`, with the
//! current mode in `mode_changed`), a user's change of it, and changes that wait.
//!
//! A change is checked against the last offer the log holds, then:
//! - the agent runs: it is sent (`AgentLink::configure`) and the request is answered when
//!   the agent answers — after the events its answer caused are committed;
//! - it does not: it is logged as pending (`config_pending`, the whole list) and answered
//!   at once (`applied: false`).
//!
//! When an agent starts, berth puts back what the user chose: the pending changes, and
//! every mode or option whose value the new process reports differently from the last
//! value the log holds (a new process starts from its defaults; the user's choice
//! should outlive it). The first prompt waits until the agent has answered those, so a
//! turn never runs with the wrong model.

use berth_agent::{AgentLink, Configured};
use berth_protocol::{AgentConfig, ConfigChange, Event, OptionSource};

use super::{Actor, ToAgent};
use crate::SessionError;
use crate::handle::{Delivered, Reply};
use crate::request::Response;

/// A change sent to the agent, waiting for its answer.
pub(super) struct Waiting {
    change: ConfigChange,
    /// The request to answer; `None` for a change berth made as the agent started.
    reply: Option<Reply>,
}

impl Actor {
    /// `Request::Configure`. Answers `reply` now, or once the agent has.
    pub(super) async fn configure(&mut self, change: ConfigChange, reply: Reply) {
        let offer = self.offer.clone().unwrap_or_default();
        let running = matches!(self.agent, super::agent::Agent::Up(_));
        // With no offer known yet the agent has not said what it has: the change waits
        // and is checked against what it offers when it starts.
        if (running || self.offer.is_some())
            && let Err(why) = offer.check(&change)
        {
            let _ = reply.send(Delivered::Answer(Err(SessionError::BadRequest(why))));
            return;
        }
        let mut reply = Some(reply);
        if let super::agent::Agent::Up(running) = &self.agent {
            let link = running.link().clone();
            match self.send_change(&link, change.clone(), reply.take()) {
                Ok(()) => return,
                // Its process is gone, the exit not yet seen: the change waits for the next.
                Err(back) => reply = back,
            }
        }
        self.pending_config
            .retain(|waiting| !waiting.same_target(&change));
        self.pending_config.push(change);
        self.emit(Event::ConfigPending {
            pending: self.pending_config.clone(),
        });
        let answer = self.flush().await.map(|()| Response::Configured {
            summary: Box::new(self.summary_now()),
            applied: false,
        });
        if let Some(reply) = reply {
            let _ = reply.send(Delivered::Answer(answer));
        }
    }

    /// Send `change` to the agent; gives `reply` back if its link is gone.
    fn send_change(
        &mut self,
        link: &AgentLink,
        change: ConfigChange,
        reply: Option<Reply>,
    ) -> Result<(), Option<Reply>> {
        let source = match &change {
            ConfigChange::Option { option, .. } => self
                .offer
                .as_ref()
                .and_then(|config| config.option(option))
                .map_or(OptionSource::ConfigOption, |option| option.source),
            ConfigChange::Mode { .. } => OptionSource::ConfigOption,
        };
        self.next_ticket += 1;
        let ticket = self.next_ticket;
        if link.configure(ticket, change.clone(), source).is_err() {
            return Err(reply);
        }
        self.configuring.insert(ticket, Waiting { change, reply });
        Ok(())
    }

    /// The agent started: log its offer, then put back what the user chose. Returns
    /// whether changes were sent (the first prompt waits for their answers).
    pub(super) fn on_agent_offer(&mut self, link: &AgentLink) -> bool {
        let before = self.offer.clone().unwrap_or_default();
        let mode_before = self.mode.clone();
        self.apply_offer(link.config().clone());
        if let Some(mode) = link.mode() {
            self.apply_mode(mode.to_owned());
        }
        let offer = self.offer.clone().unwrap_or_default();
        let mut changes = std::mem::take(&mut self.pending_config);
        let had_pending = !changes.is_empty();
        // The last value the log held of each choice, where the new process differs.
        if let Some(mode) = mode_before
            && self.mode.as_ref() != Some(&mode)
        {
            changes.push(ConfigChange::Mode { mode });
        }
        for option in &before.options {
            // An agent with modes that also offers them as an option (Claude Code,
            // Codex) has its mode put back once, as the mode: the option's logged value
            // may trail it.
            let alias_of_modes =
                !offer.modes.is_empty() && option.category.as_deref() == Some("mode");
            if !alias_of_modes
                && offer
                    .option(&option.id)
                    .is_some_and(|now| now.value != option.value)
            {
                changes.push(ConfigChange::Option {
                    option: option.id.clone(),
                    value: option.value.clone(),
                });
            }
        }
        // A pending change comes first and wins over a kept value for the same thing.
        let mut chosen: Vec<ConfigChange> = Vec::new();
        for change in changes {
            if !chosen.iter().any(|earlier| earlier.same_target(&change)) {
                chosen.push(change);
            }
        }
        if had_pending {
            self.emit(Event::ConfigPending {
                pending: Vec::new(),
            });
        }
        let mut sent = false;
        let mut unsent = Vec::new();
        for change in chosen {
            if let Err(why) = offer.check(&change) {
                self.emit(Event::Notice {
                    message: format!(
                        "The agent does not take {} any more ({why}); it keeps its own.",
                        describe(&change)
                    ),
                });
                continue;
            }
            match self.send_change(link, change.clone(), None) {
                Ok(()) => sent = true,
                Err(_) => unsent.push(change),
            }
        }
        self.pend_again(unsent);
        sent
    }

    /// The agent answered a change.
    pub(super) fn on_configured(&mut self, ticket: u64, result: Result<Configured, String>) {
        let Some(waiting) = self.configuring.remove(&ticket) else {
            return;
        };
        let outcome = match result {
            Ok(Configured::Made(ConfigChange::Mode { mode })) => {
                self.apply_mode(mode);
                Ok(())
            }
            Ok(Configured::Made(ConfigChange::Option { option, value })) => {
                let offer = self.offer.clone().unwrap_or_default();
                self.apply_offer(offer.with_option(&option, &value));
                Ok(())
            }
            Ok(Configured::Options(options)) => {
                self.on_options_update(AgentConfig {
                    modes: Vec::new(),
                    options,
                });
                Ok(())
            }
            Err(message) => Err(message),
        };
        match (waiting.reply, outcome) {
            (Some(reply), Ok(())) => self.to_agent.push(ToAgent::Configured(reply)),
            (Some(reply), Err(message)) => {
                let error = SessionError::Agent(format!("the agent refused: {message}"));
                let _ = reply.send(Delivered::Answer(Err(error)));
            }
            (None, Ok(())) => {}
            (None, Err(message)) => {
                self.emit(Event::Notice {
                    message: format!(
                        "The agent did not take {} ({message}); it keeps its own.",
                        describe(&waiting.change)
                    ),
                });
            }
        }
        self.prompt_when_configured();
    }

    /// Once the changes made as the agent started are answered, the waiting turn goes.
    pub(super) fn prompt_when_configured(&mut self) {
        if !self.prompt_after_config || self.configuring.values().any(|w| w.reply.is_none()) {
            return;
        }
        self.prompt_after_config = false;
        if self.turn.as_ref().is_some_and(|t| !t.cancel_requested) {
            self.to_agent.push(ToAgent::Prompt);
        }
    }

    /// The agent exited (or is being stopped): nobody will answer what it was asked. A
    /// request waiting for an answer is told so; a change berth made as the agent
    /// started waits again for the next one.
    pub(super) fn forget_configuring(&mut self) {
        self.prompt_after_config = false;
        let mut waiting: Vec<(u64, Waiting)> = self.configuring.drain().collect();
        waiting.sort_by_key(|(ticket, _)| *ticket);
        let mut unapplied = Vec::new();
        for (_, waiting) in waiting {
            match waiting.reply {
                Some(reply) => {
                    let error = SessionError::Unavailable(
                        "the agent exited before it answered; try again".into(),
                    );
                    let _ = reply.send(Delivered::Answer(Err(error)));
                }
                None => unapplied.push(waiting.change),
            }
        }
        self.pend_again(unapplied);
    }

    /// Changes that did not reach the agent wait for its next start.
    fn pend_again(&mut self, changes: Vec<ConfigChange>) {
        if changes.is_empty() {
            return;
        }
        for change in changes {
            // A change the user made since wins over one berth was putting back.
            if !self.pending_config.iter().any(|p| p.same_target(&change)) {
                self.pending_config.push(change);
            }
        }
        self.emit(Event::ConfigPending {
            pending: self.pending_config.clone(),
        });
    }

    /// The agent's offer is `offer` now: logged if it changed.
    pub(super) fn apply_offer(&mut self, offer: AgentConfig) {
        if self.offer.as_ref() == Some(&offer) || (self.offer.is_none() && offer.is_empty()) {
            return;
        }
        self.offer = Some(offer.clone());
        self.emit(Event::ConfigChanged { config: offer });
    }

    /// The agent's mode is `mode` now: logged if it changed.
    pub(super) fn apply_mode(&mut self, mode: String) {
        if self.mode.as_ref() == Some(&mode) {
            return;
        }
        self.mode = Some(mode.clone());
        self.emit(Event::ModeChanged { mode_id: mode });
    }

    /// The agent's config options now (a `config_option_update`, or the answer to
    /// `session/set_config_option`): they replace the options, but the modes (sent only
    /// as the session opens) and a model option made of the agent's model list (which
    /// no config option update carries) are kept.
    pub(super) fn on_options_update(&mut self, update: AgentConfig) {
        let known = self.offer.clone().unwrap_or_default();
        let mut options = update.options;
        let has_model = options
            .iter()
            .any(|o| o.category.as_deref() == Some("model"));
        if !has_model {
            options.extend(
                known
                    .options
                    .into_iter()
                    .filter(|o| o.source == OptionSource::ModelList),
            );
        }
        self.apply_offer(AgentConfig {
            modes: known.modes,
            options,
        });
    }
}

fn describe(change: &ConfigChange) -> String {
    match change {
        ConfigChange::Mode { mode } => format!("the mode `{mode}` chosen earlier"),
        ConfigChange::Option { option, value } => {
            format!("`{value}` for `{option}` chosen earlier")
        }
    }
}
