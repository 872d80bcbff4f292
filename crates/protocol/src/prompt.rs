//! Pending prompts (permission requests and questions), answers and resolutions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Event, Seq, Timestamp};

/// How a prompt was resolved: the `outcome` of `prompt_resolved`.
///
/// Wire shapes: `{"option_id": "…"}`, `{"answers": {"<question id>": "…"}}`,
/// `{"cancelled": true}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Outcome {
    Selected { option_id: String },
    Answered { answers: BTreeMap<String, String> },
    Cancelled { cancelled: bool },
}

impl Outcome {
    pub fn cancelled() -> Self {
        Outcome::Cancelled { cancelled: true }
    }
}

/// Body of `POST /sessions/{id}/prompts/{prompt_id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Answer {
    Select { option_id: String },
    Answers { answers: BTreeMap<String, String> },
    Cancel { cancel: bool },
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
pub struct Resolution {
    pub prompt_id: String,
    pub outcome: Outcome,
    pub resolved_at: Timestamp,
}

/// A pending prompt as listed by `GET /prompts`: its event plus where it lives.
///
/// `event` is a `permission_requested` or `question_asked` event, flattened so that
/// `kind`, `prompt_id` and the rest sit beside `session` and `seq`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prompt {
    pub session: String,
    pub seq: Seq,
    #[serde(flatten)]
    pub event: Event,
}
