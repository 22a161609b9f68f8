//! Events → OTLP spans. A start event opens a span, the matching end event closes it; spans
//! nest exactly as the scopes do (the parent span id is derived from `parent_uuid`, the trace
//! id from `root_uuid`). Marks become span events on their open parent, or zero-length spans
//! when the parent is not open. Failed calls get status ERROR and an `exception` event.

use nemo_flow_core::Event;
use nemo_flow_core::clock::Timestamp;
use opentelemetry_proto::tonic::trace::v1::{Span, Status, span, status};
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

use super::attrs::Attrs;
use super::config::Flavor;
use super::conventions;

/// Span events kept per span; more are counted in `dropped_events_count`.
pub const MAX_EVENTS_PER_SPAN: usize = 256;

/// A closed span and how many lifecycle events it stands for.
pub struct Finished {
    /// The span.
    pub span: Span,
    /// Events folded into it (start, end, marks).
    pub events: u64,
}

struct Open {
    span: Span,
    start: Arc<Event>,
    events: u64,
}

/// Tracks open spans of one subscriber.
pub struct Assembler {
    flavor: Flavor,
    open: HashMap<Uuid, Open>,
}

/// The 8-byte span id of a span uuid (its random tail).
pub fn span_id(u: &Uuid) -> Vec<u8> {
    u.as_bytes()[8..].to_vec()
}

fn parent_span_id(e: &Event) -> Vec<u8> {
    match e.parent_uuid {
        Some(p) if p != e.root_uuid => span_id(&p),
        _ => Vec::new(),
    }
}

fn nanos(t: Timestamp) -> u64 {
    t.0.max(0) as u64
}

impl Assembler {
    /// An assembler for `flavor`.
    pub fn new(flavor: Flavor) -> Self {
        Self {
            flavor,
            open: HashMap::new(),
        }
    }

    /// Spans still open.
    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    /// Folds one event in; returns the span it closed, if any.
    pub fn accept(&mut self, e: Arc<Event>) -> Option<Finished> {
        if e.is_scope_start() {
            let span = self.new_span(&e);
            self.open.insert(
                e.uuid,
                Open {
                    span,
                    start: e,
                    events: 1,
                },
            );
            None
        } else if e.is_scope_end() {
            let (mut span, start, events) = match self.open.remove(&e.uuid) {
                Some(o) => (o.span, Some(o.start), o.events + 1),
                // The start was dropped or came before this subscriber: a span from the end alone.
                None => (self.new_span(&e), None, 1),
            };
            self.close(&mut span, start.as_deref(), &e);
            Some(Finished { span, events })
        } else {
            self.mark(e)
        }
    }

    fn new_span(&self, e: &Event) -> Span {
        let mut a = Attrs::default();
        conventions::common_start(&mut a, e);
        conventions::start(self.flavor, &mut a, e);
        Span {
            trace_id: e.root_uuid.as_bytes().to_vec(),
            span_id: span_id(&e.uuid),
            parent_span_id: parent_span_id(e),
            name: conventions::span_name(self.flavor, e),
            kind: conventions::span_kind(e) as i32,
            start_time_unix_nano: nanos(e.timestamp),
            end_time_unix_nano: nanos(e.timestamp),
            attributes: a.0,
            ..Default::default()
        }
    }

    fn close(&self, span: &mut Span, start: Option<&Event>, end: &Event) {
        let mut a = Attrs::default();
        conventions::common_end(&mut a, end);
        conventions::end(self.flavor, &mut a, start, end);
        span.attributes.extend(a.0);
        span.end_time_unix_nano = nanos(end.timestamp).max(span.start_time_unix_nano);
        if let Some(err) = end.scope.as_ref().and_then(|s| s.error.as_ref()) {
            span.status = Some(Status {
                code: status::StatusCode::Error as i32,
                message: format!("{}: {}", err.kind, err.message),
            });
            let mut ea = Attrs::default();
            ea.str("exception.type", &err.kind);
            ea.str("exception.message", &err.message);
            span.events.push(span::Event {
                time_unix_nano: nanos(end.timestamp),
                name: "exception".into(),
                attributes: ea.0,
                dropped_attributes_count: 0,
            });
        }
    }

    fn mark(&mut self, m: Arc<Event>) -> Option<Finished> {
        let mut a = Attrs::default();
        conventions::mark_attrs(&mut a, &m);
        if let Some(parent) = m.parent_uuid.and_then(|p| self.open.get_mut(&p)) {
            parent.events += 1;
            if parent.span.events.len() >= MAX_EVENTS_PER_SPAN {
                parent.span.dropped_events_count += 1;
            } else {
                parent.span.events.push(span::Event {
                    time_unix_nano: nanos(m.timestamp),
                    name: m.name.to_string(),
                    attributes: a.0,
                    dropped_attributes_count: 0,
                });
            }
            return None;
        }
        // No open parent: a zero-length span of its own, still under the parent's id.
        a.bool("nemo_flow.mark.orphan", true);
        conventions::orphan_mark(self.flavor, &mut a);
        let span = Span {
            trace_id: m.root_uuid.as_bytes().to_vec(),
            span_id: span_id(&m.uuid),
            parent_span_id: parent_span_id(&m),
            name: format!("mark:{}", m.name),
            kind: span::SpanKind::Internal as i32,
            start_time_unix_nano: nanos(m.timestamp),
            end_time_unix_nano: nanos(m.timestamp),
            attributes: a.0,
            ..Default::default()
        };
        Some(Finished { span, events: 1 })
    }

    /// Closes every open span at `now` (shutdown), marked `nemo_flow.incomplete`.
    pub fn close_all(&mut self, now: Timestamp) -> Vec<Finished> {
        self.open
            .drain()
            .map(|(_, mut o)| {
                let mut a = Attrs::default();
                a.bool("nemo_flow.incomplete", true);
                o.span.attributes.extend(a.0);
                o.span.end_time_unix_nano = nanos(now).max(o.span.start_time_unix_nano);
                Finished {
                    span: o.span,
                    events: o.events,
                }
            })
            .collect()
    }
}
