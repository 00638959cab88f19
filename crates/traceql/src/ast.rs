//! The parsed form of a query and its canonical text.
//!
//! Display prints a fully parenthesised query that parses back to the same
//! tree; the parser tests use it as an AST snapshot.

use std::fmt;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::value::{Value, write_quoted};

/// A field of a span that a query reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Field {
    /// A built-in field of every span or trace.
    Intrinsic(Intrinsic),
    /// A user attribute.
    Attribute {
        /// Where to look the attribute up.
        scope: AttributeScope,
        /// The attribute key, e.g. `http.status_code`.
        name: String,
    },
}

impl Field {
    /// Whether the field can be read from one span alone (trace-level
    /// intrinsics and `span:childCount` need the whole trace).
    pub fn is_span_local(&self) -> bool {
        match self {
            Field::Attribute { .. } => true,
            Field::Intrinsic(intrinsic) => intrinsic.is_span_local(),
        }
    }
}

/// Built-in fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Intrinsic {
    /// `name`, `span:name`: the span name.
    Name,
    /// `status`, `span:status`.
    Status,
    /// `statusMessage`, `span:statusMessage`.
    StatusMessage,
    /// `duration`, `span:duration`: the span's own duration.
    Duration,
    /// `kind`, `span:kind`.
    Kind,
    /// `span:id`: the span id as hex.
    SpanId,
    /// `span:parentID`: the parent span id as hex (`nil` for roots).
    ParentId,
    /// `span:childCount`: number of direct children.
    ChildCount,
    /// `trace:id`.
    TraceId,
    /// `traceDuration`, `trace:duration`: max(end) - min(start) of the trace.
    TraceDuration,
    /// `rootName`, `trace:rootName`: name of the root span.
    RootName,
    /// `rootServiceName`, `trace:rootService`: service of the root span.
    RootServiceName,
}

impl Intrinsic {
    /// Whether the intrinsic can be read from one span alone.
    pub fn is_span_local(self) -> bool {
        !matches!(
            self,
            Intrinsic::ChildCount
                | Intrinsic::TraceId
                | Intrinsic::TraceDuration
                | Intrinsic::RootName
                | Intrinsic::RootServiceName
        )
    }

    /// The canonical TraceQL spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Intrinsic::Name => "name",
            Intrinsic::Status => "status",
            Intrinsic::StatusMessage => "statusMessage",
            Intrinsic::Duration => "duration",
            Intrinsic::Kind => "kind",
            Intrinsic::SpanId => "span:id",
            Intrinsic::ParentId => "span:parentID",
            Intrinsic::ChildCount => "span:childCount",
            Intrinsic::TraceId => "trace:id",
            Intrinsic::TraceDuration => "trace:duration",
            Intrinsic::RootName => "trace:rootName",
            Intrinsic::RootServiceName => "trace:rootService",
        }
    }
}

/// Where an attribute is looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AttributeScope {
    /// `span.foo`: span attributes only.
    Span,
    /// `resource.foo`: resource attributes only.
    Resource,
    /// `.foo`: span attributes, then resource attributes.
    Any,
}

/// Comparison operators of filters and conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CompareOp {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `=~`: the value (a string) is a fully anchored regex.
    Regex,
    /// `!~`: the value (a string) is a fully anchored regex.
    NotRegex,
}

impl CompareOp {
    /// The TraceQL spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "=",
            CompareOp::Ne => "!=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Regex => "=~",
            CompareOp::NotRegex => "!~",
        }
    }

    /// The operator with its operands swapped (`a < b` is `b > a`).
    pub(crate) fn flipped(self) -> CompareOp {
        match self {
            CompareOp::Gt => CompareOp::Lt,
            CompareOp::Ge => CompareOp::Le,
            CompareOp::Lt => CompareOp::Gt,
            CompareOp::Le => CompareOp::Ge,
            other => other,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
}

impl ArithOp {
    fn as_str(self) -> &'static str {
        match self {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
            ArithOp::Div => "/",
            ArithOp::Mod => "%",
            ArithOp::Pow => "^",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogicOp {
    And,
    Or,
}

/// Operators between spansets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SpansetOp {
    And,
    Or,
    Structural(Relation, StructuralMode),
}

/// How the right-hand spans relate to the left-hand ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Relation {
    /// `>`: right spans whose parent is a left span.
    Child,
    /// `<`: right spans that are the parent of a left span.
    Parent,
    /// `>>`: right spans below a left span.
    Descendant,
    /// `<<`: right spans above a left span.
    Ancestor,
    /// `~`: right spans sharing a parent with another left span.
    Sibling,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StructuralMode {
    /// Right spans that have the relation.
    Plain,
    /// `!`: right spans that do not have it.
    Not,
    /// `&`: right and left spans that take part in it.
    Union,
}

impl SpansetOp {
    fn as_str(self) -> &'static str {
        match self {
            SpansetOp::And => "&&",
            SpansetOp::Or => "||",
            SpansetOp::Structural(relation, mode) => {
                let ops = match relation {
                    Relation::Child => [">", "!>", "&>"],
                    Relation::Parent => ["<", "!<", "&<"],
                    Relation::Descendant => [">>", "!>>", "&>>"],
                    Relation::Ancestor => ["<<", "!<<", "&<<"],
                    Relation::Sibling => ["~", "!~", "&~"],
                };
                match mode {
                    StructuralMode::Plain => ops[0],
                    StructuralMode::Not => ops[1],
                    StructuralMode::Union => ops[2],
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AggregateOp {
    Count,
    Avg,
    Min,
    Max,
    Sum,
}

impl AggregateOp {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            AggregateOp::Count => "count",
            AggregateOp::Avg => "avg",
            AggregateOp::Min => "min",
            AggregateOp::Max => "max",
            AggregateOp::Sum => "sum",
        }
    }
}

/// An expression evaluated on one span.
#[derive(Debug, Clone)]
pub(crate) enum FieldExpr {
    Literal(Value),
    Field(Field),
    Compare(CompareOp, Box<FieldExpr>, Box<FieldExpr>),
    /// `lhs =~ "re"` / `lhs !~ "re"`; the pattern is compiled at parse time.
    Regex {
        lhs: Box<FieldExpr>,
        pattern: String,
        regex: Regex,
        negated: bool,
    },
    Arith(ArithOp, Box<FieldExpr>, Box<FieldExpr>),
    Logic(LogicOp, Box<FieldExpr>, Box<FieldExpr>),
    Not(Box<FieldExpr>),
    Neg(Box<FieldExpr>),
    /// `x != nil`
    Exists(Box<FieldExpr>),
    /// `x = nil`
    NotExists(Box<FieldExpr>),
}

/// An expression over the spans of one spanset.
#[derive(Debug, Clone)]
pub(crate) enum ScalarExpr {
    Aggregate(AggregateOp, Option<FieldExpr>),
    Literal(Value),
    Arith(ArithOp, Box<ScalarExpr>, Box<ScalarExpr>),
    Neg(Box<ScalarExpr>),
}

impl ScalarExpr {
    pub(crate) fn has_aggregate(&self) -> bool {
        match self {
            ScalarExpr::Aggregate(..) => true,
            ScalarExpr::Literal(_) => false,
            ScalarExpr::Arith(_, lhs, rhs) => lhs.has_aggregate() || rhs.has_aggregate(),
            ScalarExpr::Neg(inner) => inner.has_aggregate(),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum SpansetExpr {
    /// `{ expr }`; `None` is `{ }`, every span.
    Filter(Option<FieldExpr>),
    Op(SpansetOp, Box<SpansetExpr>, Box<SpansetExpr>),
    /// A parenthesised pipeline with more than one stage.
    Pipeline(Pipeline),
}

#[derive(Debug, Clone)]
pub(crate) struct ScalarFilter {
    pub(crate) lhs: ScalarExpr,
    pub(crate) op: CompareOp,
    pub(crate) rhs: ScalarExpr,
}

#[derive(Debug, Clone)]
pub(crate) enum Stage {
    Spanset(SpansetExpr),
    ScalarFilter(ScalarFilter),
    By(FieldExpr),
    Select(Vec<Field>),
    Coalesce,
}

#[derive(Debug, Clone)]
pub(crate) struct Pipeline {
    pub(crate) stages: Vec<Stage>,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Intrinsic(intrinsic) => f.write_str(intrinsic.as_str()),
            Field::Attribute { scope, name } => {
                let prefix = match scope {
                    AttributeScope::Span => "span.",
                    AttributeScope::Resource => "resource.",
                    AttributeScope::Any => ".",
                };
                f.write_str(prefix)?;
                if needs_quoting(name) {
                    write_attribute_quoted(f, name)
                } else {
                    f.write_str(name)
                }
            }
        }
    }
}

/// Whether an attribute name must be written in quotes to lex back whole.
fn needs_quoting(name: &str) -> bool {
    name.is_empty()
        || name.contains('"')
        || name.chars().any(|c| !crate::lexer::is_attribute_char(c))
}

/// Quoted attribute names only know the `\"` and `\\` escapes.
fn write_attribute_quoted(f: &mut fmt::Formatter<'_>, name: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in name.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

impl FieldExpr {
    fn is_compound(&self) -> bool {
        !matches!(self, FieldExpr::Literal(_) | FieldExpr::Field(_))
    }
}

/// Writes a child expression, parenthesised when it is compound.
fn write_operand<T: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    expr: &T,
    compound: bool,
) -> fmt::Result {
    if compound {
        write!(f, "({expr})")
    } else {
        write!(f, "{expr}")
    }
}

impl fmt::Display for FieldExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let binary = |f: &mut fmt::Formatter<'_>, op: &str, lhs: &FieldExpr, rhs: &FieldExpr| {
            write_operand(f, lhs, lhs.is_compound())?;
            write!(f, " {op} ")?;
            write_operand(f, rhs, rhs.is_compound())
        };
        match self {
            FieldExpr::Literal(value) => write!(f, "{value}"),
            FieldExpr::Field(field) => write!(f, "{field}"),
            FieldExpr::Compare(op, lhs, rhs) => binary(f, op.as_str(), lhs, rhs),
            FieldExpr::Regex {
                lhs,
                pattern,
                negated,
                ..
            } => {
                write_operand(f, lhs, lhs.is_compound())?;
                f.write_str(if *negated { " !~ " } else { " =~ " })?;
                write_quoted(f, pattern)
            }
            FieldExpr::Arith(op, lhs, rhs) => binary(f, op.as_str(), lhs, rhs),
            FieldExpr::Logic(op, lhs, rhs) => {
                let op = match op {
                    LogicOp::And => "&&",
                    LogicOp::Or => "||",
                };
                binary(f, op, lhs, rhs)
            }
            FieldExpr::Not(inner) => {
                f.write_str("!")?;
                write_operand(f, inner, inner.is_compound())
            }
            FieldExpr::Neg(inner) => {
                f.write_str("-")?;
                write_operand(f, inner, inner.is_compound())
            }
            FieldExpr::Exists(inner) => {
                write_operand(f, inner, inner.is_compound())?;
                f.write_str(" != nil")
            }
            FieldExpr::NotExists(inner) => {
                write_operand(f, inner, inner.is_compound())?;
                f.write_str(" = nil")
            }
        }
    }
}

impl ScalarExpr {
    fn is_compound(&self) -> bool {
        matches!(self, ScalarExpr::Arith(..) | ScalarExpr::Neg(_))
    }
}

impl fmt::Display for ScalarExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScalarExpr::Aggregate(op, None) => write!(f, "{}()", op.as_str()),
            ScalarExpr::Aggregate(op, Some(arg)) => write!(f, "{}({arg})", op.as_str()),
            ScalarExpr::Literal(value) => write!(f, "{value}"),
            ScalarExpr::Arith(op, lhs, rhs) => {
                write_operand(f, lhs, lhs.is_compound())?;
                write!(f, " {} ", op.as_str())?;
                write_operand(f, rhs, rhs.is_compound())
            }
            ScalarExpr::Neg(inner) => {
                f.write_str("-")?;
                write_operand(f, inner, inner.is_compound())
            }
        }
    }
}

impl fmt::Display for SpansetExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpansetExpr::Filter(None) => f.write_str("{ }"),
            SpansetExpr::Filter(Some(expr)) => write!(f, "{{ {expr} }}"),
            SpansetExpr::Op(op, lhs, rhs) => {
                write_operand(f, lhs, matches!(**lhs, SpansetExpr::Op(..)))?;
                write!(f, " {} ", op.as_str())?;
                write_operand(f, rhs, matches!(**rhs, SpansetExpr::Op(..)))
            }
            SpansetExpr::Pipeline(pipeline) => write!(f, "({pipeline})"),
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stage::Spanset(expr) => write!(f, "{expr}"),
            Stage::ScalarFilter(filter) => {
                write_operand(f, &filter.lhs, filter.lhs.is_compound())?;
                write!(f, " {} ", filter.op.as_str())?;
                write_operand(f, &filter.rhs, filter.rhs.is_compound())
            }
            Stage::By(expr) => write!(f, "by({expr})"),
            Stage::Select(fields) => {
                f.write_str("select(")?;
                for (i, field) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{field}")?;
                }
                f.write_str(")")
            }
            Stage::Coalesce => f.write_str("coalesce()"),
        }
    }
}

impl fmt::Display for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, stage) in self.stages.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{stage}")?;
        }
        Ok(())
    }
}
