//! Prometheus remote write 1.0 (snappy-compressed protobuf) to the server's
//! `/prometheus/api/v1/write`.

use anyhow::Context;
use prost::Message;
use vispyr_proto::prometheus::{Label, Sample, TimeSeries, WriteRequest};
use vispyr_scrape::Sample as ScrapedSample;

use crate::outgoing::{Endpoint, Outgoing};

/// A remote write request of `samples` for the server's `:4040`.
pub fn request(samples: &[ScrapedSample]) -> anyhow::Result<Outgoing> {
    Ok(Outgoing {
        endpoint: Endpoint::Http,
        path_and_query: "/prometheus/api/v1/write".to_string(),
        content_type: "application/x-protobuf".to_string(),
        content_encoding: Some("snappy".to_string()),
        body: encode(samples)?,
    })
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
