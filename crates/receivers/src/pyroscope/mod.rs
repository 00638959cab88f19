//! Pyroscope ingest on the HTTP port: the SDKs' `POST /ingest` (pprof, JFR and
//! collapsed-stack bodies) and Grafana Alloy's `POST /push.v1.PusherService/Push`
//! (Connect, protobuf or JSON). Everything is normalised to
//! [`NormalizedProfile`]s with Pyroscope profile type ids and handed to
//! [`IngestHandler::ingest_profiles`].

pub mod folded;
mod ingest;
mod jfr;
pub mod name;
pub mod pprof;
mod push;

use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use crate::IngestHandler;
pub(crate) use crate::with_retry_after;

/// Receiver names in self-telemetry.
pub const RECEIVER_INGEST: &str = "pyroscope_ingest";
pub const RECEIVER_PUSH: &str = "pyroscope_push";

struct AppState {
    handler: Arc<dyn IngestHandler>,
    max_body: usize,
}

/// `POST /ingest` and `POST /push.v1.PusherService/Push`. `max_body` bounds bodies
/// before and after decompression.
pub fn router(handler: Arc<dyn IngestHandler>, max_body: usize) -> Router {
    let state = Arc::new(AppState { handler, max_body });
    Router::new()
        .route("/ingest", post(ingest::ingest))
        .route("/push.v1.PusherService/Push", post(push::push))
        .with_state(state)
}

/// A plain-text error, as the Pyroscope server answers `/ingest`.
fn text_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{message}\n"),
    )
        .into_response()
}
