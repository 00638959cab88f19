//! Parser tests: every construct, precedence, and round trips through the
//! canonical (fully parenthesised) text, which serves as the AST snapshot.

use vispyr_traceql::{AttributeScope, Field, Intrinsic, Value, parse};

/// Parses `query`, checks its canonical text, and that the canonical text
/// parses back to itself.
#[track_caller]
fn canonical(query: &str, expected: &str) {
    let parsed = parse(query).unwrap_or_else(|err| panic!("{query:?} failed: {err}"));
    let text = parsed.to_string();
    assert_eq!(text, expected, "canonical form of {query:?}");
    let reparsed = parse(&text).unwrap_or_else(|err| panic!("canonical {text:?} failed: {err}"));
    assert_eq!(reparsed.to_string(), text, "round trip of {text:?}");
}

#[test]
fn empty_filter_selects_everything() {
    canonical("{}", "{ }");
    canonical("{ }", "{ }");
    canonical("{ true }", "{ true }");
}

#[test]
fn intrinsics() {
    canonical(r#"{ name = "GET /" }"#, r#"{ name = "GET /" }"#);
    canonical("{ status = error }", "{ status = error }");
    canonical("{ status != ok }", "{ status != ok }");
    canonical("{ status = unset }", "{ status = unset }");
    canonical("{ duration > 100ms }", "{ duration > 100ms }");
    canonical("{ kind = server }", "{ kind = server }");
    for kind in ["client", "producer", "consumer", "internal", "unspecified"] {
        canonical(
            &format!("{{ kind = {kind} }}"),
            &format!("{{ kind = {kind} }}"),
        );
    }
    canonical(
        r#"{ statusMessage = "boom" }"#,
        r#"{ statusMessage = "boom" }"#,
    );
    canonical(r#"{ rootName = "a" }"#, r#"{ trace:rootName = "a" }"#);
    canonical(
        r#"{ rootServiceName = "a" }"#,
        r#"{ trace:rootService = "a" }"#,
    );
    canonical("{ traceDuration > 1s }", "{ trace:duration > 1s }");
}

#[test]
fn scoped_intrinsics() {
    canonical(r#"{ span:name = "a" }"#, r#"{ name = "a" }"#);
    canonical("{ span:status = error }", "{ status = error }");
    canonical("{ span:duration > 1s }", "{ duration > 1s }");
    canonical("{ span:kind = client }", "{ kind = client }");
    canonical(
        r#"{ span:statusMessage = "x" }"#,
        r#"{ statusMessage = "x" }"#,
    );
    canonical(r#"{ span:id = "ab" }"#, r#"{ span:id = "ab" }"#);
    canonical(r#"{ span:parentID = "ab" }"#, r#"{ span:parentID = "ab" }"#);
    canonical("{ span:childCount = 0 }", "{ span:childCount = 0 }");
    canonical("{ trace:duration > 2s }", "{ trace:duration > 2s }");
    canonical(r#"{ trace:rootName = "a" }"#, r#"{ trace:rootName = "a" }"#);
    canonical(
        r#"{ trace:rootService = "a" }"#,
        r#"{ trace:rootService = "a" }"#,
    );
    canonical(r#"{ trace:id = "ab" }"#, r#"{ trace:id = "ab" }"#);
}

#[test]
fn attributes() {
    canonical(
        r#"{ resource.service.name = "frontend" }"#,
        r#"{ resource.service.name = "frontend" }"#,
    );
    canonical(
        "{ span.http.status_code >= 500 }",
        "{ span.http.status_code >= 500 }",
    );
    canonical("{ .foo = 1 }", "{ .foo = 1 }");
    canonical(r#"{ span."foo bar" = 1 }"#, r#"{ span."foo bar" = 1 }"#);
    canonical(
        r#"{ span.attr."with space" = 1 }"#,
        r#"{ span."attr.with space" = 1 }"#,
    );
    canonical(r#"{ span."a\"b" = 1 }"#, r#"{ span."a\"b" = 1 }"#);
    // Like Tempo, a name runs until whitespace or an operator character.
    canonical("{ .http-method/x:y = 1 }", "{ .http-method/x:y = 1 }");
    canonical("{.a=1}", "{ .a = 1 }");
    canonical("{ span.cache.hit }", "{ span.cache.hit }");
}

#[test]
fn literals() {
    canonical(r#"{ .a = "x\"y\n" }"#, r#"{ .a = "x\"y\n" }"#);
    canonical(r#"{ .a = `raw\n` }"#, r#"{ .a = "raw\\n" }"#);
    canonical("{ .a = 42 }", "{ .a = 42 }");
    canonical("{ .a = 1.5 }", "{ .a = 1.5 }");
    canonical("{ .a = 2.0 }", "{ .a = 2.0 }");
    canonical("{ .a = 1e3 }", "{ .a = 1000.0 }");
    canonical("{ .a = .5 }", "{ .a = 0.5 }");
    canonical("{ .a = true }", "{ .a = true }");
    canonical("{ .a = false }", "{ .a = false }");
    canonical("{ .a != minInt }", "{ .a != minInt }");
    canonical("{ .a != maxInt }", "{ .a != 9223372036854775807 }");
    canonical("{ .a > -1 }", "{ .a > (-1) }");
}

#[test]
fn durations() {
    for (literal, canonical_form) in [
        ("100ns", "100ns"),
        ("10us", "10us"),
        ("10µs", "10us"),
        ("100ms", "100ms"),
        ("1.5s", "1500ms"),
        ("2m", "2m"),
        ("1h", "1h"),
        ("1h30m", "90m"),
        ("1d", "24h"),
        ("0s", "0s"),
    ] {
        canonical(
            &format!("{{ duration > {literal} }}"),
            &format!("{{ duration > {canonical_form} }}"),
        );
    }
}

#[test]
fn nil_comparisons_become_existence_checks() {
    canonical("{ span.foo = nil }", "{ span.foo = nil }");
    canonical("{ span.foo != nil }", "{ span.foo != nil }");
    canonical("{ nil != span.foo }", "{ span.foo != nil }");
    canonical("{ nil = nil }", "{ false }");
}

#[test]
fn comparison_and_regex_operators() {
    for op in ["=", "!=", ">", ">=", "<", "<="] {
        canonical(&format!("{{ .a {op} 1 }}"), &format!("{{ .a {op} 1 }}"));
    }
    canonical(r#"{ name =~ "GET.*" }"#, r#"{ name =~ "GET.*" }"#);
    canonical(r#"{ name !~ "GET.*" }"#, r#"{ name !~ "GET.*" }"#);
    canonical(r#"{ .a >= "400" }"#, r#"{ .a >= "400" }"#);
}

#[test]
fn field_precedence() {
    // && binds tighter than ||.
    canonical("{ .a || .b && .c }", "{ .a || (.b && .c) }");
    canonical("{ .a && .b || .c }", "{ (.a && .b) || .c }");
    canonical("{ (.a || .b) && .c }", "{ (.a || .b) && .c }");
    // Comparisons bind tighter than && and ||.
    canonical(
        "{ .a = 1 && .b = 2 || .c = 3 }",
        "{ ((.a = 1) && (.b = 2)) || (.c = 3) }",
    );
    // Arithmetic: * over +, ^ right-associative and tightest.
    canonical("{ .a * .b + .c = 1 }", "{ ((.a * .b) + .c) = 1 }");
    canonical("{ .a + .b * .c = 1 }", "{ (.a + (.b * .c)) = 1 }");
    canonical("{ .a + .b ^ .c = 1 }", "{ (.a + (.b ^ .c)) = 1 }");
    canonical("{ .a ^ .b ^ .c = 1 }", "{ (.a ^ (.b ^ .c)) = 1 }");
    canonical("{ .a - .b - .c = 1 }", "{ ((.a - .b) - .c) = 1 }");
    canonical(
        "{ span.size > 10 * 1024 * 1024 }",
        "{ span.size > ((10 * 1024) * 1024) }",
    );
    canonical("{ .c - -.a + .b = 1 }", "{ ((.c - (-.a)) + .b) = 1 }");
    // As in Tempo, ! binds tighter than comparisons.
    canonical("{ !.a = .b }", "{ (!.a) = .b }");
    canonical("{ !(.a = .b) }", "{ !(.a = .b) }");
    canonical(
        "{ !(status = error) && .x }",
        "{ (!(status = error)) && .x }",
    );
    canonical("{ .a = !.b && .c }", "{ (.a = (!.b)) && .c }");
}

#[test]
fn spanset_operators() {
    for op in [
        "&&", "||", ">", "<", ">>", "<<", "~", "!>", "!<", "!>>", "!<<", "!~", "&>", "&<", "&>>",
        "&<<", "&~",
    ] {
        canonical(
            &format!("{{ .a }} {op} {{ .b }}"),
            &format!("{{ .a }} {op} {{ .b }}"),
        );
    }
    canonical("{.a}>>{.b}", "{ .a } >> { .b }");
}

#[test]
fn spanset_precedence() {
    // && binds tighter than ||, structural operators tighter than both.
    canonical("{ .a } || { .b } && { .c }", "{ .a } || ({ .b } && { .c })");
    canonical("{ .a } && { .b } || { .c }", "({ .a } && { .b }) || { .c }");
    canonical("{ .a } && { .b } >> { .c }", "{ .a } && ({ .b } >> { .c })");
    canonical("{ .a } >> { .b } && { .c }", "({ .a } >> { .b }) && { .c }");
    canonical("{ .a } >> { .b } ~ { .c }", "({ .a } >> { .b }) ~ { .c }");
    canonical("({ .a } || { .b }) > { .c }", "({ .a } || { .b }) > { .c }");
    canonical("({ .a }) && ({ .b })", "{ .a } && { .b }");
    // A `>` between spansets is the child operator, inside braces a comparison.
    canonical("{ .a > 1 } > { .b < 2 }", "{ .a > 1 } > { .b < 2 }");
}

#[test]
fn pipelines() {
    canonical("{} | count() > 1", "{ } | count() > 1");
    canonical("{ } | avg(duration) > 1s", "{ } | avg(duration) > 1s");
    canonical("{ } | max(duration) >= 1s", "{ } | max(duration) >= 1s");
    canonical("{ } | min(span.x) < 3", "{ } | min(span.x) < 3");
    canonical(
        "{ } | sum(span.bytes) > 1000",
        "{ } | sum(span.bytes) > 1000",
    );
    canonical("count() > 10", "count() > 10");
    canonical("{ } | 2 < count()", "{ } | 2 < count()");
    canonical("{ } | count() + 1 > 2 * 3", "{ } | (count() + 1) > (2 * 3)");
    canonical(
        "{ } | (count() + 1) * 2 > 3",
        "{ } | ((count() + 1) * 2) > 3",
    );
    canonical(
        "{ status = error } | by(resource.service.name) | count() > 1",
        "{ status = error } | by(resource.service.name) | count() > 1",
    );
    canonical(
        "{ status = error } | select(span.http.status_code, span.http.url)",
        "{ status = error } | select(span.http.status_code, span.http.url)",
    );
    canonical("{ } | by(.a) | coalesce()", "{ } | by(.a) | coalesce()");
    canonical("{ .a } | { .b }", "{ .a } | { .b }");
    canonical(
        "({ .a } | count() > 1) && ({ .b } | count() > 2)",
        "({ .a } | count() > 1) && ({ .b } | count() > 2)",
    );
    canonical(
        "({ .a } | { .b }) > ({ .a } | { .b }) && ({ .a } | { .b })",
        "(({ .a } | { .b }) > ({ .a } | { .b })) && ({ .a } | { .b })",
    );
}

#[test]
fn hints() {
    let query = parse("{ } with (most_recent=true)").unwrap();
    assert_eq!(
        query.hints(),
        &[("most_recent".to_string(), Value::Bool(true))]
    );
    canonical(
        "{ } with (most_recent=true, n=3)",
        "{ } with (most_recent=true, n=3)",
    );
}

#[test]
fn whitespace_comments_and_newlines() {
    canonical(
        "{\n  resource.service.name = \"frontend\" &&\n  name = \"POST /api/orders\" // the route\n}",
        r#"{ (resource.service.name = "frontend") && (name = "POST /api/orders") }"#,
    );
    canonical("{ /* all */ }", "{ }");
}

#[test]
fn selected_fields() {
    let query = parse("{ } | select(span.a, name) | select(span.a, resource.b)").unwrap();
    assert_eq!(
        query.selected_fields(),
        vec![
            Field::Attribute {
                scope: AttributeScope::Span,
                name: "a".into()
            },
            Field::Intrinsic(Intrinsic::Name),
            Field::Attribute {
                scope: AttributeScope::Resource,
                name: "b".into()
            },
        ]
    );
}

#[test]
fn tempo_documentation_examples_parse() {
    let examples = [
        "{ span.http.status_code >= 200 && span.http.status_code < 300 } | count() > 2",
        r#"{resource.service.name = "frontend" && name = "POST /api/orders"}"#,
        r#"{ span.service.name="frontend" && name = "GET /api/products/{id}"} && {span.db.system="postgresql"}"#,
        r#"{ resource.deployment.environment = "production" } && { resource.deployment.environment = "staging" }"#,
        r#"{ resource.service.name="frontend" } >> { status = error }"#,
        r#"{ } !< { resource.service.name = "productcatalogservice" }"#,
        r#"{ resource.service.name = "productcatalogservice" } ~ { resource.service.name="frontend" }"#,
        "{ span:childCount > 10 }",
        "{ span.http.status_code = 200 } | select(resource.service.name)",
        r#"{ span.http.method = "GET" && status = ok } && { span.http.method = "DELETE" && status != ok }"#,
        r#"{ resource.deployment.environment =~ "prod-.*" && span.http.status_code = 200 }"#,
        "{ trace:duration > 5s }",
        r#"{ resource.deployment.environment = "production" && trace:duration > 2s } | count() > 30"#,
        r#"{ resource.k8s.cluster.name="service-name" && trace:rootName !~ ".*perf.*"}"#,
        r#"{ span.attribute.\"attribute name with space\" = "value" }"#,
        "{ span.value != minInt && span.value != maxInt }",
        "{ span.optional_field = nil }",
        "{ span.cache.hit || span.http.status_code = 500 }",
        r#"{ span.http.url = "/path/of/api" && status = error } &>> { status = error }"#,
        "{ status = error } !< { status = error }",
        "{ } | sum(span.bytesProcessed) > 1000000000",
        "avg(duration) > 20ms",
        "{ span.http.request_content_length > 10 * 1024 * 1024 }",
        r#"{ span.foo = "bar" } >> { status = error } with (most_recent=true)"#,
    ];
    for example in examples {
        let example = example.replace("\\\"", "\"");
        let query = parse(&example).unwrap_or_else(|err| panic!("{example:?}: {err}"));
        let text = query.to_string();
        assert_eq!(
            parse(&text).unwrap().to_string(),
            text,
            "round trip of {example:?}"
        );
    }
}
