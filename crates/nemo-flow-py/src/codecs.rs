//! Native provider codecs, stream collectors and the SSE decoder as Python classes. When a
//! native codec is passed to `llm.execute` & co., the core runs it directly (no Python call
//! per decode); from Python their methods are callable too, e.g. to decode a response by hand.

use nemo_flow_core::codecs::{
    self as core, AnthropicMessagesStreamCollector as AnthropicCollector,
    OpenAIChatStreamCollector as ChatCollector,
    OpenAIResponsesStreamCollector as ResponsesCollector, StreamCollector,
};
use nemo_flow_core::error::CallbackError;
use nemo_flow_core::llm::{LlmCodec, LlmResponseCodec};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString};
use serde_json::Value;
use std::sync::{Arc, Mutex};

use crate::callbacks::PyCodec;
use crate::errors::type_name;
use crate::json::{to_json, to_py};
use crate::llm_types::{
    AnnotatedLLMRequest, AnnotatedLLMResponse, PyLlmRequest, annotated_request_arg, request_arg,
};

/// A core codec failure as the Python exception it names (`ValueError` for bad payloads).
fn raise(e: CallbackError) -> PyErr {
    match e.kind.as_str() {
        "TypeError" => PyTypeError::new_err(e.message),
        _ => PyValueError::new_err(e.message),
    }
}

macro_rules! native_codec {
    ($py_name:ident, $name:literal, $core:ty, $doc:literal) => {
        #[doc = $doc]
        #[pyclass(name = $name, frozen, module = "nemo_flow._native")]
        pub struct $py_name;

        #[pymethods]
        impl $py_name {
            #[new]
            fn new() -> Self {
                Self
            }
            /// Decode a provider request into the annotated view.
            fn decode(
                &self,
                py: Python<'_>,
                request: &Bound<'_, PyAny>,
            ) -> PyResult<AnnotatedLLMRequest> {
                let req = request_arg(request, "request")?
                    .borrow()
                    .to_core(py, "request")?;
                <$core>::default()
                    .decode(&req)
                    .map(AnnotatedLLMRequest::from_core)
                    .map_err(raise)
            }
            /// Apply an annotated view over `original`, returning the provider request.
            fn encode(
                &self,
                py: Python<'_>,
                annotated: &Bound<'_, PyAny>,
                original: &Bound<'_, PyAny>,
            ) -> PyResult<Py<PyLlmRequest>> {
                let a = annotated_request_arg(annotated, "annotated")?;
                let base = request_arg(original, "original")?
                    .borrow()
                    .to_core(py, "original")?;
                let out = <$core>::default().encode(&a, &base).map_err(raise)?;
                PyLlmRequest::from_core(py, &out)
            }
            /// Decode a provider response into the annotated view.
            fn decode_response(
                &self,
                response: &Bound<'_, PyAny>,
            ) -> PyResult<AnnotatedLLMResponse> {
                let v = to_json(response, "response")?;
                <$core>::default()
                    .decode_response(&v)
                    .map(AnnotatedLLMResponse::from_core)
                    .map_err(raise)
            }
            fn __repr__(&self) -> &'static str {
                concat!($name, "()")
            }
        }
    };
}

native_codec!(
    OpenAIChatCodec,
    "OpenAIChatCodec",
    core::OpenAIChatCodec,
    "Native codec for OpenAI Chat Completions requests and responses."
);
native_codec!(
    OpenAIResponsesCodec,
    "OpenAIResponsesCodec",
    core::OpenAIResponsesCodec,
    "Native codec for OpenAI Responses requests and responses."
);
native_codec!(
    AnthropicMessagesCodec,
    "AnthropicMessagesCodec",
    core::AnthropicMessagesCodec,
    "Native codec for Anthropic Messages requests and responses."
);

/// The codec behind a `codec=` argument: a native codec runs in Rust, any other object
/// with `decode`/`encode` is called through Python.
pub fn request_codec(
    py: Python<'_>,
    obj: Option<&Bound<'_, PyAny>>,
    arg: &str,
) -> PyResult<Option<Arc<dyn LlmCodec>>> {
    let Some(o) = obj.filter(|o| !o.is_none()) else {
        return Ok(None);
    };
    if o.is_instance_of::<OpenAIChatCodec>() {
        return Ok(Some(Arc::new(core::OpenAIChatCodec)));
    }
    if o.is_instance_of::<OpenAIResponsesCodec>() {
        return Ok(Some(Arc::new(core::OpenAIResponsesCodec)));
    }
    if o.is_instance_of::<AnthropicMessagesCodec>() {
        return Ok(Some(Arc::new(core::AnthropicMessagesCodec)));
    }
    if o.hasattr("decode")? && o.hasattr("encode")? {
        return Ok(Some(Arc::new(PyCodec::new(py, o.clone().unbind()))));
    }
    Err(PyTypeError::new_err(format!(
        "{arg}: expected a codec with decode() and encode() methods, got {}",
        type_name(o)
    )))
}

/// The codec behind a `response_codec=` argument (see [`request_codec`]).
pub fn response_codec(
    py: Python<'_>,
    obj: Option<&Bound<'_, PyAny>>,
    arg: &str,
) -> PyResult<Option<Arc<dyn LlmResponseCodec>>> {
    let Some(o) = obj.filter(|o| !o.is_none()) else {
        return Ok(None);
    };
    if o.is_instance_of::<OpenAIChatCodec>() {
        return Ok(Some(Arc::new(core::OpenAIChatCodec)));
    }
    if o.is_instance_of::<OpenAIResponsesCodec>() {
        return Ok(Some(Arc::new(core::OpenAIResponsesCodec)));
    }
    if o.is_instance_of::<AnthropicMessagesCodec>() {
        return Ok(Some(Arc::new(core::AnthropicMessagesCodec)));
    }
    if o.hasattr("decode_response")? {
        return Ok(Some(Arc::new(PyCodec::new(py, o.clone().unbind()))));
    }
    Err(PyTypeError::new_err(format!(
        "{arg}: expected an object with a decode_response() method, got {}",
        type_name(o)
    )))
}

/// A chunk as JSON; SDK objects (pydantic models) are dumped first.
fn chunk_json(chunk: &Bound<'_, PyAny>) -> PyResult<Value> {
    match to_json(chunk, "chunk") {
        Ok(v) => Ok(v),
        Err(e) if chunk.hasattr("model_dump")? => {
            let kwargs = pyo3::types::PyDict::new(chunk.py());
            kwargs.set_item("mode", "json")?;
            let dumped = chunk
                .call_method("model_dump", (), Some(&kwargs))
                .map_err(|_| e)?;
            to_json(&dumped, "chunk")
        }
        Err(e) => Err(e),
    }
}

macro_rules! stream_collector {
    ($py_name:ident, $name:literal, $core:ty, $doc:literal) => {
        #[doc = $doc]
        ///
        /// Pass its bound methods to ``llm.stream_execute``: ``collector=c.collect``,
        /// ``finalizer=c.finalize``; the finalized response decodes with the matching
        /// response codec.
        #[pyclass(name = $name, frozen, module = "nemo_flow._native")]
        pub struct $py_name {
            inner: Mutex<$core>,
        }

        #[pymethods]
        impl $py_name {
            #[new]
            fn new() -> Self {
                Self {
                    inner: Mutex::new(<$core>::default()),
                }
            }
            /// Take the next stream chunk (a JSON event, or an SDK object with ``model_dump``).
            fn collect(&self, chunk: &Bound<'_, PyAny>) -> PyResult<()> {
                let v = chunk_json(chunk)?;
                self.inner
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .collect(&v)
                    .map_err(raise)
            }
            /// Return the rebuilt complete response; the collector starts over afterwards.
            fn finalize(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
                let v = self
                    .inner
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .finalize();
                to_py(py, &v)
            }
        }
    };
}

stream_collector!(
    OpenAIChatStreamCollector,
    "OpenAIChatStreamCollector",
    ChatCollector,
    "Rebuilds an OpenAI Chat Completions response from its ``chat.completion.chunk`` stream."
);
stream_collector!(
    OpenAIResponsesStreamCollector,
    "OpenAIResponsesStreamCollector",
    ResponsesCollector,
    "Rebuilds an OpenAI Responses response from its stream events."
);
stream_collector!(
    AnthropicMessagesStreamCollector,
    "AnthropicMessagesStreamCollector",
    AnthropicCollector,
    "Rebuilds an Anthropic Messages response from its stream events."
);

/// Incremental server-sent-events decoder: feed raw bytes (or text) as they arrive and get
/// back the JSON payload of every completed event; ``[DONE]``, comments and keep-alives are
/// dropped.
#[pyclass(name = "SseDecoder", frozen, module = "nemo_flow._native")]
pub struct SseDecoder {
    inner: Mutex<core::SseDecoder>,
}

#[pymethods]
impl SseDecoder {
    #[new]
    fn new() -> Self {
        Self {
            inner: Mutex::new(core::SseDecoder::new()),
        }
    }
    /// Feed the next piece of the stream; return the events it completes.
    fn feed(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Py<PyList>> {
        let events = {
            let mut d = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            if let Ok(b) = data.cast::<PyBytes>() {
                d.feed(b.as_bytes())
            } else if let Ok(s) = data.cast::<PyString>() {
                d.feed(s.to_str()?.as_bytes())
            } else if let Ok(b) = data.cast::<pyo3::types::PyByteArray>() {
                d.feed(&b.to_vec())
            } else {
                return Err(PyTypeError::new_err(format!(
                    "data: expected bytes or str, got {}",
                    type_name(data)
                )));
            }
            .map_err(raise)?
        };
        events_list(py, &events)
    }
    /// End of stream: return the event of a last frame that had no closing blank line.
    fn finish(&self, py: Python<'_>) -> PyResult<Py<PyList>> {
        let events = self
            .inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .finish()
            .map_err(raise)?;
        events_list(py, &events)
    }
}

fn events_list(py: Python<'_>, events: &[Value]) -> PyResult<Py<PyList>> {
    let items = events
        .iter()
        .map(|e| to_py(py, e))
        .collect::<PyResult<Vec<_>>>()?;
    Ok(PyList::new(py, items)?.unbind())
}

/// Adds the classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<OpenAIChatCodec>()?;
    m.add_class::<OpenAIResponsesCodec>()?;
    m.add_class::<AnthropicMessagesCodec>()?;
    m.add_class::<OpenAIChatStreamCollector>()?;
    m.add_class::<OpenAIResponsesStreamCollector>()?;
    m.add_class::<AnthropicMessagesStreamCollector>()?;
    m.add_class::<SseDecoder>()?;
    Ok(())
}
