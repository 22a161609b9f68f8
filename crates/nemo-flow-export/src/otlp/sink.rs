//! The worker-thread side of an OTLP subscriber: assemble spans, batch them, send them with
//! bounded retries, and account for every event.

use nemo_flow_core::Event;
use nemo_flow_core::clock::Timestamp;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::attrs::Attrs;
use super::spans::{Assembler, Finished};
use super::transport::{SendError, SpanTransport};
use crate::worker::{Sink, Stats};

/// Attempts per batch (the first and two retries), all within the export deadline.
const MAX_ATTEMPTS: u32 = 3;

pub(crate) struct OtlpSink {
    pub assembler: Assembler,
    pub batch: Vec<Finished>,
    pub max_batch: usize,
    pub request_timeout: Duration,
    pub transport: Box<dyn SpanTransport>,
    pub resource: Resource,
    pub scope: InstrumentationScope,
    pub failure: Option<String>,
    pub last_error: Arc<Mutex<Option<String>>>,
}

pub(crate) fn resource(attrs: &std::collections::BTreeMap<String, String>) -> Resource {
    let mut a = Attrs::default();
    for (k, v) in attrs {
        a.str(k, v);
    }
    Resource {
        attributes: a.0,
        ..Default::default()
    }
}

impl OtlpSink {
    fn send(&mut self, spans: Vec<Finished>, deadline: Instant, stats: &Stats) {
        let events: u64 = spans.iter().map(|f| f.events).sum();
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(self.resource.clone()),
                scope_spans: vec![ScopeSpans {
                    scope: Some(self.scope.clone()),
                    spans: spans.into_iter().map(|f| f.span).collect(),
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        };
        let mut error = String::from("export deadline passed before sending");
        for attempt in 0..MAX_ATTEMPTS {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match self
                .transport
                .send(request.clone(), left.min(self.request_timeout))
            {
                Ok(()) => {
                    stats.exported.fetch_add(events, Ordering::Relaxed);
                    return;
                }
                Err(SendError::Permanent(m)) => {
                    error = m;
                    break;
                }
                Err(SendError::Retryable(m, hint)) => {
                    error = m;
                    let backoff = hint.unwrap_or(Duration::from_millis(100 << attempt));
                    if attempt + 1 == MAX_ATTEMPTS || Instant::now() + backoff >= deadline {
                        break;
                    }
                    std::thread::sleep(backoff);
                }
            }
        }
        stats.failed.fetch_add(events, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error.clone());
        self.failure.get_or_insert(error);
    }
}

impl Sink for OtlpSink {
    fn accept(&mut self, event: Arc<Event>, _stats: &Stats) {
        if let Some(f) = self.assembler.accept(event) {
            self.batch.push(f);
        }
    }

    fn batch_full(&self) -> bool {
        self.batch.len() >= self.max_batch
    }

    fn has_pending(&self) -> bool {
        !self.batch.is_empty()
    }

    fn export(&mut self, deadline: Instant, closing: bool, stats: &Stats) {
        if closing {
            let open = self.assembler.close_all(Timestamp::now());
            self.batch.extend(open);
        }
        while !self.batch.is_empty() {
            let n = self.batch.len().min(self.max_batch);
            let chunk: Vec<Finished> = self.batch.drain(..n).collect();
            self.send(chunk, deadline, stats);
        }
    }

    fn take_failure(&mut self) -> Option<String> {
        self.failure.take()
    }
}
