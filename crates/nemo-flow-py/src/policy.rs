//! The policy component's binding (`nemo_flow.policy`): converts configs and results, wraps
//! Python approvers, and keeps the components activated from Python. Semantics live in
//! `nemo-flow-policy`.

use nemo_flow_policy::approver::{self, ApprovalContext, ApprovalError};
use nemo_flow_policy::backtest;
use nemo_flow_policy::enforce::{InstallError, Installed};
use nemo_flow_policy::{Approvals, Call, Component, Diagnostic, Target, UnknownField};
use pyo3::exceptions::{PyTimeoutError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use crate::errors::{IntoPyResult, type_name};
use crate::json::{to_json, to_py};

fn unknown_field(s: &str) -> PyResult<UnknownField> {
    match s {
        "error" => Ok(UnknownField::Error),
        "warn" => Ok(UnknownField::Warn),
        "ignore" => Ok(UnknownField::Ignore),
        other => Err(PyValueError::new_err(format!(
            "unknown_field: expected 'error', 'warn' or 'ignore', got {other:?}"
        ))),
    }
}

fn diagnostics(diags: &[Diagnostic]) -> Value {
    serde_json::to_value(diags).unwrap_or(Value::Null)
}

/// `Ok(component, warnings)` or `Err(diagnostics)` as JSON.
fn compile(
    config: &Bound<'_, PyAny>,
    unknown: &str,
) -> PyResult<Result<(Arc<Component>, Value), Value>> {
    let config = to_json(config, "config")?;
    Ok(
        match nemo_flow_policy::validate(&config, unknown_field(unknown)?) {
            Ok((c, warnings)) => Ok((c, diagnostics(&warnings))),
            Err(d) => Err(diagnostics(&d)),
        },
    )
}

/// Every diagnostic of `config` (errors and warnings).
#[pyfunction]
#[pyo3(signature = (config, unknown_field="error"))]
pub fn policy_validate(
    py: Python<'_>,
    config: &Bound<'_, PyAny>,
    unknown_field: &str,
) -> PyResult<Py<PyAny>> {
    let d = match compile(config, unknown_field)? {
        Ok((_, w)) => w,
        Err(d) => d,
    };
    to_py(py, &d)
}

/// `{"diagnostics": [...]}` when invalid, else `{"verdict": {...}}` for one call.
/// `target` is `"tool"` (payload: the arguments) or `"llm"` (payload: the annotated request).
#[pyfunction]
#[pyo3(signature = (config, target, name, payload, capability=None))]
pub fn policy_evaluate(
    py: Python<'_>,
    config: &Bound<'_, PyAny>,
    target: &str,
    name: &str,
    payload: &Bound<'_, PyAny>,
    capability: Option<&str>,
) -> PyResult<Py<PyAny>> {
    let (component, _) = match compile(config, "error")? {
        Ok(c) => c,
        Err(d) => return to_py(py, &json!({"diagnostics": d})),
    };
    let payload = to_json(payload, if target == "tool" { "args" } else { "request" })?;
    let target = match target {
        "tool" => Target::Tool {
            args: &payload,
            capability,
        },
        "llm" => Target::Llm {
            annotated: Some(&payload),
        },
        other => {
            return Err(PyValueError::new_err(format!(
                "target: expected 'tool' or 'llm', got {other:?}"
            )));
        }
    };
    let call = Call {
        name,
        target,
        run: None,
        scope_inputs: None,
    };
    let verdict = py.detach(|| component.evaluate(&call, Approvals::Ask));
    to_py(py, &json!({"verdict": verdict}))
}

/// `{"diagnostics": [...]}` when invalid, else `{"report": {...}}`.
#[pyfunction]
pub fn policy_backtest(
    py: Python<'_>,
    config: &Bound<'_, PyAny>,
    atof_path: std::path::PathBuf,
) -> PyResult<Py<PyAny>> {
    let (component, _) = match compile(config, "error")? {
        Ok(c) => c,
        Err(d) => return to_py(py, &json!({"diagnostics": d})),
    };
    let report = py.detach(|| -> std::io::Result<backtest::Report> {
        let f = std::fs::File::open(&atof_path)?;
        backtest::run(&component, std::io::BufReader::new(f))
    });
    let report = report.map_err(|e| {
        pyo3::exceptions::PyOSError::new_err(format!(
            "atof_path: cannot read {}: {e}",
            atof_path.display()
        ))
    })?;
    to_py(py, &json!({"report": report}))
}

/// `(config, diagnostics)` imported from a manifest given as `dataclasses.asdict`.
#[pyfunction]
pub fn policy_from_nemoir(
    py: Python<'_>,
    manifest: &Bound<'_, PyAny>,
    inputs: &Bound<'_, PyAny>,
) -> PyResult<(Py<PyAny>, Py<PyAny>)> {
    let manifest = to_json(manifest, "manifest")?;
    let inputs = to_json(inputs, "inputs")?;
    let (config, diags) = nemo_flow_policy::nemoir::config_from_manifest(&manifest, &inputs);
    Ok((to_py(py, &config)?, to_py(py, &diagnostics(&diags))?))
}

/// Registers `call(message, context) -> answer` as the approver `name`. `call` is the
/// Python wrapper that applies the timeout (raising `TimeoutError`).
#[pyfunction]
pub fn policy_register_approver(name: &str, call: Py<PyAny>) -> PyResult<()> {
    if name.is_empty() {
        return Err(PyValueError::new_err("name: expected a non-empty string"));
    }
    let call = Arc::new(call);
    approver::register(
        name,
        Arc::new(move |message: &str, ctx: &ApprovalContext| {
            Python::attach(|py| {
                let context = PyDict::new(py);
                let fill = || -> PyResult<()> {
                    context.set_item("tool", &ctx.tool)?;
                    context.set_item("capability", ctx.capability.as_deref())?;
                    context.set_item("policy_id", &ctx.policy_id)?;
                    Ok(())
                };
                fill().map_err(|e| ApprovalError::Failed(e.to_string()))?;
                match call.bind(py).call1((message, context)) {
                    Ok(v) if v.is_instance_of::<PyBool>() => {
                        Ok(Value::Bool(v.is_truthy().unwrap_or(false)))
                    }
                    Ok(v) => Err(ApprovalError::NotBool(type_name(&v))),
                    Err(e) if e.is_instance_of::<PyTimeoutError>(py) => {
                        Err(ApprovalError::TimedOut)
                    }
                    Err(e) => {
                        let kind = type_name(e.value(py).as_any());
                        Err(ApprovalError::Failed(format!("{kind}: {}", e.value(py))))
                    }
                }
            })
        }),
    );
    Ok(())
}

/// Removes an approver; returns whether it existed.
#[pyfunction]
pub fn policy_deregister_approver(name: &str) -> bool {
    approver::deregister(name)
}

fn active() -> &'static Mutex<HashMap<String, Installed>> {
    static A: LazyLock<Mutex<HashMap<String, Installed>>> = LazyLock::new(Default::default);
    &A
}

fn still_registered(i: &Installed) -> bool {
    let g = nemo_flow_core::middleware::global();
    let tool = i
        .tool_guardrail
        .as_deref()
        .is_some_and(|n| g.tool_conditional.snapshot().iter().any(|e| &*e.name == n));
    let llm = i
        .llm_guardrail
        .as_deref()
        .is_some_and(|n| g.llm_conditional.snapshot().iter().any(|e| &*e.name == n));
    tool || llm
}

/// Installs a component under `name`. Returns `{"diagnostics": [...]}` (nothing
/// registered) or `{"registered": {...}, "warnings": [...]}`.
#[pyfunction]
pub fn policy_activate(
    py: Python<'_>,
    config: &Bound<'_, PyAny>,
    name: &str,
) -> PyResult<Py<PyAny>> {
    if name.is_empty() {
        return Err(PyValueError::new_err("name: expected a non-empty string"));
    }
    let (component, warnings) = match compile(config, "error")? {
        Ok(c) => c,
        Err(d) => return to_py(py, &json!({"diagnostics": d})),
    };
    let mut act = active().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(prev) = act.get(name) {
        if still_registered(prev) {
            return Err(crate::errors::RegistrationError::new_err(format!(
                "policy component '{name}' is already active; deactivate it first"
            )));
        }
        act.remove(name);
    }
    let installed = match nemo_flow_policy::install(component, &format!("nemo_flow.policy:{name}"))
    {
        Ok(i) => i,
        Err(InstallError::Invalid(d)) => {
            return to_py(py, &json!({"diagnostics": diagnostics(&d)}));
        }
        Err(InstallError::Registration(e)) => return Err(e).py(py),
    };
    let report = json!({
        "registered": {
            "tool_conditional_execution": installed.tool_guardrail,
            "llm_conditional_execution": installed.llm_guardrail,
        },
        "warnings": warnings,
    });
    act.insert(name.to_string(), installed);
    to_py(py, &report)
}

/// Uninstalls the component activated under `name`; returns whether one was active.
#[pyfunction]
pub fn policy_deactivate(name: &str) -> bool {
    let installed = active()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(name);
    match installed {
        Some(i) => {
            i.uninstall();
            true
        }
        None => false,
    }
}

/// Registers the functions on the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(policy_validate, m)?)?;
    m.add_function(wrap_pyfunction!(policy_evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(policy_backtest, m)?)?;
    m.add_function(wrap_pyfunction!(policy_from_nemoir, m)?)?;
    m.add_function(wrap_pyfunction!(policy_register_approver, m)?)?;
    m.add_function(wrap_pyfunction!(policy_deregister_approver, m)?)?;
    m.add_function(wrap_pyfunction!(policy_activate, m)?)?;
    m.add_function(wrap_pyfunction!(policy_deactivate, m)?)?;
    Ok(())
}
