//! Approvers for `before` policies, registered by name from code (the Python binding wraps
//! a Python callable, sync or async, with its timeout). A policy refers to one by name; an
//! unknown name is reported when the component is activated.

use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, RwLock};

/// What an approver is told about the call (never the arguments themselves).
#[derive(Debug, Clone)]
pub struct ApprovalContext {
    /// Tool name.
    pub tool: String,
    /// Capability, when mapped.
    pub capability: Option<String>,
    /// The `before` policy asking.
    pub policy_id: String,
}

/// Why an approver gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalError {
    /// No answer within its timeout: the call is denied.
    TimedOut,
    /// It raised: an evaluation error (`on_error` decides).
    Failed(String),
    /// It answered something other than a bool (named by its type): an evaluation error.
    NotBool(String),
}

/// `(message, context) -> answer`; only `true` and `false` are answers.
pub type Approver =
    Arc<dyn Fn(&str, &ApprovalContext) -> Result<Value, ApprovalError> + Send + Sync>;

fn registry() -> &'static RwLock<HashMap<String, Approver>> {
    static R: LazyLock<RwLock<HashMap<String, Approver>>> = LazyLock::new(Default::default);
    &R
}

/// Registers (or replaces) the approver `name`.
pub fn register(name: &str, approver: Approver) {
    registry()
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(name.to_string(), approver);
}

/// Removes the approver `name`; returns whether it existed.
pub fn deregister(name: &str) -> bool {
    registry()
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .remove(name)
        .is_some()
}

/// The approver `name`, if registered.
pub fn get(name: &str) -> Option<Approver> {
    registry()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(name)
        .cloned()
}
