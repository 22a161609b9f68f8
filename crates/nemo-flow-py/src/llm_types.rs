//! `LLMRequest` (headers and content are the caller's own mutable dicts) and the annotated
//! request/response views.

use nemo_flow_core::llm::{AnnotatedLlmRequest, AnnotatedLlmResponse, LlmRequest};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

use crate::errors::type_name;
use pyo3::types::{PyDict, PyTuple};
use serde_json::{Map, Value};

use crate::json::{to_json, to_py};

/// An LLM request carrying headers and a content payload. Both are plain dicts that
/// middleware may mutate in place.
#[pyclass(name = "LLMRequest", module = "nemo_flow._native")]
pub struct PyLlmRequest {
    headers: Py<PyDict>,
    content: Py<PyDict>,
}

fn as_dict<'py>(obj: &Bound<'py, PyAny>, arg: &str, copy: bool) -> PyResult<Bound<'py, PyDict>> {
    if let Ok(d) = obj.cast::<PyDict>() {
        return Ok(if copy { d.copy()? } else { d.clone() });
    }
    if obj.hasattr("keys")? {
        let d = PyDict::new(obj.py());
        d.update(obj.cast::<pyo3::types::PyMapping>()?)?;
        return Ok(d);
    }
    Err(PyTypeError::new_err(format!(
        "{arg}: expected a dict, got {}",
        type_name(obj)
    )))
}

#[pymethods]
impl PyLlmRequest {
    #[new]
    fn new(headers: &Bound<'_, PyAny>, content: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(Self {
            headers: as_dict(headers, "headers", true)?.unbind(),
            content: as_dict(content, "content", false)?.unbind(),
        })
    }
    /// Return the request headers (a mutable dict).
    #[getter]
    fn headers(&self, py: Python<'_>) -> Py<PyDict> {
        self.headers.clone_ref(py)
    }
    #[setter]
    fn set_headers(&mut self, v: &Bound<'_, PyAny>) -> PyResult<()> {
        self.headers = as_dict(v, "headers", false)?.unbind();
        Ok(())
    }
    /// Return the request content body (a mutable dict).
    #[getter]
    fn content(&self, py: Python<'_>) -> Py<PyDict> {
        self.content.clone_ref(py)
    }
    #[setter]
    fn set_content(&mut self, v: &Bound<'_, PyAny>) -> PyResult<()> {
        self.content = as_dict(v, "content", false)?.unbind();
        Ok(())
    }
    /// Return `{"headers": …, "content": …}` as a new dict.
    fn to_dict(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        to_py(py, &self.to_core(py, "request")?.to_json())
    }
    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(o) = other.cast::<PyLlmRequest>() else {
            return Ok(false);
        };
        let o = o.borrow();
        Ok(self.headers.bind(py).eq(o.headers.bind(py))?
            && self.content.bind(py).eq(o.content.bind(py))?)
    }
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "LLMRequest(headers={}, content={})",
            self.headers.bind(py).repr()?,
            self.content.bind(py).repr()?
        ))
    }
}

impl PyLlmRequest {
    /// The headers dict.
    pub fn headers_bound<'py>(&self, py: Python<'py>) -> &Bound<'py, PyDict> {
        self.headers.bind(py)
    }

    /// The content dict.
    pub fn content_bound<'py>(&self, py: Python<'py>) -> &Bound<'py, PyDict> {
        self.content.bind(py)
    }

    /// The JSON form; `arg` names the request in conversion errors.
    pub fn to_core(&self, py: Python<'_>, arg: &str) -> PyResult<LlmRequest> {
        let headers = match to_json(self.headers.bind(py).as_any(), &format!("{arg}.headers"))? {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let content = to_json(self.content.bind(py).as_any(), &format!("{arg}.content"))?;
        Ok(LlmRequest { headers, content })
    }

    /// A new request object holding fresh dicts.
    pub fn from_core(py: Python<'_>, r: &LlmRequest) -> PyResult<Py<PyLlmRequest>> {
        let headers = to_py(py, &Value::Object(r.headers.clone()))?
            .bind(py)
            .cast::<PyDict>()?
            .clone()
            .unbind();
        let content = match to_py(py, &r.content)?.bind(py).cast::<PyDict>() {
            Ok(d) => d.clone().unbind(),
            Err(_) => PyDict::new(py).unbind(),
        };
        Py::new(py, PyLlmRequest { headers, content })
    }
}

/// Extracts an `LLMRequest` argument.
pub fn request_arg<'py>(obj: &Bound<'py, PyAny>, arg: &str) -> PyResult<Bound<'py, PyLlmRequest>> {
    obj.cast::<PyLlmRequest>().cloned().map_err(|_| {
        PyTypeError::new_err(format!(
            "{arg}: expected an LLMRequest, got {}",
            type_name(obj)
        ))
    })
}

pub(crate) fn opt_json<T: serde::de::DeserializeOwned>(
    obj: Option<&Bound<'_, PyAny>>,
    arg: &str,
) -> PyResult<Option<T>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => serde_json::from_value(to_json(o, arg)?)
            .map(Some)
            .map_err(|e| PyValueError::new_err(format!("{arg}: {e}"))),
    }
}

pub(crate) fn json_or_none(py: Python<'_>, v: Option<Value>) -> PyResult<Py<PyAny>> {
    to_py(py, &v.unwrap_or(Value::Null))
}

/// Structured view of an LLM request produced by a codec.
#[pyclass(name = "AnnotatedLLMRequest", module = "nemo_flow._native")]
#[derive(Clone)]
pub struct AnnotatedLLMRequest {
    pub inner: AnnotatedLlmRequest,
}

impl AnnotatedLLMRequest {
    /// Wraps a core value.
    pub fn from_core(inner: AnnotatedLlmRequest) -> Self {
        Self { inner }
    }
}

#[pymethods]
impl AnnotatedLLMRequest {
    #[new]
    #[pyo3(signature = (messages, *, model=None, params=None, tools=None, tool_choice=None, extra=None,
        store=None, previous_response_id=None, truncation=None, reasoning=None, include=None, user=None,
        metadata=None, service_tier=None, parallel_tool_calls=None, max_output_tokens=None,
        max_tool_calls=None, top_logprobs=None, stream=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        messages: &Bound<'_, PyAny>,
        model: Option<String>,
        params: Option<&Bound<'_, PyAny>>,
        tools: Option<&Bound<'_, PyAny>>,
        tool_choice: Option<&Bound<'_, PyAny>>,
        extra: Option<&Bound<'_, PyAny>>,
        store: Option<&Bound<'_, PyAny>>,
        previous_response_id: Option<&Bound<'_, PyAny>>,
        truncation: Option<&Bound<'_, PyAny>>,
        reasoning: Option<&Bound<'_, PyAny>>,
        include: Option<&Bound<'_, PyAny>>,
        user: Option<&Bound<'_, PyAny>>,
        metadata: Option<&Bound<'_, PyAny>>,
        service_tier: Option<&Bound<'_, PyAny>>,
        parallel_tool_calls: Option<&Bound<'_, PyAny>>,
        max_output_tokens: Option<&Bound<'_, PyAny>>,
        max_tool_calls: Option<&Bound<'_, PyAny>>,
        top_logprobs: Option<&Bound<'_, PyAny>>,
        stream: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let messages: Vec<Value> = opt_json(Some(messages), "messages")?.unwrap_or_default();
        let mut this = Self {
            inner: AnnotatedLlmRequest {
                messages,
                model,
                params: opt_json(params, "params")?,
                tools: opt_json(tools, "tools")?,
                tool_choice: opt_json(tool_choice, "tool_choice")?,
                extra: opt_json(extra, "extra")?.unwrap_or_default(),
                ..AnnotatedLlmRequest::default()
            },
        };
        // The request options go through their setters, which validate each one.
        let options = [
            store,
            previous_response_id,
            truncation,
            reasoning,
            include,
            user,
            metadata,
            service_tier,
            parallel_tool_calls,
            max_output_tokens,
            max_tool_calls,
            top_logprobs,
            stream,
        ];
        for (name, v) in crate::annotated_fields::REQUEST_OPTIONS.iter().zip(options) {
            if let Some(v) = v {
                this.set_option(name, v)?;
            }
        }
        Ok(this)
    }
    /// Return normalized message objects.
    #[getter]
    fn messages(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        to_py(py, &Value::Array(self.inner.messages.clone()))
    }
    #[setter]
    fn set_messages(&mut self, v: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.messages = opt_json(Some(v), "messages")?.unwrap_or_default();
        Ok(())
    }
    /// Return the normalized model name, if present.
    #[getter]
    fn model(&self) -> Option<String> {
        self.inner.model.clone()
    }
    #[setter]
    fn set_model(&mut self, v: Option<String>) {
        self.inner.model = v;
    }
    /// Return provider parameters, if present.
    #[getter]
    fn params(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        json_or_none(py, self.inner.params.clone().map(Value::Object))
    }
    #[setter]
    fn set_params(&mut self, v: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        self.inner.params = opt_json(v, "params")?;
        Ok(())
    }
    /// Return normalized tool declarations, if present.
    #[getter]
    fn tools(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        json_or_none(py, self.inner.tools.clone().map(Value::Array))
    }
    #[setter]
    fn set_tools(&mut self, v: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        self.inner.tools = opt_json(v, "tools")?;
        Ok(())
    }
    /// Return the normalized tool-choice directive, if present.
    #[getter]
    fn tool_choice(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        json_or_none(py, self.inner.tool_choice.clone())
    }
    #[setter]
    fn set_tool_choice(&mut self, v: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        self.inner.tool_choice = opt_json(v, "tool_choice")?;
        Ok(())
    }
    /// Return provider-specific request fields.
    #[getter]
    fn extra(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        to_py(py, &Value::Object(self.inner.extra.clone()))
    }
    #[setter]
    fn set_extra(&mut self, v: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        self.inner.extra = opt_json(v, "extra")?.unwrap_or_default();
        Ok(())
    }
    /// Return the first normalized system prompt, if one is present.
    fn system_prompt(&self) -> Option<String> {
        self.inner.system_prompt()
    }
    /// Return the last normalized user message text, if one is present.
    fn last_user_message(&self) -> Option<String> {
        self.inner.last_user_message()
    }
    /// Return whether the normalized request includes tool declarations.
    fn has_tool_calls(&self) -> bool {
        self.inner.has_tool_calls()
    }
    /// Return the annotation as a JSON-compatible dict.
    fn to_dict(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        to_py(py, &self.inner.to_json())
    }
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<AnnotatedLLMRequest>()
            .is_ok_and(|o| o.borrow().inner == self.inner)
    }
    fn __repr__(&self) -> String {
        format!("AnnotatedLLMRequest({})", self.inner.to_json())
    }
}

/// Structured view of an LLM response produced by a response codec.
#[pyclass(name = "AnnotatedLLMResponse", frozen, module = "nemo_flow._native")]
#[derive(Clone)]
pub struct AnnotatedLLMResponse {
    pub inner: AnnotatedLlmResponse,
}

impl AnnotatedLLMResponse {
    /// Wraps a core value.
    pub fn from_core(inner: AnnotatedLlmResponse) -> Self {
        Self { inner }
    }
}

#[pymethods]
impl AnnotatedLLMResponse {
    #[new]
    #[pyo3(signature = (*, id=None, model=None, message=None, tool_calls=None, finish_reason=None, usage=None, api_specific=None, extra=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        id: Option<String>,
        model: Option<String>,
        message: Option<&Bound<'_, PyAny>>,
        tool_calls: Option<&Bound<'_, PyAny>>,
        finish_reason: Option<String>,
        usage: Option<&Bound<'_, PyAny>>,
        api_specific: Option<&Bound<'_, PyAny>>,
        extra: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        Ok(Self {
            inner: AnnotatedLlmResponse {
                id,
                model,
                message: opt_json(message, "message")?,
                tool_calls: opt_json(tool_calls, "tool_calls")?,
                finish_reason,
                usage: opt_json(usage, "usage")?,
                api_specific: opt_json(api_specific, "api_specific")?,
                extra: opt_json(extra, "extra")?.unwrap_or_default(),
            },
        })
    }
    /// Return the provider response identifier, if present.
    #[getter]
    fn id(&self) -> Option<String> {
        self.inner.id.clone()
    }
    /// Return the provider model name, if present.
    #[getter]
    fn model(&self) -> Option<String> {
        self.inner.model.clone()
    }
    /// Return the normalized primary message payload, if present.
    #[getter]
    fn message(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        json_or_none(py, self.inner.message.clone())
    }
    /// Return normalized tool-call payloads, if present.
    #[getter]
    fn tool_calls(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        json_or_none(py, self.inner.tool_calls.clone().map(Value::Array))
    }
    /// Return the provider finish reason, if present.
    #[getter]
    fn finish_reason(&self) -> Option<String> {
        self.inner.finish_reason.clone()
    }
    /// Return normalized usage accounting, if present.
    #[getter]
    fn usage(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        json_or_none(py, self.inner.usage.clone().map(Value::Object))
    }
    /// Return provider-specific response fields, if present.
    #[getter]
    fn api_specific(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        json_or_none(py, self.inner.api_specific.clone().map(Value::Object))
    }
    /// Return additional normalized response fields.
    #[getter]
    fn extra(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        to_py(py, &Value::Object(self.inner.extra.clone()))
    }
    /// Return extracted response text, if present.
    fn response_text(&self) -> Option<String> {
        self.inner.response_text()
    }
    /// Return whether the response contains tool-call payloads.
    fn has_tool_calls(&self) -> bool {
        self.inner.has_tool_calls()
    }
    /// Return the annotation as a JSON-compatible dict.
    fn to_dict(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        to_py(py, &self.inner.to_json())
    }
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<AnnotatedLLMResponse>()
            .is_ok_and(|o| o.get().inner == self.inner)
    }
    fn __repr__(&self) -> String {
        format!("AnnotatedLLMResponse({})", self.inner.to_json())
    }
}

/// Reads a codec's or caller's annotated request: an `AnnotatedLLMRequest` or a dict.
pub fn annotated_request_arg(obj: &Bound<'_, PyAny>, arg: &str) -> PyResult<AnnotatedLlmRequest> {
    if let Ok(a) = obj.cast::<AnnotatedLLMRequest>() {
        return Ok(a.borrow().inner.clone());
    }
    opt_json(Some(obj), arg)?.ok_or_else(|| {
        PyTypeError::new_err(format!(
            "{arg}: expected an AnnotatedLLMRequest or a dict, got None"
        ))
    })
}

/// Reads an annotated response: an `AnnotatedLLMResponse` or a dict.
pub fn annotated_response_arg(obj: &Bound<'_, PyAny>, arg: &str) -> PyResult<AnnotatedLlmResponse> {
    if let Ok(a) = obj.cast::<AnnotatedLLMResponse>() {
        return Ok(a.get().inner.clone());
    }
    opt_json(Some(obj), arg)?.ok_or_else(|| {
        PyTypeError::new_err(format!(
            "{arg}: expected an AnnotatedLLMResponse or a dict, got None"
        ))
    })
}

/// Unpacks an `(LLMRequest, annotated)` pair returned by a request intercept. A bare
/// `LLMRequest` keeps the annotation unchanged.
pub fn intercept_result(
    py: Python<'_>,
    out: &Bound<'_, PyAny>,
    annotated: Option<AnnotatedLlmRequest>,
) -> PyResult<(LlmRequest, Option<AnnotatedLlmRequest>)> {
    if let Ok(r) = out.cast::<PyLlmRequest>() {
        return Ok((r.borrow().to_core(py, "returned request")?, annotated));
    }
    let t = out.cast::<PyTuple>().map_err(|_| {
        PyTypeError::new_err(
            "an LLM request intercept must return (LLMRequest, AnnotatedLLMRequest | None)",
        )
    })?;
    if t.len() != 2 {
        return Err(PyTypeError::new_err(
            "an LLM request intercept must return a 2-tuple (LLMRequest, AnnotatedLLMRequest | None)",
        ));
    }
    let req = request_arg(&t.get_item(0)?, "returned request")?
        .borrow()
        .to_core(py, "returned request")?;
    let ann = t.get_item(1)?;
    let ann = if ann.is_none() {
        None
    } else {
        Some(annotated_request_arg(&ann, "returned annotation")?)
    };
    Ok((req, ann))
}
