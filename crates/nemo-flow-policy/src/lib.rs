//! # nemo-flow-policy
//!
//! The `policy` component: declarative deny, before (approval), rate-limit and LLM
//! policies over managed calls, compiled once from config and enforced in the core's
//! pipeline as conditional-execution guardrails. Expression semantics are NemoIR's
//! (see `docs/policy.md`); validation happens when the config is loaded, never per call.

#![deny(missing_docs)]

pub mod approver;
pub mod backtest;
pub mod config;
pub mod decision;
pub mod diag;
pub mod enforce;
pub mod engine;
pub mod eval;
pub mod expr;
pub mod glob;
pub mod nemoir;
pub mod paths;
pub mod plugin;
pub mod rate;
pub mod validate;

pub use config::Component;
pub use decision::{Decision, Outcome, Verdict};
pub use diag::{Diagnostic, Level};
pub use enforce::{InstallError, Installed, install};
pub use engine::{Approvals, Call, Target};
pub use validate::{UnknownField, validate};
