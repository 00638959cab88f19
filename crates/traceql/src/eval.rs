//! Evaluation of a parsed query against one trace.
//!
//! As in Tempo, a trace enters the pipeline as one spanset holding all its
//! spans; every stage maps a list of spansets to a new list, and the trace
//! matches when the last stage leaves at least one spanset.
//!
//! ```text
//! [all spans] ─▶ { filter } ─▶ by(...) ─▶ count() > 1 ─▶ ... ─▶ Vec<SpanSet>
//! ```

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::ast::{
    AggregateOp, AttributeScope, Field, FieldExpr, Intrinsic, LogicOp, Pipeline, Relation,
    ScalarExpr, ScalarFilter, SpansetExpr, SpansetOp, Stage, StructuralMode,
};
use crate::value::{Kind, Status, Value, arithmetic, compare, negate, regex_holds};

/// One span as the evaluator sees it. Attributes keep their OTLP types.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SpanData {
    /// Hex span id.
    pub span_id: String,
    /// Hex id of the parent span; `""` for roots.
    pub parent_span_id: String,
    /// Span name (operation).
    pub name: String,
    /// `service.name` of the span's resource; `resource.service.name` falls
    /// back to it when the resource attributes do not carry the key.
    pub service_name: String,
    /// Span kind.
    pub kind: Kind,
    /// Span status code.
    pub status: Status,
    /// Span status message.
    pub status_message: String,
    /// Start time, nanoseconds since the Unix epoch.
    pub start_ns: i64,
    /// Duration in nanoseconds.
    pub duration_ns: i64,
    /// Span attributes; the first of duplicate keys wins.
    pub span_attributes: Vec<(String, Value)>,
    /// Resource attributes; the first of duplicate keys wins.
    pub resource_attributes: Vec<(String, Value)>,
}

/// A trace: its spans in any order. The evaluator builds the tree from the
/// parent ids; a span whose parent is missing counts as a root.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    /// Hex trace id.
    pub trace_id: String,
    /// The spans, in any order.
    pub spans: Vec<SpanData>,
}

/// A set of spans of one trace selected by a query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanSet {
    /// Indices into `Trace::spans`, ascending, without duplicates.
    pub spans: Vec<usize>,
    /// The value computed by the last aggregate stage (`count()`, `avg(...)`,
    /// ...); durations are in nanoseconds.
    pub scalar: Option<f64>,
    /// Group attributes added by `by()` stages, e.g.
    /// `("by(resource.service.name)", Str("api"))`.
    pub group_by: Vec<(String, Value)>,
}

/// The value of `field` on `span` alone: `Some(Nil)` for a missing
/// attribute, `None` when the field needs the whole trace.
///
/// Filters and [`crate::Condition::matches_span`] both read fields through
/// this function, so a condition means the same thing in both places.
pub(crate) fn span_field(span: &SpanData, field: &Field) -> Option<Value> {
    let value = match field {
        Field::Attribute { scope, name } => attribute(span, *scope, name),
        Field::Intrinsic(intrinsic) => match intrinsic {
            Intrinsic::Name => Value::Str(span.name.clone()),
            Intrinsic::Status => Value::Status(span.status),
            Intrinsic::StatusMessage => Value::Str(span.status_message.clone()),
            Intrinsic::Duration => Value::Duration(span.duration_ns),
            Intrinsic::Kind => Value::Kind(span.kind),
            Intrinsic::SpanId => Value::Str(span.span_id.clone()),
            Intrinsic::ParentId if span.parent_span_id.is_empty() => Value::Nil,
            Intrinsic::ParentId => Value::Str(span.parent_span_id.clone()),
            Intrinsic::ChildCount
            | Intrinsic::TraceId
            | Intrinsic::TraceDuration
            | Intrinsic::RootName
            | Intrinsic::RootServiceName => return None,
        },
    };
    Some(value)
}

fn attribute(span: &SpanData, scope: AttributeScope, name: &str) -> Value {
    let lookup = |attributes: &[(String, Value)]| {
        attributes
            .iter()
            .find(|(key, value)| key == name && *value != Value::Nil)
            .map(|(_, value)| value.clone())
    };
    let from_resource = || {
        lookup(&span.resource_attributes).or_else(|| {
            (name == "service.name" && !span.service_name.is_empty())
                .then(|| Value::Str(span.service_name.clone()))
        })
    };
    let found = match scope {
        AttributeScope::Span => lookup(&span.span_attributes),
        AttributeScope::Resource => from_resource(),
        AttributeScope::Any => lookup(&span.span_attributes).or_else(from_resource),
    };
    found.unwrap_or(Value::Nil)
}

/// The trace with its tree resolved.
struct TraceView<'a> {
    trace: &'a Trace,
    parent: Vec<Option<usize>>,
    child_count: Vec<usize>,
    root: Option<usize>,
    duration_ns: i64,
}

impl<'a> TraceView<'a> {
    fn new(trace: &'a Trace) -> TraceView<'a> {
        let spans = &trace.spans;
        let mut by_id: HashMap<&str, usize> = HashMap::with_capacity(spans.len());
        for (index, span) in spans.iter().enumerate() {
            by_id.entry(span.span_id.as_str()).or_insert(index);
        }
        let parent: Vec<Option<usize>> = spans
            .iter()
            .enumerate()
            .map(|(index, span)| {
                if span.parent_span_id.is_empty() {
                    return None;
                }
                by_id
                    .get(span.parent_span_id.as_str())
                    .copied()
                    .filter(|&p| p != index)
            })
            .collect();
        let mut child_count = vec![0; spans.len()];
        for p in parent.iter().flatten() {
            child_count[*p] += 1;
        }
        // The root: a span without a parent id, else one whose parent is
        // missing; the earliest start (then the first listed) among them.
        let root = (0..spans.len())
            .filter(|&i| spans[i].parent_span_id.is_empty())
            .min_by_key(|&i| (spans[i].start_ns, i))
            .or_else(|| {
                (0..spans.len())
                    .filter(|&i| parent[i].is_none())
                    .min_by_key(|&i| (spans[i].start_ns, i))
            });
        let start = spans.iter().map(|s| s.start_ns).min().unwrap_or(0);
        let end = spans
            .iter()
            .map(|s| s.start_ns.saturating_add(s.duration_ns))
            .max()
            .unwrap_or(0);
        TraceView {
            trace,
            parent,
            child_count,
            root,
            duration_ns: end.saturating_sub(start),
        }
    }

    fn len(&self) -> usize {
        self.trace.spans.len()
    }

    fn field(&self, index: usize, field: &Field) -> Value {
        let span = &self.trace.spans[index];
        if let Some(value) = span_field(span, field) {
            return value;
        }
        let Field::Intrinsic(intrinsic) = field else {
            unreachable!("attributes are always span-local");
        };
        match intrinsic {
            Intrinsic::ChildCount => Value::Int(self.child_count[index] as i64),
            Intrinsic::TraceId => Value::Str(self.trace.trace_id.clone()),
            Intrinsic::TraceDuration => Value::Duration(self.duration_ns),
            Intrinsic::RootName => self
                .root
                .map_or(Value::Nil, |r| Value::Str(self.trace.spans[r].name.clone())),
            Intrinsic::RootServiceName => self.root.map_or(Value::Nil, |r| {
                Value::Str(self.trace.spans[r].service_name.clone())
            }),
            _ => unreachable!("span-local intrinsics are answered by span_field"),
        }
    }

    /// Proper ancestors of `index`, nearest first. On parent cycles
    /// (malformed data) it stops before coming back to `index`, and after
    /// visiting as many spans as the trace has.
    fn ancestors(&self, index: usize) -> impl Iterator<Item = usize> + '_ {
        let mut current = self.parent[index];
        let mut steps = 0;
        std::iter::from_fn(move || {
            let next = current?;
            steps += 1;
            if next == index || steps > self.len() {
                return None;
            }
            current = self.parent[next];
            Some(next)
        })
    }

    /// Marks every span that stands in `relation` to some span of `set`,
    /// read as "marked span <relation> set span": e.g. for `Descendant`, the
    /// spans below a span of `set`.
    fn related_to(&self, set: &[usize], relation: Relation) -> Vec<bool> {
        let n = self.len();
        let mut in_set = vec![false; n];
        for &i in set {
            in_set[i] = true;
        }
        let mut marked = vec![false; n];
        match relation {
            Relation::Child => {
                for (mark, parent) in marked.iter_mut().zip(&self.parent) {
                    *mark = parent.is_some_and(|p| in_set[p]);
                }
            }
            Relation::Parent => {
                for &i in set {
                    if let Some(p) = self.parent[i] {
                        marked[p] = true;
                    }
                }
            }
            Relation::Descendant => {
                for (i, mark) in marked.iter_mut().enumerate() {
                    *mark = self.ancestors(i).any(|a| in_set[a]);
                }
            }
            Relation::Ancestor => {
                for &i in set {
                    for a in self.ancestors(i) {
                        marked[a] = true;
                    }
                }
            }
            Relation::Sibling => {
                let mut per_parent = vec![0usize; n];
                for &i in set {
                    if let Some(p) = self.parent[i] {
                        per_parent[p] += 1;
                    }
                }
                for i in 0..n {
                    if let Some(p) = self.parent[i] {
                        let others = per_parent[p] - usize::from(in_set[i]);
                        marked[i] = others > 0;
                    }
                }
            }
        }
        marked
    }
}

/// The relation seen from the other side: `a` is a child of `b` exactly
/// when `b` is the parent of `a`.
fn converse(relation: Relation) -> Relation {
    match relation {
        Relation::Child => Relation::Parent,
        Relation::Parent => Relation::Child,
        Relation::Descendant => Relation::Ancestor,
        Relation::Ancestor => Relation::Descendant,
        Relation::Sibling => Relation::Sibling,
    }
}

/// A spanset during evaluation; `spans` ascending and unique.
#[derive(Debug, Clone)]
struct Set {
    spans: Vec<usize>,
    scalar: Option<Value>,
    group_by: Vec<(String, Value)>,
}

impl Set {
    fn with_spans(&self, spans: Vec<usize>) -> Set {
        Set {
            spans,
            scalar: self.scalar.clone(),
            group_by: self.group_by.clone(),
        }
    }
}

pub(crate) fn evaluate(pipeline: &Pipeline, trace: &Trace) -> Vec<SpanSet> {
    if trace.spans.is_empty() {
        return Vec::new();
    }
    let view = TraceView::new(trace);
    let all = Set {
        spans: (0..trace.spans.len()).collect(),
        scalar: None,
        group_by: Vec::new(),
    };
    run_pipeline(&view, pipeline, vec![all])
        .into_iter()
        .map(|set| SpanSet {
            spans: set.spans,
            scalar: set.scalar.as_ref().and_then(Value::as_f64),
            group_by: set.group_by,
        })
        .collect()
}

fn run_pipeline(view: &TraceView<'_>, pipeline: &Pipeline, input: Vec<Set>) -> Vec<Set> {
    let mut sets = input;
    for stage in &pipeline.stages {
        if sets.is_empty() {
            break;
        }
        sets = run_stage(view, stage, sets);
    }
    sets
}

fn run_stage(view: &TraceView<'_>, stage: &Stage, input: Vec<Set>) -> Vec<Set> {
    match stage {
        Stage::Spanset(expr) => input
            .iter()
            .flat_map(|set| spanset(view, expr, set))
            .collect(),
        Stage::ScalarFilter(filter) => input
            .into_iter()
            .filter_map(|set| scalar_filter(view, filter, set))
            .collect(),
        Stage::By(expr) => {
            let label = format!("by({expr})");
            let mut output = Vec::new();
            for set in &input {
                let mut groups: Vec<(Value, Vec<usize>)> = Vec::new();
                for &i in &set.spans {
                    let key = field_expr(view, expr, i);
                    match groups.iter_mut().find(|(k, _)| k.same_as(&key)) {
                        Some((_, members)) => members.push(i),
                        None => groups.push((key, vec![i])),
                    }
                }
                for (key, members) in groups {
                    let mut group = set.with_spans(members);
                    group.group_by.push((label.clone(), key));
                    output.push(group);
                }
            }
            output
        }
        // The fields are for the caller to fetch; the spans pass unchanged.
        Stage::Select(_) => input,
        Stage::Coalesce => {
            let mut spans: Vec<usize> =
                input.iter().flat_map(|s| s.spans.iter().copied()).collect();
            spans.sort_unstable();
            spans.dedup();
            vec![Set {
                spans,
                scalar: None,
                group_by: Vec::new(),
            }]
        }
    }
}

/// Evaluates a spanset expression on one input spanset.
fn spanset(view: &TraceView<'_>, expr: &SpansetExpr, input: &Set) -> Vec<Set> {
    match expr {
        SpansetExpr::Filter(None) => vec![input.clone()],
        SpansetExpr::Filter(Some(condition)) => {
            let matching: Vec<usize> = input
                .spans
                .iter()
                .copied()
                .filter(|&i| field_expr(view, condition, i) == Value::Bool(true))
                .collect();
            if matching.is_empty() {
                Vec::new()
            } else {
                vec![input.with_spans(matching)]
            }
        }
        SpansetExpr::Pipeline(pipeline) => run_pipeline(view, pipeline, vec![input.clone()]),
        SpansetExpr::Op(op, lhs, rhs) => {
            let left = flatten(spanset(view, lhs, input));
            let right = flatten(spanset(view, rhs, input));
            let result = match op {
                SpansetOp::And if left.is_empty() || right.is_empty() => Vec::new(),
                SpansetOp::And | SpansetOp::Or => union(&left, &right),
                SpansetOp::Structural(relation, mode) => {
                    structural(view, *relation, *mode, &left, &right)
                }
            };
            if result.is_empty() {
                Vec::new()
            } else {
                vec![input.with_spans(result)]
            }
        }
    }
}

/// All spans of some spansets, ascending and unique. (Tempo rejects
/// structural operators over several spansets; this merges them instead.)
fn flatten(sets: Vec<Set>) -> Vec<usize> {
    let mut spans: Vec<usize> = sets.into_iter().flat_map(|s| s.spans).collect();
    spans.sort_unstable();
    spans.dedup();
    spans
}

fn union(a: &[usize], b: &[usize]) -> Vec<usize> {
    let mut spans: Vec<usize> = a.iter().chain(b).copied().collect();
    spans.sort_unstable();
    spans.dedup();
    spans
}

fn structural(
    view: &TraceView<'_>,
    relation: Relation,
    mode: StructuralMode,
    left: &[usize],
    right: &[usize],
) -> Vec<usize> {
    let right_related = view.related_to(left, relation);
    let right_matches: Vec<usize> = right
        .iter()
        .copied()
        .filter(|&i| right_related[i] == (mode != StructuralMode::Not))
        .collect();
    if mode != StructuralMode::Union || right_matches.is_empty() {
        return right_matches;
    }
    let left_related = view.related_to(right, converse(relation));
    let left_matches: Vec<usize> = left.iter().copied().filter(|&i| left_related[i]).collect();
    union(&right_matches, &left_matches)
}

/// Evaluates a field expression on span `index`.
fn field_expr(view: &TraceView<'_>, expr: &FieldExpr, index: usize) -> Value {
    match expr {
        FieldExpr::Literal(value) => value.clone(),
        FieldExpr::Field(field) => view.field(index, field),
        FieldExpr::Compare(op, lhs, rhs) => {
            let lhs = field_expr(view, lhs, index);
            let rhs = field_expr(view, rhs, index);
            Value::Bool(compare(*op, &lhs, &rhs))
        }
        FieldExpr::Regex {
            lhs,
            regex,
            negated,
            ..
        } => Value::Bool(regex_holds(regex, *negated, &field_expr(view, lhs, index))),
        FieldExpr::Arith(op, lhs, rhs) => arithmetic(
            *op,
            &field_expr(view, lhs, index),
            &field_expr(view, rhs, index),
        ),
        // An operand that is not `true` (a missing attribute, a string)
        // counts as false, as Tempo does for attributes used as booleans.
        FieldExpr::Logic(LogicOp::And, lhs, rhs) => Value::Bool(
            field_expr(view, lhs, index) == Value::Bool(true)
                && field_expr(view, rhs, index) == Value::Bool(true),
        ),
        FieldExpr::Logic(LogicOp::Or, lhs, rhs) => Value::Bool(
            field_expr(view, lhs, index) == Value::Bool(true)
                || field_expr(view, rhs, index) == Value::Bool(true),
        ),
        FieldExpr::Not(inner) => match field_expr(view, inner, index) {
            Value::Bool(b) => Value::Bool(!b),
            _ => Value::Nil,
        },
        FieldExpr::Neg(inner) => negate(&field_expr(view, inner, index)),
        FieldExpr::Exists(inner) => Value::Bool(field_expr(view, inner, index) != Value::Nil),
        FieldExpr::NotExists(inner) => Value::Bool(field_expr(view, inner, index) == Value::Nil),
    }
}

/// Keeps `set` when the comparison holds, recording the aggregate's value.
fn scalar_filter(view: &TraceView<'_>, filter: &ScalarFilter, mut set: Set) -> Option<Set> {
    let lhs = scalar_expr(view, &filter.lhs, &set);
    let rhs = scalar_expr(view, &filter.rhs, &set);
    if !compare(filter.op, &lhs, &rhs) {
        return None;
    }
    set.scalar = Some(if filter.lhs.has_aggregate() { lhs } else { rhs });
    Some(set)
}

fn scalar_expr(view: &TraceView<'_>, expr: &ScalarExpr, set: &Set) -> Value {
    match expr {
        ScalarExpr::Literal(value) => value.clone(),
        ScalarExpr::Arith(op, lhs, rhs) => arithmetic(
            *op,
            &scalar_expr(view, lhs, set),
            &scalar_expr(view, rhs, set),
        ),
        ScalarExpr::Neg(inner) => negate(&scalar_expr(view, inner, set)),
        ScalarExpr::Aggregate(AggregateOp::Count, _) => Value::Int(set.spans.len() as i64),
        ScalarExpr::Aggregate(op, arg) => {
            let Some(arg) = arg else {
                return Value::Nil;
            };
            let values = set
                .spans
                .iter()
                .map(|&i| field_expr(view, arg, i))
                .filter(Value::is_numeric);
            aggregate(*op, values)
        }
    }
}

/// Folds the numeric values of a spanset; `Nil` when there are none, which
/// drops the spanset, as Tempo does.
fn aggregate(op: AggregateOp, values: impl Iterator<Item = Value>) -> Value {
    use crate::ast::{ArithOp, CompareOp};
    let mut acc: Option<Value> = None;
    let mut count = 0usize;
    for value in values {
        count += 1;
        acc = Some(match acc {
            None => value,
            Some(current) => match op {
                AggregateOp::Sum | AggregateOp::Avg => arithmetic(ArithOp::Add, &current, &value),
                AggregateOp::Min if compare(CompareOp::Lt, &value, &current) => value,
                AggregateOp::Max if compare(CompareOp::Gt, &value, &current) => value,
                AggregateOp::Min | AggregateOp::Max | AggregateOp::Count => current,
            },
        });
    }
    match (op, acc) {
        (_, None) => Value::Nil,
        (AggregateOp::Avg, Some(Value::Duration(total))) => {
            Value::Duration((total as f64 / count as f64).round() as i64)
        }
        (AggregateOp::Avg, Some(total)) => match total.as_f64() {
            Some(total) => Value::Float(total / count as f64),
            None => Value::Nil,
        },
        (_, Some(value)) => value,
    }
}
