//! OTLP/gRPC: the three `Export` services, gzip and zstd compressed requests.
//!
//! The services are written against tonic's server primitives instead of the
//! generated servers for two reasons: the request bytes reach the handler as received
//! (the WAL keeps them without re-encoding), and a malformed message is answered with
//! INVALID_ARGUMENT naming what was wrong (tonic's prost codec answers INTERNAL).

use std::convert::Infallible;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes};
use tonic::codec::{
    Codec, CompressionEncoding, DecodeBuf, Decoder, EnabledCompressionEncodings, EncodeBuf, Encoder,
};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Status, body::Body};
use vispyr_common::Signal;

use super::decode::decode_protobuf;
use super::response::ExportResponse;
use crate::{IngestError, IngestHandler, OtlpExport};

/// Receiver name in self-telemetry.
pub const RECEIVER: &str = "otlp_grpc";

/// A codec that hands the request's bytes over undecoded and encodes any prost
/// response.
struct RawCodec;

struct RawDecoder;
struct ProstEncoder;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Bytes;
    type Encoder = ProstEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawDecoder
    }
}

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        let len = src.remaining();
        Ok(Some(src.copy_to_bytes(len)))
    }
}

impl Encoder for ProstEncoder {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

/// Which OTLP service a [`ExportService`] serves.
pub trait ServiceKind: Send + Sync + 'static {
    const NAME: &'static str;
    const SIGNAL: Signal;
}

/// `opentelemetry.proto.collector.trace.v1.TraceService`.
pub struct TraceKind;
/// `opentelemetry.proto.collector.metrics.v1.MetricsService`.
pub struct MetricsKind;
/// `opentelemetry.proto.collector.logs.v1.LogsService`.
pub struct LogsKind;
/// `opentelemetry.proto.collector.profiles.v1development.ProfilesService`.
pub struct ProfilesKind;

impl ServiceKind for TraceKind {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
    const SIGNAL: Signal = Signal::Traces;
}
impl ServiceKind for MetricsKind {
    const NAME: &'static str = "opentelemetry.proto.collector.metrics.v1.MetricsService";
    const SIGNAL: Signal = Signal::Metrics;
}
impl ServiceKind for LogsKind {
    const NAME: &'static str = "opentelemetry.proto.collector.logs.v1.LogsService";
    const SIGNAL: Signal = Signal::Logs;
}
impl ServiceKind for ProfilesKind {
    const NAME: &'static str =
        "opentelemetry.proto.collector.profiles.v1development.ProfilesService";
    const SIGNAL: Signal = Signal::Profiles;
}

/// One OTLP export service over gRPC.
pub struct ExportService<K> {
    handler: Arc<dyn IngestHandler>,
    max_message: usize,
    kind: PhantomData<K>,
}

impl<K> Clone for ExportService<K> {
    fn clone(&self) -> Self {
        ExportService {
            handler: Arc::clone(&self.handler),
            max_message: self.max_message,
            kind: PhantomData,
        }
    }
}

impl<K: ServiceKind> ExportService<K> {
    pub fn new(handler: Arc<dyn IngestHandler>, max_message: usize) -> Self {
        ExportService {
            handler,
            max_message,
            kind: PhantomData,
        }
    }
}

impl<K: ServiceKind> NamedService for ExportService<K> {
    const NAME: &'static str = K::NAME;
}

struct ExportCall<K> {
    handler: Arc<dyn IngestHandler>,
    kind: PhantomData<K>,
}

impl<K: ServiceKind> UnaryService<Bytes> for ExportCall<K> {
    type Response = Vec<u8>;
    type Future = futures::future::BoxFuture<'static, Result<tonic::Response<Vec<u8>>, Status>>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let handler = Arc::clone(&self.handler);
        Box::pin(async move {
            let bytes = request.into_inner();
            let decoded = decode_protobuf(K::SIGNAL, &bytes)
                .map_err(|error| Status::invalid_argument(error.to_string()))?;
            let export = OtlpExport {
                request: decoded,
                protobuf: Some(bytes),
                receiver: RECEIVER,
            };
            let outcome = handler.export(export).await.map_err(status_of)?;
            Ok(tonic::Response::new(
                ExportResponse::new(K::SIGNAL, &outcome).to_protobuf(),
            ))
        })
    }
}

fn status_of(error: IngestError) -> Status {
    match error {
        IngestError::Throttled {
            message,
            retry_after,
        } => retryable(tonic::Code::ResourceExhausted, message, retry_after),
        IngestError::Unavailable(message) => {
            retryable(tonic::Code::Unavailable, message, Duration::from_secs(1))
        }
        IngestError::Internal(message) => Status::internal(message),
    }
}

/// `google.rpc.Status` with a `google.rpc.RetryInfo` detail, which OTLP clients read to
/// know that (and when) a RESOURCE_EXHAUSTED answer may be retried.
fn retryable(code: tonic::Code, message: String, retry_after: Duration) -> Status {
    let details =
        vispyr_proto::rpc::retry_status_details(code as i32, &message, retry_after.as_secs());
    Status::with_details(code, message, Bytes::from(details))
}

fn compression() -> EnabledCompressionEncodings {
    let mut encodings = EnabledCompressionEncodings::default();
    encodings.enable(CompressionEncoding::Gzip);
    encodings.enable(CompressionEncoding::Zstd);
    encodings
}

impl<K, B> tower::Service<http::Request<B>> for ExportService<K>
where
    K: ServiceKind,
    B: http_body::Body + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let handler = Arc::clone(&self.handler);
        let max_message = self.max_message;
        let expected = format!("/{}/Export", K::NAME);
        Box::pin(async move {
            if request.uri().path() != expected {
                return Ok(Status::unimplemented(format!(
                    "unknown method {}",
                    request.uri().path()
                ))
                .into_http());
            }
            let mut grpc = Grpc::new(RawCodec)
                .apply_compression_config(compression(), compression())
                .apply_max_message_size_config(Some(max_message), None);
            let call = ExportCall::<K> {
                handler,
                kind: PhantomData,
            };
            Ok(grpc.unary(call, request).await)
        })
    }
}

/// The four OTLP export services, ready to add to a tonic server.
pub struct Services {
    pub traces: ExportService<TraceKind>,
    pub metrics: ExportService<MetricsKind>,
    pub logs: ExportService<LogsKind>,
    pub profiles: ExportService<ProfilesKind>,
}

/// The four services over one handler.
pub fn services(handler: Arc<dyn IngestHandler>, max_message: usize) -> Services {
    Services {
        traces: ExportService::new(Arc::clone(&handler), max_message),
        metrics: ExportService::new(Arc::clone(&handler), max_message),
        logs: ExportService::new(Arc::clone(&handler), max_message),
        profiles: ExportService::new(handler, max_message),
    }
}
