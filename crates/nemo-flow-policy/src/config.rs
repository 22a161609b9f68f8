//! The compiled component (§3.1 of the design): what [`crate::validate`] builds from a
//! config. See `validate.rs` for the schema walk.

use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

use crate::eval::Options;
use crate::expr::Expr;
use crate::glob::Glob;
use crate::rate::{Limiter, RateKey};

/// What an evaluation error does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// Reject the call (fail closed).
    Deny,
    /// Skip the policy; the decision records the error.
    Allow,
}

/// Enforce, or only record what would have been denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Denials block.
    Enforce,
    /// Denials are recorded as `would_deny`; nothing blocks.
    Shadow,
}

/// Which decisions become `policy.decision` marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emit {
    /// None.
    None,
    /// Everything but `allowed`.
    Denials,
    /// Every decision.
    All,
}

/// The three policy kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A truthy condition rejects.
    Deny,
    /// An approver must agree first.
    Before,
    /// A token bucket.
    RateLimit,
}

impl Kind {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Deny => "deny",
            Kind::Before => "before",
            Kind::RateLimit => "rate_limit",
        }
    }
}

/// What a policy applies to.
#[derive(Debug, Clone)]
pub enum Trigger {
    /// Tool calls, by tool name and/or capability.
    Tool {
        /// Exact tool name.
        tool: Option<String>,
        /// Capability the tool maps to.
        capability: Option<String>,
    },
    /// LLM calls; `None` matches every call, else the call name must match the glob.
    Llm(Option<Glob>),
}

/// A `user.confirm` requirement of a `before` policy.
#[derive(Debug, Clone)]
pub struct Requirement {
    /// Registered approver name.
    pub approver: String,
    /// `args.message`; default `Allow policy-required call before <cap>?`.
    pub message: Option<Expr>,
}

/// One compiled policy.
#[derive(Debug)]
pub struct Policy {
    /// Unique id.
    pub id: String,
    /// Deny, before or rate limit.
    pub kind: Kind,
    /// Enforce or shadow.
    pub mode: Mode,
    /// What it applies to.
    pub trigger: Trigger,
    /// `(variable, call argument or dotted request field)`, in order.
    pub bind: Vec<(String, String)>,
    /// Tool triggers: for each binding, its slot in [`Component::arg_names`].
    pub arg_slots: Vec<usize>,
    /// Deny: the condition; before and rate limit: an optional gate.
    pub condition: Option<Expr>,
    /// Before: approvals needed.
    pub requires: Vec<Requirement>,
    /// Rejection reason, instead of the default.
    pub message: Option<String>,
    /// Rate limit: the bucket.
    pub limiter: Option<Limiter>,
}

/// A tool's capability and which of its arguments are paths.
#[derive(Debug, Clone)]
pub struct ToolMap {
    /// Capability name.
    pub capability: String,
    /// Arguments bound as paths.
    pub path_params: Vec<String>,
}

/// A declared workflow input.
#[derive(Debug, Clone)]
pub struct InputDef {
    /// Typed `path`: string values become paths.
    pub path: bool,
    /// Value from the config (the scope may provide one instead).
    pub value: Option<Value>,
}

/// A validated, compiled `policy` component.
#[derive(Debug)]
pub struct Component {
    /// Conditional-guardrail priority.
    pub priority: i32,
    /// Evaluation errors: deny or skip.
    pub on_error: OnError,
    /// Deny tools with no capability while capability triggers exist.
    pub deny_unmapped: bool,
    /// Normalisation, symlinks, path base.
    pub options: Options,
    /// Which decisions are marked.
    pub emit: Emit,
    /// Tool name → capability.
    pub tools: HashMap<String, ToolMap>,
    /// Declared inputs.
    pub inputs: HashMap<String, InputDef>,
    /// Look inputs up in the nearest Agent scope's data first.
    pub inputs_from_scope: bool,
    /// Every policy, in document order.
    pub policies: Vec<Policy>,
    /// Whether some tool policy triggers on a capability.
    pub has_capability_triggers: bool,
    /// Every call argument some tool policy binds, each looked up once per call.
    pub arg_names: Vec<String>,
    /// Policy indices in evaluation order: deny, then rate limit, then before (each in
    /// document order).
    pub order: Vec<usize>,
}

impl Component {
    /// Whether any policy applies to tool calls (or unmapped tools are denied).
    pub fn has_tool_policies(&self) -> bool {
        self.deny_unmapped
            || self
                .policies
                .iter()
                .any(|p| matches!(p.trigger, Trigger::Tool { .. }))
    }

    /// Whether any policy applies to LLM calls.
    pub fn has_llm_policies(&self) -> bool {
        self.policies
            .iter()
            .any(|p| matches!(p.trigger, Trigger::Llm(_)))
    }

    /// Whether some rate limit is keyed by the run (its `root_uuid` is then looked up).
    pub fn needs_run(&self) -> bool {
        self.policies
            .iter()
            .any(|p| p.limiter.as_ref().is_some_and(|l| l.key == RateKey::Run))
    }

    /// Puts every rate limit on `clock` (tests; backtests replay recorded timestamps).
    pub fn set_clock(&self, clock: Arc<dyn crate::rate::Clock>) {
        for l in self.policies.iter().filter_map(|p| p.limiter.as_ref()) {
            l.set_clock(Arc::clone(&clock));
        }
    }

    /// Every approver name the `before` policies use.
    pub fn approvers(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .policies
            .iter()
            .flat_map(|p| p.requires.iter().map(|r| r.approver.as_str()))
            .collect();
        v.dedup();
        v
    }
}

/// The arguments NemoIR's capability catalog types as paths.
pub fn catalog_path_params(capability: &str) -> &'static [&'static str] {
    match capability {
        "fs.read" | "fs.write" => &["path"],
        _ => &[],
    }
}
