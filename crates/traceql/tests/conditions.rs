//! `required_span_filters`: what is extracted, and `Condition::matches_span`.

mod common;

use common::{checkout_trace, idx};
use vispyr_traceql::{AttributeScope, CompareOp, Condition, Field, Intrinsic, Value, parse};

fn attr(scope: AttributeScope, name: &str) -> Field {
    Field::Attribute {
        scope,
        name: name.to_string(),
    }
}

fn cond(field: Field, op: CompareOp, value: Value) -> Condition {
    Condition { field, op, value }
}

fn required(query: &str) -> Vec<Vec<Condition>> {
    parse(query).unwrap().required_span_filters()
}

#[test]
fn conjunction_of_one_filter() {
    assert_eq!(
        required(r#"{ resource.service.name = "frontend" && status = error && duration > 1s }"#),
        vec![vec![
            cond(
                attr(AttributeScope::Resource, "service.name"),
                CompareOp::Eq,
                Value::Str("frontend".into())
            ),
            cond(
                Field::Intrinsic(Intrinsic::Status),
                CompareOp::Eq,
                Value::Status(vispyr_traceql::Status::Error)
            ),
            cond(
                Field::Intrinsic(Intrinsic::Duration),
                CompareOp::Gt,
                Value::Duration(1_000_000_000)
            ),
        ]]
    );
}

#[test]
fn both_sides_of_and_and_structural_operators() {
    let expected = vec![
        vec![cond(
            attr(AttributeScope::Any, "a"),
            CompareOp::Eq,
            Value::Int(1),
        )],
        vec![cond(
            attr(AttributeScope::Span, "b"),
            CompareOp::Ne,
            Value::Int(2),
        )],
    ];
    assert_eq!(required("{ .a = 1 } && { span.b != 2 }"), expected);
    assert_eq!(required("{ .a = 1 } >> { span.b != 2 }"), expected);
    assert_eq!(required("{ .a = 1 } &~ { span.b != 2 }"), expected);
    assert_eq!(
        required("{ .a = 1 } | { span.b != 2 } | count() > 1"),
        expected
    );
    // The negated structural operators need only the right side.
    assert_eq!(
        required("{ .a = 1 } !>> { span.b != 2 }"),
        vec![expected[1].clone()]
    );
}

#[test]
fn nothing_is_required_from_disjunctions() {
    assert!(required("{ .a = 1 } || { .b = 2 }").is_empty());
    assert!(required("{ .a = 1 || .b = 2 }").is_empty());
    assert!(required("{ !(.a = 1) }").is_empty());
    assert!(required("{ }").is_empty());
    assert!(required("{} | count() > 1").is_empty());
    assert!(required("{ .a = nil }").is_empty());
    assert!(required("{ .a + 1 = 2 }").is_empty());
}

#[test]
fn trace_level_fields_are_not_span_conditions() {
    assert!(required("{ trace:duration > 1s }").is_empty());
    assert!(required(r#"{ rootServiceName = "a" }"#).is_empty());
    assert!(required("{ span:childCount = 0 }").is_empty());
    assert_eq!(
        required(r#"{ trace:duration > 1s && name = "x" }"#),
        vec![vec![cond(
            Field::Intrinsic(Intrinsic::Name),
            CompareOp::Eq,
            Value::Str("x".into())
        )]]
    );
}

#[test]
fn literals_on_the_left_flip_and_constants_fold() {
    assert_eq!(
        required("{ 500 <= span.http.status_code }"),
        vec![vec![cond(
            attr(AttributeScope::Span, "http.status_code"),
            CompareOp::Ge,
            Value::Int(500)
        )]]
    );
    assert_eq!(
        required("{ span.size > 10 * 1024 }"),
        vec![vec![cond(
            attr(AttributeScope::Span, "size"),
            CompareOp::Gt,
            Value::Int(10240)
        )]]
    );
}

#[test]
fn regexes_and_boolean_attributes() {
    assert_eq!(
        required(r#"{ name =~ "GET.*" && span.cache.hit }"#),
        vec![vec![
            cond(
                Field::Intrinsic(Intrinsic::Name),
                CompareOp::Regex,
                Value::Str("GET.*".into())
            ),
            cond(
                attr(AttributeScope::Span, "cache.hit"),
                CompareOp::Eq,
                Value::Bool(true)
            ),
        ]]
    );
}

#[test]
fn duplicate_filters_are_listed_once() {
    assert_eq!(required("{ .a = 1 } && { .a = 1 }").len(), 1);
}

#[test]
fn matches_span_follows_the_evaluator() {
    let trace = checkout_trace();
    let e = &trace.spans[idx('e')];
    let a = &trace.spans[idx('a')];
    let service_is_frontend = cond(
        attr(AttributeScope::Resource, "service.name"),
        CompareOp::Eq,
        Value::Str("frontend".into()),
    );
    assert!(service_is_frontend.matches_span(a));
    assert!(!service_is_frontend.matches_span(e));
    let rows_not_zero = cond(
        attr(AttributeScope::Span, "db.rows"),
        CompareOp::Ne,
        Value::Int(0),
    );
    assert!(!rows_not_zero.matches_span(e));
    // A missing attribute satisfies no condition, `!=` included.
    assert!(!rows_not_zero.matches_span(a));
    let anchored = cond(
        Field::Intrinsic(Intrinsic::Name),
        CompareOp::Regex,
        Value::Str("SELECT".into()),
    );
    assert!(!anchored.matches_span(e));
    let prefix = cond(
        Field::Intrinsic(Intrinsic::Name),
        CompareOp::Regex,
        Value::Str("SELECT.*".into()),
    );
    assert!(prefix.matches_span(e));
    let not_prefix = cond(
        Field::Intrinsic(Intrinsic::Name),
        CompareOp::NotRegex,
        Value::Str("SELECT.*".into()),
    );
    assert!(not_prefix.matches_span(a));
    let slow = cond(
        Field::Intrinsic(Intrinsic::Duration),
        CompareOp::Gt,
        Value::Duration(299_000_000),
    );
    assert!(slow.matches_span(e));
    // Trace-level fields cannot be judged on one span.
    let root = cond(
        Field::Intrinsic(Intrinsic::RootName),
        CompareOp::Eq,
        Value::Str("GET /checkout".into()),
    );
    assert!(!root.matches_span(a));
}
