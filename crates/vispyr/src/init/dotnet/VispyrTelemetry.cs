// Vispyr instrumentation for "{{SERVICE}}", written by `vispyr init dotnet`.
//
// Sends traces, metrics and logs over OTLP/HTTP (protobuf) to {{OTLP}};
// the Pyroscope .NET profiler (started by vispyr-dotnet.sh) sends CPU, wall-clock,
// allocation, lock and exception profiles to {{SERVER}}, and
// Pyroscope.OpenTelemetry labels them with the span they ran in. In Program.cs:
//
//   var builder = WebApplication.CreateBuilder(args);
//   builder.AddVispyrTelemetry();
//
// Environment overrides: OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_ENDPOINT (OTLP/HTTP
// base URL), OTEL_RESOURCE_ATTRIBUTES.

using System;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

public static class VispyrTelemetry
{
    public static IHostApplicationBuilder AddVispyrTelemetry(this IHostApplicationBuilder builder)
    {
        var service = Environment.GetEnvironmentVariable("OTEL_SERVICE_NAME") is { Length: > 0 } name
            ? name
            : "{{SERVICE}}";
        var otlp = Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT") is { Length: > 0 } endpoint
            ? endpoint
            : "{{OTLP}}";

        builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(service))
            .WithTracing(tracing => tracing
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddProcessor(new Pyroscope.OpenTelemetry.PyroscopeSpanProcessor()))
            .WithMetrics(metrics => metrics
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation())
            // ILogger records become OpenTelemetry logs stamped with the current span.
            .WithLogging(logging => { }, options =>
            {
                options.IncludeFormattedMessage = true;
                options.IncludeScopes = true;
            })
            // One exporter for all three signals; it appends /v1/traces, /v1/metrics
            // and /v1/logs to the base URL and flushes when the host stops.
            .UseOtlpExporter(OtlpExportProtocol.HttpProtobuf, new Uri(otlp.TrimEnd('/')));
        return builder;
    }
}
