//! The eleven middleware families plus subscribers, as one registry set. The process has a
//! global set; every scope can carry a scope-local set.

use serde_json::Value;
use std::sync::Arc;

use crate::error::{CallbackError, Foreign};
use crate::event::Event;
use crate::family::Family;
use crate::llm::{AnnotatedLlmRequest, LlmRequest};
use crate::registry::{Order, Registry};

type Res<T> = Result<T, CallbackError>;

/// `(tool name, args) -> args` (sanitize request/response).
pub type ToolSanitize = Arc<dyn Fn(&str, Value) -> Res<Value> + Send + Sync>;
/// `(tool name, args) -> rejection reason or None`.
pub type ToolConditional = Arc<dyn Fn(&str, &Value) -> Res<Option<String>> + Send + Sync>;
/// `(tool name, args) -> args`.
pub type ToolRequest = Arc<dyn Fn(&str, Value) -> Res<Value> + Send + Sync>;
/// `(request) -> request` on the copy that is recorded.
pub type LlmSanitizeRequest = Arc<dyn Fn(LlmRequest) -> Res<LlmRequest> + Send + Sync>;
/// `(response) -> response` on the copy that is recorded.
pub type LlmSanitizeResponse = Arc<dyn Fn(Value) -> Res<Value> + Send + Sync>;
/// `(request) -> rejection reason or None`.
pub type LlmConditional = Arc<dyn Fn(&LlmRequest) -> Res<Option<String>> + Send + Sync>;
/// `(name, request, annotated) -> (request, annotated)`.
pub type LlmRequestIntercept = Arc<
    dyn Fn(
            &str,
            LlmRequest,
            Option<AnnotatedLlmRequest>,
        ) -> Res<(LlmRequest, Option<AnnotatedLlmRequest>)>
        + Send
        + Sync,
>;
/// Receives every event; an error is counted and reported, never propagated.
pub type Subscriber = Arc<dyn Fn(&Arc<Event>) -> Res<()> + Send + Sync>;

/// Boxed future used by the async Rust execution intercepts.
pub type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;
/// The rest of a tool execution chain.
pub type ToolNext = Arc<dyn Fn(Value) -> BoxFuture<Res<Value>> + Send + Sync>;
/// The rest of an LLM execution chain.
pub type LlmNext = Arc<dyn Fn(LlmRequest) -> BoxFuture<Res<Value>> + Send + Sync>;

/// An execution intercept: a Rust async function, or a callable owned by a language binding
/// that only that binding can run (its pipeline driver composes the chain itself).
#[derive(Clone)]
pub enum Execution<N> {
    /// Runs in Rust.
    Native(N),
    /// Owned by a binding.
    Foreign(Foreign),
}

/// Rust tool execution intercept: `(name, args, next) -> result`.
pub type ToolExecutionFn =
    Arc<dyn Fn(String, Value, ToolNext) -> BoxFuture<Res<Value>> + Send + Sync>;
/// Rust LLM execution intercept: `(name, request, next) -> response`.
pub type LlmExecutionFn =
    Arc<dyn Fn(String, LlmRequest, LlmNext) -> BoxFuture<Res<Value>> + Send + Sync>;
/// Tool execution intercept entry.
pub type ToolExecution = Execution<ToolExecutionFn>;
/// LLM execution intercept entry.
pub type LlmExecution = Execution<LlmExecutionFn>;
/// LLM stream execution intercepts are binding-owned (streams are driven by the binding).
pub type LlmStreamExecution = Execution<()>;

/// One complete set of registries.
pub struct Middleware {
    /// Tool sanitize-request guardrails.
    pub tool_sanitize_request: Registry<ToolSanitize>,
    /// Tool sanitize-response guardrails.
    pub tool_sanitize_response: Registry<ToolSanitize>,
    /// Tool conditional-execution guardrails.
    pub tool_conditional: Registry<ToolConditional>,
    /// Tool request intercepts.
    pub tool_request: Registry<ToolRequest>,
    /// Tool execution intercepts.
    pub tool_execution: Registry<ToolExecution>,
    /// LLM sanitize-request guardrails.
    pub llm_sanitize_request: Registry<LlmSanitizeRequest>,
    /// LLM sanitize-response guardrails.
    pub llm_sanitize_response: Registry<LlmSanitizeResponse>,
    /// LLM conditional-execution guardrails.
    pub llm_conditional: Registry<LlmConditional>,
    /// LLM request intercepts.
    pub llm_request: Registry<LlmRequestIntercept>,
    /// LLM execution intercepts.
    pub llm_execution: Registry<LlmExecution>,
    /// LLM stream execution intercepts.
    pub llm_stream_execution: Registry<LlmStreamExecution>,
    /// Event subscribers, in registration order.
    pub subscribers: Registry<Subscriber>,
}

impl Default for Middleware {
    fn default() -> Self {
        use Order::{Priority, Registration};
        Self {
            tool_sanitize_request: Registry::new(Family::ToolSanitizeRequest.label(), Priority),
            tool_sanitize_response: Registry::new(Family::ToolSanitizeResponse.label(), Priority),
            tool_conditional: Registry::new(Family::ToolConditional.label(), Priority),
            tool_request: Registry::new(Family::ToolRequest.label(), Priority),
            tool_execution: Registry::new(Family::ToolExecution.label(), Priority),
            llm_sanitize_request: Registry::new(Family::LlmSanitizeRequest.label(), Priority),
            llm_sanitize_response: Registry::new(Family::LlmSanitizeResponse.label(), Priority),
            llm_conditional: Registry::new(Family::LlmConditional.label(), Priority),
            llm_request: Registry::new(Family::LlmRequest.label(), Priority),
            llm_execution: Registry::new(Family::LlmExecution.label(), Priority),
            llm_stream_execution: Registry::new(Family::LlmStreamExecution.label(), Priority),
            subscribers: Registry::new("subscriber", Registration),
        }
    }
}

impl Middleware {
    /// Empties every registry; returns how many entries were removed.
    pub fn clear(&self) -> usize {
        self.tool_sanitize_request.clear()
            + self.tool_sanitize_response.clear()
            + self.tool_conditional.clear()
            + self.tool_request.clear()
            + self.tool_execution.clear()
            + self.llm_sanitize_request.clear()
            + self.llm_sanitize_response.clear()
            + self.llm_conditional.clear()
            + self.llm_request.clear()
            + self.llm_execution.clear()
            + self.llm_stream_execution.clear()
            + self.subscribers.clear()
    }
}

/// The process-wide registries.
pub fn global() -> &'static Middleware {
    static GLOBAL: std::sync::LazyLock<Middleware> = std::sync::LazyLock::new(Middleware::default);
    &GLOBAL
}
