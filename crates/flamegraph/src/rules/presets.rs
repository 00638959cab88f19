//! Built-in views per language: hide runtime plumbing, collapse dependencies
//! into one frame per package.
//!
//! | preset   | hides                                                  | collapses (one frame per …)                                   |
//! |----------|--------------------------------------------------------|---------------------------------------------------------------|
//! | `nodejs` | `node:*` built-ins (incl. `node:internal/…`), pre-16 `internal/…` | `node_modules/**` (npm package, scoped ones too)   |
//! | `python` | `<frozen importlib.…>` import machinery                | `site-packages/**`, `dist-packages/**` (distribution)          |
//! | `go`     | —                                                      | `runtime.*`, `runtime/internal/…`, `internal/runtime/…` (`runtime`) |
//! | `java`   | —                                                      | `java.*`, `javax.*`, `jdk.*`, `sun.*`, `com.sun.*` and their `/` forms (package) |
//! | `ruby`   | `<internal:…>` frames                                  | `gems/<name>-<version>/**` (gem)                               |
//! | `dotnet` | —                                                      | `System.*`, `Microsoft.*` (namespace)                          |
//! | `rust`   | —                                                      | `std::`, `core::`, `alloc::`, `tokio::` (crate)                |

use super::{MatchField, Rule, RuleSet};
use crate::error::FlamegraphError;

const PRESETS: [&str; 7] = ["nodejs", "python", "go", "java", "ruby", "dotnet", "rust"];

/// Names accepted by [`RuleSet::preset`] and [`RuleSet::presets`], in display
/// order.
pub fn list_presets() -> &'static [&'static str] {
    &PRESETS
}

pub(super) fn preset(language: &str) -> Result<RuleSet, FlamegraphError> {
    let rules = match language {
        "nodejs" => vec![
            Rule::hide("node:*")
                .on(MatchField::File)
                .with_id("nodejs.hide-builtins"),
            Rule::hide("regex:^internal/")
                .on(MatchField::File)
                .with_id("nodejs.hide-legacy-internals"),
            Rule::collapse("node_modules/**")
                .on(MatchField::File)
                .with_id("nodejs.collapse-node-modules"),
        ],
        "python" => vec![
            Rule::hide("<frozen importlib.*>")
                .on(MatchField::File)
                .with_id("python.hide-importlib"),
            Rule::collapse("{site,dist}-packages/**")
                .on(MatchField::File)
                .with_id("python.collapse-site-packages"),
        ],
        "go" => vec![
            Rule::collapse(r"regex:^(runtime|runtime/internal/[^.]+|internal/runtime/[^.]+)\.")
                .on(MatchField::Function)
                .named("runtime")
                .with_id("go.collapse-runtime"),
        ],
        "java" => vec![
            Rule::collapse(r"regex:^(java|javax|jdk|sun|com[./]sun)[./]")
                .on(MatchField::Function)
                .with_id("java.collapse-jdk"),
        ],
        "ruby" => vec![
            Rule::hide("<internal:*")
                .on(MatchField::File)
                .with_id("ruby.hide-internal"),
            Rule::collapse("gems/*/**")
                .on(MatchField::File)
                .with_id("ruby.collapse-gems"),
        ],
        "dotnet" => vec![
            Rule::collapse(r"regex:^([^!]*!)?(System|Microsoft)\.")
                .on(MatchField::Function)
                .with_id("dotnet.collapse-framework"),
        ],
        "rust" => vec![
            Rule::collapse(r"regex:^<?(std|core|alloc|tokio)::")
                .on(MatchField::Function)
                .named("$1")
                .with_id("rust.collapse-std-and-tokio"),
        ],
        unknown => {
            return Err(FlamegraphError::ResolvePreset {
                name: unknown.to_owned(),
                known: PRESETS.join(", "),
            });
        }
    };
    Ok(RuleSet::new(rules))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_preset_compiles() {
        for name in list_presets() {
            let set = RuleSet::preset(name).unwrap();
            assert!(!set.rules.is_empty(), "{name}");
            set.compile().unwrap_or_else(|err| panic!("{name}: {err}"));
        }
    }
}
