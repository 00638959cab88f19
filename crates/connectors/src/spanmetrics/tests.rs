use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use proptest::prelude::*;

use super::*;
use crate::testutil::{
    T0_MS, TestSpan, kv, kv_double, request, request_with_resource, series_named, total, value,
};

const CALLS: &str = "traces_spanmetrics_calls_total";
const NOW: i64 = T0_MS + 15_000;

fn http_span(trace: u128, id: u64, method: &str, route: &str) -> TestSpan {
    TestSpan::new(trace, id)
        .kind(SpanKind::Server)
        .name(&format!("{method} {route}"))
        .attr("http.request.method", method)
        .attr("http.route", route)
}

fn server_labels<'a>(
    name: &'a str,
    status: &'a str,
    method: &'a str,
    route: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("service", "shop"),
        ("span_name", name),
        ("span_kind", "SPAN_KIND_SERVER"),
        ("status_code", status),
        ("http_request_method", method),
        ("http_route", route),
    ]
}

#[test]
fn counts_calls_per_route_and_status() {
    let mut metrics = SpanMetrics::new(SpanMetricsConfig::default());
    let mut spans = Vec::new();
    for id in 1..=3 {
        spans.push(http_span(1, id, "GET", "/cart").build());
    }
    for id in 4..=5 {
        spans.push(
            http_span(1, id, "POST", "/cart")
                .status(StatusCode::Error)
                .build(),
        );
    }
    spans.push(
        http_span(1, 6, "GET", "/items")
            .status(StatusCode::Ok)
            .build(),
    );
    metrics.consume(&request("shop", spans));
    let collected = metrics.collect(NOW);

    let get_cart = server_labels("GET /cart", "STATUS_CODE_UNSET", "GET", "/cart");
    let post_cart = server_labels("POST /cart", "STATUS_CODE_ERROR", "POST", "/cart");
    let get_items = server_labels("GET /items", "STATUS_CODE_OK", "GET", "/items");
    assert_eq!(value(&collected, CALLS, &get_cart, NOW), Some(3.0));
    assert_eq!(value(&collected, CALLS, &post_cart, NOW), Some(2.0));
    assert_eq!(value(&collected, CALLS, &get_items, NOW), Some(1.0));
    assert_eq!(series_named(&collected, CALLS, NOW).len(), 3);
    // new series start with a 0 just before the current minute
    let initial_ms = NOW.div_euclid(60_000) * 60_000 - 1_000;
    assert_eq!(value(&collected, CALLS, &get_cart, initial_ms), Some(0.0));
}

#[test]
fn latency_histogram_has_cumulative_buckets_sum_and_count() {
    let mut metrics = SpanMetrics::new(SpanMetricsConfig::default());
    let durations_us = [1_000, 3_000, 50_000, 60_000, 20_000_000];
    let spans = durations_us
        .iter()
        .enumerate()
        .map(|(i, us)| http_span(7, i as u64 + 1, "GET", "/").micros(*us).build())
        .collect();
    metrics.consume(&request("shop", spans));
    let collected = metrics.collect(NOW);

    let labels = server_labels("GET /", "STATUS_CODE_UNSET", "GET", "/");
    let bucket = |le: &'static str| {
        let mut with_le = labels.clone();
        with_le.push(("le", le));
        value(
            &collected,
            "traces_spanmetrics_latency_bucket",
            &with_le,
            NOW,
        )
    };
    assert_eq!(bucket("0.002"), Some(1.0));
    assert_eq!(bucket("0.005"), Some(2.0));
    assert_eq!(bucket("0.025"), Some(2.0));
    assert_eq!(bucket("0.05"), Some(3.0), "le is inclusive");
    assert_eq!(bucket("0.1"), Some(4.0));
    assert_eq!(bucket("10"), Some(4.0));
    assert_eq!(bucket("+Inf"), Some(5.0));
    assert_eq!(
        series_named(&collected, "traces_spanmetrics_latency_bucket", NOW).len(),
        13
    );
    let count = value(&collected, "traces_spanmetrics_latency_count", &labels, NOW);
    assert_eq!(count, Some(5.0));
    let sum = value(&collected, "traces_spanmetrics_latency_sum", &labels, NOW).unwrap();
    assert!((sum - 20.114).abs() < 1e-9, "sum {sum}");
}

#[test]
fn negative_duration_counts_as_zero() {
    let mut metrics = SpanMetrics::new(SpanMetricsConfig::default());
    let mut span = TestSpan::new(1, 1).build();
    span.end_time_unix_nano = span.start_time_unix_nano - 5;
    metrics.consume(&request("shop", vec![span]));
    let collected = metrics.collect(NOW);
    assert_eq!(
        total(&collected, "traces_spanmetrics_latency_sum", NOW),
        0.0
    );
    assert_eq!(total(&collected, CALLS, NOW), 1.0);
}

#[test]
fn size_is_the_encoded_span_length() {
    let mut metrics = SpanMetrics::new(SpanMetricsConfig::default());
    let first = TestSpan::new(1, 1).attr("a", "x").build();
    let second = TestSpan::new(1, 2).attr("a", "a much longer value").build();
    let expected = (first.encoded_len() + second.encoded_len()) as f64;
    assert!(first.encoded_len() > 30);
    metrics.consume(&request("shop", vec![first, second]));
    let collected = metrics.collect(NOW);
    assert_eq!(
        total(&collected, "traces_spanmetrics_size_total", NOW),
        expected
    );
}

#[test]
fn missing_dimension_is_omitted_and_resource_attributes_come_first() {
    let config = SpanMetricsConfig {
        dimensions: vec![
            "http.route".to_string(),
            "deployment.environment".to_string(),
        ],
        ..SpanMetricsConfig::default()
    };
    let mut metrics = SpanMetrics::new(config);
    let resource = vec![
        kv("service.name", "shop"),
        kv("deployment.environment", "prod"),
    ];
    let span = TestSpan::new(1, 1)
        .attr("deployment.environment", "span-level")
        .build();
    metrics.consume(&request_with_resource(resource, vec![span]));
    let collected = metrics.collect(NOW);
    let labels = [
        ("service", "shop"),
        ("span_name", "op"),
        ("span_kind", "SPAN_KIND_INTERNAL"),
        ("status_code", "STATUS_CODE_UNSET"),
        ("deployment_environment", "prod"),
    ];
    assert_eq!(value(&collected, CALLS, &labels, NOW), Some(1.0));
}

#[test]
fn intrinsic_dimensions_can_be_toggled_and_collisions_prefixed() {
    let config = SpanMetricsConfig {
        dimensions: vec!["span.name".to_string()],
        intrinsic_dimensions: crate::IntrinsicDimensions {
            span_kind: false,
            status_message: true,
            ..crate::IntrinsicDimensions::default()
        },
        ..SpanMetricsConfig::default()
    };
    let mut metrics = SpanMetrics::new(config);
    let mut span = TestSpan::new(1, 1).attr("span.name", "attr").build();
    span.status = Some(opentelemetry_proto::tonic::trace::v1::Status {
        message: "boom".to_string(),
        code: StatusCode::Error as i32,
    });
    metrics.consume(&request("shop", vec![span]));
    let collected = metrics.collect(NOW);
    let labels = [
        ("service", "shop"),
        ("span_name", "op"),
        ("__span_name", "attr"),
        ("status_code", "STATUS_CODE_ERROR"),
        ("status_message", "boom"),
    ];
    assert_eq!(value(&collected, CALLS, &labels, NOW), Some(1.0));
}

#[test]
fn new_label_sets_past_the_limit_go_to_the_overflow_series() {
    // one label set = calls + size + 12 buckets + +Inf + sum + count = 17 series
    let config = SpanMetricsConfig {
        max_series: 2 * 17,
        ..SpanMetricsConfig::default()
    };
    let mut metrics = SpanMetrics::new(config);
    let routes = ["/a", "/b", "/c", "/d", "/e"];
    let spans = routes
        .iter()
        .enumerate()
        .map(|(i, route)| http_span(1, i as u64 + 1, "GET", route).build())
        .collect();
    metrics.consume(&request("shop", spans));
    // a known label set keeps counting after the limit
    metrics.consume(&request("shop", vec![http_span(2, 9, "GET", "/a").build()]));
    let collected = metrics.collect(NOW);

    let route_a = server_labels("GET /a", "STATUS_CODE_UNSET", "GET", "/a");
    assert_eq!(value(&collected, CALLS, &route_a, NOW), Some(2.0));
    let overflow = [("metric_overflow", "true")];
    assert_eq!(value(&collected, CALLS, &overflow, NOW), Some(3.0));
    let route_c = server_labels("GET /c", "STATUS_CODE_UNSET", "GET", "/c");
    assert_eq!(value(&collected, CALLS, &route_c, NOW), None);
    assert_eq!(total(&collected, CALLS, NOW), 6.0, "nothing is lost");
    assert_eq!(metrics.dropped_series_total(), 3 * 17);
    assert_eq!(metrics.active_series(), 3 * 17);
    assert_eq!(series_named(&collected, CALLS, NOW).len(), 3);
}

#[test]
fn exemplars_carry_trace_and_span_ids() {
    let mut metrics = SpanMetrics::new(SpanMetricsConfig::default());
    let trace: u128 = 0x0af7651916cd43dd8448eb211c80319c;
    let span = http_span(trace, 0xb7ad6b7169203331, "GET", "/cart")
        .micros(30_000)
        .build();
    metrics.consume(&request("shop", vec![span]));
    let collected = metrics.collect(NOW);

    let bucket_exemplar = collected
        .exemplars
        .iter()
        .find(|e| {
            e.series_labels.contains(&(
                "__name__".to_string(),
                "traces_spanmetrics_latency_bucket".to_string(),
            ))
        })
        .expect("latency exemplar");
    assert_eq!(bucket_exemplar.trace_id, "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(bucket_exemplar.span_id, "b7ad6b7169203331");
    assert!(
        bucket_exemplar
            .series_labels
            .contains(&("le".to_string(), "0.05".to_string()))
    );
    assert!((bucket_exemplar.value - 0.03).abs() < 1e-12);
    assert_eq!(bucket_exemplar.t, NOW);
    let calls_exemplar = collected
        .exemplars
        .iter()
        .find(|e| {
            e.series_labels
                .contains(&("__name__".to_string(), CALLS.to_string()))
        })
        .expect("calls exemplar");
    assert_eq!(calls_exemplar.trace_id, "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(collected.exemplars.len(), 2);
    // emitted once
    assert!(metrics.collect(NOW + 15_000).exemplars.is_empty());
}

#[test]
fn counters_are_cumulative_across_collects() {
    let mut metrics = SpanMetrics::new(SpanMetricsConfig::default());
    metrics.consume(&request("shop", vec![TestSpan::new(1, 1).build()]));
    let first = metrics.collect(NOW);
    assert_eq!(total(&first, CALLS, NOW), 1.0);
    let later = NOW + 15_000;
    let idle = metrics.collect(later);
    assert_eq!(total(&idle, CALLS, later), 1.0, "idle series still emitted");
    metrics.consume(&request(
        "shop",
        vec![TestSpan::new(2, 1).build(), TestSpan::new(2, 2).build()],
    ));
    let last = NOW + 30_000;
    let third = metrics.collect(last);
    assert_eq!(total(&third, CALLS, last), 3.0);
    assert_eq!(total(&third, "traces_spanmetrics_latency_count", last), 3.0);
    // the initial zero is written only with the first collect
    assert_eq!(third.points.iter().filter(|p| p.t != last).count(), 0);
}

#[test]
fn idle_series_go_stale() {
    let config = SpanMetricsConfig {
        stale_duration: std::time::Duration::from_secs(60),
        ..SpanMetricsConfig::default()
    };
    let mut metrics = SpanMetrics::new(config);
    metrics.consume(&request("shop", vec![TestSpan::new(1, 1).build()]));
    metrics.collect(NOW);
    assert_eq!(metrics.active_series(), 17);
    let kept = metrics.collect(NOW + 60_000);
    assert_eq!(total(&kept, CALLS, NOW + 60_000), 1.0);
    let dropped = metrics.collect(NOW + 60_001);
    assert!(dropped.points.is_empty());
    assert_eq!(metrics.active_series(), 0);
}

#[test]
fn invalid_spans_are_skipped() {
    let mut metrics = SpanMetrics::new(SpanMetricsConfig::default());
    let zero_trace = {
        let mut span = TestSpan::new(1, 1).build();
        span.trace_id = vec![0; 16];
        span
    };
    let short_span_id = {
        let mut span = TestSpan::new(1, 2).build();
        span.span_id = vec![1, 2, 3];
        span
    };
    let no_start = {
        let mut span = TestSpan::new(1, 3).build();
        span.start_time_unix_nano = 0;
        span
    };
    let valid = TestSpan::new(1, 4).build();
    metrics.consume(&request(
        "shop",
        vec![zero_trace, short_span_id, no_start, valid],
    ));
    let collected = metrics.collect(NOW);
    assert_eq!(total(&collected, CALLS, NOW), 1.0);
    assert_eq!(metrics.skipped_spans_total(), 3);
}

#[test]
fn missing_service_name_omits_the_label() {
    let mut metrics = SpanMetrics::new(SpanMetricsConfig::default());
    metrics.consume(&request_with_resource(
        vec![],
        vec![TestSpan::new(1, 1).build()],
    ));
    let collected = metrics.collect(NOW);
    let labels = [
        ("span_name", "op"),
        ("span_kind", "SPAN_KIND_INTERNAL"),
        ("status_code", "STATUS_CODE_UNSET"),
    ];
    assert_eq!(value(&collected, CALLS, &labels, NOW), Some(1.0));
}

#[test]
fn span_multiplier_scales_calls_but_not_size() {
    let config = SpanMetricsConfig {
        span_multiplier_key: "sample.ratio".to_string(),
        ..SpanMetricsConfig::default()
    };
    let mut metrics = SpanMetrics::new(config);
    let mut span = TestSpan::new(1, 1).build();
    span.attributes.push(kv_double("sample.ratio", 0.25));
    let size = span.encoded_len() as f64;
    metrics.consume(&request("shop", vec![span]));
    let collected = metrics.collect(NOW);
    assert_eq!(total(&collected, CALLS, NOW), 4.0);
    assert_eq!(
        total(&collected, "traces_spanmetrics_latency_count", NOW),
        4.0
    );
    assert_eq!(
        total(&collected, "traces_spanmetrics_size_total", NOW),
        size
    );
}

#[test]
fn target_info_and_job_instance_labels() {
    let config = SpanMetricsConfig {
        enable_target_info: true,
        target_info_excluded_dimensions: vec!["host.id".to_string()],
        ..SpanMetricsConfig::default()
    };
    let mut metrics = SpanMetrics::new(config);
    let resource = vec![
        kv("service.name", "shop"),
        kv("service.namespace", "prod"),
        kv("service.instance.id", "pod-1"),
        kv("k8s.pod.name", "shop-abc"),
        kv("host.id", "h1"),
    ];
    metrics.consume(&request_with_resource(
        resource,
        vec![TestSpan::new(1, 1).build()],
    ));
    let collected = metrics.collect(NOW);
    let info = [
        ("job", "prod/shop"),
        ("instance", "pod-1"),
        ("k8s_pod_name", "shop-abc"),
    ];
    assert_eq!(
        value(&collected, "traces_target_info", &info, NOW),
        Some(1.0)
    );
    let labels = [
        ("service", "shop"),
        ("span_name", "op"),
        ("span_kind", "SPAN_KIND_INTERNAL"),
        ("status_code", "STATUS_CODE_UNSET"),
        ("job", "prod/shop"),
        ("instance", "pod-1"),
    ];
    assert_eq!(value(&collected, CALLS, &labels, NOW), Some(1.0));
}

proptest! {
    #[test]
    fn total_calls_equal_spans_consumed(
        batches in prop::collection::vec(
            prop::collection::vec((0u8..4, 0u8..3, 0u8..3, 1u64..5_000_000), 0..20),
            1..5,
        )
    ) {
        let mut metrics = SpanMetrics::new(SpanMetricsConfig::default());
        let services = ["a", "b", "c", "d"];
        let routes = ["/", "/x", "/y"];
        let mut consumed = 0u64;
        let mut next_id = 1u64;
        for batch in &batches {
            for (service, route, status, duration_us) in batch {
                let code = [StatusCode::Unset, StatusCode::Ok, StatusCode::Error][*status as usize];
                let span = http_span(9, next_id, "GET", routes[*route as usize])
                    .micros(*duration_us)
                    .status(code)
                    .build();
                next_id += 1;
                metrics.consume(&request(services[*service as usize], vec![span]));
                consumed += 1;
            }
        }
        let collected = metrics.collect(NOW);
        prop_assert_eq!(total(&collected, CALLS, NOW), consumed as f64);
        prop_assert_eq!(total(&collected, "traces_spanmetrics_latency_count", NOW), consumed as f64);
        let inf_total: f64 = series_named(&collected, "traces_spanmetrics_latency_bucket", NOW)
            .iter()
            .filter(|p| p.labels.contains(&("le".to_string(), "+Inf".to_string())))
            .map(|p| p.v)
            .sum();
        prop_assert_eq!(inf_total, consumed as f64);
    }
}
