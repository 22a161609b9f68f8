//! The activation-time context a component registers through: it prefixes every name with
//! the component's namespace and records how to undo each registration, so a failed or
//! replaced activation can be rolled back exactly.

use std::sync::{Arc, Mutex};

use crate::dispatch::{self, FlushHook};
use crate::error::{CallbackError, FlowError, FlowResult};
use crate::middleware::{
    LlmConditional, LlmExecution, LlmRequestIntercept, LlmSanitizeRequest, LlmSanitizeResponse,
    LlmStreamExecution, Subscriber, ToolConditional, ToolExecution, ToolRequest, ToolSanitize,
    global,
};
use crate::plugin::diagnostics::{ConfigPolicy, Diagnostic};

/// The registries a plugin can install into (global ones), named as in the bindings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Tool sanitize-request guardrail.
    ToolSanitizeRequest,
    /// Tool sanitize-response guardrail.
    ToolSanitizeResponse,
    /// Tool conditional-execution guardrail.
    ToolConditionalExecution,
    /// Tool request intercept.
    ToolRequest,
    /// Tool execution intercept.
    ToolExecution,
    /// LLM sanitize-request guardrail.
    LlmSanitizeRequest,
    /// LLM sanitize-response guardrail.
    LlmSanitizeResponse,
    /// LLM conditional-execution guardrail.
    LlmConditionalExecution,
    /// LLM request intercept.
    LlmRequest,
    /// LLM execution intercept.
    LlmExecution,
    /// LLM stream execution intercept.
    LlmStreamExecution,
    /// Event subscriber.
    Subscriber,
}

impl Family {
    /// The binding's family name, e.g. `tool_sanitize_request`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ToolSanitizeRequest => "tool_sanitize_request",
            Self::ToolSanitizeResponse => "tool_sanitize_response",
            Self::ToolConditionalExecution => "tool_conditional_execution",
            Self::ToolRequest => "tool_request",
            Self::ToolExecution => "tool_execution",
            Self::LlmSanitizeRequest => "llm_sanitize_request",
            Self::LlmSanitizeResponse => "llm_sanitize_response",
            Self::LlmConditionalExecution => "llm_conditional_execution",
            Self::LlmRequest => "llm_request",
            Self::LlmExecution => "llm_execution",
            Self::LlmStreamExecution => "llm_stream_execution",
            Self::Subscriber => "subscriber",
        }
    }

    /// Removes `name` from this family's global registry.
    pub fn deregister_global(self, name: &str) -> bool {
        let m = global();
        match self {
            Self::ToolSanitizeRequest => m.tool_sanitize_request.deregister(name),
            Self::ToolSanitizeResponse => m.tool_sanitize_response.deregister(name),
            Self::ToolConditionalExecution => m.tool_conditional.deregister(name),
            Self::ToolRequest => m.tool_request.deregister(name),
            Self::ToolExecution => m.tool_execution.deregister(name),
            Self::LlmSanitizeRequest => m.llm_sanitize_request.deregister(name),
            Self::LlmSanitizeResponse => m.llm_sanitize_response.deregister(name),
            Self::LlmConditionalExecution => m.llm_conditional.deregister(name),
            Self::LlmRequest => m.llm_request.deregister(name),
            Self::LlmExecution => m.llm_execution.deregister(name),
            Self::LlmStreamExecution => m.llm_stream_execution.deregister(name),
            Self::Subscriber => m.subscribers.deregister(name),
        }
    }
}

/// One thing a component installed, as the activation report lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// A [`Family`] name, `flush_hook`, or `cleanup`.
    pub family: String,
    /// The full (namespaced) name.
    pub name: String,
    /// Priority, for middleware.
    pub priority: Option<i32>,
}

type Undo = Box<dyn FnOnce() -> Result<(), CallbackError> + Send>;

/// Runtime problems a component reports after activation (e.g. an exporter's write
/// failure); they appear in [`crate::plugin::report`].
#[derive(Clone, Default)]
pub struct Issues(Arc<Mutex<Vec<Diagnostic>>>);

impl Issues {
    /// Records one problem.
    pub fn push(&self, d: Diagnostic) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(d);
    }

    /// Everything recorded so far.
    pub fn snapshot(&self) -> Vec<Diagnostic> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

struct State {
    open: bool,
    done: Vec<(Registration, Undo)>,
}

struct Inner {
    kind: String,
    prefix: String,
    policy: ConfigPolicy,
    issues: Issues,
    state: Mutex<State>,
}

/// What [`crate::plugin::Plugin::register`] registers through. Cheap to clone; closed once
/// `register` returns, after which every registration through it is refused.
#[derive(Clone)]
pub struct PluginContext(Arc<Inner>);

/// `__nemo_flow_plugin__<kind>__` or, for one of several copies, `…__<ordinal>__`.
pub fn namespace(kind: &str, ordinal: Option<usize>) -> String {
    match ordinal {
        None => format!("__nemo_flow_plugin__{kind}__"),
        Some(n) => format!("__nemo_flow_plugin__{kind}__{n}__"),
    }
}

macro_rules! family_method {
    ($(#[$doc:meta])* $method:ident, $field:ident, $family:ident, $ty:ty) => {
        $(#[$doc])*
        pub fn $method(&self, name: &str, priority: i32, callback: $ty) -> FlowResult<String> {
            self.register_with(Family::$family, name, Some(priority), |full| {
                global().$field.register(full, priority, false, callback)
            })
        }
    };
}

macro_rules! chain_method {
    ($(#[$doc:meta])* $method:ident, $field:ident, $family:ident, $ty:ty) => {
        $(#[$doc])*
        pub fn $method(
            &self,
            name: &str,
            priority: i32,
            break_chain: bool,
            callback: $ty,
        ) -> FlowResult<String> {
            self.register_with(Family::$family, name, Some(priority), |full| {
                global().$field.register(full, priority, break_chain, callback)
            })
        }
    };
}

impl PluginContext {
    pub(crate) fn new(kind: &str, ordinal: Option<usize>, policy: ConfigPolicy) -> Self {
        Self(Arc::new(Inner {
            kind: kind.to_owned(),
            prefix: namespace(kind, ordinal),
            policy,
            issues: Issues::default(),
            state: Mutex::new(State {
                open: true,
                done: Vec::new(),
            }),
        }))
    }

    /// The component kind.
    pub fn kind(&self) -> &str {
        &self.0.kind
    }

    /// The namespace every name gets.
    pub fn prefix(&self) -> &str {
        &self.0.prefix
    }

    /// The policy in force for this component.
    pub fn policy(&self) -> ConfigPolicy {
        self.0.policy
    }

    /// Where the component reports runtime problems.
    pub fn issues(&self) -> Issues {
        self.0.issues.clone()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The namespaced form of `name`; refused once the context is closed or for an empty name.
    pub fn full_name(&self, name: &str) -> FlowResult<String> {
        if !self.state().open {
            return Err(FlowError::Registration(format!(
                "the plugin context of component '{}' is closed; register only while Plugin::register runs",
                self.0.kind
            )));
        }
        if name.is_empty() {
            return Err(FlowError::invalid("name", "expected a non-empty str"));
        }
        Ok(format!("{}{name}", self.0.prefix))
    }

    /// Records a registration made elsewhere under `full` (a name from [`Self::full_name`]):
    /// rollback removes it from `family`'s global registry. If the context closed meanwhile,
    /// the registration is undone at once and an error returned.
    pub fn record(&self, family: Family, full: &str, priority: Option<i32>) -> FlowResult<()> {
        let name = full.to_owned();
        self.push(family.as_str(), full, priority, move || {
            family.deregister_global(&name);
            Ok(())
        })
    }

    /// Registers through `register` (called with the namespaced name) and records the undo.
    pub fn register_with(
        &self,
        family: Family,
        name: &str,
        priority: Option<i32>,
        register: impl FnOnce(&str) -> FlowResult<()>,
    ) -> FlowResult<String> {
        let full = self.full_name(name)?;
        register(&full)?;
        self.record(family, &full, priority)?;
        Ok(full)
    }

    family_method!(
        /// Tool sanitize-request guardrail.
        register_tool_sanitize_request, tool_sanitize_request, ToolSanitizeRequest, ToolSanitize);
    family_method!(
        /// Tool sanitize-response guardrail.
        register_tool_sanitize_response, tool_sanitize_response, ToolSanitizeResponse, ToolSanitize);
    family_method!(
        /// Tool conditional-execution guardrail.
        register_tool_conditional_execution, tool_conditional, ToolConditionalExecution, ToolConditional);
    chain_method!(
        /// Tool request intercept.
        register_tool_request_intercept, tool_request, ToolRequest, ToolRequest);
    family_method!(
        /// Tool execution intercept.
        register_tool_execution_intercept, tool_execution, ToolExecution, ToolExecution);
    family_method!(
        /// LLM sanitize-request guardrail.
        register_llm_sanitize_request, llm_sanitize_request, LlmSanitizeRequest, LlmSanitizeRequest);
    family_method!(
        /// LLM sanitize-response guardrail.
        register_llm_sanitize_response, llm_sanitize_response, LlmSanitizeResponse, LlmSanitizeResponse);
    family_method!(
        /// LLM conditional-execution guardrail.
        register_llm_conditional_execution, llm_conditional, LlmConditionalExecution, LlmConditional);
    chain_method!(
        /// LLM request intercept.
        register_llm_request_intercept, llm_request, LlmRequest, LlmRequestIntercept);
    family_method!(
        /// LLM execution intercept.
        register_llm_execution_intercept, llm_execution, LlmExecution, LlmExecution);
    family_method!(
        /// LLM stream execution intercept.
        register_llm_stream_execution_intercept, llm_stream_execution, LlmStreamExecution, LlmStreamExecution);

    /// A global event subscriber.
    pub fn register_subscriber(&self, name: &str, callback: Subscriber) -> FlowResult<String> {
        self.register_with(Family::Subscriber, name, None, |full| {
            global().subscribers.register(full, 0, false, callback)
        })
    }

    /// A hook `nemo_flow.subscribers.flush()` runs (exporters drain their queue in it).
    pub fn register_flush_hook(&self, name: &str, hook: FlushHook) -> FlowResult<String> {
        let full = self.full_name(name)?;
        dispatch::register_flush_hook(&full, hook)?;
        let n = full.clone();
        self.push("flush_hook", &full, None, move || {
            dispatch::deregister_flush_hook(&n);
            Ok(())
        })?;
        Ok(full)
    }

    /// Teardown to run on rollback or clear (in reverse order with the registrations), e.g.
    /// shutting an exporter down. `label` names it in the report.
    pub fn add_cleanup(
        &self,
        label: &str,
        cleanup: impl FnOnce() -> Result<(), CallbackError> + Send + 'static,
    ) -> FlowResult<()> {
        let full = self.full_name(label)?;
        self.push("cleanup", &full, None, cleanup)
    }

    fn push(
        &self,
        family: &str,
        full: &str,
        priority: Option<i32>,
        undo: impl FnOnce() -> Result<(), CallbackError> + Send + 'static,
    ) -> FlowResult<()> {
        let mut st = self.state();
        if !st.open {
            drop(st);
            let _ = undo();
            return Err(FlowError::Registration(format!(
                "the plugin context of component '{}' closed during registration",
                self.0.kind
            )));
        }
        let reg = Registration {
            family: family.to_owned(),
            name: full.to_owned(),
            priority,
        };
        st.done.push((reg, Box::new(undo)));
        Ok(())
    }

    /// Closes the context; returns what was registered, in order, with the undos.
    pub(crate) fn close(&self) -> Vec<(Registration, Undo)> {
        let mut st = self.state();
        st.open = false;
        std::mem::take(&mut st.done)
    }
}

/// Runs `undos` in reverse order; a failing one is reported and the rest still run.
pub(crate) fn roll_back(kind: &str, undos: Vec<Undo>) {
    for undo in undos.into_iter().rev() {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(undo))
            .unwrap_or_else(|_| Err(CallbackError::new("panic", "a plugin cleanup panicked")));
        if let Err(e) = result {
            dispatch::report(&format!("plugin component '{kind}' cleanup"), &e);
        }
    }
}
