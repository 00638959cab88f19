//! A batch of log records → one gzipped OTLP/HTTP protobuf request for the
//! server's `/v1/logs`.

use std::io::Write;
use std::sync::Arc;

use flate2::Compression;
use flate2::write::GzEncoder;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

use crate::outgoing::{Endpoint, Outgoing};

/// The instrumentation scope of every record the tailer sends, so they can
/// be told apart from records an SDK sent.
pub const SCOPE_NAME: &str = "vispyr.agent.logs";

pub fn string_attribute(key: &str, value: impl Into<String>) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

/// One resource (`service.name`, `host.name`) per service, records in the
/// order given.
pub fn request(
    records: impl IntoIterator<Item = (Arc<str>, LogRecord)>,
    host_name: &str,
) -> std::io::Result<Outgoing> {
    let mut by_service: Vec<(Arc<str>, Vec<LogRecord>)> = Vec::new();
    for (service, record) in records {
        match by_service.iter_mut().find(|(name, _)| *name == service) {
            Some((_, list)) => list.push(record),
            None => by_service.push((service, vec![record])),
        }
    }
    let resource_logs = by_service
        .into_iter()
        .map(|(service, log_records)| ResourceLogs {
            resource: Some(Resource {
                attributes: vec![
                    string_attribute("service.name", &*service),
                    string_attribute("host.name", host_name),
                ],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: SCOPE_NAME.to_string(),
                    ..Default::default()
                }),
                log_records,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        })
        .collect();
    let body = ExportLogsServiceRequest { resource_logs }.encode_to_vec();
    // Log text compresses about tenfold; that is less to queue on disk and
    // less to send.
    let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::fast());
    encoder.write_all(&body)?;
    Ok(Outgoing {
        endpoint: Endpoint::OtlpHttp,
        path_and_query: "/v1/logs".to_string(),
        content_type: "application/x-protobuf".to_string(),
        content_encoding: Some("gzip".to_string()),
        body: encoder.finish()?,
    })
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn groups_by_service_and_decodes_back() {
        let record = |body: &str| LogRecord {
            body: Some(AnyValue {
                value: Some(any_value::Value::StringValue(body.to_string())),
            }),
            ..Default::default()
        };
        let api: Arc<str> = Arc::from("api");
        let web: Arc<str> = Arc::from("web");
        let outgoing = request(
            [
                (api.clone(), record("a1")),
                (web, record("w1")),
                (api, record("a2")),
            ],
            "host-1",
        )
        .unwrap();
        assert_eq!(outgoing.endpoint, Endpoint::OtlpHttp);
        assert_eq!(outgoing.path_and_query, "/v1/logs");
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(&outgoing.body[..])
            .read_to_end(&mut decoded)
            .unwrap();
        let request = ExportLogsServiceRequest::decode(&decoded[..]).unwrap();
        assert_eq!(request.resource_logs.len(), 2);
        let first = &request.resource_logs[0];
        let attributes = &first.resource.as_ref().unwrap().attributes;
        assert_eq!(attributes[0], string_attribute("service.name", "api"));
        assert_eq!(attributes[1], string_attribute("host.name", "host-1"));
        let bodies: Vec<_> = first.scope_logs[0]
            .log_records
            .iter()
            .map(|r| r.body.clone().unwrap())
            .collect();
        assert_eq!(bodies.len(), 2);
        assert_eq!(
            bodies[1].value,
            Some(any_value::Value::StringValue("a2".into()))
        );
        assert_eq!(first.scope_logs[0].scope.as_ref().unwrap().name, SCOPE_NAME);
    }
}
