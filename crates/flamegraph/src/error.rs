//! The crate's one error type.

/// Why a [`RuleSet`](crate::RuleSet) could not be turned into
/// [`CompiledRules`](crate::CompiledRules).
///
/// `rule` is the rule's `id` in quotes when it has one, otherwise its position
/// (`#3`, counting from 1 within `rules`, or `preset nodejs #2`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlamegraphError {
    /// A rule's `pattern` is not a valid glob or regex.
    #[error("compile rule {rule}: invalid {syntax} pattern {pattern:?}: {reason}")]
    CompilePattern {
        /// Which rule.
        rule: String,
        /// The pattern as written, including any `regex:` prefix.
        pattern: String,
        /// `glob` or `regex`.
        syntax: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A rule is well-formed YAML/JSON but inconsistent (a missing or unused field).
    #[error("validate rule {rule}: {reason}")]
    ValidateRule {
        /// Which rule.
        rule: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A preset name that [`list_presets`](crate::list_presets) does not know.
    #[error("resolve preset {name:?}: unknown preset, expected one of {known}")]
    ResolvePreset {
        /// The requested name.
        name: String,
        /// Comma-separated known names.
        known: String,
    },
}
