//! Arrow values → JSON for API responses.

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, MapArray, StructArray};
use datafusion::arrow::datatypes::{
    DataType, Float16Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type,
    UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use serde_json::{Map, Number, Value};

/// Every row of `batches` as a list of JSON values in column order.
///
/// Numbers stay numbers (non-finite floats become strings `"NaN"`, `"+Inf"`, `"-Inf"`),
/// times are RFC 3339 strings, maps and structs are objects, lists are arrays.
pub fn batches_to_rows(batches: &[RecordBatch]) -> Vec<Vec<Value>> {
    let mut rows = Vec::new();
    for batch in batches {
        for row in 0..batch.num_rows() {
            let values = batch
                .columns()
                .iter()
                .map(|column| value_at(column, row))
                .collect();
            rows.push(values);
        }
    }
    rows
}

fn float(value: f64) -> Value {
    if value.is_nan() {
        return Value::String("NaN".into());
    }
    if value.is_infinite() {
        return Value::String(if value > 0.0 { "+Inf" } else { "-Inf" }.into());
    }
    Number::from_f64(value)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// The JSON form of `array[row]`.
pub fn value_at(array: &ArrayRef, row: usize) -> Value {
    if array.is_null(row) {
        return Value::Null;
    }
    match array.data_type() {
        DataType::Boolean => Value::Bool(
            array
                .as_any()
                .downcast_ref::<BooleanArray>()
                .map(|a| a.value(row))
                .unwrap_or(false),
        ),
        DataType::Int8 => Value::from(array.as_primitive::<Int8Type>().value(row)),
        DataType::Int16 => Value::from(array.as_primitive::<Int16Type>().value(row)),
        DataType::Int32 => Value::from(array.as_primitive::<Int32Type>().value(row)),
        DataType::Int64 => Value::from(array.as_primitive::<Int64Type>().value(row)),
        DataType::UInt8 => Value::from(array.as_primitive::<UInt8Type>().value(row)),
        DataType::UInt16 => Value::from(array.as_primitive::<UInt16Type>().value(row)),
        DataType::UInt32 => Value::from(array.as_primitive::<UInt32Type>().value(row)),
        DataType::UInt64 => Value::from(array.as_primitive::<UInt64Type>().value(row)),
        DataType::Float16 => float(f64::from(array.as_primitive::<Float16Type>().value(row))),
        DataType::Float32 => float(f64::from(array.as_primitive::<Float32Type>().value(row))),
        DataType::Float64 => float(array.as_primitive::<Float64Type>().value(row)),
        DataType::Utf8 => Value::String(array.as_string::<i32>().value(row).to_string()),
        DataType::LargeUtf8 => Value::String(array.as_string::<i64>().value(row).to_string()),
        DataType::Utf8View => Value::String(array.as_string_view().value(row).to_string()),
        DataType::List(_) => {
            let list = array.as_list::<i32>();
            list_values(&list.value(row))
        }
        DataType::LargeList(_) => {
            let list = array.as_list::<i64>();
            list_values(&list.value(row))
        }
        DataType::Struct(_) => {
            let structure = array.as_any().downcast_ref::<StructArray>();
            structure
                .map(|s| struct_value(s, row))
                .unwrap_or(Value::Null)
        }
        DataType::Map(_, _) => {
            let map = array.as_any().downcast_ref::<MapArray>();
            map.map(|m| map_value(m, row)).unwrap_or(Value::Null)
        }
        _ => formatted(array, row),
    }
}

fn formatted(array: &ArrayRef, row: usize) -> Value {
    let options = FormatOptions::default().with_display_error(true);
    match ArrayFormatter::try_new(array.as_ref(), &options) {
        Ok(formatter) => Value::String(formatter.value(row).to_string()),
        Err(_) => Value::Null,
    }
}

fn list_values(values: &ArrayRef) -> Value {
    Value::Array(
        (0..values.len())
            .map(|index| value_at(values, index))
            .collect(),
    )
}

fn struct_value(array: &StructArray, row: usize) -> Value {
    let mut object = Map::new();
    for (field, column) in array.fields().iter().zip(array.columns()) {
        object.insert(field.name().clone(), value_at(column, row));
    }
    Value::Object(object)
}

fn map_value(array: &MapArray, row: usize) -> Value {
    let entries = array.value(row);
    let keys = entries.column(0);
    let values = entries.column(1);
    let mut object = Map::new();
    for index in 0..entries.len() {
        let key = match value_at(keys, index) {
            Value::String(text) => text,
            other => other.to_string(),
        };
        object.insert(key, value_at(values, index));
    }
    Value::Object(object)
}
