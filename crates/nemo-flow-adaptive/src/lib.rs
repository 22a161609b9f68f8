//! The `adaptive` plugin component's engine, free of any binding: configuration and its
//! diagnostics, the adaptive cache governor (prompt IR, stability, provider planners), the
//! cache ledger, learners as pure state machines, and the state backend trait.
//!
//! Everything here is a pure function over `serde_json::Value` or a small state struct, so the
//! plugin registration and the execution / stream intercepts that use it stay thin.

pub mod acg;
pub mod config;
pub mod diagnostics;
pub mod hash;
pub mod ir;
pub mod jcs;
pub mod learn;
pub mod ledger;
pub mod models;
pub mod plan;
pub mod stability;
pub mod state;
