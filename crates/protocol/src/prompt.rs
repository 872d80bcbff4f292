//! Pending prompts (permission requests and questions), answers and resolutions.

use std::collections::BTreeMap;

use serde::de::{Error as _, Unexpected};
use serde::{Deserialize, Deserializer, Serialize};

use crate::{Event, Seq, Timestamp};

/// How a prompt was resolved: the `outcome` of `prompt_resolved`.
///
/// Wire shapes: `{"option_id": "…"}`, `{"answers": {"<question id>": "…"}}`,
/// `{"cancelled": true}`. An answer may also be a list of strings (extension, for
/// `multiple` questions): `{"answers": {"<question id>": ["…", "…"]}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(untagged)]
pub enum Outcome {
    Selected {
        option_id: String,
    },
    Answered {
        answers: BTreeMap<String, AnswerValue>,
    },
    /// Always `cancelled: true`; `{"cancelled": false}` does not parse.
    Cancelled {
        #[serde(deserialize_with = "only_true")]
        #[cfg_attr(feature = "ts", ts(type = "true"))]
        cancelled: bool,
    },
}

impl Outcome {
    pub fn cancelled() -> Self {
        Outcome::Cancelled { cancelled: true }
    }
}

/// One question's answer in `answers`: a string, as in v1, or (extension) a list of
/// strings, the choices given to a `multiple` question. Plain strings serialise exactly
/// as before; a list is never joined into one string on its way to the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(untagged)]
pub enum AnswerValue {
    One(String),
    Many(Vec<String>),
}

impl AnswerValue {
    /// The choices this answer gives a `multiple` question offering `options`: a list as
    /// it is; a string that is one of the options is that one choice (commas and all);
    /// any other string is split on commas, trimmed, blanks dropped (free text typed as
    /// `a, b`, as berth read it before answers could be lists). The server's check and
    /// the agent's reply both use this, so what is checked is what the agent gets.
    pub fn choices(&self, options: Option<&[String]>) -> Vec<String> {
        match self {
            AnswerValue::Many(values) => values.clone(),
            AnswerValue::One(value) if options.is_some_and(|o| o.contains(value)) => {
                vec![value.clone()]
            }
            AnswerValue::One(value) => value
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }

    /// Unanswered: `""` or `[]` (an optional question may be submitted so).
    pub fn is_empty(&self) -> bool {
        match self {
            AnswerValue::One(value) => value.is_empty(),
            AnswerValue::Many(values) => values.is_empty(),
        }
    }
}

impl From<String> for AnswerValue {
    fn from(value: String) -> Self {
        AnswerValue::One(value)
    }
}

impl From<&str> for AnswerValue {
    fn from(value: &str) -> Self {
        AnswerValue::One(value.to_owned())
    }
}

impl From<Vec<String>> for AnswerValue {
    fn from(values: Vec<String>) -> Self {
        AnswerValue::Many(values)
    }
}

/// Body of `POST /sessions/{id}/prompts/{prompt_id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(untagged)]
pub enum Answer {
    Select {
        option_id: String,
    },
    Answers {
        answers: BTreeMap<String, AnswerValue>,
    },
    /// `{"cancel": true}`; `{"cancel": false}` does not parse (it is no answer).
    Cancel {
        #[serde(deserialize_with = "only_true")]
        #[cfg_attr(feature = "ts", ts(type = "true"))]
        cancel: bool,
    },
}

impl Answer {
    /// The `{"cancel": true}` answer.
    pub fn cancel() -> Self {
        Answer::Cancel { cancel: true }
    }
}

/// Accepts only the literal `true` (the `cancel` / `cancelled` markers).
fn only_true<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    if bool::deserialize(deserializer)? {
        Ok(true)
    } else {
        Err(D::Error::invalid_value(Unexpected::Bool(false), &"true"))
    }
}

impl Answer {
    /// The outcome this answer resolves a prompt with.
    pub fn into_outcome(self) -> Outcome {
        match self {
            Answer::Select { option_id } => Outcome::Selected { option_id },
            Answer::Answers { answers } => Outcome::Answered { answers },
            Answer::Cancel { .. } => Outcome::cancelled(),
        }
    }
}

/// The winning resolution of a prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Resolution {
    pub prompt_id: String,
    pub outcome: Outcome,
    pub resolved_at: Timestamp,
}

/// A pending prompt as listed by `GET /prompts`: its event plus where it lives.
///
/// `event` is a `permission_requested` or `question_asked` event, flattened so that
/// `kind`, `prompt_id` and the rest sit beside `session` and `seq`. Deserialising a
/// prompt of any other kind fails; build one with [`Prompt::new`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(try_from = "PromptWire")]
pub struct Prompt {
    pub session: String,
    pub seq: Seq,
    #[serde(flatten)]
    pub event: Event,
}

impl Prompt {
    /// The prompt for `event` at `seq` of `session`; `None` if `event` asks nothing
    /// (neither `permission_requested` nor `question_asked`).
    pub fn new(session: impl Into<String>, seq: Seq, event: Event) -> Option<Self> {
        event.asked_prompt_id()?;
        Some(Prompt {
            session: session.into(),
            seq,
            event,
        })
    }

    /// The prompt's id (`None` only for a hand-built prompt of the wrong kind).
    pub fn prompt_id(&self) -> Option<&str> {
        self.event.asked_prompt_id()
    }
}

/// [`Prompt`] as it arrives, before its kind is checked.
#[derive(Deserialize)]
struct PromptWire {
    session: String,
    seq: Seq,
    #[serde(flatten)]
    event: Event,
}

impl TryFrom<PromptWire> for Prompt {
    type Error = String;

    fn try_from(wire: PromptWire) -> Result<Self, Self::Error> {
        let kind = wire.event.kind();
        Prompt::new(wire.session, wire.seq, wire.event).ok_or_else(|| {
            format!("a prompt is a permission_requested or question_asked event, not {kind}")
        })
    }
}
