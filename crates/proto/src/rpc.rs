//! `google.rpc.Status` with a `google.rpc.RetryInfo` detail: what OTLP/gRPC
//! clients read to know that (and when) a RESOURCE_EXHAUSTED or UNAVAILABLE
//! answer may be retried. Encoded here once for every gRPC listener (the
//! server's receivers and the agent's forwarder).

use prost::Message;

#[derive(Clone, PartialEq, prost::Message)]
struct ProtoDuration {
    #[prost(int64, tag = "1")]
    seconds: i64,
    #[prost(int32, tag = "2")]
    nanos: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    retry_delay: Option<ProtoDuration>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Any {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<Any>,
}

/// The encoded `google.rpc.Status` (for `grpc-status-details-bin`) of `code`
/// and `message`, carrying a RetryInfo of `retry_after_secs`.
pub fn retry_status_details(code: i32, message: &str, retry_after_secs: u64) -> Vec<u8> {
    let retry_info = RetryInfo {
        retry_delay: Some(ProtoDuration {
            seconds: i64::try_from(retry_after_secs).unwrap_or(1),
            nanos: 0,
        }),
    };
    RpcStatus {
        code,
        message: message.to_string(),
        details: vec![Any {
            type_url: "type.googleapis.com/google.rpc.RetryInfo".to_string(),
            value: retry_info.encode_to_vec(),
        }],
    }
    .encode_to_vec()
}
