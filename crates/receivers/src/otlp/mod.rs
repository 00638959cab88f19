//! The OTLP receivers: gRPC ([`grpc`]) and HTTP ([`http`]).

mod decode;
pub mod grpc;
pub mod http;
mod response;

pub use decode::{DecodeError, decode_protobuf, gunzip_limited, unzstd_limited};

/// Paths of the three OTLP/gRPC export methods.
pub const GRPC_TRACES_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
pub const GRPC_METRICS_PATH: &str =
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
pub const GRPC_LOGS_PATH: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
