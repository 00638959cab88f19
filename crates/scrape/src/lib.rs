//! Prometheus-compatible scraping.
