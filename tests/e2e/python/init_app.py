"""A tiny WSGI app for the end-to-end test of `vispyr init python`
(crates/vispyr/tests/init_e2e.rs). Its only telemetry code is the first import,
of the generated vispyr_instrumentation.py (the test puts its folder on PYTHONPATH):

    PYTHONPATH=<dir> tests/e2e/python/.venv/bin/python tests/e2e/python/init_app.py

GET /work/<n> logs one line inside the request and burns CPU for BURN_MS. Once
listening, the app calls itself REQUESTS times with `requests` (instrumented by
the generated module, so the client spans carry the trace context to the
server), prints ONE line of JSON to stdout and waits for SIGTERM, which the
instrumentation turns into a flush of every exporter and exit code 0:

    {"port": 12345, "requests": [{"n": 1, "status": 200, "trace_id": "<32 hex>"}, ...]}

Environment: REQUESTS (default 5), BURN_MS (default 600).
"""

import vispyr_instrumentation  # noqa: F401  (must stay the first import)

import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from wsgiref.simple_server import WSGIRequestHandler, make_server  # noqa: E402

import requests  # noqa: E402
from opentelemetry import trace  # noqa: E402
from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware  # noqa: E402

REQUESTS = int(os.environ.get("REQUESTS") or 5)
BURN_MS = int(os.environ.get("BURN_MS") or 600)

logging.basicConfig(level=logging.INFO, stream=sys.stderr)
log = logging.getLogger("init_app")


def burn_cpu(ms):
    """Busy work the CPU profiler sees on the stack."""
    end = time.monotonic() + ms / 1000.0
    x = 0
    while time.monotonic() < end:
        for i in range(10000):
            x = (x * 31 + i) % 1000003
    return x


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if not path.startswith("/work/"):
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]
    n = int(path.rsplit("/", 1)[1])
    log.info("working on %d", n)
    checksum = burn_cpu(BURN_MS)
    trace_id = format(trace.get_current_span().get_span_context().trace_id, "032x")
    body = json.dumps({"n": n, "checksum": checksum, "trace_id": trace_id}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


def main():
    server = make_server("127.0.0.1", 0, OpenTelemetryMiddleware(app), handler_class=QuietHandler)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    results = []
    for n in range(1, REQUESTS + 1):
        response = requests.get(f"http://127.0.0.1:{port}/work/{n}", timeout=30)
        results.append({"n": n, "status": response.status_code, "trace_id": response.json()["trace_id"]})
    print(json.dumps({"port": port, "requests": results}), flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
