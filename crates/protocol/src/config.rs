//! What an agent lets a user choose for a session (its modes and config options), what
//! a user asks to change, and the one check of a change against an offer.
//!
//! The agent announces its offer when its session opens (ACP `modes`, `configOptions`
//! and, for agents that only have that, the unstable `models` list) and updates it
//! later (`current_mode_update`, `config_option_update`). berth logs the offer as
//! `config_changed` and the current mode as `mode_changed`; both are in the summary.

use serde::{Deserialize, Serialize};

/// The agent's offer: the modes it has (the current one is `Session.mode`) and its
/// config options, each with its current value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AgentConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modes: Vec<ConfigChoice>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<ConfigOption>,
}

/// One mode, or one value of a `select` option.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ConfigChoice {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub description: Option<String>,
    /// The name of the group the agent put this value in, if it grouped them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub group: Option<String>,
}

/// One config option (ACP `SessionConfigOption`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ConfigOption {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub description: Option<String>,
    /// ACP's category: `mode`, `model`, `model_config`, `thought_level`, or the agent's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub category: Option<String>,
    pub kind: OptionKind,
    /// The current value: a value id (`select`) or `true`/`false` (`boolean`).
    pub value: OptionValue,
    /// The values of a `select` (empty for a `boolean`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<ConfigChoice>,
    /// `model_list`: the agent's unstable model list (set through `session/set_model`),
    /// shown as an option because the agent has no model config option.
    #[serde(default, skip_serializing_if = "OptionSource::is_config_option")]
    #[cfg_attr(feature = "ts", ts(as = "Option<OptionSource>", optional))]
    pub source: OptionSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum OptionKind {
    Select,
    Boolean,
}

/// Where an option comes from, which decides how it is set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum OptionSource {
    /// ACP `configOptions`: `session/set_config_option`.
    #[default]
    ConfigOption,
    /// The unstable `models` list: `session/set_model`.
    ModelList,
}

impl OptionSource {
    fn is_config_option(&self) -> bool {
        *self == OptionSource::ConfigOption
    }
}

/// An option's value: a value id or a flag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(untagged)]
pub enum OptionValue {
    Flag(bool),
    Id(String),
}

impl std::fmt::Display for OptionValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OptionValue::Flag(flag) => write!(f, "{flag}"),
            OptionValue::Id(id) => f.write_str(id),
        }
    }
}

/// A change a user asks for (`PATCH /sessions/{id}/config`), as logged while it waits
/// for the agent to start (`config_pending`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(untagged)]
pub enum ConfigChange {
    Mode { mode: String },
    Option { option: String, value: OptionValue },
}

impl ConfigChange {
    /// Whether `self` and `other` set the same thing (a later one replaces an earlier one).
    pub fn same_target(&self, other: &ConfigChange) -> bool {
        match (self, other) {
            (ConfigChange::Mode { .. }, ConfigChange::Mode { .. }) => true,
            (ConfigChange::Option { option: a, .. }, ConfigChange::Option { option: b, .. }) => {
                a == b
            }
            _ => false,
        }
    }
}

impl AgentConfig {
    pub fn is_empty(&self) -> bool {
        self.modes.is_empty() && self.options.is_empty()
    }

    pub fn option(&self, id: &str) -> Option<&ConfigOption> {
        self.options.iter().find(|option| option.id == id)
    }

    /// Whether `change` is something this offer has; `Err` says what is wrong, naming it.
    pub fn check(&self, change: &ConfigChange) -> Result<(), String> {
        match change {
            ConfigChange::Mode { mode } => {
                if self.modes.is_empty() {
                    return Err("the agent offers no modes".into());
                }
                if self.modes.iter().any(|offered| &offered.id == mode) {
                    return Ok(());
                }
                Err(format!(
                    "unknown mode `{mode}`; the agent offers {}",
                    list(self.modes.iter().map(|m| m.id.as_str()))
                ))
            }
            ConfigChange::Option { option, value } => {
                let Some(offered) = self.option(option) else {
                    return Err(if self.options.is_empty() {
                        format!("unknown option `{option}`; the agent offers no config options")
                    } else {
                        format!(
                            "unknown option `{option}`; the agent offers {}",
                            list(self.options.iter().map(|o| o.id.as_str()))
                        )
                    });
                };
                match (offered.kind, value) {
                    (OptionKind::Boolean, OptionValue::Flag(_)) => Ok(()),
                    (OptionKind::Boolean, OptionValue::Id(_)) => Err(format!(
                        "option `{option}` takes `true` or `false`, not a string"
                    )),
                    (OptionKind::Select, OptionValue::Id(id))
                        if offered.values.iter().any(|v| &v.id == id) =>
                    {
                        Ok(())
                    }
                    (OptionKind::Select, _) => Err(format!(
                        "option `{option}` has no value `{value}`; it takes {}",
                        list(offered.values.iter().map(|v| v.id.as_str()))
                    )),
                }
            }
        }
    }

    /// This offer with `change` made (as the agent reports it once it agreed).
    pub fn with_option(&self, option: &str, value: &OptionValue) -> AgentConfig {
        let mut config = self.clone();
        if let Some(offered) = config.options.iter_mut().find(|o| o.id == option) {
            offered.value = value.clone();
        }
        config
    }
}

fn list<'a>(ids: impl Iterator<Item = &'a str>) -> String {
    let ids: Vec<String> = ids.map(|id| format!("`{id}`")).collect();
    ids.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer() -> AgentConfig {
        let choice = |id: &str| ConfigChoice {
            id: id.into(),
            name: id.into(),
            description: None,
            group: None,
        };
        AgentConfig {
            modes: vec![choice("ask"), choice("code")],
            options: vec![
                ConfigOption {
                    id: "model".into(),
                    name: "Model".into(),
                    description: None,
                    category: Some("model".into()),
                    kind: OptionKind::Select,
                    value: OptionValue::Id("fast".into()),
                    values: vec![choice("fast"), choice("smart")],
                    source: OptionSource::ConfigOption,
                },
                ConfigOption {
                    id: "think".into(),
                    name: "Think".into(),
                    description: None,
                    category: None,
                    kind: OptionKind::Boolean,
                    value: OptionValue::Flag(false),
                    values: vec![],
                    source: OptionSource::ConfigOption,
                },
            ],
        }
    }

    fn option(option: &str, value: OptionValue) -> ConfigChange {
        ConfigChange::Option {
            option: option.into(),
            value,
        }
    }

    #[test]
    fn offered_changes_pass_and_the_rest_are_named() {
        let offer = offer();
        assert!(
            offer
                .check(&ConfigChange::Mode { mode: "ask".into() })
                .is_ok()
        );
        assert!(
            offer
                .check(&option("model", OptionValue::Id("smart".into())))
                .is_ok()
        );
        assert!(
            offer
                .check(&option("think", OptionValue::Flag(true)))
                .is_ok()
        );

        let error = offer
            .check(&ConfigChange::Mode {
                mode: "yolo".into(),
            })
            .unwrap_err();
        assert_eq!(error, "unknown mode `yolo`; the agent offers `ask`, `code`");
        let error = offer
            .check(&option("colour", OptionValue::Id("red".into())))
            .unwrap_err();
        assert_eq!(
            error,
            "unknown option `colour`; the agent offers `model`, `think`"
        );
        let error = offer
            .check(&option("model", OptionValue::Id("huge".into())))
            .unwrap_err();
        assert_eq!(
            error,
            "option `model` has no value `huge`; it takes `fast`, `smart`"
        );
        let error = offer
            .check(&option("model", OptionValue::Flag(true)))
            .unwrap_err();
        assert!(error.contains("no value `true`"), "{error}");
        let error = offer
            .check(&option("think", OptionValue::Id("yes".into())))
            .unwrap_err();
        assert!(error.contains("takes `true` or `false`"), "{error}");
        let error = AgentConfig::default()
            .check(&ConfigChange::Mode { mode: "ask".into() })
            .unwrap_err();
        assert_eq!(error, "the agent offers no modes");
    }

    #[test]
    fn changes_are_the_patch_bodies_on_the_wire() {
        let mode: ConfigChange = serde_json::from_str(r#"{"mode":"ask"}"#).unwrap();
        assert_eq!(mode, ConfigChange::Mode { mode: "ask".into() });
        let flag: ConfigChange =
            serde_json::from_str(r#"{"option":"think","value":true}"#).unwrap();
        assert_eq!(flag, option("think", OptionValue::Flag(true)));
        assert_eq!(
            serde_json::to_string(&option("model", OptionValue::Id("smart".into()))).unwrap(),
            r#"{"option":"model","value":"smart"}"#
        );
        assert!(mode.same_target(&ConfigChange::Mode {
            mode: "code".into()
        }));
        assert!(!mode.same_target(&flag));
    }
}
