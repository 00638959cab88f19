//! Deterministic generator of realistic OTLP trace batches.
//!
//! The shape mimics a mid-sized microservice estate: 50 services, each with
//! 1–3 instances (one OTLP resource per instance), a handful of HTTP routes
//! from a shared vocabulary and optionally one database. A trace has 1–8
//! spans: a SERVER root, CLIENT spans calling either a database or another
//! service (whose SERVER span becomes the client's child), and INTERNAL
//! spans. Children always start after and end before their parent. Every span
//! carries about ten attributes, about 2 % of spans fail with an error status
//! (plus an `exception` event), and some spans carry ordinary events.
//!
//! All randomness comes from one [`SmallRng`] seeded by the caller, and the
//! clock is an explicit `base_time_ns`, so the same `(seed, base_time_ns)`
//! always yields byte-identical batches.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, InstrumentationScope, KeyValue, any_value::Value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Number of distinct services (`service.name` values).
pub const SERVICE_COUNT: usize = 50;
/// Largest number of spans in one trace.
pub const MAX_TRACE_SPANS: usize = 8;
/// Probability that a span has an error status.
pub const ERROR_RATE: f64 = 0.02;

/// Span flags: trace flags `sampled` plus "has is_remote" (bit 8).
const FLAGS_LOCAL_PARENT: u32 = 0x101;
/// As above, plus "is_remote" (bit 9): the parent lives in another process.
const FLAGS_REMOTE_PARENT: u32 = 0x301;

const SCHEMA_URL: &str = "https://opentelemetry.io/schemas/1.26.0";

pub(crate) const SERVICE_NAMES: [&str; SERVICE_COUNT] = [
    "frontend",
    "frontend-proxy",
    "api-gateway",
    "auth-service",
    "user-service",
    "profile-service",
    "session-service",
    "cart-service",
    "checkout-service",
    "payment-service",
    "fraud-detection",
    "billing-service",
    "invoice-service",
    "currency-service",
    "quote-service",
    "shipping-service",
    "inventory-service",
    "warehouse-service",
    "catalog-service",
    "product-service",
    "pricing-service",
    "discount-service",
    "search-service",
    "recommendation-service",
    "review-service",
    "rating-service",
    "ad-service",
    "email-service",
    "notification-service",
    "sms-gateway",
    "push-service",
    "media-service",
    "image-resizer",
    "analytics-ingest",
    "reporting-service",
    "audit-log",
    "feature-flags",
    "config-service",
    "order-service",
    "order-history",
    "returns-service",
    "loyalty-service",
    "wishlist-service",
    "tax-service",
    "address-validation",
    "geo-service",
    "scheduler",
    "export-worker",
    "webhook-dispatcher",
    "ledger-service",
];

pub(crate) const ROUTES: [(&str, &str); 20] = [
    ("GET", "/api/v1/users/{id}"),
    ("POST", "/api/v1/users"),
    ("GET", "/api/v1/orders/{id}"),
    ("POST", "/api/v1/orders"),
    ("GET", "/api/v1/products"),
    ("GET", "/api/v1/products/{id}"),
    ("PUT", "/api/v1/carts/{id}/items"),
    ("DELETE", "/api/v1/carts/{id}/items/{item_id}"),
    ("GET", "/api/v1/search"),
    ("POST", "/api/v1/payments"),
    ("GET", "/api/v1/payments/{id}"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/refresh"),
    ("GET", "/api/v1/recommendations"),
    ("GET", "/api/v2/inventory/{sku}"),
    ("PATCH", "/api/v1/profiles/{id}"),
    ("GET", "/healthz"),
    ("POST", "/api/v1/shipments"),
    ("GET", "/api/v1/shipments/{id}/status"),
    ("POST", "/api/v1/notifications/email"),
];

/// `(language, sdk version, instrumentation scope name)`.
const LANGUAGES: [(&str, &str, &str); 6] = [
    ("java", "1.44.1", "io.opentelemetry.tomcat-10.0"),
    (
        "go",
        "1.33.0",
        "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp",
    ),
    ("python", "1.29.0", "opentelemetry.instrumentation.flask"),
    ("nodejs", "1.30.0", "@opentelemetry/instrumentation-http"),
    ("rust", "0.27.1", "tracing-opentelemetry"),
    (
        "dotnet",
        "1.10.0",
        "OpenTelemetry.Instrumentation.AspNetCore",
    ),
];

/// `(db.system.name, port, operations)`.
const DATABASES: [(&str, i64, &[&str]); 4] = [
    ("postgresql", 5432, &["SELECT", "INSERT", "UPDATE"]),
    ("mysql", 3306, &["SELECT", "INSERT", "DELETE"]),
    ("redis", 6379, &["GET", "SET", "HGETALL"]),
    ("mongodb", 27017, &["find", "insert", "aggregate"]),
];

const TABLES: [&str; 8] = [
    "users",
    "orders",
    "order_items",
    "products",
    "sessions",
    "payments",
    "inventory",
    "carts",
];

pub(crate) const USER_AGENTS: [&str; 5] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "okhttp/4.12.0",
    "python-requests/2.32.3",
];

const INTERNAL_OPS: [&str; 8] = [
    "validate_request",
    "serialize_response",
    "cache.lookup",
    "render_template",
    "compute_price",
    "apply_discounts",
    "load_feature_flags",
    "authorize",
];

pub(crate) const THREAD_NAMES: [&str; 4] = [
    "http-nio-8080-exec-3",
    "worker-1",
    "tokio-runtime-worker",
    "main",
];
pub(crate) const REGIONS: [&str; 4] = ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-1"];

/// `(exception.type, exception.message, status message)`.
const FAILURES: [(&str, &str, &str); 5] = [
    (
        "java.net.SocketTimeoutException",
        "Read timed out after 5000ms",
        "upstream request timed out",
    ),
    (
        "ConnectionRefusedError",
        "[Errno 111] Connection refused",
        "connection refused",
    ),
    (
        "context.DeadlineExceeded",
        "context deadline exceeded",
        "deadline exceeded",
    ),
    (
        "System.InvalidOperationException",
        "Sequence contains no elements",
        "internal error",
    ),
    (
        "PSQLException",
        "ERROR: could not serialize access due to concurrent update",
        "database error",
    ),
];

struct Service {
    name: &'static str,
    scope: InstrumentationScope,
    /// One resource per instance (differing in `host.name` / instance id).
    resources: Vec<Resource>,
    routes: Vec<usize>,
    /// Index into [`DATABASES`].
    db: Option<usize>,
}

/// What a span in a trace being built is, so children can be chosen for it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Server,
    Internal,
    /// HTTP client call to `(service, route)`.
    HttpClient(usize, usize),
    DbClient,
}

/// The parts of a span that differ by kind, before ids and events are added.
struct Draft {
    name: String,
    kind: SpanKind,
    attributes: Vec<KeyValue>,
    failure: Option<(Status, Event)>,
}

struct Node {
    service: usize,
    instance: usize,
    role: Role,
    span_id: [u8; 8],
    start: u64,
    end: u64,
    children: usize,
}

/// Seeded, deterministic generator of OTLP trace batches.
pub struct Generator {
    rng: SmallRng,
    services: Vec<Service>,
    base_time_ns: u64,
}

impl Generator {
    /// A generator whose spans all end shortly before `base_time_ns`.
    pub fn new(seed: u64, base_time_ns: u64) -> Self {
        let mut rng = SmallRng::seed_from_u64(seed);
        let services = SERVICE_NAMES
            .iter()
            .map(|name| build_service(&mut rng, name))
            .collect();
        Self {
            rng,
            services,
            base_time_ns,
        }
    }

    /// One export request holding exactly `spans` spans, grouped by resource
    /// (service instance). The last trace is cut short when needed.
    pub fn batch(&mut self, spans: usize) -> ExportTraceServiceRequest {
        let mut by_resource: BTreeMap<(usize, usize), Vec<Span>> = BTreeMap::new();
        let mut remaining = spans;
        while remaining > 0 {
            let len = self.rng.random_range(1..=MAX_TRACE_SPANS).min(remaining);
            remaining -= len;
            for (service, instance, span) in self.trace(len) {
                by_resource
                    .entry((service, instance))
                    .or_default()
                    .push(span);
            }
        }
        let resource_spans = by_resource
            .into_iter()
            .map(|((service, instance), spans)| {
                let svc = &self.services[service];
                ResourceSpans {
                    resource: Some(svc.resources[instance].clone()),
                    scope_spans: vec![ScopeSpans {
                        scope: Some(svc.scope.clone()),
                        spans,
                        schema_url: SCHEMA_URL.to_string(),
                    }],
                    schema_url: SCHEMA_URL.to_string(),
                }
            })
            .collect();
        ExportTraceServiceRequest { resource_spans }
    }

    /// One trace of `len` spans as `(service, instance, span)`.
    fn trace(&mut self, len: usize) -> Vec<(usize, usize, Span)> {
        let trace_id = random_id::<16>(&mut self.rng);
        let mut nodes: Vec<Node> = Vec::with_capacity(len);
        let mut out = Vec::with_capacity(len);

        // Root: a SERVER span lasting 5 ms – 800 ms (log-uniform), ending up
        // to one second before the base time.
        let service = self.rng.random_range(0..self.services.len());
        let instance = self
            .rng
            .random_range(0..self.services[service].resources.len());
        let route = self.services[service].routes[self
            .rng
            .random_range(0..self.services[service].routes.len())];
        let duration = 10f64.powf(self.rng.random_range(6.7..8.9)) as u64;
        let end = self
            .base_time_ns
            .saturating_sub(self.rng.random_range(0..1_000_000_000));
        let start = end.saturating_sub(duration);
        let root = Node {
            service,
            instance,
            role: Role::Server,
            span_id: random_id::<8>(&mut self.rng),
            start,
            end,
            children: 0,
        };
        out.push((
            service,
            instance,
            self.server_span(&trace_id, &root, None, route),
        ));
        nodes.push(root);

        for _ in 1..len {
            let parent_idx = self.pick_parent(&nodes);
            let parent = &nodes[parent_idx];
            let (start, end) = self.child_window(parent.start, parent.end);
            let span_id = random_id::<8>(&mut self.rng);
            let parent_id = parent.span_id;
            let (node, span) = match parent.role {
                Role::HttpClient(service, route) => {
                    let instance = self
                        .rng
                        .random_range(0..self.services[service].resources.len());
                    let node = Node {
                        service,
                        instance,
                        role: Role::Server,
                        span_id,
                        start,
                        end,
                        children: 0,
                    };
                    let span = self.server_span(&trace_id, &node, Some(&parent_id), route);
                    (node, span)
                }
                Role::Server | Role::Internal => {
                    let (service, instance) = (parent.service, parent.instance);
                    let roll: f64 = self.rng.random();
                    let role = if roll < 0.4 {
                        Role::Internal
                    } else if roll < 0.65 && self.services[service].db.is_some() {
                        Role::DbClient
                    } else {
                        let target = self.rng.random_range(0..self.services.len());
                        let routes = &self.services[target].routes;
                        Role::HttpClient(target, routes[self.rng.random_range(0..routes.len())])
                    };
                    let node = Node {
                        service,
                        instance,
                        role,
                        span_id,
                        start,
                        end,
                        children: 0,
                    };
                    let span = match role {
                        Role::Internal => self.internal_span(&trace_id, &node, &parent_id),
                        Role::DbClient => self.db_span(&trace_id, &node, &parent_id),
                        Role::HttpClient(target, route) => {
                            self.http_client_span(&trace_id, &node, &parent_id, target, route)
                        }
                        Role::Server => unreachable!("children of local spans are never servers"),
                    };
                    (node, span)
                }
                Role::DbClient => unreachable!("pick_parent never returns a db span"),
            };
            nodes[parent_idx].children += 1;
            out.push((node.service, node.instance, span));
            nodes.push(node);
        }
        out
    }

    /// A random span that may take another child: DB spans are leaves and an
    /// HTTP client span has exactly one (remote SERVER) child. The root is a
    /// SERVER span, so there is always a candidate.
    fn pick_parent(&mut self, nodes: &[Node]) -> usize {
        let ok = |n: &Node| match n.role {
            Role::DbClient => false,
            Role::HttpClient(..) => n.children == 0,
            Role::Server | Role::Internal => true,
        };
        let candidates = nodes.iter().filter(|n| ok(n)).count();
        let pick = self.rng.random_range(0..candidates);
        nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| ok(n))
            .nth(pick)
            .map_or(0, |(i, _)| i)
    }

    /// A sub-interval strictly inside `(start, end)`: it starts in the first
    /// half of the parent and ends before the parent does.
    fn child_window(&mut self, start: u64, end: u64) -> (u64, u64) {
        let span = end.saturating_sub(start);
        if span < 4 {
            return (start, end);
        }
        let child_start = start + self.rng.random_range(1..=span / 2);
        let room = end - child_start - 1; // >= 1
        let child_end = child_start + self.rng.random_range(1..=room);
        (child_start, child_end)
    }

    /// With probability [`ERROR_RATE`], an error status and its `exception` event.
    fn failure(&mut self, start: u64, end: u64) -> Option<(Status, Event)> {
        if !self.rng.random_bool(ERROR_RATE) {
            return None;
        }
        let (ty, msg, status_msg) = FAILURES[self.rng.random_range(0..FAILURES.len())];
        let status = Status {
            message: status_msg.to_string(),
            code: StatusCode::Error as i32,
        };
        let event = Event {
            time_unix_nano: start + (end - start) * 9 / 10,
            name: "exception".to_string(),
            attributes: vec![
                kv_str("exception.type", ty),
                kv_str("exception.message", msg),
                kv_str(
                    "exception.stacktrace",
                    &format!("{ty}: {msg}\n\tat handler(app.rs:120)\n\tat main(main.rs:42)"),
                ),
            ],
            dropped_attributes_count: 0,
        };
        Some((status, event))
    }

    /// About 8 % of healthy spans get one ordinary event.
    fn maybe_event(&mut self, start: u64, end: u64, events: &mut Vec<Event>) {
        if !self.rng.random_bool(0.08) {
            return;
        }
        let time_unix_nano = start + (end - start) / 2;
        let event = match self.rng.random_range(0..3) {
            0 => Event {
                time_unix_nano,
                name: "cache.miss".to_string(),
                attributes: vec![kv_str(
                    "cache.key",
                    &format!("user:{}", self.rng.random_range(1..100_000)),
                )],
                dropped_attributes_count: 0,
            },
            1 => Event {
                time_unix_nano,
                name: "retry".to_string(),
                attributes: vec![kv_int("retry.attempt", self.rng.random_range(1..4))],
                dropped_attributes_count: 0,
            },
            _ => Event {
                time_unix_nano,
                name: "message".to_string(),
                attributes: vec![
                    kv_str("message.type", "SENT"),
                    kv_int("message.id", self.rng.random_range(1..1_000)),
                ],
                dropped_attributes_count: 0,
            },
        };
        events.push(event);
    }

    fn thread_attrs(&mut self, attributes: &mut Vec<KeyValue>) {
        attributes.push(kv_int("thread.id", self.rng.random_range(1..256)));
        attributes.push(kv_str(
            "thread.name",
            THREAD_NAMES[self.rng.random_range(0..THREAD_NAMES.len())],
        ));
    }

    fn finish(
        &mut self,
        trace_id: &[u8; 16],
        node: &Node,
        parent_id: Option<&[u8; 8]>,
        draft: Draft,
    ) -> Span {
        let Draft {
            name,
            kind,
            attributes,
            failure,
        } = draft;
        let mut events = Vec::new();
        let status = match failure {
            Some((status, event)) => {
                events.push(event);
                Some(status)
            }
            None => {
                self.maybe_event(node.start, node.end, &mut events);
                None
            }
        };
        let remote_parent = kind == SpanKind::Server && parent_id.is_some();
        Span {
            trace_id: trace_id.to_vec(),
            span_id: node.span_id.to_vec(),
            trace_state: String::new(),
            parent_span_id: parent_id.map(|p| p.to_vec()).unwrap_or_default(),
            flags: if remote_parent {
                FLAGS_REMOTE_PARENT
            } else {
                FLAGS_LOCAL_PARENT
            },
            name,
            kind: kind as i32,
            start_time_unix_nano: node.start,
            end_time_unix_nano: node.end,
            attributes,
            dropped_attributes_count: 0,
            events,
            dropped_events_count: 0,
            links: Vec::new(),
            dropped_links_count: 0,
            status,
        }
    }

    fn server_span(
        &mut self,
        trace_id: &[u8; 16],
        node: &Node,
        parent_id: Option<&[u8; 8]>,
        route: usize,
    ) -> Span {
        let (method, template) = ROUTES[route];
        let failure = self.failure(node.start, node.end);
        let status_code = match &failure {
            Some(_) => [500, 502, 503, 504][self.rng.random_range(0..4)],
            None if self.rng.random_bool(0.05) => [400, 401, 404][self.rng.random_range(0..3)],
            None if method == "POST" => 201,
            None => 200,
        };
        let mut attributes = vec![
            kv_str("http.request.method", method),
            kv_str("http.route", template),
            kv_int("http.response.status_code", status_code),
            kv_str("url.path", &fill_path(&mut self.rng, template)),
            kv_str("url.scheme", "http"),
            kv_str("server.address", self.services[node.service].name),
            kv_int("net.peer.port", self.rng.random_range(30_000..61_000)),
            kv_str(
                "user_agent.original",
                USER_AGENTS[self.rng.random_range(0..USER_AGENTS.len())],
            ),
            kv_str(
                "client.address",
                &format!(
                    "10.{}.{}.{}",
                    self.rng.random_range(0..8u8),
                    self.rng.random::<u8>(),
                    self.rng.random_range(1..255u8)
                ),
            ),
            kv_bool("app.cache_hit", self.rng.random_bool(0.7)),
        ];
        self.thread_attrs(&mut attributes);
        let name = format!("{method} {template}");
        self.finish(
            trace_id,
            node,
            parent_id,
            Draft {
                name,
                kind: SpanKind::Server,
                attributes,
                failure,
            },
        )
    }

    fn http_client_span(
        &mut self,
        trace_id: &[u8; 16],
        node: &Node,
        parent_id: &[u8; 8],
        target: usize,
        route: usize,
    ) -> Span {
        let (method, template) = ROUTES[route];
        let failure = self.failure(node.start, node.end);
        let status_code = if failure.is_some() { 503 } else { 200 };
        let host = self.services[target].name;
        let path = fill_path(&mut self.rng, template);
        let mut attributes = vec![
            kv_str("http.request.method", method),
            kv_int("http.response.status_code", status_code),
            kv_str("url.full", &format!("http://{host}:8080{path}")),
            kv_str("url.path", &path),
            kv_str("server.address", host),
            kv_int("net.peer.port", 8080),
            kv_str("network.protocol.version", "1.1"),
            kv_bool("app.retry", self.rng.random_bool(0.05)),
        ];
        self.thread_attrs(&mut attributes);
        self.finish(
            trace_id,
            node,
            Some(parent_id),
            Draft {
                name: method.to_string(),
                kind: SpanKind::Client,
                attributes,
                failure,
            },
        )
    }

    fn db_span(&mut self, trace_id: &[u8; 16], node: &Node, parent_id: &[u8; 8]) -> Span {
        let (system, port, ops) = DATABASES[self.services[node.service].db.unwrap_or(0)];
        let op = ops[self.rng.random_range(0..ops.len())];
        let table = TABLES[self.rng.random_range(0..TABLES.len())];
        let failure = self.failure(node.start, node.end);
        let query = match system {
            "redis" => format!("{op} {table}:?"),
            "mongodb" => format!("db.{table}.{op}({{\"_id\": ?}})"),
            _ => format!("{op} * FROM {table} WHERE id = $1"),
        };
        let rows = self.rng.random_range(0..50);
        let mut attributes = vec![
            kv_str("db.system.name", system),
            kv_str("db.namespace", "shop"),
            kv_str("db.operation.name", op),
            kv_str("db.collection.name", table),
            kv_str("db.query.text", &query),
            kv_str("server.address", &format!("{system}-0.db.internal")),
            kv_int("net.peer.port", port),
            kv_int("db.response.returned_rows", rows),
        ];
        self.thread_attrs(&mut attributes);
        self.finish(
            trace_id,
            node,
            Some(parent_id),
            Draft {
                name: format!("{op} {table}"),
                kind: SpanKind::Client,
                attributes,
                failure,
            },
        )
    }

    fn internal_span(&mut self, trace_id: &[u8; 16], node: &Node, parent_id: &[u8; 8]) -> Span {
        let op = INTERNAL_OPS[self.rng.random_range(0..INTERNAL_OPS.len())];
        let failure = self.failure(node.start, node.end);
        let mut attributes = vec![
            kv_str("code.function.name", op),
            kv_str("code.file.path", &format!("src/handlers/{op}.rs")),
            kv_bool("app.cache_hit", self.rng.random_bool(0.5)),
            kv_int("app.items", self.rng.random_range(0..100)),
            kv_str(
                "app.tenant.id",
                &format!("tenant-{}", self.rng.random_range(1..200)),
            ),
            kv_str(
                "app.region",
                REGIONS[self.rng.random_range(0..REGIONS.len())],
            ),
            kv_bool("app.feature.enabled", self.rng.random_bool(0.3)),
            kv_int("app.batch.size", self.rng.random_range(1..64)),
        ];
        self.thread_attrs(&mut attributes);
        self.finish(
            trace_id,
            node,
            Some(parent_id),
            Draft {
                name: op.to_string(),
                kind: SpanKind::Internal,
                attributes,
                failure,
            },
        )
    }
}

/// What a service's resource says about its build: SDK language and version,
/// instrumentation scope, service version and environment.
pub(crate) struct ServiceIdentity {
    pub language: &'static str,
    pub sdk_version: &'static str,
    pub scope_name: &'static str,
    pub version: String,
    pub environment: &'static str,
}

impl ServiceIdentity {
    /// A random identity with one of `languages`: `(telemetry.sdk.language,
    /// sdk version, instrumentation scope)`.
    pub(crate) fn random(
        rng: &mut SmallRng,
        languages: &[(&'static str, &'static str, &'static str)],
    ) -> ServiceIdentity {
        let (language, sdk_version, scope_name) = languages[rng.random_range(0..languages.len())];
        let version = format!(
            "{}.{}.{}",
            rng.random_range(1..5),
            rng.random_range(0..20),
            rng.random_range(0..10)
        );
        let environment = if rng.random_bool(0.8) {
            "production"
        } else {
            "staging"
        };
        ServiceIdentity {
            language,
            sdk_version,
            scope_name,
            version,
            environment,
        }
    }
}

/// 3–6 distinct indexes into [`ROUTES`], sorted.
pub(crate) fn random_routes(rng: &mut SmallRng) -> Vec<usize> {
    let mut routes: Vec<usize> = (0..rng.random_range(3..=6))
        .map(|_| rng.random_range(0..ROUTES.len()))
        .collect();
    routes.sort_unstable();
    routes.dedup();
    routes
}

fn build_service(rng: &mut SmallRng, name: &'static str) -> Service {
    let ServiceIdentity {
        language,
        sdk_version,
        scope_name,
        version,
        environment,
    } = ServiceIdentity::random(rng, &LANGUAGES);
    let instances = rng.random_range(1..=3);
    let resources = (0..instances)
        .map(|_| {
            let host = format!(
                "{name}-{:08x}-{:05x}",
                rng.random::<u32>(),
                rng.random_range(0..0x10_0000u32)
            );
            Resource {
                attributes: vec![
                    kv_str("service.name", name),
                    kv_str("service.namespace", "shop"),
                    kv_str("service.version", &version),
                    kv_str("service.instance.id", &host),
                    kv_str("host.name", &host),
                    kv_str("deployment.environment.name", environment),
                    kv_str("telemetry.sdk.language", language),
                    kv_str("telemetry.sdk.name", "opentelemetry"),
                    kv_str("telemetry.sdk.version", sdk_version),
                ],
                ..Default::default()
            }
        })
        .collect();
    let routes = random_routes(rng);
    let db = rng
        .random_bool(0.5)
        .then(|| rng.random_range(0..DATABASES.len()));
    Service {
        name,
        scope: InstrumentationScope {
            name: scope_name.to_string(),
            version: sdk_version.to_string(),
            ..Default::default()
        },
        resources,
        routes,
        db,
    }
}

/// A random id of `N` bytes that is not all zero (OTLP's "no id").
pub(crate) fn random_id<const N: usize>(rng: &mut SmallRng) -> [u8; N] {
    loop {
        let mut id = [0u8; N];
        rng.fill(&mut id[..]);
        if id.iter().any(|&b| b != 0) {
            return id;
        }
    }
}

/// `template` (e.g. `/api/v1/users/{id}`) with every `{…}` replaced by a
/// random number.
pub(crate) fn fill_path(rng: &mut SmallRng, template: &str) -> String {
    let mut path = String::with_capacity(template.len() + 8);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        path.push_str(&rest[..open]);
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c + 1);
        let id: u32 = rng.random_range(1..100_000);
        path.push_str(&id.to_string());
        rest = &rest[close..];
    }
    path.push_str(rest);
    path
}

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

pub(crate) fn kv_str(key: &str, value: &str) -> KeyValue {
    kv(key, Value::StringValue(value.to_string()))
}

pub(crate) fn kv_int(key: &str, value: i64) -> KeyValue {
    kv(key, Value::IntValue(value))
}

pub(crate) fn kv_bool(key: &str, value: bool) -> KeyValue {
    kv(key, Value::BoolValue(value))
}

/// Number of spans in a request.
pub fn span_count(request: &ExportTraceServiceRequest) -> usize {
    request
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len())
        .sum()
}

/// Every span of a request, in order.
#[cfg(test)]
pub fn spans(request: &ExportTraceServiceRequest) -> impl Iterator<Item = &Span> {
    request
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use std::collections::{HashMap, HashSet};

    const BASE: u64 = 1_750_000_000_000_000_000;

    #[test]
    fn batch_has_exact_span_count() {
        let mut g = Generator::new(7, BASE);
        for n in [1, 2, 7, 8, 9, 500, 1234] {
            assert_eq!(span_count(&g.batch(n)), n);
        }
        assert_eq!(span_count(&g.batch(0)), 0);
    }

    #[test]
    fn ids_are_valid() {
        let mut g = Generator::new(1, BASE);
        let req = g.batch(5_000);
        let mut span_ids = HashSet::new();
        for span in spans(&req) {
            assert_eq!(span.trace_id.len(), 16);
            assert!(span.trace_id.iter().any(|&b| b != 0));
            assert_eq!(span.span_id.len(), 8);
            assert!(span.span_id.iter().any(|&b| b != 0));
            assert!(span.parent_span_id.is_empty() || span.parent_span_id.len() == 8);
            assert!(span_ids.insert(span.span_id.clone()), "duplicate span id");
        }
    }

    #[test]
    fn parents_are_in_same_trace_and_enclose_children() {
        let mut g = Generator::new(2, BASE);
        let req = g.batch(5_000);
        let by_id: HashMap<(&[u8], &[u8]), &Span> = spans(&req)
            .map(|s| ((s.trace_id.as_slice(), s.span_id.as_slice()), s))
            .collect();
        let mut roots_per_trace: HashMap<&[u8], usize> = HashMap::new();
        for span in spans(&req) {
            assert!(span.start_time_unix_nano < span.end_time_unix_nano);
            assert!(span.end_time_unix_nano <= BASE);
            assert!(span.start_time_unix_nano > BASE - 10_000_000_000);
            if span.parent_span_id.is_empty() {
                *roots_per_trace.entry(&span.trace_id).or_default() += 1;
                assert_eq!(span.kind, SpanKind::Server as i32);
                continue;
            }
            let parent = by_id
                .get(&(span.trace_id.as_slice(), span.parent_span_id.as_slice()))
                .expect("parent span is in the same trace and batch");
            assert!(parent.start_time_unix_nano < span.start_time_unix_nano);
            assert!(span.end_time_unix_nano < parent.end_time_unix_nano);
            if span.kind == SpanKind::Server as i32 {
                assert_eq!(parent.kind, SpanKind::Client as i32);
            }
        }
        assert!(roots_per_trace.values().all(|&n| n == 1));
        // 1..=8 spans per trace, so traces ≈ spans / 4.5.
        let traces = roots_per_trace.len();
        assert!((800..1_500).contains(&traces), "{traces} traces");
    }

    #[test]
    fn shape_is_realistic() {
        let mut g = Generator::new(3, BASE);
        let req = g.batch(20_000);
        let total = span_count(&req) as f64;
        let attrs: usize = spans(&req).map(|s| s.attributes.len()).sum();
        let avg = attrs as f64 / total;
        assert!((9.0..=11.0).contains(&avg), "avg attrs {avg}");
        assert!(spans(&req).all(|s| (8..=12).contains(&s.attributes.len())));

        let errors = spans(&req)
            .filter(|s| s.status.as_ref().map(|st| st.code) == Some(StatusCode::Error as i32))
            .count() as f64;
        let rate = errors / total;
        assert!((0.01..0.03).contains(&rate), "error rate {rate}");
        for s in spans(&req).filter(|s| s.status.is_some()) {
            let st = s.status.as_ref().map(|st| st.message.as_str());
            assert!(!st.unwrap_or_default().is_empty());
            assert!(s.events.iter().any(|e| e.name == "exception"));
        }
        let kinds: HashSet<i32> = spans(&req).map(|s| s.kind).collect();
        for kind in [SpanKind::Server, SpanKind::Client, SpanKind::Internal] {
            assert!(kinds.contains(&(kind as i32)));
        }

        let services: HashSet<String> = req
            .resource_spans
            .iter()
            .filter_map(|rs| rs.resource.as_ref())
            .filter_map(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
            .filter_map(
                |kv| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(Value::StringValue(s)) => Some(s.clone()),
                    _ => None,
                },
            )
            .collect();
        assert_eq!(services.len(), SERVICE_COUNT);
    }

    #[test]
    fn deterministic_with_seed() {
        let a = Generator::new(42, BASE).batch(1_000).encode_to_vec();
        let b = Generator::new(42, BASE).batch(1_000).encode_to_vec();
        let c = Generator::new(43, BASE).batch(1_000).encode_to_vec();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn roundtrips_through_protobuf() {
        let req = Generator::new(5, BASE).batch(300);
        let bytes = req.encode_to_vec();
        let decoded = ExportTraceServiceRequest::decode(bytes.as_slice()).expect("decodes");
        assert_eq!(decoded, req);
    }
}
