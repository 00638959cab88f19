//! Loki's pattern language: literal text and `<name>` / `<_>` captures, used
//! by the `| pattern "..."` parser and the `|> "..."` line filter.

/// One part of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    /// A capture; `None` for `<_>`.
    Capture(Option<String>),
}

/// A compiled pattern such as `<ip> - <_> [<ts>] "<method> <path>"`.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    source: String,
    parts: Vec<Part>,
}

impl Pattern {
    /// Compiles a pattern; `require_named` is true for the parser (it must
    /// capture something) and false for the line filter.
    pub(crate) fn new(source: &str, require_named: bool) -> Result<Pattern, String> {
        let mut parts: Vec<Part> = Vec::new();
        let mut literal = String::new();
        let mut rest = source;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('<')
                && let Some(end) = after.find('>')
                && is_capture_name(&after[..end])
            {
                let name = &after[..end];
                if !literal.is_empty() {
                    parts.push(Part::Literal(std::mem::take(&mut literal)));
                }
                if matches!(parts.last(), Some(Part::Capture(_))) {
                    return Err("found consecutive capture: invalid expression".into());
                }
                let capture = if name == "_" {
                    None
                } else {
                    Some(name.to_string())
                };
                parts.push(Part::Capture(capture));
                rest = &after[end + 1..];
                continue;
            }
            let c = rest.chars().next().unwrap_or_default();
            literal.push(c);
            rest = &rest[c.len_utf8()..];
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        let names: Vec<&String> = parts
            .iter()
            .filter_map(|p| match p {
                Part::Capture(Some(name)) => Some(name),
                _ => None,
            })
            .collect();
        if require_named && names.is_empty() {
            return Err("at least one capture is required".into());
        }
        for (i, name) in names.iter().enumerate() {
            if names[..i].contains(name) {
                return Err(format!(
                    "duplicate capture name ({name}): invalid expression"
                ));
            }
        }
        if parts.is_empty() {
            return Err("syntax error: unexpected $end".into());
        }
        Ok(Pattern {
            source: source.to_string(),
            parts,
        })
    }

    pub(crate) fn source(&self) -> &str {
        &self.source
    }

    /// The named captures of `line`, in pattern order. A capture whose
    /// closing literal is missing takes the rest of the line and ends the
    /// match; a line that does not start with the leading literal captures
    /// nothing.
    pub(crate) fn captures<'l>(&self, line: &'l str) -> Vec<(&str, &'l str)> {
        let mut out = Vec::new();
        let mut parts = self.parts.as_slice();
        let mut rest = line;
        if line.is_empty() {
            return out;
        }
        if let Some(Part::Literal(lit)) = parts.first() {
            match rest.strip_prefix(lit.as_str()) {
                Some(after) => rest = after,
                None => return out,
            }
            parts = &parts[1..];
        }
        while let Some(Part::Capture(name)) = parts.first() {
            match parts.get(1) {
                None => {
                    if let Some(name) = name {
                        out.push((name.as_str(), rest));
                    }
                    return out;
                }
                Some(Part::Literal(lit)) => match rest.find(lit.as_str()) {
                    Some(i) => {
                        if let Some(name) = name {
                            out.push((name.as_str(), &rest[..i]));
                        }
                        rest = &rest[i + lit.len()..];
                        parts = &parts[2..];
                    }
                    None => {
                        if let Some(name) = name {
                            out.push((name.as_str(), rest));
                        }
                        return out;
                    }
                },
                Some(Part::Capture(_)) => return out,
            }
        }
        out
    }

    /// Whether the whole line has the pattern's shape: every literal is
    /// found in order, the first at the start when the pattern starts with
    /// one and the last at the end when it ends with one.
    pub(crate) fn matches(&self, line: &str) -> bool {
        let mut rest = line;
        let last = self.parts.len() - 1;
        for (i, part) in self.parts.iter().enumerate() {
            let Part::Literal(lit) = part else {
                continue;
            };
            if i == 0 {
                match rest.strip_prefix(lit.as_str()) {
                    Some(after) => rest = after,
                    None => return false,
                }
                if i == last && !rest.is_empty() {
                    return false;
                }
                continue;
            }
            if i == last {
                return rest.ends_with(lit.as_str());
            }
            match rest.find(lit.as_str()) {
                Some(at) => rest = &rest[at + lit.len()..],
                None => return false,
            }
        }
        true
    }
}

fn is_capture_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_like_loki() {
        let p = Pattern::new(r#"<ip> - <_> "<method> <path> <_>" <status>"#, true).unwrap();
        let line = r#"10.0.0.1 - - "GET /api/v1 HTTP/1.1" 200"#;
        assert_eq!(
            p.captures(line),
            vec![
                ("ip", "10.0.0.1"),
                ("method", "GET"),
                ("path", "/api/v1"),
                ("status", "200")
            ]
        );
        // A missing literal: the capture takes the rest.
        assert_eq!(p.captures("1.2.3.4 only"), vec![("ip", "1.2.3.4 only")]);
        let leading = Pattern::new("level=<level> msg", true).unwrap();
        assert!(leading.captures("xlevel=info msg").is_empty());
    }

    #[test]
    fn rejects_bad_patterns() {
        assert!(Pattern::new("<a><b>", true).is_err());
        assert!(Pattern::new("<_> x", true).is_err());
        assert!(Pattern::new("<a> <a>", true).is_err());
        assert!(Pattern::new("<_> x", false).is_ok());
    }

    #[test]
    fn line_filter_matching() {
        let p = Pattern::new("<_> error <_>", false).unwrap();
        assert!(p.matches("x error y"));
        assert!(!p.matches("x warn y"));
        let anchored = Pattern::new("GET <_> 200", false).unwrap();
        assert!(anchored.matches("GET /a 200"));
        assert!(!anchored.matches("POST /a 200"));
        assert!(!anchored.matches("GET /a 2001"));
    }
}
