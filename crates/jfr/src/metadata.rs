//! The metadata event: the chunk's own description of every type it uses.
//!
//! Layout (all integers in the chunk's integer encoding):
//!
//! ```text
//! size, type id (0), start time, duration, metadata id,
//! string count, strings...,
//! root element = name index, attribute count, (key index, value index)...,
//!                child count, child elements...
//! ```
//!
//! `class` elements (attributes `id`, `name`, `superType`) hold `field`
//! elements (attributes `name`, `class` = field type id, `constantPool`,
//! `dimension`), which may hold `annotation` elements (`class`, `value`).

use std::collections::HashMap;

use crate::error::JfrError;
use crate::reader::Reader;

/// Deepest element nesting accepted (real metadata nests four levels).
const MAX_ELEMENT_DEPTH: usize = 16;

/// How a type's values are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Boolean,
    Byte,
    Char,
    Short,
    Int,
    Long,
    Float,
    Double,
    String,
    /// A sequence of the type's fields.
    Object,
}

impl Encoding {
    fn for_type_name(name: &str) -> Self {
        match name {
            "boolean" => Self::Boolean,
            "byte" => Self::Byte,
            "char" => Self::Char,
            "short" => Self::Short,
            "int" => Self::Int,
            "long" => Self::Long,
            "float" => Self::Float,
            "double" => Self::Double,
            "java.lang.String" => Self::String,
            _ => Self::Object,
        }
    }
}

/// The unit of a time-valued field, from `jdk.jfr.Timespan`/`jdk.jfr.Timestamp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeUnit {
    Ticks,
    Nanoseconds,
    Microseconds,
    Milliseconds,
    Seconds,
    MillisecondsSinceEpoch,
}

impl TimeUnit {
    fn from_annotation(value: &str) -> Option<Self> {
        match value {
            "TICKS" => Some(Self::Ticks),
            "NANOSECONDS" | "NANOSECONDS_SINCE_EPOCH" => Some(Self::Nanoseconds),
            "MICROSECONDS" => Some(Self::Microseconds),
            "MILLISECONDS" => Some(Self::Milliseconds),
            "SECONDS" => Some(Self::Seconds),
            "MILLISECONDS_SINCE_EPOCH" => Some(Self::MillisecondsSinceEpoch),
            _ => None,
        }
    }
}

/// One field of a class.
#[derive(Debug, Clone)]
pub(crate) struct FieldDesc {
    pub(crate) name: String,
    pub(crate) type_id: i64,
    /// The value is a key into the constant pool of `type_id`.
    pub(crate) constant_pool: bool,
    /// The value is an array (`dimension="1"`).
    pub(crate) array: bool,
    /// Time unit, when the field is annotated with one.
    pub(crate) time_unit: Option<TimeUnit>,
}

/// One class (type) of the chunk.
#[derive(Debug, Clone)]
pub(crate) struct TypeDesc {
    pub(crate) name: String,
    pub(crate) encoding: Encoding,
    pub(crate) fields: Vec<FieldDesc>,
}

impl TypeDesc {
    /// The index of the field called `name`, if the type has one.
    pub(crate) fn field_index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|field| field.name == name)
    }
}

/// All types of one chunk, by id.
#[derive(Debug, Default)]
pub(crate) struct Metadata {
    pub(crate) types: HashMap<i64, TypeDesc>,
    pub(crate) ids_by_name: HashMap<String, i64>,
}

impl Metadata {
    pub(crate) fn type_id(&self, name: &str) -> Option<i64> {
        self.ids_by_name.get(name).copied()
    }
}

/// A raw metadata element; names and attributes index the string table.
struct Element {
    offset: usize,
    name: usize,
    attributes: Vec<(usize, usize)>,
    children: Vec<Element>,
}

/// Parses the metadata event whose header starts at `reader`'s position.
pub(crate) fn parse_metadata(reader: &mut Reader<'_>) -> Result<Metadata, JfrError> {
    let event_offset = reader.position();
    let size = event_size(reader, event_offset)?;
    let header_len = reader.position() - event_offset;
    let mut body = reader.sub_reader(size - header_len)?;
    let type_id = body.long()?;
    if type_id != 0 {
        return Err(bad_metadata(
            event_offset,
            format!("event type {type_id} is not the metadata type 0"),
        ));
    }
    let _start_time = body.long()?;
    let _duration = body.long()?;
    let _metadata_id = body.long()?;

    let string_count = body.count(1)?;
    let mut strings = Vec::with_capacity(string_count);
    for _ in 0..string_count {
        let offset = body.position();
        let text = match body.string()? {
            crate::reader::RawString::Inline(text) => text,
            crate::reader::RawString::Null => "".into(),
            crate::reader::RawString::PoolRef(_) => {
                return Err(bad_metadata(offset, "string table entry refers to a pool"));
            }
        };
        strings.push(text);
    }
    let root = read_element(&mut body, 0)?;
    build(&root, &strings)
}

/// Reads an event's leading size and checks it covers at least its header.
pub(crate) fn event_size(reader: &mut Reader<'_>, event_offset: usize) -> Result<usize, JfrError> {
    let raw = reader.int()?;
    let header_len = reader.position() - event_offset;
    match usize::try_from(raw) {
        Ok(size) if size > header_len => Ok(size),
        _ => Err(JfrError::BadEvent {
            offset: event_offset,
            reason: format!("event size {raw} is smaller than its own header"),
        }),
    }
}

fn bad_metadata(offset: usize, reason: impl Into<String>) -> JfrError {
    JfrError::BadMetadata {
        offset,
        reason: reason.into(),
    }
}

fn read_element(reader: &mut Reader<'_>, depth: usize) -> Result<Element, JfrError> {
    let offset = reader.position();
    if depth > MAX_ELEMENT_DEPTH {
        return Err(JfrError::TooDeep {
            offset,
            limit: MAX_ELEMENT_DEPTH,
        });
    }
    let name = string_index(reader)?;
    // Each attribute is two indices of at least one byte each.
    let attribute_count = reader.count(2)?;
    let mut attributes = Vec::with_capacity(attribute_count);
    for _ in 0..attribute_count {
        let key = string_index(reader)?;
        let value = string_index(reader)?;
        attributes.push((key, value));
    }
    // Each child is at least a name, an attribute count and a child count.
    let child_count = reader.count(3)?;
    let mut children = Vec::with_capacity(child_count);
    for _ in 0..child_count {
        children.push(read_element(reader, depth + 1)?);
    }
    Ok(Element {
        offset,
        name,
        attributes,
        children,
    })
}

fn string_index(reader: &mut Reader<'_>) -> Result<usize, JfrError> {
    let offset = reader.position();
    let raw = reader.int()?;
    usize::try_from(raw).map_err(|_| bad_metadata(offset, format!("negative string index {raw}")))
}

/// Looks up element strings, turning bad indices into errors.
struct Strings<'s> {
    table: &'s [Box<str>],
}

impl<'s> Strings<'s> {
    fn get(&self, index: usize, offset: usize) -> Result<&'s str, JfrError> {
        self.table.get(index).map(|text| &**text).ok_or_else(|| {
            bad_metadata(
                offset,
                format!(
                    "string index {index} outside a table of {}",
                    self.table.len()
                ),
            )
        })
    }

    fn name(&self, element: &Element) -> Result<&'s str, JfrError> {
        self.get(element.name, element.offset)
    }

    fn attribute(&self, element: &Element, key: &str) -> Result<Option<&'s str>, JfrError> {
        for &(key_index, value_index) in &element.attributes {
            if self.get(key_index, element.offset)? == key {
                return Ok(Some(self.get(value_index, element.offset)?));
            }
        }
        Ok(None)
    }

    fn required_id(&self, element: &Element, key: &str) -> Result<i64, JfrError> {
        let Some(text) = self.attribute(element, key)? else {
            return Err(bad_metadata(
                element.offset,
                format!("element lacks attribute {key:?}"),
            ));
        };
        text.parse().map_err(|_| {
            bad_metadata(
                element.offset,
                format!("attribute {key}={text:?} is not an id"),
            )
        })
    }
}

/// A field before annotation class ids are resolved to names.
struct PendingField {
    field: FieldDesc,
    /// (annotation class id, annotation value)
    annotations: Vec<(i64, String)>,
}

fn build(root: &Element, table: &[Box<str>]) -> Result<Metadata, JfrError> {
    let strings = Strings { table };
    let mut classes = Vec::new();
    collect_classes(root, &strings, &mut classes, 0)?;

    let mut pending = Vec::with_capacity(classes.len());
    for class in classes {
        let id = strings.required_id(class, "id")?;
        let Some(name) = strings.attribute(class, "name")? else {
            return Err(bad_metadata(class.offset, "class element lacks a name"));
        };
        let mut fields = Vec::new();
        for child in &class.children {
            if strings.name(child)? != "field" {
                continue;
            }
            fields.push(pending_field(child, &strings)?);
        }
        pending.push((id, name, fields));
    }

    let mut metadata = Metadata::default();
    for (id, name, _) in &pending {
        metadata.ids_by_name.insert((*name).to_owned(), *id);
    }
    let timespan_id = metadata.type_id("jdk.jfr.Timespan");
    let timestamp_id = metadata.type_id("jdk.jfr.Timestamp");
    for (id, name, fields) in pending {
        let fields = fields
            .into_iter()
            .map(|pending| {
                let mut field = pending.field;
                for (class_id, value) in &pending.annotations {
                    let is_time = Some(*class_id) == timespan_id || Some(*class_id) == timestamp_id;
                    if is_time {
                        field.time_unit = TimeUnit::from_annotation(value);
                    }
                }
                field
            })
            .collect();
        let desc = TypeDesc {
            name: name.to_owned(),
            encoding: Encoding::for_type_name(name),
            fields,
        };
        metadata.types.insert(id, desc);
    }
    validate_field_types(&metadata, root.offset)?;
    Ok(metadata)
}

fn collect_classes<'e>(
    element: &'e Element,
    strings: &Strings<'_>,
    out: &mut Vec<&'e Element>,
    depth: usize,
) -> Result<(), JfrError> {
    // Element depth was bounded while reading; this mirrors that bound.
    if depth > MAX_ELEMENT_DEPTH {
        return Ok(());
    }
    for child in &element.children {
        if strings.name(child)? == "class" {
            out.push(child);
        } else {
            collect_classes(child, strings, out, depth + 1)?;
        }
    }
    Ok(())
}

fn pending_field(element: &Element, strings: &Strings<'_>) -> Result<PendingField, JfrError> {
    let Some(name) = strings.attribute(element, "name")? else {
        return Err(bad_metadata(element.offset, "field element lacks a name"));
    };
    let type_id = strings.required_id(element, "class")?;
    let constant_pool = strings.attribute(element, "constantPool")? == Some("true");
    let array = match strings.attribute(element, "dimension")? {
        None | Some("0") => false,
        Some("1") => true,
        Some(other) => {
            return Err(bad_metadata(
                element.offset,
                format!("field {name} has unsupported dimension {other}"),
            ));
        }
    };
    let mut annotations = Vec::new();
    for child in &element.children {
        if strings.name(child)? != "annotation" {
            continue;
        }
        let class_id = strings.required_id(child, "class")?;
        let value = strings.attribute(child, "value")?.unwrap_or_default();
        annotations.push((class_id, value.to_owned()));
    }
    Ok(PendingField {
        field: FieldDesc {
            name: name.to_owned(),
            type_id,
            constant_pool,
            array,
            time_unit: None,
        },
        annotations,
    })
}

/// Every field must name a declared type, so decoding never meets an unknown one.
fn validate_field_types(metadata: &Metadata, offset: usize) -> Result<(), JfrError> {
    for desc in metadata.types.values() {
        for field in &desc.fields {
            if !metadata.types.contains_key(&field.type_id) {
                return Err(bad_metadata(
                    offset,
                    format!(
                        "field {}.{} has undeclared type id {}",
                        desc.name, field.name, field.type_id
                    ),
                ));
            }
        }
    }
    Ok(())
}
