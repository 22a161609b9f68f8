//! Rust execution intercepts (`Execution::Native`) under the Python driver (ADR 0001: no
//! Tokio future per call). The driver starts a `NativeStep` and polls the intercept's future
//! by hand. When the intercept awaits its `next`, the poll comes back `NEXT` with the value;
//! the driver runs the rest of the chain (Python intercepts and the callable, awaited on the
//! caller's loop) and answers; the next poll resumes the intercept. A future that waits on
//! something else comes back `PENDING`: its waker resolves `wait()` (async driver) or wakes
//! `block()` (sync driver).

use nemo_flow_core::Family;
use nemo_flow_core::error::{CallbackError, FlowError};
use nemo_flow_core::llm::LlmRequest;
use nemo_flow_core::middleware::{BoxFuture, LlmExecutionFn, ToolExecutionFn};
use pyo3::prelude::*;
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use crate::errors::{callback_error, original, to_py_err};
use crate::json::{to_json, to_py};
use crate::llm_types::{PyLlmRequest, request_arg};

type Res<T> = Result<T, CallbackError>;

/// The intercept finished: the payload is its result.
const DONE: u8 = 0;
/// The intercept called `next`: the payload is the value for the rest of the chain.
const NEXT: u8 = 1;
/// The intercept waits on something else: `wait()` / `block()` until it is woken.
const PENDING: u8 = 2;

/// Which chain a native intercept belongs to.
#[derive(Clone)]
enum Kind {
    Tool(ToolExecutionFn),
    Llm(LlmExecutionFn),
}

/// A value handed between the intercept and the rest of the chain.
enum Payload {
    Args(Value),
    Request(LlmRequest),
}

/// What a `next` call and the driver exchange.
#[derive(Default)]
struct Slot {
    asked: Option<Payload>,
    answer: Option<Res<Value>>,
    /// The rest of the chain's own result and its JSON form: when the intercept returns that
    /// value unchanged, the caller gets the original object back (not a JSON copy).
    raw: Option<(Py<PyAny>, Value)>,
}

/// The future a native intercept's `next` returns: first poll hands the value to the driver.
struct NextCall {
    slot: Arc<Mutex<Slot>>,
    send: Option<Payload>,
}

impl Future for NextCall {
    type Output = Res<Value>;
    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Res<Value>> {
        let this = self.get_mut();
        let mut slot = this.slot.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = this.send.take() {
            if slot.asked.is_some() {
                return Poll::Ready(Err(CallbackError::new(
                    "UnsupportedIntercept",
                    "a native execution intercept under the Python driver must await one `next` at a time",
                )));
            }
            slot.asked = Some(p);
            return Poll::Pending;
        }
        match slot.answer.take() {
            Some(a) => Poll::Ready(a),
            None => Poll::Pending,
        }
    }
}

/// Wakes whichever driver waits on a `PENDING` step.
#[derive(Default)]
struct Wakeup {
    state: Mutex<WakeState>,
    cond: Condvar,
}

#[derive(Default)]
struct WakeState {
    woken: bool,
    /// `(loop, future)` of an async driver's `wait()`.
    waiter: Option<(Py<PyAny>, Py<PyAny>)>,
}

impl Wake for Wakeup {
    fn wake(self: Arc<Self>) {
        let waiter = {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            s.woken = true;
            s.waiter.take()
        };
        self.cond.notify_all();
        if let Some((event_loop, fut)) = waiter {
            Python::attach(|py| {
                let set = fut.bind(py).getattr("set_result");
                let r = set.and_then(|set| {
                    event_loop
                        .call_method1(py, "call_soon_threadsafe", (set, py.None()))
                        .map(drop)
                });
                if let Err(e) = r {
                    e.print(py);
                }
            });
        }
    }
}

/// A Rust execution intercept as the Python driver sees it (an entry of `begin()`'s tuple).
#[pyclass(module = "nemo_flow._native", frozen)]
pub struct NativeIntercept {
    name: String,
    family: &'static str,
    kind: Kind,
}

impl NativeIntercept {
    /// A tool execution intercept.
    pub fn tool(name: &str, f: ToolExecutionFn) -> Self {
        Self {
            name: name.to_string(),
            family: Family::ToolExecution.label(),
            kind: Kind::Tool(f),
        }
    }

    /// An LLM execution intercept.
    pub fn llm(name: &str, f: LlmExecutionFn) -> Self {
        Self {
            name: name.to_string(),
            family: Family::LlmExecution.label(),
            kind: Kind::Llm(f),
        }
    }
}

#[pymethods]
impl NativeIntercept {
    /// Starts the intercept for the call `call_name` on `value` (tool arguments or an
    /// `LLMRequest`).
    fn start(
        &self,
        py: Python<'_>,
        call_name: &str,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<NativeStep> {
        let slot = Arc::new(Mutex::new(Slot::default()));
        let fut = match &self.kind {
            Kind::Tool(f) => {
                let args = to_json(value, "args")?;
                let s = Arc::clone(&slot);
                let next = Arc::new(move |v| next_call(&s, Payload::Args(v)));
                f(call_name.to_string(), args, next)
            }
            Kind::Llm(f) => {
                let req = request_arg(value, "request")?
                    .borrow()
                    .to_core(py, "request")?;
                let s = Arc::clone(&slot);
                let next = Arc::new(move |r| next_call(&s, Payload::Request(r)));
                f(call_name.to_string(), req, next)
            }
        };
        Ok(NativeStep {
            fut: Mutex::new(Some(fut)),
            slot,
            wakeup: Arc::new(Wakeup::default()),
            name: self.name.clone(),
            family: self.family,
        })
    }

    /// The registration name.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }
}

fn next_call(slot: &Arc<Mutex<Slot>>, p: Payload) -> BoxFuture<Res<Value>> {
    Box::pin(NextCall {
        slot: Arc::clone(slot),
        send: Some(p),
    })
}

/// One run of a native intercept, polled by the Python driver.
#[pyclass(module = "nemo_flow._native")]
pub struct NativeStep {
    /// In a mutex only to make the class `Sync`; the driver polls from one thread.
    fut: Mutex<Option<BoxFuture<Res<Value>>>>,
    slot: Arc<Mutex<Slot>>,
    wakeup: Arc<Wakeup>,
    name: String,
    family: &'static str,
}

impl NativeStep {
    fn lock(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn finished(&self, py: Python<'_>, r: Res<Value>) -> PyResult<(u8, Py<PyAny>)> {
        let raw = self.lock().raw.take();
        match r {
            Ok(v) => match raw {
                Some((obj, json)) if json == v => Ok((DONE, obj)),
                _ => Ok((DONE, to_py(py, &v)?)),
            },
            // An error from the rest of the chain passes through as the original exception;
            // the intercept's own error becomes a MiddlewareError (the core's message).
            Err(e) => Err(original(py, &e).unwrap_or_else(|| {
                to_py_err(
                    py,
                    FlowError::Middleware {
                        family: self.family,
                        name: self.name.clone(),
                        error: Box::new(e),
                    },
                )
            })),
        }
    }
}

#[pymethods]
impl NativeStep {
    /// Polls the intercept: `(DONE, result)`, `(NEXT, value)` or `(PENDING, None)`.
    fn poll(&self, py: Python<'_>) -> PyResult<(u8, Py<PyAny>)> {
        let mut guard = self.fut.lock().unwrap_or_else(|e| e.into_inner());
        let Some(fut) = guard.as_mut() else {
            return Err(crate::errors::ScopeError::new_err(
                "this native intercept has already finished",
            ));
        };
        self.wakeup
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .woken = false;
        let waker = Waker::from(Arc::clone(&self.wakeup));
        let polled = fut.as_mut().poll(&mut Context::from_waker(&waker));
        match polled {
            Poll::Ready(r) => {
                *guard = None;
                drop(guard);
                self.finished(py, r)
            }
            Poll::Pending => match self.lock().asked.take() {
                Some(Payload::Args(v)) => Ok((NEXT, to_py(py, &v)?)),
                Some(Payload::Request(r)) => {
                    Ok((NEXT, PyLlmRequest::from_core(py, &r)?.into_any()))
                }
                None => Ok((PENDING, py.None())),
            },
        }
    }

    /// Answers the intercept's `next` with the rest of the chain's result.
    fn answer(&self, result: &Bound<'_, PyAny>) -> PyResult<()> {
        let json = to_json(result, "result")?;
        let mut slot = self.lock();
        slot.raw = Some((result.clone().unbind(), json.clone()));
        slot.answer = Some(Ok(json));
        Ok(())
    }

    /// Answers the intercept's `next` with the rest of the chain's exception.
    fn answer_error(&self, py: Python<'_>, exc: &Bound<'_, PyAny>) {
        let err = PyErr::from_value(exc.clone());
        let mut slot = self.lock();
        slot.raw = None;
        slot.answer = Some(Err(callback_error(py, err)));
    }

    /// An awaitable that completes when the intercept is woken (async driver).
    fn wait(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let event_loop = py
            .import("asyncio")?
            .call_method0("get_running_loop")?
            .unbind();
        let fut = event_loop.call_method0(py, "create_future")?;
        let mut s = self.wakeup.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.woken {
            fut.call_method1(py, "set_result", (py.None(),))?;
        } else {
            s.waiter = Some((event_loop, fut.clone_ref(py)));
        }
        Ok(fut)
    }

    /// Blocks (without the GIL) until the intercept is woken (sync driver).
    fn block(&self, py: Python<'_>) {
        let w = Arc::clone(&self.wakeup);
        py.detach(move || {
            let mut s = w.state.lock().unwrap_or_else(|e| e.into_inner());
            while !s.woken {
                s = w.cond.wait(s).unwrap_or_else(|e| e.into_inner());
            }
        });
    }
}

/// What a Python execution intercept's own exception becomes: the core's `MiddlewareError`
/// (message and `__cause__`), so the driver never formats it itself.
pub fn intercept_error(
    py: Python<'_>,
    family: Family,
    name: &str,
    exc: &Bound<'_, PyAny>,
) -> Py<PyAny> {
    let error = callback_error(py, PyErr::from_value(exc.clone()));
    let err = to_py_err(
        py,
        FlowError::Middleware {
            family: family.label(),
            name: name.to_string(),
            error: Box::new(error),
        },
    );
    err.into_value(py).into_any()
}

/// A future that is pending once and is woken from another thread (the test hook's "wait").
struct WokenElsewhere {
    done: Arc<std::sync::atomic::AtomicBool>,
    started: bool,
}

impl Future for WokenElsewhere {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        use std::sync::atomic::Ordering;
        if self.done.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        if !self.started {
            self.started = true;
            let (done, waker) = (Arc::clone(&self.done), cx.waker().clone());
            std::thread::spawn(move || {
                done.store(true, Ordering::Release);
                waker.wake();
            });
        }
        Poll::Pending
    }
}

fn woken_elsewhere() -> WokenElsewhere {
    WokenElsewhere {
        done: Arc::default(),
        started: false,
    }
}

fn wrapped(name: &str, inner: Value) -> Value {
    serde_json::json!({"wrapped_by": name, "inner": inner})
}

/// Test-only hook: registers a Rust execution intercept globally in `family`
/// (`tool_execution` or `llm_execution`) that behaves as `mode` says: `wrap` (edits the value,
/// calls `next`, wraps the result), `pass`, `short` (never calls `next`), `fail` (its own
/// error), `retry` (calls `next` again after an error), `twice` (calls `next` twice), `wait`
/// (pending until woken from another thread, then `next`).
#[pyfunction]
pub fn _register_test_intercept(
    py: Python<'_>,
    family: &str,
    name: &str,
    priority: i32,
    mode: &str,
) -> PyResult<()> {
    use nemo_flow_core::middleware::{Execution, global};
    let (n, m) = (name.to_string(), mode.to_string());
    let own_error = move |n: &str| CallbackError::new("PolicyDenied", format!("blocked by {n}"));
    let unknown = || pyo3::exceptions::PyValueError::new_err(format!("unknown test mode {mode:?}"));
    if !["wrap", "pass", "short", "fail", "retry", "twice", "wait"].contains(&mode) {
        return Err(unknown());
    }
    let r = match family {
        "tool_execution" => {
            let f: ToolExecutionFn = Arc::new(move |_call, mut args: Value, next| {
                let (n, m) = (n.clone(), m.clone());
                Box::pin(async move {
                    match m.as_str() {
                        "wrap" => {
                            args["native"] = Value::String(n.clone());
                            Ok(wrapped(&n, next(args).await?))
                        }
                        "short" => Ok(serde_json::json!({"short_circuit": n})),
                        "fail" => Err(own_error(&n)),
                        "retry" => match next(args.clone()).await {
                            Ok(v) => Ok(v),
                            Err(_) => next(args).await,
                        },
                        "twice" => {
                            let a = next(args.clone()).await?;
                            Ok(Value::Array(vec![a, next(args).await?]))
                        }
                        "wait" => {
                            woken_elsewhere().await;
                            next(args).await
                        }
                        _ => next(args).await,
                    }
                })
            });
            global()
                .tool_execution
                .register(name, priority, false, Execution::Native(f))
        }
        "llm_execution" => {
            let f: LlmExecutionFn = Arc::new(move |_call, mut req: LlmRequest, next| {
                let (n, m) = (n.clone(), m.clone());
                Box::pin(async move {
                    match m.as_str() {
                        "wrap" => {
                            req.headers
                                .insert("x-native".into(), Value::String(n.clone()));
                            Ok(wrapped(&n, next(req).await?))
                        }
                        "short" => Ok(serde_json::json!({"short_circuit": n})),
                        "fail" => Err(own_error(&n)),
                        "wait" => {
                            woken_elsewhere().await;
                            next(req).await
                        }
                        _ => next(req).await,
                    }
                })
            });
            global()
                .llm_execution
                .register(name, priority, false, Execution::Native(f))
        }
        _ => return Err(unknown()),
    };
    r.map_err(|e| to_py_err(py, e))
}
