//! Evaluation on the hand-built checkout trace (see `common/mod.rs`).

mod common;

use common::{MS, assert_selects, checkout_trace, idx, spans};
use vispyr_traceql::{Kind, SpanData, SpanSet, Status, Trace, Value, parse};

#[test]
fn empty_filter_selects_every_span() {
    assert_selects("{}", "abcdef");
    assert_selects("{ true }", "abcdef");
    assert_selects("{ false }", "");
}

#[test]
fn intrinsics() {
    assert_selects(r#"{ name = "POST /cart" }"#, "c");
    assert_selects(r#"{ span:name = "POST /cart" }"#, "c");
    assert_selects("{ status = error }", "ce");
    assert_selects("{ status = ok }", "af");
    assert_selects("{ status = unset }", "bd");
    assert_selects("{ status != ok }", "bcde");
    assert_selects("{ kind = client }", "bef");
    assert_selects("{ kind = internal }", "d");
    assert_selects("{ span:kind = server }", "ac");
    assert_selects("{ kind = producer }", "");
    assert_selects("{ duration > 300ms }", "abc");
    assert_selects("{ duration >= 300ms }", "abce");
    assert_selects("{ duration < 20ms }", "d");
    assert_selects("{ duration <= 20ms }", "df");
    assert_selects("{ span:duration = 5ms }", "d");
    assert_selects(r#"{ statusMessage = "timeout" }"#, "e");
    assert_selects(r#"{ span:statusMessage != "" }"#, "ce");
    assert_selects(r#"{ span:id = "c3" }"#, "c");
    assert_selects(r#"{ span:parentID = "c3" }"#, "def");
    assert_selects("{ span:parentID = nil }", "a");
    assert_selects("{ span:childCount = 3 }", "c");
    assert_selects("{ span:childCount = 0 }", "def");
    assert_selects(
        r#"{ trace:id = "0af7651916cd43dd8448eb211c80319c" }"#,
        "abcdef",
    );
}

#[test]
fn trace_level_intrinsics() {
    assert_selects(r#"{ rootName = "GET /checkout" }"#, "abcdef");
    assert_selects(r#"{ trace:rootName = "POST /cart" }"#, "");
    assert_selects(r#"{ rootServiceName = "frontend" }"#, "abcdef");
    assert_selects(
        r#"{ trace:rootService = "frontend" && status = error }"#,
        "ce",
    );
    // max(end) - min(start) = 500ms - 0ms.
    assert_selects("{ traceDuration = 500ms }", "abcdef");
    assert_selects("{ trace:duration > 500ms }", "");
}

#[test]
fn root_is_the_span_whose_parent_is_missing() {
    let mut trace = checkout_trace();
    trace.spans.retain(|s| s.name != "GET /checkout");
    let query = parse(r#"{ rootName = "HTTP POST" && rootServiceName = "frontend" }"#).unwrap();
    assert_eq!(query.evaluate(&trace)[0].spans.len(), 5);
}

#[test]
fn scoped_and_unscoped_attributes() {
    assert_selects("{ span.http.status_code = 500 }", "bc");
    assert_selects(r#"{ span.http.method = "GET" }"#, "a");
    // service.name falls back to SpanData::service_name.
    assert_selects(r#"{ resource.service.name = "frontend" }"#, "ab");
    assert_selects(r#"{ resource.service.name = "backend" }"#, "cd");
    assert_selects(r#"{ .service.name = "db" }"#, "ef");
    assert_selects(r#"{ .db.system = "postgresql" }"#, "ef");
    assert_selects(r#"{ span.service.name = "db" }"#, "");
    assert_selects(r#"{ resource.db.system = "postgresql" }"#, "");
    assert_selects(
        r#"{ resource.deployment.environment = "production" }"#,
        "abcd",
    );
    assert_selects("{ resource.host.cores = 8 }", "ef");
    assert_selects("{ span.db.timeout = 250ms }", "e");
}

#[test]
fn quoted_attribute_names() {
    let mut trace = checkout_trace();
    trace.spans[idx('a')]
        .span_attributes
        .push(("foo bar".to_string(), Value::Str("x".into())));
    let query = parse(r#"{ span."foo bar" = "x" }"#).unwrap();
    assert_eq!(query.evaluate(&trace)[0].spans, vec![idx('a')]);
}

#[test]
fn missing_attributes_and_type_mismatches_are_false() {
    // `!=` on a missing attribute is false, as in Tempo.
    assert_selects("{ span.db.rows != 0 }", "f");
    assert_selects("{ span.db.rows = nil }", "abcd");
    assert_selects("{ span.db.rows != nil }", "ef");
    assert_selects("{ span.http.method = 200 }", "");
    assert_selects(r#"{ span.http.status_code = "500" }"#, "");
    assert_selects(r#"{ span.http.status_code != "500" }"#, "");
    assert_selects("{ span.cache.hit > 1 }", "");
}

#[test]
fn numbers_compare_across_types() {
    assert_selects("{ span.ratio > 0.5 }", "c");
    assert_selects("{ span.ratio < 1 }", "c");
    assert_selects("{ span.http.status_code > 499.5 }", "bc");
    assert_selects("{ span.http.status_code = 500.0 }", "bc");
    // Durations compare with plain numbers as nanoseconds.
    assert_selects("{ duration > 300000000 }", "abc");
    assert_selects("{ span.db.timeout < 0.3s }", "e");
}

#[test]
fn strings_compare_lexicographically() {
    assert_selects(r#"{ name >= "P" }"#, "cde");
    assert_selects(r#"{ name < "H" }"#, "a");
}

#[test]
fn regexes_are_fully_anchored() {
    assert_selects(r#"{ name =~ "GET" }"#, "");
    assert_selects(r#"{ name =~ "GET.*" }"#, "a");
    assert_selects(r#"{ name =~ ".*cart" }"#, "ce");
    assert_selects(r#"{ name !~ ".*cart.*" }"#, "abdf");
    assert_selects(r#"{ name =~ "POST /cart|cache get" }"#, "cd");
    assert_selects(r#"{ resource.service.name =~ "front.*|db" }"#, "abef");
    // A missing attribute matches neither way.
    assert_selects(r#"{ span.db.system !~ "mysql" }"#, "ef");
    assert_selects(r#"{ span.http.status_code =~ "5.*" }"#, "");
}

#[test]
fn boolean_attributes_and_logic() {
    assert_selects("{ span.cache.hit }", "a");
    assert_selects("{ span.cache.hit = false }", "d");
    assert_selects("{ !span.cache.hit }", "d");
    assert_selects("{ span.cache.hit || span.http.status_code = 500 }", "abc");
    assert_selects("{ span.cache.hit && status = ok }", "a");
    assert_selects("{ !(status = error) }", "abdf");
    assert_selects("{ status = error && kind = client }", "e");
    assert_selects("{ status = error || kind = internal }", "cde");
}

#[test]
fn and_binds_tighter_than_or() {
    assert_selects("{ status = ok || status = error && kind = client }", "aef");
    assert_selects("{ (status = ok || status = error) && kind = client }", "ef");
}

#[test]
fn arithmetic() {
    assert_selects("{ span.db.rows * 2 > 4 }", "f");
    assert_selects("{ span.db.rows + 1 = 1 }", "e");
    assert_selects("{ duration / 2 > 200ms }", "a");
    assert_selects("{ span.http.status_code % 100 = 0 }", "abc");
    assert_selects("{ 2 ^ span.db.rows = 8 }", "f");
    assert_selects("{ -span.db.rows = -3 }", "f");
    assert_selects("{ span.ratio * 4 = 3 }", "c");
    assert_selects("{ duration - 100ms > 250ms }", "abc");
    // Integer division by zero gives no value, so no match.
    assert_selects("{ span.db.rows / 0 = 0 }", "");
}

#[test]
fn spanset_and_or() {
    // `&&` needs both sides and returns their union.
    assert_selects(
        r#"{ resource.service.name = "frontend" && kind = server } && { resource.service.name = "db" && status = error }"#,
        "ae",
    );
    assert_selects(r#"{ status = error } && { name = "nope" }"#, "");
    assert_selects(r#"{ status = error } || { name = "nope" }"#, "ce");
    assert_selects(r#"{ status = error } || { kind = internal }"#, "cde");
    assert_selects(
        r#"{ status = error } && { kind = internal } || { name = "nope" }"#,
        "cde",
    );
    assert_selects(
        r#"{ name = "nope" } || { status = error } && { name = "nope" }"#,
        "",
    );
}

#[test]
fn structural_operators() {
    assert_selects(
        r#"{ resource.service.name = "frontend" } >> { status = error }"#,
        "ce",
    );
    assert_selects(r#"{ resource.service.name = "db" } >> { }"#, "");
    assert_selects("{ kind = server } > { kind = client }", "bef");
    assert_selects(r#"{ name = "SELECT cart" } < { }"#, "c");
    assert_selects("{ status = error } << { }", "abc");
    assert_selects(r#"{ name = "SELECT cart" } ~ { }"#, "df");
    assert_selects(r#"{ name = "SELECT cart" } ~ { name = "SELECT cart" }"#, "");
    assert_selects("{ kind = server } ~ { }", "");
}

#[test]
fn negated_structural_operators() {
    // Leaves: spans that are the parent of no span.
    assert_selects("{ } !< { }", "def");
    // Roots: spans that are the child of no span.
    assert_selects("{ } !> { }", "a");
    // The first error of a cascade.
    assert_selects("{ status = error } !>> { status = error }", "c");
    // The last error of a cascade.
    assert_selects("{ status = error } !<< { status = error }", "e");
    // e has no *other* sibling named "SELECT cart".
    assert_selects(r#"{ name = "SELECT cart" } !~ { kind = client }"#, "be");
}

#[test]
fn union_structural_operators() {
    assert_selects("{ status = error } &>> { status = error }", "ce");
    assert_selects("{ kind = server } &> { kind = client }", "abcef");
    assert_selects(r#"{ name = "SELECT cart" } &< { }"#, "ce");
    assert_selects(r#"{ name = "SELECT cart" } &<< { kind = server }"#, "ace");
    assert_selects(r#"{ name = "SELECT cart" } &~ { }"#, "def");
    assert_selects(r#"{ name = "nope" } &>> { }"#, "");
}

#[test]
fn structural_chains_group_left_to_right() {
    // ({frontend} >> {backend}) >> {db}
    assert_selects(
        r#"{ resource.service.name = "frontend" } >> { resource.service.name = "backend" } >> { resource.service.name = "db" }"#,
        "ef",
    );
    assert_selects(r#"{ name = "cache get" } >> { } >> { }"#, "");
}

fn only(query: &str) -> SpanSet {
    let mut sets = parse(query).unwrap().evaluate(&checkout_trace());
    assert_eq!(sets.len(), 1, "{query:?} gave {sets:?}");
    sets.remove(0)
}

#[test]
fn count_pipeline_from_the_classic_dashboard() {
    let set = only("{} | count() > 1");
    assert_eq!(set.spans, spans("abcdef"));
    assert_eq!(set.scalar, Some(6.0));
    assert!(
        parse("{} | count() > 6")
            .unwrap()
            .evaluate(&checkout_trace())
            .is_empty()
    );
    assert!(
        parse("{ status = error } | count() > 2")
            .unwrap()
            .evaluate(&checkout_trace())
            .is_empty()
    );
    assert_eq!(only("{ status = error } | count() = 2").scalar, Some(2.0));
    assert_eq!(only("count() > 5").spans.len(), 6);
}

#[test]
fn aggregates() {
    // (400 + 300 + 20) / 3 = 240ms
    let set = only("{ kind = client } | avg(duration) > 200ms");
    assert_eq!(set.spans, spans("bef"));
    assert_eq!(set.scalar, Some((240 * MS) as f64));
    assert!(
        parse("{ kind = client } | avg(duration) > 240ms")
            .unwrap()
            .evaluate(&checkout_trace())
            .is_empty()
    );
    assert_eq!(
        only("{ kind = client } | max(duration) = 400ms").scalar,
        Some((400 * MS) as f64)
    );
    assert_eq!(
        only("{ kind = client } | min(duration) = 20ms").scalar,
        Some((20 * MS) as f64)
    );
    assert_eq!(only("{ } | sum(span.db.rows) = 3").scalar, Some(3.0));
    assert_eq!(only("{ } | avg(span.ratio) > 0.7").scalar, Some(0.75));
    assert_eq!(
        only("{ } | count() + sum(span.db.rows) > 8").scalar,
        Some(9.0)
    );
    assert_eq!(only("{ } | 5 < count()").scalar, Some(6.0));
    // No numeric values: the spanset is dropped.
    assert!(
        parse("{ } | avg(span.nope) >= 0")
            .unwrap()
            .evaluate(&checkout_trace())
            .is_empty()
    );
    assert!(
        parse("{ } | max(span.http.method) >= 0")
            .unwrap()
            .evaluate(&checkout_trace())
            .is_empty()
    );
}

#[test]
fn by_groups_spansets() {
    let sets = parse("{ } | by(resource.service.name)")
        .unwrap()
        .evaluate(&checkout_trace());
    type Group = (Vec<usize>, Vec<(String, Value)>);
    let groups: Vec<Group> = sets.into_iter().map(|s| (s.spans, s.group_by)).collect();
    let label = "by(resource.service.name)".to_string();
    let expected = [("frontend", "ab"), ("backend", "cd"), ("db", "ef")];
    assert_eq!(groups.len(), 3);
    for (service, letters) in expected {
        let group = (
            spans(letters),
            vec![(label.clone(), Value::Str(service.into()))],
        );
        assert!(groups.contains(&group), "{service} in {groups:?}");
    }
}

#[test]
fn by_then_count() {
    let query = "{ status = error } | by(resource.service.name) | count() > 1";
    assert!(!parse(query).unwrap().matches(&checkout_trace()));
    let sets = parse("{ } | by(resource.service.name) | count() > 1")
        .unwrap()
        .evaluate(&checkout_trace());
    assert_eq!(sets.len(), 3);
    assert!(sets.iter().all(|s| s.scalar == Some(2.0)));
    let sets = parse("{ kind = client } | by(resource.service.name) | count() > 1")
        .unwrap()
        .evaluate(&checkout_trace());
    assert_eq!(sets.len(), 1);
    assert_eq!(sets[0].spans, spans("ef"));
}

#[test]
fn by_groups_missing_values_together() {
    let sets = parse("{ } | by(span.db.system)")
        .unwrap()
        .evaluate(&checkout_trace());
    assert_eq!(sets.len(), 2);
    let missing = sets.iter().find(|s| s.group_by[0].1 == Value::Nil).unwrap();
    assert_eq!(missing.spans, spans("abcd"));
}

#[test]
fn coalesce_undoes_grouping() {
    let set = only("{ } | by(resource.service.name) | coalesce()");
    assert_eq!(set.spans, spans("abcdef"));
    assert!(set.group_by.is_empty());
}

#[test]
fn select_keeps_spans() {
    assert_eq!(
        only("{ status = error } | select(span.http.status_code)").spans,
        spans("ce")
    );
}

#[test]
fn chained_filters_narrow_spansets() {
    assert_selects("{ kind = client } | { status = error }", "e");
    assert_selects("{ kind = client } | { kind = server }", "");
    assert_selects(
        "({ kind = client } | count() > 2) && { status = error }",
        "bcef",
    );
    assert_selects(
        "({ kind = client } | count() > 3) || { status = error }",
        "ce",
    );
}

#[test]
fn matches_agrees_with_evaluate() {
    let trace = checkout_trace();
    for query in [
        "{ }",
        "{ status = error }",
        r#"{ name = "nope" }"#,
        "{ } | count() > 10",
    ] {
        let parsed = parse(query).unwrap();
        assert_eq!(
            parsed.matches(&trace),
            !parsed.evaluate(&trace).is_empty(),
            "{query}"
        );
    }
}

#[test]
fn empty_trace_never_matches() {
    let empty = Trace::default();
    assert!(!parse("{ }").unwrap().matches(&empty));
    assert!(!parse("count() >= 0").unwrap().matches(&empty));
}

#[test]
fn parent_cycles_do_not_hang() {
    let span = |id: &str, parent: &str| SpanData {
        span_id: id.into(),
        parent_span_id: parent.into(),
        name: id.into(),
        kind: Kind::Server,
        status: Status::Ok,
        ..SpanData::default()
    };
    let trace = Trace {
        trace_id: "t".into(),
        spans: vec![span("x", "y"), span("y", "x"), span("z", "z")],
    };
    let query = parse(r#"{ name = "x" } >> { }"#).unwrap();
    assert_eq!(query.evaluate(&trace)[0].spans, vec![1]);
    assert!(parse("{ } << { }").unwrap().matches(&trace));
    // A span that is its own parent counts as a root.
    assert!(parse(r#"{ rootName = "z" }"#).unwrap().matches(&trace));
}

#[test]
fn query_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<vispyr_traceql::Query>();
}
