#!/usr/bin/env python3
"""Synthetic Prometheus exporter for scrape tests (python3, stdlib only).

    python3 synthetic_exporter.py --port N [--flap-period S] [--format auto|text|openmetrics]

Serves /metrics. Every value is a pure function of the wall clock, so two
scrapers hitting it at the same time see the same numbers:

  http_requests_total{method,code,route}  counters; the GET / 500 series
                                          resets to 0 every 60 s
  temperature_celsius{sensor}             gauges (sine waves), OpenMetrics UNIT celsius
  queue_depth                             gauge
  request_duration_seconds                classic histogram, buckets 0.005 ... 10
                                          plus +Inf, with _sum and _count
  rpc_latency_seconds{quantile}           summary with _sum and _count
  batch_last_success_timestamp_seconds    present only while
                                          floor(now / flap_period) is even, so it
                                          appears and disappears (staleness)
  escaped_info{path,note}                 gauge whose label values need escaping

Format: with --format auto (default) the response is OpenMetrics 1.0 when the
Accept header asks for application/openmetrics-text (as Prometheus does) and
text format 0.0.4 otherwise; OpenMetrics output adds _created series, a UNIT
line and an exemplar. Responses are gzip-compressed when the request's
Accept-Encoding allows it.
"""

import argparse
import gzip
import math
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]
# Fixed origin so counters are deterministic functions of wall time.
ORIGIN = 1_700_000_000.0
REQUEST_SERIES = [
    ("GET", "200", "/api/items", 12.5),
    ("GET", "404", "/api/items", 0.75),
    ("POST", "201", "/api/items", 3.0),
    ("GET", "500", "/", 0.5),
]


def fmt(value):
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return repr(float(value))


def escape_label(value):
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def labels(pairs):
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{escape_label(v)}"' for k, v in pairs) + "}"


def render(now, flap_period, openmetrics):
    out = []
    elapsed = max(now - ORIGIN, 0.0)
    created = f"{ORIGIN:.3f}"

    def family(name, kind, help_text, unit=None):
        # OpenMetrics names counters without the _total suffix.
        shown = name[: -len("_total")] if openmetrics and kind == "counter" else name
        out.append(f"# HELP {shown} {help_text}")
        out.append(f"# TYPE {shown} {kind}")
        if unit and openmetrics:
            out.append(f"# UNIT {shown} {unit}")
        return shown

    base = family("http_requests_total", "counter", "Requests served, by method, code and route.")
    for method, code, route, rate in REQUEST_SERIES:
        span = elapsed % 60.0 if code == "500" else elapsed
        pairs = [("method", method), ("code", code), ("route", route)]
        out.append(f"http_requests_total{labels(pairs)} {fmt(math.floor(span * rate))}")
        if openmetrics:
            out.append(f"{base}_created{labels(pairs)} {created}")

    family("temperature_celsius", "gauge", "Sensor temperature.", unit="celsius")
    for index, sensor in enumerate(["cpu", "board", "ambient"]):
        value = 40.0 + 10.0 * math.sin(now / 30.0 + index)
        out.append(f"temperature_celsius{labels([('sensor', sensor)])} {fmt(round(value, 3))}")

    family("queue_depth", "gauge", "Items waiting in the queue.")
    out.append(f"queue_depth {fmt(float(int(abs(math.sin(now / 7.0)) * 100)))}")

    family("request_duration_seconds", "histogram", "Request latency.")
    total = math.floor(elapsed * 4.0)
    cumulative = 0
    for index, bound in enumerate(BUCKETS):
        cumulative = math.floor(total * (index + 1) / (len(BUCKETS) + 1))
        line = f"request_duration_seconds_bucket{labels([('le', fmt(bound))])} {fmt(cumulative)}"
        if openmetrics and index == 3:
            line += ' # {trace_id="abc123"} 0.042'
        out.append(line)
    out.append(f"request_duration_seconds_bucket{labels([('le', '+Inf')])} {fmt(total)}")
    out.append(f"request_duration_seconds_sum {fmt(round(total * 0.37, 3))}")
    out.append(f"request_duration_seconds_count {fmt(total)}")
    if openmetrics:
        out.append(f"request_duration_seconds_created {created}")

    family("rpc_latency_seconds", "summary", "RPC latency quantiles.")
    for quantile, value in [("0.5", 0.012), ("0.9", 0.051), ("0.99", 0.2)]:
        out.append(f"rpc_latency_seconds{labels([('quantile', quantile)])} {fmt(value)}")
    rpc_count = math.floor(elapsed * 2.0)
    out.append(f"rpc_latency_seconds_sum {fmt(round(rpc_count * 0.02, 3))}")
    out.append(f"rpc_latency_seconds_count {fmt(rpc_count)}")

    if math.floor(now / flap_period) % 2 == 0:
        family("batch_last_success_timestamp_seconds", "gauge", "Last batch success; flaps.")
        out.append(f"batch_last_success_timestamp_seconds{labels([('batch', 'nightly')])} {fmt(float(math.floor(now)))}")

    family("escaped_info", "gauge", "Label values with \\\\ backslash and\\nnewline.")
    escaped = labels([("path", "C:\\\\temp"), ("note", 'say "hi"\nbye')])
    out.append(f"escaped_info{escaped} 1.0")

    if openmetrics:
        out.append("# EOF")
    return ("\n".join(out) + "\n").encode()


class Handler(BaseHTTPRequestHandler):
    flap_period = 30.0
    format = "auto"

    def do_GET(self):
        if self.path.split("?")[0] != "/metrics":
            self.send_error(404)
            return
        accept = self.headers.get("Accept", "")
        openmetrics = self.format == "openmetrics" or (
            self.format == "auto" and "application/openmetrics-text" in accept
        )
        body = render(time.time(), self.flap_period, openmetrics)
        content_type = (
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
            if openmetrics
            else "text/plain; version=0.0.4; charset=utf-8"
        )
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        if "gzip" in self.headers.get("Accept-Encoding", ""):
            body = gzip.compress(body)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--flap-period", type=float, default=30.0)
    parser.add_argument("--format", choices=["auto", "text", "openmetrics"], default="auto")
    args = parser.parse_args()
    Handler.flap_period = args.flap_period
    Handler.format = args.format
    ThreadingHTTPServer((args.host, args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
