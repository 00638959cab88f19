//! Flamegraphs for Vispyr: builds call trees from symbolized stacks through a
//! view's rules, prunes them, diffs them, and writes them out.
//!
//! This crate owns the *shape* of a flamegraph: merging stacks, the view rules
//! (hide, collapse, rename, tag, group by tag) and their presets, pruning to a
//! node budget, diffing, the function table and the output formats (native
//! JSON, Pyroscope flamebearer and diff flamebearer, folded text, pprof). It does
//! not read storage or speak HTTP: the query engine hands it `(stack, value)`
//! pairs and the API serialises what it returns.
//!
//! ```text
//!  (&[Frame], i64) ──► Tree::build(stacks, &CompiledRules) ──► Tree
//!        ▲                        ▲                              │ prune(max_nodes)
//!   query engine          RuleSet::compile()                     ├─► serde JSON / summary()
//!                         (JSON/YAML view,                       ├─► flame_graph()   (Pyroscope)
//!                          presets)                              ├─► table()
//!                                                                ├─► folded()
//!                                                                ├─► to_pprof()
//!                                     diff(&Tree, &Tree) ──► DiffTree ─► flame_graph_diff()
//! ```
//!
//! # Rules
//!
//! See [`rules`] for the order rules run in and [`RuleSet`] for the JSON/YAML
//! shape. Patterns are globs (`node_modules/**`, `node:internal/*`) or regexes
//! (`regex:^java\.`); the glob dialect is described in the `pattern` section
//! below.
//!
//! # Pattern syntax
//!
//! | glob      | matches                                   | capture |
//! |-----------|-------------------------------------------|---------|
//! | `*`       | any run of characters except `/`          | yes     |
//! | `**`      | any run of characters, `/` included       | yes     |
//! | `**/`     | zero or more whole directories            | yes     |
//! | `?`       | one character except `/`                  | yes     |
//! | `{a,b}`   | `a` or `b` (no nesting)                   | no      |
//! | `\c`      | `c` literally                             | no      |
//!
//! A glob starting with `/` or `*` is anchored at the start of the value; any
//! other glob may also start right after any `/` (the innermost one wins, so
//! `node_modules/*` captures the innermost package). A glob matches the whole
//! value, or a leading part of it that ends right before a `/`: `node:internal/*`
//! matches `node:internal/process/task_queues`. `regex:` patterns search
//! anywhere unless anchored. Wildcards number the captures `$1`, `$2`, … for
//! `collapse` names and `rename` replacements.
//!
//! # Performance
//!
//! Rules run once per distinct frame; names are interned; nodes live in a
//! `Vec` arena with one hash map from `(parent, name)` to child. See
//! `examples/build_bench.rs`.

mod arena;
mod diff;
mod error;
mod flamebearer;
mod folded;
mod intern;
mod pprof;
pub mod rules;
mod table;
mod tree;

pub use arena::{NodeValue, OTHER_NAME, ROOT_NAME};
pub use diff::{DiffNodeRef, DiffSummary, DiffTree, diff};
pub use error::FlamegraphError;
pub use flamebearer::{FlameGraph, FlameGraphDiff, Level};
pub use folded::HIDDEN_STACK_NAME;
pub use pprof::to_pprof;
pub use rules::{
    CompiledRules, GroupBy, MatchField, Rule, RuleKind, RuleSet, TagDef, derive_package,
    display_name, list_presets,
};
pub use table::FunctionRow;
pub use tree::{FrameKey, NodeRef, Summary, Tree, TreeBuilder};
