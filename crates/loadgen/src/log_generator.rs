//! Deterministic generator of realistic OTLP log batches.
//!
//! The estate is `services` services (the first names of the span
//! generator's vocabulary), each with 1–3 instances: one OTLP resource per
//! instance, with `service.*`, `host.name` and Kubernetes-style attributes.
//! A third of the services log JSON (`{"level":"info","ts":…,"logger":…,"msg":…}`),
//! a third plain text with `key=value` pairs (what a logging-library bridge
//! sends), and a third the same text behind a timestamp/level/thread/logger
//! prefix (what a collector tailing a log file sends). Lines come in bursts of
//! 1–4 that share one request context (user, a random 16-hex-digit request id
//! and, for half of the bursts, a trace and span id), the way the lines of
//! one request do.
//!
//! Levels are drawn 70 % INFO, 15 % DEBUG, 10 % WARN, 5 % ERROR (with
//! `severity_number`/`severity_text` set). INFO lines are access-log lines
//! (`GET /api/v1/orders/83421 200 12.3ms bytes=… ip=… ua=… tenant=… user=… req=…`) or
//! business events, DEBUG lines cache/SQL/outgoing-call chatter, WARN lines
//! 4xx access lines and slow-call/retry/pool warnings, ERROR lines 5xx access
//! lines and multi-word failures with exception text. Every line has 2–4
//! attributes. Bodies average about 200 bytes (see the `line_sizes` test).
//! Within a batch the lines span the two seconds before the base time, in
//! time order per resource.
//!
//! Besides the request, a batch returns each line's [`LineMeta`]: where its
//! request ids sit in the body text and where a word can be inserted, so the
//! pool can refresh ids per request and plant a rare term (see
//! [`crate::logs`]).
//!
//! All randomness comes from one [`SmallRng`] seeded by the caller, and the
//! clock is an explicit `base_time_ns`, so the same `(seed, services,
//! base_time_ns)` always yields byte-identical batches.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use opentelemetry_proto::tonic::resource::v1::Resource;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::generator::{
    REGIONS, ROUTES, SERVICE_NAMES, ServiceIdentity, THREAD_NAMES, USER_AGENTS, fill_path, kv_int,
    kv_str, random_id, random_routes,
};

/// Services by default.
pub const DEFAULT_SERVICES: usize = 20;
/// Share of bursts (and so, roughly, of lines) with a trace and span id.
pub const TRACED_SHARE: f64 = 0.5;
/// Largest number of lines sharing one request context.
const MAX_BURST: usize = 4;
/// Lines are stamped up to this long before the send time.
const MAX_AGE_NS: u64 = 2_000_000_000;
/// W3C trace flags: sampled.
const FLAG_SAMPLED: u32 = 1;

const SCHEMA_URL: &str = "https://opentelemetry.io/schemas/1.26.0";

/// `(telemetry.sdk.language, sdk version, log bridge scope name)`.
const LANGUAGES: [(&str, &str, &str); 6] = [
    ("java", "1.44.1", "io.opentelemetry.logback-appender-1.0"),
    (
        "go",
        "1.33.0",
        "go.opentelemetry.io/contrib/bridges/otelslog",
    ),
    ("python", "1.29.0", "opentelemetry.sdk._logs._internal"),
    ("nodejs", "1.30.0", "@opentelemetry/winston-transport"),
    ("rust", "0.27.1", "opentelemetry-appender-tracing"),
    ("dotnet", "1.10.0", "OpenTelemetry.Logs"),
];

const COMPONENTS: [&str; 8] = [
    "Controller",
    "Service",
    "Repository",
    "Client",
    "Worker",
    "Handler",
    "Cache",
    "Consumer",
];
const CURRENCIES: [&str; 4] = ["EUR", "USD", "GBP", "JPY"];
const CARRIERS: [&str; 4] = ["dhl", "ups", "fedex", "usps"];
const COUNTRIES: [&str; 6] = ["DE", "US", "FR", "GB", "NL", "JP"];
const SEARCHES: [&str; 6] = [
    "red running shoes",
    "wireless headphones",
    "usb-c charger 65w",
    "winter jacket men",
    "coffee grinder",
    "yoga mat",
];
const FLAGS: [&str; 4] = [
    "new-checkout-flow",
    "recs-two-tower",
    "free-shipping-banner",
    "fast-search",
];
const TOPICS: [&str; 4] = [
    "orders.v1",
    "payments.v1",
    "inventory.events",
    "emails.outbox",
];

/// `(exception type, message)` of ERROR lines; the message may quote.
const FAILURES: [(&str, &str); 8] = [
    (
        "PaymentGatewayException",
        "failed to charge card: PaymentGatewayException: upstream returned 502 Bad Gateway after 3 attempts",
    ),
    (
        "java.lang.NullPointerException",
        "unhandled exception in request handler: java.lang.NullPointerException: Cannot invoke \"com.shop.cart.Cart.getItems()\" because \"cart\" is null",
    ),
    (
        "org.postgresql.util.PSQLException",
        "database query failed: org.postgresql.util.PSQLException: ERROR: could not serialize access due to concurrent update (SQLSTATE 40001)",
    ),
    (
        "context.DeadlineExceeded",
        "upstream call failed: context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
    ),
    (
        "KeyError",
        "error processing message: Traceback (most recent call last): KeyError: 'shipping_address' in handle_order (worker.py:212)",
    ),
    (
        "SMTPServerDisconnected",
        "failed to send email: smtplib.SMTPServerDisconnected: Connection unexpectedly closed by remote host",
    ),
    (
        "TypeError",
        "uncaught exception: TypeError: Cannot read properties of undefined (reading 'price') at calculateTotal (/app/src/cart.js:142:37)",
    ),
    (
        "System.TimeoutException",
        "cache operation failed: StackExchange.Redis.RedisTimeoutException: Timeout performing GET (5000ms), inst: 3, qu: 0, qs: 12",
    ),
];

/// Severity of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    /// Draws 70 % INFO, 15 % DEBUG, 10 % WARN, 5 % ERROR.
    fn draw(rng: &mut SmallRng) -> Level {
        let roll: f64 = rng.random();
        if roll < 0.70 {
            Level::Info
        } else if roll < 0.85 {
            Level::Debug
        } else if roll < 0.95 {
            Level::Warn
        } else {
            Level::Error
        }
    }

    pub fn severity_number(self) -> SeverityNumber {
        match self {
            Level::Debug => SeverityNumber::Debug,
            Level::Info => SeverityNumber::Info,
            Level::Warn => SeverityNumber::Warn,
            Level::Error => SeverityNumber::Error,
        }
    }

    pub fn severity_text(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }

    fn json_name(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// Where a line's body text can be patched or extended (byte offsets into
/// the text), and its age.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineMeta {
    /// The line is stamped this long before the send time.
    pub age_ns: u64,
    /// Start of each request id ([`crate::pool::HEX_ID_LEN`] lowercase hex
    /// digits).
    pub hex_ids: Vec<usize>,
    /// Where ` word` can be inserted as a whole word: the end of the message
    /// text, followed by a space, a closing quote or the end of the line.
    pub word_slot: usize,
}

impl LineMeta {
    /// Inserts ` {word}` into `text` (this line's body) at the word slot,
    /// moving the request ids behind it.
    pub fn insert_word(&mut self, text: &mut String, word: &str) {
        let inserted = format!(" {word}");
        text.insert_str(self.word_slot, &inserted);
        for off in &mut self.hex_ids {
            if *off >= self.word_slot {
                *off += inserted.len();
            }
        }
    }
}

/// One generated export request and its lines' metadata, in the order the
/// records are encoded (resource by resource).
#[derive(Debug, Clone)]
pub struct LogBatch {
    pub request: ExportLogsServiceRequest,
    pub lines: Vec<LineMeta>,
}

/// How a service writes its lines.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    /// `2025-06-15T15:06:40.123Z INFO  [thread] logger - message k=v …`, as
    /// a collector tailing a log file forwards it.
    Prefixed,
    /// `message k=v …`, as a logging-library bridge sends it.
    Plain,
    /// `{"level":"info","ts":…,"logger":…,"msg":…,…}`.
    Json,
}

struct Service {
    name: String,
    format: Format,
    scope: InstrumentationScope,
    /// One resource per instance (differing in pod, host and node).
    resources: Vec<Resource>,
    loggers: Vec<String>,
    routes: Vec<usize>,
}

/// What the lines of one burst share.
struct Context {
    tenant: u32,
    user: u32,
    request_id: String,
    client_ip: String,
    trace: Option<([u8; 16], [u8; 8])>,
}

enum Value {
    /// Quoted in text when it contains a space; always quoted in JSON.
    Str(String),
    /// Bare in both formats.
    Num(String),
}

/// A line before it is rendered as text or JSON.
struct Message {
    text: String,
    fields: Vec<(&'static str, Value)>,
    /// Whether the burst's tenant, user and request id end the line.
    request_scoped: bool,
    kind: Kind,
}

enum Kind {
    Access {
        method: &'static str,
        route: &'static str,
        status: i64,
    },
    Event,
    Failure {
        exception: &'static str,
    },
}

impl Message {
    fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            fields: Vec::new(),
            request_scoped: true,
            kind: Kind::Event,
        }
    }

    fn s(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.fields.push((key, Value::Str(value.into())));
        self
    }

    fn n(mut self, key: &'static str, value: impl ToString) -> Self {
        self.fields.push((key, Value::Num(value.to_string())));
        self
    }

    fn background(mut self) -> Self {
        self.request_scoped = false;
        self
    }
}

/// Seeded, deterministic generator of OTLP log batches.
pub struct LogGenerator {
    rng: SmallRng,
    services: Vec<Service>,
    base_time_ns: u64,
}

impl LogGenerator {
    /// A generator of `services` services (at least one) whose lines are
    /// stamped shortly before `base_time_ns`.
    pub fn new(seed: u64, services: usize, base_time_ns: u64) -> Self {
        let mut rng = SmallRng::seed_from_u64(seed);
        let services = (0..services.max(1))
            .map(|i| build_service(&mut rng, i))
            .collect();
        Self {
            rng,
            services,
            base_time_ns,
        }
    }

    /// One export request holding exactly `lines` log records, grouped by
    /// resource (service instance).
    pub fn batch(&mut self, lines: usize) -> LogBatch {
        let mut by_resource: BTreeMap<(usize, usize), Vec<(LogRecord, LineMeta)>> = BTreeMap::new();
        let mut generated = 0;
        while generated < lines {
            let burst = self.rng.random_range(1..=MAX_BURST).min(lines - generated);
            let service = self.rng.random_range(0..self.services.len());
            let instance = self
                .rng
                .random_range(0..self.services[service].resources.len());
            let context = self.context();
            for _ in 0..burst {
                let age_ns = self.age(generated, lines);
                let line = self.line(service, &context, age_ns);
                by_resource
                    .entry((service, instance))
                    .or_default()
                    .push(line);
                generated += 1;
            }
        }

        let mut metas = Vec::with_capacity(lines);
        let resource_logs = by_resource
            .into_iter()
            .map(|((service, instance), lines)| {
                let svc = &self.services[service];
                let mut log_records = Vec::with_capacity(lines.len());
                for (record, meta) in lines {
                    log_records.push(record);
                    metas.push(meta);
                }
                ResourceLogs {
                    resource: Some(svc.resources[instance].clone()),
                    scope_logs: vec![ScopeLogs {
                        scope: Some(svc.scope.clone()),
                        log_records,
                        schema_url: SCHEMA_URL.to_string(),
                    }],
                    schema_url: SCHEMA_URL.to_string(),
                }
            })
            .collect();
        LogBatch {
            request: ExportLogsServiceRequest { resource_logs },
            lines: metas,
        }
    }

    /// The age of line `index` of `lines`: later lines are younger, so
    /// every resource's lines are in time order, spread over [`MAX_AGE_NS`].
    fn age(&mut self, index: usize, lines: usize) -> u64 {
        let spacing = MAX_AGE_NS / lines.max(1) as u64;
        let slot = (lines - index) as u64 * spacing;
        slot - self.rng.random_range(0..spacing.max(1)).min(slot)
    }

    fn context(&mut self) -> Context {
        let trace = self.rng.random_bool(TRACED_SHARE).then(|| {
            (
                random_id::<16>(&mut self.rng),
                random_id::<8>(&mut self.rng),
            )
        });
        Context {
            tenant: self.rng.random_range(1..200),
            user: self.rng.random_range(10_000..100_000),
            request_id: format!("{:016x}", self.rng.random::<u64>()),
            client_ip: format!(
                "10.{}.{}.{}",
                self.rng.random_range(0..8u8),
                self.rng.random::<u8>(),
                self.rng.random_range(1..255u8)
            ),
            trace,
        }
    }

    /// One line of `service` in `context`.
    fn line(&mut self, service: usize, context: &Context, age_ns: u64) -> (LogRecord, LineMeta) {
        let level = Level::draw(&mut self.rng);
        let message = match level {
            Level::Info if self.rng.random_bool(0.35) => self.access(service, context, level),
            Level::Info => self.info_event(service),
            Level::Debug => self.debug_event(),
            Level::Warn if self.rng.random_bool(0.3) => self.access(service, context, level),
            Level::Warn => self.warn_event(),
            Level::Error if self.rng.random_bool(0.2) => self.access(service, context, level),
            Level::Error => self.failure(),
        };
        let time_unix_nano = self.base_time_ns.saturating_sub(age_ns);
        let svc = &self.services[service];
        let logger = svc.loggers[self.rng.random_range(0..svc.loggers.len())].clone();
        let thread = THREAD_NAMES[self.rng.random_range(0..THREAD_NAMES.len())];
        let (text, hex_ids, word_slot) = match svc.format {
            Format::Prefixed => {
                let prefix = format!(
                    "{} {:<5} [{thread}] {logger} - ",
                    rfc3339_millis(time_unix_nano),
                    level.severity_text(),
                );
                render_text(prefix, &message, context)
            }
            Format::Plain => render_text(String::new(), &message, context),
            Format::Json => render_json(&message, context, level, &logger, time_unix_nano),
        };
        let attributes = self.attributes(&message, context, &logger, thread);
        let (trace_id, span_id, flags) = match context.trace {
            Some((trace, span)) => (trace.to_vec(), span.to_vec(), FLAG_SAMPLED),
            None => (Vec::new(), Vec::new(), 0),
        };
        let record = LogRecord {
            time_unix_nano,
            observed_time_unix_nano: self.base_time_ns,
            severity_number: level.severity_number() as i32,
            severity_text: level.severity_text().to_string(),
            body: Some(AnyValue {
                value: Some(any_value::Value::StringValue(text)),
            }),
            attributes,
            dropped_attributes_count: 0,
            flags,
            trace_id,
            span_id,
            event_name: String::new(),
        };
        let meta = LineMeta {
            age_ns,
            hex_ids,
            word_slot,
        };
        (record, meta)
    }

    /// 2–4 attributes: what a log bridge records (logger, thread) or the
    /// HTTP basics of an access line, plus optional user and tenant.
    fn attributes(
        &mut self,
        message: &Message,
        context: &Context,
        logger: &str,
        thread: &str,
    ) -> Vec<KeyValue> {
        let mut attributes = match &message.kind {
            Kind::Access {
                method,
                route,
                status,
            } => {
                let mut a = vec![
                    kv_str("http.request.method", method),
                    kv_int("http.response.status_code", *status),
                ];
                if self.rng.random_bool(0.6) {
                    a.push(kv_str("http.route", route));
                }
                a
            }
            Kind::Event => vec![
                kv_str("code.namespace", logger),
                kv_str("thread.name", thread),
            ],
            Kind::Failure { exception } => {
                vec![
                    kv_str("exception.type", exception),
                    kv_str("code.namespace", logger),
                ]
            }
        };
        if attributes.len() < 4 && self.rng.random_bool(0.5) {
            attributes.push(kv_str("user.id", &format!("u-{}", context.user)));
        }
        if attributes.len() < 4 && self.rng.random_bool(0.25) {
            attributes.push(kv_str("app.tenant.id", &format!("t-{}", context.tenant)));
        }
        attributes
    }

    /// `GET /api/v1/orders/83421 200 12.3ms bytes=1832 ip=… ua=… user=… req=…`; 2xx/3xx
    /// at INFO, 4xx at WARN, 5xx at ERROR.
    fn access(&mut self, service: usize, context: &Context, level: Level) -> Message {
        let routes = &self.services[service].routes;
        let (method, route) = ROUTES[routes[self.rng.random_range(0..routes.len())]];
        let path = fill_path(&mut self.rng, route);
        let status = match level {
            Level::Warn => [400, 401, 403, 404, 409, 429][self.rng.random_range(0..6)],
            Level::Error => [500, 502, 503, 504][self.rng.random_range(0..4)],
            _ if method == "POST" => 201,
            _ if method == "DELETE" => 204,
            _ if self.rng.random_bool(0.05) => 304,
            _ => 200,
        };
        let duration = self.millis(-0.3, 3.0);
        let mut message = Message::new(format!("{method} {path} {status} {duration}ms"))
            .n("bytes", self.rng.random_range(0..40_000))
            .s("ip", context.client_ip.clone());
        if self.rng.random_bool(0.8) {
            message = message.s(
                "ua",
                USER_AGENTS[self.rng.random_range(0..USER_AGENTS.len())],
            );
        }
        message.kind = Kind::Access {
            method,
            route,
            status,
        };
        message
    }

    fn info_event(&mut self, service: usize) -> Message {
        match self.rng.random_range(0..12) {
            0 => Message::new("order placed")
                .s("order_id", self.order_id())
                .n("items", self.rng.random_range(1..9))
                .n("total", self.money())
                .s("currency", self.pick(&CURRENCIES))
                .s(
                    "payment",
                    self.pick(&["card", "paypal", "apple_pay", "klarna"]),
                ),
            1 => Message::new("payment authorized")
                .s(
                    "payment_id",
                    format!("pay_{}", self.rng.random_range(1_000_000..9_999_999)),
                )
                .s("provider", self.pick(&["stripe", "adyen", "braintree"]))
                .n("amount", self.money())
                .s("currency", self.pick(&CURRENCIES))
                .s("card_brand", self.pick(&["visa", "mastercard", "amex"])),
            2 => Message::new("cart updated")
                .s(
                    "cart_id",
                    format!("cart-{}", self.rng.random_range(100_000..999_999)),
                )
                .s("sku", self.sku())
                .n("qty", self.rng.random_range(1..5))
                .n("cart_items", self.rng.random_range(1..20)),
            3 => Message::new("user logged in")
                .s(
                    "method",
                    self.pick(&["password", "oauth_google", "sso", "magic_link"]),
                )
                .s("mfa", self.pick(&["true", "false"]))
                .s(
                    "session",
                    format!("sess-{}", self.rng.random_range(10_000_000..99_999_999)),
                ),
            4 => Message::new("shipment created")
                .s(
                    "shipment_id",
                    format!("shp-{}", self.rng.random_range(1_000_000..9_999_999)),
                )
                .s("carrier", self.pick(&CARRIERS))
                .s(
                    "service_level",
                    self.pick(&["standard", "express", "economy"]),
                )
                .n(
                    "weight_kg",
                    format!("{:.2}", self.rng.random_range(0.1..25.0)),
                )
                .s("dest_country", self.pick(&COUNTRIES)),
            5 => Message::new("search served")
                .s("q", self.pick(&SEARCHES))
                .n("hits", self.rng.random_range(0..2_000))
                .n("took_ms", self.millis(0.0, 2.5))
                .n("page", self.rng.random_range(1..6)),
            6 => Message::new("email queued")
                .s(
                    "template",
                    self.pick(&["order_confirmation", "password_reset", "shipping_update"]),
                )
                .s("queue", self.pick(&["emails-high", "emails-bulk"]))
                .s(
                    "message_id",
                    format!("msg-{}", self.rng.random_range(1_000_000..9_999_999)),
                ),
            7 => Message::new("inventory reserved")
                .s("sku", self.sku())
                .s(
                    "warehouse",
                    self.pick(&["fra-1", "iad-2", "sin-1", "dub-1"]),
                )
                .n("qty", self.rng.random_range(1..5))
                .n("remaining", self.rng.random_range(0..500)),
            8 => Message::new("recommendations computed")
                .s("model", self.pick(&["als-v3", "two-tower-v7"]))
                .n("candidates", self.rng.random_range(100..2_000))
                .n("returned", self.rng.random_range(4..24))
                .n("took_ms", self.millis(0.3, 2.3)),
            9 => Message::new("scheduled job finished")
                .s(
                    "job",
                    self.pick(&["export-orders", "reindex-products", "expire-carts"]),
                )
                .s(
                    "run_id",
                    format!("run-{}", self.rng.random_range(100_000..999_999)),
                )
                .n("rows", self.rng.random_range(0..100_000))
                .n("duration_ms", self.millis(1.0, 4.5))
                .background(),
            10 => Message::new("consumer group rebalanced")
                .s("topic", self.pick(&TOPICS))
                .s(
                    "group",
                    format!("{}-consumers", self.services[service].name),
                )
                .n("partitions_assigned", self.rng.random_range(1..13))
                .n("generation", self.rng.random_range(1..400))
                .background(),
            _ => Message::new("token refreshed")
                .s("client_id", format!("web-{}", self.rng.random_range(1..40)))
                .n("expires_in", 3600)
                .s("scopes", "orders:read orders:write profile"),
        }
    }

    fn debug_event(&mut self) -> Message {
        match self.rng.random_range(0..6) {
            0 => Message::new("cache hit")
                .s(
                    "key",
                    format!("user:{}:profile", self.rng.random_range(10_000..100_000)),
                )
                .n("ttl_ms", 30_000)
                .n("size", self.rng.random_range(200..8_000)),
            1 => Message::new("cache miss")
                .s(
                    "key",
                    format!("product:{}", self.rng.random_range(1..100_000)),
                )
                .s("backend", "redis")
                .n("took_ms", self.millis(-0.5, 1.0)),
            2 => Message::new("sql query executed")
                .s(
                    "query",
                    self.pick(&[
                        "SELECT id, status, total FROM orders WHERE user_id = $1 LIMIT 20",
                        "UPDATE carts SET updated_at = now() WHERE id = $1",
                        "SELECT sku, qty FROM inventory WHERE sku = ANY($1)",
                    ]),
                )
                .n("rows", self.rng.random_range(0..50))
                .n("took_ms", self.millis(-0.5, 1.5)),
            3 => {
                let (method, route) = ROUTES[self.rng.random_range(0..ROUTES.len())];
                let target = SERVICE_NAMES[self.rng.random_range(0..SERVICE_NAMES.len())];
                let url = format!("http://{target}:8080{}", fill_path(&mut self.rng, route));
                Message::new("outgoing request")
                    .s("method", method)
                    .s("url", url)
                    .n("status", 200)
                    .n("took_ms", self.millis(0.0, 2.0))
            }
            4 => Message::new("feature flag evaluated")
                .s("flag", self.pick(&FLAGS))
                .s("variant", self.pick(&["control", "treatment"]))
                .s(
                    "reason",
                    self.pick(&["TARGETING_MATCH", "SPLIT", "DEFAULT"]),
                ),
            _ => Message::new("message consumed")
                .s("topic", self.pick(&TOPICS))
                .n("partition", self.rng.random_range(0..12))
                .n("offset", self.rng.random_range(1_000_000..90_000_000))
                .n("lag", self.rng.random_range(0..300)),
        }
    }

    fn warn_event(&mut self) -> Message {
        match self.rng.random_range(0..5) {
            0 => {
                let (method, route) = ROUTES[self.rng.random_range(0..ROUTES.len())];
                Message::new("slow request")
                    .s("method", method)
                    .s("path", fill_path(&mut self.rng, route))
                    .n("took_ms", self.rng.random_range(1_000..9_000))
                    .n("threshold_ms", 1000)
            }
            1 => Message::new("retrying upstream call")
                .s(
                    "target",
                    SERVICE_NAMES[self.rng.random_range(0..SERVICE_NAMES.len())],
                )
                .n("attempt", self.rng.random_range(1..3))
                .n("max_attempts", 3)
                .n("backoff_ms", self.rng.random_range(50..800))
                .s(
                    "reason",
                    self.pick(&[
                        "connection reset by peer",
                        "503 Service Unavailable",
                        "i/o timeout",
                    ]),
                ),
            2 => Message::new("connection pool nearly exhausted")
                .s("pool", self.pick(&["primary", "replica", "redis"]))
                .n("active", self.rng.random_range(45..50))
                .n("idle", 0)
                .n("max", 50)
                .n("waiting", self.rng.random_range(1..30)),
            3 => Message::new("rate limit approaching")
                .s(
                    "client_id",
                    format!("partner-{}", self.rng.random_range(1..60)),
                )
                .n("remaining", self.rng.random_range(0..50))
                .n("limit", 1000)
                .s("window", "60s"),
            _ => Message::new("deprecated API version used")
                .s("path", "/api/v1/products")
                .s(
                    "client",
                    self.pick(&["ios-app/5.2.1", "android-app/5.1.0", "partner-sdk/2.3"]),
                )
                .s("sunset", "2026-01-31"),
        }
    }

    /// A multi-word failure with exception text.
    fn failure(&mut self) -> Message {
        let (exception, text) = FAILURES[self.rng.random_range(0..FAILURES.len())];
        let mut message = Message::new(text);
        message = match self.rng.random_range(0..3) {
            0 => message.s("order_id", self.order_id()),
            1 => message.s(
                "upstream",
                SERVICE_NAMES[self.rng.random_range(0..SERVICE_NAMES.len())],
            ),
            _ => message.n("attempt", self.rng.random_range(1..4)),
        };
        message.kind = Kind::Failure { exception };
        message
    }

    fn pick(&mut self, items: &[&'static str]) -> &'static str {
        items[self.rng.random_range(0..items.len())]
    }

    fn order_id(&mut self) -> String {
        format!("ord-{}", self.rng.random_range(100_000..999_999))
    }

    fn sku(&mut self) -> String {
        format!(
            "SKU-{}-{}",
            self.rng.random_range(10_000..99_999),
            self.pick(&["S", "M", "L", "XL"])
        )
    }

    fn money(&mut self) -> String {
        format!(
            "{}.{:02}",
            self.rng.random_range(1..500),
            self.rng.random_range(0..100)
        )
    }

    /// Milliseconds, log-uniform between 10^lo and 10^hi, one decimal.
    fn millis(&mut self, lo: f64, hi: f64) -> String {
        format!("{:.1}", 10f64.powf(self.rng.random_range(lo..hi)))
    }
}

/// `{prefix}message k=v k="v w" … tenant=t-1 user=u-1 req=<hex>`, with the request ids'
/// offsets and the word slot (the end of the message text).
fn render_text(
    prefix: String,
    message: &Message,
    context: &Context,
) -> (String, Vec<usize>, usize) {
    let mut out = prefix;
    out.push_str(&message.text);
    let word_slot = out.len();
    for (key, value) in &message.fields {
        out.push(' ');
        out.push_str(key);
        out.push('=');
        match value {
            Value::Str(s) if s.contains(' ') || s.contains('"') => {
                out.push_str(&format!("{s:?}"));
            }
            Value::Str(s) | Value::Num(s) => out.push_str(s),
        }
    }
    let mut hex_ids = Vec::new();
    if message.request_scoped {
        out.push_str(&format!(
            " tenant=t-{} user=u-{} req=",
            context.tenant, context.user
        ));
        hex_ids.push(out.len());
        out.push_str(&context.request_id);
    }
    (out, hex_ids, word_slot)
}

/// `{"level":…,"ts":…,"logger":…,"msg":…,fields…,"tenant_id":…,"user_id":…,"request_id":…}`,
/// with the request ids' offsets and the word slot (inside `msg`, before its
/// closing quote).
fn render_json(
    message: &Message,
    context: &Context,
    level: Level,
    logger: &str,
    time_unix_nano: u64,
) -> (String, Vec<usize>, usize) {
    let json = |s: &str| serde_json::Value::String(s.to_string()).to_string();
    let mut out = String::with_capacity(320);
    out.push_str(&format!(
        "{{\"level\":\"{}\",\"ts\":{}.{:06},\"logger\":{},\"msg\":{}",
        level.json_name(),
        time_unix_nano / 1_000_000_000,
        time_unix_nano % 1_000_000_000 / 1_000,
        json(logger),
        json(&message.text),
    ));
    let word_slot = out.len() - 1;
    for (key, value) in &message.fields {
        out.push_str(&format!(",\"{key}\":"));
        match value {
            Value::Str(s) => out.push_str(&json(s)),
            Value::Num(s) => out.push_str(s),
        }
    }
    let mut hex_ids = Vec::new();
    if message.request_scoped {
        out.push_str(&format!(
            ",\"tenant_id\":\"t-{}\",\"user_id\":\"u-{}\",\"request_id\":\"",
            context.tenant, context.user
        ));
        hex_ids.push(out.len());
        out.push_str(&context.request_id);
        out.push('"');
    }
    out.push('}');
    (out, hex_ids, word_slot)
}

/// `2025-06-15T15:06:40.123Z` for a time in Unix nanoseconds.
fn rfc3339_millis(unix_ns: u64) -> String {
    chrono::DateTime::from_timestamp_nanos(i64::try_from(unix_ns).unwrap_or(i64::MAX))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Service `index`: a name from the span generator's vocabulary (with a
/// numeric suffix past its end), a language, 1–3 instances and a log format
/// (by index: prefixed text, plain text, JSON, and round again).
fn build_service(rng: &mut SmallRng, index: usize) -> Service {
    let base = SERVICE_NAMES[index % SERVICE_NAMES.len()];
    let name = match index / SERVICE_NAMES.len() {
        0 => base.to_string(),
        round => format!("{base}-{}", round + 1),
    };
    let ServiceIdentity {
        language,
        sdk_version,
        scope_name,
        version,
        environment,
    } = ServiceIdentity::random(rng, &LANGUAGES);
    let region = REGIONS[rng.random_range(0..REGIONS.len())];
    let replica_set = format!("{:010x}", rng.random::<u64>() & 0xFF_FFFF_FFFF);
    let instances = rng.random_range(1..=3);
    let resources = (0..instances)
        .map(|_| {
            let pod = format!(
                "{name}-{replica_set}-{:05x}",
                rng.random_range(0..0x10_0000u32)
            );
            let node = format!(
                "ip-10-0-{}-{}.{region}.compute.internal",
                rng.random_range(0..64),
                rng.random_range(1..255)
            );
            Resource {
                attributes: vec![
                    kv_str("service.name", &name),
                    kv_str("service.namespace", "shop"),
                    kv_str("service.version", &version),
                    kv_str("service.instance.id", &pod),
                    kv_str("host.name", &pod),
                    kv_str("k8s.namespace.name", &format!("shop-{environment}")),
                    kv_str("k8s.pod.name", &pod),
                    kv_str("k8s.deployment.name", &name),
                    kv_str("k8s.node.name", &node),
                    kv_str("cloud.region", region),
                    kv_str("deployment.environment.name", environment),
                    kv_str("telemetry.sdk.language", language),
                    kv_str("telemetry.sdk.version", sdk_version),
                ],
                ..Default::default()
            }
        })
        .collect();
    let package = name.trim_end_matches("-service").replace('-', "");
    let loggers = (0..3)
        .map(|_| {
            let component = COMPONENTS[rng.random_range(0..COMPONENTS.len())];
            format!("com.shop.{package}.{component}")
        })
        .collect();
    let routes = random_routes(rng);
    Service {
        name,
        format: match index % 3 {
            0 => Format::Prefixed,
            1 => Format::Plain,
            _ => Format::Json,
        },
        scope: InstrumentationScope {
            name: scope_name.to_string(),
            version: sdk_version.to_string(),
            ..Default::default()
        },
        resources,
        loggers,
        routes,
    }
}

/// Every log record of a request, in encoded order.
pub fn log_records(request: &ExportLogsServiceRequest) -> impl Iterator<Item = &LogRecord> {
    request
        .resource_logs
        .iter()
        .flat_map(|rl| &rl.scope_logs)
        .flat_map(|sl| &sl.log_records)
}

/// Number of log records in a request.
pub fn line_count(request: &ExportLogsServiceRequest) -> usize {
    request
        .resource_logs
        .iter()
        .flat_map(|rl| &rl.scope_logs)
        .map(|sl| sl.log_records.len())
        .sum()
}

/// The body of a record when it is a string (always, for generated lines).
pub fn body_text(record: &LogRecord) -> Option<&str> {
    match record.body.as_ref()?.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::HEX_ID_LEN;
    use prost::Message as _;
    use std::collections::HashSet;

    const BASE: u64 = 1_750_000_000_000_000_000;

    fn texts(batch: &LogBatch) -> Vec<&str> {
        log_records(&batch.request)
            .map(|r| body_text(r).expect("string body"))
            .collect()
    }

    #[test]
    fn batch_has_exact_line_count() {
        let mut g = LogGenerator::new(7, DEFAULT_SERVICES, BASE);
        for n in [1, 2, 3, 4, 5, 999, 1000, 1234] {
            let batch = g.batch(n);
            assert_eq!(line_count(&batch.request), n);
            assert_eq!(batch.lines.len(), n);
        }
        assert_eq!(line_count(&g.batch(0).request), 0);
    }

    #[test]
    fn line_sizes() {
        let batch = LogGenerator::new(3, DEFAULT_SERVICES, BASE).batch(50_000);
        let sizes: Vec<usize> = texts(&batch).iter().map(|t| t.len()).collect();
        let avg = sizes.iter().sum::<usize>() as f64 / sizes.len() as f64;
        let min = sizes.iter().copied().min().unwrap_or(0);
        let max = sizes.iter().copied().max().unwrap_or(0);
        assert!(
            (185.0..=215.0).contains(&avg),
            "average line {avg:.1} bytes"
        );
        assert!(min >= 40, "shortest line {min} bytes");
        assert!(max <= 450, "longest line {max} bytes");
        let short = sizes.iter().filter(|&&s| s < 100).count() as f64 / sizes.len() as f64;
        assert!(
            short < 0.15,
            "{:.1} % of lines under 100 bytes",
            short * 100.0
        );
    }

    #[test]
    fn level_mix() {
        let batch = LogGenerator::new(4, DEFAULT_SERVICES, BASE).batch(40_000);
        let total = batch.lines.len() as f64;
        let share = |level: Level| {
            log_records(&batch.request)
                .filter(|r| {
                    r.severity_number == level.severity_number() as i32
                        && r.severity_text == level.severity_text()
                })
                .count() as f64
                / total
        };
        let within = |level, want: f64, tol: f64| {
            let got = share(level);
            assert!(
                (got - want).abs() <= tol,
                "{level:?}: {got:.3}, want {want}"
            );
        };
        within(Level::Info, 0.70, 0.02);
        within(Level::Debug, 0.15, 0.015);
        within(Level::Warn, 0.10, 0.015);
        within(Level::Error, 0.05, 0.01);
    }

    #[test]
    fn shape_is_realistic() {
        let batch = LogGenerator::new(5, DEFAULT_SERVICES, BASE).batch(20_000);
        let records: Vec<&LogRecord> = log_records(&batch.request).collect();
        let total = records.len() as f64;
        assert!(
            records
                .iter()
                .all(|r| (2..=4).contains(&r.attributes.len()))
        );

        let traced = records.iter().filter(|r| !r.trace_id.is_empty()).count() as f64;
        assert!((0.45..=0.55).contains(&(traced / total)), "traced {traced}");
        for r in &records {
            assert!(r.trace_id.is_empty() || (r.trace_id.len() == 16 && r.span_id.len() == 8));
            assert_eq!(r.trace_id.is_empty(), r.flags == 0);
            assert!(r.time_unix_nano <= BASE && r.time_unix_nano >= BASE - MAX_AGE_NS);
            assert_eq!(r.observed_time_unix_nano, BASE);
        }

        let texts = texts(&batch);
        let json = texts.iter().filter(|t| t.starts_with('{')).count() as f64;
        assert!((0.2..0.45).contains(&(json / total)), "json share {json}");
        for t in texts.iter().filter(|t| t.starts_with('{')) {
            serde_json::from_str::<serde_json::Value>(t).expect("json line parses");
        }
        let access = texts.iter().filter(|t| t.contains("GET /")).count();
        let prefixed = texts.iter().filter(|t| t.contains(" INFO  [")).count();
        assert!(prefixed > 3_000, "{prefixed} prefixed INFO lines");
        assert!(access > 1_000, "{access} access lines");
        let request_ids: HashSet<&str> = texts
            .iter()
            .filter_map(|t| t.split("req=").nth(1))
            .collect();
        assert!(
            request_ids.len() > 3_000,
            "{} request ids",
            request_ids.len()
        );

        let services: HashSet<String> = batch
            .request
            .resource_logs
            .iter()
            .filter_map(|rl| rl.resource.as_ref())
            .filter_map(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
            .filter_map(
                |kv| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(any_value::Value::StringValue(s)) => Some(s.clone()),
                    _ => None,
                },
            )
            .collect();
        assert_eq!(services.len(), DEFAULT_SERVICES);
    }

    #[test]
    fn meta_points_at_ids_and_word_boundaries() {
        let batch = LogGenerator::new(6, DEFAULT_SERVICES, BASE).batch(5_000);
        for (text, meta) in texts(&batch).into_iter().zip(&batch.lines) {
            for &off in &meta.hex_ids {
                let id = &text.as_bytes()[off..off + HEX_ID_LEN];
                assert!(id.iter().all(|b| b.is_ascii_hexdigit()), "{text}");
            }
            let next = text.as_bytes().get(meta.word_slot).copied();
            assert!(matches!(next, None | Some(b' ' | b'"')), "{text}");

            let mut planted = text.to_string();
            let mut moved = meta.clone();
            moved.insert_word(&mut planted, "needle42");
            assert!(
                planted.split([' ', '"']).any(|w| w == "needle42"),
                "{planted}"
            );
            for (&old, &new) in meta.hex_ids.iter().zip(&moved.hex_ids) {
                assert_eq!(text[old..old + HEX_ID_LEN], planted[new..new + HEX_ID_LEN]);
            }
            if text.starts_with('{') {
                serde_json::from_str::<serde_json::Value>(&planted).expect("still json");
            }
        }
    }

    #[test]
    fn lines_are_in_time_order_per_resource() {
        let batch = LogGenerator::new(8, DEFAULT_SERVICES, BASE).batch(2_000);
        for scope in batch
            .request
            .resource_logs
            .iter()
            .flat_map(|rl| &rl.scope_logs)
        {
            let times: Vec<u64> = scope.log_records.iter().map(|r| r.time_unix_nano).collect();
            assert!(times.windows(2).all(|w| w[0] <= w[1]));
        }
    }

    #[test]
    fn dates_are_formatted() {
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339_millis(BASE + 123_456_789),
            "2025-06-15T15:06:40.123Z"
        );
        assert_eq!(
            rfc3339_millis(951_782_400_000_000_000),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(
            rfc3339_millis(4_102_444_799_999_000_000),
            "2099-12-31T23:59:59.999Z"
        );
    }

    #[test]
    fn many_services_get_distinct_names() {
        let mut g = LogGenerator::new(1, 120, BASE);
        let names: HashSet<&str> = g.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names.len(), 120);
        assert_eq!(line_count(&g.batch(10).request), 10);
    }

    #[test]
    fn deterministic_with_seed() {
        let a = LogGenerator::new(42, 20, BASE)
            .batch(1_000)
            .request
            .encode_to_vec();
        let b = LogGenerator::new(42, 20, BASE)
            .batch(1_000)
            .request
            .encode_to_vec();
        let c = LogGenerator::new(43, 20, BASE)
            .batch(1_000)
            .request
            .encode_to_vec();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
