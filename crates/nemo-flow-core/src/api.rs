//! The async Rust API: managed tool and LLM calls on tokio, over the same pipeline steps the
//! Python binding drives.

use serde_json::Value;
use std::future::Future;
use std::sync::Arc;

use crate::context;
use crate::error::{CallbackError, FlowError, FlowResult, Origin};
use crate::event::ErrorInfo;
use crate::family::Family;
use crate::llm::{LlmCodec, LlmRequest, LlmResponseCodec};
use crate::middleware::{BoxFuture, Execution, LlmNext, ToolNext};
use crate::pipeline::llm::{self, LlmOptions, ResponseAnnotation};
use crate::pipeline::tool::{self, ToolOptions};
use crate::pipeline::{Lazy, LazyOf, Outcome};
use crate::registry::Entry;
use crate::scope::ScopeNode;

mod stream;
pub use stream::{ManagedLlmStream, StreamHooks, llm_stream_execute};

type Res<T> = Result<T, CallbackError>;

fn error_info(e: &CallbackError) -> ErrorInfo {
    ErrorInfo {
        kind: e.kind.clone(),
        message: e.message.clone(),
    }
}

/// Runs its closure when dropped.
struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)()
    }
}

/// The error recorded when a call's future is dropped before the call finished.
fn cancelled() -> ErrorInfo {
    ErrorInfo {
        kind: "Cancelled".into(),
        message: "the call's future was dropped before the call finished".into(),
    }
}

fn chain_error(family: &'static str, e: CallbackError) -> FlowError {
    match e.origin.clone() {
        Some(Origin::Intercept(name)) => FlowError::Middleware {
            family,
            name,
            error: Box::new(e),
        },
        _ => FlowError::Callable(Box::new(e)),
    }
}

fn tag<T>(r: Res<T>, origin: impl FnOnce() -> Origin) -> Res<T> {
    r.map_err(|mut e| {
        e.origin.get_or_insert_with(origin);
        e
    })
}

fn foreign_intercept(name: &str) -> CallbackError {
    let mut e = CallbackError::new(
        "UnsupportedIntercept",
        format!(
            "execution intercept '{name}' belongs to another language binding and cannot run from Rust"
        ),
    );
    e.origin = Some(Origin::Intercept(name.to_string()));
    e
}

fn tool_chain<T: Clone + Send + Sync + 'static>(
    entries: Arc<[Entry<Execution<T>>]>,
    i: usize,
    name: Arc<str>,
    func: ToolNext,
    call: fn(&T, String, Value, ToolNext) -> BoxFuture<Res<Value>>,
) -> ToolNext {
    if i == entries.len() {
        return func;
    }
    Arc::new(move |args| {
        let next = tool_chain(
            Arc::clone(&entries),
            i + 1,
            Arc::clone(&name),
            Arc::clone(&func),
            call,
        );
        let e = &entries[i];
        match &e.callback {
            Execution::Native(f) => {
                let fut = call(f, name.to_string(), args, next);
                let iname = e.name.to_string();
                Box::pin(async move { tag(fut.await, || Origin::Intercept(iname)) })
            }
            Execution::Foreign(_) => {
                let err = foreign_intercept(&e.name);
                Box::pin(async move { Err(err) })
            }
        }
    })
}

/// Runs `func(args)` as a managed tool call under the current scope: guardrails, request
/// intercepts, start event, execution intercepts, end event. The callable's own error comes
/// back as [`FlowError::Callable`].
///
/// The current scope is read when this function is called, not when the future is first
/// polled, so a future spawned onto another task still runs under the caller's scope. If the
/// future is dropped after the start event (a timeout, a `select!`), the end event is still
/// emitted, with a `Cancelled` error.
pub fn tool_call_execute<'a, F, Fut>(
    name: &'a str,
    args: Value,
    opts: ToolOptions,
    func: F,
) -> impl Future<Output = FlowResult<Value>> + Send + 'a
where
    F: Fn(Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Res<Value>> + Send + 'static,
{
    tool_call_in(context::current(), name, args, opts, func)
}

async fn tool_call_in<F, Fut>(
    ctx: Arc<ScopeNode>,
    name: &str,
    args: Value,
    opts: ToolOptions,
    func: F,
) -> FlowResult<Value>
where
    F: Fn(Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Res<Value>> + Send + 'static,
{
    // The lazy value is not `Send`; keep it out of the future's state across the await so
    // the returned future can be spawned on a multi-threaded runtime.
    let (begun, args) = {
        let mut lazy = Lazy::Ready(args);
        let begun = tool::begin(&ctx, ctx.info.uuid, name, &mut lazy, opts)?;
        match lazy {
            LazyOf::Ready(v) => (begun, v),
            LazyOf::Pending(_) => unreachable!("Ready stays Ready"),
        }
    };
    let _end_if_dropped = {
        let handle = Arc::clone(&begun.handle);
        OnDrop(move || {
            if !handle.span.is_ended() {
                let _ = tool::end(&handle, Outcome::Err(cancelled()), Value::Null, None);
            }
        })
    };
    let func = Arc::new(func);
    let base: ToolNext = Arc::new(move |a| {
        let fut = func(a);
        Box::pin(async move { tag(fut.await, || Origin::Callable) })
    });
    let chain = tool_chain(
        begun.execution.clone(),
        0,
        Arc::from(name),
        base,
        |f, n, a, next| f(n, a, next),
    );
    match chain(args).await {
        Ok(v) => {
            let mut out = Lazy::Ready(v);
            tool::end(&begun.handle, Outcome::Ok(&mut out), Value::Null, None)?;
            let LazyOf::Ready(v) = out else {
                unreachable!()
            };
            Ok(v)
        }
        Err(e) => {
            tool::end(
                &begun.handle,
                Outcome::Err(error_info(&e)),
                Value::Null,
                None,
            )?;
            Err(chain_error(Family::ToolExecution.label(), e))
        }
    }
}

fn llm_chain(
    entries: Arc<[Entry<crate::middleware::LlmExecution>]>,
    i: usize,
    name: Arc<str>,
    func: LlmNext,
) -> LlmNext {
    if i == entries.len() {
        return func;
    }
    Arc::new(move |req| {
        let next = llm_chain(
            Arc::clone(&entries),
            i + 1,
            Arc::clone(&name),
            Arc::clone(&func),
        );
        let e = &entries[i];
        match &e.callback {
            Execution::Native(f) => {
                let fut = f(name.to_string(), req, next);
                let iname = e.name.to_string();
                Box::pin(async move { tag(fut.await, || Origin::Intercept(iname)) })
            }
            Execution::Foreign(_) => {
                let err = foreign_intercept(&e.name);
                Box::pin(async move { Err(err) })
            }
        }
    })
}

/// The front half of a managed LLM call from Rust; returns the begun call and the request
/// to send. (The lazy value is not `Send`, so it must not live across an await.)
fn llm_begin(
    ctx: &Arc<ScopeNode>,
    name: &str,
    request: LlmRequest,
    codecs: Codecs<'_>,
    opts: LlmOptions,
    streaming: bool,
) -> FlowResult<(llm::LlmBegin, LlmRequest)> {
    let mut lazy = LazyOf::Ready(request);
    let begun = llm::begin(
        ctx,
        ctx.info.uuid,
        name,
        &mut lazy,
        codecs.request,
        opts,
        streaming,
    )?;
    let LazyOf::Ready(request) = lazy else {
        unreachable!("Ready stays Ready")
    };
    Ok((begun, request))
}

/// Codecs for [`llm_call_execute`].
#[derive(Default, Clone, Copy)]
pub struct Codecs<'a> {
    /// Request codec: intercepts see the annotated request, events record it.
    pub request: Option<&'a dyn LlmCodec>,
    /// Response codec: the end event records the annotated response.
    pub response: Option<&'a dyn LlmResponseCodec>,
}

/// Runs `func(request)` as a managed LLM call under the current scope (read when this
/// function is called; see [`tool_call_execute`], including the end event on cancellation).
pub fn llm_call_execute<'a, F, Fut>(
    name: &'a str,
    request: LlmRequest,
    opts: LlmOptions,
    codecs: Codecs<'a>,
    func: F,
) -> impl Future<Output = FlowResult<Value>> + Send + 'a
where
    F: Fn(LlmRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Res<Value>> + Send + 'static,
{
    llm_call_in(context::current(), name, request, opts, codecs, func)
}

async fn llm_call_in<F, Fut>(
    ctx: Arc<ScopeNode>,
    name: &str,
    request: LlmRequest,
    opts: LlmOptions,
    codecs: Codecs<'_>,
    func: F,
) -> FlowResult<Value>
where
    F: Fn(LlmRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Res<Value>> + Send + 'static,
{
    let (begun, request) = llm_begin(&ctx, name, request, codecs, opts, false)?;
    let _end_if_dropped = {
        let handle = Arc::clone(&begun.handle);
        OnDrop(move || {
            if !handle.span.is_ended() {
                let _ = llm::end(
                    &handle,
                    Outcome::Err(cancelled()),
                    ResponseAnnotation::None,
                    Value::Null,
                    None,
                );
            }
        })
    };
    let func = Arc::new(func);
    let base: LlmNext = Arc::new(move |r| {
        let fut = func(r);
        Box::pin(async move { tag(fut.await, || Origin::Callable) })
    });
    let chain = llm_chain(begun.execution.clone(), 0, Arc::from(name), base);
    let annotation = codecs
        .response
        .map_or(ResponseAnnotation::None, ResponseAnnotation::Codec);
    match chain(request).await {
        Ok(v) => {
            let mut out = Lazy::Ready(v);
            llm::end(
                &begun.handle,
                Outcome::Ok(&mut out),
                annotation,
                Value::Null,
                None,
            )?;
            let LazyOf::Ready(v) = out else {
                unreachable!()
            };
            Ok(v)
        }
        Err(e) => {
            llm::end(
                &begun.handle,
                Outcome::Err(error_info(&e)),
                ResponseAnnotation::None,
                Value::Null,
                None,
            )?;
            Err(chain_error(Family::LlmExecution.label(), e))
        }
    }
}
