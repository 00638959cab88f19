"""Vispyr instrumentation for "{{SERVICE}}", written by `vispyr init python`.

Sends traces, metrics and logs over OTLP/HTTP (protobuf) to {{OTLP}}
and CPU profiles, linked to the spans they ran in, to {{SERVER}}.

Import it before anything else in the app's entry point, so the libraries the
app imports next are instrumented:

    import vispyr_instrumentation  # noqa: F401  (must stay the first import)

Environment overrides: OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_ENDPOINT (OTLP/HTTP
base URL), VISPYR_URL (where profiles go), OTEL_METRIC_EXPORT_INTERVAL (ms),
OTEL_PYTHON_DISABLED_INSTRUMENTATIONS (e.g. "requests,sqlite3").

Behind a pre-forking server (gunicorn --preload, uWSGI) import it in the
post-fork hook instead: the exporters' and the profiler's threads do not survive
a fork.
"""

import atexit
import logging
import os
import signal
import threading
from importlib.metadata import entry_points

import pyroscope
from opentelemetry import _logs, metrics, trace
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.dependencies import get_dist_dependency_conflicts
from opentelemetry.instrumentation.logging import LoggingInstrumentor
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from pyroscope.otel import PyroscopeSpanProcessor

SERVICE = os.environ.get("OTEL_SERVICE_NAME") or "{{SERVICE}}"
OTLP = (os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or "{{OTLP}}").rstrip("/")
VISPYR_URL = (os.environ.get("VISPYR_URL") or "{{SERVER}}").rstrip("/")
METRIC_INTERVAL_MS = int(os.environ.get("OTEL_METRIC_EXPORT_INTERVAL") or 15000)

_logger = logging.getLogger("vispyr_instrumentation")

# Profiles: CPU time sampled 100 times a second, pushed every 10 s.
pyroscope.configure(
    application_name=SERVICE,
    server_address=VISPYR_URL,
    sample_rate=100,
    oncpu=True,
    gil_only=True,
)

_resource = Resource.create({"service.name": SERVICE})

# Traces. PyroscopeSpanProcessor tags the profile samples of each local root span
# with its span id (and marks the span with `pyroscope.profile.id`), which links
# spans and profiles in Vispyr.
tracer_provider = TracerProvider(resource=_resource, shutdown_on_exit=False)
tracer_provider.add_span_processor(PyroscopeSpanProcessor())
tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{OTLP}/v1/traces")))
trace.set_tracer_provider(tracer_provider)

# Metrics.
meter_provider = MeterProvider(
    resource=_resource,
    shutdown_on_exit=False,
    metric_readers=[
        PeriodicExportingMetricReader(
            OTLPMetricExporter(endpoint=f"{OTLP}/v1/metrics"),
            export_interval_millis=METRIC_INTERVAL_MS,
        )
    ],
)
metrics.set_meter_provider(meter_provider)

# Logs: a handler on the root logger turns every `logging` record that passes the
# loggers' levels into an OpenTelemetry log record stamped with the current span.
logger_provider = LoggerProvider(resource=_resource, shutdown_on_exit=False)
logger_provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(endpoint=f"{OTLP}/v1/logs")))
_logs.set_logger_provider(logger_provider)
LoggingInstrumentor().instrument()


def _instrument_installed_libraries():
    """Does what `opentelemetry-instrument` does: applies every instrumentation
    package installed (`opentelemetry-bootstrap -a install` installs the ones for
    the libraries in the environment) whose library is installed too."""
    disabled = {name.strip() for name in os.environ.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "").split(",")}
    for entry_point in entry_points(group="opentelemetry_instrumentor"):
        if entry_point.name in disabled or entry_point.name == "logging":
            continue
        try:
            if entry_point.dist is not None and get_dist_dependency_conflicts(entry_point.dist):
                continue
            entry_point.load()().instrument(skip_dep_check=True)
        except Exception:  # pylint: disable=broad-except
            _logger.warning("vispyr: cannot apply instrumentation %s", entry_point.name, exc_info=True)


_instrument_installed_libraries()


_shut_down = threading.Lock()


def shutdown():
    """Flushes every exporter and uploads the last profile. Runs at exit; an app
    that exits some other way (os._exit) calls it first. Safe to call twice."""
    if not _shut_down.acquire(blocking=False):
        return
    tracer_provider.shutdown()
    meter_provider.shutdown()
    logger_provider.shutdown()
    pyroscope.shutdown()


atexit.register(shutdown)


def _exit_on_sigterm(signum, frame):
    # SystemExit unwinds the main thread and runs the atexit flush above.
    raise SystemExit(0)


# SIGTERM kills a Python process without running atexit handlers; unless the app
# (or its server) handles SIGTERM itself, exit cleanly instead.
if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
