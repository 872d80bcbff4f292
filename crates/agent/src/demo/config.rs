//! What the demo agent lets a user choose (PROTOCOL.md, "Demo agent"): modes `ask` and
//! `code` (the default) and a `model` config option (`demo-fast`, the default, or
//! `demo-smart`). A new process starts from the defaults, as a real agent that does not
//! remember them across restarts would; berth puts the user's choices back.

use agent_client_protocol as acp;
use agent_client_protocol::v1::schema::{
    SessionConfigOption, SessionConfigOptionCategory, SessionConfigOptionValue,
    SessionConfigSelectOption, SessionMode, SessionModeState,
};

pub(super) const DEFAULT_MODE: &str = "code";
pub(super) const DEFAULT_MODEL: &str = "demo-fast";

const MODES: [(&str, &str, &str); 2] = [
    ("ask", "Ask", "Answers questions; writes no files"),
    (
        "code",
        "Code",
        "Reads and writes files in the session's directory",
    ),
];

const MODELS: [(&str, &str); 2] = [("demo-fast", "Demo fast"), ("demo-smart", "Demo smart")];

/// The option id of the model.
const MODEL_OPTION: &str = "model";

pub(super) fn modes(current: &str) -> SessionModeState {
    SessionModeState::new(
        current.to_owned(),
        MODES
            .iter()
            .map(|(id, name, description)| {
                SessionMode::new(id.to_string(), *name).description(description.to_string())
            })
            .collect(),
    )
}

pub(super) fn options(model: &str) -> Vec<SessionConfigOption> {
    let values: Vec<SessionConfigSelectOption> = MODELS
        .iter()
        .map(|(id, name)| SessionConfigSelectOption::new(id.to_string(), *name))
        .collect();
    vec![
        SessionConfigOption::select(MODEL_OPTION, "Model", model.to_owned(), values)
            .category(SessionConfigOptionCategory::Model),
    ]
}

/// The mode `mode_id` if the demo has it, else the error `session/set_mode` answers.
pub(super) fn check_mode(mode_id: &str) -> Result<(), acp::Error> {
    if MODES.iter().any(|(id, _, _)| *id == mode_id) {
        Ok(())
    } else {
        Err(acp::Error::invalid_params().data(format!("the demo agent has no mode `{mode_id}`")))
    }
}

/// The model a `session/set_config_option` chooses, or the error it answers.
pub(super) fn chosen_model(
    config_id: &str,
    value: &SessionConfigOptionValue,
) -> Result<String, acp::Error> {
    if config_id != MODEL_OPTION {
        return Err(acp::Error::invalid_params()
            .data(format!("the demo agent has no option `{config_id}`")));
    }
    match value.as_value_id() {
        Some(id) if MODELS.iter().any(|(model, _)| *model == id.0.as_ref()) => Ok(id.0.to_string()),
        _ => {
            Err(acp::Error::invalid_params().data(format!("the demo agent has no model {value:?}")))
        }
    }
}
