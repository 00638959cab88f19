//! Rule patterns: globs by default, regexes with a `regex:` prefix.
//!
//! Globs are translated to regexes so both syntaxes share one matcher and globs
//! get capture groups (`$1`, `$2`, … number the wildcards left to right).
//!
//! The glob dialect (gitignore-like anchoring, `*`/`**`/`?` captures, `{a,b}`)
//! is documented once, in the crate docs' "Pattern syntax" section.

use regex::Regex;

/// The prefix that selects regex syntax.
pub(crate) const REGEX_PREFIX: &str = "regex:";

/// A compile failure: which syntax and why.
#[derive(Debug)]
pub(crate) struct PatternError {
    pub(crate) syntax: &'static str,
    pub(crate) reason: String,
}

/// Compiles a rule pattern (glob, or regex after [`REGEX_PREFIX`]).
pub(crate) fn compile(pattern: &str) -> Result<Regex, PatternError> {
    if let Some(regex) = pattern.strip_prefix(REGEX_PREFIX) {
        if regex.is_empty() {
            return Err(PatternError {
                syntax: "regex",
                reason: "empty regex".to_owned(),
            });
        }
        return Regex::new(regex).map_err(|err| PatternError {
            syntax: "regex",
            reason: one_line(&err.to_string()),
        });
    }
    let translated = glob_to_regex(pattern).map_err(|reason| PatternError {
        syntax: "glob",
        reason,
    })?;
    Regex::new(&translated).map_err(|err| PatternError {
        syntax: "glob",
        reason: one_line(&err.to_string()),
    })
}

/// `regex` errors are multi-line drawings; join the lines so the message fits in
/// one log line or JSON string.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Translates a glob (see the module docs) to an equivalent regex.
pub(crate) fn glob_to_regex(glob: &str) -> Result<String, String> {
    if glob.is_empty() {
        return Err("empty pattern".to_owned());
    }
    let anchored = glob.starts_with('/') || glob.starts_with('*');
    let mut out = String::with_capacity(glob.len() * 2 + 16);
    // Greedy optional prefix: the match starts after the last possible `/`.
    out.push_str(if anchored { "^" } else { "^(?:.*/)?" });
    let mut in_braces = false;
    let mut chars = glob.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                if chars.peek() == Some(&'/') {
                    chars.next();
                    out.push_str("(?:(.*)/)?");
                } else {
                    out.push_str("(.*)");
                }
            }
            '*' => out.push_str("([^/]*)"),
            '?' => out.push_str("([^/])"),
            '{' if in_braces => return Err("nested '{' is not supported".to_owned()),
            '{' => {
                in_braces = true;
                out.push_str("(?:");
            }
            ',' if in_braces => out.push('|'),
            '}' if in_braces => {
                in_braces = false;
                out.push(')');
            }
            '\\' => {
                let Some(escaped) = chars.next() else {
                    return Err("trailing '\\' escapes nothing".to_owned());
                };
                push_literal(&mut out, escaped);
            }
            literal => push_literal(&mut out, literal),
        }
    }
    if in_braces {
        return Err("unclosed '{'".to_owned());
    }
    out.push_str("(?:/|$)");
    Ok(out)
}

fn push_literal(out: &mut String, c: char) {
    let mut buf = [0u8; 4];
    out.push_str(&regex::escape(c.encode_utf8(&mut buf)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, value: &str) -> bool {
        compile(pattern).unwrap().is_match(value)
    }

    fn first_capture(pattern: &str, value: &str) -> Option<String> {
        let regex = compile(pattern).unwrap();
        let caps = regex.captures(value)?;
        caps.get(1).map(|m| m.as_str().to_owned())
    }

    #[test]
    fn directory_prefix_matches() {
        assert!(matches(
            "node:internal/*",
            "node:internal/process/task_queues"
        ));
        assert!(matches("node:*", "node:events"));
        assert!(matches("node:*", "node:internal/timers"));
        assert!(!matches("node:*", "mynode:events"));
    }

    #[test]
    fn unanchored_globs_start_after_a_slash() {
        assert!(matches(
            "node_modules/**",
            "/srv/app/node_modules/express/lib/router/layer.js"
        ));
        assert!(!matches(
            "modules/**",
            "/srv/app/node_modules/express/index.js"
        ));
        assert!(matches("java.*", "java.util.HashMap.get"));
        assert!(!matches("java.*", "com.example.java.Foo.bar"));
    }

    #[test]
    fn anchored_globs() {
        assert!(matches("/srv/**", "/srv/app/a.js"));
        assert!(!matches("/srv/**", "/opt/srv/app/a.js"));
        assert!(matches("**/db/**", "db/pool.js"));
        assert!(matches("**/db/**", "/srv/app/db/pool.js"));
    }

    #[test]
    fn wildcards_capture_innermost_package() {
        assert_eq!(
            first_capture(
                "node_modules/*",
                "/a/node_modules/express/node_modules/debug/src/index.js"
            )
            .as_deref(),
            Some("debug")
        );
    }

    #[test]
    fn braces_and_escapes() {
        assert!(matches(
            "{site,dist}-packages/**",
            "/usr/lib/python3/dist-packages/x.py"
        ));
        assert!(matches("a\\*b", "a*b"));
        assert!(!matches("a\\*b", "axb"));
        assert!(matches("[eval]", "[eval]"));
    }

    #[test]
    fn bad_globs_are_rejected() {
        assert_eq!(glob_to_regex("{a,b").unwrap_err(), "unclosed '{'");
        assert_eq!(glob_to_regex("").unwrap_err(), "empty pattern");
        assert!(glob_to_regex("{a,{b}}").is_err());
        assert!(glob_to_regex("abc\\").is_err());
    }

    #[test]
    fn bad_regex_is_one_line() {
        let err = compile("regex:(unclosed").unwrap_err();
        assert_eq!(err.syntax, "regex");
        assert!(!err.reason.contains('\n'), "{}", err.reason);
        assert!(err.reason.contains("unclosed group"), "{}", err.reason);
    }
}
