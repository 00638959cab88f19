//! Protobuf messages Vispyr speaks besides OTLP (which comes from `opentelemetry-proto`).
//!
//! The messages are declared with `prost` derives rather than generated at build
//! time, so building Vispyr needs no `protoc`. Field numbers follow the upstream
//! `.proto` files named on each module; keep them in step when upstream changes.

pub mod loki;
pub mod pprof;
pub mod prometheus;
pub mod pyroscope;
pub mod querier;
pub mod rpc;
