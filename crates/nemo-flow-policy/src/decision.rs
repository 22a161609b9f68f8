//! Decisions as data: what each policy decided about one call. They carry ids, kinds and
//! names, never argument values (those may be secrets).

use serde::Serialize;

/// The outcome of one policy for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The policy let the call through.
    Allowed,
    /// The policy rejected the call.
    Denied,
    /// Shadow mode: it would have rejected the call.
    WouldDeny,
    /// Evaluation failed (rejects under `on_error: deny`).
    Error,
    /// A rate limit rejected the call.
    RateLimited,
}

impl Outcome {
    /// The spelling in marks and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Denied => "denied",
            Outcome::WouldDeny => "would_deny",
            Outcome::Error => "error",
            Outcome::RateLimited => "rate_limited",
        }
    }
}

/// One policy's decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// Policy id (`unmapped_tools` for the unmapped-tool rule).
    pub policy_id: String,
    /// `deny`, `before`, `rate_limit` or `unmapped_tools`.
    pub kind: &'static str,
    /// What it decided.
    pub decision: Outcome,
    /// Capability of the call, when mapped.
    pub capability: Option<String>,
    /// Tool (or LLM call) name.
    pub tool: String,
    /// Why, for anything but `allowed`: the rejection message or the error.
    pub reason: Option<String>,
    /// Rate limits: seconds until a call would be allowed.
    pub retry_after: Option<f64>,
}

/// The component's verdict on one call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// Whether the call may run.
    pub allowed: bool,
    /// The rejection reason when it may not.
    pub reason: Option<String>,
    /// Every decision taken, in evaluation order.
    pub decisions: Vec<Decision>,
}
