//! Binary operators: arithmetic, comparison and set operators with vector matching.

use std::collections::{HashMap, HashSet};

use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};

use crate::engine::{Elem, Evaluator, Val, check_unique_labels, drop_metric_name};
use crate::types::{Error, Labels, METRIC_NAME, label_value};

/// Binary operators, named as in PromQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    And,
    Or,
    Unless,
}

impl Op {
    fn parse(token: &str) -> Result<Op, Error> {
        let op = match token {
            "+" => Op::Add,
            "-" => Op::Sub,
            "*" => Op::Mul,
            "/" => Op::Div,
            "%" => Op::Mod,
            "^" => Op::Pow,
            "atan2" => Op::Atan2,
            "==" => Op::Eq,
            "!=" => Op::Ne,
            ">" => Op::Gt,
            "<" => Op::Lt,
            ">=" => Op::Ge,
            "<=" => Op::Le,
            "and" => Op::And,
            "or" => Op::Or,
            "unless" => Op::Unless,
            other => {
                return Err(Error::BadData(format!(
                    "unsupported binary operator {other:?}"
                )));
            }
        };
        Ok(op)
    }

    fn is_comparison(self) -> bool {
        matches!(self, Op::Eq | Op::Ne | Op::Gt | Op::Lt | Op::Ge | Op::Le)
    }

    /// Prometheus 2.42's `shouldDropMetricName`: arithmetic except `atan2`.
    fn drops_metric_name(self) -> bool {
        matches!(
            self,
            Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Pow | Op::Mod
        )
    }
}

/// `vectorElemBinop`: the value and whether the element is kept.
fn elem_binop(op: Op, lhs: f64, rhs: f64) -> (f64, bool) {
    match op {
        Op::Add => (lhs + rhs, true),
        Op::Sub => (lhs - rhs, true),
        Op::Mul => (lhs * rhs, true),
        Op::Div => (lhs / rhs, true),
        Op::Mod => (lhs % rhs, true),
        Op::Pow => (lhs.powf(rhs), true),
        Op::Atan2 => (lhs.atan2(rhs), true),
        Op::Eq => (lhs, lhs == rhs),
        Op::Ne => (lhs, lhs != rhs),
        Op::Gt => (lhs, lhs > rhs),
        Op::Lt => (lhs, lhs < rhs),
        Op::Ge => (lhs, lhs >= rhs),
        Op::Le => (lhs, lhs <= rhs),
        Op::And | Op::Or | Op::Unless => (f64::NAN, false),
    }
}

fn bool_value(keep: bool) -> f64 {
    if keep { 1.0 } else { 0.0 }
}

pub(crate) fn eval_binary(ev: &Evaluator, b: &BinaryExpr, t: i64) -> Result<Val, Error> {
    let op = Op::parse(&b.op.to_string())?;
    let return_bool = b.return_bool();
    let lhs = ev.eval(&b.lhs, t)?;
    let rhs = ev.eval(&b.rhs, t)?;
    let result = match (lhs, rhs) {
        (Val::Scalar(l), Val::Scalar(r)) => {
            let (value, keep) = elem_binop(op, l, r);
            let value = if op.is_comparison() {
                bool_value(keep)
            } else {
                value
            };
            return Ok(Val::Scalar(value));
        }
        (Val::Vector(l), Val::Scalar(r)) => vector_scalar(op, l, r, false, return_bool),
        (Val::Scalar(l), Val::Vector(r)) => vector_scalar(op, r, l, true, return_bool),
        (Val::Vector(l), Val::Vector(r)) => {
            let matching = Matching::from_expr(b);
            match op {
                Op::And => vector_and(l, r, &matching),
                Op::Or => vector_or(l, r, &matching),
                Op::Unless => vector_unless(l, r, &matching),
                _ => vector_binop(op, l, r, &matching, return_bool)?,
            }
        }
        _ => {
            return Err(Error::Execution(
                "binary operator on unsupported types".into(),
            ));
        }
    };
    check_unique_labels(&result)?;
    Ok(Val::Vector(result))
}

fn vector_scalar(
    op: Op,
    vector: Vec<Elem>,
    scalar: f64,
    swap: bool,
    return_bool: bool,
) -> Vec<Elem> {
    let mut out = Vec::with_capacity(vector.len());
    for e in vector {
        let (lv, rv) = if swap { (scalar, e.v) } else { (e.v, scalar) };
        let (mut value, mut keep) = elem_binop(op, lv, rv);
        // A comparison keeps the vector's value even when the scalar is on the left.
        if op.is_comparison() && swap {
            value = rv;
        }
        if return_bool {
            value = bool_value(keep);
            keep = true;
        }
        if !keep {
            continue;
        }
        let labels = if op.drops_metric_name() || return_bool {
            drop_metric_name(e.labels)
        } else {
            e.labels
        };
        out.push(Elem { labels, v: value });
    }
    out
}

/// Vector matching of one binary expression.
struct Matching {
    /// `on(...)` when true, `ignoring(...)` otherwise.
    on: bool,
    labels: Vec<String>,
    card: Card,
    include: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Card {
    OneToOne,
    ManyToOne,
    OneToMany,
    ManyToMany,
}

impl Matching {
    fn from_expr(b: &BinaryExpr) -> Matching {
        let Some(modifier) = &b.modifier else {
            return Matching {
                on: false,
                labels: Vec::new(),
                card: Card::OneToOne,
                include: Vec::new(),
            };
        };
        let (on, labels) = match &modifier.matching {
            Some(LabelModifier::Include(l)) => (true, l.labels.clone()),
            Some(LabelModifier::Exclude(l)) => (false, l.labels.clone()),
            None => (false, Vec::new()),
        };
        let (card, include) = match &modifier.card {
            VectorMatchCardinality::OneToOne => (Card::OneToOne, Vec::new()),
            VectorMatchCardinality::ManyToOne(l) => (Card::ManyToOne, l.labels.clone()),
            VectorMatchCardinality::OneToMany(l) => (Card::OneToMany, l.labels.clone()),
            VectorMatchCardinality::ManyToMany => (Card::ManyToMany, Vec::new()),
        };
        Matching {
            on,
            labels,
            card,
            include,
        }
    }

    /// The labels two elements are matched on.
    fn signature(&self, labels: &Labels) -> Labels {
        if self.on {
            labels
                .iter()
                .filter(|(name, _)| self.labels.contains(name))
                .cloned()
                .collect()
        } else {
            labels
                .iter()
                .filter(|(name, _)| name != METRIC_NAME && !self.labels.contains(name))
                .cloned()
                .collect()
        }
    }

    /// `resultMetric`: the labels of a result element.
    fn result_labels(&self, many: &Labels, one: &Labels, op: Op) -> Labels {
        let mut labels = many.clone();
        if op.drops_metric_name() {
            labels.retain(|(name, _)| name != METRIC_NAME);
        }
        if self.card == Card::OneToOne {
            if self.on {
                labels.retain(|(name, _)| self.labels.contains(name));
            } else {
                labels.retain(|(name, _)| !self.labels.contains(name));
            }
        }
        for name in &self.include {
            let value = label_value(one, name);
            labels.retain(|(n, _)| n != name);
            if !value.is_empty() {
                labels.push((name.clone(), value.to_string()));
            }
        }
        labels.sort();
        labels
    }
}

fn labels_string(labels: &Labels) -> String {
    let inner: Vec<String> = labels.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

fn vector_binop(
    op: Op,
    lhs: Vec<Elem>,
    rhs: Vec<Elem>,
    matching: &Matching,
    return_bool: bool,
) -> Result<Vec<Elem>, Error> {
    // For one-to-many matching the sides are swapped so that `rhs` is the "one" side.
    let swapped = matching.card == Card::OneToMany;
    let (many, one) = if swapped { (rhs, lhs) } else { (lhs, rhs) };
    let mut one_by_sig: HashMap<Labels, &Elem> = HashMap::with_capacity(one.len());
    for e in &one {
        let sig = matching.signature(&e.labels);
        if let Some(dup) = one_by_sig.get(&sig) {
            let side = if swapped { "left" } else { "right" };
            return Err(Error::Execution(format!(
                "found duplicate series for the match group {} on the {} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                labels_string(&sig),
                side,
                labels_string(&e.labels),
                labels_string(&dup.labels)
            )));
        }
        one_by_sig.insert(sig, e);
    }
    let mut matched: HashMap<Labels, HashSet<Labels>> = HashMap::new();
    let mut out = Vec::new();
    for m in &many {
        let sig = matching.signature(&m.labels);
        let Some(o) = one_by_sig.get(&sig) else {
            continue;
        };
        let (vl, vr) = if swapped { (o.v, m.v) } else { (m.v, o.v) };
        let (mut value, keep) = elem_binop(op, vl, vr);
        if return_bool {
            value = bool_value(keep);
        } else if !keep {
            continue;
        }
        let mut labels = matching.result_labels(&m.labels, &o.labels, op);
        if return_bool {
            labels = drop_metric_name(labels);
        }
        if matching.card == Card::OneToOne {
            if matched.contains_key(&sig) {
                return Err(Error::Execution(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
                ));
            }
            matched.insert(sig, HashSet::new());
        } else {
            let inserted = matched.entry(sig).or_default();
            if !inserted.insert(labels.clone()) {
                return Err(Error::Execution(
                    "multiple matches for labels: grouping labels must ensure unique matches"
                        .into(),
                ));
            }
        }
        out.push(Elem { labels, v: value });
    }
    Ok(out)
}

fn vector_and(lhs: Vec<Elem>, rhs: Vec<Elem>, matching: &Matching) -> Vec<Elem> {
    if lhs.is_empty() || rhs.is_empty() {
        return Vec::new();
    }
    let right: HashSet<Labels> = rhs.iter().map(|e| matching.signature(&e.labels)).collect();
    lhs.into_iter()
        .filter(|e| right.contains(&matching.signature(&e.labels)))
        .collect()
}

fn vector_or(lhs: Vec<Elem>, rhs: Vec<Elem>, matching: &Matching) -> Vec<Elem> {
    let left: HashSet<Labels> = lhs.iter().map(|e| matching.signature(&e.labels)).collect();
    let mut out = lhs;
    out.extend(
        rhs.into_iter()
            .filter(|e| !left.contains(&matching.signature(&e.labels))),
    );
    out
}

fn vector_unless(lhs: Vec<Elem>, rhs: Vec<Elem>, matching: &Matching) -> Vec<Elem> {
    let right: HashSet<Labels> = rhs.iter().map(|e| matching.signature(&e.labels)).collect();
    lhs.into_iter()
        .filter(|e| !right.contains(&matching.signature(&e.labels)))
        .collect()
}
