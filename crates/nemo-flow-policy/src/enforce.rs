//! Enforcement: a component installed as a Rust-native tool conditional-execution
//! guardrail (and an LLM one when it has LLM policies) in the core's global registries.
//! Every decision the component's `emit` asks for becomes a `policy.decision` mark under
//! the call's parent scope. The plugin system's `policy` kind calls [`install`] with its
//! namespaced name and keeps the [`Installed`] as its undo.

use nemo_flow_core::error::{CallbackError, FlowError};
use nemo_flow_core::llm::LlmRequest;
use nemo_flow_core::middleware::{LlmConditional, ToolConditional, global};
use nemo_flow_core::pipeline::call_info::{self, AnnotationDemand, CallInfo};
use nemo_flow_core::scope::{self, ScopeNode};
use nemo_flow_core::types::ScopeType;
use serde_json::{Value, json};
use std::sync::Arc;

use crate::approver;
use crate::config::{Component, Emit};
use crate::decision::{Decision, Outcome, Verdict};
use crate::diag::{Diagnostic, Level, code};
use crate::engine::{Approvals, Call, Target};

/// The mark every decision is recorded as.
pub const DECISION_MARK: &str = "policy.decision";

/// What [`install`] registered; [`Installed::uninstall`] undoes it.
pub struct Installed {
    /// Name of the tool conditional guardrail, when registered.
    pub tool_guardrail: Option<String>,
    /// Name of the LLM conditional guardrail, when registered.
    pub llm_guardrail: Option<String>,
    _annotations: Option<AnnotationDemand>,
}

impl Installed {
    /// Deregisters everything [`install`] registered.
    pub fn uninstall(self) {
        if let Some(n) = &self.tool_guardrail {
            global().tool_conditional.deregister(n);
        }
        if let Some(n) = &self.llm_guardrail {
            global().llm_conditional.deregister(n);
        }
    }
}

/// Why a component could not be installed.
#[derive(Debug)]
pub enum InstallError {
    /// Activation-time diagnostics (an unknown approver); nothing was registered.
    Invalid(Vec<Diagnostic>),
    /// A registration failed (a taken name); nothing was left registered.
    Registration(FlowError),
}

/// Diagnostics only activation can find: approver names nobody registered.
pub fn activation_diagnostics(c: &Component) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (i, p) in c.policies.iter().enumerate() {
        for (j, r) in p.requires.iter().enumerate() {
            if approver::get(&r.approver).is_none() {
                out.push(Diagnostic {
                    level: Level::Error,
                    code: code::UNKNOWN_APPROVER,
                    message: format!(
                        "approver '{}' is not registered (nemo_flow.policy.register_approver)",
                        r.approver
                    ),
                    component: "policy".into(),
                    field: format!("policies[{i}].requires[{j}].approver"),
                });
            }
        }
    }
    out
}

/// Registers `component` under `name` (`<name>` for tools, `<name>.llm` for LLM calls) at
/// its priority. All or nothing.
pub fn install(component: Arc<Component>, name: &str) -> Result<Installed, InstallError> {
    let diags = activation_diagnostics(&component);
    if !diags.is_empty() {
        return Err(InstallError::Invalid(diags));
    }
    let mut installed = Installed {
        tool_guardrail: None,
        llm_guardrail: None,
        _annotations: None,
    };
    if component.has_tool_policies() {
        global()
            .tool_conditional
            .register(
                name,
                component.priority,
                false,
                tool_guardrail(Arc::clone(&component)),
            )
            .map_err(InstallError::Registration)?;
        installed.tool_guardrail = Some(name.to_string());
    }
    if component.has_llm_policies() {
        let llm_name = format!("{name}.llm");
        if let Err(e) = global().llm_conditional.register(
            &llm_name,
            component.priority,
            false,
            llm_guardrail(Arc::clone(&component)),
        ) {
            installed.uninstall();
            return Err(InstallError::Registration(e));
        }
        installed.llm_guardrail = Some(llm_name);
        installed._annotations = Some(call_info::demand_annotations());
    }
    Ok(installed)
}

/// The tool guardrail: evaluates, marks, and rejects with the verdict's reason.
pub fn tool_guardrail(c: Arc<Component>) -> ToolConditional {
    Arc::new(
        move |name: &str, args: &Value| -> Result<Option<String>, CallbackError> {
            let info = call_info::current();
            let capability = info
                .as_ref()
                .and_then(|i| i.metadata.get("nemoir.capability"))
                .and_then(Value::as_str);
            let target = Target::Tool { args, capability };
            Ok(check(&c, info.as_deref(), name, target))
        },
    )
}

/// The LLM guardrail: binds from the annotated request the core decoded for it.
pub fn llm_guardrail(c: Arc<Component>) -> LlmConditional {
    Arc::new(
        move |_req: &LlmRequest| -> Result<Option<String>, CallbackError> {
            let info = call_info::current();
            let annotated = info
                .as_ref()
                .and_then(|i| i.annotated.as_ref())
                .map(|a| a.to_json());
            let name = info
                .as_ref()
                .and_then(|i| i.llm_name.as_deref())
                .unwrap_or("");
            let target = Target::Llm {
                annotated: annotated.as_ref(),
            };
            Ok(check(&c, info.as_deref(), name, target))
        },
    )
}

fn check(c: &Component, info: Option<&CallInfo>, name: &str, target: Target<'_>) -> Option<String> {
    let run = if c.needs_run() {
        info.map(|i| i.context.info.root_uuid.to_string())
    } else {
        None
    };
    let agent = if c.inputs_from_scope {
        info.and_then(|i| nearest_agent(&i.context))
    } else {
        None
    };
    let call = Call {
        name,
        target,
        run: run.as_deref(),
        scope_inputs: agent.as_ref().map(|a| &a.info.data),
    };
    let verdict = c.evaluate_with(&call, Approvals::Ask, c.emit == Emit::All);
    if let Some(info) = info {
        mark_decisions(c.emit, info, &verdict);
    }
    if verdict.allowed {
        None
    } else {
        verdict.reason
    }
}

fn nearest_agent(node: &Arc<ScopeNode>) -> Option<Arc<ScopeNode>> {
    let mut cur = Some(Arc::clone(node));
    while let Some(n) = cur {
        if n.scope_type == ScopeType::Agent {
            return Some(n);
        }
        cur = n.parent.clone();
    }
    None
}

/// The data of a `policy.decision` mark: ids, kind, outcome, names; never argument values.
pub fn mark_data(d: &Decision) -> Value {
    let mut v = json!({
        "policy_id": d.policy_id,
        "kind": d.kind,
        "decision": d.decision.as_str(),
        "capability": d.capability,
        "tool": d.tool,
    });
    if let Some(w) = d.retry_after {
        v["retry_after"] = json!(w);
    }
    v
}

fn mark_decisions(emit: Emit, info: &CallInfo, verdict: &Verdict) {
    for d in &verdict.decisions {
        let wanted = match emit {
            Emit::None => false,
            Emit::Denials => d.decision != Outcome::Allowed,
            Emit::All => true,
        };
        if wanted {
            // Marks cannot fail here: the data is built in Rust.
            let _ = scope::mark(
                &info.context,
                info.parent_uuid,
                DECISION_MARK,
                || Ok(mark_data(d)),
                || Ok(Value::Null),
                None,
            );
        }
    }
}
