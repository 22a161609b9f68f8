//! Managed streaming LLM calls for Rust: [`llm_stream_execute`] opens the call and hands back
//! a [`ManagedLlmStream`] that the core stream driver finishes exactly once, at the
//! upstream's end, on an error, or when the stream is dropped early.

use futures_core::Stream;
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::{Codecs, Res, cancelled, chain_error, foreign_intercept, llm_begin};
use crate::context;
use crate::error::{CallbackError, FlowError, FlowResult, Origin};
use crate::event::ErrorInfo;
use crate::family::Family;
use crate::llm::{LlmRequest, LlmResponseCodec};
use crate::pipeline::llm::{self, LlmHandle, LlmOptions, ResponseAnnotation};
use crate::pipeline::llm_stream::{LlmStreamCall, StreamStop};
use crate::pipeline::{Lazy, LazyOf, Outcome};

/// Called once per chunk as the consumer receives it; an error ends the stream.
pub type Collector = Box<dyn FnMut(&Value) -> Res<()> + Send>;
/// Called once when the stream finishes; returns the end event's response.
pub type Finalizer = Box<dyn FnOnce() -> Res<Value> + Send>;

/// What a managed stream calls as chunks arrive and when it finishes.
pub struct StreamHooks {
    /// Called once per chunk, as the consumer receives it; an error ends the stream.
    pub collector: Collector,
    /// Called once when the stream finishes; its result is the end event's response.
    pub finalizer: Finalizer,
    /// Decodes the finalized response into the end event's annotation.
    pub response_codec: Option<Arc<dyn LlmResponseCodec>>,
}

/// The consumer's view of a managed LLM stream: the upstream's chunks, each marked as it is
/// received. Dropping it before its end finishes the call as abandoned.
pub struct ManagedLlmStream<S> {
    upstream: Pin<Box<S>>,
    call: LlmStreamCall,
    collector: Collector,
    finalizer: Option<Finalizer>,
    response_codec: Option<Arc<dyn LlmResponseCodec>>,
    finalized: Option<Result<Value, CallbackError>>,
}

fn info(e: &CallbackError) -> ErrorInfo {
    ErrorInfo {
        kind: e.kind.clone(),
        message: e.message.clone(),
    }
}

impl<S> ManagedLlmStream<S> {
    /// Whether the stream has finished.
    pub fn is_finished(&self) -> bool {
        self.call.is_finished()
    }

    /// What the finalizer returned (or its error), once the stream has finished.
    pub fn finalized(&self) -> Option<&Result<Value, CallbackError>> {
        self.finalized.as_ref()
    }

    /// Stops consuming: finishes the call now (the finalizer runs once).
    pub fn close(&mut self) -> FlowResult<()> {
        self.finish(StreamStop::Abandoned)
    }

    fn finish(&mut self, stop: StreamStop) -> FlowResult<()> {
        let Some(finalizer) = self.finalizer.take() else {
            return Ok(());
        };
        let annotation = self
            .response_codec
            .as_deref()
            .map_or(ResponseAnnotation::None, ResponseAnnotation::Codec);
        let Some(done) = self.call.finish(stop, finalizer, Value::clone, annotation) else {
            return Ok(());
        };
        self.finalized = Some(done.finalized);
        done.ended
    }
}

impl<S: Stream<Item = Res<Value>>> Stream for ManagedLlmStream<S> {
    type Item = FlowResult<Value>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.call.is_finished() {
            return Poll::Ready(None);
        }
        match this.upstream.as_mut().poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => Poll::Ready(this.finish(StreamStop::Completed).err().map(Err)),
            Poll::Ready(Some(Err(e))) => {
                let _ = this.finish(StreamStop::Failed(info(&e)));
                Poll::Ready(Some(Err(FlowError::Callable(Box::new(e)))))
            }
            Poll::Ready(Some(Ok(chunk))) => {
                let mut lazy = Lazy::Ready(chunk);
                let marked = this.call.chunk(&mut lazy);
                let LazyOf::Ready(chunk) = lazy else {
                    unreachable!("Ready stays Ready")
                };
                if let Err(e) = marked {
                    return Poll::Ready(Some(Err(e)));
                }
                if let Err(e) = (this.collector)(&chunk) {
                    let _ = this.finish(StreamStop::Failed(info(&e)));
                    return Poll::Ready(Some(Err(FlowError::Callable(Box::new(e)))));
                }
                Poll::Ready(Some(Ok(chunk)))
            }
        }
    }
}

impl<S> Drop for ManagedLlmStream<S> {
    fn drop(&mut self) {
        let _ = self.finish(StreamStop::Abandoned);
    }
}

/// Opens a managed streaming LLM call under the current scope (read when this function is
/// called): guardrails, request intercepts and the start event (with the `STREAMING` flag),
/// then `func(request)` opens the upstream. The returned stream marks each chunk as it is
/// received and finishes the call exactly once. Stream execution intercepts registered by a
/// language binding cannot run here: the call then fails with a `MiddlewareError`-class error.
pub fn llm_stream_execute<'a, F, Fut, S>(
    name: &'a str,
    request: LlmRequest,
    opts: LlmOptions,
    codecs: Codecs<'a>,
    func: F,
    hooks: StreamHooks,
) -> impl Future<Output = FlowResult<ManagedLlmStream<S>>> + Send + 'a
where
    F: FnOnce(LlmRequest) -> Fut + Send + 'a,
    Fut: Future<Output = Res<S>> + Send + 'a,
    S: Stream<Item = Res<Value>> + Send + 'a,
{
    let ctx = context::current();
    async move {
        let (begun, request) = llm_begin(&ctx, name, request, codecs, opts, true)?;
        // Ends the call as cancelled if this future is dropped while `func` opens the stream.
        let mut opening = Opening(Some(Arc::clone(&begun.handle)));
        let fail = |e: CallbackError| {
            let _ = llm::end(
                &begun.handle,
                Outcome::Err(info(&e)),
                ResponseAnnotation::None,
                Value::Null,
                None,
            );
            chain_error(Family::LlmStreamExecution.label(), e)
        };
        if let Some(e) = begun.stream_execution.first() {
            return Err(fail(foreign_intercept(&e.name)));
        }
        let upstream = func(request).await.map_err(|mut e| {
            e.origin.get_or_insert(Origin::Callable);
            fail(e)
        })?;
        let handle = opening.0.take().expect("opening is armed until here");
        Ok(ManagedLlmStream {
            upstream: Box::pin(upstream),
            call: LlmStreamCall::new(handle),
            collector: hooks.collector,
            finalizer: Some(hooks.finalizer),
            response_codec: hooks.response_codec,
            finalized: None,
        })
    }
}

/// The call being opened; dropped while still holding it, the call ends as cancelled.
struct Opening(Option<Arc<LlmHandle>>);

impl Drop for Opening {
    fn drop(&mut self) {
        if let Some(h) = self.0.take().filter(|h| !h.span.is_ended()) {
            let _ = llm::end(
                &h,
                Outcome::Err(cancelled()),
                ResponseAnnotation::None,
                Value::Null,
                None,
            );
        }
    }
}
