// Vispyr instrumentation for "{{SERVICE}}", written by `vispyr init go`.
//
// Sends traces, metrics and logs over OTLP/HTTP (protobuf) to {{OTLP}}
// and CPU, memory, goroutine, mutex and block profiles, linked to the spans they
// ran in, to {{SERVER}}. Call it first thing in main:
//
//	shutdown, err := setupTelemetry(context.Background())
//	if err != nil {
//		log.Fatal(err)
//	}
//	defer shutdown(context.Background())
//
// then wrap HTTP handlers with otelhttp.NewHandler(mux, "server"), clients with
// otelhttp.NewTransport, and log with slog.InfoContext(ctx, ...) so the records
// carry the request's trace and span.
//
// Environment overrides: OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_ENDPOINT (OTLP/HTTP
// base URL), VISPYR_URL (where profiles go), OTEL_RESOURCE_ATTRIBUTES.
package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"time"

	otelpyroscope "github.com/grafana/otel-profiling-go"
	"github.com/grafana/pyroscope-go"
	"go.opentelemetry.io/contrib/bridges/otelslog"
	otelruntime "go.opentelemetry.io/contrib/instrumentation/runtime"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/log/global"
	"go.opentelemetry.io/otel/propagation"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// setupTelemetry starts the OpenTelemetry SDK and the Pyroscope profiler; the
// returned function flushes and stops them all.
func setupTelemetry(ctx context.Context) (func(context.Context) error, error) {
	service := envOr("OTEL_SERVICE_NAME", "{{SERVICE}}")
	otlp := strings.TrimRight(envOr("OTEL_EXPORTER_OTLP_ENDPOINT", "{{OTLP}}"), "/")
	vispyrURL := strings.TrimRight(envOr("VISPYR_URL", "{{SERVER}}"), "/")

	var shutdowns []func(context.Context) error
	shutdown := func(ctx context.Context) error {
		var err error
		for i := len(shutdowns) - 1; i >= 0; i-- {
			err = errors.Join(err, shutdowns[i](ctx))
		}
		shutdowns = nil
		return err
	}
	fail := func(err error) (func(context.Context) error, error) {
		return nil, errors.Join(err, shutdown(ctx))
	}

	res, err := resource.New(ctx,
		resource.WithFromEnv(),
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithProcessRuntimeName(),
		resource.WithAttributes(attribute.String("service.name", service)),
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return fail(err)
	}

	// Profiles. Mutex and block profiles need sampling rates set first.
	runtime.SetMutexProfileFraction(5)
	runtime.SetBlockProfileRate(5)
	profiler, err := pyroscope.Start(pyroscope.Config{
		ApplicationName: service,
		ServerAddress:   vispyrURL,
		ProfileTypes: []pyroscope.ProfileType{
			pyroscope.ProfileCPU,
			pyroscope.ProfileAllocObjects,
			pyroscope.ProfileAllocSpace,
			pyroscope.ProfileInuseObjects,
			pyroscope.ProfileInuseSpace,
			pyroscope.ProfileGoroutines,
			pyroscope.ProfileMutexCount,
			pyroscope.ProfileMutexDuration,
			pyroscope.ProfileBlockCount,
			pyroscope.ProfileBlockDuration,
		},
	})
	if err != nil {
		return fail(err)
	}
	shutdowns = append(shutdowns, func(context.Context) error { return profiler.Stop() })

	// Traces. otelpyroscope labels the CPU samples of each local root span with
	// its span id, which links spans and profiles in Vispyr.
	traceExporter, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(otlp+"/v1/traces"))
	if err != nil {
		return fail(err)
	}
	tracerProvider := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(traceExporter),
		sdktrace.WithResource(res),
	)
	shutdowns = append(shutdowns, tracerProvider.Shutdown)
	otel.SetTracerProvider(otelpyroscope.NewTracerProvider(tracerProvider))
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(
		propagation.TraceContext{}, propagation.Baggage{},
	))

	// Metrics, with the Go runtime's (memory, GC, goroutines).
	metricExporter, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpointURL(otlp+"/v1/metrics"))
	if err != nil {
		return fail(err)
	}
	meterProvider := sdkmetric.NewMeterProvider(
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(metricExporter, sdkmetric.WithInterval(15*time.Second))),
		sdkmetric.WithResource(res),
	)
	shutdowns = append(shutdowns, meterProvider.Shutdown)
	otel.SetMeterProvider(meterProvider)
	if err := otelruntime.Start(otelruntime.WithMeterProvider(meterProvider)); err != nil {
		return fail(err)
	}

	// Logs: slog's default logger writes OpenTelemetry log records.
	logExporter, err := otlploghttp.New(ctx, otlploghttp.WithEndpointURL(otlp+"/v1/logs"))
	if err != nil {
		return fail(err)
	}
	loggerProvider := sdklog.NewLoggerProvider(
		sdklog.WithProcessor(sdklog.NewBatchProcessor(logExporter)),
		sdklog.WithResource(res),
	)
	shutdowns = append(shutdowns, loggerProvider.Shutdown)
	global.SetLoggerProvider(loggerProvider)
	slog.SetDefault(otelslog.NewLogger(service, otelslog.WithLoggerProvider(loggerProvider)))

	return shutdown, nil
}

func envOr(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}
