//! Span assembly: nesting, marks, errors, spans closed at shutdown.

mod common;

use common::{Run, llm_request, profile_model};
use nemo_flow_core::clock::Timestamp;
use nemo_flow_export::otlp::Flavor;
use nemo_flow_export::otlp::spans::{Assembler, span_id};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::{Value, json};

fn attr<'a>(s: &'a Span, key: &str) -> Option<&'a AnyValue> {
    s.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn str_attr<'a>(s: &'a Span, key: &str) -> Option<&'a str> {
    match attr(s, key) {
        Some(AnyValue::StringValue(v)) => Some(v),
        _ => None,
    }
}

#[test]
fn spans_nest_as_scopes_and_marks_become_events() {
    let mut r = Run::new();
    let mut a = Assembler::new(Flavor::OpenTelemetry);
    let (agent, a0) = r.start(None, "planner", "agent", None, Value::Null);
    let (llm, l0) = r.start(
        Some(agent),
        "openai",
        "llm",
        profile_model("gpt"),
        llm_request("hi"),
    );
    assert!(a.accept(a0).is_none());
    assert!(a.accept(l0).is_none());
    assert!(
        a.accept(r.mark(Some(agent), "checkpoint", json!({"x": 1})))
            .is_none()
    );
    let done = a
        .accept(r.end(
            llm,
            Some(agent),
            "openai",
            "llm",
            profile_model("gpt"),
            json!({"content": "yo", "usage": {"input_tokens": 2, "output_tokens": 1}}),
        ))
        .expect("llm span closes");
    assert_eq!(done.events, 2);
    let s = done.span;
    assert_eq!(s.name, "chat gpt");
    assert_eq!(s.parent_span_id, span_id(&agent));
    assert_eq!(s.trace_id, r.root.as_bytes().to_vec());
    assert_eq!(
        attr(&s, "gen_ai.usage.input_tokens"),
        Some(&AnyValue::IntValue(2))
    );
    assert_eq!(str_attr(&s, "gen_ai.provider.name"), Some("openai"));
    let agent_span = a
        .accept(r.end(agent, None, "planner", "agent", None, Value::Null))
        .unwrap();
    assert_eq!(agent_span.events, 3);
    assert!(agent_span.span.parent_span_id.is_empty());
    assert_eq!(agent_span.span.events.len(), 1);
    assert_eq!(agent_span.span.events[0].name, "checkpoint");
    assert_eq!(a.open_count(), 0);
}

#[test]
fn failures_set_status_error_and_record_the_exception() {
    let mut r = Run::new();
    let mut a = Assembler::new(Flavor::OpenInference);
    let (t, t0) = r.start(None, "fetch", "tool", Some(json!({})), json!({"u": 1}));
    a.accept(t0);
    let s = a
        .accept(r.failed_end(t, None, "fetch", "tool", "ValueError", "bad"))
        .unwrap()
        .span;
    let status = s.status.clone().unwrap();
    assert_eq!(status.code, 2);
    assert_eq!(status.message, "ValueError: bad");
    assert_eq!(s.events[0].name, "exception");
    assert_eq!(str_attr(&s, "openinference.span.kind"), Some("TOOL"));
    assert_eq!(str_attr(&s, "tool.name"), Some("fetch"));
}

#[test]
fn orphans_and_open_spans_are_still_exported() {
    let mut r = Run::new();
    let mut a = Assembler::new(Flavor::OpenTelemetry);
    // An end whose start never arrived still makes a span.
    let lone = Uuid::now_v7();
    let s = a
        .accept(r.end(lone, None, "late", "function", None, json!(1)))
        .unwrap();
    assert_eq!(s.events, 1);
    assert_eq!(s.span.name, "late");
    // A mark with no open parent becomes a zero-length span.
    let m = a.accept(r.mark(None, "note", Value::Null)).unwrap().span;
    assert_eq!(m.name, "mark:note");
    let (_, open) = r.start(None, "never-ends", "function", None, Value::Null);
    a.accept(open);
    let closed = a.close_all(Timestamp(i64::MAX / 2));
    assert_eq!(closed.len(), 1);
    assert_eq!(
        attr(&closed[0].span, "nemo_flow.incomplete"),
        Some(&AnyValue::BoolValue(true))
    );
}

use uuid::Uuid;
