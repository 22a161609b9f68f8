//! `nemo_flow._native`: the PyO3 binding of `nemo-flow-core`. It converts values, wraps
//! Python callables as core callbacks and exposes pyclasses; the runtime's semantics live in
//! the core crate.

mod adaptive;
mod annotated_fields;
mod callbacks;
mod calls;
mod chain;
mod codecs;
mod errors;
mod events;
mod export;
mod export_otlp;
mod handles;
mod interrupts;
mod json;
mod llm_types;
mod plugin;
mod policy;
mod registration;
mod scopes;
mod scrubbing;
mod shutdown;
mod types;

use nemo_flow_core::dispatch;
use pyo3::prelude::*;
use std::sync::Arc;

/// Routes failures that must not propagate (subscribers, fail-closed sanitizers, response
/// codecs on successful calls) to the `nemo_flow` logger, with the original traceback.
fn install_error_reporter() {
    dispatch::set_error_reporter(Some(Arc::new(|what, err| {
        let Some(_in_flight) = shutdown::enter() else {
            return;
        };
        Python::attach(|py| {
            let log = || -> PyResult<()> {
                let logger = py
                    .import("logging")?
                    .call_method1("getLogger", ("nemo_flow",))?;
                let original = errors::original(py, err);
                if original
                    .as_ref()
                    .is_some_and(|e| errors::is_interrupt(py, e))
                {
                    // Not a failure to log: the call re-raises it (see interrupts.rs).
                    return Ok(());
                }
                let exc = original.map(|e| e.into_value(py).into_any());
                let kwargs = pyo3::types::PyDict::new(py);
                if let Some(e) = exc {
                    kwargs.set_item("exc_info", e)?;
                }
                logger.call_method(
                    "error",
                    ("%s failed: %s", what, err.to_string()),
                    Some(&kwargs),
                )?;
                Ok(())
            };
            if let Err(e) = log() {
                e.print(py);
            }
        })
    })));
}

/// How many subscriber calls have raised in this process.
#[pyfunction]
fn subscriber_error_count() -> u64 {
    dispatch::subscriber_error_count()
}

/// Drains every exporter's buffer; returns whether all finished within `timeout` seconds.
#[pyfunction]
#[pyo3(signature = (timeout=None))]
fn flush(py: Python<'_>, timeout: Option<&Bound<'_, PyAny>>) -> PyResult<bool> {
    let timeout = match timeout.filter(|t| !t.is_none()) {
        None => None,
        Some(t) if t.is_instance_of::<pyo3::types::PyBool>() => {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "timeout: expected a number of seconds or None, got bool",
            ));
        }
        Some(t) => Some(t.extract::<f64>().map_err(|_| {
            pyo3::exceptions::PyTypeError::new_err(format!(
                "timeout: expected a number of seconds or None, got {}",
                errors::type_name(t)
            ))
        })?),
    };
    let t = match timeout {
        Some(s) if !(s.is_finite() && s >= 0.0) => {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "timeout: expected a non-negative number of seconds, got {s}"
            )));
        }
        Some(s) => Some(std::time::Duration::from_secs_f64(s)),
        None => None,
    };
    Ok(py.detach(|| dispatch::flush(t)))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    install_error_reporter();
    export::install_blocking_region();
    // The Cargo workspace version is the one version source: the wheel's metadata has it too.
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::register(m)?;
    m.add_class::<types::ScopeType>()?;
    m.add_class::<types::ScopeAttributes>()?;
    m.add_class::<types::ToolAttributes>()?;
    m.add_class::<types::LLMAttributes>()?;
    m.add_class::<handles::ScopeHandle>()?;
    m.add_class::<handles::ScopeStack>()?;
    m.add_class::<handles::ToolHandle>()?;
    m.add_class::<handles::LLMHandle>()?;
    m.add_class::<events::ScopeEvent>()?;
    m.add_class::<events::MarkEvent>()?;
    m.add_class::<llm_types::PyLlmRequest>()?;
    m.add_class::<llm_types::AnnotatedLLMRequest>()?;
    m.add_class::<llm_types::AnnotatedLLMResponse>()?;
    m.add_class::<scopes::ScopeContext>()?;
    m.add_class::<calls::ToolCall>()?;
    m.add_class::<calls::LlmCall>()?;
    m.add_class::<chain::NativeIntercept>()?;
    m.add_class::<chain::NativeStep>()?;
    m.add_function(wrap_pyfunction!(chain::_register_test_intercept, m)?)?;
    codecs::register(m)?;
    adaptive::register(m)?;
    policy::register(m)?;
    m.add_function(wrap_pyfunction!(scopes::push, m)?)?;
    m.add_function(wrap_pyfunction!(scopes::pop, m)?)?;
    m.add_function(wrap_pyfunction!(scopes::get_handle, m)?)?;
    m.add_function(wrap_pyfunction!(scopes::event, m)?)?;
    m.add_function(wrap_pyfunction!(scopes::start_detached, m)?)?;
    m.add_function(wrap_pyfunction!(scopes::end_detached, m)?)?;
    m.add_function(wrap_pyfunction!(scopes::get_scope_stack, m)?)?;
    m.add_function(wrap_pyfunction!(scopes::scope_stack_active, m)?)?;
    m.add_function(wrap_pyfunction!(scopes::propagate_scope_to_thread, m)?)?;
    m.add_function(wrap_pyfunction!(scopes::create_scope_stack, m)?)?;
    m.add_function(wrap_pyfunction!(scopes::set_thread_scope_stack, m)?)?;
    m.add_function(wrap_pyfunction!(calls::tool_call, m)?)?;
    m.add_function(wrap_pyfunction!(calls::tool_call_end, m)?)?;
    m.add_function(wrap_pyfunction!(calls::llm_call, m)?)?;
    m.add_function(wrap_pyfunction!(calls::llm_call_end, m)?)?;
    m.add_function(wrap_pyfunction!(calls::tool_request_intercepts, m)?)?;
    m.add_function(wrap_pyfunction!(calls::tool_conditional_execution, m)?)?;
    m.add_function(wrap_pyfunction!(calls::llm_request_intercepts, m)?)?;
    m.add_function(wrap_pyfunction!(calls::llm_conditional_execution, m)?)?;
    m.add_function(wrap_pyfunction!(registration::register, m)?)?;
    m.add_function(wrap_pyfunction!(registration::deregister, m)?)?;
    m.add_function(wrap_pyfunction!(registration::clear_global, m)?)?;
    m.add_function(wrap_pyfunction!(subscriber_error_count, m)?)?;
    m.add_function(wrap_pyfunction!(flush, m)?)?;
    m.add_function(wrap_pyfunction!(shutdown::_at_exit, m)?)?;
    m.add_function(wrap_pyfunction!(scrubbing::configure_scrubbing, m)?)?;
    m.add_function(wrap_pyfunction!(scrubbing::scrubbing_patterns, m)?)?;
    m.add_function(wrap_pyfunction!(scrubbing::default_scrubbing_patterns, m)?)?;
    m.add_class::<export::AtofExporterMode>()?;
    m.add_class::<export::AtofExporterConfig>()?;
    m.add_class::<export::AtofExporter>()?;
    m.add_class::<export::AtifExporter>()?;
    m.add_class::<export_otlp::OpenTelemetryConfig>()?;
    m.add_class::<export_otlp::OpenTelemetrySubscriber>()?;
    m.add_class::<export_otlp::OpenInferenceConfig>()?;
    m.add_class::<export_otlp::OpenInferenceSubscriber>()?;
    m.add_function(wrap_pyfunction!(export::shutdown_exporters, m)?)?;
    m.add_function(wrap_pyfunction!(export::_restart_exporters_after_fork, m)?)?;
    plugin::register(m)?;
    m.add("_scope_var", handles::scope_var(m.py())?)?;
    Ok(())
}
