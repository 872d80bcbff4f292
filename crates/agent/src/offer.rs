//! What an agent offers to choose, in berth's words ([`AgentConfig`]), read from the
//! answer that opened its session, and the requests that change a choice.
//!
//! The answer is read as JSON, not through the ACP crate's response types, because the
//! model list agents send under ACP's unstable `models` field has no type in the crate
//! we pin; `modes` and `configOptions` are still parsed with the crate's types (so a
//! malformed option is skipped as the crate skips it).

use agent_client_protocol::v1::schema as acp;
use berth_protocol::{
    AgentConfig, ConfigChange, ConfigChoice, ConfigOption, OptionKind, OptionSource, OptionValue,
};
use serde::Deserialize;
use serde_json::Value;

/// The offer in a `session/new|load|resume` answer, and the current mode.
pub(crate) fn from_answer(answer: &Value) -> (AgentConfig, Option<String>) {
    let modes: Option<acp::SessionModeState> = answer
        .get("modes")
        .and_then(|modes| serde_json::from_value(modes.clone()).ok());
    let mut options = answer
        .get("configOptions")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|option| serde_json::from_value(option.clone()).ok())
                .map(|option: acp::SessionConfigOption| config_option(&option))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    // Only an agent with no model option of its own gets one from its model list:
    // two pickers for one model would disagree.
    let has_model = options
        .iter()
        .any(|option| option.category.as_deref() == Some("model"));
    if !has_model
        && let Some(models) = answer
            .get("models")
            .and_then(|models| serde_json::from_value::<ModelList>(models.clone()).ok())
        && !models.available_models.is_empty()
    {
        options.push(models.into_option());
    }
    let current = modes.as_ref().map(|m| m.current_mode_id.0.to_string());
    let modes = modes
        .map(|state| {
            state
                .available_modes
                .iter()
                .map(|mode| ConfigChoice {
                    id: mode.id.0.to_string(),
                    name: mode.name.clone(),
                    description: mode.description.clone(),
                    group: None,
                })
                .collect()
        })
        .unwrap_or_default();
    (AgentConfig { modes, options }, current)
}

/// The id berth gives the option made of an agent's model list.
const MODEL_LIST_OPTION: &str = "model";

/// ACP's unstable `models` (`SessionModelState`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ModelList {
    current_model_id: String,
    #[serde(default)]
    available_models: Vec<ModelInfo>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ModelInfo {
    model_id: String,
    name: String,
    #[serde(default)]
    description: Option<String>,
}

impl ModelList {
    fn into_option(self) -> ConfigOption {
        ConfigOption {
            id: MODEL_LIST_OPTION.into(),
            name: "Model".into(),
            description: None,
            category: Some("model".into()),
            kind: OptionKind::Select,
            value: OptionValue::Id(self.current_model_id),
            values: self
                .available_models
                .into_iter()
                .map(|model| ConfigChoice {
                    id: model.model_id,
                    name: model.name,
                    description: model.description,
                    group: None,
                })
                .collect(),
            source: OptionSource::ModelList,
        }
    }
}

/// berth's form of the agent's config options (`config_option_update`, or the answer to
/// `session/set_config_option`).
pub(crate) fn config_options(options: &[acp::SessionConfigOption]) -> Vec<ConfigOption> {
    options.iter().map(config_option).collect()
}

fn config_option(option: &acp::SessionConfigOption) -> ConfigOption {
    let (kind, value, values) = match &option.kind {
        acp::SessionConfigKind::Select(select) => (
            OptionKind::Select,
            OptionValue::Id(select.current_value.0.to_string()),
            select_values(&select.options),
        ),
        acp::SessionConfigKind::Boolean(flag) => (
            OptionKind::Boolean,
            OptionValue::Flag(flag.current_value),
            Vec::new(),
        ),
        // A kind newer than berth: shown with its id as the value, never settable.
        #[allow(unreachable_patterns)]
        _ => (
            OptionKind::Select,
            OptionValue::Id(String::new()),
            Vec::new(),
        ),
    };
    ConfigOption {
        id: option.id.0.to_string(),
        name: option.name.clone(),
        description: option.description.clone(),
        category: option.category.as_ref().map(category),
        kind,
        value,
        values,
        source: OptionSource::ConfigOption,
    }
}

fn select_values(options: &acp::SessionConfigSelectOptions) -> Vec<ConfigChoice> {
    let choice = |value: &acp::SessionConfigSelectOption, group: Option<&str>| ConfigChoice {
        id: value.value.0.to_string(),
        name: value.name.clone(),
        description: value.description.clone(),
        group: group.map(str::to_owned),
    };
    match options {
        acp::SessionConfigSelectOptions::Ungrouped(values) => {
            values.iter().map(|value| choice(value, None)).collect()
        }
        acp::SessionConfigSelectOptions::Grouped(groups) => groups
            .iter()
            .flat_map(|group| {
                group
                    .options
                    .iter()
                    .map(|value| choice(value, Some(&group.name)))
            })
            .collect(),
        #[allow(unreachable_patterns)]
        _ => Vec::new(),
    }
}

fn category(category: &acp::SessionConfigOptionCategory) -> String {
    match category {
        acp::SessionConfigOptionCategory::Other(other) => other.clone(),
        known => match serde_json::to_value(known) {
            Ok(Value::String(name)) => name,
            _ => "other".into(),
        },
    }
}

/// The ACP request that makes `change`: its method and params. `source` is where the
/// option came from (see [`OptionSource`]).
pub(crate) fn request(
    session_id: &str,
    change: &ConfigChange,
    source: OptionSource,
) -> (&'static str, Value) {
    match (change, source) {
        (ConfigChange::Mode { mode }, _) => (
            "session/set_mode",
            serde_json::json!({ "sessionId": session_id, "modeId": mode }),
        ),
        (ConfigChange::Option { value, .. }, OptionSource::ModelList) => (
            "session/set_model",
            serde_json::json!({ "sessionId": session_id, "modelId": value.to_string() }),
        ),
        (ConfigChange::Option { option, value }, OptionSource::ConfigOption) => {
            let value = match value {
                OptionValue::Flag(flag) => acp::SessionConfigOptionValue::boolean(*flag),
                OptionValue::Id(id) => acp::SessionConfigOptionValue::value_id(id.clone()),
            };
            let request = acp::SetSessionConfigOptionRequest::new(
                session_id.to_owned(),
                option.clone(),
                value,
            );
            (
                "session/set_config_option",
                serde_json::to_value(request).expect("a request serialises"),
            )
        }
    }
}

/// The options an answer to `session/set_config_option` lists (all of them, as now).
pub(crate) fn options_in_answer(answer: &Value) -> Option<Vec<ConfigOption>> {
    let answer: acp::SetSessionConfigOptionResponse =
        serde_json::from_value(answer.clone()).ok()?;
    Some(config_options(&answer.config_options))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_answer_gives_modes_options_and_a_model_list_as_one_offer() {
        let answer = json!({
            "sessionId": "s",
            "modes": {"currentModeId": "code", "availableModes": [
                {"id": "ask", "name": "Ask"},
                {"id": "code", "name": "Code", "description": "Edits files"}
            ]},
            "configOptions": [
                {"id": "effort", "name": "Effort", "category": "thought_level", "type": "select",
                 "currentValue": "low", "options": [
                    {"group": "g", "name": "Levels", "options": [
                        {"value": "low", "name": "Low"}, {"value": "high", "name": "High"}
                    ]}
                 ]},
                {"id": "yolo", "name": "Auto-approve", "type": "boolean", "currentValue": false},
                {"id": "broken", "name": "No type"}
            ],
            "models": {"currentModelId": "m1", "availableModels": [
                {"modelId": "m1", "name": "Model one"}, {"modelId": "m2", "name": "Model two"}
            ]}
        });
        let (config, mode) = from_answer(&answer);
        assert_eq!(mode.as_deref(), Some("code"));
        let ids: Vec<&str> = config.modes.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["ask", "code"]);
        let ids: Vec<&str> = config.options.iter().map(|o| o.id.as_str()).collect();
        assert_eq!(
            ids,
            ["effort", "yolo", "model"],
            "the malformed option is skipped"
        );
        let effort = config.option("effort").unwrap();
        assert_eq!(effort.category.as_deref(), Some("thought_level"));
        assert_eq!(effort.values[1].group.as_deref(), Some("Levels"));
        assert_eq!(
            config.option("yolo").unwrap().value,
            OptionValue::Flag(false)
        );
        let model = config.option("model").unwrap();
        assert_eq!(model.source, OptionSource::ModelList);
        assert_eq!(model.value, OptionValue::Id("m1".into()));

        let (method, params) = request(
            "s",
            &ConfigChange::Option {
                option: "model".into(),
                value: OptionValue::Id("m2".into()),
            },
            OptionSource::ModelList,
        );
        assert_eq!(method, "session/set_model");
        assert_eq!(params, json!({"sessionId": "s", "modelId": "m2"}));
        let (method, params) = request(
            "s",
            &ConfigChange::Option {
                option: "yolo".into(),
                value: OptionValue::Flag(true),
            },
            OptionSource::ConfigOption,
        );
        assert_eq!(method, "session/set_config_option");
        assert_eq!(
            params,
            json!({"sessionId": "s", "configId": "yolo", "type": "boolean", "value": true})
        );
    }

    #[test]
    fn a_model_config_option_wins_over_the_model_list() {
        let answer = json!({
            "sessionId": "s",
            "configOptions": [{"id": "model", "name": "Model", "category": "model",
                "type": "select", "currentValue": "a", "options": [{"value": "a", "name": "A"}]}],
            "models": {"currentModelId": "a", "availableModels": [{"modelId": "a", "name": "A"}]}
        });
        let (config, mode) = from_answer(&answer);
        assert_eq!(mode, None);
        assert_eq!(config.options.len(), 1);
        assert_eq!(config.options[0].source, OptionSource::ConfigOption);
        assert!(from_answer(&json!({"sessionId": "s"})).0.is_empty());
    }
}
