//! Values, the span enums and the comparison and arithmetic rules shared by
//! filters, aggregates and [`crate::Condition::matches_span`].
//!
//! The rules follow Tempo: a missing value (`Nil`) or operands of unrelated
//! types make every comparison false (`!=` included) instead of failing, and
//! integers, floats and durations (nanoseconds) compare with each other
//! numerically.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ast::{ArithOp, CompareOp};

/// Status of a span, as in OTLP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// No status was set.
    #[default]
    Unset,
    /// The operation succeeded.
    Ok,
    /// The operation failed.
    Error,
}

impl Status {
    /// The TraceQL keyword for this status.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Unset => "unset",
            Status::Ok => "ok",
            Status::Error => "error",
        }
    }
}

/// Kind of a span, as in OTLP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The kind was not set.
    #[default]
    Unspecified,
    /// An operation inside a service.
    Internal,
    /// The server side of a synchronous call.
    Server,
    /// The client side of a synchronous call.
    Client,
    /// The sender of an asynchronous message.
    Producer,
    /// The receiver of an asynchronous message.
    Consumer,
}

impl Kind {
    /// The TraceQL keyword for this kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Unspecified => "unspecified",
            Kind::Internal => "internal",
            Kind::Server => "server",
            Kind::Client => "client",
            Kind::Producer => "producer",
            Kind::Consumer => "consumer",
        }
    }
}

/// A TraceQL value: a literal in a query, a field of a span, or a computed
/// aggregate. Attributes keep their OTLP types.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value {
    /// A string.
    Str(String),
    /// A 64-bit signed integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A duration in nanoseconds.
    Duration(i64),
    /// A span status (`ok`, `error`, `unset`).
    Status(Status),
    /// A span kind (`server`, `client`, ...).
    Kind(Kind),
    /// No value: a missing attribute, or `nil` in a query.
    Nil,
}

impl Value {
    /// The value as a float when it is numeric; durations give nanoseconds.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) | Value::Duration(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    pub(crate) fn is_numeric(&self) -> bool {
        matches!(self, Value::Int(_) | Value::Float(_) | Value::Duration(_))
    }

    /// Identity used by `by()`: same variant and same value (floats by bits).
    pub(crate) fn same_as(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits(),
            _ => self == other,
        }
    }
}

impl fmt::Display for Value {
    /// Formats the value as a TraceQL literal that parses back to the same
    /// value (negative numbers parse back as a negation).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => write_quoted(f, s),
            Value::Int(i) if *i == i64::MIN => f.write_str("minInt"),
            Value::Int(i) => write!(f, "{i}"),
            // Debug keeps a `.0` or an exponent so the literal stays a float.
            Value::Float(x) => write!(f, "{x:?}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Duration(ns) => write_duration(f, *ns),
            Value::Status(s) => f.write_str(s.as_str()),
            Value::Kind(k) => f.write_str(k.as_str()),
            Value::Nil => f.write_str("nil"),
        }
    }
}

/// Writes `s` as a double-quoted TraceQL string with Go-style escapes.
pub(crate) fn write_quoted(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\t' => f.write_str("\\t")?,
            '\r' => f.write_str("\\r")?,
            c if c.is_control() => {
                let code = u32::from(c);
                if code <= 0xFFFF {
                    write!(f, "\\u{code:04x}")?;
                } else {
                    write!(f, "\\U{code:08x}")?;
                }
            }
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

const NANOS_PER_UNIT: [(i64, &str); 6] = [
    (3_600_000_000_000, "h"),
    (60_000_000_000, "m"),
    (1_000_000_000, "s"),
    (1_000_000, "ms"),
    (1_000, "us"),
    (1, "ns"),
];

fn write_duration(f: &mut fmt::Formatter<'_>, ns: i64) -> fmt::Result {
    if ns == 0 {
        return f.write_str("0s");
    }
    for (unit_ns, unit) in NANOS_PER_UNIT {
        if ns % unit_ns == 0 {
            return write!(f, "{}{unit}", ns / unit_ns);
        }
    }
    unreachable!("every integer is a multiple of one nanosecond")
}

/// Compares two values with a non-regex operator. `Nil` and unrelated types
/// give `false` for every operator, `!=` included, as in Tempo.
pub(crate) fn compare(op: CompareOp, lhs: &Value, rhs: &Value) -> bool {
    debug_assert!(!matches!(op, CompareOp::Regex | CompareOp::NotRegex));
    match (lhs, rhs) {
        (Value::Nil, _) | (_, Value::Nil) => false,
        (Value::Str(a), Value::Str(b)) => ordering_holds(op, Some(a.cmp(b))),
        (Value::Bool(a), Value::Bool(b)) => equality_holds(op, a == b),
        (Value::Status(a), Value::Status(b)) => equality_holds(op, a == b),
        (Value::Kind(a), Value::Kind(b)) => equality_holds(op, a == b),
        (a, b) if a.is_numeric() && b.is_numeric() => ordering_holds(op, numeric_cmp(a, b)),
        _ => false,
    }
}

/// Whether `value` matches (or, negated, does not match) an anchored regex.
/// Non-strings and `Nil` never match either way.
pub(crate) fn regex_holds(regex: &regex::Regex, negated: bool, value: &Value) -> bool {
    match value {
        Value::Str(s) => regex.is_match(s) != negated,
        _ => false,
    }
}

/// Compiles a TraceQL regex: fully anchored, `.` matching newlines, as
/// Tempo (through Prometheus' matcher) does.
pub(crate) fn compile_regex(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::Regex::new(&format!("^(?s:{pattern})$"))
}

fn numeric_cmp(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Int(x) | Value::Duration(x), Value::Int(y) | Value::Duration(y)) => Some(x.cmp(y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

fn ordering_holds(op: CompareOp, ordering: Option<Ordering>) -> bool {
    let Some(ordering) = ordering else {
        // NaN: only "not equal" holds.
        return op == CompareOp::Ne;
    };
    match op {
        CompareOp::Eq => ordering == Ordering::Equal,
        CompareOp::Ne => ordering != Ordering::Equal,
        CompareOp::Gt => ordering == Ordering::Greater,
        CompareOp::Ge => ordering != Ordering::Less,
        CompareOp::Lt => ordering == Ordering::Less,
        CompareOp::Le => ordering != Ordering::Greater,
        CompareOp::Regex | CompareOp::NotRegex => false,
    }
}

fn equality_holds(op: CompareOp, equal: bool) -> bool {
    match op {
        CompareOp::Eq => equal,
        CompareOp::Ne => !equal,
        _ => false,
    }
}

/// Arithmetic on numbers. Two integers give an integer, an integer or a
/// duration with a duration gives a duration, anything else numeric gives a
/// float; non-numbers and integer division by zero give `Nil`.
pub(crate) fn arithmetic(op: ArithOp, lhs: &Value, rhs: &Value) -> Value {
    match (lhs, rhs) {
        (Value::Int(a), Value::Int(b)) => integer_arithmetic(op, *a, *b).unwrap_or(Value::Nil),
        (Value::Int(a) | Value::Duration(a), Value::Int(b) | Value::Duration(b))
            if op != ArithOp::Pow =>
        {
            match integer_arithmetic(op, *a, *b) {
                Some(Value::Int(ns)) => Value::Duration(ns),
                _ => Value::Nil,
            }
        }
        (a, b) => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => Value::Float(float_arithmetic(op, x, y)),
            _ => Value::Nil,
        },
    }
}

fn integer_arithmetic(op: ArithOp, a: i64, b: i64) -> Option<Value> {
    let result = match op {
        ArithOp::Add => a.wrapping_add(b),
        ArithOp::Sub => a.wrapping_sub(b),
        ArithOp::Mul => a.wrapping_mul(b),
        ArithOp::Div => a.checked_div(b)?,
        ArithOp::Mod => a.checked_rem(b)?,
        ArithOp::Pow => match u32::try_from(b) {
            Ok(exp) => a.wrapping_pow(exp),
            Err(_) => return Some(Value::Float((a as f64).powf(b as f64))),
        },
    };
    Some(Value::Int(result))
}

fn float_arithmetic(op: ArithOp, x: f64, y: f64) -> f64 {
    match op {
        ArithOp::Add => x + y,
        ArithOp::Sub => x - y,
        ArithOp::Mul => x * y,
        ArithOp::Div => x / y,
        ArithOp::Mod => x % y,
        ArithOp::Pow => x.powf(y),
    }
}

/// Unary minus on numbers; `Nil` for anything else.
pub(crate) fn negate(value: &Value) -> Value {
    match value {
        Value::Int(i) => Value::Int(i.wrapping_neg()),
        Value::Float(x) => Value::Float(-x),
        Value::Duration(ns) => Value::Duration(ns.wrapping_neg()),
        _ => Value::Nil,
    }
}
