//! Handles (scope, tool call, LLM call), `ScopeStack`, and the `ContextVar` that holds the
//! current scope of each Python context.

use nemo_flow_core::pipeline::llm::LlmHandle as CoreLlmHandle;
use nemo_flow_core::pipeline::tool::ToolHandle as CoreToolHandle;
use nemo_flow_core::scope::{ScopeNode, SpanInfo};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyAny;
use std::sync::Arc;

use crate::json::to_py;
use crate::types::{LLMAttributes, ScopeAttributes, ScopeType, ToolAttributes};

/// An active execution scope.
#[pyclass(frozen, module = "nemo_flow._native")]
pub struct ScopeHandle {
    pub node: Arc<ScopeNode>,
}

fn info_data(py: Python<'_>, info: &SpanInfo) -> PyResult<Py<PyAny>> {
    to_py(py, &info.data)
}

fn info_metadata(py: Python<'_>, info: &SpanInfo) -> PyResult<Py<PyAny>> {
    to_py(py, &info.metadata)
}

#[pymethods]
impl ScopeHandle {
    /// Return the globally unique scope identifier.
    #[getter]
    fn uuid(&self) -> String {
        self.node.info.uuid.to_string()
    }
    /// Return the human-readable scope name.
    #[getter]
    fn name(&self) -> &str {
        &self.node.info.name
    }
    /// Return the semantic scope type.
    #[getter]
    fn scope_type(&self) -> ScopeType {
        ScopeType::from_core(self.node.scope_type)
    }
    /// Return the scope attribute bitmask.
    #[getter]
    fn attributes(&self) -> ScopeAttributes {
        ScopeAttributes(self.node.attributes)
    }
    /// Return the parent scope UUID, or None for a root scope.
    #[getter]
    fn parent_uuid(&self) -> Option<String> {
        self.node.info.parent_uuid.map(|u| u.to_string())
    }
    /// Return the UUID of the root scope of this run.
    #[getter]
    fn root_uuid(&self) -> String {
        self.node.info.root_uuid.to_string()
    }
    /// Return application data captured on the scope, if any.
    #[getter]
    fn data(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        info_data(py, &self.node.info)
    }
    /// Return metadata captured on the scope, if any.
    #[getter]
    fn metadata(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        info_metadata(py, &self.node.info)
    }
    /// Return whether the scope has been popped or ended.
    #[getter]
    fn ended(&self) -> bool {
        self.node.is_ended()
    }
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<ScopeHandle>()
            .is_ok_and(|o| Arc::ptr_eq(&o.get().node, &self.node))
    }
    fn __hash__(&self) -> u64 {
        self.node.info.uuid.as_u64_pair().1
    }
    fn __repr__(&self) -> String {
        format!(
            "ScopeHandle(name={:?}, scope_type=ScopeType.{}, uuid='{}')",
            &*self.node.info.name,
            self.node.scope_type.name(),
            self.node.info.uuid
        )
    }
}

/// The isolated scope hierarchy of one logical run, captured at a point in it.
#[pyclass(frozen, module = "nemo_flow._native")]
pub struct ScopeStack {
    pub node: Arc<ScopeNode>,
}

#[pymethods]
impl ScopeStack {
    /// Return the UUID of this stack's root scope.
    #[getter]
    fn root_uuid(&self) -> String {
        self.node.info.root_uuid.to_string()
    }
    /// Return the scope that is current in this stack.
    #[getter]
    fn top(&self, py: Python<'_>) -> PyResult<Py<ScopeHandle>> {
        Py::new(
            py,
            ScopeHandle {
                node: Arc::clone(&self.node),
            },
        )
    }
    fn __repr__(&self) -> String {
        format!(
            "<ScopeStack root={} top={:?}>",
            self.node.info.root_uuid, &*self.node.info.name
        )
    }
}

macro_rules! call_handle {
    ($py:ident, $pyname:literal, $core:ty, $attrs:ident, $doc:literal) => {
        #[doc = $doc]
        #[pyclass(name = $pyname, frozen, module = "nemo_flow._native")]
        pub struct $py {
            pub inner: Arc<$core>,
        }

        #[pymethods]
        impl $py {
            /// Return the globally unique call identifier.
            #[getter]
            fn uuid(&self) -> String {
                self.inner.span.info.uuid.to_string()
            }
            /// Return the call name.
            #[getter]
            fn name(&self) -> &str {
                &self.inner.span.info.name
            }
            /// Return the attribute bitmask.
            #[getter]
            fn attributes(&self) -> $attrs {
                $attrs(self.inner.attributes)
            }
            /// Return the parent scope UUID, if any.
            #[getter]
            fn parent_uuid(&self) -> Option<String> {
                self.inner.span.info.parent_uuid.map(|u| u.to_string())
            }
            /// Return application data captured on the call, if any.
            #[getter]
            fn data(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
                info_data(py, &self.inner.span.info)
            }
            /// Return metadata captured on the call, if any.
            #[getter]
            fn metadata(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
                info_metadata(py, &self.inner.span.info)
            }
            /// Return whether the end event has been emitted.
            #[getter]
            fn ended(&self) -> bool {
                self.inner.span.is_ended()
            }
            fn __repr__(&self) -> String {
                format!(
                    "{}(name={:?}, uuid='{}')",
                    $pyname, &*self.inner.span.info.name, self.inner.span.info.uuid
                )
            }
        }
    };
}

call_handle!(
    ToolHandle,
    "ToolHandle",
    CoreToolHandle,
    ToolAttributes,
    "An active tool call."
);
call_handle!(
    LLMHandle,
    "LLMHandle",
    CoreLlmHandle,
    LLMAttributes,
    "An active LLM call."
);

#[pymethods]
impl ToolHandle {
    /// Return the provider tool-call id, if any.
    #[getter]
    fn tool_call_id(&self) -> Option<&str> {
        self.inner.tool_call_id.as_deref()
    }
}

#[pymethods]
impl LLMHandle {
    /// Return the model name, if any.
    #[getter]
    fn model_name(&self) -> Option<&str> {
        self.inner.model_name.as_deref()
    }
}

/// The `ContextVar` (default `None`) and its bound `get`/`set`, looked up once: every API
/// call reads the variable, so the attribute lookups are worth saving.
struct ScopeVar {
    var: Py<PyAny>,
    get: Py<PyAny>,
    set: Py<PyAny>,
}

static SCOPE_VAR: PyOnceLock<ScopeVar> = PyOnceLock::new();

fn scope_var_parts(py: Python<'_>) -> PyResult<&ScopeVar> {
    SCOPE_VAR.get_or_try_init(py, || {
        let cv = py.import("contextvars")?.getattr("ContextVar")?;
        let kwargs = pyo3::types::PyDict::new(py);
        kwargs.set_item("default", py.None())?;
        let var = cv.call(("nemo_flow_current_scope",), Some(&kwargs))?;
        Ok::<_, PyErr>(ScopeVar {
            get: var.getattr("get")?.unbind(),
            set: var.getattr("set")?.unbind(),
            var: var.unbind(),
        })
    })
}

/// The `ContextVar` holding the current `ScopeHandle` of each Python context.
pub fn scope_var(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    scope_var_parts(py).map(|v| v.var.bind(py))
}

/// The current scope handle, or `None` when this context has none yet.
pub fn current_handle(py: Python<'_>) -> PyResult<Option<Bound<'_, ScopeHandle>>> {
    let v = scope_var_parts(py)?.get.bind(py).call0()?;
    if v.is_none() {
        return Ok(None);
    }
    Ok(Some(v.cast_into::<ScopeHandle>()?))
}

/// The current scope node, creating (and installing) a fresh root when there is none.
pub fn current_node(py: Python<'_>) -> PyResult<Arc<ScopeNode>> {
    if let Some(h) = current_handle(py)? {
        return Ok(Arc::clone(&h.get().node));
    }
    let root = ScopeNode::new_root();
    set_current(py, Arc::clone(&root))?;
    Ok(root)
}

/// Makes `node` the current scope of this Python context.
pub fn set_current(py: Python<'_>, node: Arc<ScopeNode>) -> PyResult<()> {
    let h = Bound::new(py, ScopeHandle { node })?;
    set_current_handle(py, &h)
}

/// Makes an existing handle object current (no new wrapper).
pub fn set_current_handle(py: Python<'_>, h: &Bound<'_, ScopeHandle>) -> PyResult<()> {
    scope_var_parts(py)?.set.bind(py).call1((h,))?;
    Ok(())
}
