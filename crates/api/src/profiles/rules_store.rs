//! The view rules flamegraphs apply: rules from `vispyr.yaml` (read-only here) and
//! rules edited through the API, persisted as JSON in the data dir.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use vispyr_flamegraph::{CompiledRules, GroupBy, Rule, RuleSet};

use crate::ApiError;

/// File under the data dir that holds the API-edited rules.
pub const RULES_FILE: &str = "view_rules.json";

/// A rule as listed by the API, with where it comes from.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ListedRule {
    #[serde(flatten)]
    pub rule: Rule,
    /// `config` (vispyr.yaml, read-only) or `api`.
    pub source: &'static str,
}

/// Rules from config plus rules stored by the API.
pub struct RulesStore {
    path: PathBuf,
    config: RuleSet,
    stored: Mutex<RuleSet>,
}

impl RulesStore {
    /// Opens the store under `data_dir`; `config` are the rules of `vispyr.yaml`.
    pub fn open(data_dir: &Path, config: RuleSet) -> Result<RulesStore, String> {
        config
            .compile()
            .map_err(|e| format!("profiles.view_rules in the config: {e}"))?;
        let path = data_dir.join(RULES_FILE);
        let stored = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| format!("{} is not a valid rule set: {e}", path.display()))?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => RuleSet::default(),
            Err(error) => return Err(format!("reading {}: {error}", path.display())),
        };
        Ok(RulesStore {
            path,
            config,
            stored: Mutex::new(stored),
        })
    }

    /// Every rule: config first, then API rules.
    pub fn list(&self) -> (Vec<String>, Vec<ListedRule>) {
        let stored = self.stored.lock().expect("rules lock");
        let mut presets = self.config.presets.clone();
        presets.extend(stored.presets.iter().cloned());
        let rules = self
            .config
            .rules
            .iter()
            .map(|rule| ListedRule {
                rule: rule.clone(),
                source: "config",
            })
            .chain(stored.rules.iter().map(|rule| ListedRule {
                rule: rule.clone(),
                source: "api",
            }))
            .collect();
        (presets, rules)
    }

    /// The effective rule set (config then API rules), with `group_by`.
    pub fn effective(&self, group_by: GroupBy) -> RuleSet {
        let stored = self.stored.lock().expect("rules lock");
        let mut set = self.config.clone();
        set.presets.extend(stored.presets.iter().cloned());
        set.rules.extend(stored.rules.iter().cloned());
        set.grouped_by(group_by)
    }

    /// Compiles what a request asked for: `spec` is `default` (the stored view),
    /// `none`, or a comma-separated list of `preset:<language>` and `default`.
    pub fn compile(
        &self,
        spec: Option<&str>,
        group_by: GroupBy,
    ) -> Result<CompiledRules, ApiError> {
        let spec = spec.unwrap_or("default").trim();
        let mut set = RuleSet::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "none" => {}
                "default" => {
                    let effective = self.effective(GroupBy::None);
                    set.presets.extend(effective.presets);
                    set.rules.extend(effective.rules);
                }
                other => match other.strip_prefix("preset:") {
                    Some(language) => set.presets.push(language.to_owned()),
                    None => {
                        return Err(ApiError::BadRequest(format!(
                            "invalid rules={other:?}: use default, none or preset:<language>"
                        )));
                    }
                },
            }
        }
        set.grouped_by(group_by)
            .compile()
            .map_err(|e| ApiError::BadRequest(e.to_string()))
    }

    fn save(&self, set: &RuleSet) -> Result<(), ApiError> {
        let bytes =
            serde_json::to_vec_pretty(set).map_err(|e| ApiError::Internal(e.to_string()))?;
        let tmp = self.path.with_extension("json.tmp");
        std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, &self.path))
            .map_err(|e| ApiError::Internal(format!("saving {}: {e}", self.path.display())))
    }

    /// Changes the stored set with `edit`; the result must compile.
    fn update(
        &self,
        edit: impl FnOnce(&mut RuleSet) -> Result<(), ApiError>,
    ) -> Result<(), ApiError> {
        let mut stored = self.stored.lock().expect("rules lock");
        let mut next = stored.clone();
        edit(&mut next)?;
        next.compile()
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        self.save(&next)?;
        *stored = next;
        Ok(())
    }

    fn is_config_rule(&self, id: &str) -> bool {
        self.config.rules.iter().any(|rule| rule.id == id)
    }

    /// Adds a rule; an empty id gets a fresh one. Returns the stored rule.
    pub fn create(&self, mut rule: Rule) -> Result<Rule, ApiError> {
        self.update(|set| {
            if rule.id.is_empty() {
                rule.id = uuid::Uuid::now_v7().simple().to_string()[..12].to_owned();
            }
            if set.rules.iter().any(|r| r.id == rule.id) || self.is_config_rule(&rule.id) {
                return Err(ApiError::Conflict(format!(
                    "a rule with id {:?} exists",
                    rule.id
                )));
            }
            set.rules.push(rule.clone());
            Ok(())
        })?;
        Ok(rule)
    }

    /// Replaces the rule with `id`.
    pub fn replace(&self, id: &str, mut rule: Rule) -> Result<Rule, ApiError> {
        if self.is_config_rule(id) {
            return Err(self.read_only(id));
        }
        rule.id = id.to_owned();
        self.update(|set| {
            let slot = set
                .rules
                .iter_mut()
                .find(|r| r.id == id)
                .ok_or_else(|| ApiError::NotFound(format!("no rule with id {id:?}")))?;
            *slot = rule.clone();
            Ok(())
        })?;
        Ok(rule)
    }

    /// Deletes the rule with `id`.
    pub fn delete(&self, id: &str) -> Result<(), ApiError> {
        if self.is_config_rule(id) {
            return Err(self.read_only(id));
        }
        self.update(|set| {
            let before = set.rules.len();
            set.rules.retain(|r| r.id != id);
            if set.rules.len() == before {
                return Err(ApiError::NotFound(format!("no rule with id {id:?}")));
            }
            Ok(())
        })
    }

    /// Sets the stored presets (config presets always apply).
    pub fn set_presets(&self, presets: Vec<String>) -> Result<(), ApiError> {
        self.update(|set| {
            set.presets = presets;
            Ok(())
        })
    }

    fn read_only(&self, id: &str) -> ApiError {
        ApiError::Conflict(format!(
            "rule {id:?} is defined in the config file; edit profiles.view_rules there"
        ))
    }
}
