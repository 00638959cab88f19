#!/usr/bin/env python3
"""Deterministic stdlib-logging -> OpenTelemetry logs client for Vispyr's end-to-end tests.

An application logging through the standard `logging` module, with the real
OpenTelemetry Python SDK's `LoggingHandler` attached: one trace with a root span
and a child span, one log line in each, and one line outside any span. The
handler stamps every record with the span that is current when it is logged,
and the SDK exports the records over OTLP/HTTP protobuf next to the spans. The
Rust test then checks that Vispyr joins the two.

Prints ONE line of JSON to stdout:
  {"trace_id": "<32 hex>", "spans": {"root": "<16 hex>", "child": "<16 hex>"},
   "service_name": "...",
   "logs": [{"body": "...", "span": "root" | "child" | null, "level": "info" | "warn" | "error"}]}
`logs` is in emission order; `level` is the level it was logged at, by its
OpenTelemetry short name (Python's WARNING is "warn"). Everything else goes to
stderr.

Environment:
  OTLP_ENDPOINT   base URL of the OTLP/HTTP receiver, e.g. http://127.0.0.1:43180
                  (posts protobuf to $OTLP_ENDPOINT/v1/{traces,logs})
  SERVICE_NAME    service.name resource attribute (default "python-logging-e2e")
  OTLP_TIMEOUT_S  per-export timeout in seconds (default 10)

Exit code: 0 only if both exports returned SUCCESS with exactly 2 spans and
3 log records; non-zero otherwise.

Run it with the interpreter of the venv made by tests/e2e/install.sh:
  tests/e2e/python/.venv/bin/python tests/e2e/python/logs.py
"""

import os
import sys

# --- Determinism: ignore any ambient OTEL_* configuration. ---------------------
# The SDK reads OTEL_* variables at import and construction time, so clear them
# before importing anything from opentelemetry.
for _key in list(os.environ):
    if _key.startswith("OTEL_"):
        del os.environ[_key]

import json  # noqa: E402
import logging  # noqa: E402
import threading  # noqa: E402
import warnings  # noqa: E402

from opentelemetry import trace  # noqa: E402
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter  # noqa: E402
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: E402
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler  # noqa: E402
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.sampling import ALWAYS_ON  # noqa: E402

# --- Configuration ----------------------------------------------------------------
ENDPOINT = os.environ.get("OTLP_ENDPOINT", "http://127.0.0.1:4318").rstrip("/")
SERVICE_NAME = os.environ.get("SERVICE_NAME", "python-logging-e2e")
TIMEOUT_S = float(os.environ.get("OTLP_TIMEOUT_S", "10"))

# SDK diagnostics (export errors, retries) go to stderr via the root logger.
# The "shop" logger below does not propagate, so its records reach only OTel.
logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="[%(name)s %(levelname)s] %(message)s")
# LoggingHandler in opentelemetry-sdk is deprecated in favour of
# opentelemetry-instrumentation-logging; it still works, silence the notice.
warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"opentelemetry\..*")


# Hard deadline so a hung export can never hang the calling test.
def _watchdog():
    print("logs.py: timed out waiting for exports", file=sys.stderr, flush=True)
    os._exit(3)


_timer = threading.Timer(TIMEOUT_S * 3 + 5, _watchdog)
_timer.daemon = True
_timer.start()

# --- Failure detection ------------------------------------------------------------
# As in send.py: the processors ignore failed export results, so wrap each
# exporter's export() to check and count them.
failures = []
exported = {s: {"requests": 0, "items": 0} for s in ("traces", "logs")}


def tracked(signal, exporter):
    original = exporter.export

    def export(batch, *args, **kwargs):
        n = len(batch)
        try:
            result = original(batch, *args, **kwargs)
        except Exception as exc:  # pragma: no cover - exporters normally don't raise
            failures.append(f"{signal} export raised: {exc!r}")
            raise
        exported[signal]["requests"] += 1
        if result.name == "SUCCESS":
            exported[signal]["items"] += n
            print(f"logs.py: exported {n} {signal} item(s) OK", file=sys.stderr)
        else:
            failures.append(f"{signal} export returned {result.name}")
        return result

    exporter.export = export
    return exporter


span_exporter = tracked("traces", OTLPSpanExporter(endpoint=f"{ENDPOINT}/v1/traces", timeout=TIMEOUT_S))
log_exporter = tracked("logs", OTLPLogExporter(endpoint=f"{ENDPOINT}/v1/logs", timeout=TIMEOUT_S))

# --- SDK providers -----------------------------------------------------------------
resource = Resource.create({"service.name": SERVICE_NAME, "service.version": "1.2.3"})

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

# The application's logger "shop" -> OTel LoggingHandler. The logger name
# becomes the instrumentation scope name; `extra={...}` keys become attributes.
shop_logger = logging.getLogger("shop")
shop_logger.setLevel(logging.INFO)
shop_logger.propagate = False
shop_logger.addHandler(LoggingHandler(level=logging.INFO, logger_provider=logger_provider))

tracer = trace.get_tracer("e2e-tracer", "1.0.0")

# --- Trace + logs ------------------------------------------------------------------
span_ids = {}
sent_logs = []


def charge_card():
    with tracer.start_as_current_span("charge card") as child:
        span_ids["child"] = format(child.get_span_context().span_id, "016x")
        shop_logger.warning("payment slow", extra={"order.id": 42})
        sent_logs.append({"body": "payment slow", "span": "child", "level": "warn"})


def checkout():
    with tracer.start_as_current_span("checkout") as root:
        root_ctx = root.get_span_context()
        span_ids["root"] = format(root_ctx.span_id, "016x")
        shop_logger.info("checkout started")
        sent_logs.append({"body": "checkout started", "span": "root", "level": "info"})
        charge_card()
    return format(root_ctx.trace_id, "032x")


def sync_inventory():
    # Outside any span: no trace context.
    shop_logger.error("inventory sync failed")
    sent_logs.append({"body": "inventory sync failed", "span": None, "level": "error"})


trace_id = checkout()
sync_inventory()

# --- Flush exactly once, verify, report -------------------------------------------
# The batch processors export their queues during shutdown.
try:
    tracer_provider.shutdown()
    logger_provider.shutdown()
except Exception as exc:  # noqa: BLE001
    failures.append(f"shutdown failed: {exc!r}")

for signal, expected in (("traces", 2), ("logs", len(sent_logs))):
    got = exported[signal]
    if got["items"] != expected:
        failures.append(
            f"expected {expected} {signal} item(s) accepted, got {got['items']} in {got['requests']} request(s)"
        )

if failures:
    for failure in failures:
        print(f"logs.py: FAILURE: {failure}", file=sys.stderr)
    sys.stderr.flush()
    os._exit(1)

summary = {"trace_id": trace_id, "spans": span_ids, "service_name": SERVICE_NAME, "logs": sent_logs}
print(json.dumps(summary), flush=True)
sys.stderr.flush()
# os._exit: skip interpreter teardown (atexit hooks, logging.shutdown flushing
# the handler) so nothing can be exported twice or hang.
os._exit(0)
