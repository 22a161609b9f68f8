//! Scope functions: push/pop, marks, the `scope()` context manager, detached scopes, and
//! the scope-stack helpers.

use nemo_flow_core::clock::Timestamp;
use nemo_flow_core::event::ErrorInfo;
use nemo_flow_core::scope::{self, ScopeNode, ScopeSpec};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyString;
use serde_json::Value;
use std::sync::Arc;

use crate::errors::type_name;
use crate::errors::{IntoPyResult, ScopeError};
use crate::handles::{
    ScopeHandle, ScopeStack, current_handle, current_node, set_current, set_current_handle,
};
use crate::json::{opt_to_json, validate_json};
use crate::types::{ScopeAttributes, scope_type_arg};

/// Reads an optional timezone-aware `datetime` argument.
pub fn timestamp_arg(obj: Option<&Bound<'_, PyAny>>, arg: &str) -> PyResult<Option<Timestamp>> {
    let Some(o) = obj.filter(|o| !o.is_none()) else {
        return Ok(None);
    };
    let py = o.py();
    let dt = py
        .import(pyo3::intern!(py, "datetime"))?
        .getattr(pyo3::intern!(py, "datetime"))?;
    if !o.is_instance(&dt)? {
        return Err(PyTypeError::new_err(format!(
            "{arg}: expected a timezone-aware datetime, got {}",
            type_name(o)
        )));
    }
    if o.call_method0("utcoffset")?.is_none() {
        return Err(PyValueError::new_err(format!(
            "{arg}: datetime must be timezone-aware"
        )));
    }
    let iso: String = o.call_method0("isoformat")?.extract()?;
    Timestamp::parse_rfc3339(&iso)
        .map(Some)
        .ok_or_else(|| PyValueError::new_err(format!("{arg}: cannot represent {iso}")))
}

/// Reads a required `str` argument.
pub fn str_arg(obj: &Bound<'_, PyAny>, arg: &str) -> PyResult<String> {
    let s = obj
        .cast::<PyString>()
        .map_err(|_| {
            PyTypeError::new_err(format!("{arg}: expected a str, got {}", type_name(obj)))
        })?
        .to_str()?;
    if s.is_empty() {
        return Err(PyValueError::new_err(format!(
            "{arg}: must be a non-empty string"
        )));
    }
    Ok(s.to_owned())
}

/// Reads an optional `ScopeHandle` argument.
pub fn handle_arg<'py>(
    obj: Option<&Bound<'py, PyAny>>,
    arg: &str,
) -> PyResult<Option<Bound<'py, ScopeHandle>>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => o.cast::<ScopeHandle>().cloned().map(Some).map_err(|_| {
            PyTypeError::new_err(format!(
                "{arg}: expected a ScopeHandle, got {}",
                type_name(o)
            ))
        }),
    }
}

/// Reads a required `ScopeHandle` argument (`None` is refused, not treated as absent).
pub fn required_handle_arg<'py>(
    obj: &Bound<'py, PyAny>,
    arg: &str,
) -> PyResult<Bound<'py, ScopeHandle>> {
    obj.cast::<ScopeHandle>().cloned().map_err(|_| {
        PyTypeError::new_err(format!(
            "{arg}: expected a ScopeHandle, got {}",
            type_name(obj)
        ))
    })
}

#[allow(clippy::too_many_arguments)]
fn spec(
    name: &Bound<'_, PyAny>,
    scope_type: &Bound<'_, PyAny>,
    attributes: Option<&Bound<'_, PyAny>>,
    data: Option<&Bound<'_, PyAny>>,
    metadata: Option<&Bound<'_, PyAny>>,
    input: Option<&Bound<'_, PyAny>>,
    timestamp: Option<&Bound<'_, PyAny>>,
) -> PyResult<ScopeSpec> {
    Ok(ScopeSpec {
        name: str_arg(name, "name")?,
        scope_type: scope_type_arg(scope_type)?,
        attributes: ScopeAttributes::arg(attributes)?,
        data: opt_to_json(data, "data")?,
        metadata: opt_to_json(metadata, "metadata")?,
        input: opt_to_json(input, "input")?,
        timestamp: timestamp_arg(timestamp, "timestamp")?,
    })
}

fn push_node(
    py: Python<'_>,
    handle: Option<&Bound<'_, PyAny>>,
    spec: ScopeSpec,
) -> PyResult<Arc<ScopeNode>> {
    let parent = handle_arg(handle, "handle")?;
    let cur = current_node(py)?;
    let node = scope::push(&cur, parent.as_ref().map(|h| &h.get().node), spec).py(py)?;
    set_current(py, Arc::clone(&node))?;
    Ok(node)
}

fn pop_node(
    py: Python<'_>,
    handle: &Arc<ScopeNode>,
    output: Value,
    error: Option<ErrorInfo>,
    ts: Option<Timestamp>,
) -> PyResult<()> {
    let cur = current_node(py)?;
    let next = scope::pop(&cur, handle, output, error, ts).py(py)?;
    set_current(py, next)
}

/// Pushes a child scope and emits its start event.
#[pyfunction]
#[pyo3(signature = (name, scope_type, *, handle=None, attributes=None, data=None, metadata=None, input=None, timestamp=None))]
#[allow(clippy::too_many_arguments)]
pub fn push(
    py: Python<'_>,
    name: &Bound<'_, PyAny>,
    scope_type: &Bound<'_, PyAny>,
    handle: Option<&Bound<'_, PyAny>>,
    attributes: Option<&Bound<'_, PyAny>>,
    data: Option<&Bound<'_, PyAny>>,
    metadata: Option<&Bound<'_, PyAny>>,
    input: Option<&Bound<'_, PyAny>>,
    timestamp: Option<&Bound<'_, PyAny>>,
) -> PyResult<ScopeHandle> {
    let s = spec(
        name, scope_type, attributes, data, metadata, input, timestamp,
    )?;
    Ok(ScopeHandle {
        node: push_node(py, handle, s)?,
    })
}

/// Pops `handle`, which must be the current scope, and emits its end event.
#[pyfunction]
#[pyo3(signature = (handle, *, output=None, timestamp=None))]
pub fn pop(
    py: Python<'_>,
    handle: &Bound<'_, PyAny>,
    output: Option<&Bound<'_, PyAny>>,
    timestamp: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let h = required_handle_arg(handle, "handle")?;
    let output = opt_to_json(output, "output")?;
    let ts = timestamp_arg(timestamp, "timestamp")?;
    pop_node(py, &h.get().node, output, None, ts)
}

/// Returns the current scope handle (the implicit root when nothing is pushed).
#[pyfunction]
pub fn get_handle(py: Python<'_>) -> PyResult<Py<ScopeHandle>> {
    if let Some(h) = current_handle(py)? {
        return Ok(h.unbind());
    }
    Py::new(
        py,
        ScopeHandle {
            node: current_node(py)?,
        },
    )
}

/// Emits a mark under the current scope, or under `handle`.
#[pyfunction]
#[pyo3(signature = (name, *, handle=None, data=None, metadata=None, timestamp=None))]
pub fn event(
    py: Python<'_>,
    name: &Bound<'_, PyAny>,
    handle: Option<&Bound<'_, PyAny>>,
    data: Option<&Bound<'_, PyAny>>,
    metadata: Option<&Bound<'_, PyAny>>,
    timestamp: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let name = str_arg(name, "name")?;
    let ts = timestamp_arg(timestamp, "timestamp")?;
    let node = match handle_arg(handle, "handle")? {
        Some(h) => Arc::clone(&h.get().node),
        None => current_node(py)?,
    };
    node.require_open("a mark").py(py)?;
    if !scope::observed(&node) {
        // Nothing reads the payload: only check it is JSON, so bad input is refused either way.
        for (v, arg) in [(data, "data"), (metadata, "metadata")] {
            if let Some(v) = v {
                validate_json(v, arg)?;
            }
        }
        return Ok(());
    }
    let data = opt_to_json(data, "data")?;
    let metadata = opt_to_json(metadata, "metadata")?;
    scope::mark(
        &node,
        node.info.uuid,
        &name,
        || Ok(data),
        || Ok(metadata),
        ts,
    )
    .py(py)
}

/// Context manager returned by `scope.scope()`: pushes on enter, pops on exit. An exception
/// leaving the block is recorded on the end event.
#[pyclass(module = "nemo_flow._native")]
pub struct ScopeContext {
    spec: Option<ScopeSpec>,
    parent: Option<Py<ScopeHandle>>,
    end_timestamp: Option<Timestamp>,
    node: Option<Arc<ScopeNode>>,
    /// The handle that was current on enter; restored as is on exit (no new wrapper).
    previous: Option<Py<ScopeHandle>>,
}

#[pymethods]
impl ScopeContext {
    #[new]
    #[pyo3(signature = (name, scope_type, *, handle=None, attributes=None, data=None, metadata=None, input=None, timestamp=None, end_timestamp=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        name: &Bound<'_, PyAny>,
        scope_type: &Bound<'_, PyAny>,
        handle: Option<&Bound<'_, PyAny>>,
        attributes: Option<&Bound<'_, PyAny>>,
        data: Option<&Bound<'_, PyAny>>,
        metadata: Option<&Bound<'_, PyAny>>,
        input: Option<&Bound<'_, PyAny>>,
        timestamp: Option<&Bound<'_, PyAny>>,
        end_timestamp: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        Ok(Self {
            spec: Some(spec(
                name, scope_type, attributes, data, metadata, input, timestamp,
            )?),
            parent: handle_arg(handle, "handle")?.map(Bound::unbind),
            end_timestamp: timestamp_arg(end_timestamp, "end_timestamp")?,
            node: None,
            previous: None,
        })
    }

    fn __enter__(&mut self, py: Python<'_>) -> PyResult<Py<ScopeHandle>> {
        let s = self.spec.take().ok_or_else(|| {
            ScopeError::new_err("a scope() context manager can be entered only once")
        })?;
        let previous = match current_handle(py)? {
            Some(h) => h,
            None => {
                current_node(py)?;
                current_handle(py)?.expect("current_node installs a root")
            }
        };
        let cur = Arc::clone(&previous.get().node);
        let parent = self.parent.as_ref().map(|p| Arc::clone(&p.get().node));
        let node = scope::push(&cur, parent.as_ref(), s).py(py)?;
        self.node = Some(Arc::clone(&node));
        self.previous = Some(previous.unbind());
        let h = Bound::new(py, ScopeHandle { node })?;
        set_current_handle(py, &h)?;
        Ok(h.unbind())
    }

    /// `async with`: the same synchronous push as `with`, handed back as an awaitable that is
    /// already done (no event-loop round trip).
    fn __aenter__(&mut self, py: Python<'_>) -> PyResult<Ready> {
        let handle = self.__enter__(py)?;
        Ok(Ready {
            value: handle.into_any(),
        })
    }

    /// `async with` exit: the same pop as `__exit__`, as an already-done awaitable.
    #[pyo3(signature = (exc_type, exc_value, traceback))]
    fn __aexit__(
        &mut self,
        py: Python<'_>,
        exc_type: Option<&Bound<'_, PyAny>>,
        exc_value: Option<&Bound<'_, PyAny>>,
        traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Ready> {
        let suppress = self.__exit__(py, exc_type, exc_value, traceback)?;
        Ok(Ready {
            value: pyo3::types::PyBool::new(py, suppress)
                .to_owned()
                .into_any()
                .unbind(),
        })
    }

    #[pyo3(signature = (exc_type, exc_value, traceback))]
    fn __exit__(
        &mut self,
        py: Python<'_>,
        exc_type: Option<&Bound<'_, PyAny>>,
        exc_value: Option<&Bound<'_, PyAny>>,
        traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let _ = (exc_type, traceback);
        let Some(node) = self.node.take() else {
            return Ok(false);
        };
        let exc_value = exc_value.filter(|v| !v.is_none());
        let error = exc_value.as_ref().map(|v| ErrorInfo {
            kind: type_name(v),
            message: v.str().map(|s| s.to_string()).unwrap_or_default(),
        });
        let previous = self.previous.take();
        let popped = current_node(py)
            .and_then(|cur| scope::pop(&cur, &node, Value::Null, error, self.end_timestamp).py(py));
        let restored = popped.and_then(|next| match previous {
            Some(p) if Arc::ptr_eq(&p.get().node, &next) => set_current_handle(py, p.bind(py)),
            _ => set_current(py, next),
        });
        match restored {
            Ok(()) => Ok(false),
            // Never mask the exception that is leaving the block.
            Err(e) if exc_value.is_some() => {
                e.print(py);
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }
}

/// Starts a scope under `parent` (default: the current scope) without making it current.
#[pyfunction]
#[pyo3(signature = (name, scope_type, *, parent=None, attributes=None, data=None, metadata=None, input=None, timestamp=None))]
#[allow(clippy::too_many_arguments)]
pub fn start_detached(
    py: Python<'_>,
    name: &Bound<'_, PyAny>,
    scope_type: &Bound<'_, PyAny>,
    parent: Option<&Bound<'_, PyAny>>,
    attributes: Option<&Bound<'_, PyAny>>,
    data: Option<&Bound<'_, PyAny>>,
    metadata: Option<&Bound<'_, PyAny>>,
    input: Option<&Bound<'_, PyAny>>,
    timestamp: Option<&Bound<'_, PyAny>>,
) -> PyResult<ScopeHandle> {
    let s = spec(
        name, scope_type, attributes, data, metadata, input, timestamp,
    )?;
    let parent = match handle_arg(parent, "parent")? {
        Some(h) => Arc::clone(&h.get().node),
        None => current_node(py)?,
    };
    Ok(ScopeHandle {
        node: scope::start_detached(&parent, s).py(py)?,
    })
}

/// Ends a scope started with `start_detached`.
#[pyfunction]
#[pyo3(signature = (handle, *, output=None, error=None, timestamp=None))]
pub fn end_detached(
    py: Python<'_>,
    handle: &Bound<'_, PyAny>,
    output: Option<&Bound<'_, PyAny>>,
    error: Option<&Bound<'_, PyAny>>,
    timestamp: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let h = required_handle_arg(handle, "handle")?;
    let output = opt_to_json(output, "output")?;
    let error = match error.filter(|e| !e.is_none()) {
        None => None,
        Some(e) if e.is_instance_of::<pyo3::exceptions::PyBaseException>() => Some(ErrorInfo {
            kind: type_name(e),
            message: e.str()?.to_string(),
        }),
        Some(e) => {
            return Err(PyTypeError::new_err(format!(
                "error: expected an exception instance, got {}",
                type_name(e)
            )));
        }
    };
    let ts = timestamp_arg(timestamp, "timestamp")?;
    scope::end_detached(&h.get().node, output, error, ts).py(py)
}

/// Returns the current context's stack, creating one when there is none.
#[pyfunction]
pub fn get_scope_stack(py: Python<'_>) -> PyResult<ScopeStack> {
    Ok(ScopeStack {
        node: current_node(py)?,
    })
}

/// Whether the current context already has a scope stack.
#[pyfunction]
pub fn scope_stack_active(py: Python<'_>) -> PyResult<bool> {
    Ok(current_handle(py)?.is_some())
}

/// The current stack, for installing in another thread with `set_thread_scope_stack`.
#[pyfunction]
pub fn propagate_scope_to_thread(py: Python<'_>) -> PyResult<ScopeStack> {
    match current_handle(py)? {
        Some(h) => Ok(ScopeStack {
            node: Arc::clone(&h.get().node),
        }),
        None => Err(ScopeError::new_err(
            "no active scope stack to propagate: push a scope or call get_scope_stack() first",
        )),
    }
}

/// A new isolated stack with its own root; not installed anywhere.
#[pyfunction]
pub fn create_scope_stack() -> ScopeStack {
    ScopeStack {
        node: ScopeNode::new_root(),
    }
}

/// Installs `stack` as the current stack of this thread's context.
#[pyfunction]
pub fn set_thread_scope_stack(py: Python<'_>, stack: &Bound<'_, PyAny>) -> PyResult<()> {
    let s = stack.cast::<ScopeStack>().map_err(|_| {
        PyTypeError::new_err(format!(
            "stack: expected a ScopeStack, got {}",
            type_name(stack)
        ))
    })?;
    set_current(py, Arc::clone(&s.get().node))
}

/// An awaitable whose result is already known: `await` returns `value` without suspending.
#[pyclass(module = "nemo_flow._native", frozen)]
pub struct Ready {
    value: Py<PyAny>,
}

#[pymethods]
impl Ready {
    fn __await__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Err(pyo3::exceptions::PyStopIteration::new_err((self
            .value
            .clone_ref(py),)))
    }
}
