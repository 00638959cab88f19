//! What the agent sends to the server, and the seam between the parts that
//! produce data (host metrics, the log tailer, the profiler, the local OTLP and
//! Pyroscope listeners) and the part that delivers it (the durable forwarder,
//! or [`DirectSender`] in tests).

use std::future::Future;
use std::pin::Pin;

use anyhow::{Context, bail};

/// Which of the server's listeners a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// The HTTP API port (`:4040`): Pyroscope `/ingest`, remote write, Loki push.
    Http,
    /// The OTLP/HTTP port (`:4318`): `/v1/traces`, `/v1/metrics`, `/v1/logs`,
    /// `/v1development/profiles`.
    OtlpHttp,
}

/// One HTTP POST to the server, kept as bytes so it can be queued on disk
/// and replayed unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub endpoint: Endpoint,
    /// Path and query, e.g. `/v1/logs` or `/ingest?name=app.cpu&format=pprof`.
    pub path_and_query: String,
    pub content_type: String,
    /// `gzip`, `snappy`, … when the body is compressed.
    pub content_encoding: Option<String>,
    pub body: Vec<u8>,
}

/// Where the server's two listeners are.
#[derive(Debug, Clone)]
pub struct ServerUrls {
    /// e.g. `http://vispyr:4040`
    pub http: String,
    /// e.g. `http://vispyr:4318`
    pub otlp_http: String,
}

impl ServerUrls {
    /// `--server http://host:4040` with the OTLP/HTTP port on the same host
    /// (`otlp_http` overrides it).
    pub fn new(server: &str, otlp_http: Option<&str>) -> anyhow::Result<ServerUrls> {
        let http = server.trim_end_matches('/').to_string();
        let check = |url: &str, flag: &str| {
            if !url.starts_with("http://") && !url.starts_with("https://") {
                bail!("{flag} must be an http:// or https:// URL, got {url:?}");
            }
            Ok(())
        };
        check(&http, "--server")?;
        let otlp_http = match otlp_http {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => {
                let (scheme, rest) = http.split_once("://").context("URL without scheme")?;
                let authority = rest.split('/').next().unwrap_or(rest);
                let host = match authority.rsplit_once(':') {
                    Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
                    _ => authority,
                };
                format!("{scheme}://{host}:4318")
            }
        };
        check(&otlp_http, "--otlp-http")?;
        Ok(ServerUrls { http, otlp_http })
    }

    pub fn url(&self, request: &Outgoing) -> String {
        let base = match request.endpoint {
            Endpoint::Http => &self.http,
            Endpoint::OtlpHttp => &self.otlp_http,
        };
        format!("{base}{}", request.path_and_query)
    }
}

/// Why a request could not be handed over.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The queue is full (or the server said so): try again later.
    #[error("back-pressure: {0}")]
    Full(String),
    /// The request itself is bad and will never be accepted.
    #[error("rejected: {0}")]
    Rejected(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SendError>> + Send + 'a>>;

/// Takes requests for delivery. The durable forwarder returns once the
/// request is on disk; [`DirectSender`] once the server answered.
pub trait Sink: Send + Sync {
    fn send(&self, request: Outgoing) -> SendFuture<'_>;
}

/// Posts each request straight to the server (no queue): for tests and for
/// `--no-queue`.
pub struct DirectSender {
    client: reqwest::Client,
    urls: ServerUrls,
}

impl DirectSender {
    pub fn new(urls: ServerUrls) -> anyhow::Result<DirectSender> {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(DirectSender { client, urls })
    }

    /// One POST; maps the answer to [`SendError`] (4xx but 408 and 429 is a
    /// rejection). An empty `content_type` sends no `Content-Type`.
    pub async fn post(&self, request: &Outgoing) -> Result<(), SendError> {
        let url = self.urls.url(request);
        let mut builder = self.client.post(&url).body(request.body.clone());
        if !request.content_type.is_empty() {
            builder = builder.header("Content-Type", &request.content_type);
        }
        if let Some(encoding) = &request.content_encoding {
            builder = builder.header("Content-Encoding", encoding);
        }
        let response = builder.send().await.map_err(|error| {
            // reqwest's message hides the cause ("connection refused").
            let mut message = format!("POST {url}: {error}");
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            SendError::Other(anyhow::anyhow!(message))
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        // Error bodies may be protobuf (`google.rpc.Status`): keep the text.
        let text: String = text
            .chars()
            .filter(|c| !c.is_control() && *c != char::REPLACEMENT_CHARACTER)
            .collect();
        let message = format!("POST {url} → {status}: {}", text.trim());
        if status.as_u16() == 429 || status.as_u16() == 503 || status.as_u16() == 507 {
            Err(SendError::Full(message))
        } else if status.is_client_error() && status.as_u16() != 408 {
            Err(SendError::Rejected(message))
        } else {
            Err(SendError::Other(anyhow::anyhow!(message)))
        }
    }
}

impl Sink for DirectSender {
    fn send(&self, request: Outgoing) -> SendFuture<'_> {
        Box::pin(async move { self.post(&request).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otlp_url_defaults_to_port_4318_on_the_server_host() {
        let urls = ServerUrls::new("http://vispyr.local:4040/", None).unwrap();
        assert_eq!(urls.http, "http://vispyr.local:4040");
        assert_eq!(urls.otlp_http, "http://vispyr.local:4318");
        let urls = ServerUrls::new("https://[::1]:9999", None).unwrap();
        assert_eq!(urls.otlp_http, "https://[::1]:4318");
        let urls = ServerUrls::new("http://a:1", Some("http://b:2/")).unwrap();
        assert_eq!(urls.otlp_http, "http://b:2");
        assert!(ServerUrls::new("vispyr:4040", None).is_err());
    }
}
