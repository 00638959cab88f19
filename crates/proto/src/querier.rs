//! Pyroscope's query API messages, `querier.v1` and `types.v1`
//! (<https://github.com/grafana/pyroscope/blob/main/api/querier/v1/querier.proto>,
//! `api/types/v1/types.proto`), as Grafana's Pyroscope data source sends them over
//! Connect — protobuf from Grafana's backend, protojson from the Explore Profiles
//! app. The serde derives follow protojson: lowerCamelCase names, int64 as strings
//! (numbers accepted too), defaults omitted.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::pyroscope::LabelPair;

/// protojson int64: written as a string, read from a string or a number.
mod int64 {
    use super::*;

    pub fn serialize<S: Serializer>(value: &i64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&value.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Int64 {
            Number(i64),
            Text(String),
        }
        match Int64::deserialize(deserializer)? {
            Int64::Number(n) => Ok(n),
            Int64::Text(text) => text.trim().parse().map_err(serde::de::Error::custom),
        }
    }
}

/// protojson optional int64.
mod opt_int64 {
    use super::*;

    pub fn serialize<S: Serializer>(value: &Option<i64>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => serializer.serialize_str(&value.to_string()),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<i64>, D::Error> {
        super::int64::deserialize(deserializer).map(Some)
    }
}

/// protojson enums arrive as names or numbers; only the number matters here.
mod enum_i32 {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<i32>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Enum {
            Number(i32),
            Name(String),
        }
        Ok(Some(match Enum::deserialize(deserializer)? {
            Enum::Number(n) => n,
            Enum::Name(name) if name.ends_with("AVERAGE") => 1,
            Enum::Name(_) => 0,
        }))
    }
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProfileTypesRequest {
    #[prost(int64, tag = "1")]
    #[serde(with = "int64")]
    pub start: i64,
    #[prost(int64, tag = "2")]
    #[serde(with = "int64")]
    pub end: i64,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProfileType {
    #[prost(string, tag = "1")]
    #[serde(rename = "ID")]
    pub id: String,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(string, tag = "4")]
    pub sample_type: String,
    #[prost(string, tag = "5")]
    pub sample_unit: String,
    #[prost(string, tag = "6")]
    pub period_type: String,
    #[prost(string, tag = "7")]
    pub period_unit: String,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProfileTypesResponse {
    #[prost(message, repeated, tag = "1")]
    pub profile_types: Vec<ProfileType>,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LabelNamesRequest {
    #[prost(string, repeated, tag = "1")]
    pub matchers: Vec<String>,
    #[prost(int64, tag = "2")]
    #[serde(with = "int64")]
    pub start: i64,
    #[prost(int64, tag = "3")]
    #[serde(with = "int64")]
    pub end: i64,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LabelValuesRequest {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, repeated, tag = "2")]
    pub matchers: Vec<String>,
    #[prost(int64, tag = "3")]
    #[serde(with = "int64")]
    pub start: i64,
    #[prost(int64, tag = "4")]
    #[serde(with = "int64")]
    pub end: i64,
}

/// `LabelNamesResponse` and `LabelValuesResponse` (same shape).
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NamesResponse {
    #[prost(string, repeated, tag = "1")]
    pub names: Vec<String>,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SeriesRequest {
    #[prost(string, repeated, tag = "1")]
    pub matchers: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    pub label_names: Vec<String>,
    #[prost(int64, tag = "3")]
    #[serde(with = "int64")]
    pub start: i64,
    #[prost(int64, tag = "4")]
    #[serde(with = "int64")]
    pub end: i64,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Labels {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<LabelPair>,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SeriesResponse {
    #[prost(message, repeated, tag = "2")]
    pub labels_set: Vec<Labels>,
}

/// `SelectMergeStacktracesRequest`, `SelectMergeSpanProfileRequest` and
/// `SelectMergeProfileRequest` share the fields Vispyr reads; the span selector
/// is field 11 in the first and 3 in the second, so both are declared.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SelectMergeStacktracesRequest {
    #[prost(string, tag = "1")]
    #[serde(rename = "profileTypeID")]
    pub profile_type_id: String,
    #[prost(string, tag = "2")]
    pub label_selector: String,
    #[prost(int64, tag = "3")]
    #[serde(with = "int64")]
    pub start: i64,
    #[prost(int64, tag = "4")]
    #[serde(with = "int64")]
    pub end: i64,
    #[prost(int64, optional, tag = "5")]
    #[serde(with = "opt_int64", skip_serializing_if = "Option::is_none")]
    pub max_nodes: Option<i64>,
    #[prost(string, repeated, tag = "11")]
    pub span_selector: Vec<String>,
}

/// `SelectMergeSpanProfileRequest`: `{profile_typeID=1, label_selector=2,
/// span_selector=3, start=4, end=5, max_nodes=6}`.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SelectMergeSpanProfileRequest {
    #[prost(string, tag = "1")]
    #[serde(rename = "profileTypeID")]
    pub profile_type_id: String,
    #[prost(string, tag = "2")]
    pub label_selector: String,
    #[prost(string, repeated, tag = "3")]
    pub span_selector: Vec<String>,
    #[prost(int64, tag = "4")]
    #[serde(with = "int64")]
    pub start: i64,
    #[prost(int64, tag = "5")]
    #[serde(with = "int64")]
    pub end: i64,
    #[prost(int64, optional, tag = "6")]
    #[serde(with = "opt_int64", skip_serializing_if = "Option::is_none")]
    pub max_nodes: Option<i64>,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SelectSeriesRequest {
    #[prost(string, tag = "1")]
    #[serde(rename = "profileTypeID")]
    pub profile_type_id: String,
    #[prost(string, tag = "2")]
    pub label_selector: String,
    #[prost(int64, tag = "3")]
    #[serde(with = "int64")]
    pub start: i64,
    #[prost(int64, tag = "4")]
    #[serde(with = "int64")]
    pub end: i64,
    #[prost(string, repeated, tag = "5")]
    pub group_by: Vec<String>,
    /// Seconds.
    #[prost(double, tag = "6")]
    pub step: f64,
    /// 0 sum, 1 average.
    #[prost(int32, optional, tag = "7")]
    #[serde(
        deserialize_with = "enum_i32::deserialize",
        skip_serializing_if = "Option::is_none"
    )]
    pub aggregation: Option<i32>,
    #[prost(int64, optional, tag = "9")]
    #[serde(with = "opt_int64", skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Point {
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Unix milliseconds.
    #[prost(int64, tag = "2")]
    #[serde(with = "int64")]
    pub timestamp: i64,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Series {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<LabelPair>,
    #[prost(message, repeated, tag = "2")]
    pub points: Vec<Point>,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SelectSeriesResponse {
    #[prost(message, repeated, tag = "1")]
    pub series: Vec<Series>,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetProfileStatsRequest {}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetProfileStatsResponse {
    #[prost(bool, tag = "1")]
    pub data_ingested: bool,
    #[prost(int64, tag = "2")]
    #[serde(with = "int64")]
    pub oldest_profile_time: i64,
    #[prost(int64, tag = "3")]
    #[serde(with = "int64")]
    pub newest_profile_time: i64,
}
