//! Prometheus remote write 1.0 (snappy-compressed protobuf) to the server's
//! `/prometheus/api/v1/write`.

use anyhow::{Context, bail};
use prost::Message;
use vispyr_proto::prometheus::{Label, Sample, TimeSeries, WriteRequest};
use vispyr_scrape::Sample as ScrapedSample;

pub struct RemoteWrite {
    client: reqwest::Client,
    url: String,
}

impl RemoteWrite {
    pub fn new(server: &str) -> anyhow::Result<RemoteWrite> {
        let base = server.trim_end_matches('/');
        if !base.starts_with("http://") && !base.starts_with("https://") {
            bail!("--server must be an http:// or https:// URL, got {server:?}");
        }
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(RemoteWrite {
            client,
            url: format!("{base}/prometheus/api/v1/write"),
        })
    }

    pub async fn push(&self, samples: &[ScrapedSample]) -> anyhow::Result<()> {
        let body = encode(samples)?;
        let response = self
            .client
            .post(&self.url)
            .header("Content-Type", "application/x-protobuf")
            .header("Content-Encoding", "snappy")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(body)
            .send()
            .await
            .with_context(|| format!("POST {}", self.url))?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            bail!("POST {} → {status}: {}", self.url, text.trim());
        }
        Ok(())
    }
}

/// One time series per sample (each collection has one point per series).
pub fn encode(samples: &[ScrapedSample]) -> anyhow::Result<Vec<u8>> {
    let request = WriteRequest {
        timeseries: samples
            .iter()
            .map(|sample| TimeSeries {
                labels: sample
                    .labels
                    .iter()
                    .map(|(name, value)| Label {
                        name: name.clone(),
                        value: value.clone(),
                    })
                    .collect(),
                samples: vec![Sample {
                    value: sample.v,
                    timestamp: sample.t,
                }],
                ..Default::default()
            })
            .collect(),
        metadata: Vec::new(),
    };
    snap::raw::Encoder::new()
        .compress_vec(&request.encode_to_vec())
        .context("snappy compression failed")
}
