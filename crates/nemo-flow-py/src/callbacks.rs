//! Python callables as core callbacks. Each wrapper converts arguments to Python, calls,
//! converts the result back, and turns a raised exception into a `CallbackError` that keeps
//! the exception so it can be re-raised or chained.

use nemo_flow_core::error::{CallbackError, Foreign};
use nemo_flow_core::llm::{
    AnnotatedLlmRequest, AnnotatedLlmResponse, LlmCodec, LlmRequest, LlmResponseCodec,
};
use nemo_flow_core::middleware::{
    Execution, LlmConditional, LlmRequestIntercept, LlmSanitizeRequest, LlmSanitizeResponse,
    Subscriber, ToolConditional, ToolRequest, ToolSanitize,
};
use pyo3::prelude::*;
use pyo3::types::PyString;
use serde_json::Value;
use std::sync::Arc;

use crate::errors::{callback_error, type_name};
use crate::events::wrap;
use crate::json::{to_json, to_py};
use crate::llm_types::{
    AnnotatedLLMRequest, PyLlmRequest, annotated_request_arg, annotated_response_arg,
    intercept_result, request_arg,
};

type Res<T> = Result<T, CallbackError>;

fn guard<T>(f: impl FnOnce(Python<'_>) -> PyResult<T>) -> Res<T> {
    let Some(_in_flight) = crate::shutdown::enter() else {
        return Err(CallbackError::new(
            "InterpreterExit",
            "not called: the interpreter is exiting",
        ));
    };
    Python::attach(|py| {
        f(py).map_err(|e| {
            crate::interrupts::note(py, &e);
            callback_error(py, e)
        })
    })
}

fn reason(out: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
    if out.is_none() {
        return Ok(None);
    }
    out.cast::<PyString>().map(|s| Some(s.to_string())).map_err(|_| {
        pyo3::exceptions::PyTypeError::new_err(format!(
            "a conditional-execution guardrail must return None (allow) or a str rejection reason, got {}",
            type_name(out)
        ))
    })
}

/// `(name, args) -> args` for sanitize guardrails and request intercepts.
pub fn tool_transform(cb: Py<PyAny>, what: &'static str) -> ToolSanitize {
    Arc::new(move |name: &str, args: Value| {
        guard(|py| {
            let out = cb.call1(py, (name, to_py(py, &args)?))?;
            to_json(out.bind(py), what)
        })
    })
}

/// Tool request intercept (same shape as a sanitizer).
pub fn tool_request(cb: Py<PyAny>) -> ToolRequest {
    tool_transform(cb, "value returned by the tool request intercept")
}

/// Tool conditional-execution guardrail.
pub fn tool_conditional(cb: Py<PyAny>) -> ToolConditional {
    Arc::new(move |name: &str, args: &Value| {
        guard(|py| reason(cb.call1(py, (name, to_py(py, args)?))?.bind(py)))
    })
}

/// LLM sanitize-request guardrail: gets a fresh `LLMRequest`, returns one.
pub fn llm_sanitize_request(cb: Py<PyAny>) -> LlmSanitizeRequest {
    Arc::new(move |req: LlmRequest| {
        guard(|py| {
            let out = cb.call1(py, (PyLlmRequest::from_core(py, &req)?,))?;
            let r = request_arg(
                out.bind(py),
                "value returned by the LLM sanitize-request guardrail",
            )?;
            r.borrow()
                .to_core(py, "value returned by the LLM sanitize-request guardrail")
        })
    })
}

/// LLM sanitize-response guardrail: `(response) -> response`.
pub fn llm_sanitize_response(cb: Py<PyAny>) -> LlmSanitizeResponse {
    Arc::new(move |resp: Value| {
        guard(|py| {
            let out = cb.call1(py, (to_py(py, &resp)?,))?;
            to_json(
                out.bind(py),
                "value returned by the LLM sanitize-response guardrail",
            )
        })
    })
}

/// LLM conditional-execution guardrail.
pub fn llm_conditional(cb: Py<PyAny>) -> LlmConditional {
    Arc::new(move |req: &LlmRequest| {
        guard(|py| reason(cb.call1(py, (PyLlmRequest::from_core(py, req)?,))?.bind(py)))
    })
}

/// LLM request intercept: `(name, request, annotated) -> (request, annotated)`.
pub fn llm_request(cb: Py<PyAny>) -> LlmRequestIntercept {
    Arc::new(
        move |name: &str, req: LlmRequest, ann: Option<AnnotatedLlmRequest>| {
            guard(|py| {
                let py_ann = match &ann {
                    Some(a) => Py::new(py, AnnotatedLLMRequest::from_core(a.clone()))?.into_any(),
                    None => py.None(),
                };
                let out = cb.call1(py, (name, PyLlmRequest::from_core(py, &req)?, py_ann))?;
                intercept_result(py, out.bind(py), ann)
            })
        },
    )
}

/// An execution intercept the Python driver composes itself.
pub fn foreign<N>(cb: Py<PyAny>) -> Execution<N> {
    Execution::Foreign(Foreign(Arc::new(cb)))
}

/// The Python callable behind a foreign execution intercept.
pub fn foreign_callable<N>(py: Python<'_>, e: &Execution<N>) -> Option<Py<PyAny>> {
    match e {
        Execution::Foreign(f) => f.0.downcast_ref::<Py<PyAny>>().map(|c| c.clone_ref(py)),
        Execution::Native(_) => None,
    }
}

/// A subscriber: receives a `ScopeEvent` or `MarkEvent`.
pub fn subscriber(cb: Py<PyAny>) -> Subscriber {
    Arc::new(move |ev| {
        guard(|py| {
            cb.call1(py, (wrap(py, ev)?,))?;
            Ok(())
        })
    })
}

/// A Python object with `decode`/`encode` (and optionally `decode_response`).
pub struct PyCodec {
    obj: Py<PyAny>,
    name: String,
}

impl PyCodec {
    /// Wraps `obj`; `name` is its class name for error messages.
    pub fn new(py: Python<'_>, obj: Py<PyAny>) -> Self {
        let name = obj
            .bind(py)
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| "codec".into());
        Self { obj, name }
    }
}

impl LlmCodec for PyCodec {
    fn name(&self) -> &str {
        &self.name
    }
    fn decode(&self, request: &LlmRequest) -> Res<AnnotatedLlmRequest> {
        guard(|py| {
            let out =
                self.obj
                    .call_method1(py, "decode", (PyLlmRequest::from_core(py, request)?,))?;
            annotated_request_arg(out.bind(py), "value returned by codec.decode")
        })
    }
    fn encode(&self, annotated: &AnnotatedLlmRequest, base: &LlmRequest) -> Res<LlmRequest> {
        guard(|py| {
            let a = Py::new(py, AnnotatedLLMRequest::from_core(annotated.clone()))?;
            let out =
                self.obj
                    .call_method1(py, "encode", (a, PyLlmRequest::from_core(py, base)?))?;
            let r = request_arg(out.bind(py), "value returned by codec.encode")?;
            r.borrow().to_core(py, "value returned by codec.encode")
        })
    }
}

impl LlmResponseCodec for PyCodec {
    fn name(&self) -> &str {
        &self.name
    }
    fn decode_response(&self, response: &Value) -> Res<AnnotatedLlmResponse> {
        guard(|py| {
            let out = self
                .obj
                .call_method1(py, "decode_response", (to_py(py, response)?,))?;
            annotated_response_arg(out.bind(py), "value returned by codec.decode_response")
        })
    }
}
