//! The Rust managed stream (`api::llm_stream_execute`) and the core stream driver under it:
//! one mark per chunk as it is received, the finalizer once, one end event however the
//! stream stops (end, upstream error, collector error, close, drop), finalizer errors recorded.

mod common;

use common::{Collector, cb_err, install_reporter, reports_mentioning, thread_root};
use futures_util::stream::{self, StreamExt};
use nemo_flow_core::api::{self, Codecs, StreamHooks};
use nemo_flow_core::error::CallbackError;
use nemo_flow_core::event::ErrorInfo;
use nemo_flow_core::llm::LlmRequest;
use nemo_flow_core::pipeline::llm::LlmOptions;
use nemo_flow_core::{Event, FlowError};
use serde_json::{Map, Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

type Res<T> = Result<T, CallbackError>;

fn request() -> LlmRequest {
    LlmRequest {
        headers: Map::new(),
        content: json!({"messages": [], "stream": true}),
    }
}

/// Hooks that record what they saw; the finalizer returns `{"n": chunks}` (or `fails`).
fn hooks(
    seen: &Arc<Mutex<Vec<Value>>>,
    finalized: &Arc<AtomicUsize>,
    fails: Option<CallbackError>,
) -> StreamHooks {
    let s = Arc::clone(seen);
    let s2 = Arc::clone(seen);
    let f = Arc::clone(finalized);
    StreamHooks {
        collector: Box::new(move |c| {
            s.lock().unwrap().push(c.clone());
            Ok(())
        }),
        finalizer: Box::new(move || {
            f.fetch_add(1, Ordering::SeqCst);
            match fails {
                Some(e) => Err(e),
                None => Ok(json!({"n": s2.lock().unwrap().len()})),
            }
        }),
        response_codec: None,
    }
}

type Upstream = stream::Iter<std::vec::IntoIter<Res<Value>>>;

/// Opens a managed stream named `m` over `items` with `hooks`.
async fn open(items: Vec<Res<Value>>, hooks: StreamHooks) -> api::ManagedLlmStream<Upstream> {
    let opts = LlmOptions::default();
    api::llm_stream_execute(
        "m",
        request(),
        opts,
        Codecs::default(),
        |_req| async { Ok(stream::iter(items)) },
        hooks,
    )
    .await
    .unwrap()
}

fn chunks(n: usize) -> Vec<Res<Value>> {
    (0..n).map(|i| Ok(json!({"i": i}))).collect()
}

fn ends(events: &Collector) -> Vec<Arc<Event>> {
    events
        .events()
        .into_iter()
        .filter(|e| e.is_scope_end())
        .collect()
}

fn marks(events: &Collector) -> usize {
    events
        .events()
        .iter()
        .filter(|e| &*e.name == "llm.chunk")
        .count()
}

fn error_of(e: &Event) -> Option<ErrorInfo> {
    e.scope.as_ref().unwrap().error.clone()
}

#[tokio::test]
async fn a_stream_consumed_to_its_end_marks_each_chunk_and_ends_once() {
    let root = thread_root();
    let events = Collector::on(&root);
    let (seen, finalized) = (Arc::default(), Arc::default());
    let s = open(chunks(3), hooks(&seen, &finalized, None)).await;
    let got: Vec<Value> = s.map(Result::unwrap).collect().await;
    assert_eq!(got, [json!({"i": 0}), json!({"i": 1}), json!({"i": 2})]);
    assert_eq!(finalized.load(Ordering::SeqCst), 1);
    assert_eq!(marks(&events), 3);
    let start = &events.events()[0];
    assert!(start.is_scope_start());
    assert!(
        start
            .scope
            .as_ref()
            .unwrap()
            .attributes
            .contains(&"streaming")
    );
    let ends = ends(&events);
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0].data, json!({"n": 3}));
    assert_eq!(error_of(&ends[0]), None);
}

#[tokio::test]
async fn marks_follow_the_consumer_and_a_dropped_stream_is_abandoned_once() {
    let root = thread_root();
    let events = Collector::on(&root);
    let (seen, finalized) = (Arc::default(), Arc::default());
    let mut s = open(chunks(10), hooks(&seen, &finalized, None)).await;
    assert_eq!(s.next().await.unwrap().unwrap(), json!({"i": 0}));
    assert_eq!(marks(&events), 1);
    assert!(ends(&events).is_empty());
    drop(s);
    assert_eq!(finalized.load(Ordering::SeqCst), 1);
    let ends = ends(&events);
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0].data, json!({"n": 1}));
}

#[tokio::test]
async fn close_finishes_now_and_the_stream_then_yields_nothing() {
    let root = thread_root();
    let events = Collector::on(&root);
    let (seen, finalized) = (Arc::default(), Arc::default());
    let mut s = open(chunks(10), hooks(&seen, &finalized, None)).await;
    s.next().await;
    s.close().unwrap();
    s.close().unwrap();
    assert!(s.is_finished());
    assert!(s.next().await.is_none());
    assert_eq!(s.finalized().unwrap().as_ref().unwrap(), &json!({"n": 1}));
    drop(s);
    assert_eq!(finalized.load(Ordering::SeqCst), 1);
    assert_eq!(ends(&events).len(), 1);
}

#[tokio::test]
async fn an_upstream_error_ends_the_call_with_it_and_reaches_the_consumer() {
    let root = thread_root();
    let events = Collector::on(&root);
    let (seen, finalized) = (Arc::default(), Arc::default());
    let items = vec![Ok(json!({"i": 0})), Err(cb_err("ConnectionError", "reset"))];
    let mut s = open(items, hooks(&seen, &finalized, None)).await;
    assert!(s.next().await.unwrap().is_ok());
    match s.next().await {
        Some(Err(FlowError::Callable(e))) => assert_eq!(e.kind, "ConnectionError"),
        other => panic!("expected the upstream error, got {other:?}"),
    }
    assert!(s.next().await.is_none());
    assert_eq!(finalized.load(Ordering::SeqCst), 1);
    let ends = ends(&events);
    assert_eq!(ends.len(), 1);
    assert_eq!(error_of(&ends[0]).unwrap().kind, "ConnectionError");
}

#[tokio::test]
async fn a_collector_error_ends_the_stream_with_it() {
    let root = thread_root();
    let events = Collector::on(&root);
    let finalized = Arc::new(AtomicUsize::new(0));
    let f = Arc::clone(&finalized);
    let hooks = StreamHooks {
        collector: Box::new(|c| match c["i"].as_u64() {
            Some(1) => Err(cb_err("KeyError", "collector")),
            _ => Ok(()),
        }),
        finalizer: Box::new(move || {
            f.fetch_add(1, Ordering::SeqCst);
            Ok(Value::Null)
        }),
        response_codec: None,
    };
    let s = open(chunks(5), hooks).await;
    let got: Vec<_> = s.collect().await;
    assert_eq!(got.len(), 2);
    assert!(matches!(&got[1], Err(FlowError::Callable(e)) if e.kind == "KeyError"));
    assert_eq!(finalized.load(Ordering::SeqCst), 1);
    assert_eq!(error_of(&ends(&events)[0]).unwrap().kind, "KeyError");
}

#[tokio::test]
async fn a_finalizer_error_is_recorded_on_the_end_event_and_reported() {
    install_reporter();
    let root = thread_root();
    let events = Collector::on(&root);
    let (seen, finalized) = (Arc::default(), Arc::default());
    let s = api::llm_stream_execute(
        "finalizer-error-stream",
        request(),
        LlmOptions {
            data: json!({"app": 1}),
            ..LlmOptions::default()
        },
        Codecs::default(),
        |_req| async { Ok(stream::iter(chunks(2))) },
        hooks(&seen, &finalized, Some(cb_err("RuntimeError", "no"))),
    )
    .await
    .unwrap();
    let got: Vec<_> = s.collect().await;
    assert_eq!(got.len(), 2);
    let end = &ends(&events)[0];
    assert_eq!(
        error_of(end),
        Some(ErrorInfo {
            kind: "RuntimeError".into(),
            message: "no".into()
        })
    );
    assert_eq!(end.data, json!({"app": 1}));
    assert!(
        reports_mentioning("stream finalizer")
            .iter()
            .any(|(_, e)| e.contains("RuntimeError: no"))
    );
}

#[tokio::test]
async fn func_failing_to_open_the_stream_ends_the_call_with_its_error() {
    let root = thread_root();
    let events = Collector::on(&root);
    let (seen, finalized) = (Arc::default(), Arc::default());
    let r = api::llm_stream_execute(
        "m",
        request(),
        LlmOptions::default(),
        Codecs::default(),
        |_req| async {
            Err::<stream::Iter<std::vec::IntoIter<Res<Value>>>, _>(cb_err("Refused", "no"))
        },
        hooks(&seen, &finalized, None),
    )
    .await;
    assert!(matches!(r, Err(FlowError::Callable(e)) if e.kind == "Refused"));
    assert_eq!(finalized.load(Ordering::SeqCst), 0);
    assert_eq!(error_of(&ends(&events)[0]).unwrap().kind, "Refused");
}

#[tokio::test]
async fn dropping_the_future_while_the_stream_opens_ends_the_call_as_cancelled() {
    let root = thread_root();
    let events = Collector::on(&root);
    let (seen, finalized) = (Arc::default(), Arc::default());
    let opening = api::llm_stream_execute(
        "m",
        request(),
        LlmOptions::default(),
        Codecs::default(),
        |_req| async {
            std::future::pending::<()>().await;
            Ok(stream::iter(chunks(1)))
        },
        hooks(&seen, &finalized, None),
    );
    let timed_out = tokio::time::timeout(std::time::Duration::from_millis(1), opening).await;
    assert!(timed_out.is_err());
    let ends = ends(&events);
    assert_eq!(ends.len(), 1);
    assert_eq!(error_of(&ends[0]).unwrap().kind, "Cancelled");
    assert_eq!(finalized.load(Ordering::SeqCst), 0);
}
