#!/bin/sh
# Vispyr instrumentation for "{{SERVICE}}", written by `vispyr init java`.
#
# Runs java with the OpenTelemetry Java agent (traces, metrics and logs over
# OTLP/HTTP protobuf to {{OTLP}}) and Grafana's Pyroscope extension for it
# (CPU, allocation and lock profiles as JFR to {{SERVER}}, samples labelled
# with the span they ran in). Use it in place of `java`:
#
#   ./vispyr-java.sh -jar app.jar
#
# The agent instruments Spring, Servlet containers, JDBC, HTTP clients, gRPC,
# Kafka, ... and bridges Logback, Log4j 2 and java.util.logging into
# OpenTelemetry logs. On SIGTERM the JVM's shutdown hooks flush everything.
#
# Environment overrides: OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_ENDPOINT, VISPYR_URL,
# JAVA (the java binary), VISPYR_OTEL_AGENT and VISPYR_PYROSCOPE_EXTENSION (jar
# paths; default: next to this script); every OTEL_* and PYROSCOPE_* setting.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
otel_agent=${VISPYR_OTEL_AGENT:-$here/opentelemetry-javaagent.jar}
pyroscope_extension=${VISPYR_PYROSCOPE_EXTENSION:-$here/pyroscope-otel.jar}
for jar in "$otel_agent" "$pyroscope_extension"; do
  if [ ! -f "$jar" ]; then
    echo "vispyr-java.sh: $jar is missing; download it as \`vispyr init java\` shows" >&2
    exit 1
  fi
done

export OTEL_SERVICE_NAME="${OTEL_SERVICE_NAME:-{{SERVICE}}}"
export OTEL_EXPORTER_OTLP_ENDPOINT="${OTEL_EXPORTER_OTLP_ENDPOINT:-{{OTLP}}}"
export OTEL_EXPORTER_OTLP_PROTOCOL="${OTEL_EXPORTER_OTLP_PROTOCOL:-http/protobuf}"
export OTEL_TRACES_EXPORTER="${OTEL_TRACES_EXPORTER:-otlp}"
export OTEL_METRICS_EXPORTER="${OTEL_METRICS_EXPORTER:-otlp}"
export OTEL_LOGS_EXPORTER="${OTEL_LOGS_EXPORTER:-otlp}"
export OTEL_METRIC_EXPORT_INTERVAL="${OTEL_METRIC_EXPORT_INTERVAL:-15000}"
export OTEL_JAVAAGENT_EXTENSIONS="$pyroscope_extension"

# The extension starts the Pyroscope agent (otel.pyroscope.start.profiling) and
# labels each local root span's samples with its span id.
export PYROSCOPE_APPLICATION_NAME="${PYROSCOPE_APPLICATION_NAME:-$OTEL_SERVICE_NAME}"
export PYROSCOPE_SERVER_ADDRESS="${PYROSCOPE_SERVER_ADDRESS:-${VISPYR_URL:-{{SERVER}}}}"
export PYROSCOPE_FORMAT="${PYROSCOPE_FORMAT:-jfr}"
export PYROSCOPE_PROFILER_EVENT="${PYROSCOPE_PROFILER_EVENT:-itimer}"
export PYROSCOPE_PROFILER_ALLOC="${PYROSCOPE_PROFILER_ALLOC:-512k}"
export PYROSCOPE_PROFILER_LOCK="${PYROSCOPE_PROFILER_LOCK:-10ms}"
export PYROSCOPE_UPLOAD_INTERVAL="${PYROSCOPE_UPLOAD_INTERVAL:-15s}"

exec "${JAVA:-java}" "-javaagent:$otel_agent" "$@"
