//! The stream driver: a managed streaming LLM call from its first chunk to its one end event.
//! Every binding (and [`crate::api::llm_stream_execute`]) feeds it the chunks the consumer
//! receives and tells it how the stream stopped; it numbers the chunks, emits their marks, and
//! finishes exactly once, running the finalizer once and recording its failure.

use serde_json::Value;
use std::sync::Arc;

use super::llm::{self, LlmHandle, ResponseAnnotation};
use super::{Lazy, Outcome};
use crate::dispatch::report;
use crate::error::{CallbackError, FlowError, FlowResult};
use crate::event::ErrorInfo;

/// How a stream stopped.
#[derive(Debug, Clone)]
pub enum StreamStop {
    /// The upstream ran out.
    Completed,
    /// The consumer stopped early (`break`, `close`) or dropped the stream.
    Abandoned,
    /// The upstream or the collector failed.
    Failed(ErrorInfo),
}

/// What [`LlmStreamCall::finish`] did.
pub struct Finished<T> {
    /// What the finalizer returned, or its error (already recorded on the end event when the
    /// stream itself had not failed, reported otherwise), for the caller to hand on.
    pub finalized: Result<T, CallbackError>,
    /// Whether the end event could be recorded.
    pub ended: FlowResult<()>,
}

/// A streaming LLM call between `begin` and its end event.
#[derive(Debug)]
pub struct LlmStreamCall {
    handle: Arc<LlmHandle>,
    chunks: u64,
    finished: bool,
}

impl LlmStreamCall {
    /// Drives the call `handle` (opened by [`llm::begin`] with `streaming`).
    pub fn new(handle: Arc<LlmHandle>) -> Self {
        Self {
            handle,
            chunks: 0,
            finished: false,
        }
    }

    /// The open call.
    pub fn handle(&self) -> &Arc<LlmHandle> {
        &self.handle
    }

    /// Whether the stream has finished (its finalizer has run).
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// How many chunks the consumer has received.
    pub fn chunk_count(&self) -> u64 {
        self.chunks
    }

    /// Records the next chunk the consumer receives: its `llm.chunk` mark.
    pub fn chunk(&mut self, chunk: &mut Lazy<'_>) -> FlowResult<()> {
        if self.finished {
            return Err(FlowError::Scope(format!(
                "LLM stream '{}' ({}) has already finished",
                self.handle.span.info.name, self.handle.span.info.uuid
            )));
        }
        let i = self.chunks;
        self.chunks += 1;
        llm::chunk(&self.handle, i, chunk)
    }

    /// Finishes the stream once: runs `finalize`, then emits the end event. The end event
    /// records the stream's own error if it failed, else the finalizer's error if it failed,
    /// else the finalizer's result (`response` turns it into JSON, only when someone reads
    /// it). Returns `None` when the stream had already finished.
    pub fn finish<T>(
        &mut self,
        stop: StreamStop,
        finalize: impl FnOnce() -> Result<T, CallbackError>,
        response: impl FnOnce(&T) -> Value,
        annotation: ResponseAnnotation<'_>,
    ) -> Option<Finished<T>> {
        if self.finished {
            return None;
        }
        self.finished = true;
        let finalized = finalize();
        let failure = match (stop, &finalized) {
            (StreamStop::Failed(e), Err(fe)) => {
                report("stream finalizer", fe);
                Some(e)
            }
            (StreamStop::Failed(e), Ok(_)) => Some(e),
            (_, Err(fe)) => {
                report("stream finalizer", fe);
                Some(ErrorInfo {
                    kind: fe.kind.clone(),
                    message: fe.message.clone(),
                })
            }
            (_, Ok(_)) => None,
        };
        let h = &self.handle;
        let ended = match (failure, &finalized) {
            (Some(e), _) => llm::end(
                h,
                Outcome::Err(e),
                ResponseAnnotation::None,
                Value::Null,
                None,
            ),
            (None, Ok(v)) => {
                let mut lazy = Lazy::pending(|| Ok(response(v)));
                llm::end(h, Outcome::Ok(&mut lazy), annotation, Value::Null, None)
            }
            (None, Err(_)) => unreachable!("a finalizer error is a failure"),
        };
        Some(Finished { finalized, ended })
    }
}
