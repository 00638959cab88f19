#!/usr/bin/env python3
"""Deterministic OTLP client for Vispyr's end-to-end tests.

Sends exactly one trace (3 spans), 3 log records and one metrics export
(4 instruments) using the real OpenTelemetry Python SDK, then prints ONE line
of JSON to stdout describing the ids it generated. Everything else goes to
stderr.

Environment:
  OTLP_ENDPOINT   grpc:          127.0.0.1:PORT or http://127.0.0.1:PORT (plaintext)
                  http/protobuf: base URL, e.g. http://127.0.0.1:43180
                                 (posts to $OTLP_ENDPOINT/v1/{traces,metrics,logs})
  OTLP_PROTOCOL   "grpc" or "http/protobuf" (default http/protobuf)
  SERVICE_NAME    service.name resource attribute (default "python-e2e")
  OTLP_TIMEOUT_S  per-export timeout in seconds (default 10)

Exit code: 0 only if every export returned SUCCESS and exactly the expected
number of spans / log records / metrics were exported; non-zero otherwise.

Run it with the interpreter of the venv made by tests/e2e/install.sh:
  tests/e2e/python/.venv/bin/python tests/e2e/python/send.py
"""

import os
import sys

# --- Determinism: ignore any ambient OTEL_* configuration. ---------------------
# The SDK reads OTEL_* variables (resource attributes, exporter settings,
# limits, OTEL_SDK_DISABLED, ...) at import and construction time, so clear
# them before importing anything from opentelemetry.
for _key in list(os.environ):
    if _key.startswith("OTEL_"):
        del os.environ[_key]

import json  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import threading  # noqa: E402
import warnings  # noqa: E402

from opentelemetry import metrics, trace  # noqa: E402
from opentelemetry._logs import set_logger_provider  # noqa: E402
from opentelemetry.metrics import Observation  # noqa: E402
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler  # noqa: E402
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor  # noqa: E402
from opentelemetry.sdk.metrics import (  # noqa: E402
    Counter,
    Histogram,
    MeterProvider,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import (  # noqa: E402
    AggregationTemporality,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import (  # noqa: E402
    ExplicitBucketHistogramAggregation,
    View,
)
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.sampling import ALWAYS_ON  # noqa: E402
from opentelemetry.trace import Link, SpanKind, Status, StatusCode  # noqa: E402

# --- Configuration ----------------------------------------------------------------
PROTOCOL = os.environ.get("OTLP_PROTOCOL", "http/protobuf")
SERVICE_NAME = os.environ.get("SERVICE_NAME") or "python-e2e"
TIMEOUT_S = float(os.environ.get("OTLP_TIMEOUT_S", "10"))
ENDPOINT = os.environ.get(
    "OTLP_ENDPOINT",
    "127.0.0.1:4317" if PROTOCOL == "grpc" else "http://127.0.0.1:4318",
).rstrip("/")

if PROTOCOL not in ("grpc", "http/protobuf"):
    print(f"send.py: unsupported OTLP_PROTOCOL {PROTOCOL!r} (want grpc or http/protobuf)", file=sys.stderr)
    sys.exit(2)

# SDK diagnostics (export errors, retries) go to stderr via the root logger.
# The "e2e-logger" below does not propagate, so its records reach only OTel.
logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="[%(name)s %(levelname)s] %(message)s")
# LoggingHandler in opentelemetry-sdk is deprecated in favour of
# opentelemetry-instrumentation-logging; it still works, silence the notice.
warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"opentelemetry\..*")

# Hard deadline so a hung export can never hang the calling test.
def _watchdog():
    print("send.py: timed out waiting for exports", file=sys.stderr, flush=True)
    os._exit(3)


_timer = threading.Timer(TIMEOUT_S * 3 + 5, _watchdog)
_timer.daemon = True
_timer.start()

# --- Exporters ----------------------------------------------------------------------
if PROTOCOL == "grpc":
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    # The gRPC exporter wants "host:port"; accept an http:// prefix too.
    grpc_target = ENDPOINT if "://" in ENDPOINT else f"http://{ENDPOINT}"

    def _exporter_kwargs(_signal):
        return {"endpoint": grpc_target, "insecure": True, "timeout": TIMEOUT_S}

else:
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    def _exporter_kwargs(signal):
        return {"endpoint": f"{ENDPOINT}/v1/{signal}", "timeout": TIMEOUT_S}


# --- Failure detection ------------------------------------------------------------
# The SDK's processors/readers ignore (or merely log) failed export results,
# so wrap each exporter's export() to check and count them ourselves.
failures = []
exported = {s: {"requests": 0, "items": 0} for s in ("traces", "logs", "metrics")}


def tracked(signal, exporter, count_items):
    original = exporter.export

    def export(batch, *args, **kwargs):
        n = count_items(batch)
        try:
            result = original(batch, *args, **kwargs)
        except Exception as exc:  # pragma: no cover - exporters normally don't raise
            failures.append(f"{signal} export raised: {exc!r}")
            raise
        exported[signal]["requests"] += 1
        # SpanExportResult / LogRecordExportResult / MetricExportResult all
        # name their success member SUCCESS.
        if result.name == "SUCCESS":
            exported[signal]["items"] += n
            print(f"send.py: exported {n} {signal} item(s) OK", file=sys.stderr)
        else:
            failures.append(f"{signal} export returned {result.name}")
        return result

    exporter.export = export
    return exporter


def _count_metrics(metrics_data):
    return sum(len(sm.metrics) for rm in metrics_data.resource_metrics for sm in rm.scope_metrics)


span_exporter = tracked("traces", OTLPSpanExporter(**_exporter_kwargs("traces")), len)
log_exporter = tracked("logs", OTLPLogExporter(**_exporter_kwargs("logs")), len)
# Cumulative for every instrument kind (the OTLP default; explicit so it can't drift).
CUMULATIVE = {
    kind: AggregationTemporality.CUMULATIVE
    for kind in (Counter, UpDownCounter, Histogram, ObservableCounter, ObservableUpDownCounter, ObservableGauge)
}
metric_exporter = tracked(
    "metrics",
    OTLPMetricExporter(**_exporter_kwargs("metrics"), preferred_temporality=CUMULATIVE),
    _count_metrics,
)

# --- SDK providers -----------------------------------------------------------------
resource = Resource.create(
    {
        "service.name": SERVICE_NAME,
        "service.version": "1.2.3",
        "deployment.environment.name": "test",
        "host.cpu.count": 2,  # int -> OTLP int_value
    }
)

HOUR_MS = 3_600_000
# Batch processors with a long delay: nothing leaves before shutdown, so each
# signal goes out in exactly one request.
tracer_provider = TracerProvider(resource=resource, sampler=ALWAYS_ON)
tracer_provider.add_span_processor(
    BatchSpanProcessor(span_exporter, schedule_delay_millis=HOUR_MS, export_timeout_millis=TIMEOUT_S * 1000)
)
trace.set_tracer_provider(tracer_provider)

logger_provider = LoggerProvider(resource=resource)
logger_provider.add_log_record_processor(
    BatchLogRecordProcessor(log_exporter, schedule_delay_millis=HOUR_MS, export_timeout_millis=TIMEOUT_S * 1000)
)
set_logger_provider(logger_provider)

# export_interval_millis=inf: the reader never collects on its own (and, with
# no ticker thread, shutdown() does not collect either). The single collect +
# export happens in the explicit force_flush() at the end.
metric_reader = PeriodicExportingMetricReader(
    metric_exporter, export_interval_millis=math.inf, export_timeout_millis=TIMEOUT_S * 1000
)
meter_provider = MeterProvider(
    resource=resource,
    metric_readers=[metric_reader],
    views=[
        View(
            instrument_name="http.server.request.duration",
            aggregation=ExplicitBucketHistogramAggregation(boundaries=(0.1, 0.5, 1.0)),
        )
    ],
)
metrics.set_meter_provider(meter_provider)

# stdlib logger "e2e-logger" -> OTel LoggingHandler. The logger name becomes the
# instrumentation scope name; `extra={...}` keys become log attributes.
e2e_logger = logging.getLogger("e2e-logger")
e2e_logger.setLevel(logging.INFO)
e2e_logger.propagate = False
e2e_logger.addHandler(LoggingHandler(level=logging.INFO, logger_provider=logger_provider))

tracer = trace.get_tracer("e2e-tracer", "1.0.0")
meter = metrics.get_meter("e2e-meter", "1.0.0")

# --- Metrics ------------------------------------------------------------------------
requests_counter = meter.create_counter("http.server.requests", unit="{request}", description="Number of HTTP requests served")
requests_counter.add(3, {"http.route": "/users/:id"})
requests_counter.add(2, {"http.route": "/users/:id"})
requests_counter.add(1, {"http.route": "/health"})

duration = meter.create_histogram("http.server.request.duration", unit="s", description="HTTP request duration")
for value in (0.05, 0.2, 0.7, 2.0):
    duration.record(value, {"http.route": "/users/:id"})

queue_size = meter.create_up_down_counter("queue.size", unit="1", description="Items waiting in the queue")
queue_size.add(7)
queue_size.add(-2)


def _observe_memory(_options):
    yield Observation(1048576)


meter.create_observable_gauge("process.memory.usage", callbacks=[_observe_memory], unit="By", description="Memory in use")

# --- Traces + logs ------------------------------------------------------------------
span_ids = {}

with tracer.start_as_current_span(
    "GET /users/:id",
    kind=SpanKind.SERVER,
    attributes={
        "http.request.method": "GET",
        "http.route": "/users/:id",
        "http.response.status_code": 200,  # int
        "sampling.ratio": 0.25,  # double
        "cache.hit": True,  # bool
        "user.roles": ["admin", "dev"],  # string array
    },
) as root:
    root_ctx = root.get_span_context()
    trace_id = format(root_ctx.trace_id, "032x")
    span_ids["GET /users/:id"] = format(root_ctx.span_id, "016x")

    root.add_event("cache.lookup", {"cache.key": "user:42", "attempt": 1})

    # INFO log with the root span current -> carries its trace_id/span_id.
    e2e_logger.info("user loaded", extra={"user.id": 42})

    # Child CLIENT span that fails. record_exception/set_status_on_exception are
    # off so the only status is the explicit one below.
    with tracer.start_as_current_span(
        "SELECT users",
        kind=SpanKind.CLIENT,
        attributes={"db.system.name": "postgresql"},
        record_exception=False,
        set_status_on_exception=False,
    ) as db:
        span_ids["SELECT users"] = format(db.get_span_context().span_id, "016x")
        e2e_logger.warning("slow query", extra={"db.duration_ms": 12.5})
        db.set_status(Status(StatusCode.ERROR, "connection reset"))

    # Child INTERNAL span linked to the DB span.
    with tracer.start_as_current_span(
        "render",
        kind=SpanKind.INTERNAL,
        links=[Link(db.get_span_context(), {"link.kind": "follows"})],
    ) as render:
        span_ids["render"] = format(render.get_span_context().span_id, "016x")

# ERROR log outside any span.
e2e_logger.error("no trace context")

# --- Flush exactly once, verify, report -------------------------------------------
# Metrics: the one and only collect + export. Then shut everything down; the
# batch processors export their queues during shutdown.
try:
    meter_provider.force_flush(timeout_millis=TIMEOUT_S * 1000)
    meter_provider.shutdown(timeout_millis=TIMEOUT_S * 1000)
    tracer_provider.shutdown()
    logger_provider.shutdown()
except Exception as exc:  # noqa: BLE001
    failures.append(f"shutdown failed: {exc!r}")

for signal, expected in (("traces", 3), ("logs", 3), ("metrics", 4)):
    got = exported[signal]
    if got["items"] != expected:
        failures.append(
            f"expected {expected} {signal} item(s) accepted, got {got['items']} in {got['requests']} request(s)"
        )

if failures:
    for failure in failures:
        print(f"send.py: FAILURE: {failure}", file=sys.stderr)
    sys.stderr.flush()
    os._exit(1)

print(json.dumps({"trace_id": trace_id, "spans": span_ids, "service_name": SERVICE_NAME}), flush=True)
sys.stderr.flush()
# os._exit: skip interpreter teardown (gRPC channel threads, atexit shutdown
# hooks of the global providers) so nothing can be exported twice or hang.
os._exit(0)
