//! Pyroscope's own messages: `push.v1` (<https://github.com/grafana/pyroscope/blob/main/api/push/v1/push.proto>),
//! `types.v1.LabelPair`, and the Java agent's JFR labels snapshot
//! (`pyroscope-java`'s `labels.proto`).

use std::collections::HashMap;

#[derive(Clone, PartialEq, Eq, prost::Message, serde::Serialize, serde::Deserialize)]
pub struct LabelPair {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `push.v1.PushRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PushRequest {
    #[prost(message, repeated, tag = "1")]
    pub series: Vec<RawProfileSeries>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RawProfileSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<LabelPair>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<RawSample>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RawSample {
    /// A pprof profile, usually gzip-compressed.
    #[prost(bytes = "vec", tag = "1")]
    pub raw_profile: Vec<u8>,
    /// Client-chosen id of the profile (a UUID).
    #[prost(string, tag = "2")]
    pub id: String,
}

/// `push.v1.PushResponse` (empty).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct PushResponse {}

/// One label context of the Java agent: label name id → value id, both indexes
/// into [`LabelsSnapshot::strings`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct JfrContext {
    #[prost(map = "int64, int64", tag = "1")]
    pub labels: HashMap<i64, i64>,
}

/// The `labels` part of a Java agent upload: the contexts referenced by the JFR
/// events' context ids, and the strings they refer to.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelsSnapshot {
    #[prost(map = "int64, message", tag = "1")]
    pub contexts: HashMap<i64, JfrContext>,
    #[prost(map = "int64, string", tag = "2")]
    pub strings: HashMap<i64, String>,
}
