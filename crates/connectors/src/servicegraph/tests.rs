use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;

use super::*;
use crate::testutil::{
    T0_MS, TestSpan, kv, request, request_with_resource, series_named, total, value,
};

const REQUESTS: &str = "traces_service_graph_request_total";
const FAILED: &str = "traces_service_graph_request_failed_total";
const UNPAIRED: &str = "traces_service_graph_unpaired_spans_total";
const DROPPED: &str = "traces_service_graph_dropped_spans_total";

fn client(trace: u128, id: u64) -> TestSpan {
    TestSpan::new(trace, id).kind(SpanKind::Client).parent(99)
}

fn server(trace: u128, id: u64, parent: u64) -> TestSpan {
    TestSpan::new(trace, id)
        .kind(SpanKind::Server)
        .parent(parent)
}

fn merged(requests: Vec<ExportTraceServiceRequest>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: requests
            .into_iter()
            .flat_map(|request| request.resource_spans)
            .collect(),
    }
}

#[test]
fn pairs_client_then_server_across_requests() {
    let mut graph = ServiceGraph::new(ServiceGraphConfig::default());
    graph.consume(
        &request("frontend", vec![client(1, 10).micros(30_000).build()]),
        T0_MS,
    );
    assert_eq!(graph.pending_edges(), 1);
    graph.consume(
        &request("cart", vec![server(1, 20, 10).micros(20_000).build()]),
        T0_MS + 1_000,
    );
    assert_eq!(graph.pending_edges(), 0);
    let now = T0_MS + 15_000;
    let collected = graph.collect(now);
    let edge = [("client", "frontend"), ("server", "cart")];
    assert_eq!(value(&collected, REQUESTS, &edge, now), Some(1.0));
    assert_eq!(
        value(&collected, FAILED, &edge, now),
        None,
        "no failure yet"
    );
    let server_sum = value(
        &collected,
        "traces_service_graph_request_server_seconds_sum",
        &edge,
        now,
    );
    assert_eq!(server_sum, Some(0.02));
    let client_sum = value(
        &collected,
        "traces_service_graph_request_client_seconds_sum",
        &edge,
        now,
    );
    assert_eq!(client_sum, Some(0.03));
    let mut le = edge.to_vec();
    le.push(("le", "0.1"));
    assert_eq!(
        value(
            &collected,
            "traces_service_graph_request_client_seconds_bucket",
            &le,
            now
        ),
        Some(1.0)
    );
    // exemplar: the trace, the client's span
    let exemplar = &collected.exemplars[0];
    assert_eq!(exemplar.trace_id, format!("{:032x}", 1));
    assert_eq!(exemplar.span_id, format!("{:016x}", 10));
}

#[test]
fn pairs_server_before_client_in_one_request() {
    let mut graph = ServiceGraph::new(ServiceGraphConfig::default());
    let both = merged(vec![
        request("cart", vec![server(2, 20, 10).build()]),
        request("frontend", vec![client(2, 10).build()]),
    ]);
    graph.consume(&both, T0_MS);
    let collected = graph.collect(T0_MS + 15_000);
    let edge = [("client", "frontend"), ("server", "cart")];
    assert_eq!(
        value(&collected, REQUESTS, &edge, T0_MS + 15_000),
        Some(1.0)
    );
    assert_eq!(graph.pending_edges(), 0);
}

#[test]
fn server_first_in_separate_requests_and_other_kinds_ignored() {
    let mut graph = ServiceGraph::new(ServiceGraphConfig::default());
    graph.consume(&request("cart", vec![server(3, 20, 10).build()]), T0_MS);
    let internal = TestSpan::new(3, 30).parent(20).build();
    graph.consume(&request("cart", vec![internal]), T0_MS + 1);
    assert_eq!(graph.pending_edges(), 1);
    graph.consume(
        &request("frontend", vec![client(3, 10).build()]),
        T0_MS + 9_999,
    );
    let collected = graph.collect(T0_MS + 15_000);
    assert_eq!(total(&collected, REQUESTS, T0_MS + 15_000), 1.0);
    assert_eq!(graph.unpaired_spans_total(), 0);
}

#[test]
fn failed_when_either_side_errors() {
    let mut graph = ServiceGraph::new(ServiceGraphConfig::default());
    // client error
    graph.consume(
        &merged(vec![
            request(
                "frontend",
                vec![client(4, 10).status(StatusCode::Error).build()],
            ),
            request("cart", vec![server(4, 20, 10).build()]),
        ]),
        T0_MS,
    );
    // server error
    graph.consume(
        &merged(vec![
            request("frontend", vec![client(5, 10).build()]),
            request(
                "cart",
                vec![server(5, 20, 10).status(StatusCode::Error).build()],
            ),
        ]),
        T0_MS,
    );
    // no error
    graph.consume(
        &merged(vec![
            request(
                "frontend",
                vec![client(6, 10).status(StatusCode::Ok).build()],
            ),
            request("cart", vec![server(6, 20, 10).build()]),
        ]),
        T0_MS,
    );
    let now = T0_MS + 15_000;
    let collected = graph.collect(now);
    let edge = [("client", "frontend"), ("server", "cart")];
    assert_eq!(value(&collected, REQUESTS, &edge, now), Some(3.0));
    assert_eq!(value(&collected, FAILED, &edge, now), Some(2.0));
}

#[test]
fn producer_consumer_is_a_messaging_edge() {
    let config = ServiceGraphConfig {
        enable_messaging_system_latency_histogram: true,
        ..ServiceGraphConfig::default()
    };
    let mut graph = ServiceGraph::new(config);
    let producer = TestSpan::new(7, 10)
        .kind(SpanKind::Producer)
        .micros(1_000)
        .build();
    let mut consumer = TestSpan::new(7, 20)
        .kind(SpanKind::Consumer)
        .parent(10)
        .build();
    // consumer starts 5 ms after the producer ended
    consumer.start_time_unix_nano = producer.end_time_unix_nano + 5_000_000;
    consumer.end_time_unix_nano = consumer.start_time_unix_nano + 1_000_000;
    graph.consume(&request("orders", vec![producer]), T0_MS);
    graph.consume(&request("billing", vec![consumer]), T0_MS);
    let now = T0_MS + 15_000;
    let collected = graph.collect(now);
    let edge = [
        ("client", "orders"),
        ("server", "billing"),
        ("connection_type", "messaging_system"),
    ];
    assert_eq!(value(&collected, REQUESTS, &edge, now), Some(1.0));
    let sum = value(
        &collected,
        "traces_service_graph_request_messaging_system_seconds_sum",
        &edge,
        now,
    )
    .unwrap();
    assert!((sum - 0.005).abs() < 1e-12, "{sum}");
}

#[test]
fn unpaired_client_with_peer_service_becomes_virtual_server_after_wait() {
    let config = ServiceGraphConfig {
        enable_virtual_node_label: true,
        ..ServiceGraphConfig::default()
    };
    let mut graph = ServiceGraph::new(config);
    let call = client(8, 10).attr("peer.service", "payments-api").build();
    graph.consume(&request("checkout", vec![call]), T0_MS);
    let early = graph.collect(T0_MS + 9_999);
    assert_eq!(total(&early, REQUESTS, T0_MS + 9_999), 0.0, "still waiting");
    assert_eq!(graph.pending_edges(), 1);
    let now = T0_MS + 10_000;
    let collected = graph.collect(now);
    let edge = [
        ("client", "checkout"),
        ("server", "payments-api"),
        ("connection_type", "virtual_node"),
        ("virtual_node", "server"),
    ];
    assert_eq!(value(&collected, REQUESTS, &edge, now), Some(1.0));
    assert_eq!(graph.pending_edges(), 0);
}

#[test]
fn unpaired_http_client_named_by_server_address() {
    let mut graph = ServiceGraph::new(ServiceGraphConfig::default());
    let call = client(9, 10)
        .attr("http.request.method", "GET")
        .attr("server.address", "legacy.internal")
        .build();
    graph.consume(&request("checkout", vec![call]), T0_MS);
    let now = T0_MS + 20_000;
    let collected = graph.collect(now);
    let edge = [
        ("client", "checkout"),
        ("server", "legacy.internal"),
        ("connection_type", "virtual_node"),
    ];
    assert_eq!(value(&collected, REQUESTS, &edge, now), Some(1.0));

    // Tempo's exact behaviour: without client_peer_attributes it is unpaired
    let tempo_only = ServiceGraphConfig {
        client_peer_attributes: Vec::new(),
        ..ServiceGraphConfig::default()
    };
    let mut strict = ServiceGraph::new(tempo_only);
    let call = client(9, 10)
        .attr("server.address", "legacy.internal")
        .build();
    strict.consume(&request("checkout", vec![call]), T0_MS);
    let collected = strict.collect(now);
    assert_eq!(total(&collected, REQUESTS, now), 0.0);
    assert_eq!(
        value(&collected, UNPAIRED, &[("client", "checkout")], now),
        Some(1.0)
    );
    assert_eq!(strict.unpaired_spans_total(), 1);
}

#[test]
fn postgres_client_span_is_a_database_edge_at_once() {
    let mut graph = ServiceGraph::new(ServiceGraphConfig::default());
    let query = client(10, 10)
        .attr("db.system", "postgresql")
        .attr("db.name", "shop")
        .micros(4_000)
        .build();
    graph.consume(&request("cart", vec![query]), T0_MS);
    assert_eq!(graph.pending_edges(), 0, "database edges do not wait");
    let now = T0_MS + 1_000;
    let collected = graph.collect(now);
    let edge = [
        ("client", "cart"),
        ("server", "shop"),
        ("connection_type", "database"),
    ];
    assert_eq!(value(&collected, REQUESTS, &edge, now), Some(1.0));
    assert_eq!(
        value(
            &collected,
            "traces_service_graph_request_server_seconds_sum",
            &edge,
            now
        ),
        Some(0.004),
        "server latency is the client's"
    );

    // server.address names the node when present
    let query = client(11, 10)
        .attr("db.system", "postgresql")
        .attr("db.name", "shop")
        .attr("server.address", "pg-primary")
        .build();
    graph.consume(&request("cart", vec![query]), T0_MS);
    let collected = graph.collect(now);
    let named = [
        ("client", "cart"),
        ("server", "pg-primary"),
        ("connection_type", "database"),
    ];
    assert_eq!(value(&collected, REQUESTS, &named, now), Some(1.0));

    // only db.system: the database product names the node
    let query = client(12, 10).attr("db.system", "postgresql").build();
    graph.consume(&request("cart", vec![query]), T0_MS);
    let collected = graph.collect(now);
    let product = [
        ("client", "cart"),
        ("server", "postgresql"),
        ("connection_type", "database"),
    ];
    assert_eq!(value(&collected, REQUESTS, &product, now), Some(1.0));
}

#[test]
fn root_server_span_gets_a_user_client() {
    let config = ServiceGraphConfig {
        enable_virtual_node_label: true,
        ..ServiceGraphConfig::default()
    };
    let mut graph = ServiceGraph::new(config);
    let mut root = TestSpan::new(13, 20).kind(SpanKind::Server).build();
    root.parent_span_id = Vec::new();
    let mut zero_parent = TestSpan::new(14, 20).kind(SpanKind::Server).build();
    zero_parent.parent_span_id = vec![0; 8];
    graph.consume(&request("frontend", vec![root, zero_parent]), T0_MS);
    // a non-root server span whose client never arrives is unpaired
    graph.consume(&request("cart", vec![server(15, 20, 10).build()]), T0_MS);
    let now = T0_MS + 10_000;
    let collected = graph.collect(now);
    let edge = [
        ("client", "user"),
        ("server", "frontend"),
        ("connection_type", "virtual_node"),
        ("virtual_node", "client"),
    ];
    assert_eq!(value(&collected, REQUESTS, &edge, now), Some(2.0));
    assert_eq!(
        value(&collected, UNPAIRED, &[("server", "cart")], now),
        Some(1.0)
    );
    assert_eq!(graph.unpaired_spans_total(), 1);
}

#[test]
fn store_full_drops_spans_and_counts_them() {
    let config = ServiceGraphConfig {
        max_items: 2,
        ..ServiceGraphConfig::default()
    };
    let mut graph = ServiceGraph::new(config);
    let calls = (1..=5).map(|trace| client(trace, 10).build()).collect();
    graph.consume(&request("frontend", calls), T0_MS);
    assert_eq!(graph.pending_edges(), 2);
    assert_eq!(graph.dropped_spans_total(), 3);
    // a span completing a waiting edge is still accepted
    graph.consume(&request("cart", vec![server(1, 20, 10).build()]), T0_MS);
    // after the wait, room again
    graph.consume(
        &request("frontend", vec![client(6, 10).build()]),
        T0_MS + 10_000,
    );
    assert_eq!(graph.pending_edges(), 1);
    let now = T0_MS + 10_000;
    let collected = graph.collect(now);
    assert_eq!(
        value(&collected, DROPPED, &[("client", "frontend")], now),
        Some(3.0)
    );
    assert_eq!(total(&collected, REQUESTS, now), 1.0);
    assert_eq!(graph.dropped_spans_total(), 3);
}

#[test]
fn dimensions_and_client_server_prefix() {
    let config = ServiceGraphConfig {
        dimensions: vec!["deployment.environment".to_string()],
        enable_client_server_prefix: true,
        ..ServiceGraphConfig::default()
    };
    let mut graph = ServiceGraph::new(config);
    let frontend = request_with_resource(
        vec![
            kv("service.name", "frontend"),
            kv("deployment.environment", "prod"),
        ],
        vec![client(16, 10).build()],
    );
    let cart = request_with_resource(
        vec![
            kv("service.name", "cart"),
            kv("deployment.environment", "canary"),
        ],
        vec![server(16, 20, 10).build()],
    );
    graph.consume(&frontend, T0_MS);
    graph.consume(&cart, T0_MS);
    let now = T0_MS + 15_000;
    let collected = graph.collect(now);
    let edge = [
        ("client", "frontend"),
        ("server", "cart"),
        ("client_deployment_environment", "prod"),
        ("server_deployment_environment", "canary"),
    ];
    assert_eq!(value(&collected, REQUESTS, &edge, now), Some(1.0));
}

#[test]
fn cumulative_across_collects_and_invalid_spans_skipped() {
    let mut graph = ServiceGraph::new(ServiceGraphConfig::default());
    let pair = |trace: u128| {
        merged(vec![
            request("frontend", vec![client(trace, 10).build()]),
            request("cart", vec![server(trace, 20, 10).build()]),
        ])
    };
    graph.consume(&pair(20), T0_MS);
    let first = graph.collect(T0_MS + 15_000);
    assert_eq!(total(&first, REQUESTS, T0_MS + 15_000), 1.0);
    graph.consume(&pair(21), T0_MS + 16_000);
    graph.consume(&pair(22), T0_MS + 17_000);
    let second = graph.collect(T0_MS + 30_000);
    assert_eq!(total(&second, REQUESTS, T0_MS + 30_000), 3.0);
    assert_eq!(
        total(
            &second,
            "traces_service_graph_request_server_seconds_count",
            T0_MS + 30_000
        ),
        3.0
    );
    assert_eq!(series_named(&second, REQUESTS, T0_MS + 30_000).len(), 1);

    let mut bad_parent = server(23, 20, 10).build();
    bad_parent.parent_span_id = vec![1, 2, 3];
    let mut no_end = client(23, 10).build();
    no_end.end_time_unix_nano = 0;
    graph.consume(&request("cart", vec![bad_parent, no_end]), T0_MS + 31_000);
    assert_eq!(graph.skipped_spans_total(), 2);
    assert_eq!(graph.pending_edges(), 0);
}

#[test]
fn wait_is_measured_from_the_first_half() {
    let config = ServiceGraphConfig {
        wait: Duration::from_secs(5),
        ..ServiceGraphConfig::default()
    };
    let mut graph = ServiceGraph::new(config);
    graph.consume(&request("frontend", vec![client(30, 10).build()]), T0_MS);
    // the server half arrives too late: the client half already expired
    graph.consume(
        &request("cart", vec![server(30, 20, 10).build()]),
        T0_MS + 5_000,
    );
    assert_eq!(graph.unpaired_spans_total(), 1);
    assert_eq!(
        graph.pending_edges(),
        1,
        "the late server half waits on its own"
    );
    let collected = graph.collect(T0_MS + 10_000);
    assert_eq!(total(&collected, REQUESTS, T0_MS + 10_000), 0.0);
    assert_eq!(total(&collected, UNPAIRED, T0_MS + 10_000), 2.0);
}

#[test]
fn resources_without_service_name_are_ignored() {
    let mut graph = ServiceGraph::new(ServiceGraphConfig::default());
    graph.consume(
        &request_with_resource(vec![], vec![client(31, 10).build()]),
        T0_MS,
    );
    assert_eq!(graph.pending_edges(), 0);
    assert_eq!(graph.skipped_spans_total(), 0);
}
