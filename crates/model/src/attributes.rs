//! OTLP attributes → `Map<Utf8, Utf8>` columns plus a typed sidecar column.

use std::fmt::Write as _;
use std::sync::Arc;

use arrow::array::{ArrayRef, MapBuilder, StringBuilder};
use base64::Engine as _;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};

/// The OTLP type of an attribute value, as recorded in `*_attribute_types` columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeType {
    String,
    Int,
    Double,
    Bool,
    Bytes,
    Array,
    Kvlist,
    Empty,
}

impl AttributeType {
    /// Name stored in the types column.
    pub fn as_str(self) -> &'static str {
        match self {
            AttributeType::String => "string",
            AttributeType::Int => "int",
            AttributeType::Double => "double",
            AttributeType::Bool => "bool",
            AttributeType::Bytes => "bytes",
            AttributeType::Array => "array",
            AttributeType::Kvlist => "kvlist",
            AttributeType::Empty => "empty",
        }
    }

    /// Inverse of [`AttributeType::as_str`].
    pub fn parse(name: &str) -> Option<AttributeType> {
        [
            AttributeType::String,
            AttributeType::Int,
            AttributeType::Double,
            AttributeType::Bool,
            AttributeType::Bytes,
            AttributeType::Array,
            AttributeType::Kvlist,
            AttributeType::Empty,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == name)
    }
}

/// Writes the string form of `value` into `out` and returns its type.
///
/// Strings stay as they are; ints and doubles use their shortest round-trip decimal
/// form; bools are `true`/`false`; bytes are base64; arrays and key-value lists are
/// JSON with typed elements.
pub fn write_any_value(value: Option<&AnyValue>, out: &mut String) -> AttributeType {
    match value.and_then(|any| any.value.as_ref()) {
        // A string-table index only means something inside a profile's dictionary.
        None | Some(Value::StringValueStrindex(_)) => AttributeType::Empty,
        Some(Value::StringValue(text)) => {
            out.push_str(text);
            AttributeType::String
        }
        Some(Value::IntValue(number)) => {
            let _ = write!(out, "{number}");
            AttributeType::Int
        }
        Some(Value::DoubleValue(number)) => {
            let _ = write!(out, "{number}");
            AttributeType::Double
        }
        Some(Value::BoolValue(flag)) => {
            out.push_str(if *flag { "true" } else { "false" });
            AttributeType::Bool
        }
        Some(Value::BytesValue(bytes)) => {
            out.push_str(&base64::engine::general_purpose::STANDARD.encode(bytes));
            AttributeType::Bytes
        }
        Some(Value::ArrayValue(array)) => {
            let json =
                serde_json::Value::Array(array.values.iter().map(any_value_to_json).collect());
            out.push_str(&json.to_string());
            AttributeType::Array
        }
        Some(Value::KvlistValue(list)) => {
            out.push_str(&kvlist_to_json(&list.values).to_string());
            AttributeType::Kvlist
        }
    }
}

/// The string form of `value` (see [`write_any_value`]) and its type.
pub fn any_value_to_string(value: Option<&AnyValue>) -> (String, AttributeType) {
    let mut out = String::new();
    let kind = write_any_value(value, &mut out);
    (out, kind)
}

fn kvlist_to_json(values: &[KeyValue]) -> serde_json::Value {
    let mut object = serde_json::Map::new();
    for entry in values {
        let value = entry
            .value
            .as_ref()
            .map(any_value_to_json)
            .unwrap_or(serde_json::Value::Null);
        object.insert(entry.key.clone(), value);
    }
    serde_json::Value::Object(object)
}

/// Typed JSON back to an OTLP value (the inverse of [`any_value_to_json`], except
/// that bytes come back as their base64 string): integers are ints, other numbers
/// doubles, arrays and objects array and key-value list values.
pub fn json_to_any_value(value: &serde_json::Value) -> AnyValue {
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};
    let value = match value {
        serde_json::Value::Null => None,
        serde_json::Value::String(text) => Some(Value::StringValue(text.clone())),
        serde_json::Value::Bool(flag) => Some(Value::BoolValue(*flag)),
        serde_json::Value::Number(number) => Some(match number.as_i64() {
            Some(int) if !number.is_f64() => Value::IntValue(int),
            _ => Value::DoubleValue(number.as_f64().unwrap_or(f64::NAN)),
        }),
        serde_json::Value::Array(items) => Some(Value::ArrayValue(ArrayValue {
            values: items.iter().map(json_to_any_value).collect(),
        })),
        serde_json::Value::Object(entries) => Some(Value::KvlistValue(KeyValueList {
            values: entries
                .iter()
                .map(|(key, value)| KeyValue {
                    key: key.clone(),
                    value: Some(json_to_any_value(value)),
                    ..KeyValue::default()
                })
                .collect(),
        })),
    };
    AnyValue { value }
}

/// An OTLP value as typed JSON: ints and doubles are numbers, bytes base64.
pub fn any_value_to_json(value: &AnyValue) -> serde_json::Value {
    match &value.value {
        None | Some(Value::StringValueStrindex(_)) => serde_json::Value::Null,
        Some(Value::StringValue(text)) => serde_json::Value::String(text.clone()),
        Some(Value::IntValue(number)) => serde_json::Value::from(*number),
        Some(Value::DoubleValue(number)) => serde_json::Number::from_f64(*number)
            .map(serde_json::Value::Number)
            .unwrap_or_else(|| serde_json::Value::String(number.to_string())),
        Some(Value::BoolValue(flag)) => serde_json::Value::Bool(*flag),
        Some(Value::BytesValue(bytes)) => {
            serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        Some(Value::ArrayValue(array)) => {
            serde_json::Value::Array(array.values.iter().map(any_value_to_json).collect())
        }
        Some(Value::KvlistValue(list)) => kvlist_to_json(&list.values),
    }
}

/// Builds an attribute map column and its `*_attribute_types` sibling, row by row.
pub(crate) struct AttributeColumns {
    map: MapBuilder<StringBuilder, StringBuilder>,
    types: StringBuilder,
    scratch: String,
    types_scratch: String,
}

/// Attributes converted once and appended to many rows (a resource's attributes are
/// the same for every span of the resource).
pub(crate) struct PreparedAttributes {
    entries: Vec<(String, String)>,
    types: Option<String>,
}

/// Whether attribute `index` is overridden by a later one with the same key.
fn overridden(attributes: &[KeyValue], index: usize) -> bool {
    let key = &attributes[index].key;
    attributes[index + 1..]
        .iter()
        .any(|later| later.key == *key)
}

/// Appends `"key":"type"` (with a leading comma unless first) to a types object.
fn push_type(out: &mut String, key: &str, kind: AttributeType) {
    out.push(if out.is_empty() { '{' } else { ',' });
    let plain = key
        .chars()
        .all(|c| c != '"' && c != '\\' && !c.is_control());
    if plain {
        out.push('"');
        out.push_str(key);
        out.push('"');
    } else {
        out.push_str(&serde_json::Value::String(key.to_string()).to_string());
    }
    out.push_str(":\"");
    out.push_str(kind.as_str());
    out.push('"');
}

impl PreparedAttributes {
    pub fn new(attributes: &[KeyValue]) -> PreparedAttributes {
        let mut entries = Vec::with_capacity(attributes.len());
        let mut types = String::new();
        for (index, attribute) in attributes.iter().enumerate() {
            if overridden(attributes, index) {
                continue;
            }
            let mut value = String::new();
            let kind = write_any_value(attribute.value.as_ref(), &mut value);
            if kind != AttributeType::String {
                push_type(&mut types, &attribute.key, kind);
            }
            entries.push((attribute.key.clone(), value));
        }
        let types = (!types.is_empty()).then(|| types + "}");
        PreparedAttributes { entries, types }
    }
}

impl AttributeColumns {
    pub fn with_capacity(rows: usize) -> AttributeColumns {
        AttributeColumns {
            map: MapBuilder::with_capacity(None, StringBuilder::new(), StringBuilder::new(), rows),
            types: StringBuilder::with_capacity(rows, 0),
            scratch: String::new(),
            types_scratch: String::new(),
        }
    }

    /// Appends one row holding `attributes`. Duplicate keys keep the last value, as the
    /// OTLP spec leaves the behaviour to the receiver.
    pub fn append(&mut self, attributes: &[KeyValue]) {
        self.types_scratch.clear();
        for (index, attribute) in attributes.iter().enumerate() {
            if overridden(attributes, index) {
                continue;
            }
            self.scratch.clear();
            let kind = write_any_value(attribute.value.as_ref(), &mut self.scratch);
            self.map.keys().append_value(&attribute.key);
            self.map.values().append_value(&self.scratch);
            if kind != AttributeType::String {
                push_type(&mut self.types_scratch, &attribute.key, kind);
            }
        }
        // Appending never fails: keys and values were pushed in pairs above.
        let _ = self.map.append(true);
        if self.types_scratch.is_empty() {
            self.types.append_null();
        } else {
            self.types_scratch.push('}');
            self.types.append_value(&self.types_scratch);
        }
    }

    /// Appends one row holding already converted attributes.
    pub fn append_prepared(&mut self, prepared: &PreparedAttributes) {
        for (key, value) in &prepared.entries {
            self.map.keys().append_value(key);
            self.map.values().append_value(value);
        }
        let _ = self.map.append(true);
        self.types.append_option(prepared.types.as_deref());
    }

    /// Finishes the map column and its types column.
    pub fn finish(&mut self) -> (ArrayRef, ArrayRef) {
        (Arc::new(self.map.finish()), Arc::new(self.types.finish()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::ArrayValue;

    fn value(value: Value) -> Option<AnyValue> {
        Some(AnyValue { value: Some(value) })
    }

    #[test]
    fn typed_json_round_trips_to_otlp_values() {
        let values = [
            Value::StringValue("x".into()),
            Value::IntValue(-7),
            Value::DoubleValue(2.0),
            Value::DoubleValue(0.5),
            Value::BoolValue(true),
            Value::ArrayValue(ArrayValue {
                values: vec![AnyValue {
                    value: Some(Value::IntValue(1)),
                }],
            }),
        ];
        for one in values {
            let original = AnyValue { value: Some(one) };
            assert_eq!(json_to_any_value(&any_value_to_json(&original)), original);
        }
    }

    #[test]
    fn values_keep_a_readable_string_form() {
        assert_eq!(
            any_value_to_string(value(Value::IntValue(-42)).as_ref()),
            ("-42".to_string(), AttributeType::Int)
        );
        assert_eq!(
            any_value_to_string(value(Value::DoubleValue(0.25)).as_ref()),
            ("0.25".to_string(), AttributeType::Double)
        );
        let array = Value::ArrayValue(ArrayValue {
            values: vec![
                AnyValue {
                    value: Some(Value::StringValue("a".into())),
                },
                AnyValue {
                    value: Some(Value::IntValue(1)),
                },
            ],
        });
        assert_eq!(
            any_value_to_string(value(array).as_ref()),
            (r#"["a",1]"#.to_string(), AttributeType::Array)
        );
        assert_eq!(
            any_value_to_string(None),
            (String::new(), AttributeType::Empty)
        );
    }

    #[test]
    fn streamed_and_prepared_rows_are_identical() {
        let attributes = vec![
            KeyValue {
                key: "a".into(),
                value: value(Value::IntValue(1)),
                ..KeyValue::default()
            },
            KeyValue {
                key: "we\"ird".into(),
                value: value(Value::BoolValue(true)),
                ..KeyValue::default()
            },
            KeyValue {
                key: "s".into(),
                value: value(Value::StringValue("x".into())),
                ..KeyValue::default()
            },
            KeyValue {
                key: "a".into(),
                value: value(Value::DoubleValue(2.5)),
                ..KeyValue::default()
            },
        ];
        let mut columns = AttributeColumns::with_capacity(2);
        columns.append(&attributes);
        columns.append_prepared(&PreparedAttributes::new(&attributes));
        let (map, types) = columns.finish();
        let map = map
            .as_any()
            .downcast_ref::<arrow::array::MapArray>()
            .unwrap();
        assert_eq!(map.value(0), map.value(1));
        assert_eq!(arrow::array::Array::len(&map.value(0)), 3);
        let types = types
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .unwrap();
        assert_eq!(types.value(0), types.value(1));
        let parsed: serde_json::Value = serde_json::from_str(types.value(0)).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!({"we\"ird": "bool", "a": "double"})
        );
    }
}
