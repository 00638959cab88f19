//! Server-side view rules: hide, collapse, rename and tag frames.
//!
//! A [`RuleSet`] is plain data (JSON/YAML, stored per user view); it is compiled
//! once into [`CompiledRules`], which resolves each distinct frame to its view.
//!
//! ```text
//!  frame ─► hide? ─yes─► dropped (children attach to the parent)
//!             │no
//!             ▼
//!          collapse? ─yes─► name = package / template; consecutive frames with the
//!             │no                same collapse rule and name become one frame
//!             ▼
//!          name = function, or file:line for anonymous functions
//!             ▼
//!          rename (every rule, in order, on the name so far)
//!             ▼
//!          tag (every matching rule adds its tag)
//!             ▼
//!          group_by = tag? consecutive frames whose first tag is the same
//!                          become one frame named after the tag
//! ```
//!
//! Kinds run in that fixed order whatever the order of the list; within a kind
//! the list order counts (first collapse rule wins, renames chain, tags
//! accumulate in rule order). Presets named in [`RuleSet::presets`] run before
//! the set's own rules of the same kind.

pub mod package;
pub(crate) mod pattern;
mod presets;

use std::borrow::Cow;

use regex::{Captures, Regex};
use serde::{Deserialize, Serialize};
use vispyr_common::profile::Frame;

use crate::error::FlamegraphError;
use crate::intern::Interner;
pub use package::derive_package;
pub use presets::list_presets;

/// A view: which rules to apply and how to group. The unit stored and sent by
/// the UI.
///
/// ```yaml
/// presets: [nodejs]
/// group_by: tag
/// rules:
///   - id: hide-health
///     kind: hide
///     pattern: "**/health.js"
///     field: file
///   - kind: tag
///     pattern: "**/db/**"
///     name: database
///     color: "#8e44ad"
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct RuleSet {
    /// Presets whose rules run before [`RuleSet::rules`], e.g. `["nodejs"]`; see
    /// [`list_presets`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub presets: Vec<String>,
    /// The rules, in order.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// How consecutive frames are grouped after the rules ran.
    #[serde(default, skip_serializing_if = "GroupBy::is_none")]
    pub group_by: GroupBy,
}

/// One view rule. Which optional fields are required depends on
/// [`Rule::kind`]; unused ones are rejected by [`RuleSet::compile`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct Rule {
    /// Caller-assigned id, used in error messages and by the UI; may be empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// What the rule does.
    pub kind: RuleKind,
    /// Which frames it applies to: a glob (`node_modules/**`), or a regex after a
    /// `regex:` prefix. See the `pattern` syntax in the crate docs.
    pub pattern: String,
    /// Which frame field `pattern` is matched against. Default: `name` for
    /// `rename` (the only field it accepts), `any` for the other kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<MatchField>,
    /// Disabled rules are kept in the view but ignored. Default `true`.
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub enabled: bool,
    /// `collapse`: the collapsed frame's name, with `$1`/`${1}`/`$name` captures
    /// of the pattern (default: the frame's package). `tag`: the tag name
    /// (required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `rename` (required): replaces the first match of `pattern` in the name,
    /// with `$1`/`${1}`/`$name` captures; `$$` is a literal `$`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
    /// `tag`: display colour, `#rgb`/`#rrggbb`/`#rrggbbaa` or a CSS colour name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
}

fn default_true() -> bool {
    true
}

fn is_true(value: &bool) -> bool {
    *value
}

/// What a [`Rule`] does; see the module docs for the order they run in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// Remove matching frames; their callees attach to their caller, so no value
    /// is lost.
    Hide,
    /// Merge each run of consecutive matching frames into one frame named after
    /// the package (or [`Rule::name`]). Non-matching frames called from the run
    /// stay below it.
    Collapse,
    /// Rewrite the frame name with a regex replacement.
    Rename,
    /// Attach a tag (name + colour) to matching frames.
    Tag,
}

/// The frame field a rule's pattern is matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchField {
    /// [`Frame::function`].
    Function,
    /// [`Frame::file`].
    File,
    /// [`Frame::mapping`] (binary or shared object).
    Mapping,
    /// The package derived by [`derive_package`]; frames without a package never
    /// match.
    Package,
    /// The frame's display name as it stands when the rule runs (after
    /// collapse and earlier renames for `rename` and `tag`).
    Name,
    /// `function` or `file`; captures come from the first that matches.
    Any,
}

/// How frames are grouped after the rules ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// No grouping.
    #[default]
    None,
    /// Each run of consecutive frames whose first tag is the same becomes one
    /// frame named after the tag.
    Tag,
}

impl GroupBy {
    fn is_none(&self) -> bool {
        *self == GroupBy::None
    }
}

impl Rule {
    fn new(kind: RuleKind, pattern: &str) -> Rule {
        Rule {
            id: String::new(),
            kind,
            pattern: pattern.to_owned(),
            field: None,
            enabled: true,
            name: None,
            replacement: None,
            color: None,
        }
    }

    /// A `hide` rule.
    pub fn hide(pattern: &str) -> Rule {
        Rule::new(RuleKind::Hide, pattern)
    }

    /// A `collapse` rule named after the package of the first frame of a run.
    pub fn collapse(pattern: &str) -> Rule {
        Rule::new(RuleKind::Collapse, pattern)
    }

    /// A `rename` rule.
    pub fn rename(pattern: &str, replacement: &str) -> Rule {
        Rule {
            replacement: Some(replacement.to_owned()),
            ..Rule::new(RuleKind::Rename, pattern)
        }
    }

    /// A `tag` rule without colour.
    pub fn tag(pattern: &str, tag: &str) -> Rule {
        Rule {
            name: Some(tag.to_owned()),
            ..Rule::new(RuleKind::Tag, pattern)
        }
    }

    /// Sets [`Rule::id`].
    pub fn with_id(self, id: &str) -> Rule {
        Rule {
            id: id.to_owned(),
            ..self
        }
    }

    /// Sets [`Rule::field`].
    pub fn on(self, field: MatchField) -> Rule {
        Rule {
            field: Some(field),
            ..self
        }
    }

    /// Sets [`Rule::name`].
    pub fn named(self, name: &str) -> Rule {
        Rule {
            name: Some(name.to_owned()),
            ..self
        }
    }

    /// Sets [`Rule::color`].
    pub fn colored(self, color: &str) -> Rule {
        Rule {
            color: Some(color.to_owned()),
            ..self
        }
    }

    /// Sets [`Rule::enabled`].
    pub fn enabled(self, enabled: bool) -> Rule {
        Rule { enabled, ..self }
    }
}

impl RuleSet {
    /// A rule set with these rules and nothing else.
    pub fn new(rules: Vec<Rule>) -> RuleSet {
        RuleSet {
            rules,
            ..RuleSet::default()
        }
    }

    /// The built-in rules for a language: `nodejs`, `python`, `go`, `java`,
    /// `ruby`, `dotnet`, `rust` (see [`list_presets`]).
    pub fn preset(language: &str) -> Result<RuleSet, FlamegraphError> {
        presets::preset(language)
    }

    /// Sets [`RuleSet::group_by`].
    pub fn grouped_by(self, group_by: GroupBy) -> RuleSet {
        RuleSet { group_by, ..self }
    }

    /// Validates the rules and compiles their patterns, once per view.
    pub fn compile(&self) -> Result<CompiledRules, FlamegraphError> {
        let mut compiled = CompiledRules {
            group_by: self.group_by,
            ..CompiledRules::default()
        };
        let mut seen_ids: Vec<&str> = Vec::new();
        let mut preset_sets = Vec::with_capacity(self.presets.len());
        for name in &self.presets {
            preset_sets.push((name.as_str(), presets::preset(name)?));
        }
        // Every kind runs in its own phase, so adding rule by rule in list order
        // keeps "presets first, then own rules" within each kind.
        for (preset_name, preset_set) in &preset_sets {
            for (index, rule) in preset_set.rules.iter().enumerate() {
                let label = rule_label(&rule.id, || format!("preset {preset_name} #{}", index + 1));
                compiled.add(rule, label)?;
            }
        }
        for (index, rule) in self.rules.iter().enumerate() {
            let label = rule_label(&rule.id, || format!("#{}", index + 1));
            if !rule.id.is_empty() {
                if seen_ids.contains(&rule.id.as_str()) {
                    return Err(FlamegraphError::ValidateRule {
                        rule: label,
                        reason: "duplicate id".to_owned(),
                    });
                }
                seen_ids.push(&rule.id);
            }
            compiled.add(rule, label)?;
        }
        Ok(compiled)
    }
}

fn rule_label(id: &str, position: impl FnOnce() -> String) -> String {
    if id.is_empty() {
        position()
    } else {
        format!("{id:?}")
    }
}

/// A tag a frame can carry: what `tag` rules attach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagDef {
    /// The tag name.
    pub name: String,
    /// Display colour, when the rule gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
}

/// Index into [`CompiledRules::tags`] (and a tree's tag list).
pub(crate) type TagId = u16;

#[derive(Debug, Clone)]
struct Matcher {
    field: MatchField,
    regex: Regex,
}

#[derive(Debug, Clone)]
struct CollapseRule {
    matcher: Matcher,
    name: Option<String>,
}

#[derive(Debug, Clone)]
struct RenameRule {
    regex: Regex,
    replacement: String,
}

#[derive(Debug, Clone)]
struct TagRule {
    matcher: Matcher,
    tag: TagId,
}

/// A validated [`RuleSet`] with compiled patterns. Cheap to share across
/// threads; build it once per view and reuse it for every query.
#[derive(Debug, Clone, Default)]
pub struct CompiledRules {
    hide: Vec<Matcher>,
    collapse: Vec<CollapseRule>,
    rename: Vec<RenameRule>,
    tag: Vec<TagRule>,
    tags: Vec<TagDef>,
    group_by: GroupBy,
}

/// How one frame looks through the rules, before its neighbours are considered
/// (runs are merged by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResolvedFrame {
    /// Removed by a `hide` rule.
    pub(crate) hidden: bool,
    /// `(collapse rule index, collapsed name)`: consecutive frames with equal keys
    /// merge.
    pub(crate) collapse: Option<(u32, String)>,
    /// Final display name.
    pub(crate) name: String,
    /// Tags in rule order, without duplicates.
    pub(crate) tags: Vec<TagId>,
}

/// The frame's fields as rules see them; the package is derived lazily.
struct FrameFields<'a> {
    frame: &'a Frame,
    package: Option<&'a str>,
}

impl<'a> FrameFields<'a> {
    fn package(&mut self) -> &'a str {
        if let Some(package) = self.package {
            return package;
        }
        let package = derive_package(self.frame);
        self.package = Some(package);
        package
    }
}

impl Matcher {
    /// Captures of the first field that matches.
    fn captures<'f: 'h, 'h>(
        &self,
        fields: &mut FrameFields<'f>,
        name: &'h str,
    ) -> Option<Captures<'h>> {
        let frame: &'f Frame = fields.frame;
        match self.field {
            MatchField::Function => self.regex.captures(&frame.function),
            MatchField::File => self.regex.captures(&frame.file),
            MatchField::Mapping => self.regex.captures(&frame.mapping),
            MatchField::Package => Some(fields.package())
                .filter(|package| !package.is_empty())
                .and_then(|package| self.regex.captures(package)),
            MatchField::Name => self.regex.captures(name),
            MatchField::Any => self
                .regex
                .captures(&frame.function)
                .or_else(|| self.regex.captures(&frame.file)),
        }
    }

    fn is_match(&self, fields: &mut FrameFields<'_>, name: &str) -> bool {
        let frame = fields.frame;
        match self.field {
            MatchField::Function => self.regex.is_match(&frame.function),
            MatchField::File => self.regex.is_match(&frame.file),
            MatchField::Mapping => self.regex.is_match(&frame.mapping),
            MatchField::Package => {
                let package = fields.package();
                !package.is_empty() && self.regex.is_match(package)
            }
            MatchField::Name => self.regex.is_match(name),
            MatchField::Any => {
                self.regex.is_match(&frame.function) || self.regex.is_match(&frame.file)
            }
        }
    }
}

/// The name a frame gets before any rename: its function, or `file:line` for
/// anonymous functions (empty, `(anonymous)` or `<anonymous>`), else the mapping,
/// else `unknown`.
pub fn display_name(frame: &Frame) -> Cow<'_, str> {
    let function = frame.function.as_str();
    let anonymous = function.is_empty() || function == "(anonymous)" || function == "<anonymous>";
    if !anonymous {
        return Cow::Borrowed(function);
    }
    if !frame.file.is_empty() {
        if frame.line > 0 {
            return Cow::Owned(format!("{}:{}", frame.file, frame.line));
        }
        return Cow::Borrowed(&frame.file);
    }
    if !frame.mapping.is_empty() {
        return Cow::Borrowed(&frame.mapping);
    }
    if function.is_empty() {
        Cow::Borrowed("unknown")
    } else {
        Cow::Borrowed(function)
    }
}

impl CompiledRules {
    /// No rules: every frame shows as its [`display_name`].
    pub fn none() -> CompiledRules {
        CompiledRules::default()
    }

    /// The tags `tag` rules can attach; a frame's tag ids index this list.
    pub fn tags(&self) -> &[TagDef] {
        &self.tags
    }

    /// The grouping mode.
    pub fn group_by(&self) -> GroupBy {
        self.group_by
    }

    /// Whether the view changes anything at all.
    pub fn is_empty(&self) -> bool {
        self.hide.is_empty()
            && self.collapse.is_empty()
            && self.rename.is_empty()
            && self.tag.is_empty()
    }

    /// Applies the rules to one stack (root first) and returns the stack as the
    /// view shows it, root first: `function` is the display name; `file`, `line`
    /// and `mapping` are the original frame's for plain frames, and only the
    /// first frame's `mapping` for collapsed or grouped ones.
    ///
    /// Use [`Tree`](crate::Tree) for many stacks: it caches per distinct frame.
    pub fn apply(&self, stack: &[Frame]) -> Vec<Frame> {
        let mut out = Vec::with_capacity(stack.len());
        let mut collapsed_names = Interner::default();
        let mut runs = RunMerger::default();
        for frame in stack {
            let resolved = self.resolve(frame);
            let collapse_key = resolved
                .collapse
                .as_ref()
                .map(|(rule, name)| (*rule, collapsed_names.intern(name)));
            let first_tag = resolved.tags.first().copied();
            let Some(step) = runs.step(resolved.hidden, collapse_key, first_tag, self.group_by)
            else {
                continue;
            };
            let converted = match step {
                Step::Plain if resolved.collapse.is_none() => Frame {
                    function: resolved.name,
                    ..frame.clone()
                },
                Step::Plain => Frame {
                    function: resolved.name,
                    mapping: frame.mapping.clone(),
                    ..Frame::default()
                },
                Step::Group(tag) => Frame {
                    function: self.tags[usize::from(tag)].name.clone(),
                    mapping: frame.mapping.clone(),
                    ..Frame::default()
                },
            };
            out.push(converted);
        }
        out
    }

    fn add(&mut self, rule: &Rule, label: String) -> Result<(), FlamegraphError> {
        validate(rule, &label)?;
        if !rule.enabled {
            return Ok(());
        }
        let regex =
            pattern::compile(&rule.pattern).map_err(|err| FlamegraphError::CompilePattern {
                rule: label.clone(),
                pattern: rule.pattern.clone(),
                syntax: err.syntax,
                reason: err.reason,
            })?;
        let default_field = if rule.kind == RuleKind::Rename {
            MatchField::Name
        } else {
            MatchField::Any
        };
        let matcher = Matcher {
            field: rule.field.unwrap_or(default_field),
            regex,
        };
        match rule.kind {
            RuleKind::Hide => self.hide.push(matcher),
            RuleKind::Collapse => self.collapse.push(CollapseRule {
                matcher,
                name: rule.name.clone(),
            }),
            RuleKind::Rename => self.rename.push(RenameRule {
                regex: matcher.regex,
                replacement: rule.replacement.clone().unwrap_or_default(),
            }),
            RuleKind::Tag => {
                let tag = self.tag_id(
                    rule.name.as_deref().unwrap_or_default(),
                    rule.color.as_deref(),
                    &label,
                )?;
                self.tag.push(TagRule { matcher, tag });
            }
        }
        Ok(())
    }

    /// The id of a tag name; rules naming the same tag share it and the first
    /// colour given wins.
    fn tag_id(
        &mut self,
        name: &str,
        color: Option<&str>,
        label: &str,
    ) -> Result<TagId, FlamegraphError> {
        if let Some(index) = self.tags.iter().position(|tag| tag.name == name) {
            let existing = &mut self.tags[index];
            if existing.color.is_none() {
                existing.color = color.map(str::to_owned);
            }
            return Ok(TagId::try_from(index).expect("tag count checked on insert"));
        }
        let Ok(id) = TagId::try_from(self.tags.len()) else {
            return Err(FlamegraphError::ValidateRule {
                rule: label.to_owned(),
                reason: format!("more than {} distinct tags", TagId::MAX),
            });
        };
        self.tags.push(TagDef {
            name: name.to_owned(),
            color: color.map(str::to_owned),
        });
        Ok(id)
    }

    /// Resolves one frame, ignoring its neighbours.
    pub(crate) fn resolve(&self, frame: &Frame) -> ResolvedFrame {
        let mut fields = FrameFields {
            frame,
            package: None,
        };
        let base_name = display_name(frame);
        let hidden = self
            .hide
            .iter()
            .any(|matcher| matcher.is_match(&mut fields, &base_name));
        if hidden {
            return ResolvedFrame {
                hidden: true,
                collapse: None,
                name: base_name.into_owned(),
                tags: Vec::new(),
            };
        }
        let mut collapse = None;
        for (index, rule) in self.collapse.iter().enumerate() {
            let Some(captures) = rule.matcher.captures(&mut fields, &base_name) else {
                continue;
            };
            let name = collapsed_name(rule, &captures, fields.package(), &base_name);
            collapse = Some((u32::try_from(index).unwrap_or(u32::MAX), name));
            break;
        }
        let mut name = match &collapse {
            Some((_, collapsed)) => collapsed.clone(),
            None => base_name.into_owned(),
        };
        for rule in &self.rename {
            if let Cow::Owned(renamed) = rule.regex.replace(&name, rule.replacement.as_str()) {
                name = renamed;
            }
        }
        if name.is_empty() {
            // A rename emptied it; an empty name would be invisible in every output.
            name.push_str("unknown");
        }
        let mut tags = Vec::new();
        for rule in &self.tag {
            if !tags.contains(&rule.tag) && rule.matcher.is_match(&mut fields, &name) {
                tags.push(rule.tag);
            }
        }
        ResolvedFrame {
            hidden: false,
            collapse,
            name,
            tags,
        }
    }
}

/// The name of a collapsed run: the rule's template with captures expanded,
/// else the package, else the first capture, else the matched text, else the
/// frame's own name: the first of these that is not empty.
fn collapsed_name(
    rule: &CollapseRule,
    captures: &Captures<'_>,
    package: &str,
    base_name: &str,
) -> String {
    if let Some(template) = &rule.name {
        let mut expanded = String::new();
        captures.expand(template, &mut expanded);
        if !expanded.is_empty() {
            return expanded;
        }
    }
    if !package.is_empty() {
        return package.to_owned();
    }
    let non_empty = |index: usize| {
        captures
            .get(index)
            .map(|group| group.as_str())
            .filter(|text| !text.is_empty())
    };
    non_empty(1)
        .or_else(|| non_empty(0))
        .unwrap_or(base_name)
        .to_owned()
}

fn validate(rule: &Rule, label: &str) -> Result<(), FlamegraphError> {
    let fail = |reason: String| {
        Err(FlamegraphError::ValidateRule {
            rule: label.to_owned(),
            reason,
        })
    };
    let kind = match rule.kind {
        RuleKind::Hide => "hide",
        RuleKind::Collapse => "collapse",
        RuleKind::Rename => "rename",
        RuleKind::Tag => "tag",
    };
    if rule.pattern.is_empty() {
        return fail("empty pattern".to_owned());
    }
    let name_used = matches!(rule.kind, RuleKind::Collapse | RuleKind::Tag);
    if rule.name.is_some() && !name_used {
        return fail(format!("`name` is not used by {kind} rules"));
    }
    if rule.replacement.is_some() && rule.kind != RuleKind::Rename {
        return fail(format!("`replacement` is not used by {kind} rules"));
    }
    if rule.color.is_some() && rule.kind != RuleKind::Tag {
        return fail(format!("`color` is not used by {kind} rules"));
    }
    match rule.kind {
        RuleKind::Rename => {
            if rule.replacement.is_none() {
                return fail("rename rules need a `replacement`".to_owned());
            }
            if rule.field.is_some_and(|field| field != MatchField::Name) {
                return fail(
                    "rename rules match the frame name only; drop `field` or set it to `name`"
                        .to_owned(),
                );
            }
        }
        RuleKind::Tag => {
            if rule.name.as_deref().is_none_or(str::is_empty) {
                return fail("tag rules need a non-empty `name` (the tag)".to_owned());
            }
            if let Some(color) = &rule.color
                && !is_color(color)
            {
                return fail(format!(
                    "invalid color {color:?}, expected #rgb, #rrggbb, #rrggbbaa or a colour name"
                ));
            }
        }
        RuleKind::Hide | RuleKind::Collapse => {}
    }
    Ok(())
}

fn is_color(color: &str) -> bool {
    if let Some(hex) = color.strip_prefix('#') {
        return matches!(hex.len(), 3 | 4 | 6 | 8) && hex.chars().all(|c| c.is_ascii_hexdigit());
    }
    !color.is_empty() && color.chars().all(|c| c.is_ascii_alphabetic())
}

/// What a frame contributes to the output stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// The frame's own (possibly collapsed) name.
    Plain,
    /// One frame for a run of frames sharing this first tag (`group_by: tag`).
    Group(TagId),
}

/// Merges runs while walking one stack root first; one instance per stack.
///
/// Hidden frames are skipped without breaking runs: hiding runs before
/// collapsing, so frames around a hidden one are neighbours.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RunMerger<K> {
    previous_collapse: Option<K>,
    previous_group: Option<TagId>,
}

impl<K: PartialEq + Copy> RunMerger<K> {
    /// Feeds the next frame; `None` when it disappears (hidden, or merged into the
    /// previous output frame).
    pub(crate) fn step(
        &mut self,
        hidden: bool,
        collapse: Option<K>,
        first_tag: Option<TagId>,
        group_by: GroupBy,
    ) -> Option<Step> {
        if hidden {
            return None;
        }
        if group_by == GroupBy::Tag {
            if let Some(tag) = first_tag {
                self.previous_collapse = None;
                if self.previous_group == Some(tag) {
                    return None;
                }
                self.previous_group = Some(tag);
                return Some(Step::Group(tag));
            }
            self.previous_group = None;
        }
        if collapse.is_some() && collapse == self.previous_collapse {
            return None;
        }
        self.previous_collapse = collapse;
        Some(Step::Plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(function: &str, file: &str, line: i64) -> Frame {
        Frame {
            function: function.to_owned(),
            file: file.to_owned(),
            line,
            mapping: String::new(),
        }
    }

    #[test]
    fn anonymous_functions_are_named_by_location() {
        assert_eq!(
            display_name(&frame("(anonymous)", "file:///srv/app/src/a.js", 12)),
            "file:///srv/app/src/a.js:12"
        );
        assert_eq!(
            display_name(&frame("", "/srv/app/b.js", 0)),
            "/srv/app/b.js"
        );
        assert_eq!(
            display_name(&Frame {
                mapping: "libc.so.6".to_owned(),
                ..Frame::default()
            }),
            "libc.so.6"
        );
        assert_eq!(display_name(&Frame::default()), "unknown");
        assert_eq!(display_name(&frame("handler", "x.js", 3)), "handler");
    }

    #[test]
    fn yaml_and_json_round_trip() {
        let yaml = r##"
presets: [nodejs]
group_by: tag
rules:
  - id: hide-health
    kind: hide
    pattern: "**/health.js"
    field: file
  - kind: collapse
    pattern: "regex:/vendor/([^/]+)/"
    field: file
    name: "vendor:$1"
  - kind: rename
    pattern: "regex:^file:///srv/app/(.*)$"
    replacement: "$1"
  - kind: tag
    pattern: "**/db/**"
    name: database
    color: "#8e44ad"
    enabled: false
"##;
        let parsed: RuleSet = serde_norway::from_str(yaml).unwrap();
        assert_eq!(parsed.rules.len(), 4);
        assert_eq!(parsed.group_by, GroupBy::Tag);
        assert!(!parsed.rules[3].enabled);
        assert_eq!(parsed.rules[0].field, Some(MatchField::File));
        let json = serde_json::to_string(&parsed).unwrap();
        let back: RuleSet = serde_json::from_str(&json).unwrap();
        assert_eq!(back, parsed);
        back.compile().unwrap();
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = serde_json::from_str::<RuleSet>(
            r#"{"rules":[{"kind":"hide","pattern":"x","colour":"red"}]}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field `colour`"), "{err}");
    }

    #[test]
    fn compile_errors_name_rule_and_pattern() {
        let set = RuleSet::new(vec![
            Rule::hide("node:*"),
            Rule::collapse("regex:(unclosed").with_id("vendor"),
        ]);
        let err = set.compile().unwrap_err();
        let message = err.to_string();
        assert!(
            message
                .starts_with(r#"compile rule "vendor": invalid regex pattern "regex:(unclosed": "#),
            "{message}"
        );
        assert!(message.contains("unclosed group"), "{message}");

        let err = RuleSet::new(vec![Rule::hide("ok"), Rule::hide("node_modules/{a,b")])
            .compile()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"compile rule #2: invalid glob pattern "node_modules/{a,b": unclosed '{'"#
        );
    }

    #[test]
    fn validation_errors_are_clear() {
        let cases = [
            (
                Rule::hide("x").named("n"),
                "validate rule #1: `name` is not used by hide rules",
            ),
            (
                Rule::new(RuleKind::Rename, "x"),
                "validate rule #1: rename rules need a `replacement`",
            ),
            (
                Rule::rename("x", "y").on(MatchField::File),
                "validate rule #1: rename rules match the frame name only; drop `field` or set it to `name`",
            ),
            (
                Rule::new(RuleKind::Tag, "x"),
                "validate rule #1: tag rules need a non-empty `name` (the tag)",
            ),
            (
                Rule::tag("x", "db").colored("#12"),
                r##"validate rule #1: invalid color "#12", expected #rgb, #rrggbb, #rrggbbaa or a colour name"##,
            ),
            (Rule::hide(""), "validate rule #1: empty pattern"),
            (
                Rule::collapse("x").colored("red"),
                "validate rule #1: `color` is not used by collapse rules",
            ),
        ];
        for (rule, expected) in cases {
            let err = RuleSet::new(vec![rule]).compile().unwrap_err();
            assert_eq!(err.to_string(), expected);
        }
        let duplicate = RuleSet::new(vec![
            Rule::hide("a").with_id("x"),
            Rule::hide("b").with_id("x"),
        ]);
        assert_eq!(
            duplicate.compile().unwrap_err().to_string(),
            r#"validate rule "x": duplicate id"#
        );
        let unknown = RuleSet {
            presets: vec!["cobol".to_owned()],
            ..RuleSet::default()
        };
        assert_eq!(
            unknown.compile().unwrap_err().to_string(),
            r#"resolve preset "cobol": unknown preset, expected one of nodejs, python, go, java, ruby, dotnet, rust"#
        );
    }

    #[test]
    fn disabled_rules_are_validated_but_not_applied() {
        let compiled = RuleSet::new(vec![Rule::hide("**").enabled(false)])
            .compile()
            .unwrap();
        assert!(compiled.is_empty());
        assert!(
            RuleSet::new(vec![Rule::hide("{").enabled(false)])
                .compile()
                .is_ok()
        );
    }

    #[test]
    fn rename_chains_and_uses_captures() {
        let compiled = RuleSet::new(vec![
            Rule::rename(r"regex:^file:///srv/app/(.+):(\w+):\d+$", "$1 $2"),
            Rule::rename("regex:^src/", ""),
        ])
        .compile()
        .unwrap();
        let resolved = compiled.resolve(&Frame::named("file:///srv/app/src/a.js:handler:12"));
        assert_eq!(resolved.name, "a.js handler");
    }

    #[test]
    fn collapse_name_template_expands_captures() {
        let compiled = RuleSet::new(vec![
            Rule::collapse("regex:/vendor/([^/]+)/")
                .on(MatchField::File)
                .named("vendor:$1"),
        ])
        .compile()
        .unwrap();
        let resolved = compiled.resolve(&frame("f", "/srv/app/vendor/lodash/x.js", 1));
        assert_eq!(resolved.collapse, Some((0, "vendor:lodash".to_owned())));
        assert_eq!(resolved.name, "vendor:lodash");
    }

    #[test]
    fn tags_share_ids_by_name() {
        let compiled = RuleSet::new(vec![
            Rule::tag("**/db/**", "database").on(MatchField::File),
            Rule::tag("pg*", "database")
                .on(MatchField::Package)
                .colored("#8e44ad"),
            Rule::tag("**", "everything").on(MatchField::File),
        ])
        .compile()
        .unwrap();
        assert_eq!(compiled.tags().len(), 2);
        assert_eq!(compiled.tags()[0].color.as_deref(), Some("#8e44ad"));
        let resolved =
            compiled.resolve(&frame("query", "/srv/app/node_modules/pg/lib/client.js", 1));
        assert_eq!(resolved.tags, vec![0, 1]);
    }
}
