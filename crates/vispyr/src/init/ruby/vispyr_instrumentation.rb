# frozen_string_literal: true

# Vispyr instrumentation for "{{SERVICE}}", written by `vispyr init ruby`.
#
# Sends traces, metrics and logs over OTLP/HTTP (protobuf) to {{OTLP}}
# and CPU profiles, labelled with the span they ran in, to {{SERVER}}.
# Require it before the app's code, once the gems are loaded:
#
#   Rails:        config/initializers/vispyr.rb (copy this file there)
#   Rack/Sinatra: require_relative "vispyr_instrumentation" at the top of config.ru
#   any script:   ruby -r ./vispyr_instrumentation.rb app.rb
#
# Environment overrides: OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_ENDPOINT (OTLP/HTTP
# base URL), VISPYR_URL (where profiles go), every other OTEL_* setting.

ENV["OTEL_SERVICE_NAME"] ||= "{{SERVICE}}"
ENV["OTEL_EXPORTER_OTLP_ENDPOINT"] ||= "{{OTLP}}"
ENV["OTEL_EXPORTER_OTLP_PROTOCOL"] ||= "http/protobuf"
ENV["OTEL_TRACES_EXPORTER"] ||= "otlp"
ENV["OTEL_METRICS_EXPORTER"] ||= "otlp"
ENV["OTEL_LOGS_EXPORTER"] ||= "otlp"
ENV["OTEL_METRIC_EXPORT_INTERVAL"] ||= "15000"

require "opentelemetry/sdk"
require "opentelemetry-metrics-sdk"
require "opentelemetry-logs-sdk"
require "opentelemetry/exporter/otlp"
require "opentelemetry/exporter/otlp_metrics"
require "opentelemetry/exporter/otlp_logs"
require "opentelemetry/instrumentation/all"
require "opentelemetry/instrumentation/logger"
require "pyroscope"
require "pyroscope/otel"

module VispyrInstrumentation
  SERVICE = ENV.fetch("OTEL_SERVICE_NAME")
  VISPYR_URL = (ENV["VISPYR_URL"] || "{{SERVER}}").chomp("/")
end

# Profiles: CPU time sampled 100 times a second.
Pyroscope.configure do |config|
  config.application_name = VispyrInstrumentation::SERVICE
  config.server_address = VispyrInstrumentation::VISPYR_URL
end

# Traces, metrics and logs from the environment above; every instrumentation of
# opentelemetry-instrumentation-all whose library is loaded (Rails, Rack, Sinatra,
# Net::HTTP, Faraday, PG, MySQL2, Redis, Sidekiq, ...), plus the Logger bridge that
# sends Ruby Logger records as OpenTelemetry logs stamped with the current span.
# Pyroscope's span processor labels each local root span's samples with its span id.
OpenTelemetry::SDK.configure do |c|
  c.service_name = VispyrInstrumentation::SERVICE
  c.use_all # includes the Logger bridge, registered by its require above
  c.add_span_processor(
    Pyroscope::Otel::SpanProcessor.new("#{VispyrInstrumentation::SERVICE}.cpu", VispyrInstrumentation::VISPYR_URL)
  )
end

# Flush on exit (a SIGTERM'd Rack server exits through at_exit too).
at_exit do
  OpenTelemetry.tracer_provider.shutdown
  OpenTelemetry.meter_provider.shutdown if OpenTelemetry.meter_provider.respond_to?(:shutdown)
  OpenTelemetry.logger_provider.shutdown if OpenTelemetry.logger_provider.respond_to?(:shutdown)
  Pyroscope.shutdown
end
