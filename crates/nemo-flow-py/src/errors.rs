//! Exception classes and the mapping between core errors and Python exceptions.

use nemo_flow_core::error::{CallbackError, FlowError, Foreign};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use std::sync::Arc;

pyo3::create_exception!(
    nemo_flow,
    NemoFlowError,
    PyRuntimeError,
    "Base class of every error raised by the nemo_flow runtime itself."
);
pyo3::create_exception!(
    nemo_flow,
    GuardrailRejected,
    NemoFlowError,
    "A conditional-execution guardrail refused the call."
);
pyo3::create_exception!(
    nemo_flow,
    ScopeError,
    NemoFlowError,
    "Misuse of the scope stack or of a call handle."
);
pyo3::create_exception!(
    nemo_flow,
    RegistrationError,
    NemoFlowError,
    "A duplicate or otherwise invalid registration."
);
pyo3::create_exception!(
    nemo_flow,
    ConfigError,
    NemoFlowError,
    "Invalid configuration."
);
pyo3::create_exception!(
    nemo_flow,
    MiddlewareError,
    NemoFlowError,
    "A guardrail, intercept or codec raised; the original exception is the __cause__."
);

/// Adds the exception classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("NemoFlowError", py.get_type::<NemoFlowError>())?;
    m.add("GuardrailRejected", py.get_type::<GuardrailRejected>())?;
    m.add("ScopeError", py.get_type::<ScopeError>())?;
    m.add("RegistrationError", py.get_type::<RegistrationError>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("MiddlewareError", py.get_type::<MiddlewareError>())?;
    Ok(())
}

/// A Python exception as a core callback error (the exception rides along to be re-raised).
pub fn callback_error(py: Python<'_>, err: PyErr) -> CallbackError {
    let value = err.value(py);
    let kind = value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "Exception".into());
    let message = value.str().map(|s| s.to_string()).unwrap_or_default();
    CallbackError {
        kind,
        message,
        source: Some(Foreign(Arc::new(err))),
        origin: None,
    }
}

/// The original Python exception carried by a callback error, if any.
pub fn original(py: Python<'_>, e: &CallbackError) -> Option<PyErr> {
    let f = e.source.as_ref()?;
    f.0.downcast_ref::<PyErr>().map(|err| err.clone_ref(py))
}

/// A core error as the matching Python exception.
pub fn to_py_err(py: Python<'_>, e: FlowError) -> PyErr {
    let msg = e.to_string();
    match e {
        FlowError::GuardrailRejected { .. } => GuardrailRejected::new_err(msg),
        FlowError::Scope(_) => ScopeError::new_err(msg),
        FlowError::Registration(_) => RegistrationError::new_err(msg),
        FlowError::Config(_) => ConfigError::new_err(msg),
        FlowError::InvalidArgument { .. } => PyValueError::new_err(msg),
        FlowError::Middleware { error, .. } => {
            // Ctrl-C, sys.exit and cancellation interrupt: never wrapped as a failure.
            if let Some(orig) = original(py, &error).filter(|e| is_interrupt(py, e)) {
                return orig;
            }
            let wrapped = MiddlewareError::new_err(msg);
            if let Some(orig) = original(py, &error) {
                wrapped.set_cause(py, Some(orig));
            } else if error.kind == "ValueError" {
                // A native codec refused a payload: the cause is the ValueError it names.
                wrapped.set_cause(py, Some(PyValueError::new_err(error.message.clone())));
            }
            wrapped
        }
        FlowError::Callable(error) => {
            original(py, &error).unwrap_or_else(|| NemoFlowError::new_err(msg))
        }
    }
}

/// A `BaseException` that is not an `Exception` (`KeyboardInterrupt`, `SystemExit`,
/// `asyncio.CancelledError`, ...): it means "stop", so it propagates unchanged.
pub fn is_interrupt(py: Python<'_>, err: &PyErr) -> bool {
    !err.is_instance_of::<pyo3::exceptions::PyException>(py)
}

/// Extension to turn core results into `PyResult`.
pub trait IntoPyResult<T> {
    /// Maps the error with [`to_py_err`].
    fn py(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for Result<T, FlowError> {
    fn py(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_py_err(py, e))
    }
}

/// A Python error raised inside a lazily evaluated step, carried so it is re-raised as is.
pub fn carry(py: Python<'_>, err: PyErr) -> FlowError {
    FlowError::Callable(Box::new(callback_error(py, err)))
}

/// The class name of `obj`, for error messages.
pub fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_default()
}
