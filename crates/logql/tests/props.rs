//! Property tests: the parser never panics on arbitrary text, token soups
//! or mutations of valid queries, and the canonical text of whatever parses
//! is a fixed point (it parses back to the same text).

use proptest::prelude::*;
use vispyr_logql::parse;

/// If `text` parses, its canonical form parses back to itself.
fn assert_round_trip(text: &str) -> Result<(), TestCaseError> {
    if let Ok(expr) = parse(text) {
        let canonical = expr.to_string();
        let reparsed = parse(&canonical)
            .map_err(|err| TestCaseError::fail(format!("{text:?} -> {canonical:?}: {err}")))?;
        prop_assert_eq!(reparsed.to_string(), canonical, "from {:?}", text);
    }
    Ok(())
}

const VALID_QUERIES: [&str; 14] = [
    r#"{app="api"}"#,
    r#"{app="api", env!="dev"} |= "error" != "timeout" |~ "5\\d\\d" !~ `(?i)debug`"#,
    r#"{app="api"} | json | status >= 500 and duration > 1s or size < 10KB"#,
    r#"{app="api"} | logfmt --strict | level=~"err.*", msg!="" | line_format "{{.level | ToUpper}} {{.msg}}""#,
    r#"{app="api"} | json a="x.y[0]", b | label_format c=a, d="{{.b}}-x" | drop e | keep a, b"#,
    r#"{app="api"} | regexp "(?P<ip>\\S+) (?P<m>\\w+)" | pattern "<_> <path> <_>" |= "a" or "b""#,
    r#"count_over_time({app="api"} |= "x" [5m])"#,
    r#"sum by (env) (rate({app=~"a.+"} | json | __error__="" [1m])) / 2"#,
    r#"topk(3, sum without (pod) (bytes_rate({app="x"}[10m] offset 1h)))"#,
    r#"quantile_over_time(0.99, {app="a"} | logfmt | unwrap duration(latency) | __error__="" [5m]) by (path)"#,
    r#"sum(count_over_time({a="b"}[1m])) > bool 3 or vector(0)"#,
    r#"rate({a="b"}[1m]) / on (x) group_left (y) rate({c="d"}[1m])"#,
    "1 + 2 * -3 ^ 2",
    r#"absent_over_time({a="b"}[1m]) unless count_over_time({a="b"}[1m])"#,
];

const TOKENS: [&str; 56] = [
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ",",
    "=",
    "!=",
    "=~",
    "!~",
    "|=",
    "|~",
    "|>",
    "!>",
    "|",
    "==",
    ">",
    ">=",
    "<",
    "<=",
    "+",
    "-",
    "*",
    "/",
    "%",
    "^",
    "\"a\"",
    "`b`",
    "\"(\"",
    "1",
    "2.5",
    "5m",
    "10KB",
    "app",
    "json",
    "logfmt",
    "unwrap",
    "line_format",
    "label_format",
    "drop",
    "keep",
    "by",
    "without",
    "sum",
    "topk",
    "rate",
    "count_over_time",
    "quantile_over_time",
    "or",
    "and",
    "bool",
    "offset",
    "on",
    "group_left",
    "\"{{.a}}\"",
];

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS.to_vec()), 0..24)
        .prop_map(|tokens| tokens.join(" "))
}

fn mutated_query() -> impl Strategy<Value = String> {
    let chars = prop::sample::select(
        "{}()[]=!~<>|^,.\"`\\ abz019+-*/%\nµ#"
            .chars()
            .collect::<Vec<char>>(),
    );
    (
        prop::sample::select(VALID_QUERIES.to_vec()),
        prop::collection::vec((any::<usize>(), chars, 0u8..3), 0..4),
    )
        .prop_map(|(query, edits)| {
            let mut text: Vec<char> = query.chars().collect();
            for (at, c, kind) in edits {
                let len = text.len();
                match kind {
                    0 if len > 0 => {
                        text.remove(at % len);
                    }
                    1 => text.insert(at % (len + 1), c),
                    _ if len > 0 => text[at % len] = c,
                    _ => {}
                }
            }
            text.into_iter().collect()
        })
}

#[test]
fn valid_queries_round_trip() {
    for query in VALID_QUERIES {
        let expr = parse(query).unwrap_or_else(|e| panic!("{query}: {e}"));
        let canonical = expr.to_string();
        let again = parse(&canonical).unwrap_or_else(|e| panic!("{canonical}: {e}"));
        assert_eq!(again.to_string(), canonical);
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!("{}1{}", "(".repeat(5000), ")".repeat(5000));
    assert!(parse(&deep).is_err());
    let filters = format!(
        r#"{{a="b"}} | {}x="1"{}"#,
        "(".repeat(5000),
        ")".repeat(5000)
    );
    assert!(parse(&filters).is_err());
    let chain = format!("1{}", " ^ 1".repeat(5000));
    assert!(parse(&chain).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,80}") {
        assert_round_trip(&text)?;
    }

    #[test]
    fn token_soups_never_panic(text in token_soup()) {
        assert_round_trip(&text)?;
    }

    #[test]
    fn mutated_queries_never_panic(text in mutated_query()) {
        assert_round_trip(&text)?;
    }
}
