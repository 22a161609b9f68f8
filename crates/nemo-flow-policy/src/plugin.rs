//! The built-in `policy` plugin component: validated through `plugin.validate` (every
//! policy diagnostic becomes a plugin diagnostic with its code and field) and enforced
//! through the plugin context, so the activation report lists its guardrails and rollback
//! or `plugin.clear()` removes them.

use nemo_flow_core::FlowError;
use nemo_flow_core::error::CallbackError;
use nemo_flow_core::pipeline::call_info;
use nemo_flow_core::plugin::{
    self, Behavior, ComponentConfig, ConfigPolicy, Diagnostic, Level, Plugin, PluginContext,
};
use serde_json::Value;
use std::sync::Arc;

use crate::diag;
use crate::enforce;
use crate::validate::{UnknownField, validate};

/// The component kind.
pub const KIND: &str = "policy";

/// Registers the `policy` kind (idempotent).
pub fn register_builtin() {
    plugin::register_builtin(KIND, Arc::new(PolicyPlugin));
}

/// The component. Several may be active at once; each is its own pair of guardrails.
pub struct PolicyPlugin;

fn unknown_field(policy: &ConfigPolicy) -> UnknownField {
    match policy.unknown_field {
        Behavior::Ignore => UnknownField::Ignore,
        Behavior::Warn => UnknownField::Warn,
        Behavior::Error => UnknownField::Error,
    }
}

fn to_plugin(d: diag::Diagnostic) -> Diagnostic {
    let level = match d.level {
        diag::Level::Error => Level::Error,
        diag::Level::Warning => Level::Warning,
    };
    let out = Diagnostic::new(level, d.code, d.message).component(KIND);
    if d.field.is_empty() {
        out
    } else {
        out.field(d.field)
    }
}

/// `field: message; …`, for an activation error.
fn describe(diags: &[diag::Diagnostic]) -> String {
    let each: Vec<String> = diags
        .iter()
        .map(|d| format!("{}: {}", d.field, d.message))
        .collect();
    each.join("; ")
}

fn registration(e: FlowError) -> CallbackError {
    CallbackError::new("RegistrationError", e.to_string())
}

impl Plugin for PolicyPlugin {
    fn allows_multiple_components(&self) -> bool {
        true
    }

    fn validate(&self, config: &ComponentConfig, policy: &ConfigPolicy) -> Vec<Diagnostic> {
        let found = match validate(&Value::Object(config.clone()), unknown_field(policy)) {
            Ok((_, warnings)) => warnings,
            Err(diags) => diags,
        };
        found.into_iter().map(to_plugin).collect()
    }

    fn register(&self, config: &ComponentConfig, ctx: &PluginContext) -> Result<(), CallbackError> {
        // `validate` ran first and refused errors; this only compiles. An unknown approver
        // is found only now (approvers are registered from code).
        let (c, _) = validate(&Value::Object(config.clone()), unknown_field(&ctx.policy()))
            .map_err(|d| {
                CallbackError::new(
                    "ConfigError",
                    format!("invalid policy config: {}", describe(&d)),
                )
            })?;
        let missing = enforce::activation_diagnostics(&c);
        if !missing.is_empty() {
            return Err(CallbackError::new("RegistrationError", describe(&missing)));
        }
        if c.has_tool_policies() {
            let g = enforce::tool_guardrail(Arc::clone(&c));
            ctx.register_tool_conditional_execution("tool", c.priority, g)
                .map_err(registration)?;
        }
        if c.has_llm_policies() {
            // The LLM guardrail binds from the annotated request, which the core decodes
            // only while someone demands it; the demand ends with the component.
            let demand = call_info::demand_annotations();
            ctx.add_cleanup("annotations", move || {
                drop(demand);
                Ok(())
            })
            .map_err(registration)?;
            let g = enforce::llm_guardrail(Arc::clone(&c));
            ctx.register_llm_conditional_execution("llm", c.priority, g)
                .map_err(registration)?;
        }
        Ok(())
    }
}
