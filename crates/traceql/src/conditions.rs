//! Necessary span conditions, for storage to pick candidate traces.
//!
//! A query can only select spans from a trace if certain filters found a
//! span: every spanset stage must leave a spanset, `{A} && {B}` and the
//! structural operators need both sides, and a filter `{ x && y }` needs a
//! span where both hold. From those filters we keep the top-level
//! conjunction of `field op literal` comparisons on span-local fields.
//! Anything else (`||`, `!`, `nil` checks, arithmetic on fields,
//! trace-level intrinsics) contributes nothing, which is always sound.

use serde::{Deserialize, Serialize};

use crate::ast::{CompareOp, Field, FieldExpr, LogicOp, Pipeline, SpansetExpr, SpansetOp, Stage};
use crate::eval::{SpanData, span_field};
use crate::value::{Value, arithmetic, compare, compile_regex, negate, regex_holds};

/// A comparison of one span field with a literal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    /// The span field read; always span-local (see [`Field::is_span_local`]).
    pub field: Field,
    /// The comparison.
    pub op: CompareOp,
    /// The literal. For `Regex`/`NotRegex` a `Value::Str` pattern that
    /// must match the whole value (it is anchored at both ends).
    pub value: Value,
}

impl Condition {
    /// Whether `span` satisfies the condition, with exactly the semantics of
    /// the evaluator: a missing field or a value of another type never
    /// satisfies it, `!=` included.
    ///
    /// Regex conditions compile their pattern on every call; callers
    /// scanning many spans may prefer to compile `^(?s:pattern)$` once.
    pub fn matches_span(&self, span: &SpanData) -> bool {
        let Some(actual) = span_field(span, &self.field) else {
            return false;
        };
        match self.op {
            CompareOp::Regex | CompareOp::NotRegex => {
                let Value::Str(pattern) = &self.value else {
                    return false;
                };
                match compile_regex(pattern) {
                    Ok(regex) => regex_holds(&regex, self.op == CompareOp::NotRegex, &actual),
                    Err(_) => false,
                }
            }
            op => compare(op, &actual, &self.value),
        }
    }
}

pub(crate) fn required_span_filters(pipeline: &Pipeline) -> Vec<Vec<Condition>> {
    let mut filters = Vec::new();
    pipeline_requirements(pipeline, &mut filters);
    let mut unique: Vec<Vec<Condition>> = Vec::new();
    for filter in filters {
        if !filter.is_empty() && !unique.contains(&filter) {
            unique.push(filter);
        }
    }
    unique
}

fn pipeline_requirements(pipeline: &Pipeline, out: &mut Vec<Vec<Condition>>) {
    // Every stage must leave a spanset for the query to match, so every
    // spanset stage's requirements hold.
    for stage in &pipeline.stages {
        if let Stage::Spanset(expr) = stage {
            spanset_requirements(expr, out);
        }
    }
}

fn spanset_requirements(expr: &SpansetExpr, out: &mut Vec<Vec<Condition>>) {
    match expr {
        SpansetExpr::Filter(None) => {}
        SpansetExpr::Filter(Some(condition)) => {
            let mut conjunction = Vec::new();
            conjuncts(condition, &mut conjunction);
            out.push(conjunction);
        }
        SpansetExpr::Pipeline(pipeline) => pipeline_requirements(pipeline, out),
        SpansetExpr::Op(SpansetOp::Or, _, _) => {}
        // `!>>` and friends need only the right side to find spans.
        SpansetExpr::Op(SpansetOp::Structural(_, crate::ast::StructuralMode::Not), _, rhs) => {
            spanset_requirements(rhs, out);
        }
        SpansetExpr::Op(_, lhs, rhs) => {
            spanset_requirements(lhs, out);
            spanset_requirements(rhs, out);
        }
    }
}

/// Collects the simple comparisons of the top-level `&&` chain of `expr`.
fn conjuncts(expr: &FieldExpr, out: &mut Vec<Condition>) {
    match expr {
        FieldExpr::Logic(LogicOp::And, lhs, rhs) => {
            conjuncts(lhs, out);
            conjuncts(rhs, out);
        }
        // An attribute used as a boolean operand means `= true`.
        FieldExpr::Field(field @ Field::Attribute { .. }) => out.push(Condition {
            field: field.clone(),
            op: CompareOp::Eq,
            value: Value::Bool(true),
        }),
        FieldExpr::Compare(op, lhs, rhs) => {
            let simple = match (lhs.as_ref(), rhs.as_ref()) {
                (FieldExpr::Field(field), other) => constant(other).map(|v| (field, *op, v)),
                (other, FieldExpr::Field(field)) => {
                    constant(other).map(|v| (field, op.flipped(), v))
                }
                _ => None,
            };
            if let Some((field, op, value)) = simple
                && field.is_span_local()
                && value != Value::Nil
            {
                out.push(Condition {
                    field: field.clone(),
                    op,
                    value,
                });
            }
        }
        FieldExpr::Regex {
            lhs,
            pattern,
            negated,
            ..
        } => {
            if let FieldExpr::Field(field) = lhs.as_ref()
                && field.is_span_local()
            {
                out.push(Condition {
                    field: field.clone(),
                    op: if *negated {
                        CompareOp::NotRegex
                    } else {
                        CompareOp::Regex
                    },
                    value: Value::Str(pattern.clone()),
                });
            }
        }
        _ => {}
    }
}

/// The value of an expression without fields (`10 * 1024`), if it is one.
fn constant(expr: &FieldExpr) -> Option<Value> {
    match expr {
        FieldExpr::Literal(value) => Some(value.clone()),
        FieldExpr::Arith(op, lhs, rhs) => Some(arithmetic(*op, &constant(lhs)?, &constant(rhs)?)),
        FieldExpr::Neg(inner) => Some(negate(&constant(inner)?)),
        _ => None,
    }
}
