//! The agent's local listeners for apps on its host. Each request is queued
//! unchanged — body, `Content-Type` (a multipart boundary included),
//! `Content-Encoding`, path and query — and answered as soon as it is on disk:
//!
//! * OTLP/HTTP (`--otlp-http-addr`, default `:4318`): `POST /v1/traces`,
//!   `/v1/metrics`, `/v1/logs`, `/v1development/profiles`, protobuf or JSON,
//!   optionally gzip or zstd compressed. Success is an empty
//!   `Export*ServiceResponse` in the request's encoding, as the OTLP spec asks.
//! * OTLP/gRPC (`--otlp-grpc-addr`, default `:4317`): see [`super::grpc`].
//! * Pyroscope (`--pyroscope-addr`, default `:4040`): `POST /ingest` (the
//!   SDKs) and `POST /push.v1.PusherService/Push` (Alloy, newer SDKs).
//!
//! Only the size (and that the media type and encoding are ones the server
//! takes) is checked; the server validates the content when the request is
//! delivered. Answers: 413 for a body over `max_body`, 415 for an unknown
//! media type or encoding, 503 with `Retry-After` when the queue is full (gRPC:
//! RESOURCE_EXHAUSTED with `RetryInfo`), so SDKs retry later.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http_body_util::{BodyExt, Limited};
use prost::Message;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::grpc;
use crate::outgoing::{Endpoint, Outgoing, SendError, Sink};

/// The `Retry-After` given when the queue is full (seconds).
pub const RETRY_AFTER_SECS: u64 = 5;

/// Where the listeners listen (`None`: not at all) and how big a request may be.
#[derive(Debug, Clone)]
pub struct ListenConfig {
    pub otlp_grpc: Option<SocketAddr>,
    pub otlp_http: Option<SocketAddr>,
    pub pyroscope: Option<SocketAddr>,
    /// The largest request body (compressed, as received; for gRPC the
    /// decompressed message).
    pub max_body: usize,
}

impl Default for ListenConfig {
    fn default() -> Self {
        ListenConfig {
            otlp_grpc: Some(SocketAddr::from(([0, 0, 0, 0], 4317))),
            otlp_http: Some(SocketAddr::from(([0, 0, 0, 0], 4318))),
            pyroscope: Some(SocketAddr::from(([0, 0, 0, 0], 4040))),
            max_body: 16 << 20,
        }
    }
}

/// The running listeners.
pub struct Listeners {
    /// The addresses actually bound (a port 0 resolved).
    pub otlp_grpc: Option<SocketAddr>,
    pub otlp_http: Option<SocketAddr>,
    pub pyroscope: Option<SocketAddr>,
    tasks: Vec<(&'static str, JoinHandle<anyhow::Result<()>>)>,
}

impl Listeners {
    /// Waits for the listeners to finish (after `stop`), requests in flight
    /// answered.
    pub async fn join(self) {
        for (name, task) in self.tasks {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::warn!(listener = name, %error, "listener failed"),
                Err(error) => tracing::warn!(listener = name, %error, "listener panicked"),
            }
        }
    }
}

async fn bind(addr: SocketAddr, what: &str, flag: &str) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!(
            "cannot listen for {what} on {addr} ({flag}); pick another address, or `{flag} off` \
             (an agent on the server's host needs other ports than the server's)"
        )
    })
}

/// Binds every configured listener (failing if one cannot be bound), then
/// serves until `stop` turns true.
pub async fn start(
    config: &ListenConfig,
    sink: Arc<dyn Sink>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<Listeners> {
    let grpc_listener = match config.otlp_grpc {
        Some(addr) => Some(bind(addr, "OTLP/gRPC", "--otlp-grpc-addr").await?),
        None => None,
    };
    let http_listener = match config.otlp_http {
        Some(addr) => Some(bind(addr, "OTLP/HTTP", "--otlp-http-addr").await?),
        None => None,
    };
    let pyroscope_listener = match config.pyroscope {
        Some(addr) => Some(bind(addr, "Pyroscope", "--pyroscope-addr").await?),
        None => None,
    };
    let stopped = |mut receiver: watch::Receiver<bool>| async move {
        let _ = receiver.wait_for(|stop| *stop).await;
    };
    let mut listeners = Listeners {
        otlp_grpc: None,
        otlp_http: None,
        pyroscope: None,
        tasks: Vec::new(),
    };
    if let Some(listener) = grpc_listener {
        let addr = listener.local_addr()?;
        listeners.otlp_grpc = Some(addr);
        let max = config.max_body;
        let server = tonic::transport::Server::builder()
            .add_service(grpc::ExportService::<grpc::Traces>::new(
                Arc::clone(&sink),
                max,
            ))
            .add_service(grpc::ExportService::<grpc::Metrics>::new(
                Arc::clone(&sink),
                max,
            ))
            .add_service(grpc::ExportService::<grpc::Logs>::new(
                Arc::clone(&sink),
                max,
            ))
            .add_service(grpc::ExportService::<grpc::Profiles>::new(
                Arc::clone(&sink),
                max,
            ))
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::TcpListenerStream::new(listener),
                stopped(stop.clone()),
            );
        listeners.tasks.push((
            "otlp_grpc",
            tokio::spawn(async move { server.await.map_err(anyhow::Error::from) }),
        ));
        tracing::info!(%addr, "agent: OTLP/gRPC listener");
    }
    let state = Arc::new(AppState {
        sink,
        max_body: config.max_body,
    });
    if let Some(listener) = http_listener {
        let addr = listener.local_addr()?;
        listeners.otlp_http = Some(addr);
        let server = axum::serve(listener, otlp_router(Arc::clone(&state)))
            .with_graceful_shutdown(stopped(stop.clone()))
            .into_future();
        listeners.tasks.push((
            "otlp_http",
            tokio::spawn(async move { server.await.map_err(anyhow::Error::from) }),
        ));
        tracing::info!(%addr, "agent: OTLP/HTTP listener");
    }
    if let Some(listener) = pyroscope_listener {
        let addr = listener.local_addr()?;
        listeners.pyroscope = Some(addr);
        // SDKs configured with a trailing slash post to `//ingest`.
        let service = tower::Layer::layer(
            &tower::util::MapRequestLayer::new(collapse_slashes),
            pyroscope_router(state),
        );
        let server = axum::serve(
            listener,
            axum::ServiceExt::<Request>::into_make_service(service),
        )
        .with_graceful_shutdown(stopped(stop.clone()))
        .into_future();
        listeners.tasks.push((
            "pyroscope",
            tokio::spawn(async move { server.await.map_err(anyhow::Error::from) }),
        ));
        tracing::info!(%addr, "agent: Pyroscope listener");
    }
    Ok(listeners)
}

struct AppState {
    sink: Arc<dyn Sink>,
    max_body: usize,
}

/// `POST /v1/traces`, `/v1/metrics`, `/v1/logs`, `/v1development/profiles`.
fn otlp_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route(
            "/v1/traces",
            post(
                |State(s): State<Arc<AppState>>, h: HeaderMap, b: Body| async move {
                    otlp(&s, "/v1/traces", &h, b).await
                },
            ),
        )
        .route(
            "/v1/metrics",
            post(
                |State(s): State<Arc<AppState>>, h: HeaderMap, b: Body| async move {
                    otlp(&s, "/v1/metrics", &h, b).await
                },
            ),
        )
        .route(
            "/v1/logs",
            post(
                |State(s): State<Arc<AppState>>, h: HeaderMap, b: Body| async move {
                    otlp(&s, "/v1/logs", &h, b).await
                },
            ),
        )
        .route(
            "/v1development/profiles",
            post(
                |State(s): State<Arc<AppState>>, h: HeaderMap, b: Body| async move {
                    otlp(&s, "/v1development/profiles", &h, b).await
                },
            ),
        )
        .with_state(state)
}

/// `POST /ingest` and `POST /push.v1.PusherService/Push`.
fn pyroscope_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/ingest", post(ingest))
        .route("/push.v1.PusherService/Push", post(push))
        .with_state(state)
}

fn collapse_slashes(mut request: Request) -> Request {
    let uri = request.uri();
    if !uri.path().contains("//") {
        return request;
    }
    let mut path = String::with_capacity(uri.path().len());
    for c in uri.path().chars() {
        if !(c == '/' && path.ends_with('/')) {
            path.push(c);
        }
    }
    if let Some(query) = uri.query() {
        path.push('?');
        path.push_str(query);
    }
    let mut parts = uri.clone().into_parts();
    if let Ok(path_and_query) = path.parse() {
        parts.path_and_query = Some(path_and_query);
        if let Ok(uri) = Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
    request
}

/// Why a request is refused before it is queued.
enum Refusal {
    /// 413
    TooLarge(String),
    /// 415
    Unsupported(String),
    /// 400
    Bad(String),
    /// From the queue.
    Queue(SendError),
}

impl Refusal {
    fn status(&self) -> (StatusCode, Option<u64>) {
        match self {
            Refusal::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, None),
            Refusal::Unsupported(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, None),
            Refusal::Bad(_) => (StatusCode::BAD_REQUEST, None),
            // The only requests the queue rejects are too large for it.
            Refusal::Queue(SendError::Rejected(_)) => (StatusCode::PAYLOAD_TOO_LARGE, None),
            // Full, or the disk failed: both may pass; SDKs retry a 503.
            Refusal::Queue(_) => (StatusCode::SERVICE_UNAVAILABLE, Some(RETRY_AFTER_SECS)),
        }
    }

    fn message(&self) -> String {
        match self {
            Refusal::TooLarge(message) | Refusal::Unsupported(message) | Refusal::Bad(message) => {
                message.clone()
            }
            Refusal::Queue(error) => error.to_string(),
        }
    }

    /// `google.rpc.Status` code for OTLP error bodies.
    fn grpc_code(&self) -> i32 {
        match self.status().0 {
            StatusCode::SERVICE_UNAVAILABLE => 14, // UNAVAILABLE
            StatusCode::PAYLOAD_TOO_LARGE => 8,    // RESOURCE_EXHAUSTED
            _ => 3,                                // INVALID_ARGUMENT
        }
    }

    fn connect_code(&self) -> &'static str {
        match self.status().0 {
            StatusCode::SERVICE_UNAVAILABLE => "unavailable",
            StatusCode::PAYLOAD_TOO_LARGE => "resource_exhausted",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unimplemented",
            _ => "invalid_argument",
        }
    }
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// The media type of a `Content-Type`, lower case, without parameters.
fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// `Content-Encoding`, if it is one the server decodes.
fn content_encoding(headers: &HeaderMap) -> Result<Option<String>, Refusal> {
    let Some(value) = headers.get(header::CONTENT_ENCODING) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or("?").trim().to_ascii_lowercase();
    match text.as_str() {
        "" | "identity" => Ok(None),
        "gzip" | "x-gzip" | "zstd" => Ok(Some(text)),
        other => Err(Refusal::Unsupported(format!(
            "unsupported Content-Encoding {other:?}: use gzip, zstd or none"
        ))),
    }
}

async fn read_body(body: Body, limit: usize) -> Result<Vec<u8>, Refusal> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes().to_vec()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => Err(Refusal::TooLarge(
            format!("the request body is larger than {limit} bytes"),
        )),
        Err(error) => Err(Refusal::Bad(format!(
            "cannot read the request body: {error}"
        ))),
    }
}

/// Checks and reads a request into an [`Outgoing`].
async fn outgoing(
    state: &AppState,
    endpoint: Endpoint,
    path_and_query: String,
    headers: &HeaderMap,
    body: Body,
) -> Result<Outgoing, Refusal> {
    let content_encoding = content_encoding(headers)?;
    let body = read_body(body, state.max_body).await?;
    Ok(Outgoing {
        endpoint,
        path_and_query,
        content_type: header_text(headers, header::CONTENT_TYPE)
            .unwrap_or("")
            .to_string(),
        content_encoding,
        body,
    })
}

async fn queue(state: &AppState, request: Result<Outgoing, Refusal>) -> Result<(), Refusal> {
    state.sink.send(request?).await.map_err(Refusal::Queue)
}

fn with_retry_after(mut response: Response, seconds: Option<u64>) -> Response {
    if let Some(seconds) = seconds
        && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// `google.rpc.Status`, the body of an OTLP/HTTP error response.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

async fn otlp(state: &AppState, path: &'static str, headers: &HeaderMap, body: Body) -> Response {
    let media = media_type(header_text(headers, header::CONTENT_TYPE).unwrap_or(""));
    let json = media == "application/json";
    let result = if json || media == "application/x-protobuf" || media == "application/protobuf" {
        let request = outgoing(state, Endpoint::OtlpHttp, path.to_string(), headers, body).await;
        queue(state, request).await
    } else {
        Err(Refusal::Unsupported(format!(
            "unsupported Content-Type {media:?}: use application/x-protobuf or application/json"
        )))
    };
    let content_type = if json {
        "application/json"
    } else {
        "application/x-protobuf"
    };
    match result {
        // An empty Export*ServiceResponse: everything accepted.
        Ok(()) => {
            let body: &'static [u8] = if json { b"{}" } else { b"" };
            (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response()
        }
        Err(refusal) => {
            let (status, retry) = refusal.status();
            let error = RpcStatus {
                code: refusal.grpc_code(),
                message: refusal.message(),
            };
            let body = if json {
                serde_json::json!({"code": error.code, "message": error.message})
                    .to_string()
                    .into_bytes()
            } else {
                error.encode_to_vec()
            };
            with_retry_after(
                (status, [(header::CONTENT_TYPE, content_type)], body).into_response(),
                retry,
            )
        }
    }
}

/// The Pyroscope SDKs' `POST /ingest?name=…&from=…&format=…`: the query and the
/// body are kept byte for byte.
async fn ingest(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let path_and_query = match uri.query() {
        Some(query) => format!("/ingest?{query}"),
        None => "/ingest".to_string(),
    };
    let request = outgoing(&state, Endpoint::Http, path_and_query, &headers, body).await;
    match queue(&state, request).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(refusal) => {
            let (status, retry) = refusal.status();
            with_retry_after(
                (
                    status,
                    [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                    format!("{}\n", refusal.message()),
                )
                    .into_response(),
                retry,
            )
        }
    }
}

/// `POST /push.v1.PusherService/Push` (Connect unary, protobuf or JSON).
async fn push(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    let json =
        media_type(header_text(&headers, header::CONTENT_TYPE).unwrap_or("")) == "application/json";
    let request = outgoing(
        &state,
        Endpoint::Http,
        "/push.v1.PusherService/Push".to_string(),
        &headers,
        body,
    )
    .await;
    match queue(&state, request).await {
        // An empty push.v1.PushResponse.
        Ok(()) if json => ([(header::CONTENT_TYPE, "application/json")], "{}").into_response(),
        Ok(()) => ([(header::CONTENT_TYPE, "application/proto")], "").into_response(),
        Err(refusal) => {
            let (status, retry) = refusal.status();
            let body =
                serde_json::json!({"code": refusal.connect_code(), "message": refusal.message()});
            with_retry_after(
                (
                    status,
                    [(header::CONTENT_TYPE, "application/json")],
                    body.to_string(),
                )
                    .into_response(),
                retry,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn double_slashes_collapse_and_the_query_stays() {
        let request = Request::builder()
            .uri("//ingest?name=a%20b&from=1")
            .body(Body::empty())
            .unwrap();
        assert_eq!(
            collapse_slashes(request).uri().to_string(),
            "/ingest?name=a%20b&from=1"
        );
    }
}
