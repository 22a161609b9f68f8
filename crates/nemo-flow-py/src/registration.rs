//! Registering and deregistering middleware and subscribers, globally or on one scope.

use nemo_flow_core::Family;
use nemo_flow_core::middleware::{Middleware, global};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use std::sync::Arc;

use crate::callbacks as cb;
use crate::errors::IntoPyResult;
use crate::errors::type_name;
use crate::handles::ScopeHandle;

/// A registration target: one of the eleven middleware families, or the subscribers.
#[derive(Clone, Copy)]
enum Kind {
    Middleware(Family),
    Subscriber,
}

fn kind(family: &str) -> PyResult<Kind> {
    if family == "subscriber" {
        return Ok(Kind::Subscriber);
    }
    Family::from_key(family)
        .map(Kind::Middleware)
        .ok_or_else(|| {
            let keys: Vec<&str> = Family::ALL.iter().map(|f| f.key()).collect();
            PyValueError::new_err(format!(
                "unknown middleware family {family:?}; expected one of {}, subscriber",
                keys.join(", ")
            ))
        })
}

fn target(py: Python<'_>, scope: Option<&Bound<'_, ScopeHandle>>) -> PyResult<Target> {
    match scope {
        None => Ok(Target::Global),
        Some(h) => Ok(Target::Local(h.get().node.locals_or_create().py(py)?)),
    }
}

enum Target {
    Global,
    Local(Arc<Middleware>),
}

impl Target {
    fn get(&self) -> &Middleware {
        match self {
            Target::Global => global(),
            Target::Local(m) => m,
        }
    }
}

/// Registers `callback` in `family` (globally, or on `scope` when given).
#[pyfunction]
#[pyo3(signature = (family, scope, name, priority, break_chain, callback))]
pub fn register(
    py: Python<'_>,
    family: &str,
    scope: Option<&Bound<'_, ScopeHandle>>,
    name: &Bound<'_, PyAny>,
    priority: &Bound<'_, PyAny>,
    break_chain: &Bound<'_, PyAny>,
    callback: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let name: String = name.extract().map_err(|_| {
        PyTypeError::new_err(format!("name: expected a str, got {}", type_name(name)))
    })?;
    if priority.is_instance_of::<pyo3::types::PyBool>() {
        return Err(PyTypeError::new_err("priority: expected an int, got bool"));
    }
    let priority: i32 = priority.extract().map_err(|_| {
        PyTypeError::new_err(format!(
            "priority: expected an int in the 32-bit range, got {}",
            type_name(priority)
        ))
    })?;
    let break_chain: bool = break_chain.extract().map_err(|_| {
        PyTypeError::new_err(format!(
            "break_chain: expected a bool, got {}",
            type_name(break_chain)
        ))
    })?;
    let kind = kind(family)?;
    if !callback.is_callable() {
        // Named as the public wrappers name it: guardrail=…, fn=…, callback=….
        let param = match kind {
            Kind::Subscriber => "callback",
            Kind::Middleware(f) if f.is_guardrail() => "guardrail",
            Kind::Middleware(_) => "fn",
        };
        return Err(PyTypeError::new_err(format!(
            "{param}: expected a callable, got {}",
            type_name(callback)
        )));
    }
    let t = target(py, scope)?;
    let m = t.get();
    let f = callback.clone().unbind();
    let n = name.as_str();
    let Kind::Middleware(family) = kind else {
        return m
            .subscribers
            .register(n, 0, false, cb::subscriber(f))
            .py(py);
    };
    match family {
        Family::ToolSanitizeRequest => m.tool_sanitize_request.register(
            n,
            priority,
            false,
            cb::tool_transform(f, "value returned by the tool sanitize-request guardrail"),
        ),
        Family::ToolSanitizeResponse => m.tool_sanitize_response.register(
            n,
            priority,
            false,
            cb::tool_transform(f, "value returned by the tool sanitize-response guardrail"),
        ),
        Family::ToolConditional => {
            m.tool_conditional
                .register(n, priority, false, cb::tool_conditional(f))
        }
        Family::ToolRequest => {
            m.tool_request
                .register(n, priority, break_chain, cb::tool_request(f))
        }
        Family::ToolExecution => m
            .tool_execution
            .register(n, priority, false, cb::foreign(f)),
        Family::LlmSanitizeRequest => {
            m.llm_sanitize_request
                .register(n, priority, false, cb::llm_sanitize_request(f))
        }
        Family::LlmSanitizeResponse => {
            m.llm_sanitize_response
                .register(n, priority, false, cb::llm_sanitize_response(f))
        }
        Family::LlmConditional => {
            m.llm_conditional
                .register(n, priority, false, cb::llm_conditional(f))
        }
        Family::LlmRequest => m
            .llm_request
            .register(n, priority, break_chain, cb::llm_request(f)),
        Family::LlmExecution => m.llm_execution.register(n, priority, false, cb::foreign(f)),
        Family::LlmStreamExecution => {
            m.llm_stream_execution
                .register(n, priority, false, cb::foreign(f))
        }
    }
    .py(py)
}

/// Removes `name` from `family`; returns whether it was registered.
#[pyfunction]
#[pyo3(signature = (family, scope, name))]
pub fn deregister(
    family: &str,
    scope: Option<&Bound<'_, ScopeHandle>>,
    name: &Bound<'_, PyAny>,
) -> PyResult<bool> {
    let name: String = name.extract().map_err(|_| {
        PyTypeError::new_err(format!("name: expected a str, got {}", type_name(name)))
    })?;
    let local;
    let m: &Middleware = match scope {
        None => global(),
        Some(h) => match h.get().node.locals() {
            Some(l) => {
                local = l;
                &local
            }
            None => {
                kind(family)?;
                return Ok(false);
            }
        },
    };
    let n = name.as_str();
    let Kind::Middleware(family) = kind(family)? else {
        return Ok(m.subscribers.deregister(n));
    };
    Ok(match family {
        Family::ToolSanitizeRequest => m.tool_sanitize_request.deregister(n),
        Family::ToolSanitizeResponse => m.tool_sanitize_response.deregister(n),
        Family::ToolConditional => m.tool_conditional.deregister(n),
        Family::ToolRequest => m.tool_request.deregister(n),
        Family::ToolExecution => m.tool_execution.deregister(n),
        Family::LlmSanitizeRequest => m.llm_sanitize_request.deregister(n),
        Family::LlmSanitizeResponse => m.llm_sanitize_response.deregister(n),
        Family::LlmConditional => m.llm_conditional.deregister(n),
        Family::LlmRequest => m.llm_request.deregister(n),
        Family::LlmExecution => m.llm_execution.deregister(n),
        Family::LlmStreamExecution => m.llm_stream_execution.deregister(n),
    })
}

/// Removes every global registration (tests and plugin resets).
#[pyfunction]
pub fn clear_global() -> usize {
    global().clear()
}
