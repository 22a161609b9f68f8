//! `ScopeEvent` and `MarkEvent`: read-only views of one core event. The Python values of
//! `data`, `metadata` and `category_profile` are built on first access and cached.

use nemo_flow_core::event::Event;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyAny;
use serde_json::Value;
use std::sync::Arc;

use crate::json::to_py;
use crate::llm_types::{AnnotatedLLMRequest, AnnotatedLLMResponse};

struct Cached {
    ev: Arc<Event>,
    data: PyOnceLock<Py<PyAny>>,
    metadata: PyOnceLock<Py<PyAny>>,
    profile: PyOnceLock<Py<PyAny>>,
}

impl Cached {
    fn new(ev: Arc<Event>) -> Self {
        Self {
            ev,
            data: PyOnceLock::new(),
            metadata: PyOnceLock::new(),
            profile: PyOnceLock::new(),
        }
    }

    fn lazy(
        py: Python<'_>,
        cell: &PyOnceLock<Py<PyAny>>,
        v: impl FnOnce() -> Value,
    ) -> PyResult<Py<PyAny>> {
        cell.get_or_try_init(py, || to_py(py, &v()))
            .map(|o| o.clone_ref(py))
    }

    fn profile(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let v = self
            .ev
            .category_profile
            .as_deref()
            .cloned()
            .map_or(Value::Null, Value::Object);
        Self::lazy(py, &self.profile, || v)
    }

    fn to_dict(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        to_py(py, &self.ev.to_json_value())
    }
}

macro_rules! common_getters {
    ($t:ident) => {
        #[pymethods]
        impl $t {
            /// Return the ATOF schema version used for this event.
            #[getter]
            fn atof_version(&self) -> &'static str {
                nemo_flow_core::event::ATOF_VERSION
            }
            /// Return the parent event UUID, if present.
            #[getter]
            fn parent_uuid(&self) -> Option<String> {
                self.c.ev.parent_uuid.map(|u| u.to_string())
            }
            /// Return the event UUID.
            #[getter]
            fn uuid(&self) -> String {
                self.c.ev.uuid.to_string()
            }
            /// Return the UUID of the root scope of the run this event belongs to.
            #[getter]
            fn root_uuid(&self) -> String {
                self.c.ev.root_uuid.to_string()
            }
            /// Return the event timestamp as an RFC 3339 string.
            #[getter]
            fn timestamp(&self) -> String {
                self.c.ev.timestamp.to_rfc3339()
            }
            /// Return the event name.
            #[getter]
            fn name(&self) -> &str {
                &self.c.ev.name
            }
            /// Return application data attached to the event, if any.
            #[getter]
            fn data(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
                Cached::lazy(py, &self.c.data, || self.c.ev.data.to_value())
            }
            /// Return metadata attached to the event, if any.
            #[getter]
            fn metadata(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
                Cached::lazy(py, &self.c.metadata, || self.c.ev.metadata.to_value())
            }
            /// Return category-specific profile data, if any.
            #[getter]
            fn category_profile(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
                self.c.profile(py)
            }
            /// Return a schema descriptor for data, if one is present.
            #[getter]
            fn data_schema(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
                to_py(py, self.c.ev.data_schema.as_deref().unwrap_or(&Value::Null))
            }
            /// Return the event as a JSON-compatible dict (ATOF field names).
            fn to_dict(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
                self.c.to_dict(py)
            }
            /// Return the event as canonical JSON text (keys sorted).
            fn to_json(&self) -> String {
                self.c.ev.to_json_string()
            }
            fn __repr__(&self) -> String {
                format!("{}({})", stringify!($t), self.c.ev.to_json_string())
            }
        }
    };
}

/// ATOF scope lifecycle event emitted to subscribers.
#[pyclass(frozen, module = "nemo_flow._native")]
pub struct ScopeEvent {
    c: Cached,
}

/// ATOF point-in-time mark event emitted to subscribers.
#[pyclass(frozen, module = "nemo_flow._native")]
pub struct MarkEvent {
    c: Cached,
}

common_getters!(ScopeEvent);
common_getters!(MarkEvent);

#[pymethods]
impl ScopeEvent {
    /// Return the discriminant value "scope".
    #[getter]
    fn kind(&self) -> &'static str {
        "scope"
    }
    /// Return whether this is a start or end lifecycle event.
    #[getter]
    fn scope_category(&self) -> &'static str {
        self.c
            .ev
            .scope
            .as_ref()
            .map_or("start", |s| s.scope_category.as_str())
    }
    /// Return stringified semantic attributes attached to the event.
    #[getter]
    fn attributes(&self) -> Vec<&'static str> {
        self.c
            .ev
            .scope
            .as_ref()
            .map(|s| s.attributes.clone())
            .unwrap_or_default()
    }
    /// Return the semantic event category.
    #[getter]
    fn category(&self) -> &str {
        self.c.ev.category.as_deref().unwrap_or("unknown")
    }
    /// Return the failure recorded on a failed call's end event: {"type", "message"}.
    #[getter]
    fn error(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self.c.ev.scope.as_ref().and_then(|s| s.error.as_ref()) {
            Some(e) => to_py(py, &e.to_json()),
            None => Ok(py.None()),
        }
    }
    /// Return the normalized LLM request annotation, if present.
    #[getter]
    fn annotated_request(&self) -> Option<AnnotatedLLMRequest> {
        let v = self.c.ev.profile("annotated_request")?;
        serde_json::from_value(v.clone())
            .ok()
            .map(AnnotatedLLMRequest::from_core)
    }
    /// Return the normalized LLM response annotation, if present.
    #[getter]
    fn annotated_response(&self) -> Option<AnnotatedLLMResponse> {
        let v = self.c.ev.profile("annotated_response")?;
        serde_json::from_value(v.clone())
            .ok()
            .map(AnnotatedLLMResponse::from_core)
    }
}

#[pymethods]
impl MarkEvent {
    /// Return the discriminant value "mark".
    #[getter]
    fn kind(&self) -> &'static str {
        "mark"
    }
    /// Return the semantic mark category, if present.
    #[getter]
    fn category(&self) -> Option<&str> {
        self.c.ev.category.as_deref()
    }
}

/// The Python view of a core event.
pub fn wrap(py: Python<'_>, ev: &Arc<Event>) -> PyResult<Py<PyAny>> {
    let c = Cached::new(Arc::clone(ev));
    Ok(if ev.scope.is_some() {
        Py::new(py, ScopeEvent { c })?.into_any()
    } else {
        Py::new(py, MarkEvent { c })?.into_any()
    })
}
