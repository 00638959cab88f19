//! The syntax tree of a LogQL query and its canonical text form.
//!
//! `Display` prints a canonical query whose text is a fixed point of
//! parse-then-print: binary operands that are themselves binary (or
//! negative literals) are parenthesised, label filter `and` is written `,`,
//! strings are double-quoted with Go escapes, durations in Prometheus form.

use std::fmt;

use regex::Regex;
use vispyr_promql::{MatchOp, Matcher, format_float};

use crate::filter::LineFilter;
use crate::pattern::Pattern;
use crate::template::Template;
use crate::units::format_duration;

/// Quotes a string as Go's `strconv.Quote` would (close enough to round trip).
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub(crate) fn match_op_str(op: MatchOp) -> &'static str {
    match op {
        MatchOp::Equal => "=",
        MatchOp::NotEqual => "!=",
        MatchOp::Regex => "=~",
        MatchOp::NotRegex => "!~",
    }
}

pub(crate) fn fmt_matcher(m: &Matcher) -> String {
    format!("{}{}{}", m.name, match_op_str(m.op), quote(&m.value))
}

/// Numeric comparison of label filters and binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CmpOp {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
        }
    }

    pub(crate) fn test<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
        }
    }
}

/// A label filter expression after `|`.
#[derive(Debug, Clone)]
pub(crate) enum LabelFilter {
    /// `name op "string"`; the only filter that sees `__error__`.
    Str(Matcher),
    Number {
        name: String,
        op: CmpOp,
        value: f64,
    },
    Duration {
        name: String,
        op: CmpOp,
        ns: i64,
    },
    Bytes {
        name: String,
        op: CmpOp,
        bytes: u64,
    },
    And(Box<LabelFilter>, Box<LabelFilter>),
    Or(Box<LabelFilter>, Box<LabelFilter>),
}

impl fmt::Display for LabelFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabelFilter::Str(m) => f.write_str(&fmt_matcher(m)),
            LabelFilter::Number { name, op, value } => {
                write!(f, "{name}{}{}", op.as_str(), format_float(*value))
            }
            LabelFilter::Duration { name, op, ns } => {
                write!(f, "{name}{}{}", op.as_str(), format_duration(*ns))
            }
            LabelFilter::Bytes { name, op, bytes } => write!(f, "{name}{}{bytes}B", op.as_str()),
            LabelFilter::And(l, r) => {
                let side = |x: &LabelFilter| match x {
                    LabelFilter::Or(..) => format!("({x})"),
                    _ => x.to_string(),
                };
                write!(f, "{}, {}", side(l), side(r))
            }
            LabelFilter::Or(l, r) => {
                let right = match r.as_ref() {
                    LabelFilter::Or(..) => format!("({r})"),
                    _ => r.to_string(),
                };
                write!(f, "{l} or {right}")
            }
        }
    }
}

/// A path of `| json label="path"`: keys and array indices.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PathPart {
    Key(String),
    Index(usize),
}

/// One `label="expression"` of `| json` or `| logfmt`.
#[derive(Debug, Clone)]
pub(crate) struct Extraction {
    pub(crate) label: String,
    /// As written (without quotes) when the query had `label="..."`; `None`
    /// for the bare `label` form.
    pub(crate) source: Option<String>,
    pub(crate) path: Vec<PathPart>,
}

impl fmt::Display for Extraction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(source) => write!(f, "{}={}", self.label, quote(source)),
            None => f.write_str(&self.label),
        }
    }
}

/// One item of `| label_format`.
#[derive(Debug, Clone)]
pub(crate) enum LabelFmt {
    /// `dst=src`: rename.
    Rename { dst: String, src: String },
    /// `dst="template"`.
    Template { dst: String, template: Template },
}

/// One item of `| drop` / `| keep`.
#[derive(Debug, Clone)]
pub(crate) enum NameOrMatcher {
    Name(String),
    Matcher(Matcher),
}

impl fmt::Display for NameOrMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameOrMatcher::Name(name) => f.write_str(name),
            NameOrMatcher::Matcher(m) => f.write_str(&fmt_matcher(m)),
        }
    }
}

/// A stage of a log pipeline.
#[derive(Debug, Clone)]
pub(crate) enum Stage {
    LineFilter(LineFilter),
    Json(Vec<Extraction>),
    Logfmt {
        strict: bool,
        keep_empty: bool,
        extractions: Vec<Extraction>,
    },
    Regexp {
        source: String,
        regex: Regex,
    },
    Pattern(Pattern),
    Unpack,
    LabelFilter(LabelFilter),
    LineFormat(Template),
    LabelFormat(Vec<LabelFmt>),
    Drop(Vec<NameOrMatcher>),
    Keep(Vec<NameOrMatcher>),
    Decolorize,
}

impl Stage {
    /// Whether the stage may replace the line.
    pub(crate) fn changes_line(&self) -> bool {
        matches!(
            self,
            Stage::LineFormat(_) | Stage::Unpack | Stage::Decolorize
        )
    }

    /// Whether the stage may drop an entry.
    pub(crate) fn may_drop(&self) -> bool {
        matches!(self, Stage::LineFilter(_) | Stage::LabelFilter(_))
    }
}

fn join<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stage::LineFilter(filter) => {
                let values: Vec<String> = filter.values().iter().map(|v| quote(v)).collect();
                write!(f, "{} {}", filter.op().as_str(), values.join(" or "))
            }
            Stage::Json(extractions) => {
                f.write_str("| json")?;
                if !extractions.is_empty() {
                    write!(f, " {}", join(extractions))?;
                }
                Ok(())
            }
            Stage::Logfmt {
                strict,
                keep_empty,
                extractions,
            } => {
                f.write_str("| logfmt")?;
                if *strict {
                    f.write_str(" --strict")?;
                }
                if *keep_empty {
                    f.write_str(" --keep-empty")?;
                }
                if !extractions.is_empty() {
                    write!(f, " {}", join(extractions))?;
                }
                Ok(())
            }
            Stage::Regexp { source, .. } => write!(f, "| regexp {}", quote(source)),
            Stage::Pattern(p) => write!(f, "| pattern {}", quote(p.source())),
            Stage::Unpack => f.write_str("| unpack"),
            Stage::LabelFilter(filter) => write!(f, "| {filter}"),
            Stage::LineFormat(t) => write!(f, "| line_format {}", quote(t.source())),
            Stage::LabelFormat(items) => {
                let parts: Vec<String> = items
                    .iter()
                    .map(|item| match item {
                        LabelFmt::Rename { dst, src } => format!("{dst}={src}"),
                        LabelFmt::Template { dst, template } => {
                            format!("{dst}={}", quote(template.source()))
                        }
                    })
                    .collect();
                write!(f, "| label_format {}", parts.join(", "))
            }
            Stage::Drop(items) => write!(f, "| drop {}", join(items)),
            Stage::Keep(items) => write!(f, "| keep {}", join(items)),
            Stage::Decolorize => f.write_str("| decolorize"),
        }
    }
}

/// A stream selector and its pipeline: a log query, or the inside of a
/// range aggregation.
#[derive(Debug, Clone)]
pub struct LogSelector {
    pub(crate) matchers: Vec<Matcher>,
    pub(crate) stages: Vec<Stage>,
}

impl fmt::Display for LogSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let matchers: Vec<String> = self.matchers.iter().map(fmt_matcher).collect();
        write!(f, "{{{}}}", matchers.join(", "))?;
        for stage in &self.stages {
            write!(f, " {stage}")?;
        }
        Ok(())
    }
}

/// How `| unwrap` converts a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Conversion {
    Float,
    /// `duration(x)` / `duration_seconds(x)`: seconds.
    Duration,
    DurationSeconds,
    Bytes,
}

/// `| unwrap label` with the label filters written after it.
#[derive(Debug, Clone)]
pub(crate) struct Unwrap {
    pub(crate) label: String,
    pub(crate) conversion: Conversion,
    pub(crate) post_filters: Vec<LabelFilter>,
}

impl fmt::Display for Unwrap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.conversion {
            Conversion::Float => write!(f, "| unwrap {}", self.label)?,
            Conversion::Duration => write!(f, "| unwrap duration({})", self.label)?,
            Conversion::DurationSeconds => write!(f, "| unwrap duration_seconds({})", self.label)?,
            Conversion::Bytes => write!(f, "| unwrap bytes({})", self.label)?,
        }
        for filter in &self.post_filters {
            write!(f, " | {filter}")?;
        }
        Ok(())
    }
}

/// `selector pipeline [range] offset d`.
#[derive(Debug, Clone)]
pub(crate) struct LogRange {
    pub(crate) selector: LogSelector,
    pub(crate) unwrap: Option<Unwrap>,
    pub(crate) range_ns: i64,
    pub(crate) offset_ns: i64,
}

impl fmt::Display for LogRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.selector)?;
        if let Some(unwrap) = &self.unwrap {
            write!(f, " {unwrap}")?;
        }
        write!(f, " [{}]", format_duration(self.range_ns))?;
        if self.offset_ns != 0 {
            write!(f, " offset {}", format_duration(self.offset_ns))?;
        }
        Ok(())
    }
}

/// Range aggregations over a log range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeOp {
    CountOverTime,
    Rate,
    RateCounter,
    BytesOverTime,
    BytesRate,
    SumOverTime,
    AvgOverTime,
    MaxOverTime,
    MinOverTime,
    StddevOverTime,
    StdvarOverTime,
    QuantileOverTime,
    FirstOverTime,
    LastOverTime,
    AbsentOverTime,
}

impl RangeOp {
    pub(crate) const ALL: [RangeOp; 15] = [
        RangeOp::CountOverTime,
        RangeOp::Rate,
        RangeOp::RateCounter,
        RangeOp::BytesOverTime,
        RangeOp::BytesRate,
        RangeOp::SumOverTime,
        RangeOp::AvgOverTime,
        RangeOp::MaxOverTime,
        RangeOp::MinOverTime,
        RangeOp::StddevOverTime,
        RangeOp::StdvarOverTime,
        RangeOp::QuantileOverTime,
        RangeOp::FirstOverTime,
        RangeOp::LastOverTime,
        RangeOp::AbsentOverTime,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            RangeOp::CountOverTime => "count_over_time",
            RangeOp::Rate => "rate",
            RangeOp::RateCounter => "rate_counter",
            RangeOp::BytesOverTime => "bytes_over_time",
            RangeOp::BytesRate => "bytes_rate",
            RangeOp::SumOverTime => "sum_over_time",
            RangeOp::AvgOverTime => "avg_over_time",
            RangeOp::MaxOverTime => "max_over_time",
            RangeOp::MinOverTime => "min_over_time",
            RangeOp::StddevOverTime => "stddev_over_time",
            RangeOp::StdvarOverTime => "stdvar_over_time",
            RangeOp::QuantileOverTime => "quantile_over_time",
            RangeOp::FirstOverTime => "first_over_time",
            RangeOp::LastOverTime => "last_over_time",
            RangeOp::AbsentOverTime => "absent_over_time",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<RangeOp> {
        RangeOp::ALL.into_iter().find(|op| op.name() == name)
    }

    /// Whether the op needs `| unwrap` (true), forbids it (false) or takes
    /// both (None).
    pub(crate) fn unwrap_requirement(self) -> Option<bool> {
        match self {
            RangeOp::Rate => None,
            RangeOp::CountOverTime
            | RangeOp::BytesOverTime
            | RangeOp::BytesRate
            | RangeOp::AbsentOverTime => Some(false),
            _ => Some(true),
        }
    }
}

/// Aggregations over instant vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VectorOp {
    Sum,
    Avg,
    Min,
    Max,
    Count,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
    Sort,
    SortDesc,
}

impl VectorOp {
    pub(crate) const ALL: [VectorOp; 11] = [
        VectorOp::Sum,
        VectorOp::Avg,
        VectorOp::Min,
        VectorOp::Max,
        VectorOp::Count,
        VectorOp::Stddev,
        VectorOp::Stdvar,
        VectorOp::Topk,
        VectorOp::Bottomk,
        VectorOp::Sort,
        VectorOp::SortDesc,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            VectorOp::Sum => "sum",
            VectorOp::Avg => "avg",
            VectorOp::Min => "min",
            VectorOp::Max => "max",
            VectorOp::Count => "count",
            VectorOp::Stddev => "stddev",
            VectorOp::Stdvar => "stdvar",
            VectorOp::Topk => "topk",
            VectorOp::Bottomk => "bottomk",
            VectorOp::Sort => "sort",
            VectorOp::SortDesc => "sort_desc",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<VectorOp> {
        VectorOp::ALL.into_iter().find(|op| op.name() == name)
    }
}

/// `by (...)` or `without (...)`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Grouping {
    pub(crate) without: bool,
    pub(crate) labels: Vec<String>,
}

impl fmt::Display for Grouping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = if self.without { "without" } else { "by" };
        write!(f, "{word} ({})", self.labels.join(", "))
    }
}

/// Binary operators, loosest first in [`BinOp::precedence`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Or,
    And,
    Unless,
    Cmp(CmpOp),
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
}

impl BinOp {
    pub(crate) fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::And | BinOp::Unless => 2,
            BinOp::Cmp(_) => 3,
            BinOp::Add | BinOp::Sub => 4,
            BinOp::Mul | BinOp::Div | BinOp::Mod => 5,
            BinOp::Pow => 6,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            BinOp::Or => "or",
            BinOp::And => "and",
            BinOp::Unless => "unless",
            BinOp::Cmp(op) => op.as_str(),
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::Pow => "^",
        }
    }

    pub(crate) fn is_set(self) -> bool {
        matches!(self, BinOp::Or | BinOp::And | BinOp::Unless)
    }
}

/// `on(...)` / `ignoring(...)` and `group_left(...)` / `group_right(...)`.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct VectorMatching {
    /// `Some(true)` for `on`, `Some(false)` for `ignoring`.
    pub(crate) on: Option<bool>,
    pub(crate) labels: Vec<String>,
    /// `Some(true)` for `group_left`, `Some(false)` for `group_right`.
    pub(crate) group_left: Option<bool>,
    pub(crate) include: Vec<String>,
}

/// A metric (sample) expression.
#[derive(Debug, Clone)]
pub(crate) enum MetricExpr {
    Range {
        op: RangeOp,
        param: Option<f64>,
        range: Box<LogRange>,
        grouping: Option<Grouping>,
    },
    Vector {
        op: VectorOp,
        param: Option<f64>,
        expr: Box<MetricExpr>,
        grouping: Option<Grouping>,
    },
    Binary {
        op: BinOp,
        lhs: Box<MetricExpr>,
        rhs: Box<MetricExpr>,
        return_bool: bool,
        matching: VectorMatching,
    },
    Literal(f64),
    /// `vector(v)`.
    VectorLiteral(f64),
}

impl MetricExpr {
    /// Whether the expression evaluates to a scalar (no selector inside).
    pub(crate) fn is_scalar(&self) -> bool {
        match self {
            MetricExpr::Literal(_) => true,
            MetricExpr::Binary { lhs, rhs, .. } => lhs.is_scalar() && rhs.is_scalar(),
            _ => false,
        }
    }
}

fn fmt_number(v: f64) -> String {
    format_float(v)
}

impl fmt::Display for MetricExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricExpr::Range {
                op,
                param,
                range,
                grouping,
            } => {
                write!(f, "{}(", op.name())?;
                if let Some(p) = param {
                    write!(f, "{}, ", fmt_number(*p))?;
                }
                write!(f, "{range})")?;
                if let Some(g) = grouping {
                    write!(f, " {g}")?;
                }
                Ok(())
            }
            MetricExpr::Vector {
                op,
                param,
                expr,
                grouping,
            } => {
                f.write_str(op.name())?;
                if let Some(g) = grouping {
                    write!(f, " {g} ")?;
                }
                f.write_str("(")?;
                if let Some(p) = param {
                    write!(f, "{}, ", fmt_number(*p))?;
                }
                write!(f, "{expr})")
            }
            MetricExpr::Binary {
                op,
                lhs,
                rhs,
                return_bool,
                matching,
            } => {
                let side = |e: &MetricExpr| match e {
                    MetricExpr::Binary { .. } => format!("({e})"),
                    MetricExpr::Literal(v) if *v < 0.0 || v.is_sign_negative() => {
                        format!("({e})")
                    }
                    _ => e.to_string(),
                };
                write!(f, "{} {}", side(lhs), op.as_str())?;
                if *return_bool {
                    f.write_str(" bool")?;
                }
                if let Some(on) = matching.on {
                    let word = if on { "on" } else { "ignoring" };
                    write!(f, " {word} ({})", matching.labels.join(", "))?;
                }
                if let Some(left) = matching.group_left {
                    let word = if left { "group_left" } else { "group_right" };
                    write!(f, " {word} ({})", matching.include.join(", "))?;
                }
                write!(f, " {}", side(rhs))
            }
            MetricExpr::Literal(v) => f.write_str(&fmt_number(*v)),
            MetricExpr::VectorLiteral(v) => write!(f, "vector({})", fmt_number(*v)),
        }
    }
}
