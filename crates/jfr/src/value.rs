//! Metadata-driven decoding of values into a generic tree.
//!
//! Nothing here knows any event layout: a value of type T is read by walking
//! T's field list. Two guards keep hostile metadata from making this costly:
//! a depth limit (recursive inline types) and a step budget per chunk (types
//! whose values occupy zero bytes could otherwise be "read" without end).

use crate::error::JfrError;
use crate::metadata::{Encoding, FieldDesc, Metadata};
use crate::reader::{RawString, Reader};

/// Deepest nesting of inline objects accepted.
pub(crate) const MAX_VALUE_DEPTH: usize = 32;

/// A decoded value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Box<str>),
    /// A key into the `java.lang.String` constant pool.
    StrRef(i64),
    /// A key into the constant pool of `type_id`.
    Ref {
        type_id: i64,
        key: i64,
    },
    Array(Box<[Value]>),
    /// Field values in metadata order.
    Object(Box<[Value]>),
}

impl Value {
    pub(crate) fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(value) => Some(*value),
            Value::Bool(value) => Some(i64::from(*value)),
            // Truncation toward zero is the useful reading of a float count.
            Value::Float(value) => Some(*value as i64),
            _ => None,
        }
    }
}

/// Decodes values of one chunk, charging each against a shared budget.
pub(crate) struct Decoder<'m> {
    metadata: &'m Metadata,
    steps_left: u64,
}

impl<'m> Decoder<'m> {
    /// `steps` bounds how many values may be decoded in total.
    pub(crate) fn new(metadata: &'m Metadata, steps: u64) -> Self {
        Self {
            metadata,
            steps_left: steps,
        }
    }

    /// Reads one value of type `type_id`.
    pub(crate) fn read_value(
        &mut self,
        reader: &mut Reader<'_>,
        type_id: i64,
        depth: usize,
    ) -> Result<Value, JfrError> {
        let offset = reader.position();
        if depth > MAX_VALUE_DEPTH {
            return Err(JfrError::TooDeep {
                offset,
                limit: MAX_VALUE_DEPTH,
            });
        }
        self.charge()?;
        let metadata = self.metadata;
        let Some(desc) = metadata.types.get(&type_id) else {
            return Err(JfrError::UnknownType { offset, type_id });
        };
        let value = match desc.encoding {
            Encoding::Boolean => Value::Bool(reader.u8()? != 0),
            Encoding::Byte => Value::Int(i64::from(reader.u8()? as i8)),
            Encoding::Char => Value::Int(i64::from(reader.char()?)),
            Encoding::Short => Value::Int(i64::from(reader.short()?)),
            Encoding::Int => Value::Int(i64::from(reader.int()?)),
            Encoding::Long => Value::Int(reader.long()?),
            Encoding::Float => Value::Float(f64::from(reader.float()?)),
            Encoding::Double => Value::Float(reader.double()?),
            Encoding::String => match reader.string()? {
                RawString::Null => Value::Null,
                RawString::Inline(text) => Value::Str(text),
                RawString::PoolRef(key) => Value::StrRef(key),
            },
            Encoding::Object => {
                let mut fields = Vec::with_capacity(desc.fields.len());
                for field in &desc.fields {
                    fields.push(self.read_field(reader, field, depth + 1)?);
                }
                Value::Object(fields.into_boxed_slice())
            }
        };
        Ok(value)
    }

    /// Reads one field: an array of elements or a single element.
    pub(crate) fn read_field(
        &mut self,
        reader: &mut Reader<'_>,
        field: &FieldDesc,
        depth: usize,
    ) -> Result<Value, JfrError> {
        if !field.array {
            return self.read_element(reader, field, depth);
        }
        let count = reader.count(1)?;
        // Capacity is capped: zero-byte elements could pass the count check.
        let mut elements = Vec::with_capacity(count.min(1024));
        for _ in 0..count {
            elements.push(self.read_element(reader, field, depth)?);
        }
        Ok(Value::Array(elements.into_boxed_slice()))
    }

    fn read_element(
        &mut self,
        reader: &mut Reader<'_>,
        field: &FieldDesc,
        depth: usize,
    ) -> Result<Value, JfrError> {
        if field.constant_pool {
            self.charge()?;
            let key = reader.long()?;
            return Ok(Value::Ref {
                type_id: field.type_id,
                key,
            });
        }
        self.read_value(reader, field.type_id, depth)
    }

    fn charge(&mut self) -> Result<(), JfrError> {
        if self.steps_left == 0 {
            return Err(JfrError::LimitExceeded {
                what: "value decoding budget of the chunk".to_owned(),
            });
        }
        self.steps_left -= 1;
        Ok(())
    }
}
