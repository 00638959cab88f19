//! The web UI: the single-page app built by Vite into `ui/dist`, embedded in
//! release builds (debug builds read `ui/dist` from disk, so a rebuilt UI shows
//! up without recompiling the server).
//!
//! Every GET that no API route answers lands here: a file of `ui/dist` is
//! served as is (hashed `assets/` for a year, everything else revalidated);
//! any other path that is not under an API prefix gets `index.html`, so deep
//! links such as `/traces/<id>` load the app, which routes on the client.

use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "../../ui/dist"]
#[allow_missing = true]
struct Assets;

/// Paths owned by APIs: an unknown path below them is a 404, not the app.
const API_PREFIXES: &[&str] = &[
    "/api/",
    "/prometheus/",
    "/loki/",
    "/tempo/",
    "/pyroscope/",
    "/otlp/",
    "/v1/",
];

/// The fallback handler of the `:4040` router.
pub async fn handler(method: Method, uri: Uri) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return (StatusCode::NOT_FOUND, "no such route\n").into_response();
    }
    let path = uri.path();
    if API_PREFIXES.iter().any(|prefix| path.starts_with(prefix)) {
        return (
            StatusCode::NOT_FOUND,
            format!("no API route {path} (see docs/ for the API reference)\n"),
        )
            .into_response();
    }
    let file = path.trim_start_matches('/');
    // Embedded names never contain `..`; refusing them keeps debug builds,
    // which read from disk, inside ui/dist.
    if !file.is_empty()
        && !file.split('/').any(|part| part == ".." || part.is_empty())
        && let Some(asset) = Assets::get(file)
    {
        return asset_response(file, asset);
    }
    if file.starts_with("assets/") {
        // A stale hashed name after a redeploy: HTML here would be parsed as script.
        return (StatusCode::NOT_FOUND, format!("no UI asset {path}\n")).into_response();
    }
    match Assets::get("index.html") {
        Some(index) => asset_response("index.html", index),
        None => not_built(),
    }
}

fn asset_response(name: &str, asset: rust_embed::EmbeddedFile) -> Response {
    let cache = if name.starts_with("assets/") {
        // Vite puts a content hash in every name under assets/.
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mime = asset.metadata.mimetype();
    let mut response = Response::new(Body::from(asset.data.into_owned()));
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(mime) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn not_built() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<!doctype html><title>Vispyr</title><h1>Vispyr</h1>\
         <p>The web UI is not built into this binary. Build it with \
         <code>npm --prefix ui ci &amp;&amp; npm --prefix ui run build</code> and rebuild \
         (release builds embed <code>ui/dist</code>; debug builds read it from disk). \
         The APIs under <code>/api/v1/</code>, <code>/prometheus</code>, <code>/loki</code>, \
         <code>/tempo</code> and <code>/pyroscope</code> work without it.</p>\n",
    )
        .into_response()
}

/// Completes the `:4040` router: the UI answers every path no route took, and
/// responses are gzip-compressed for clients that ask (the UI's JavaScript and
/// the JSON of large traces and flamegraphs; event streams are left alone).
pub fn finish(router: axum::Router) -> axum::Router {
    router
        .fallback(handler)
        .layer(tower_http::compression::CompressionLayer::new().gzip(true))
}
