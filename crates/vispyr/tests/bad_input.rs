//! Bad input gets a clear error with the right status, and the server keeps serving.

mod support;

use std::io::Write;

use bytes::{Buf, BufMut, Bytes};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use reqwest::blocking::{Client, Response};
use support::Server;

/// `google.rpc.Status` as OTLP/HTTP error bodies carry it.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

fn span(name: &str, trace_id: Vec<u8>, span_id: Vec<u8>) -> Span {
    Span {
        trace_id,
        span_id,
        name: name.to_string(),
        kind: 2,
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: 1_700_000_000_500_000_000,
        ..Span::default()
    }
}

fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    support::trace_request("bad-input", spans)
}

fn post(server: &Server, content_type: &str, encoding: Option<&str>, body: Vec<u8>) -> Response {
    let mut builder = Client::new()
        .post(format!("{}/v1/traces", server.otlp_http))
        .header("content-type", content_type)
        .body(body);
    if let Some(encoding) = encoding {
        builder = builder.header("content-encoding", encoding);
    }
    builder.send().expect("request")
}

fn protobuf_error(response: Response) -> (u16, RpcStatus) {
    let status = response.status().as_u16();
    let body = response.bytes().unwrap();
    (
        status,
        RpcStatus::decode(body).expect("google.rpc.Status body"),
    )
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn assert_still_serving(server: &Server) {
    let ok = request(vec![span("after", vec![7; 16], vec![7; 8])]);
    let response = post(server, "application/x-protobuf", None, ok.encode_to_vec());
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        server.scalar("select count(*) from spans where span_name = 'after'"),
        1
    );
}

#[test]
fn malformed_bodies_are_400_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(&dir.path().join("data"), "");

    let (status, error) = protobuf_error(post(
        &server,
        "application/x-protobuf",
        None,
        vec![0xff, 0xff, 0xff, 0x01],
    ));
    assert_eq!(status, 400);
    assert_eq!(error.code, 3);
    assert!(
        error
            .message
            .contains("failed to decode protobuf ExportTraceServiceRequest"),
        "{}",
        error.message
    );

    let response = post(
        &server,
        "application/json",
        None,
        br#"{"resourceSpans": [{"scopeSpans": 7}]}"#.to_vec(),
    );
    assert_eq!(response.status().as_u16(), 400);
    let body: serde_json::Value = response.json().unwrap();
    assert_eq!(body["code"], 3);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("failed to decode JSON ExportTraceServiceRequest"),
        "{body}"
    );

    let response = post(
        &server,
        "application/json",
        None,
        br#"{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}"#.to_vec(),
    );
    assert_eq!(response.status().as_u16(), 400);

    let valid = request(vec![span("x", vec![1; 16], vec![1; 8])]).encode_to_vec();
    let compressed = gzip(&valid);
    let (status, error) = protobuf_error(post(
        &server,
        "application/x-protobuf",
        Some("gzip"),
        compressed[..compressed.len() / 2].to_vec(),
    ));
    assert_eq!(status, 400);
    assert!(
        error.message.contains("invalid gzip body"),
        "{}",
        error.message
    );

    assert_still_serving(&server);
}

#[test]
fn unsupported_media_types_are_415() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(&dir.path().join("data"), "");
    let body = request(vec![span("x", vec![1; 16], vec![1; 8])]).encode_to_vec();

    let (status, error) = protobuf_error(post(&server, "text/plain", None, body.clone()));
    assert_eq!(status, 415);
    assert!(
        error
            .message
            .contains("unsupported Content-Type \"text/plain\""),
        "{}",
        error.message
    );

    let (status, error) = protobuf_error(post(&server, "application/x-protobuf", Some("br"), body));
    assert_eq!(status, 415);
    assert!(
        error
            .message
            .contains("unsupported Content-Encoding \"br\""),
        "{}",
        error.message
    );
    assert_still_serving(&server);
}

#[test]
fn bodies_over_the_limit_are_413_even_when_compressed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(
        &dir.path().join("data"),
        "limits:\n  max_request_body: 64KiB\n",
    );

    let (status, error) = protobuf_error(post(
        &server,
        "application/x-protobuf",
        None,
        vec![0u8; 100 * 1024],
    ));
    assert_eq!(status, 413);
    assert!(
        error
            .message
            .contains("larger than the limit of 65536 bytes"),
        "{}",
        error.message
    );

    // A gzip bomb: 32 KiB on the wire, 20 MiB inflated. Inflation stops at the limit.
    let bomb = gzip(&vec![0u8; 20 * 1024 * 1024]);
    assert!(bomb.len() < 64 * 1024);
    let (status, _) = protobuf_error(post(&server, "application/x-protobuf", Some("gzip"), bomb));
    assert_eq!(status, 413);
    assert_still_serving(&server);
}

#[test]
fn invalid_spans_are_a_partial_success() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(&dir.path().join("data"), "");
    let body = request(vec![
        span("good-1", vec![2; 16], vec![2; 8]),
        span("short-trace-id", vec![3; 4], vec![3; 8]),
        span("good-2", vec![2; 16], vec![4; 8]),
        span("zero-span-id", vec![2; 16], vec![0; 8]),
    ]);
    let response = post(
        &server,
        "application/x-protobuf",
        None,
        body.encode_to_vec(),
    );
    assert_eq!(response.status().as_u16(), 200);
    let answer = ExportTraceServiceResponse::decode(response.bytes().unwrap()).unwrap();
    let partial = answer.partial_success.expect("partial success");
    assert_eq!(partial.rejected_spans, 2);
    assert!(
        partial
            .error_message
            .contains("\"short-trace-id\": trace_id must be 16 bytes"),
        "{}",
        partial.error_message
    );
    let names = server.rows("select span_name from spans order by span_name");
    assert_eq!(
        names,
        vec![
            vec![serde_json::json!("good-1")],
            vec![serde_json::json!("good-2")]
        ]
    );
}

#[test]
fn a_full_server_answers_429_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(
        &dir.path().join("data"),
        "limits:\n  max_memory: 2KiB\nstorage:\n  flush_max_bytes: 2KiB\n",
    );
    let spans: Vec<Span> = (0..50u8)
        .map(|i| span("big", vec![i + 1; 16], vec![i + 1; 8]))
        .collect();
    let response = post(
        &server,
        "application/x-protobuf",
        None,
        request(spans.clone()).encode_to_vec(),
    );
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    let (_, error) = protobuf_error(response);
    assert_eq!(error.code, 8);
    assert!(error.message.contains("memory bound"), "{}", error.message);

    let status = grpc_export(&server, request(spans).encode_to_vec()).unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    assert!(!status.details().is_empty(), "RetryInfo detail expected");
}

#[test]
fn grpc_rejects_malformed_messages_with_invalid_argument() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(&dir.path().join("data"), "");
    let status = grpc_export(&server, vec![0xff, 0xff, 0xff, 0x01]).unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(
        status
            .message()
            .contains("failed to decode protobuf ExportTraceServiceRequest"),
        "{}",
        status.message()
    );

    let answer = grpc_export(
        &server,
        request(vec![span("via-grpc", vec![9; 16], vec![9; 8])]).encode_to_vec(),
    )
    .unwrap();
    assert!(answer.partial_success.is_none());
    assert_eq!(
        server.scalar("select count(*) from spans where span_name = 'via-grpc'"),
        1
    );
}

#[test]
fn compressed_requests_are_accepted_over_grpc_and_http() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(&dir.path().join("data"), "");
    let encodings = [
        tonic::codec::CompressionEncoding::Gzip,
        tonic::codec::CompressionEncoding::Zstd,
    ];
    for (index, encoding) in encodings.into_iter().enumerate() {
        let id = 20 + index as u8;
        let body =
            request(vec![span("grpc-compressed", vec![id; 16], vec![id; 8])]).encode_to_vec();
        grpc_export_with(&server, body, Some(encoding)).unwrap();
    }
    let body = request(vec![span("http-gzip", vec![30; 16], vec![30; 8])]).encode_to_vec();
    let response = post(&server, "application/x-protobuf", Some("gzip"), gzip(&body));
    assert_eq!(response.status().as_u16(), 200);
    let body = request(vec![span("http-zstd", vec![31; 16], vec![31; 8])]).encode_to_vec();
    let compressed = zstd::encode_all(body.as_slice(), 3).unwrap();
    let response = post(&server, "application/x-protobuf", Some("zstd"), compressed);
    assert_eq!(response.status().as_u16(), 200);
    let names =
        server.rows("select span_name, count(*) from spans group by span_name order by span_name");
    assert_eq!(
        names,
        vec![
            vec![serde_json::json!("grpc-compressed"), serde_json::json!(2)],
            vec![serde_json::json!("http-gzip"), serde_json::json!(1)],
            vec![serde_json::json!("http-zstd"), serde_json::json!(1)],
        ]
    );

    // Vispyr's own counters saw them, by receiver.
    let metrics = Client::new()
        .get(format!("{}/metrics", server.http))
        .send()
        .unwrap()
        .text()
        .unwrap();
    for expected in [
        r#"vispyr_ingest_accepted_items_total{signal="traces",receiver="otlp_grpc"} 2"#,
        r#"vispyr_ingest_accepted_items_total{signal="traces",receiver="otlp_http"} 2"#,
        "vispyr_wal_fsync_duration_seconds_count",
    ] {
        assert!(
            metrics.contains(expected),
            "missing {expected} in\n{metrics}"
        );
    }
    let health = Client::new()
        .get(format!("{}/health", server.http))
        .send()
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
}

/// Sends raw bytes as an OTLP/gRPC trace export.
fn grpc_export(
    server: &Server,
    body: Vec<u8>,
) -> Result<ExportTraceServiceResponse, tonic::Status> {
    grpc_export_with(server, body, None)
}

/// Sends raw bytes as an OTLP/gRPC trace export, optionally compressed.
fn grpc_export_with(
    server: &Server,
    body: Vec<u8>,
    compression: Option<tonic::codec::CompressionEncoding>,
) -> Result<ExportTraceServiceResponse, tonic::Status> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(server.otlp_grpc.clone())
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut client = tonic::client::Grpc::new(channel);
        if let Some(encoding) = compression {
            client = client.send_compressed(encoding);
        }
        client.ready().await.unwrap();
        let path = http::uri::PathAndQuery::from_static(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        );
        let response = client
            .unary(tonic::Request::new(Bytes::from(body)), path, RawCodec)
            .await?;
        Ok(ExportTraceServiceResponse::decode(response.into_inner()).unwrap())
    })
}

struct RawCodec;
struct RawEncoder;
struct RawDecoder;

impl tonic::codec::Codec for RawCodec {
    type Encode = Bytes;
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

impl tonic::codec::Encoder for RawEncoder {
    type Item = Bytes;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: Bytes,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawDecoder {
    type Item = Bytes;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Bytes>, tonic::Status> {
        let len = src.remaining();
        Ok(Some(src.copy_to_bytes(len)))
    }
}
