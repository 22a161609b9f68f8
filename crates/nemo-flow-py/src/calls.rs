//! Native halves of managed and manual calls. The Python package drives a managed call
//! from its own event loop: `begin()` runs guardrails, intercepts and the start event and
//! hands back the arguments plus the execution intercepts; Python awaits the callable; then
//! `end()` or `fail()` emits the end event.

use nemo_flow_core::Family;
use nemo_flow_core::error::{CallbackError, FlowError};
use nemo_flow_core::event::ErrorInfo;
use nemo_flow_core::llm::{AnnotatedLlmResponse, LlmCodec, LlmResponseCodec};
use nemo_flow_core::middleware::{Execution, LlmExecutionFn, ToolExecutionFn};
use nemo_flow_core::pipeline::llm::{self, LlmOptions, ResponseAnnotation};
use nemo_flow_core::pipeline::llm_stream::{LlmStreamCall, StreamStop};
use nemo_flow_core::pipeline::tool::{self, ToolOptions};
use nemo_flow_core::pipeline::{Lazy, LazyOf, Outcome};
use nemo_flow_core::registry::Entry;
use nemo_flow_core::scope::ScopeNode;
use pyo3::exceptions::{PyException, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

use crate::callbacks::foreign_callable;
use crate::chain::NativeIntercept;
use crate::codecs::{request_codec, response_codec as response_codec_arg};
use crate::errors::type_name;
use crate::errors::{
    IntoPyResult, MiddlewareError, ScopeError, callback_error, carry, original, to_py_err,
};
use crate::handles::{LLMHandle, ToolHandle, current_node};
use crate::json::{check_unread, lazy_json, opt_to_json, to_json, to_py, validate_json};
use crate::llm_types::{PyLlmRequest, annotated_response_arg, request_arg};
use crate::scopes::{handle_arg, str_arg, timestamp_arg};
use crate::types::{LLMAttributes, ToolAttributes};

fn not_running() -> PyErr {
    ScopeError::new_err("this call is not running (it has not begun, or has already ended)")
}

/// Where a call runs: the scope whose middleware applies, and its parent uuid.
fn placement(
    py: Python<'_>,
    handle: Option<&Bound<'_, PyAny>>,
) -> PyResult<(Arc<ScopeNode>, Uuid)> {
    let node = match handle_arg(handle, "handle")? {
        Some(h) => Arc::clone(&h.get().node),
        None => current_node(py)?,
    };
    let uuid = node.info.uuid;
    Ok((node, uuid))
}

fn error_info(exc: &Bound<'_, PyAny>) -> ErrorInfo {
    ErrorInfo {
        kind: type_name(exc),
        message: exc.str().map(|s| s.to_string()).unwrap_or_default(),
    }
}

/// Converts a call's result for the end event. A result JSON cannot hold is recorded as a
/// note (the call itself succeeded, and the caller still gets the raw value).
fn result_json(obj: &Bound<'_, PyAny>) -> Value {
    to_json(obj, "result").unwrap_or_else(|e| Value::String(format!("[not recorded: {e}]")))
}

/// The execution intercepts as `(name, callable)` pairs for the Python driver: a Python
/// callable, or a `NativeIntercept` that the driver polls (see `chain.rs`).
fn intercept_tuple<N: NativeFn>(
    py: Python<'_>,
    entries: &[Entry<Execution<N>>],
) -> PyResult<Py<PyTuple>> {
    let mut items = Vec::with_capacity(entries.len());
    for e in entries {
        let cb = match &e.callback {
            Execution::Native(f) => match f.native(&e.name) {
                Some(n) => Py::new(py, n)?.into_any(),
                None => {
                    return Err(MiddlewareError::new_err(format!(
                        "execution intercept '{}' is a Rust intercept of a kind the Python driver cannot run",
                        e.name
                    )));
                }
            },
            foreign => foreign_callable(py, foreign).expect("a foreign intercept is callable"),
        };
        items.push((&*e.name, cb));
    }
    Ok(PyTuple::new(py, items)?.unbind())
}

/// A Rust execution intercept the Python driver can run.
trait NativeFn {
    fn native(&self, name: &str) -> Option<NativeIntercept>;
}

impl NativeFn for ToolExecutionFn {
    fn native(&self, name: &str) -> Option<NativeIntercept> {
        Some(NativeIntercept::tool(name, Arc::clone(self)))
    }
}

impl NativeFn for LlmExecutionFn {
    fn native(&self, name: &str) -> Option<NativeIntercept> {
        Some(NativeIntercept::llm(name, Arc::clone(self)))
    }
}

/// Stream execution intercepts have no Rust form yet.
impl NativeFn for () {
    fn native(&self, _name: &str) -> Option<NativeIntercept> {
        None
    }
}

fn json_opt_str(obj: Option<&Bound<'_, PyAny>>, arg: &str) -> PyResult<Option<String>> {
    match obj.filter(|o| !o.is_none()) {
        None => Ok(None),
        Some(o) => Ok(Some(str_arg(o, arg)?)),
    }
}

/// A managed tool call being driven by Python.
#[pyclass(module = "nemo_flow._native")]
pub struct ToolCall {
    ctx: Arc<ScopeNode>,
    parent: Uuid,
    name: String,
    args: Py<PyAny>,
    opts: Option<ToolOptions>,
    handle: Option<Arc<tool::ToolHandle>>,
}

#[pymethods]
impl ToolCall {
    #[new]
    #[pyo3(signature = (name, args, handle=None, attributes=None, data=None, metadata=None))]
    fn new(
        py: Python<'_>,
        name: &Bound<'_, PyAny>,
        args: &Bound<'_, PyAny>,
        handle: Option<&Bound<'_, PyAny>>,
        attributes: Option<&Bound<'_, PyAny>>,
        data: Option<&Bound<'_, PyAny>>,
        metadata: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let name = str_arg(name, "name")?;
        let (ctx, parent) = placement(py, handle)?;
        ctx.require_open("a tool call").py(py)?;
        let opts = ToolOptions {
            attributes: ToolAttributes::arg(attributes)?,
            data: opt_to_json(data, "data")?,
            metadata: opt_to_json(metadata, "metadata")?,
            tool_call_id: None,
            timestamp: None,
        };
        Ok(Self {
            ctx,
            parent,
            name,
            args: args.clone().unbind(),
            opts: Some(opts),
            handle: None,
        })
    }

    /// Guardrails, request intercepts and the start event. Returns `(args, intercepts)`:
    /// the arguments for the callable and the execution intercepts, outermost first.
    fn begin(&mut self, py: Python<'_>) -> PyResult<(Py<PyAny>, Py<PyTuple>)> {
        let opts = self
            .opts
            .take()
            .ok_or_else(|| ScopeError::new_err("this tool call has already begun"))?;
        let args = self.args.bind(py);
        let mut lazy = lazy_json(py, args, "args");
        let begun = crate::interrupts::step(|| {
            let begun = tool::begin(&self.ctx, self.parent, &self.name, &mut lazy, opts).py(py)?;
            // Started, then interrupted: the call ends here, its end event recording why.
            if let Some(interrupt) = crate::interrupts::take() {
                let why = error_info(interrupt.value(py).as_any());
                let _ = tool::end(&begun.handle, Outcome::Err(why), Value::Null, None);
                return Err(interrupt);
            }
            Ok(begun)
        })?;
        check_unread(&lazy, || validate_json(args, "args"))?;
        let intercepts = intercept_tuple(py, &begun.execution)?;
        self.handle = Some(begun.handle);
        let args = match begun.args {
            Some(v) => to_py(py, &v)?,
            None => self.args.clone_ref(py),
        };
        Ok((args, intercepts))
    }

    /// Records success: sanitize-response guardrails and the end event.
    fn end(&mut self, py: Python<'_>, result: &Bound<'_, PyAny>) -> PyResult<()> {
        let h = self
            .handle
            .take()
            .ok_or_else(|| ScopeError::new_err("this tool call is not running"))?;
        let mut lazy = Lazy::pending(|| Ok(result_json(result)));
        crate::interrupts::step(|| tool::end(&h, Outcome::Ok(&mut lazy), Value::Null, None).py(py))
    }

    /// Records failure: the end event carries the exception's type and message.
    fn fail(&mut self, py: Python<'_>, exc: &Bound<'_, PyAny>) -> PyResult<()> {
        let h = self.handle.take().ok_or_else(not_running)?;
        crate::interrupts::step(|| {
            tool::end(&h, Outcome::Err(error_info(exc)), Value::Null, None).py(py)
        })
    }

    /// The `MiddlewareError` the execution intercept `name` raising `exc` becomes.
    fn intercept_error(&self, py: Python<'_>, name: &str, exc: &Bound<'_, PyAny>) -> Py<PyAny> {
        crate::chain::intercept_error(py, Family::ToolExecution, name, exc)
    }

    /// The call's handle (after `begin`).
    #[getter]
    fn handle(&self) -> Option<ToolHandle> {
        self.handle.as_ref().map(|h| ToolHandle {
            inner: Arc::clone(h),
        })
    }
}

/// An LLM call's codecs: native core codecs or Python objects (see `codecs.rs`).
struct Codecs {
    request: Option<Arc<dyn LlmCodec>>,
    response: Option<Arc<dyn LlmResponseCodec>>,
}

/// A managed LLM call (plain or streaming) being driven by Python.
#[pyclass(module = "nemo_flow._native")]
pub struct LlmCall {
    ctx: Arc<ScopeNode>,
    parent: Uuid,
    name: String,
    request: Py<PyLlmRequest>,
    opts: Option<LlmOptions>,
    codecs: Codecs,
    streaming: bool,
    /// The core stream driver, once a streaming call has begun.
    stream: Option<LlmStreamCall>,
    handle: Option<Arc<llm::LlmHandle>>,
}

#[pymethods]
impl LlmCall {
    #[new]
    #[pyo3(signature = (name, request, handle=None, attributes=None, data=None, metadata=None, model_name=None, codec=None, response_codec=None, streaming=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        name: &Bound<'_, PyAny>,
        request: &Bound<'_, PyAny>,
        handle: Option<&Bound<'_, PyAny>>,
        attributes: Option<&Bound<'_, PyAny>>,
        data: Option<&Bound<'_, PyAny>>,
        metadata: Option<&Bound<'_, PyAny>>,
        model_name: Option<&Bound<'_, PyAny>>,
        codec: Option<&Bound<'_, PyAny>>,
        response_codec: Option<&Bound<'_, PyAny>>,
        streaming: bool,
    ) -> PyResult<Self> {
        let name = str_arg(name, "name")?;
        let request = request_arg(request, "request")?.unbind();
        let (ctx, parent) = placement(py, handle)?;
        ctx.require_open("an LLM call").py(py)?;
        let opts = LlmOptions {
            attributes: LLMAttributes::arg(attributes)?,
            data: opt_to_json(data, "data")?,
            metadata: opt_to_json(metadata, "metadata")?,
            model_name: json_opt_str(model_name, "model_name")?,
            timestamp: None,
        };
        let codecs = Codecs {
            request: request_codec(py, codec, "codec")?,
            response: response_codec_arg(py, response_codec, "response_codec")?,
        };
        Ok(Self {
            ctx,
            parent,
            name,
            request,
            opts: Some(opts),
            codecs,
            streaming,
            stream: None,
            handle: None,
        })
    }

    /// Guardrails, request intercepts (with the codec) and the start event. Returns
    /// `(request, intercepts)`.
    fn begin(&mut self, py: Python<'_>) -> PyResult<(Py<PyAny>, Py<PyTuple>)> {
        let opts = self
            .opts
            .take()
            .ok_or_else(|| ScopeError::new_err("this LLM call has already begun"))?;
        let req = self.request.bind(py);
        let mut lazy = LazyOf::pending(|| {
            req.borrow()
                .to_core(py, "request")
                .map_err(|e| carry(py, e))
        });
        let codec = self.codecs.request.as_deref();
        let begun = crate::interrupts::step(|| {
            let begun = llm::begin(
                &self.ctx,
                self.parent,
                &self.name,
                &mut lazy,
                codec,
                opts,
                self.streaming,
            )
            .py(py)?;
            // Started, then interrupted: the call ends here, its end event recording why.
            if let Some(interrupt) = crate::interrupts::take() {
                let why = error_info(interrupt.value(py).as_any());
                let _ = llm::end(
                    &begun.handle,
                    Outcome::Err(why),
                    ResponseAnnotation::None,
                    Value::Null,
                    None,
                );
                return Err(interrupt);
            }
            Ok(begun)
        })?;
        check_unread(&lazy, || {
            let r = req.borrow();
            validate_json(r.headers_bound(py).as_any(), "request.headers")?;
            validate_json(r.content_bound(py).as_any(), "request.content")
        })?;
        let intercepts = if self.streaming {
            intercept_tuple(py, &begun.stream_execution)?
        } else {
            intercept_tuple(py, &begun.execution)?
        };
        if self.streaming {
            self.stream = Some(LlmStreamCall::new(Arc::clone(&begun.handle)));
        }
        self.handle = Some(begun.handle);
        let request = match begun.request {
            Some(r) => PyLlmRequest::from_core(py, &r)?.into_any(),
            None => self.request.clone_ref(py).into_any(),
        };
        Ok((request, intercepts))
    }

    /// Emits the `llm.chunk` mark for the next chunk of a stream.
    fn chunk(&mut self, py: Python<'_>, chunk: &Bound<'_, PyAny>) -> PyResult<()> {
        let Some(stream) = self.stream.as_mut().filter(|_| self.handle.is_some()) else {
            return Err(ScopeError::new_err("this LLM stream is not running"));
        };
        let mut lazy = Lazy::pending(|| Ok(result_json(chunk)));
        stream.chunk(&mut lazy).py(py)
    }

    /// Finishes a stream once (the core stream driver): runs `finalizer`, emits the end
    /// event (recording `exc`, else the finalizer's error, else its result) and returns the
    /// finalizer's result. A finalizer exception that is not an `Exception` is re-raised
    /// after the end event; an `Exception` is logged and `None` returned. Finishing again
    /// does nothing and returns `None`.
    #[pyo3(signature = (exc, finalizer))]
    fn finish(
        &mut self,
        py: Python<'_>,
        exc: Option<&Bound<'_, PyAny>>,
        finalizer: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(ScopeError::new_err("this LLM stream has not begun"));
        };
        let stop = exc.map_or(StreamStop::Completed, |e| StreamStop::Failed(error_info(e)));
        let annotation = self
            .codecs
            .response
            .as_deref()
            .map_or(ResponseAnnotation::None, ResponseAnnotation::Codec);
        let finalize = || {
            finalizer
                .call0()
                .map(Bound::unbind)
                .map_err(|e| callback_error(py, e))
        };
        let Some(done) = stream.finish(stop, finalize, |v| result_json(v.bind(py)), annotation)
        else {
            return Ok(py.None());
        };
        self.handle = None;
        match done.finalized {
            Ok(v) => done.ended.py(py).map(|()| v),
            Err(e) => match original(py, &e) {
                Some(err) if !err.is_instance_of::<PyException>(py) => Err(err),
                _ => done.ended.py(py).map(|()| py.None()),
            },
        }
    }

    /// Records success: sanitize-response guardrails, the annotation and the end event.
    fn end(&mut self, py: Python<'_>, response: &Bound<'_, PyAny>) -> PyResult<()> {
        let h = self
            .handle
            .take()
            .ok_or_else(|| ScopeError::new_err("this LLM call is not running"))?;
        let mut lazy = Lazy::pending(|| Ok(result_json(response)));
        let annotation = self
            .codecs
            .response
            .as_ref()
            .map_or(ResponseAnnotation::None, |c| {
                ResponseAnnotation::Codec(&**c)
            });
        crate::interrupts::step(|| {
            llm::end(&h, Outcome::Ok(&mut lazy), annotation, Value::Null, None).py(py)
        })
    }

    /// Records failure.
    fn fail(&mut self, py: Python<'_>, exc: &Bound<'_, PyAny>) -> PyResult<()> {
        let h = self.handle.take().ok_or_else(not_running)?;
        crate::interrupts::step(|| {
            llm::end(
                &h,
                Outcome::Err(error_info(exc)),
                ResponseAnnotation::None,
                Value::Null,
                None,
            )
            .py(py)
        })
    }

    /// The `MiddlewareError` the execution intercept `name` raising `exc` becomes.
    fn intercept_error(&self, py: Python<'_>, name: &str, exc: &Bound<'_, PyAny>) -> Py<PyAny> {
        let family = if self.streaming {
            Family::LlmStreamExecution
        } else {
            Family::LlmExecution
        };
        crate::chain::intercept_error(py, family, name, exc)
    }

    /// Whether the call has begun and not yet ended.
    #[getter]
    fn running(&self) -> bool {
        self.handle.is_some()
    }

    /// The call's handle (after `begin`).
    #[getter]
    fn handle(&self) -> Option<LLMHandle> {
        self.handle.as_ref().map(|h| LLMHandle {
            inner: Arc::clone(h),
        })
    }
}

/// Starts a manual tool call: sanitize-request guardrails and the start event only.
#[pyfunction]
#[pyo3(signature = (name, args, *, handle=None, attributes=None, data=None, metadata=None, tool_call_id=None, timestamp=None))]
#[allow(clippy::too_many_arguments)]
pub fn tool_call(
    py: Python<'_>,
    name: &Bound<'_, PyAny>,
    args: &Bound<'_, PyAny>,
    handle: Option<&Bound<'_, PyAny>>,
    attributes: Option<&Bound<'_, PyAny>>,
    data: Option<&Bound<'_, PyAny>>,
    metadata: Option<&Bound<'_, PyAny>>,
    tool_call_id: Option<&Bound<'_, PyAny>>,
    timestamp: Option<&Bound<'_, PyAny>>,
) -> PyResult<ToolHandle> {
    let name = str_arg(name, "name")?;
    let (ctx, parent) = placement(py, handle)?;
    let opts = ToolOptions {
        attributes: ToolAttributes::arg(attributes)?,
        data: opt_to_json(data, "data")?,
        metadata: opt_to_json(metadata, "metadata")?,
        tool_call_id: json_opt_str(tool_call_id, "tool_call_id")?,
        timestamp: timestamp_arg(timestamp, "timestamp")?,
    };
    let mut lazy = lazy_json(py, args, "args");
    let h = tool::start(&ctx, parent, &name, &mut lazy, opts).py(py)?;
    check_unread(&lazy, || validate_json(args, "args"))?;
    Ok(ToolHandle { inner: h })
}

fn tool_handle_arg<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, ToolHandle>> {
    obj.cast::<ToolHandle>().cloned().map_err(|_| {
        PyTypeError::new_err(format!(
            "handle: expected a ToolHandle, got {}",
            type_name(obj)
        ))
    })
}

/// Ends a manual tool call: sanitize-response guardrails and the end event.
#[pyfunction]
#[pyo3(signature = (handle, result, *, data=None, metadata=None, timestamp=None))]
pub fn tool_call_end(
    py: Python<'_>,
    handle: &Bound<'_, PyAny>,
    result: &Bound<'_, PyAny>,
    data: Option<&Bound<'_, PyAny>>,
    metadata: Option<&Bound<'_, PyAny>>,
    timestamp: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let h = tool_handle_arg(handle)?;
    let data = opt_to_json(data, "data")?;
    let metadata = opt_to_json(metadata, "metadata")?;
    let ts = timestamp_arg(timestamp, "timestamp")?;
    // Converted before the call is marked ended, so a result JSON cannot hold leaves the
    // handle open for a corrected call_end (as llm.call_end does).
    let v = to_json(result, "result")?;
    let mut lazy = Lazy::Ready(if v.is_null() { data } else { v });
    tool::end(&h.get().inner, Outcome::Ok(&mut lazy), metadata, ts).py(py)
}

/// Starts a manual LLM call: sanitize-request guardrails and the start event only.
#[pyfunction]
#[pyo3(signature = (name, request, *, handle=None, attributes=None, data=None, metadata=None, model_name=None, timestamp=None))]
#[allow(clippy::too_many_arguments)]
pub fn llm_call(
    py: Python<'_>,
    name: &Bound<'_, PyAny>,
    request: &Bound<'_, PyAny>,
    handle: Option<&Bound<'_, PyAny>>,
    attributes: Option<&Bound<'_, PyAny>>,
    data: Option<&Bound<'_, PyAny>>,
    metadata: Option<&Bound<'_, PyAny>>,
    model_name: Option<&Bound<'_, PyAny>>,
    timestamp: Option<&Bound<'_, PyAny>>,
) -> PyResult<LLMHandle> {
    let name = str_arg(name, "name")?;
    let req = request_arg(request, "request")?;
    let core_req = req.borrow().to_core(py, "request")?;
    let (ctx, parent) = placement(py, handle)?;
    let opts = LlmOptions {
        attributes: LLMAttributes::arg(attributes)?,
        data: opt_to_json(data, "data")?,
        metadata: opt_to_json(metadata, "metadata")?,
        model_name: json_opt_str(model_name, "model_name")?,
        timestamp: timestamp_arg(timestamp, "timestamp")?,
    };
    let mut lazy = LazyOf::Ready(core_req);
    Ok(LLMHandle {
        inner: llm::start(&ctx, parent, &name, &mut lazy, None, opts).py(py)?,
    })
}

/// Ends a manual LLM call. `annotated_response` wins over `response_codec`, which decodes
/// the sanitized response.
#[pyfunction]
#[pyo3(signature = (handle, response, *, data=None, metadata=None, annotated_response=None, response_codec=None, timestamp=None))]
#[allow(clippy::too_many_arguments)]
pub fn llm_call_end(
    py: Python<'_>,
    handle: &Bound<'_, PyAny>,
    response: &Bound<'_, PyAny>,
    data: Option<&Bound<'_, PyAny>>,
    metadata: Option<&Bound<'_, PyAny>>,
    annotated_response: Option<&Bound<'_, PyAny>>,
    response_codec: Option<&Bound<'_, PyAny>>,
    timestamp: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let h = handle.cast::<LLMHandle>().map_err(|_| {
        PyTypeError::new_err(format!(
            "handle: expected an LLMHandle, got {}",
            type_name(handle)
        ))
    })?;
    let response_v = to_json(response, "response")?;
    let data = opt_to_json(data, "data")?;
    let metadata = opt_to_json(metadata, "metadata")?;
    let given = match annotated_response.filter(|a| !a.is_none()) {
        Some(a) => Some(annotated_response_arg(a, "annotated_response")?),
        None => None,
    };
    let codec =
        response_codec_arg(py, response_codec, "response_codec")?.map(|codec| CaptureDecodeError {
            codec,
            error: Mutex::new(None),
        });
    let annotation = match (given, codec.as_ref()) {
        (Some(a), _) => ResponseAnnotation::Given(Box::new(a)),
        (None, Some(c)) => ResponseAnnotation::Codec(c as &dyn LlmResponseCodec),
        (None, None) => ResponseAnnotation::None,
    };
    let ts = timestamp_arg(timestamp, "timestamp")?;
    let mut lazy = Lazy::Ready(if response_v.is_null() {
        data
    } else {
        response_v
    });
    llm::end(
        &h.get().inner,
        Outcome::Ok(&mut lazy),
        annotation,
        metadata,
        ts,
    )
    .py(py)?;
    // Reference §1.4: on the manual path a response-codec failure is raised after the end
    // event has been emitted without an annotation (as a MiddlewareError, DESIGN item 1).
    if let Some(c) = codec {
        if let Some(error) = c.error.into_inner().unwrap_or_else(|e| e.into_inner()) {
            let name = c.codec.name().to_string();
            return Err(to_py_err(
                py,
                FlowError::Middleware {
                    family: "response codec decode",
                    name,
                    error: Box::new(error),
                },
            ));
        }
    }
    Ok(())
}

/// A response codec that remembers its decode failure so `llm.call_end` can raise it.
struct CaptureDecodeError {
    codec: Arc<dyn LlmResponseCodec>,
    error: Mutex<Option<CallbackError>>,
}

impl LlmResponseCodec for CaptureDecodeError {
    fn name(&self) -> &str {
        self.codec.name()
    }
    fn decode_response(&self, response: &Value) -> Result<AnnotatedLlmResponse, CallbackError> {
        self.codec.decode_response(response).inspect_err(|e| {
            *self.error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.clone());
        })
    }
}

/// Runs only the tool request-intercept chain; returns the resulting arguments.
#[pyfunction]
pub fn tool_request_intercepts(
    py: Python<'_>,
    name: &Bound<'_, PyAny>,
    args: &Bound<'_, PyAny>,
) -> PyResult<Py<PyAny>> {
    let name = str_arg(name, "name")?;
    let ctx = current_node(py)?;
    let mut lazy = lazy_json(py, args, "args");
    match tool::request_intercepts(&ctx, &name, &mut lazy).py(py)? {
        Some(v) => to_py(py, &v),
        None => {
            validate_json(args, "args")?;
            Ok(args.clone().unbind())
        }
    }
}

/// Runs only the tool conditional guardrails (with their guardrail scopes, no mark).
#[pyfunction]
pub fn tool_conditional_execution(
    py: Python<'_>,
    name: &Bound<'_, PyAny>,
    args: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let name = str_arg(name, "name")?;
    let ctx = current_node(py)?;
    let mut lazy = lazy_json(py, args, "args");
    tool::check_guardrails(&ctx, ctx.info.uuid, &name, &mut lazy, &Value::Null, false).py(py)?;
    check_unread(&lazy, || validate_json(args, "args"))?;
    Ok(())
}

/// Runs only the LLM request-intercept chain (no codec); returns the resulting request.
#[pyfunction]
pub fn llm_request_intercepts(
    py: Python<'_>,
    name: &Bound<'_, PyAny>,
    request: &Bound<'_, PyAny>,
) -> PyResult<Py<PyAny>> {
    let name = str_arg(name, "name")?;
    let req = request_arg(request, "request")?;
    let ctx = current_node(py)?;
    let mut lazy = LazyOf::pending(|| {
        req.borrow()
            .to_core(py, "request")
            .map_err(|e| carry(py, e))
    });
    match llm::request_intercepts(&ctx, &name, &mut lazy, None).py(py)? {
        Some(r) => Ok(PyLlmRequest::from_core(py, &r)?.into_any()),
        None => Ok(request.clone().unbind()),
    }
}

/// Runs only the LLM conditional guardrails (with their guardrail scopes, no mark).
#[pyfunction]
pub fn llm_conditional_execution(py: Python<'_>, request: &Bound<'_, PyAny>) -> PyResult<()> {
    let req = request_arg(request, "request")?;
    let ctx = current_node(py)?;
    let mut lazy = LazyOf::pending(|| {
        req.borrow()
            .to_core(py, "request")
            .map_err(|e| carry(py, e))
    });
    llm::check_guardrails(&ctx, ctx.info.uuid, None, &mut lazy, &Value::Null).py(py)
}
