//! Profile selectors: `process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name="api", route=~"/x.*"}`
//! — a profile type id and Prometheus-style label matchers (`=`, `!=`, `=~`, `!~`).
//! Either part may be missing (`{service_name="api"}`, a bare type id).

use vispyr_common::profile::ProfileType;

pub use vispyr_promql::MatchOp;

/// One `name op "value"` matcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
}

/// A parsed selector.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector {
    pub profile_type: Option<ProfileType>,
    pub matchers: Vec<Matcher>,
}

impl Selector {
    /// Parses a selector; errors say what was expected where.
    pub fn parse(text: &str) -> Result<Selector, String> {
        let text = text.trim();
        let (type_part, rest) = match text.find('{') {
            Some(open) => (&text[..open], &text[open..]),
            None => (text, ""),
        };
        let type_part = type_part.trim();
        let profile_type = if type_part.is_empty() {
            None
        } else {
            Some(ProfileType::parse(type_part).ok_or_else(|| {
                format!(
                    "invalid profile type {type_part:?}: expected name:sample_type:sample_unit:period_type:period_unit"
                )
            })?)
        };
        let matchers = if rest.is_empty() {
            Vec::new()
        } else {
            parse_matchers(rest)?
        };
        for matcher in &matchers {
            if matches!(matcher.op, MatchOp::Regex | MatchOp::NotRegex) {
                regex_check(&matcher.value)?;
            }
        }
        Ok(Selector {
            profile_type,
            matchers,
        })
    }

    /// The value of an `=` matcher on `name`, if there is one.
    pub fn equal(&self, name: &str) -> Option<&str> {
        self.matchers
            .iter()
            .find(|m| m.name == name && m.op == MatchOp::Equal)
            .map(|m| m.value.as_str())
    }
}

/// DataFusion's regex engine is the `regex` crate: check the syntax up front so the
/// client gets a clear error instead of a planning failure.
fn regex_check(pattern: &str) -> Result<(), String> {
    regex::Regex::new(&format!("^(?:{pattern})$"))
        .map(drop)
        .map_err(|error| format!("invalid regular expression {pattern:?}: {error}"))
}

fn parse_matchers(text: &str) -> Result<Vec<Matcher>, String> {
    let mut chars = text.char_indices().peekable();
    let expect = |found: Option<(usize, char)>, what: &str| -> String {
        match found {
            Some((at, c)) => {
                format!("invalid selector at offset {at}: expected {what}, found {c:?}")
            }
            None => format!("invalid selector: expected {what}, found the end"),
        }
    };
    match chars.next() {
        Some((_, '{')) => {}
        other => return Err(expect(other, "'{'")),
    }
    let mut matchers = Vec::new();
    loop {
        while chars.peek().is_some_and(|(_, c)| c.is_whitespace()) {
            chars.next();
        }
        if let Some((_, '}')) = chars.peek() {
            chars.next();
            break;
        }
        // Label name.
        let mut name = String::new();
        while let Some(&(_, c)) = chars.peek() {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
                name.push(c);
                chars.next();
            } else {
                break;
            }
        }
        if name.is_empty() {
            return Err(expect(chars.peek().copied(), "a label name"));
        }
        while chars.peek().is_some_and(|(_, c)| c.is_whitespace()) {
            chars.next();
        }
        let op = match (chars.next(), chars.peek().map(|(_, c)| *c)) {
            (Some((_, '=')), Some('~')) => {
                chars.next();
                MatchOp::Regex
            }
            (Some((_, '=')), _) => MatchOp::Equal,
            (Some((_, '!')), Some('=')) => {
                chars.next();
                MatchOp::NotEqual
            }
            (Some((_, '!')), Some('~')) => {
                chars.next();
                MatchOp::NotRegex
            }
            (other, _) => return Err(expect(other, "one of =, !=, =~, !~")),
        };
        while chars.peek().is_some_and(|(_, c)| c.is_whitespace()) {
            chars.next();
        }
        let quote = match chars.next() {
            Some((_, q @ ('"' | '\'' | '`'))) => q,
            other => return Err(expect(other, "a quoted value")),
        };
        let mut value = String::new();
        loop {
            match chars.next() {
                Some((_, '\\')) if quote != '`' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, 't')) => value.push('\t'),
                    Some((_, c)) => value.push(c),
                    None => return Err("invalid selector: unterminated string".into()),
                },
                Some((_, c)) if c == quote => break,
                Some((_, c)) => value.push(c),
                None => return Err("invalid selector: unterminated string".into()),
            }
        }
        matchers.push(Matcher { name, op, value });
        while chars.peek().is_some_and(|(_, c)| c.is_whitespace()) {
            chars.next();
        }
        match chars.next() {
            Some((_, ',')) => continue,
            Some((_, '}')) => break,
            other => return Err(expect(other, "',' or '}'")),
        }
    }
    if let Some((at, c)) = chars.next() {
        return Err(format!(
            "invalid selector at offset {at}: unexpected {c:?} after '}}'"
        ));
    }
    Ok(matchers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_type_and_matchers() {
        let selector = Selector::parse(
            r#"process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name="api", route=~"/x.*", env!="dev",x!~'y'}"#,
        )
        .unwrap();
        assert_eq!(selector.profile_type.as_ref().unwrap().name, "process_cpu");
        assert_eq!(selector.matchers.len(), 4);
        assert_eq!(selector.matchers[1].op, MatchOp::Regex);
        assert_eq!(selector.matchers[2].op, MatchOp::NotEqual);
        assert_eq!(selector.matchers[3].op, MatchOp::NotRegex);
        assert_eq!(selector.matchers[3].value, "y");
        assert_eq!(selector.equal("service_name"), Some("api"));
    }

    #[test]
    fn either_part_is_optional() {
        assert!(
            Selector::parse(r#"{service_name="a"}"#)
                .unwrap()
                .profile_type
                .is_none()
        );
        assert!(
            Selector::parse("wall:wall:nanoseconds:wall:nanoseconds")
                .unwrap()
                .matchers
                .is_empty()
        );
        assert_eq!(Selector::parse("{}").unwrap(), Selector::default());
        assert_eq!(
            Selector::parse(r#"{a="\"q\""}"#).unwrap().matchers[0].value,
            "\"q\""
        );
    }

    #[test]
    fn errors_say_what_was_expected() {
        assert!(
            Selector::parse("cpu{a=\"b\"}")
                .unwrap_err()
                .contains("invalid profile type")
        );
        assert!(
            Selector::parse("{a=b}")
                .unwrap_err()
                .contains("quoted value")
        );
        assert!(
            Selector::parse("{a=\"b\"")
                .unwrap_err()
                .contains("',' or '}'")
        );
        assert!(Selector::parse("{a~\"b\"}").unwrap_err().contains("=, !="));
        assert!(
            Selector::parse("{a=\"b}")
                .unwrap_err()
                .contains("unterminated")
        );
        assert!(
            Selector::parse("{a=\"b\"} x")
                .unwrap_err()
                .contains("unexpected")
        );
    }
}
