//! # nemo-flow-export
//!
//! Exporters for nemo_flow lifecycle events: ATOF JSONL files, ATIF v1.6 trajectories, and
//! OpenTelemetry / OpenInference spans over OTLP (HTTP protobuf or gRPC).
//!
//! Exporters never block the caller: the subscriber callback only enqueues the shared event
//! into a bounded queue ([`worker`]); a background thread converts and writes. A full queue
//! drops the event and counts it; `flush` and `shutdown` return within their timeout.

#![deny(missing_docs)]

pub mod atif;
pub mod atof;
pub mod llm_view;
pub mod observability;
#[cfg(feature = "otlp")]
pub mod otlp;
pub mod worker;
