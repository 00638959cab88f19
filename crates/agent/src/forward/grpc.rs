//! The local OTLP/gRPC listener: the four `Export` services. Each request is
//! queued as the protobuf body of the server's OTLP/HTTP `POST /v1/...` — the
//! gRPC message *is* an `Export*ServiceRequest`, so its bytes are forwarded as
//! received (after gRPC decompression) with no decode and re-encode, which
//! also keeps fields this agent does not know. As on OTLP/HTTP, only the size
//! is checked here; the server validates the content.
//!
//! The services are written against tonic's server primitives with a codec
//! that passes bytes through, as the server's receiver
//! (`crates/receivers/src/otlp/grpc.rs`) does, rather than with
//! opentelemetry-proto's generated servers, which would decode every request.

use std::convert::Infallible;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes};
use tonic::body::Body;
use tonic::codec::{
    Codec, CompressionEncoding, DecodeBuf, Decoder, EnabledCompressionEncodings, EncodeBuf, Encoder,
};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Code, Status};

use crate::outgoing::{Endpoint, Outgoing, SendError, Sink};

/// Which OTLP service an [`ExportService`] is.
pub trait ServiceKind: Send + Sync + 'static {
    /// The gRPC service name.
    const NAME: &'static str;
    /// The server's OTLP/HTTP path for the same signal.
    const HTTP_PATH: &'static str;
}

pub struct Traces;
pub struct Metrics;
pub struct Logs;
pub struct Profiles;

impl ServiceKind for Traces {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
    const HTTP_PATH: &'static str = "/v1/traces";
}
impl ServiceKind for Metrics {
    const NAME: &'static str = "opentelemetry.proto.collector.metrics.v1.MetricsService";
    const HTTP_PATH: &'static str = "/v1/metrics";
}
impl ServiceKind for Logs {
    const NAME: &'static str = "opentelemetry.proto.collector.logs.v1.LogsService";
    const HTTP_PATH: &'static str = "/v1/logs";
}
impl ServiceKind for Profiles {
    const NAME: &'static str =
        "opentelemetry.proto.collector.profiles.v1development.ProfilesService";
    const HTTP_PATH: &'static str = "/v1development/profiles";
}

/// Hands the request's bytes over undecoded; writes response bytes as given.
struct RawCodec;
struct RawDecoder;
struct RawEncoder;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Bytes;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> RawDecoder {
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

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

/// One OTLP export service that queues what it receives.
pub struct ExportService<K> {
    sink: Arc<dyn Sink>,
    max_message: usize,
    kind: PhantomData<K>,
}

impl<K> Clone for ExportService<K> {
    fn clone(&self) -> Self {
        ExportService {
            sink: Arc::clone(&self.sink),
            max_message: self.max_message,
            kind: PhantomData,
        }
    }
}

impl<K: ServiceKind> ExportService<K> {
    pub fn new(sink: Arc<dyn Sink>, max_message: usize) -> Self {
        ExportService {
            sink,
            max_message,
            kind: PhantomData,
        }
    }
}

impl<K: ServiceKind> NamedService for ExportService<K> {
    const NAME: &'static str = K::NAME;
}

struct ExportCall<K> {
    sink: Arc<dyn Sink>,
    kind: PhantomData<K>,
}

impl<K: ServiceKind> UnaryService<Bytes> for ExportCall<K> {
    type Response = Vec<u8>;
    type Future = futures::future::BoxFuture<'static, Result<tonic::Response<Vec<u8>>, Status>>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let sink = Arc::clone(&self.sink);
        Box::pin(async move {
            let request = Outgoing {
                endpoint: Endpoint::OtlpHttp,
                path_and_query: K::HTTP_PATH.to_string(),
                content_type: "application/x-protobuf".to_string(),
                content_encoding: None,
                body: request.into_inner().to_vec(),
            };
            match sink.send(request).await {
                // An empty Export*ServiceResponse: everything accepted.
                Ok(()) => Ok(tonic::Response::new(Vec::new())),
                Err(error) => Err(status_of(error)),
            }
        })
    }
}

fn status_of(error: SendError) -> Status {
    match error {
        SendError::Full(message) => retryable(
            Code::ResourceExhausted,
            message,
            Duration::from_secs(super::listen::RETRY_AFTER_SECS),
        ),
        SendError::Rejected(message) => Status::invalid_argument(message),
        SendError::Other(error) => retryable(
            Code::Unavailable,
            error.to_string(),
            Duration::from_secs(super::listen::RETRY_AFTER_SECS),
        ),
    }
}

/// A status with a `google.rpc.RetryInfo` detail: OTLP clients retry
/// RESOURCE_EXHAUSTED only when it is there, after the delay it gives.
fn retryable(code: Code, message: String, retry_after: Duration) -> Status {
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
        let sink = Arc::clone(&self.sink);
        let max_message = self.max_message;
        Box::pin(async move {
            let expected = format!("/{}/Export", K::NAME);
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
                sink,
                kind: PhantomData,
            };
            Ok(grpc.unary(call, request).await)
        })
    }
}
