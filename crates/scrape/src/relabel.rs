//! Prometheus relabelling (`relabel_configs`, `metric_relabel_configs`).
//!
//! Semantics follow Prometheus 2.42's `model/relabel`: the regex is anchored at
//! both ends, the source values are joined with the separator (missing labels
//! count as empty), replacement templates expand `$1`, `${1}`, `$name` and
//! `${name}` like Go's `Regexp.Expand`, and setting a label to an empty value
//! deletes it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use md5::{Digest, Md5};
use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A label set under construction, ordered by label name.
pub type LabelMap = BTreeMap<String, String>;

/// What a relabel rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RelabelAction {
    /// Set `target_label` to the expanded `replacement` when `regex` matches.
    #[default]
    Replace,
    /// Drop the label set unless `regex` matches the joined source values.
    Keep,
    /// Drop the label set when `regex` matches the joined source values.
    Drop,
    /// Drop the label set unless the joined source values equal `target_label`'s value.
    KeepEqual,
    /// Drop the label set when the joined source values equal `target_label`'s value.
    DropEqual,
    /// Set `target_label` to `md5(joined) % modulus`.
    HashMod,
    /// Copy every label whose name matches `regex` to the expanded `replacement`.
    LabelMap,
    /// Remove every label whose name matches `regex`.
    LabelDrop,
    /// Remove every label whose name does not match `regex`.
    LabelKeep,
    /// Set `target_label` to the lower-cased joined source values.
    Lowercase,
    /// Set `target_label` to the upper-cased joined source values.
    Uppercase,
}

/// A regex as written in the config, compiled anchored (`^(?:...)$`).
#[derive(Debug, Clone)]
pub struct RelabelRegex {
    source: String,
    compiled: Regex,
}

impl RelabelRegex {
    /// Compiles `source` anchored at both ends.
    pub fn new(source: &str) -> Result<Self, String> {
        let compiled = Regex::new(&format!("^(?:{source})$"))
            .map_err(|err| format!("invalid regex {source:?}: {err}"))?;
        Ok(Self {
            source: source.to_string(),
            compiled,
        })
    }

    /// The regex as written in the config.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    fn is_default(&self) -> bool {
        self.source == DEFAULT_REGEX
    }
}

impl Default for RelabelRegex {
    fn default() -> Self {
        Self::new(DEFAULT_REGEX).expect("the default regex compiles")
    }
}

impl PartialEq for RelabelRegex {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Serialize for RelabelRegex {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for RelabelRegex {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let source = String::deserialize(deserializer)?;
        Self::new(&source).map_err(serde::de::Error::custom)
    }
}

const DEFAULT_REGEX: &str = "(.*)";
const DEFAULT_SEPARATOR: &str = ";";
const DEFAULT_REPLACEMENT: &str = "$1";

fn default_separator() -> String {
    DEFAULT_SEPARATOR.to_string()
}

fn default_replacement() -> String {
    DEFAULT_REPLACEMENT.to_string()
}

/// One relabel rule, with the field names and defaults of Prometheus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelabelConfig {
    /// Labels whose values are joined with `separator` to form the input.
    #[serde(default)]
    pub source_labels: Vec<String>,
    /// Separator placed between source label values. Default `;`.
    #[serde(default = "default_separator")]
    pub separator: String,
    /// Regex matched against the joined input (or label names for the label*
    /// actions), anchored at both ends. Default `(.*)`.
    #[serde(default)]
    pub regex: RelabelRegex,
    /// Modulus for `hashmod`.
    #[serde(default)]
    pub modulus: u64,
    /// Label written by `replace`, `hashmod`, `lowercase`, `uppercase`, or
    /// compared by `keepequal`/`dropequal`. May contain `$1`-style references
    /// for `replace`.
    #[serde(default)]
    pub target_label: String,
    /// Template written to `target_label` (`replace`) or used as the new
    /// label name (`labelmap`). Default `$1`.
    #[serde(default = "default_replacement")]
    pub replacement: String,
    /// The action; default `replace`.
    #[serde(default)]
    pub action: RelabelAction,
}

impl Default for RelabelConfig {
    fn default() -> Self {
        Self {
            source_labels: Vec::new(),
            separator: default_separator(),
            regex: RelabelRegex::default(),
            modulus: 0,
            target_label: String::new(),
            replacement: default_replacement(),
            action: RelabelAction::Replace,
        }
    }
}

/// Whether `name` is a valid Prometheus label name.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(first) if first.is_ascii_alphabetic() || first == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Whether `template` is a valid `replace` target: a label name that may
/// contain `$1`/`${name}` references (Prometheus's `relabelTarget`).
fn is_valid_target_template(template: &str) -> bool {
    static_target_regex().is_match(template)
}

fn static_target_regex() -> &'static Regex {
    static TARGET: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    TARGET.get_or_init(|| {
        Regex::new(r"^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$").expect("target regex compiles")
    })
}

impl RelabelConfig {
    /// Checks the rule the way Prometheus's config loader does.
    pub fn validate(&self) -> Result<(), String> {
        use RelabelAction as A;
        let action = self.action;
        let needs_target = matches!(
            action,
            A::Replace | A::HashMod | A::Lowercase | A::Uppercase | A::KeepEqual | A::DropEqual
        );
        if needs_target && self.target_label.is_empty() {
            return Err(format!(
                "relabel configuration for {action:?} action requires 'target_label' value"
            ));
        }
        if matches!(action, A::Replace) && !is_valid_target_template(&self.target_label) {
            return Err(format!(
                "{:?} is invalid 'target_label' for replace action",
                self.target_label
            ));
        }
        let plain_target = matches!(
            action,
            A::HashMod | A::Lowercase | A::Uppercase | A::KeepEqual | A::DropEqual
        );
        if plain_target && !is_valid_label_name(&self.target_label) {
            return Err(format!(
                "{:?} is invalid 'target_label' for {action:?} action",
                self.target_label
            ));
        }
        if matches!(action, A::HashMod) && self.modulus == 0 {
            return Err("relabel configuration for hashmod requires non-zero modulus".to_string());
        }
        if matches!(action, A::LabelMap) && !is_valid_target_template(&self.replacement) {
            return Err(format!(
                "{:?} is invalid 'replacement' for labelmap action",
                self.replacement
            ));
        }
        if matches!(action, A::LabelDrop | A::LabelKeep) {
            let only_regex = self.source_labels.is_empty()
                && self.separator == DEFAULT_SEPARATOR
                && self.target_label.is_empty()
                && self.modulus == 0
                && self.replacement == DEFAULT_REPLACEMENT;
            if !only_regex {
                return Err(format!(
                    "{action:?} action requires only 'regex', and no other fields"
                ));
            }
        }
        if matches!(action, A::KeepEqual | A::DropEqual)
            && (!self.regex.is_default() || self.replacement != DEFAULT_REPLACEMENT)
        {
            return Err(format!(
                "{action:?} action requires only 'source_labels' and 'target_label'"
            ));
        }
        for name in &self.source_labels {
            if !is_valid_label_name(name) {
                return Err(format!(
                    "{name:?} is not a valid label name in 'source_labels'"
                ));
            }
        }
        Ok(())
    }
}

/// Applies `configs` in order; returns `false` when the label set is dropped.
pub fn relabel(labels: &mut LabelMap, configs: &[RelabelConfig]) -> bool {
    for config in configs {
        if !relabel_one(labels, config) {
            return false;
        }
    }
    true
}

/// Sets `name` to `value`, deleting it when `value` is empty (Prometheus's `labels.Builder.Set`).
fn set_label(labels: &mut LabelMap, name: String, value: String) {
    if value.is_empty() {
        labels.remove(&name);
    } else {
        labels.insert(name, value);
    }
}

fn joined_source_values(labels: &LabelMap, config: &RelabelConfig) -> String {
    let mut joined = String::new();
    for (index, name) in config.source_labels.iter().enumerate() {
        if index > 0 {
            joined.push_str(&config.separator);
        }
        if let Some(value) = labels.get(name) {
            joined.push_str(value);
        }
    }
    joined
}

fn relabel_one(labels: &mut LabelMap, config: &RelabelConfig) -> bool {
    let regex = &config.regex.compiled;
    let value = joined_source_values(labels, config);
    match config.action {
        RelabelAction::Keep => regex.is_match(&value),
        RelabelAction::Drop => !regex.is_match(&value),
        RelabelAction::KeepEqual => {
            labels
                .get(&config.target_label)
                .map(String::as_str)
                .unwrap_or("")
                == value
        }
        RelabelAction::DropEqual => {
            labels
                .get(&config.target_label)
                .map(String::as_str)
                .unwrap_or("")
                != value
        }
        RelabelAction::Replace => {
            let Some(captures) = regex.captures(&value) else {
                return true;
            };
            let mut target = String::new();
            captures.expand(&config.target_label, &mut target);
            if !is_valid_label_name(&target) {
                labels.remove(&config.target_label);
                return true;
            }
            let mut replaced = String::new();
            captures.expand(&config.replacement, &mut replaced);
            set_label(labels, target, replaced);
            true
        }
        RelabelAction::Lowercase => {
            set_label(labels, config.target_label.clone(), value.to_lowercase());
            true
        }
        RelabelAction::Uppercase => {
            set_label(labels, config.target_label.clone(), value.to_uppercase());
            true
        }
        RelabelAction::HashMod => {
            let digest = Md5::digest(value.as_bytes());
            let mut tail = [0u8; 8];
            tail.copy_from_slice(&digest[8..16]);
            let bucket = u64::from_be_bytes(tail) % config.modulus.max(1);
            let mut text = String::new();
            let _ = write!(text, "{bucket}");
            set_label(labels, config.target_label.clone(), text);
            true
        }
        RelabelAction::LabelMap => {
            let mut additions = Vec::new();
            for (name, label_value) in labels.iter() {
                if let Some(captures) = regex.captures(name) {
                    let mut new_name = String::new();
                    captures.expand(&config.replacement, &mut new_name);
                    additions.push((new_name, label_value.clone()));
                }
            }
            for (name, label_value) in additions {
                set_label(labels, name, label_value);
            }
            true
        }
        RelabelAction::LabelDrop => {
            labels.retain(|name, _| !regex.is_match(name));
            true
        }
        RelabelAction::LabelKeep => {
            labels.retain(|name, _| regex.is_match(name));
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> LabelMap {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn rule(yaml: &str) -> RelabelConfig {
        let config: RelabelConfig = serde_norway::from_str(yaml).unwrap();
        config.validate().unwrap();
        config
    }

    #[test]
    fn defaults_match_prometheus() {
        let config = rule("target_label: x");
        assert_eq!(config.separator, ";");
        assert_eq!(config.regex.as_str(), "(.*)");
        assert_eq!(config.replacement, "$1");
        assert_eq!(config.action, RelabelAction::Replace);
    }

    #[test]
    fn replace_joins_sources_and_expands_groups() {
        let config = rule(
            "source_labels: [a, b]\nregex: '(.*);(.*)'\ntarget_label: c\nreplacement: '${2}-$1'",
        );
        let mut set = labels(&[("a", "x"), ("b", "y")]);
        assert!(relabel(&mut set, &[config]));
        assert_eq!(set["c"], "y-x");
    }

    #[test]
    fn replace_regex_is_anchored() {
        let config = rule("source_labels: [a]\nregex: 'b'\ntarget_label: c\nreplacement: hit");
        let mut set = labels(&[("a", "abc")]);
        relabel(&mut set, std::slice::from_ref(&config));
        assert!(!set.contains_key("c"), "unanchored match must not apply");
        let mut exact = labels(&[("a", "b")]);
        relabel(&mut exact, &[config]);
        assert_eq!(exact["c"], "hit");
    }

    #[test]
    fn replace_with_empty_result_deletes_target() {
        let config = rule("source_labels: [missing]\ntarget_label: a");
        let mut set = labels(&[("a", "1")]);
        relabel(&mut set, &[config]);
        assert!(!set.contains_key("a"));
    }

    #[test]
    fn replace_dollar_name_takes_longest_name_like_go() {
        // Go's Expand reads `$1x` as the group named `1x`, which does not exist.
        let config = rule("source_labels: [a]\nregex: '(.*)'\ntarget_label: b\nreplacement: '$1x'");
        let mut set = labels(&[("a", "v")]);
        relabel(&mut set, &[config]);
        assert!(!set.contains_key("b"));
    }

    #[test]
    fn replace_target_label_template_is_expanded() {
        let config =
            rule("source_labels: [a]\nregex: '(.*)'\ntarget_label: 'l_$1'\nreplacement: yes");
        let mut set = labels(&[("a", "foo")]);
        relabel(&mut set, &[config]);
        assert_eq!(set["l_foo"], "yes");
    }

    #[test]
    fn keep_and_drop() {
        let keep = rule("action: keep\nsource_labels: [env]\nregex: prod|staging");
        let drop = rule("action: drop\nsource_labels: [env]\nregex: prod");
        assert!(relabel(
            &mut labels(&[("env", "prod")]),
            std::slice::from_ref(&keep)
        ));
        assert!(!relabel(
            &mut labels(&[("env", "dev")]),
            std::slice::from_ref(&keep)
        ));
        assert!(!relabel(&mut labels(&[]), std::slice::from_ref(&keep)));
        assert!(!relabel(
            &mut labels(&[("env", "prod")]),
            std::slice::from_ref(&drop)
        ));
        assert!(relabel(&mut labels(&[("env", "production")]), &[drop]));
    }

    #[test]
    fn keepequal_and_dropequal() {
        let keep = rule("action: keepequal\nsource_labels: [a]\ntarget_label: b");
        let drop = rule("action: dropequal\nsource_labels: [a]\ntarget_label: b");
        assert!(relabel(
            &mut labels(&[("a", "1"), ("b", "1")]),
            std::slice::from_ref(&keep)
        ));
        assert!(!relabel(
            &mut labels(&[("a", "1"), ("b", "2")]),
            std::slice::from_ref(&keep)
        ));
        assert!(!relabel(
            &mut labels(&[("a", "1"), ("b", "1")]),
            std::slice::from_ref(&drop)
        ));
        assert!(relabel(&mut labels(&[("a", "1")]), &[drop]));
    }

    #[test]
    fn labelmap_copies_matching_names() {
        let config = rule("action: labelmap\nregex: '__meta_(.+)'");
        let mut set = labels(&[("__meta_zone", "eu"), ("job", "j")]);
        relabel(&mut set, &[config]);
        assert_eq!(set["zone"], "eu");
        assert_eq!(
            set["__meta_zone"], "eu",
            "labelmap copies, it does not move"
        );
        assert_eq!(set["job"], "j");
    }

    #[test]
    fn labeldrop_and_labelkeep_match_names() {
        let drop = rule("action: labeldrop\nregex: 'tmp_.*'");
        let mut set = labels(&[("tmp_a", "1"), ("keep", "2"), ("xtmp_b", "3")]);
        relabel(&mut set, &[drop]);
        assert_eq!(set, labels(&[("keep", "2"), ("xtmp_b", "3")]));
        let keep = rule("action: labelkeep\nregex: '__name__|job'");
        let mut other = labels(&[("__name__", "up"), ("job", "j"), ("x", "y")]);
        relabel(&mut other, &[keep]);
        assert_eq!(other, labels(&[("__name__", "up"), ("job", "j")]));
    }

    #[test]
    fn hashmod_uses_low_eight_bytes_of_md5() {
        // md5("foo") = acbd18db4cc2f85cedef654fccc4a4d8; the low 64 bits are
        // 0xedef654fccc4a4d8 = 17145617838698668248, which is 8 modulo 10.
        let config = rule("action: hashmod\nsource_labels: [a]\ntarget_label: shard\nmodulus: 10");
        let mut set = labels(&[("a", "foo")]);
        relabel(&mut set, &[config]);
        assert_eq!(set["shard"], (0xedef654fccc4a4d8_u64 % 10).to_string());
    }

    #[test]
    fn lowercase_and_uppercase() {
        let lower = rule("action: lowercase\nsource_labels: [a]\ntarget_label: b");
        let upper = rule("action: uppercase\nsource_labels: [a]\ntarget_label: c");
        let mut set = labels(&[("a", "MiXed")]);
        relabel(&mut set, &[lower, upper]);
        assert_eq!(set["b"], "mixed");
        assert_eq!(set["c"], "MIXED");
    }

    #[test]
    fn invalid_rules_are_rejected() {
        let bad = [
            "action: replace\nsource_labels: [a]",
            "action: hashmod\nsource_labels: [a]\ntarget_label: b",
            "action: labeldrop\nregex: x\ntarget_label: b",
            "action: replace\ntarget_label: '1abc'",
            "action: keepequal\nsource_labels: [a]",
        ];
        for yaml in bad {
            let config: RelabelConfig = serde_norway::from_str(yaml).unwrap();
            assert!(config.validate().is_err(), "{yaml} should be rejected");
        }
        assert!(serde_norway::from_str::<RelabelConfig>("regex: '('").is_err());
        assert!(serde_norway::from_str::<RelabelConfig>("action: explode").is_err());
        assert!(serde_norway::from_str::<RelabelConfig>("unknown_field: 1").is_err());
    }
}
