#!/usr/bin/env python3
"""Deterministic profiling workload for Vispyr's end-to-end tests.

Runs the real Pyroscope Python SDK (pyroscope-io, py-spy based CPU sampler)
against a Pyroscope-compatible server, with a known CPU-hot function
(`burn_cpu_hot`, ~75% of the time, inside pyroscope.tag_wrapper({"route":
"/hot"})) and a known light function (`light_work`, the rest). Then it calls
pyroscope.shutdown() (which uploads the last batch), prints ONE line of JSON to
stdout describing what it did, and exits 0. Everything else goes to stderr.

What the SDK sends (see crates/receivers/testdata/pyroscope/README.md):
  POST ${VISPYR_PYROSCOPE_URL}/push.v1.PusherService/Push
  Content-Type: application/proto, Content-Encoding: gzip
  body: gzip(PushRequest protobuf) with one series, labels
        __name__=process_cpu, service_name=APP_NAME, the tags, ...
        and one raw pprof sample; one request per upload interval.

Environment:
  VISPYR_PYROSCOPE_URL  server address, e.g. http://127.0.0.1:4040 (default)
  APP_NAME              application name (default "python-profile-e2e")
  DURATION_MS           total workload time (default 12000)
  UPLOAD_INTERVAL_S     upload interval of the SDK in whole seconds (default 1; SDK default 10)
  SAMPLE_RATE           sampling rate in Hz (default 100)
  HOT_RATIO             fraction of each slice spent in burn_cpu_hot (default 0.75)
  SLICE_MS              length of one hot+light slice (default 20)
  MEM_ENABLED           "1" to also enable the SDK's memory profiler (default "0")
  E2E_BASIC_AUTH_USER / E2E_BASIC_AUTH_PASSWORD / E2E_TENANT_ID
                        optional auth (Authorization: Basic, X-Scope-OrgID)
  E2E_DEBUG=1           SDK logging (stderr)

Exit code: 0 when the workload ran and pyroscope.shutdown() returned True.
Upload failures are only logged by the SDK, so the test must check what the
server received.

Run it with the interpreter of the venv made by tests/e2e/install.sh:
  tests/e2e/python/.venv/bin/python tests/e2e/python/profile.py
"""

import os
import sys

# --- Determinism: ignore ambient PYROSCOPE_* configuration. -------------------
for _key in list(os.environ):
    if _key.startswith("PYROSCOPE_"):
        del os.environ[_key]

import json  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402

import pyroscope  # noqa: E402


def int_env(name, default):
    raw = os.environ.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value <= 0:
        print(f"{name} must be a positive integer, got {raw!r}", file=sys.stderr)
        sys.exit(2)
    return value


SERVER_ADDRESS = (os.environ.get("VISPYR_PYROSCOPE_URL") or "http://127.0.0.1:4040").rstrip("/")
APP_NAME = os.environ.get("APP_NAME") or "python-profile-e2e"
DURATION_MS = int_env("DURATION_MS", 12000)
UPLOAD_INTERVAL_S = int_env("UPLOAD_INTERVAL_S", 1)
SAMPLE_RATE = int_env("SAMPLE_RATE", 100)
SLICE_MS = int_env("SLICE_MS", 20)
HOT_RATIO = float(os.environ.get("HOT_RATIO") or "0.75")
MEM_ENABLED = os.environ.get("MEM_ENABLED", "0") in ("1", "true")
DEBUG = os.environ.get("E2E_DEBUG") == "1"
TAGS = {"region": "eu-north", "env": "e2e"}
HOT_TAGS = {"route": "/hot"}

counts = {"burn_cpu_hot": 0, "light_work": 0}
_retained = [None] * 64
_retained_idx = 0


def burn_cpu_hot(seconds):
    """The CPU-hot function: a pure-Python busy loop for `seconds`."""
    end = time.perf_counter() + seconds
    x = 1
    while time.perf_counter() < end:
        for i in range(500):
            x = (x * 1103515245 + 12345 + i) & 0x7FFFFFFF
    counts["burn_cpu_hot"] += 1
    return x


def light_work(seconds):
    """The light function: a little math and one retained allocation per call."""
    global _retained_idx
    _retained[_retained_idx] = [float(i) for i in range(256)]
    _retained_idx = (_retained_idx + 1) % len(_retained)
    end = time.perf_counter() + seconds
    s = 0.0
    while time.perf_counter() < end:
        for i in range(1, 200):
            s += math.sqrt(i) / i
    counts["light_work"] += 1
    return s


def main():
    if DEBUG:
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    configure = dict(
        application_name=APP_NAME,
        server_address=SERVER_ADDRESS,
        tags=TAGS,
        sample_rate=SAMPLE_RATE,
        upload_interval=UPLOAD_INTERVAL_S,
        enable_logging=DEBUG,
        oncpu=True,
        gil_only=True,
        mem_enabled=MEM_ENABLED,
    )
    if os.environ.get("E2E_BASIC_AUTH_USER"):
        configure["basic_auth_username"] = os.environ["E2E_BASIC_AUTH_USER"]
        configure["basic_auth_password"] = os.environ.get("E2E_BASIC_AUTH_PASSWORD", "")
    if os.environ.get("E2E_TENANT_ID"):
        configure["tenant_id"] = os.environ["E2E_TENANT_ID"]
    pyroscope.configure(**configure)

    hot_s = max(0.001, SLICE_MS * HOT_RATIO / 1000.0)
    light_s = max(0.001, SLICE_MS / 1000.0 - hot_s)
    started = time.time()
    checksum = 0
    while (time.time() - started) * 1000.0 < DURATION_MS:
        with pyroscope.tag_wrapper(HOT_TAGS):
            checksum ^= burn_cpu_hot(hot_s)
        checksum ^= int(light_work(light_s))
    work_ended = time.time()

    ok = pyroscope.shutdown()
    stopped = time.time()

    print(
        json.dumps(
            {
                "app_name": APP_NAME,
                "server_address": SERVER_ADDRESS,
                "tags": TAGS,
                "dynamic_labels": HOT_TAGS,
                "hot_function": "burn_cpu_hot",
                "light_function": "light_work",
                "sample_rate": SAMPLE_RATE,
                "upload_interval_s": UPLOAD_INTERVAL_S,
                "mem_enabled": MEM_ENABLED,
                "started_at_ms": int(started * 1000),
                "work_ended_at_ms": int(work_ended * 1000),
                "stopped_at_ms": int(stopped * 1000),
                "iterations": counts,
                "shutdown_ok": bool(ok),
                "checksum": checksum,
            }
        ),
        flush=True,
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
