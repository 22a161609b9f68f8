//! The worker-thread side of an OTLP subscriber: assemble spans, batch and encode them, and
//! hand each batch to the sender pool (which delivers, retries, spools and accounts).

use nemo_flow_core::Event;
use nemo_flow_core::clock::Timestamp;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
use std::sync::Arc;
use std::time::Instant;

use super::attrs::Attrs;
use super::pool::{Job, SenderPool};
use super::spans::{Assembler, Finished};
use crate::worker::{Sink, Stats};

pub(crate) struct OtlpSink {
    pub assembler: Assembler,
    pub batch: Vec<Finished>,
    pub max_batch: usize,
    pub resource: Resource,
    pub scope: InstrumentationScope,
    pub pool: SenderPool,
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
    fn encode(&self, spans: Vec<Finished>) -> (Vec<u8>, u64) {
        use prost::Message;
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
        (request.encode_to_vec(), events)
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

    fn export(&mut self, deadline: Instant, closing: bool, _stats: &Stats) {
        if closing {
            let open = self.assembler.close_all(Timestamp::now());
            self.batch.extend(open);
        }
        while !self.batch.is_empty() {
            let n = self.batch.len().min(self.max_batch);
            let chunk: Vec<Finished> = self.batch.drain(..n).collect();
            let (body, events) = self.encode(chunk);
            self.pool.submit(Job {
                body,
                events,
                deadline,
            });
        }
    }

    fn settle(&mut self, deadline: Instant, _stats: &Stats) -> bool {
        self.pool.settle(deadline)
    }

    fn take_failure(&mut self) -> Option<String> {
        self.pool.take_failure()
    }
}
