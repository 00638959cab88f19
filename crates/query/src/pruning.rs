//! Catalog pruning: what the filters of a scan say about time and service.

use datafusion::logical_expr::{BinaryExpr, Expr, Operator};
use datafusion::scalar::ScalarValue;
use vispyr_model::schema::{SERVICE_COLUMN, TIME_COLUMN};

/// Bounds a scan's filters put on a table, used to skip whole segments.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Bounds {
    /// Inclusive lower bound on `timestamp`, nanoseconds.
    pub start: Option<i64>,
    /// Inclusive upper bound on `timestamp`, nanoseconds.
    pub end: Option<i64>,
    /// `service_name` must be one of these, when set.
    pub services: Option<Vec<String>>,
}

impl Bounds {
    /// Bounds implied by `filters` (a conjunction). Anything not understood is ignored,
    /// which only means less pruning: the filters still run on every row.
    pub fn from_filters(filters: &[Expr]) -> Bounds {
        let mut bounds = Bounds::default();
        for filter in filters {
            bounds.add(filter);
        }
        bounds
    }

    fn add(&mut self, expr: &Expr) {
        match expr {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                if *op == Operator::And {
                    self.add(left);
                    self.add(right);
                    return;
                }
                if let Some((column, op, value)) = column_op_literal(left, *op, right) {
                    self.add_comparison(column, op, value);
                }
            }
            Expr::Between(between)
                if !between.negated && column_name(&between.expr) == Some(TIME_COLUMN) =>
            {
                if let Some(low) = literal_nanos(&between.low) {
                    self.tighten_start(low);
                }
                if let Some(high) = literal_nanos(&between.high) {
                    self.tighten_end(high);
                }
            }
            Expr::InList(list)
                if !list.negated && column_name(&list.expr) == Some(SERVICE_COLUMN) =>
            {
                let mut services = Vec::new();
                for item in &list.list {
                    match literal_string(item) {
                        Some(service) => services.push(service),
                        None => return,
                    }
                }
                self.restrict_services(services);
            }
            _ => {}
        }
    }

    fn add_comparison(&mut self, column: &str, op: Operator, value: &ScalarValue) {
        if column == TIME_COLUMN {
            let Some(nanos) = scalar_nanos(value) else {
                return;
            };
            match op {
                Operator::Gt => self.tighten_start(nanos.saturating_add(1)),
                Operator::GtEq => self.tighten_start(nanos),
                Operator::Lt => self.tighten_end(nanos.saturating_sub(1)),
                Operator::LtEq => self.tighten_end(nanos),
                Operator::Eq => {
                    self.tighten_start(nanos);
                    self.tighten_end(nanos);
                }
                _ => {}
            }
        } else if column == SERVICE_COLUMN
            && op == Operator::Eq
            && let Some(service) = scalar_string(value)
        {
            self.restrict_services(vec![service]);
        }
    }

    fn tighten_start(&mut self, start: i64) {
        self.start = Some(self.start.map_or(start, |current| current.max(start)));
    }

    fn tighten_end(&mut self, end: i64) {
        self.end = Some(self.end.map_or(end, |current| current.min(end)));
    }

    fn restrict_services(&mut self, mut services: Vec<String>) {
        services.sort();
        services.dedup();
        self.services = Some(match self.services.take() {
            None => services,
            Some(current) => current
                .into_iter()
                .filter(|s| services.contains(s))
                .collect(),
        });
    }
}

/// `column op literal` or `literal op column` (flipped so the column is on the left).
fn column_op_literal<'a>(
    left: &'a Expr,
    op: Operator,
    right: &'a Expr,
) -> Option<(&'a str, Operator, &'a ScalarValue)> {
    if let (Some(column), Some(value)) = (column_name(left), literal(right)) {
        return Some((column, op, value));
    }
    if let (Some(value), Some(column)) = (literal(left), column_name(right)) {
        return Some((column, op.swap()?, value));
    }
    None
}

fn column_name(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Column(column) => Some(column.name.as_str()),
        _ => None,
    }
}

fn literal(expr: &Expr) -> Option<&ScalarValue> {
    match expr {
        Expr::Literal(value, _) => Some(value),
        Expr::Cast(cast) => literal(&cast.expr),
        _ => None,
    }
}

fn literal_nanos(expr: &Expr) -> Option<i64> {
    literal(expr).and_then(scalar_nanos)
}

fn literal_string(expr: &Expr) -> Option<String> {
    literal(expr).and_then(scalar_string)
}

fn scalar_nanos(value: &ScalarValue) -> Option<i64> {
    match value {
        ScalarValue::TimestampNanosecond(Some(v), _) => Some(*v),
        ScalarValue::TimestampMicrosecond(Some(v), _) => v.checked_mul(1_000),
        ScalarValue::TimestampMillisecond(Some(v), _) => v.checked_mul(1_000_000),
        ScalarValue::TimestampSecond(Some(v), _) => v.checked_mul(1_000_000_000),
        _ => None,
    }
}

fn scalar_string(value: &ScalarValue) -> Option<String> {
    match value {
        ScalarValue::Utf8(Some(text))
        | ScalarValue::LargeUtf8(Some(text))
        | ScalarValue::Utf8View(Some(text)) => Some(text.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::{col, lit};

    fn ts(nanos: i64) -> Expr {
        lit(ScalarValue::TimestampNanosecond(
            Some(nanos),
            Some("UTC".into()),
        ))
    }

    #[test]
    fn time_and_service_bounds() {
        let filters = vec![
            col("timestamp").gt_eq(ts(100)),
            col("timestamp")
                .lt(ts(200))
                .and(col("service_name").eq(lit("api"))),
            col("span_name").eq(lit("GET /")),
        ];
        let bounds = Bounds::from_filters(&filters);
        assert_eq!(bounds.start, Some(100));
        assert_eq!(bounds.end, Some(199));
        assert_eq!(bounds.services, Some(vec!["api".to_string()]));
    }

    #[test]
    fn flipped_comparison_and_in_list() {
        let filters = vec![
            ts(50).lt(col("timestamp")),
            col("service_name").in_list(vec![lit("b"), lit("a")], false),
        ];
        let bounds = Bounds::from_filters(&filters);
        assert_eq!(bounds.start, Some(51));
        assert_eq!(
            bounds.services,
            Some(vec!["a".to_string(), "b".to_string()])
        );
    }

    #[test]
    fn disjunctions_do_not_prune() {
        let filters = vec![
            col("timestamp")
                .gt(ts(5))
                .or(col("service_name").eq(lit("x"))),
        ];
        assert_eq!(Bounds::from_filters(&filters), Bounds::default());
    }
}
