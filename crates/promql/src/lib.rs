//! PromQL evaluation with Prometheus semantics over any series storage.
