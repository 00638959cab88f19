//! Service graph: Tempo's `servicegraphs` processor.
//!
//! A request between two services is an *edge*, built from its two halves:
//!
//! ```text
//!  CLIENT span (svc A, id C)      ──► edge[trace, C]  ◄── SERVER span (svc B, parent C)
//!  PRODUCER span (svc A, id P)    ──► edge[trace, P]  ◄── CONSUMER span (svc B, parent P)
//!                                      (connection_type="messaging_system")
//!  root SERVER span (no parent)   ──► edge[trace, root]
//! ```
//!
//! Halves arrive in any order and in any request; an edge waits in the store
//! until both are known (then it is counted at once) or until `wait` passes.
//! Expired edges are handled as Tempo's `onExpire`:
//!
//! - only a **root** server half: the caller is uninstrumented; the client
//!   node is the server span's peer attribute, else `user`;
//! - only a client half with a peer attribute (`peer.service`, …, and in
//!   Vispyr also `server.address`/`net.peer.name`): the callee is
//!   uninstrumented and named by it;
//! - otherwise the half is counted in `traces_service_graph_unpaired_spans_total`.
//!
//! Virtual-node edges get `connection_type="virtual_node"` (and
//! `virtual_node="client"|"server"` with `enable_virtual_node_label`).
//!
//! A client span with a database attribute (`db.namespace`, `db.name`,
//! `db.system`, `db.system.name`) is complete on arrival, as in Tempo: the
//! server node is `peer.service`, else `server.address`, else
//! `network.peer.address[:network.peer.port]`, else the database attribute's
//! value; `connection_type="database"`, and both latencies are the client's.
//!
//! Series (labels `client`, `server`, `connection_type` when not empty, plus
//! dimensions): `traces_service_graph_request_total`,
//! `traces_service_graph_request_failed_total` (either half has status
//! ERROR), `traces_service_graph_request_{server,client}_seconds_{bucket,sum,count}`,
//! optionally `traces_service_graph_request_messaging_system_seconds_*`, and
//! for halves that could not become edges
//! `traces_service_graph_unpaired_spans_total` and
//! `traces_service_graph_dropped_spans_total` (store full), labelled with
//! the known side (`client` or `server`).

use std::collections::{HashMap, VecDeque};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

use crate::labels::{
    LabelSet, LabelSetBuilder, find_attribute, nanos_between_seconds, sanitize_label_name,
    span_duration_seconds, span_is_valid, span_multiplier,
};
use crate::registry::{ExemplarRef, Layout, Registry, ScalarKind};
use crate::spanmetrics::duration_ms;
use crate::{Collected, ServiceGraphConfig};

const METRIC_REQUEST_TOTAL: &str = "traces_service_graph_request_total";
const METRIC_REQUEST_FAILED_TOTAL: &str = "traces_service_graph_request_failed_total";
const METRIC_SERVER_SECONDS: &str = "traces_service_graph_request_server_seconds";
const METRIC_CLIENT_SECONDS: &str = "traces_service_graph_request_client_seconds";
const METRIC_MESSAGING_SECONDS: &str = "traces_service_graph_request_messaging_system_seconds";
const METRIC_UNPAIRED_SPANS_TOTAL: &str = "traces_service_graph_unpaired_spans_total";
const METRIC_DROPPED_SPANS_TOTAL: &str = "traces_service_graph_dropped_spans_total";

const SLOT_REQUESTS: usize = 0;
const SLOT_FAILED: usize = 1;
const SLOT_SERVER_SECONDS: usize = 0;
const SLOT_CLIENT_SECONDS: usize = 1;
const SLOT_MESSAGING_SECONDS: usize = 2;
const SLOT_UNPAIRED: usize = 0;
const SLOT_DROPPED: usize = 1;

const VIRTUAL_NODE_LABEL: &str = "virtual_node";
/// Client node of a root server span with no peer attribute.
const USER_NODE: &str = "user";

/// Tempo's `store.ConnectionType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnectionType {
    Unknown,
    MessagingSystem,
    Database,
    VirtualNode,
}

impl ConnectionType {
    /// Label value; `Unknown` is empty, so the label is left out.
    fn label(self) -> &'static str {
        match self {
            Self::Unknown => "",
            Self::MessagingSystem => "messaging_system",
            Self::Database => "database",
            Self::VirtualNode => "virtual_node",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

/// Trace id plus the client's span id (= the server's parent span id);
/// root server spans share the key of their trace with `root` set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct EdgeKey {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    root: bool,
}

#[derive(Debug)]
struct Edge {
    key: EdgeKey,
    /// Distinguishes this edge from an earlier one of the same key in the
    /// expiry queue.
    seq: u64,
    /// Span id for exemplars: the client's, else the server's.
    exemplar_span_id: Option<[u8; 8]>,
    connection_type: ConnectionType,
    client_service: String,
    server_service: String,
    client_latency_seconds: f64,
    server_latency_seconds: f64,
    client_end_ns: u64,
    server_start_ns: u64,
    failed: bool,
    /// Dimension values by key (`dim` or `client_dim`/`server_dim`).
    dimensions: HashMap<String, String>,
    peer_node: String,
    virtual_node: &'static str,
    multiplier: f64,
}

impl Edge {
    fn new(key: EdgeKey, seq: u64) -> Self {
        Self {
            key,
            seq,
            exemplar_span_id: None,
            connection_type: ConnectionType::Unknown,
            client_service: String::new(),
            server_service: String::new(),
            client_latency_seconds: 0.0,
            server_latency_seconds: 0.0,
            client_end_ns: 0,
            server_start_ns: 0,
            failed: false,
            dimensions: HashMap::new(),
            peer_node: String::new(),
            virtual_node: "",
            multiplier: 1.0,
        }
    }

    fn is_complete(&self) -> bool {
        !self.client_service.is_empty() && !self.server_service.is_empty()
    }
}

/// One configured dimension: attribute name, storage keys and label names.
#[derive(Debug)]
struct Dimension {
    attribute: String,
    label: String,
    client_key: String,
    client_label: String,
    server_key: String,
    server_label: String,
}

/// Config-derived rules, kept apart from the store so both can be borrowed.
#[derive(Debug)]
struct Rules {
    config: ServiceGraphConfig,
    dimensions: Vec<Dimension>,
}

/// One half of an edge, taken from a span.
struct Half<'a> {
    span: &'a Span,
    service: &'a str,
    resource: &'a [KeyValue],
    side: Side,
    connection_type: ConnectionType,
    multiplier: f64,
}

/// Service graph connector state. Single-threaded: the pipeline serialises
/// `consume` and `collect`.
#[derive(Debug)]
pub struct ServiceGraph {
    rules: Rules,
    wait_ms: i64,
    edges: HashMap<EdgeKey, Edge>,
    /// (expiry time, key, seq) in arrival order; entries whose edge has
    /// completed are skipped when they reach the front.
    expiry_queue: VecDeque<(i64, EdgeKey, u64)>,
    next_seq: u64,
    requests: Registry,
    unpaired_and_dropped: Registry,
    dropped_spans_total: u64,
    unpaired_spans_total: u64,
    skipped_spans_total: u64,
}

impl ServiceGraph {
    /// Builds the connector. Call [`ServiceGraphConfig::validate`] first to
    /// report bad values; `max_items` 0 is treated as 1.
    pub fn new(config: ServiceGraphConfig) -> Self {
        let dimensions = config
            .dimensions
            .iter()
            .map(|attribute| {
                let prefixed = config.enable_client_server_prefix;
                let client_key = if prefixed {
                    format!("client_{attribute}")
                } else {
                    attribute.clone()
                };
                let server_key = if prefixed {
                    format!("server_{attribute}")
                } else {
                    attribute.clone()
                };
                Dimension {
                    attribute: attribute.clone(),
                    label: sanitize_label_name(attribute),
                    client_label: sanitize_label_name(&client_key),
                    server_label: sanitize_label_name(&server_key),
                    client_key,
                    server_key,
                }
            })
            .collect();
        let stale_ms = duration_ms(config.stale_duration);
        let mut histograms = vec![METRIC_SERVER_SECONDS, METRIC_CLIENT_SECONDS];
        if config.enable_messaging_system_latency_histogram {
            histograms.push(METRIC_MESSAGING_SECONDS);
        }
        let requests_layout = Layout {
            scalars: vec![
                (METRIC_REQUEST_TOTAL, ScalarKind::Counter),
                (METRIC_REQUEST_FAILED_TOTAL, ScalarKind::Counter),
            ],
            histograms,
            buckets: config.histogram_buckets.clone(),
        };
        let side_layout = Layout {
            scalars: vec![
                (METRIC_UNPAIRED_SPANS_TOTAL, ScalarKind::Counter),
                (METRIC_DROPPED_SPANS_TOTAL, ScalarKind::Counter),
            ],
            histograms: Vec::new(),
            buckets: Vec::new(),
        };
        Self {
            wait_ms: duration_ms(config.wait),
            requests: Registry::new(requests_layout, config.max_series, stale_ms),
            unpaired_and_dropped: Registry::new(side_layout, config.max_series, stale_ms),
            rules: Rules { config, dimensions },
            edges: HashMap::new(),
            expiry_queue: VecDeque::new(),
            next_seq: 0,
            dropped_spans_total: 0,
            unpaired_spans_total: 0,
            skipped_spans_total: 0,
        }
    }

    /// The configuration this connector was built with.
    pub fn config(&self) -> &ServiceGraphConfig {
        &self.rules.config
    }

    /// Adds the client, server, producer and consumer spans of `request` to
    /// their edges; `now_ms` starts the `wait` of new edges. Edges already
    /// expired at `now_ms` are settled first, which also frees room.
    pub fn consume(&mut self, request: &ExportTraceServiceRequest, now_ms: i64) {
        self.expire(now_ms);
        for resource_spans in &request.resource_spans {
            let resource: &[KeyValue] = resource_spans
                .resource
                .as_ref()
                .map_or(&[], |resource| resource.attributes.as_slice());
            // Tempo ignores resources without service.name.
            let Some(service) = find_attribute("service.name", &[resource]) else {
                continue;
            };
            for scope_spans in &resource_spans.scope_spans {
                for span in &scope_spans.spans {
                    self.consume_span(span, &service, resource, now_ms);
                }
            }
        }
    }

    fn consume_span(&mut self, span: &Span, service: &str, resource: &[KeyValue], now_ms: i64) {
        let (side, connection_type) = match SpanKind::try_from(span.kind) {
            Ok(SpanKind::Client) => (Side::Client, ConnectionType::Unknown),
            Ok(SpanKind::Producer) => (Side::Client, ConnectionType::MessagingSystem),
            Ok(SpanKind::Server) => (Side::Server, ConnectionType::Unknown),
            Ok(SpanKind::Consumer) => (Side::Server, ConnectionType::MessagingSystem),
            _ => return,
        };
        if !span_is_valid(span) {
            self.skipped_spans_total += 1;
            return;
        }
        let Some(key) = edge_key(span, side) else {
            self.skipped_spans_total += 1;
            return;
        };
        let half = Half {
            span,
            service,
            resource,
            side,
            connection_type,
            multiplier: span_multiplier(&self.rules.config.span_multiplier_key, span, resource),
        };

        if let Some(edge) = self.edges.get_mut(&key) {
            self.rules.apply(edge, &half);
            if edge.is_complete()
                && let Some(done) = self.edges.remove(&key)
            {
                self.count_edge(&done);
            }
            return;
        }

        let mut edge = Edge::new(key, self.next_seq);
        self.next_seq += 1;
        self.rules.apply(&mut edge, &half);
        if edge.is_complete() {
            self.count_edge(&edge);
            return;
        }
        if self.edges.len() >= self.rules.config.max_items.max(1) {
            self.dropped_spans_total += 1;
            let labels = side_labels(side, service, connection_type);
            self.unpaired_and_dropped
                .entry(labels)
                .add(SLOT_DROPPED, 1.0, None);
            return;
        }
        let expires_at_ms = now_ms.saturating_add(self.wait_ms);
        self.expiry_queue.push_back((expires_at_ms, key, edge.seq));
        self.edges.insert(key, edge);
    }

    /// Settles every edge whose `wait` has passed at `now_ms`.
    fn expire(&mut self, now_ms: i64) {
        while let Some(&(expires_at_ms, key, seq)) = self.expiry_queue.front() {
            if expires_at_ms > now_ms {
                break;
            }
            self.expiry_queue.pop_front();
            let still_waiting = self.edges.get(&key).is_some_and(|edge| edge.seq == seq);
            if !still_waiting {
                continue;
            }
            if let Some(edge) = self.edges.remove(&key) {
                self.settle_expired(edge);
            }
        }
        // Completed edges leave their queue entries behind; drop them when
        // they outnumber the waiting edges so memory follows `max_items`.
        if self.expiry_queue.len() > 2 * self.edges.len() + 1024 {
            let edges = &self.edges;
            self.expiry_queue
                .retain(|(_, key, seq)| edges.get(key).is_some_and(|edge| edge.seq == *seq));
        }
    }

    /// Tempo's `onExpire`: turn the half into a virtual-node edge when it can
    /// name the other side, else count it as unpaired.
    fn settle_expired(&mut self, mut edge: Edge) {
        let connection_type_before = edge.connection_type;
        edge.connection_type = ConnectionType::VirtualNode;
        if edge.client_service.is_empty() {
            if edge.key.root {
                edge.client_service = if edge.peer_node.is_empty() {
                    USER_NODE.to_string()
                } else {
                    edge.peer_node.clone()
                };
                edge.virtual_node = "client";
                self.count_edge(&edge);
                return;
            }
        } else if edge.server_service.is_empty() && !edge.peer_node.is_empty() {
            edge.server_service = edge.peer_node.clone();
            edge.virtual_node = "server";
            self.count_edge(&edge);
            return;
        }
        self.unpaired_spans_total += 1;
        let mut builder = LabelSetBuilder::with_capacity(3);
        builder.add("client", &edge.client_service);
        builder.add("server", &edge.server_service);
        builder.add("connection_type", connection_type_before.label());
        self.unpaired_and_dropped
            .entry(builder.build())
            .add(SLOT_UNPAIRED, 1.0, None);
    }

    /// Tempo's `onComplete`: one request on the edge's series.
    fn count_edge(&mut self, edge: &Edge) {
        let labels = self.rules.edge_labels(edge);
        let exemplar = edge.exemplar_span_id.map(|span_id| ExemplarRef {
            trace_id: edge.key.trace_id,
            span_id,
        });
        let mut entry = self.requests.entry(labels);
        entry.add(SLOT_REQUESTS, edge.multiplier, None);
        if edge.failed {
            entry.add(SLOT_FAILED, edge.multiplier, None);
        }
        entry.observe(
            SLOT_SERVER_SECONDS,
            edge.server_latency_seconds,
            edge.multiplier,
            exemplar,
        );
        entry.observe(
            SLOT_CLIENT_SECONDS,
            edge.client_latency_seconds,
            edge.multiplier,
            exemplar,
        );
        let messaging = self.rules.config.enable_messaging_system_latency_histogram
            && edge.connection_type == ConnectionType::MessagingSystem;
        if messaging {
            // Producer end → consumer start; skipped when clocks disagree.
            let seconds = nanos_between_seconds(edge.client_end_ns, edge.server_start_ns);
            if seconds > 0.0 {
                entry.observe(SLOT_MESSAGING_SECONDS, seconds, edge.multiplier, exemplar);
            }
        }
    }

    /// Settles edges whose `wait` has passed, then returns the current value
    /// of every active series at `now_ms` (and exemplars since the last
    /// collect); drops series idle past `stale_duration`.
    pub fn collect(&mut self, now_ms: i64) -> Collected {
        self.expire(now_ms);
        let mut collected = Collected::default();
        self.requests.collect(now_ms, &mut collected);
        self.unpaired_and_dropped.collect(now_ms, &mut collected);
        collected
    }

    /// Edges waiting for their other half.
    pub fn pending_edges(&self) -> usize {
        self.edges.len()
    }

    /// Spans dropped because `max_items` edges were already waiting.
    pub fn dropped_spans_total(&self) -> u64 {
        self.dropped_spans_total
    }

    /// Halves that expired without becoming an edge.
    pub fn unpaired_spans_total(&self) -> u64 {
        self.unpaired_spans_total
    }

    /// Edge spans skipped because of invalid ids or zero timestamps.
    pub fn skipped_spans_total(&self) -> u64 {
        self.skipped_spans_total
    }

    /// Prometheus series currently held.
    pub fn active_series(&self) -> usize {
        self.requests.active_series() + self.unpaired_and_dropped.active_series()
    }

    /// Series refused by `max_series` (see
    /// [`crate::SpanMetrics::dropped_series_total`]).
    pub fn dropped_series_total(&self) -> u64 {
        self.requests.limited_series_total() + self.unpaired_and_dropped.limited_series_total()
    }
}

impl Rules {
    /// Tempo's per-side update callbacks of `consume`.
    fn apply(&self, edge: &mut Edge, half: &Half<'_>) {
        let span = half.span;
        edge.connection_type = half.connection_type;
        edge.failed = edge.failed || crate::labels::span_failed(span);
        edge.multiplier = half.multiplier;
        let span_id: Option<[u8; 8]> = span.span_id.as_slice().try_into().ok();
        match half.side {
            Side::Client => {
                edge.exemplar_span_id = span_id;
                edge.client_service = half.service.to_string();
                edge.client_latency_seconds = span_duration_seconds(span);
                edge.client_end_ns = span.end_time_unix_nano;
            }
            Side::Server => {
                if edge.exemplar_span_id.is_none() {
                    edge.exemplar_span_id = span_id;
                }
                edge.server_service = half.service.to_string();
                edge.server_latency_seconds = span_duration_seconds(span);
                edge.server_start_ns = span.start_time_unix_nano;
            }
        }
        self.store_dimensions(edge, half);
        self.store_peer_node(edge, half);
        if half.side == Side::Client {
            self.apply_database(edge, half);
        }
    }

    fn store_dimensions(&self, edge: &mut Edge, half: &Half<'_>) {
        let lists: [&[KeyValue]; 2] = [half.resource, &half.span.attributes];
        for dimension in &self.dimensions {
            let Some(value) = find_attribute(&dimension.attribute, &lists) else {
                continue;
            };
            let key = match half.side {
                Side::Client => &dimension.client_key,
                Side::Server => &dimension.server_key,
            };
            edge.dimensions.insert(key.clone(), value);
        }
    }

    /// Tempo's `upsertPeerNode` (span attributes only), then Vispyr's
    /// client-only attributes.
    fn store_peer_node(&self, edge: &mut Edge, half: &Half<'_>) {
        let span_attributes: [&[KeyValue]; 1] = [&half.span.attributes];
        for key in &self.config.peer_attributes {
            if let Some(value) = find_attribute(key, &span_attributes) {
                edge.peer_node = value;
                return;
            }
        }
        if half.side != Side::Client {
            return;
        }
        for key in &self.config.client_peer_attributes {
            if let Some(value) = find_attribute(key, &span_attributes) {
                edge.peer_node = value;
                return;
            }
        }
    }

    /// Tempo's `upsertDatabaseRequest`: a client span with a database
    /// attribute is an edge to the database, complete on arrival.
    fn apply_database(&self, edge: &mut Edge, half: &Half<'_>) {
        let lists: [&[KeyValue]; 2] = [half.resource, &half.span.attributes];
        let database_name = self
            .config
            .database_name_attributes
            .iter()
            .find_map(|key| find_attribute(key, &lists));
        let Some(database_name) = database_name else {
            return;
        };
        edge.connection_type = ConnectionType::Database;
        edge.server_latency_seconds = span_duration_seconds(half.span);
        if let Some(name) = find_attribute("peer.service", &lists) {
            edge.server_service = name;
            return;
        }
        if let Some(name) = find_attribute("server.address", &lists) {
            edge.server_service = name;
            return;
        }
        if let Some(host) = find_attribute("network.peer.address", &lists) {
            edge.server_service = match find_attribute("network.peer.port", &lists) {
                Some(port) => format!("{host}:{port}"),
                None => host,
            };
            return;
        }
        if !database_name.is_empty() {
            edge.server_service = database_name;
        }
    }

    fn edge_labels(&self, edge: &Edge) -> LabelSet {
        let mut builder = LabelSetBuilder::with_capacity(4 + 2 * self.dimensions.len());
        builder.add("client", &edge.client_service);
        builder.add("server", &edge.server_service);
        builder.add("connection_type", edge.connection_type.label());
        let value_of = |key: &str| edge.dimensions.get(key).map_or("", String::as_str);
        for dimension in &self.dimensions {
            if self.config.enable_client_server_prefix {
                builder.add(&dimension.client_label, value_of(&dimension.client_key));
                builder.add(&dimension.server_label, value_of(&dimension.server_key));
            } else {
                builder.add(&dimension.label, value_of(&dimension.attribute));
            }
        }
        if self.config.enable_virtual_node_label {
            builder.add(VIRTUAL_NODE_LABEL, edge.virtual_node);
        }
        builder.build()
    }
}

/// The key a span's half belongs to; `None` for a malformed parent id.
fn edge_key(span: &Span, side: Side) -> Option<EdgeKey> {
    let trace_id: [u8; 16] = span.trace_id.as_slice().try_into().ok()?;
    match side {
        Side::Client => Some(EdgeKey {
            trace_id,
            span_id: span.span_id.as_slice().try_into().ok()?,
            root: false,
        }),
        Side::Server => {
            let parent = span.parent_span_id.as_slice();
            // An all-zero parent id is the OTLP way of saying "no parent".
            if parent.iter().all(|byte| *byte == 0) {
                return Some(EdgeKey {
                    trace_id,
                    span_id: [0; 8],
                    root: true,
                });
            }
            Some(EdgeKey {
                trace_id,
                span_id: parent.try_into().ok()?,
                root: false,
            })
        }
    }
}

/// Labels of an unpaired or dropped half: the known side only.
fn side_labels(side: Side, service: &str, connection_type: ConnectionType) -> LabelSet {
    let mut builder = LabelSetBuilder::with_capacity(2);
    let name = match side {
        Side::Client => "client",
        Side::Server => "server",
    };
    builder.add(name, service);
    builder.add("connection_type", connection_type.label());
    builder.build()
}

#[cfg(test)]
mod tests;
