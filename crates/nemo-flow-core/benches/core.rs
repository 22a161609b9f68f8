//! Criterion benches of the core's own cost, without any binding: scope push/pop, a tool
//! call's begin/end with and without a subscriber, and event serialization.

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use nemo_flow_core::pipeline::tool::{self, ToolOptions};
use nemo_flow_core::pipeline::{Lazy, Outcome};
use nemo_flow_core::scope::{self, ScopeNode, ScopeSpec};
use nemo_flow_core::{Event, ScopeType};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

fn push_pop(c: &mut Criterion) {
    let root = ScopeNode::new_root();
    c.bench_function("scope push+pop", |b| {
        b.iter(|| {
            let s = scope::push(&root, None, ScopeSpec::new("s", ScopeType::Agent)).unwrap();
            scope::pop(&s, &s, Value::Null, None, None).unwrap();
        })
    });
}

fn tool_call(c: &mut Criterion, name: &str, subscribed: bool) {
    let root = ScopeNode::new_root();
    let sink: Arc<Mutex<Vec<Arc<Event>>>> = Arc::default();
    if subscribed {
        let s = Arc::clone(&sink);
        root.locals_or_create()
            .unwrap()
            .subscribers
            .register(
                "bench",
                0,
                false,
                Arc::new(move |e: &Arc<Event>| {
                    s.lock().unwrap().push(Arc::clone(e));
                    Ok(())
                }),
            )
            .unwrap();
    }
    c.bench_function(name, |b| {
        b.iter(|| {
            let mut args = Lazy::Ready(json!({"query": "x"}));
            let begun = tool::begin(
                &root,
                root.info.uuid,
                "search",
                &mut args,
                ToolOptions::default(),
            )
            .unwrap();
            let mut out = Lazy::Ready(json!({"ok": true}));
            tool::end(&begun.handle, Outcome::Ok(&mut out), Value::Null, None).unwrap();
            sink.lock().unwrap().clear();
        })
    });
}

fn tool_calls(c: &mut Criterion) {
    tool_call(c, "tool begin+end, no subscriber", false);
    tool_call(c, "tool begin+end, one subscriber", true);
}

fn event_json(c: &mut Criterion) {
    let root = ScopeNode::new_root();
    let sink: Arc<Mutex<Vec<Arc<Event>>>> = Arc::default();
    let s = Arc::clone(&sink);
    root.locals_or_create()
        .unwrap()
        .subscribers
        .register(
            "capture",
            0,
            false,
            Arc::new(move |e: &Arc<Event>| {
                s.lock().unwrap().push(Arc::clone(e));
                Ok(())
            }),
        )
        .unwrap();
    let mut args = Lazy::Ready(json!({"query": "x", "filters": {"lang": "en", "top_k": 5}}));
    tool::begin(
        &root,
        root.info.uuid,
        "search",
        &mut args,
        ToolOptions::default(),
    )
    .unwrap();
    let event = Arc::clone(&sink.lock().unwrap()[0]);
    c.bench_function("event to_json_string", |b| {
        b.iter(|| black_box(event.to_json_string()))
    });
}

criterion_group!(benches, push_pop, tool_calls, event_json);
criterion_main!(benches);
