//! The plugin system for Python: Python plugin objects wrapped as core plugins, the
//! `PluginContext` they register through, and the configuration functions behind
//! `nemo_flow.plugin`. Validation, namespacing, activation and rollback live in the core.

use nemo_flow_core::error::CallbackError;
use nemo_flow_core::plugin::{
    self as core, ComponentConfig, ConfigPolicy, Diagnostic, Family, Level, Plugin, PluginContext,
};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use serde_json::Value;
use std::sync::Arc;

use crate::errors::{ConfigError, IntoPyResult, callback_error, original, type_name};
use crate::json::{to_json, to_py};
use crate::registration;

/// A Python object with `register(config, context)` and optionally `validate(config)`.
struct PyPlugin {
    obj: Py<PyAny>,
    kind: String,
}

impl PyPlugin {
    fn validate_failed(&self, why: String) -> Vec<Diagnostic> {
        vec![
            Diagnostic::error(
                "plugin.validate_failed",
                format!("validate of component '{}' {why}", self.kind),
            )
            .component(&self.kind),
        ]
    }
}

fn diagnostic(item: &Bound<'_, PyAny>) -> Result<Diagnostic, String> {
    let d = item
        .cast::<PyDict>()
        .map_err(|_| format!("expected a dict, got {}", type_name(item)))?;
    let text = |key: &str, required: bool| -> Result<Option<String>, String> {
        match d.get_item(key).ok().flatten().filter(|v| !v.is_none()) {
            None if required => Err(format!("a diagnostic needs a {key:?}")),
            None => Ok(None),
            Some(v) => v
                .extract::<String>()
                .map(Some)
                .map_err(|_| format!("{key}: expected a str, got {}", type_name(&v))),
        }
    };
    let level = match text("level", true)?.as_deref() {
        Some("warning") => Level::Warning,
        Some("error") => Level::Error,
        other => {
            return Err(format!(
                "level: expected \"warning\" or \"error\", got {other:?}"
            ));
        }
    };
    let mut out = Diagnostic::new(
        level,
        text("code", true)?.unwrap_or_default(),
        text("message", true)?.unwrap_or_default(),
    );
    out.component = text("component", false)?;
    out.field = text("field", false)?;
    Ok(out)
}

impl Plugin for PyPlugin {
    fn validate(&self, config: &ComponentConfig, _policy: &ConfigPolicy) -> Vec<Diagnostic> {
        Python::attach(|py| {
            let obj = self.obj.bind(py);
            let Ok(validate) = obj.getattr("validate") else {
                return Vec::new();
            };
            if validate.is_none() {
                return Vec::new();
            }
            let out = match to_py(py, &Value::Object(config.clone()))
                .and_then(|c| validate.call1((c,)))
            {
                Ok(o) => o,
                Err(e) => {
                    let e = callback_error(py, e);
                    return self.validate_failed(format!("raised {e}"));
                }
            };
            if out.is_none() {
                return Vec::new();
            }
            let items: Vec<Bound<'_, PyAny>> = match out.try_iter() {
                Ok(it) if !out.is_instance_of::<PyString>() && !out.is_instance_of::<PyDict>() => {
                    match it.collect::<PyResult<_>>() {
                        Ok(v) => v,
                        Err(e) => {
                            return self
                                .validate_failed(format!("raised {}", callback_error(py, e)));
                        }
                    }
                }
                _ => {
                    return self.validate_failed(format!(
                        "returned {}; expected None or a list of diagnostics",
                        type_name(&out)
                    ));
                }
            };
            let mut ds = Vec::with_capacity(items.len());
            for item in &items {
                match diagnostic(item) {
                    Ok(d) => ds.push(d),
                    Err(why) => {
                        return self
                            .validate_failed(format!("returned a malformed diagnostic: {why}"));
                    }
                }
            }
            ds
        })
    }

    fn register(&self, config: &ComponentConfig, ctx: &PluginContext) -> Result<(), CallbackError> {
        Python::attach(|py| {
            let run = || -> PyResult<()> {
                let cfg = to_py(py, &Value::Object(config.clone()))?;
                let pctx = Py::new(py, PyPluginContext { ctx: ctx.clone() })?;
                let out = self.obj.call_method1(py, "register", (cfg, pctx))?;
                let out = out.bind(py);
                let inspect = py.import("inspect")?;
                if inspect.call_method1("isawaitable", (out,))?.is_truthy()? {
                    if out.hasattr("close")? {
                        out.call_method0("close")?;
                    }
                    return Err(PyTypeError::new_err(format!(
                        "register of component '{}' returned {} (awaitable); register must be a plain synchronous function",
                        self.kind,
                        type_name(out)
                    )));
                }
                Ok(())
            };
            run().map_err(|e| callback_error(py, e))
        })
    }
}

/// What a plugin's `register(config, context)` installs through. Every name is prefixed with
/// the component's namespace (`__nemo_flow_plugin__<kind>__[<ordinal>__]`), every
/// registration is undone when the configuration is cleared or replaced, and the context
/// refuses registrations once `register` has returned.
#[pyclass(name = "PluginContext", module = "nemo_flow._native", frozen)]
pub struct PyPluginContext {
    ctx: PluginContext,
}

impl PyPluginContext {
    fn add(
        &self,
        py: Python<'_>,
        family: Family,
        name: &Bound<'_, PyAny>,
        priority: &Bound<'_, PyAny>,
        break_chain: &Bound<'_, PyAny>,
        callback: &Bound<'_, PyAny>,
    ) -> PyResult<String> {
        let name: String = name.extract().map_err(|_| {
            PyTypeError::new_err(format!("name: expected a str, got {}", type_name(name)))
        })?;
        let full = self.ctx.full_name(&name).py(py)?;
        let full_py = PyString::new(py, &full);
        registration::register(
            py,
            family.as_str(),
            None,
            full_py.as_any(),
            priority,
            break_chain,
            callback,
        )?;
        let priority = (family != Family::Subscriber)
            .then(|| priority.extract::<i32>().ok())
            .flatten();
        self.ctx.record(family, &full, priority).py(py)?;
        Ok(full)
    }
}

/// Guardrails (`guardrail` argument) and execution intercepts (`fn` argument): no break_chain.
macro_rules! prioritized {
    ($method:ident, $family:ident, $arg:ident) => {
        #[pymethods]
        impl PyPluginContext {
            /// Registers under the component's namespace; returns the full name.
            fn $method(
                &self,
                py: Python<'_>,
                name: &Bound<'_, PyAny>,
                priority: &Bound<'_, PyAny>,
                $arg: &Bound<'_, PyAny>,
            ) -> PyResult<String> {
                let no = pyo3::types::PyBool::new(py, false);
                self.add(py, Family::$family, name, priority, no.as_any(), $arg)
            }
        }
    };
}

macro_rules! request {
    ($method:ident, $family:ident) => {
        #[pymethods]
        impl PyPluginContext {
            /// Registers a request intercept under the component's namespace; returns the full
            /// name.
            fn $method(
                &self,
                py: Python<'_>,
                name: &Bound<'_, PyAny>,
                priority: &Bound<'_, PyAny>,
                break_chain: &Bound<'_, PyAny>,
                r#fn: &Bound<'_, PyAny>,
            ) -> PyResult<String> {
                self.add(py, Family::$family, name, priority, break_chain, r#fn)
            }
        }
    };
}

prioritized!(
    register_tool_sanitize_request_guardrail,
    ToolSanitizeRequest,
    guardrail
);
prioritized!(
    register_tool_sanitize_response_guardrail,
    ToolSanitizeResponse,
    guardrail
);
prioritized!(
    register_tool_conditional_execution_guardrail,
    ToolConditionalExecution,
    guardrail
);
prioritized!(
    register_llm_sanitize_request_guardrail,
    LlmSanitizeRequest,
    guardrail
);
prioritized!(
    register_llm_sanitize_response_guardrail,
    LlmSanitizeResponse,
    guardrail
);
prioritized!(
    register_llm_conditional_execution_guardrail,
    LlmConditionalExecution,
    guardrail
);
request!(register_tool_request_intercept, ToolRequest);
request!(register_llm_request_intercept, LlmRequest);
prioritized!(register_tool_execution_intercept, ToolExecution, r#fn);
prioritized!(register_llm_execution_intercept, LlmExecution, r#fn);
prioritized!(
    register_llm_stream_execution_intercept,
    LlmStreamExecution,
    r#fn
);

#[pymethods]
impl PyPluginContext {
    /// The component kind.
    #[getter]
    fn kind(&self) -> String {
        self.ctx.kind().to_owned()
    }

    /// The prefix every name registered through this context gets.
    #[getter]
    fn prefix(&self) -> String {
        self.ctx.prefix().to_owned()
    }

    /// Registers a global event subscriber; returns the full name.
    fn register_subscriber(
        &self,
        py: Python<'_>,
        name: &Bound<'_, PyAny>,
        callback: &Bound<'_, PyAny>,
    ) -> PyResult<String> {
        let zero = 0i32.into_pyobject(py)?;
        let no = pyo3::types::PyBool::new(py, false);
        self.add(
            py,
            Family::Subscriber,
            name,
            zero.as_any(),
            no.as_any(),
            callback,
        )
    }

    /// Runs `callback()` when the component is removed (clear, replacement or rollback), in
    /// reverse order with the registrations. An exception is logged, never raised.
    fn add_cleanup(&self, py: Python<'_>, callback: &Bound<'_, PyAny>) -> PyResult<()> {
        if !callback.is_callable() {
            return Err(PyTypeError::new_err(format!(
                "callback: expected a callable, got {}",
                type_name(callback)
            )));
        }
        let label = callback
            .getattr("__name__")
            .and_then(|n| n.extract::<String>())
            .unwrap_or_else(|_| type_name(callback));
        let f = callback.clone().unbind();
        self.ctx
            .add_cleanup(&label, move || {
                Python::attach(|py| f.call0(py).map(drop).map_err(|e| callback_error(py, e)))
            })
            .py(py)
    }

    fn __repr__(&self) -> String {
        format!(
            "<PluginContext kind={:?} prefix={:?}>",
            self.ctx.kind(),
            self.ctx.prefix()
        )
    }
}

/// Registers `plugin` (an object with `register(config, context)`) as component kind `kind`.
#[pyfunction]
fn plugin_register(
    py: Python<'_>,
    kind: &Bound<'_, PyAny>,
    plugin: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let kind: String = kind.extract().map_err(|_| {
        PyTypeError::new_err(format!("kind: expected a str, got {}", type_name(kind)))
    })?;
    let callable = |attr: &str| -> PyResult<Option<bool>> {
        match plugin.getattr(attr) {
            Ok(v) if v.is_none() => Ok(None),
            Ok(v) => Ok(Some(v.is_callable())),
            Err(_) => Ok(None),
        }
    };
    if callable("register")? != Some(true) {
        return Err(PyTypeError::new_err(format!(
            "plugin: expected an object with a register(config, context) method, got {}",
            type_name(plugin)
        )));
    }
    if callable("validate")? == Some(false) {
        return Err(PyTypeError::new_err(format!(
            "plugin: validate must be a method validate(config), got a non-callable on {}",
            type_name(plugin)
        )));
    }
    let p = PyPlugin {
        obj: plugin.clone().unbind(),
        kind: kind.clone(),
    };
    core::register_kind(&kind, Arc::new(p)).py(py)
}

/// Removes a user kind; returns whether it was registered.
#[pyfunction]
fn plugin_deregister(py: Python<'_>, kind: &Bound<'_, PyAny>) -> PyResult<bool> {
    let kind: String = kind.extract().map_err(|_| {
        PyTypeError::new_err(format!("kind: expected a str, got {}", type_name(kind)))
    })?;
    core::deregister_kind(&kind).py(py)
}

/// Every registered kind, sorted.
#[pyfunction]
fn plugin_list_kinds() -> Vec<String> {
    core::list_kinds()
}

fn document(config: &Bound<'_, PyAny>) -> PyResult<Value> {
    to_json(config, "config")
}

/// `{"diagnostics": [...]}` for `config` (a JSON-compatible dict); no side effects.
#[pyfunction]
fn plugin_validate(py: Python<'_>, config: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    let doc = document(config)?;
    let report = py.detach(|| core::validate(&doc));
    let mut v = report.to_json();
    if let Some(m) = v.as_object_mut() {
        m.remove("components");
    }
    to_py(py, &v)
}

/// Activates `config`; returns the activation report. Raises `ConfigError` (with the failed
/// attempt's report as `.report`, and a plugin's own exception as `__cause__`).
#[pyfunction]
fn plugin_initialize(py: Python<'_>, config: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    let doc = document(config)?;
    match py.detach(|| core::initialize(&doc)) {
        Ok(r) => to_py(py, &r.to_json()),
        Err(e) => {
            let err = ConfigError::new_err(e.message.clone());
            err.value(py)
                .setattr("report", to_py(py, &e.report.to_json())?)?;
            if let Some(orig) = e.cause.as_deref().and_then(|c| original(py, c)) {
                err.set_cause(py, Some(orig));
            }
            Err(err)
        }
    }
}

/// Rolls the active configuration back.
#[pyfunction]
fn plugin_clear(py: Python<'_>) -> PyResult<()> {
    py.detach(core::clear).py(py)
}

/// The active configuration's report, or None.
#[pyfunction]
fn plugin_report(py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
    core::report().map(|r| to_py(py, &r.to_json())).transpose()
}

/// The active configuration document, or None.
#[pyfunction]
fn plugin_active_config(py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
    core::active_config().map(|d| to_py(py, &d)).transpose()
}

/// Adds the plugin functions and class; registers the built-in component kinds.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    nemo_flow_export::observability::register_builtin();
    nemo_flow_policy::plugin::register_builtin();
    m.add_class::<PyPluginContext>()?;
    m.add_function(wrap_pyfunction!(plugin_register, m)?)?;
    m.add_function(wrap_pyfunction!(plugin_deregister, m)?)?;
    m.add_function(wrap_pyfunction!(plugin_list_kinds, m)?)?;
    m.add_function(wrap_pyfunction!(plugin_validate, m)?)?;
    m.add_function(wrap_pyfunction!(plugin_initialize, m)?)?;
    m.add_function(wrap_pyfunction!(plugin_clear, m)?)?;
    m.add_function(wrap_pyfunction!(plugin_report, m)?)?;
    m.add_function(wrap_pyfunction!(plugin_active_config, m)?)?;
    Ok(())
}
