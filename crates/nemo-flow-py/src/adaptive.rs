//! Bindings of the adaptive component's pure parts (`nemo-flow-adaptive`): config validation,
//! RFC 8785 canonical JSON, and `CacheGovernor` — the cache governor with its cache ledger,
//! usable on its own until the plugin wiring runs it inside the managed LLM call. Only
//! argument conversion lives here.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use nemo_flow_adaptive::acg::{AcgState, RequestFacts};
use nemo_flow_adaptive::config::{self as cfg};
use nemo_flow_adaptive::diagnostics::{Behavior, ConfigPolicy};
use nemo_flow_adaptive::ir::PromptIr;
use nemo_flow_adaptive::jcs;
use nemo_flow_adaptive::ledger::CacheLedger;
use nemo_flow_adaptive::models::Price;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use serde_json::{Map, Value, json};

use crate::json::{to_json, to_py};

/// Request facts kept for `record_usage`, oldest dropped beyond this.
const PENDING_FACTS: usize = 4096;

fn object(v: Value, arg: &str) -> PyResult<Map<String, Value>> {
    match v {
        Value::Object(m) => Ok(m),
        other => Err(PyTypeError::new_err(format!(
            "{arg}: expected a dict, got {}",
            nemo_flow_adaptive::diagnostics::type_of(&other)
        ))),
    }
}

fn policy_arg(policy: Option<&Bound<'_, PyAny>>) -> PyResult<ConfigPolicy> {
    let mut p = ConfigPolicy::default();
    let Some(obj) = policy.filter(|o| !o.is_none()) else {
        return Ok(p);
    };
    let m = object(to_json(obj, "policy")?, "policy")?;
    for (key, value) in m {
        let b = value.as_str().and_then(Behavior::parse).ok_or_else(|| {
            PyValueError::new_err(format!(
                "policy.{key}: expected \"ignore\", \"warn\" or \"error\", got {value}"
            ))
        })?;
        match key.as_str() {
            "unknown_component" => p.unknown_component = b,
            "unknown_field" => p.unknown_field = b,
            "unsupported_value" => p.unsupported_value = b,
            _ => {
                return Err(PyValueError::new_err(format!(
                    "policy: unknown field {key:?}; expected unknown_component, unknown_field or unsupported_value"
                )));
            }
        }
    }
    Ok(p)
}

/// Diagnostics of an `adaptive` component config: a list of
/// `{level, code, message, component, field?}` dicts.
#[pyfunction]
#[pyo3(signature = (config, policy=None))]
pub fn adaptive_validate_config(
    py: Python<'_>,
    config: &Bound<'_, PyAny>,
    policy: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyAny>> {
    let m = object(to_json(config, "config")?, "config")?;
    let d = cfg::validate(&m, &policy_arg(policy)?);
    to_py(py, &Value::Array(d.iter().map(|d| d.to_json()).collect()))
}

/// The RFC 8785 canonical JSON text of `value`.
#[pyfunction]
pub fn canonical_json(value: &Bound<'_, PyAny>) -> PyResult<String> {
    Ok(jcs::to_canonical_string(&to_json(value, "value")?))
}

struct Inner {
    acg: AcgState,
    ledger: CacheLedger,
    pending: HashMap<String, RequestFacts>,
    order: VecDeque<String>,
}

/// The adaptive cache governor with its cache ledger.
#[pyclass(frozen, module = "nemo_flow._native")]
pub struct CacheGovernor(Mutex<Inner>);

impl CacheGovernor {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn request_arg(request: &Bound<'_, PyAny>) -> PyResult<Value> {
    let v = to_json(request, "request")?;
    if !v.is_object() {
        return Err(PyTypeError::new_err(
            "request: expected a dict (an LLM request body)",
        ));
    }
    Ok(v)
}

#[pymethods]
impl CacheGovernor {
    /// A governor for the `acg` config section (`{provider, observation_window, priority,
    /// stability_thresholds}`); `ValueError` lists every problem.
    #[new]
    #[pyo3(signature = (acg=None))]
    fn new(acg: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let section = match acg.filter(|a| !a.is_none()) {
            None => Value::Object(Map::new()),
            Some(a) => Value::Object(object(to_json(a, "acg")?, "acg")?),
        };
        let doc = json!({"state": {"backend": {"kind": "in_memory"}}, "acg": section});
        let (parsed, diags) = cfg::parse(
            doc.as_object().unwrap_or(&Map::new()),
            &ConfigPolicy::default(),
        );
        let errors: Vec<&str> = diags.iter().map(|d| d.message.as_str()).collect();
        if !errors.is_empty() {
            return Err(PyValueError::new_err(format!(
                "invalid acg config: {}",
                errors.join("; ")
            )));
        }
        Ok(Self(Mutex::new(Inner {
            acg: AcgState::new(parsed.acg.unwrap_or_default()),
            ledger: CacheLedger::default(),
            pending: HashMap::new(),
            order: VecDeque::new(),
        })))
    }

    /// `"anthropic"`, `"openai"` or `"passthrough"`.
    #[getter]
    fn provider(&self) -> &'static str {
        self.inner().acg.config().provider.as_str()
    }

    /// Plans the provider's cache changes for `request`: `(request, plan)`, where `request`
    /// is a new dict with the changes (the argument is not modified). A request it cannot
    /// read comes back unchanged with `plan["error"]` set (fail-open).
    fn govern(
        &self,
        py: Python<'_>,
        request: &Bound<'_, PyAny>,
    ) -> PyResult<(Py<PyAny>, Py<PyAny>)> {
        let mut req = request_arg(request)?;
        let plan = match self.inner().acg.govern(&mut req) {
            Ok((_, plan)) => plan.to_json(),
            Err(e) => json!({"error": format!("{e:?}")}),
        };
        Ok((to_py(py, &req)?, to_py(py, &plan)?))
    }

    /// Learns `request` (as the application built it) at `timestamp_ms`; `False` when it is
    /// not an LLM request the governor can read.
    fn observe(&self, request: &Bound<'_, PyAny>, timestamp_ms: u64) -> PyResult<bool> {
        let req = request_arg(request)?;
        let Some(ir) = PromptIr::from_request(&req) else {
            return Ok(false);
        };
        self.inner().acg.observe(&ir, timestamp_ms);
        Ok(true)
    }

    /// Facts about `request` (as sent) against the previous request with its prefix: stable
    /// and matched prefix blocks and tokens, the provider minimum, the first changed block.
    /// Remembered under `request_id` for `record_usage`. `None` for an unreadable request.
    #[pyo3(signature = (*, request_id, request, agent_id, timestamp_ms))]
    fn build_cache_request_facts(
        &self,
        py: Python<'_>,
        request_id: &str,
        request: &Bound<'_, PyAny>,
        agent_id: &str,
        timestamp_ms: u64,
    ) -> PyResult<Option<Py<PyAny>>> {
        let req = request_arg(request)?;
        let Some(ir) = PromptIr::from_request(&req) else {
            return Ok(None);
        };
        let mut inner = self.inner();
        let facts = inner
            .acg
            .request_facts(&ir, None, request_id, agent_id, timestamp_ms);
        inner.acg.note_request(&ir, None, timestamp_ms);
        let out = facts.to_json();
        if inner.pending.insert(request_id.to_owned(), facts).is_none() {
            inner.order.push_back(request_id.to_owned());
        }
        while inner.order.len() > PENDING_FACTS {
            if let Some(old) = inner.order.pop_front() {
                inner.pending.remove(&old);
            }
        }
        drop(inner);
        Ok(Some(to_py(py, &out)?))
    }

    /// Records the response usage of `request_id` in the cache ledger: `{hit_rate,
    /// cache_read_tokens, cache_creation_tokens, total_prompt_tokens, miss_reason,
    /// cost_saved_usd}`, or `None` when the facts or the usage shape are unknown.
    fn record_usage(
        &self,
        py: Python<'_>,
        request_id: &str,
        usage: &Bound<'_, PyAny>,
    ) -> PyResult<Option<Py<PyAny>>> {
        let usage = to_json(usage, "usage")?;
        let mut inner = self.inner();
        let Some(facts) = inner.pending.remove(request_id) else {
            return Ok(None);
        };
        inner.order.retain(|r| r != request_id);
        let Some(e) = inner.ledger.record(&facts, &usage) else {
            return Ok(None);
        };
        drop(inner);
        let out = json!({
            "hit_rate": e.hit_rate,
            "cache_read_tokens": e.usage.cache_read,
            "cache_creation_tokens": e.usage.cache_creation,
            "total_prompt_tokens": e.usage.total_prompt,
            "miss_reason": e.miss_reason.as_ref().map(|m| m.as_str()),
            "cost_saved_usd": e.cost_saved_usd,
        });
        Ok(Some(to_py(py, &out)?))
    }

    /// The cache ledger: `{total: {...}, by_key: {learning_key: {...}}}`.
    fn cache_report(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let report = self.inner().ledger.report();
        to_py(py, &report)
    }

    /// Overrides the price of models whose name contains `pattern` (USD per million input
    /// tokens, cache multipliers of that price).
    #[pyo3(signature = (pattern, input_per_mtok, cache_read_multiplier, cache_write_5m_multiplier=1.25, cache_write_1h_multiplier=2.0))]
    fn set_price(
        &self,
        pattern: &str,
        input_per_mtok: f64,
        cache_read_multiplier: f64,
        cache_write_5m_multiplier: f64,
        cache_write_1h_multiplier: f64,
    ) -> PyResult<()> {
        for (name, v) in [
            ("input_per_mtok", input_per_mtok),
            ("cache_read_multiplier", cache_read_multiplier),
            ("cache_write_5m_multiplier", cache_write_5m_multiplier),
            ("cache_write_1h_multiplier", cache_write_1h_multiplier),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(PyValueError::new_err(format!(
                    "{name}: expected a finite number >= 0, got {v}"
                )));
            }
        }
        if pattern.is_empty() {
            return Err(PyValueError::new_err(
                "pattern: expected a non-empty model name part",
            ));
        }
        self.inner().ledger.prices_mut().set(
            pattern,
            Price {
                input_per_mtok,
                cache_read_multiplier,
                cache_write_5m_multiplier,
                cache_write_1h_multiplier,
            },
        );
        Ok(())
    }
}

/// Adds the adaptive functions and classes to `_native`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(adaptive_validate_config, m)?)?;
    m.add_function(wrap_pyfunction!(canonical_json, m)?)?;
    m.add_class::<CacheGovernor>()?;
    Ok(())
}
