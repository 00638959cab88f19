//! An in-memory [`Storage`] for tests: a real implementation of the trait.

#![allow(dead_code)]

use futures::future::BoxFuture;
use vispyr_promql::{Error, Labels, Matcher, Sample, Series, Storage};

/// Series held in memory, selected exactly as the trait's contract says.
#[derive(Debug, Default, Clone)]
pub struct MemStorage {
    pub series: Vec<Series>,
}

impl MemStorage {
    /// Adds samples to the series with these labels (created when missing).
    pub fn add(&mut self, labels: &[(&str, &str)], samples: &[(i64, f64)]) {
        let mut sorted: Labels = labels
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        sorted.sort();
        let new_samples = samples.iter().map(|&(t, v)| Sample { t, v });
        match self.series.iter_mut().find(|s| s.labels == sorted) {
            Some(series) => {
                series.samples.extend(new_samples);
                series.samples.sort_by_key(|s| s.t);
            }
            None => {
                let mut samples: Vec<Sample> = new_samples.collect();
                samples.sort_by_key(|s| s.t);
                self.series.push(Series {
                    labels: sorted,
                    samples,
                });
            }
        }
    }
}

impl Storage for MemStorage {
    fn select<'a>(
        &'a self,
        matchers: &'a [Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> BoxFuture<'a, Result<Vec<Series>, Error>> {
        Box::pin(async move {
            let mut out = Vec::new();
            for s in &self.series {
                if !matchers.iter().all(|m| m.matches_labels(&s.labels)) {
                    continue;
                }
                let samples: Vec<Sample> = s
                    .samples
                    .iter()
                    .filter(|p| p.t >= start_ms && p.t <= end_ms)
                    .copied()
                    .collect();
                if !samples.is_empty() {
                    out.push(Series {
                        labels: s.labels.clone(),
                        samples,
                    });
                }
            }
            Ok(out)
        })
    }
}
