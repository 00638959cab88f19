//! Parser tests: every construct parses to the expected canonical text,
//! and errors carry Loki's wording and positions.

use vispyr_logql::{LineFilterOp, MatchOp, parse, parse_selector};

/// Parses `query` and checks its canonical text (which must parse back to
/// itself).
fn canonical(query: &str, expected: &str) {
    let expr = parse(query).unwrap_or_else(|e| panic!("{query}: {e}"));
    assert_eq!(expr.to_string(), expected, "{query}");
    let again = parse(expected).unwrap_or_else(|e| panic!("{expected}: {e}"));
    assert_eq!(again.to_string(), expected);
}

fn error(query: &str) -> String {
    match parse(query) {
        Ok(expr) => panic!("{query} parsed as {expr}"),
        Err(err) => err.to_string(),
    }
}

#[test]
fn selectors_and_line_filters() {
    canonical(r#"{app="a"}"#, r#"{app="a"}"#);
    canonical(
        r#"{ app = "a" , x!="b",y=~"c.*", z!~`d` }"#,
        r#"{app="a", x!="b", y=~"c.*", z!~"d"}"#,
    );
    canonical(
        r#"{app="a"} |= "x" != "y" |~ `(?i)z` !~ "w" |> "<_> q" !> "r <_>""#,
        r#"{app="a"} |= "x" != "y" |~ "(?i)z" !~ "w" |> "<_> q" !> "r <_>""#,
    );
    canonical(
        r#"{app="a"} |= "x" or "y" != "z" or `w`"#,
        r#"{app="a"} |= "x" or "y" != "z" or "w""#,
    );
    canonical(r#"{app="a\"b\\c\n"}"#, r#"{app="a\"b\\c\n"}"#);
    canonical("{app=\"a\"} # a comment\n |= \"x\"", r#"{app="a"} |= "x""#);
}

#[test]
fn parsers_and_formatters() {
    canonical(
        r#"{app="a"} | json | logfmt | logfmt --strict --keep-empty | unpack | decolorize"#,
        r#"{app="a"} | json | logfmt | logfmt --strict --keep-empty | unpack | decolorize"#,
    );
    canonical(
        r#"{app="a"} | json first="a.b[0]", b | logfmt x="k""#,
        r#"{app="a"} | json first="a.b[0]", b | logfmt x="k""#,
    );
    canonical(
        r#"{app="a"} | regexp `(?P<ip>\S+)` | pattern "<ip> <_>""#,
        r#"{app="a"} | regexp "(?P<ip>\\S+)" | pattern "<ip> <_>""#,
    );
    canonical(
        r#"{app="a"} | line_format "{{.a}} {{ .b | ToUpper }}" | label_format x=y, z="{{.q}}""#,
        r#"{app="a"} | line_format "{{.a}} {{ .b | ToUpper }}" | label_format x=y, z="{{.q}}""#,
    );
    canonical(
        r#"{app="a"} | drop a, b="c" | keep d, e=~"f""#,
        r#"{app="a"} | drop a, b="c" | keep d, e=~"f""#,
    );
}

#[test]
fn label_filters() {
    canonical(
        r#"{app="a"} | json | status >= 500 and duration > 1m30s or size <= 10KB"#,
        r#"{app="a"} | json | status>=500, duration>1m30s or size<=10000B"#,
    );
    canonical(
        r#"{app="a"} | logfmt | (a="b" or c!="d") , e=~"f" g!~"h""#,
        r#"{app="a"} | logfmt | (a="b" or c!="d"), e=~"f", g!~"h""#,
    );
    canonical(
        r#"{app="a"} | logfmt | x == 1.5 | y = -2 | z != 3 | __error__="""#,
        r#"{app="a"} | logfmt | x==1.5 | y==-2 | z!=3 | __error__="""#,
    );
    // Keywords stay label names where a comparison follows.
    canonical(r#"{json="x"} | json="y""#, r#"{json="x"} | json="y""#);
}

#[test]
fn metric_queries() {
    canonical(
        r#"count_over_time({app="a"} |= "x" [5m])"#,
        r#"count_over_time({app="a"} |= "x" [5m])"#,
    );
    canonical(
        r#"rate({app="a"}[1m] | json)"#,
        r#"rate({app="a"} | json [1m])"#,
    );
    canonical(
        r#"bytes_rate(({app="a"} | logfmt)[1h] offset 5m)"#,
        r#"bytes_rate({app="a"} | logfmt [1h] offset 5m)"#,
    );
    canonical(
        r#"sum by (a, b) (count_over_time({app="a"}[5m]))"#,
        r#"sum by (a, b) (count_over_time({app="a"} [5m]))"#,
    );
    canonical(
        r#"avg(rate({app="a"}[5m])) without (x)"#,
        r#"avg without (x) (rate({app="a"} [5m]))"#,
    );
    canonical(
        r#"topk(3, sum by (p) (bytes_over_time({app="a"}[5m])))"#,
        r#"topk(3, sum by (p) (bytes_over_time({app="a"} [5m])))"#,
    );
    canonical(
        r#"quantile_over_time(0.99, {app="a"} | json | unwrap duration(latency) | __error__="" [5m]) by (path)"#,
        r#"quantile_over_time(0.99, {app="a"} | json | unwrap duration(latency) | __error__="" [5m]) by (path)"#,
    );
    canonical(
        r#"sum_over_time({app="a"} | logfmt | unwrap bytes(size) [1m])"#,
        r#"sum_over_time({app="a"} | logfmt | unwrap bytes(size) [1m])"#,
    );
    canonical(
        r#"absent_over_time({app="a"}[1m])"#,
        r#"absent_over_time({app="a"} [1m])"#,
    );
}

#[test]
fn binary_operators_and_precedence() {
    canonical(
        r#"sum(rate({app="a"}[1m])) / sum(rate({app="b"}[1m])) * 100"#,
        r#"(sum(rate({app="a"} [1m])) / sum(rate({app="b"} [1m]))) * 100"#,
    );
    canonical("1 + 2 * 3", "1 + (2 * 3)");
    canonical("2 ^ 3 ^ 2", "2 ^ (3 ^ 2)");
    canonical("-1 + +2", "(-1) + 2");
    canonical(
        r#"count_over_time({app="a"}[1m]) > bool 2"#,
        r#"count_over_time({app="a"} [1m]) > bool 2"#,
    );
    canonical(
        r#"rate({app="a"}[1m]) / on (x) group_left (y) rate({app="b"}[1m])"#,
        r#"rate({app="a"} [1m]) / on (x) group_left (y) rate({app="b"} [1m])"#,
    );
    canonical(
        r#"rate({app="a"}[1m]) and rate({app="b"}[1m]) or vector(0)"#,
        r#"(rate({app="a"} [1m]) and rate({app="b"} [1m])) or vector(0)"#,
    );
}

#[test]
fn accessors() {
    let expr = parse(r#"{app="a"} |= "x" | json | line_format "y" |= "z""#).unwrap();
    assert!(expr.is_log_query());
    let selector = expr.log_selector().unwrap();
    assert_eq!(selector.matchers().len(), 1);
    assert_eq!(selector.matchers()[0].op, MatchOp::Equal);
    let pushed = selector.pushdown_filters();
    assert_eq!(pushed.len(), 1);
    assert_eq!(pushed[0].op(), LineFilterOp::Contains);
    assert_eq!(pushed[0].required_substrings(), vec!["x"]);
    let metric = parse(r#"sum(rate({a="b"}[1m])) + sum(rate({c="d"}[1m]))"#).unwrap();
    assert!(!metric.is_log_query());
    assert!(metric.log_selector().is_none());
    assert_eq!(metric.stream_matchers().len(), 2);
    let matchers = parse_selector(r#"{a="b", c=~"d.*"}"#).unwrap();
    assert_eq!(matchers.len(), 2);
    assert!(matchers[1].matches("dx"));
    assert!(!matchers[1].matches("xd"));
}

#[test]
fn syntax_errors_have_positions() {
    assert_eq!(
        error(r#"{app="a"} | json |"#),
        "parse error at line 1, col 19: syntax error: unexpected $end, expecting IDENTIFIER"
    );
    assert_eq!(
        error(r#"{app="a""#),
        "parse error at line 1, col 9: syntax error: unexpected $end, expecting , or }"
    );
    assert_eq!(
        error(r#"{app=a}"#),
        "parse error at line 1, col 6: syntax error: unexpected IDENTIFIER, expecting STRING"
    );
    assert_eq!(
        error("{app=\"a\"}\n  |= 5"),
        "parse error at line 2, col 6: syntax error: unexpected NUMBER, expecting STRING"
    );
    assert_eq!(
        error(r#"count_over_time({app="a"})"#),
        "parse error at line 1, col 26: syntax error: unexpected ), expecting ["
    );
    assert_eq!(
        error(r#"{app="a"} | unwrap x"#),
        "parse error at line 1, col 13: syntax error: unexpected unwrap"
    );
    assert_eq!(
        error(r#"{app="a"} @"#),
        "parse error at line 1, col 11: syntax error: unexpected character '@'"
    );
    assert_eq!(
        error(r#"{app="a"} |= "x"#),
        "parse error at line 1, col 14: syntax error: literal not terminated"
    );
    assert_eq!(
        error(r#"sum(1)"#),
        "parse error at line 1, col 5: syntax error: unexpected literal for vector aggregation sum"
    );
    assert_eq!(
        error("1 > 2"),
        "parse error at line 1, col 3: comparisons between scalars must use BOOL modifier"
    );
}

#[test]
fn semantic_errors() {
    let non_empty = "parse error : queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will";
    assert_eq!(error("{}"), non_empty);
    assert_eq!(error(r#"{app=~".*"}"#), non_empty);
    assert_eq!(error(r#"{app!="x"}"#), non_empty);
    assert_eq!(error(r#"count_over_time({app=""}[1m])"#), non_empty);
    assert!(parse(r#"{app=~".+", x!="y"}"#).is_ok());
    assert_eq!(
        error(r#"sum_over_time({app="a"}[1m])"#),
        "parse error : invalid aggregation sum_over_time without unwrap"
    );
    assert_eq!(
        error(r#"count_over_time({app="a"} | unwrap x [1m])"#),
        "parse error : invalid aggregation count_over_time with unwrap"
    );
    assert_eq!(
        error(r#"count_over_time({app="a"}[1m]) by (x)"#),
        "parse error : grouping not allowed for count_over_time aggregation"
    );
    assert!(
        error(r#"{app=~"("}"#).starts_with("parse error at line 1, col 7: error parsing regexp: ")
    );
    assert!(
        error(r#"{app="a"} |~ "(""#)
            .starts_with("parse error at line 1, col 14: error parsing regexp: ")
    );
    assert_eq!(
        error(r#"{app="a"} | line_format "{{ nope .a }}""#),
        "parse error at line 1, col 25: template: line:1: function \"nope\" not defined"
    );
    assert_eq!(
        error(r#"{app="a"} | regexp "(\\w+)""#),
        "parse error at line 1, col 20: at least one named capture must be supplied"
    );
    assert_eq!(
        error(r#"{app="a"} | label_format a=b, a="c""#),
        "parse error at line 1, col 31: multiple label name 'a' not allowed in a single format operation"
    );
    assert_eq!(
        error(r#"{app="a"} | pattern "<a><b>""#),
        "parse error at line 1, col 21: found consecutive capture: invalid expression"
    );
    assert!(parse_selector(r#"{a="b"} |= "x""#).is_err());
    assert!(parse_selector(r#"{a=""}"#).is_err());
}
