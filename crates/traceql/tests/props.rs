//! Property tests: the parser never panics and its canonical text round
//! trips; evaluation keeps its output invariants; `required_span_filters`
//! is sound on random traces and queries.

use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use vispyr_traceql::{Kind, SpanData, Status, Trace, Value, parse};

/// If `text` parses, its canonical form parses back to itself.
fn assert_round_trip(text: &str) -> Result<(), TestCaseError> {
    if let Ok(query) = parse(text) {
        let canonical = query.to_string();
        let reparsed = parse(&canonical)
            .map_err(|err| TestCaseError::fail(format!("{text:?} -> {canonical:?}: {err}")))?;
        prop_assert_eq!(reparsed.to_string(), canonical, "from {:?}", text);
    }
    Ok(())
}

const VALID_QUERIES: [&str; 16] = [
    "{ }",
    "{} | count() > 1",
    r#"{ resource.service.name = "frontend" && name = "POST /api/orders" }"#,
    "{ span.http.status_code >= 200 && span.http.status_code < 300 } | count() > 2",
    r#"{ resource.service.name="frontend" } >> { status = error }"#,
    r#"{ } !< { resource.service.name = "productcatalogservice" }"#,
    "{ status = error } | by(resource.service.name) | count() > 1",
    "{ kind = client } | avg(duration) > 200ms",
    r#"{ span."foo bar" =~ "a.*" || .x != nil }"#,
    "({ .a } | count() > 1) && ({ .b } | max(duration) < 1h30m)",
    "{ span.size > 10 * 1024 ^ 2 - -1 } | select(span.size, trace:rootName)",
    "{ !(span.cache.hit) && trace:duration > 1.5s } &>> { span:childCount = 0 }",
    "{ .a = `raw` } ~ { .b = \"\\u00e9\\n\" } with (most_recent=true)",
    "{ } | (count() + 1) * 2 >= sum(span.bytes) / 3",
    "{ statusMessage != \"\" } | coalesce()",
    "{ .a = minInt } !~ { kind = consumer }",
];

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize),
    Insert(usize, char),
    Replace(usize, char),
    Duplicate(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let token_chars = prop::sample::select(
        "{}()=!~<>&|^,.:\"`'\\ abz019+-*/%\nµé"
            .chars()
            .collect::<Vec<char>>(),
    );
    prop_oneof![
        any::<usize>().prop_map(Mutation::Delete),
        (any::<usize>(), token_chars.clone()).prop_map(|(at, c)| Mutation::Insert(at, c)),
        (any::<usize>(), token_chars).prop_map(|(at, c)| Mutation::Replace(at, c)),
        (any::<usize>(), 1usize..12).prop_map(|(at, len)| Mutation::Duplicate(at, len)),
    ]
}

fn apply(query: &str, mutations: &[Mutation]) -> String {
    let mut chars: Vec<char> = query.chars().collect();
    for mutation in mutations {
        let len = chars.len().max(1);
        match *mutation {
            Mutation::Delete(at) => {
                if !chars.is_empty() {
                    chars.remove(at % chars.len());
                }
            }
            Mutation::Insert(at, c) => chars.insert(at % (chars.len() + 1), c),
            Mutation::Replace(at, c) => {
                if !chars.is_empty() {
                    let i = at % chars.len();
                    chars[i] = c;
                }
            }
            Mutation::Duplicate(at, n) => {
                let start = at % len;
                let end = (start + n).min(chars.len());
                let copy: Vec<char> = chars.get(start..end).unwrap_or(&[]).to_vec();
                let position = end.min(chars.len());
                chars.splice(position..position, copy);
            }
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(Config { cases: 2000, ..Config::default() })]

    #[test]
    fn parser_never_panics_on_arbitrary_text(text in ".{0,80}") {
        assert_round_trip(&text)?;
    }

    #[test]
    fn parser_never_panics_on_query_like_text(
        text in r#"[{}()\[\]=!~<>&|^,.:"`a-z0-9 +*/%\n\\-]{0,60}"#
    ) {
        assert_round_trip(&text)?;
    }

    #[test]
    fn parser_never_panics_on_mutated_queries(
        base in prop::sample::select(VALID_QUERIES.to_vec()),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let mutated = apply(base, &mutations);
        assert_round_trip(&mutated)?;
    }
}

#[test]
fn every_base_query_is_valid() {
    for query in VALID_QUERIES {
        assert!(parse(query).is_ok(), "{query}: {:?}", parse(query).err());
    }
}

// ---------------------------------------------------------------------
// Random traces and queries
// ---------------------------------------------------------------------

const MS: i64 = 1_000_000;

fn small_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0i64..3).prop_map(Value::Int),
        prop::sample::select(vec!["x", "y", "a"]).prop_map(|s| Value::Str(s.to_string())),
        any::<bool>().prop_map(Value::Bool),
        prop::sample::select(vec![0.5, 1.0, 1.5]).prop_map(Value::Float),
        Just(Value::Duration(10 * MS)),
    ]
}

#[derive(Debug, Clone)]
struct RawSpan {
    name: &'static str,
    status: Status,
    kind: Kind,
    duration_ms: i64,
    start_ms: i64,
    parent: usize,
    orphan: bool,
    service: &'static str,
    a: Option<Value>,
    b: Option<Value>,
    flag: Option<bool>,
    r: Option<Value>,
}

fn raw_span() -> impl Strategy<Value = RawSpan> {
    (
        (
            prop::sample::select(vec!["x", "a", "y"]),
            prop::sample::select(vec![Status::Ok, Status::Error, Status::Unset]),
            prop::sample::select(vec![Kind::Server, Kind::Client, Kind::Internal]),
            prop::sample::select(vec![0i64, 5, 10, 50, 100]),
            0i64..100,
            0usize..10,
            prop::bool::weighted(0.1),
        ),
        (
            prop::sample::select(vec!["s1", "s2", ""]),
            prop::option::of(small_value()),
            prop::option::of(small_value()),
            prop::option::of(any::<bool>()),
            prop::option::of(small_value()),
        ),
    )
        .prop_map(
            |(
                (name, status, kind, duration_ms, start_ms, parent, orphan),
                (service, a, b, flag, r),
            )| {
                RawSpan {
                    name,
                    status,
                    kind,
                    duration_ms,
                    start_ms,
                    parent,
                    orphan,
                    service,
                    a,
                    b,
                    flag,
                    r,
                }
            },
        )
}

fn trace() -> impl Strategy<Value = Trace> {
    prop::collection::vec(raw_span(), 1..8).prop_map(|raw| {
        let spans = raw
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let parent_span_id = if r.orphan {
                    "missing".to_string()
                } else if r.parent < i {
                    format!("s{}", r.parent)
                } else {
                    String::new()
                };
                let mut span_attributes = Vec::new();
                let mut resource_attributes = Vec::new();
                if let Some(v) = &r.a {
                    span_attributes.push(("a".to_string(), v.clone()));
                }
                if let Some(v) = &r.b {
                    span_attributes.push(("b".to_string(), v.clone()));
                }
                if let Some(v) = r.flag {
                    span_attributes.push(("flag".to_string(), Value::Bool(v)));
                }
                if let Some(v) = &r.r {
                    resource_attributes.push(("r".to_string(), v.clone()));
                }
                SpanData {
                    span_id: format!("s{i}"),
                    parent_span_id,
                    name: r.name.to_string(),
                    service_name: r.service.to_string(),
                    kind: r.kind,
                    status: r.status,
                    status_message: String::new(),
                    start_ns: r.start_ms * MS,
                    duration_ns: r.duration_ms * MS,
                    span_attributes,
                    resource_attributes,
                }
            })
            .collect();
        Trace {
            trace_id: "t".to_string(),
            spans,
        }
    })
}

fn pick(options: &[&'static str]) -> impl Strategy<Value = String> + Clone + use<> {
    prop::sample::select(options.to_vec()).prop_map(str::to_string)
}

/// Comparisons with operands of matching types, so most queries type-check.
fn comparison() -> impl Strategy<Value = String> + Clone {
    let ordered = pick(&["=", "!=", ">", ">=", "<", "<="]);
    let equality = pick(&["=", "!="]);
    let regex = pick(&["=~", "!~"]);
    let any_op = pick(&["=", "!=", ">", ">=", "<", "<=", "=~", "!~"]);
    let string_literals = pick(&[r#""x""#, r#""a""#, r#""y""#, r#""s1""#]);
    let patterns = pick(&[r#""x|a""#, r#"".*""#, r#""s.*""#, r#""a""#]);
    let attributes = pick(&[
        "span.a",
        "span.b",
        ".a",
        ".r",
        "resource.r",
        "resource.service.name",
        "span.flag",
    ]);
    let attribute_values = pick(&[
        "0", "1", "2", "1.5", "0.5", r#""x""#, r#""y""#, r#""s1""#, "true", "false", "10ms", "nil",
    ]);
    prop_oneof![
        (
            pick(&["name", "span:name", "trace:rootName", "trace:rootService"]),
            ordered.clone(),
            string_literals
        )
            .prop_map(|(f, o, v)| format!("{f} {o} {v}")),
        (
            pick(&["name", "resource.service.name", ".a", "span.b"]),
            regex,
            patterns
        )
            .prop_map(|(f, o, v)| format!("{f} {o} {v}")),
        (
            pick(&["status", "span:status"]),
            equality.clone(),
            pick(&["ok", "error", "unset"])
        )
            .prop_map(|(f, o, v)| format!("{f} {o} {v}")),
        (
            pick(&["kind"]),
            equality,
            pick(&["server", "client", "internal"])
        )
            .prop_map(|(f, o, v)| format!("{f} {o} {v}")),
        (
            pick(&["duration", "trace:duration", "span:childCount"]),
            ordered,
            pick(&["0", "5ms", "10ms", "50ms", "1", "100ms"])
        )
            .prop_map(|(f, o, v)| format!("{f} {o} {v}")),
        (attributes.clone(), any_op, attribute_values).prop_map(|(f, o, v)| format!("{f} {o} {v}")),
        attributes,
        pick(&[
            "span.a + 1 > 1",
            "span.a * 2 = 2",
            "10 * 1 >= span.a",
            "true",
            "false"
        ]),
    ]
}

fn field_expression() -> impl Strategy<Value = String> + Clone {
    comparison().prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} && {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) || ({b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} || {b}")),
            inner.prop_map(|a| format!("!({a})")),
        ]
    })
}

fn spanset_expression() -> impl Strategy<Value = String> {
    let filter = prop_oneof![
        Just("{ }".to_string()),
        field_expression().prop_map(|e| format!("{{ {e} }}")),
    ];
    filter.prop_recursive(3, 8, 2, |inner| {
        let op = pick(&[
            "&&", "||", ">", "<", ">>", "<<", "~", "!>", "!<", "!>>", "!<<", "!~", "&>", "&<",
            "&>>", "&<<", "&~",
        ]);
        prop_oneof![
            (inner.clone(), op, inner.clone()).prop_map(|(a, o, b)| format!("({a}) {o} ({b})")),
            (inner, stage()).prop_map(|(a, s)| format!("({a} | {s})")),
        ]
    })
}

fn stage() -> impl Strategy<Value = String> {
    prop_oneof![
        pick(&[
            "count() > 1",
            "count() = 1",
            "count() >= 2",
            "by(span.a)",
            "by(resource.service.name)",
            "avg(duration) > 10ms",
            "max(span.a) >= 1",
            "sum(span.a) < 3",
            "min(duration) <= 5ms",
            "coalesce()",
            "select(span.a)",
        ]),
        field_expression().prop_map(|e| format!("{{ {e} }}")),
    ]
}

fn query() -> impl Strategy<Value = String> {
    // Plain filters often match and carry conditions; weight them up so the
    // soundness property is exercised rather than vacuous.
    let first = prop_oneof![
        3 => comparison().prop_map(|e| format!("{{ {e} }}")),
        2 => (comparison(), comparison()).prop_map(|(a, b)| format!("{{ {a} && {b} }}")),
        4 => spanset_expression(),
    ];
    (first, prop::collection::vec(stage(), 0..3)).prop_map(|(first, stages)| {
        let mut text = first;
        for stage in stages {
            text.push_str(" | ");
            text.push_str(&stage);
        }
        text
    })
}

#[test]
fn required_span_filters_are_sound() {
    let parsed = AtomicUsize::new(0);
    let matched = AtomicUsize::new(0);
    let pruned = AtomicUsize::new(0);
    let mut runner = TestRunner::new(Config {
        cases: 3000,
        ..Config::default()
    });
    let result = runner.run(&(trace(), query()), |(trace, text)| {
        let Ok(query) = parse(&text) else {
            return Ok(());
        };
        parsed.fetch_add(1, Ordering::Relaxed);
        assert_round_trip(&text)?;
        let sets = query.evaluate(&trace);
        for set in &sets {
            prop_assert!(!set.spans.is_empty(), "empty spanset for {}", text);
            prop_assert!(
                set.spans.windows(2).all(|w| w[0] < w[1]),
                "unsorted for {}",
                text
            );
            prop_assert!(set.spans.iter().all(|&i| i < trace.spans.len()));
        }
        if sets.is_empty() {
            return Ok(());
        }
        matched.fetch_add(1, Ordering::Relaxed);
        let required = query.required_span_filters();
        if !required.is_empty() {
            pruned.fetch_add(1, Ordering::Relaxed);
        }
        for conjunction in required {
            let satisfied = trace
                .spans
                .iter()
                .any(|span| conjunction.iter().all(|c| c.matches_span(span)));
            prop_assert!(
                satisfied,
                "{} matched but no span satisfies {:?}",
                text,
                conjunction
            );
        }
        Ok(())
    });
    if let Err(err) = result {
        panic!("{err}");
    }
    let (parsed, matched, pruned) = (
        parsed.into_inner(),
        matched.into_inner(),
        pruned.into_inner(),
    );
    // Guard against a vacuous property: enough queries must parse, match and
    // come with conditions.
    let counts = format!("{parsed} parsed, {matched} matched, {pruned} matched with conditions");
    assert!(parsed > 1500, "{counts}");
    assert!(matched > 300, "{counts}");
    assert!(pruned > 100, "{counts}");
}
