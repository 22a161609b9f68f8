//! Many OS threads and many tokio tasks working under one shared parent scope: no lost
//! events, every event under the right parent, no interference between threads or tasks.
//!
//! Events are collected by one global subscriber keyed by `root_uuid`, so the tests in this
//! binary (each with its own root) never see each other's events.

mod common;

use common::{locals, spec};
use nemo_flow_core::api;
use nemo_flow_core::event::Event;
use nemo_flow_core::middleware::{BoxFuture, ToolRequest, ToolSanitize, global};
use nemo_flow_core::pipeline::tool::{self, ToolOptions};
use nemo_flow_core::pipeline::{Lazy, Outcome};
use nemo_flow_core::scope;
use nemo_flow_core::{CallbackError, ScopeNode, ScopeType, context};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use uuid::Uuid;

type Buckets = Mutex<HashMap<Uuid, Vec<Arc<Event>>>>;

fn buckets() -> &'static Buckets {
    static B: OnceLock<Buckets> = OnceLock::new();
    B.get_or_init(|| {
        global()
            .subscribers
            .register(
                "concurrency-collector",
                0,
                false,
                Arc::new(|e: &Arc<Event>| {
                    buckets()
                        .lock()
                        .unwrap()
                        .entry(e.root_uuid)
                        .or_default()
                        .push(Arc::clone(e));
                    Ok(())
                }),
            )
            .unwrap();
        Mutex::new(HashMap::new())
    })
}

fn events_of(root: &Arc<ScopeNode>) -> Vec<Arc<Event>> {
    buckets()
        .lock()
        .unwrap()
        .remove(&root.info.root_uuid)
        .unwrap_or_default()
}

/// Checks that every span has exactly one start and one end with the same parent, and
/// returns the start events by uuid.
fn check_spans(events: &[Arc<Event>]) -> HashMap<Uuid, Arc<Event>> {
    let mut starts = HashMap::new();
    let mut ends = HashMap::new();
    for e in events.iter().filter(|e| e.scope.is_some()) {
        let map = if e.is_scope_start() {
            &mut starts
        } else {
            &mut ends
        };
        assert!(
            map.insert(e.uuid, Arc::clone(e)).is_none(),
            "duplicate event {e:?}"
        );
    }
    assert_eq!(starts.len(), ends.len());
    for (u, s) in &starts {
        let e = ends.get(u).expect("every start has an end");
        assert_eq!(s.parent_uuid, e.parent_uuid);
        assert_eq!(s.name, e.name);
        assert!(e.timestamp > s.timestamp);
    }
    starts
}

const THREADS: usize = 16;
const ROUNDS: usize = 50;

#[test]
fn sixteen_threads_share_one_parent_without_losing_or_misparenting_events() {
    let _ = buckets();
    let root = ScopeNode::new_root();
    let parent = scope::push(&root, None, spec("shared", ScopeType::Agent)).unwrap();
    // A scope-local sanitizer on the shared parent applies to every thread's calls.
    let sanitize: ToolSanitize = Arc::new(|_: &str, mut v: Value| {
        v["sanitized"] = json!(true);
        Ok(v)
    });
    locals(&parent)
        .tool_sanitize_request
        .register("mark-sanitized", 0, false, sanitize)
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));

    // A churner registers and deregisters scope-local middleware on the shared parent
    // while the workers run.
    let churn = {
        let parent = Arc::clone(&parent);
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let l = parent.locals_or_create().unwrap();
                let noop: ToolRequest = Arc::new(|_: &str, v: Value| Ok(v));
                l.tool_request.register("churn", 5, false, noop).unwrap();
                assert!(l.tool_request.deregister("churn"));
                n += 1;
                std::thread::yield_now();
            }
            n
        })
    };

    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let parent = Arc::clone(&parent);
            std::thread::spawn(move || {
                context::set_thread_scope(Arc::clone(&parent));
                for r in 0..ROUNDS {
                    let s =
                        context::push(spec(&format!("t{t}-r{r}"), ScopeType::Function)).unwrap();
                    // A scope-local intercept visible only to this thread's scope.
                    let tag: ToolRequest = Arc::new(move |_: &str, mut v: Value| {
                        v["thread"] = json!(t);
                        Ok(v)
                    });
                    locals(&s)
                        .tool_request
                        .register("tag", 0, false, tag)
                        .unwrap();
                    let ctx = context::current();
                    assert!(Arc::ptr_eq(&ctx, &s));
                    let begun = tool::begin(
                        &ctx,
                        ctx.info.uuid,
                        &format!("tool-t{t}-r{r}"),
                        &mut Lazy::Ready(json!({"r": r})),
                        ToolOptions::default(),
                    )
                    .unwrap();
                    assert_eq!(begun.args, Some(json!({"r": r, "thread": t})));
                    tool::end(
                        &begun.handle,
                        Outcome::Ok(&mut Lazy::Ready(json!({"t": t, "r": r}))),
                        Value::Null,
                        None,
                    )
                    .unwrap();
                    context::mark("tick", json!({"t": t, "r": r}), Value::Null).unwrap();
                    context::pop(&s, Value::Null, None, None).unwrap();
                    assert!(Arc::ptr_eq(&context::current(), &parent));
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    assert!(churn.join().unwrap() > 0);
    scope::pop(&parent, &parent, Value::Null, None, None).unwrap();

    let events = events_of(&root);
    // Per round: scope start/end, tool start/end, one mark. Plus the parent's pair.
    assert_eq!(events.len(), THREADS * ROUNDS * 5 + 2);
    assert!(events.iter().all(|e| e.root_uuid == root.info.uuid));
    let starts = check_spans(&events);
    let scope_by_name: HashMap<String, Uuid> = starts
        .values()
        .filter(|e| e.category.as_deref() == Some("function"))
        .map(|e| (e.name.to_string(), e.uuid))
        .collect();
    assert_eq!(scope_by_name.len(), THREADS * ROUNDS);
    for s in starts.values() {
        match s.category.as_deref() {
            Some("agent") => assert_eq!(s.parent_uuid, Some(root.info.uuid)),
            Some("function") => assert_eq!(s.parent_uuid, Some(parent.info.uuid)),
            Some("tool") => {
                let scope_name = s.name.strip_prefix("tool-").unwrap();
                assert_eq!(s.parent_uuid, Some(scope_by_name[scope_name]));
                let t: usize = scope_name[1..scope_name.find('-').unwrap()]
                    .parse()
                    .unwrap();
                assert_eq!(
                    s.data.to_value()["thread"],
                    json!(t),
                    "no other thread's intercept ran"
                );
                assert_eq!(s.data.to_value()["sanitized"], json!(true));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let marks: Vec<_> = events.iter().filter(|e| e.kind() == "mark").collect();
    assert_eq!(marks.len(), THREADS * ROUNDS);
    for m in marks {
        let name = format!("t{}-r{}", m.data.to_value()["t"], m.data.to_value()["r"]);
        assert_eq!(m.parent_uuid, Some(scope_by_name[&name]));
    }
    assert!(
        parent.locals().is_none(),
        "the parent's locals went with it"
    );
}

const TASKS: usize = 1_000;

#[test]
fn a_thousand_tokio_tasks_with_inherit_keep_their_own_scopes() {
    let _ = buckets();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(8)
        .enable_all()
        .build()
        .unwrap();
    let root = ScopeNode::new_root();
    let parent = scope::push(&root, None, spec("fanout", ScopeType::Agent)).unwrap();
    context::set_thread_scope(Arc::clone(&parent));

    let results = rt.block_on(async {
        let mut handles = Vec::with_capacity(TASKS);
        for i in 0..TASKS {
            handles.push(tokio::spawn(context::inherit(async move {
                let s = context::push(spec(&format!("task{i}"), ScopeType::Function)).unwrap();
                tokio::task::yield_now().await;
                let out = api::tool_call_execute(
                    &format!("tool{i}"),
                    json!({"i": i}),
                    ToolOptions::default(),
                    move |args| {
                        Box::pin(async move {
                            tokio::task::yield_now().await;
                            Ok(json!({"done": args["i"]}))
                        }) as BoxFuture<Result<Value, CallbackError>>
                    },
                )
                .await
                .unwrap();
                assert_eq!(out, json!({"done": i}));
                tokio::task::yield_now().await;
                context::mark("after-tool", json!({"i": i}), Value::Null).unwrap();
                assert!(
                    Arc::ptr_eq(&context::current(), &s),
                    "still this task's scope"
                );
                context::pop(&s, Value::Null, None, None).unwrap();
                context::current().info.uuid
            })));
        }
        let mut out = Vec::with_capacity(TASKS);
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
    });
    assert!(results.iter().all(|u| *u == parent.info.uuid));
    assert!(Arc::ptr_eq(&context::current(), &parent));
    scope::pop(&parent, &parent, Value::Null, None, None).unwrap();

    let events = events_of(&root);
    assert_eq!(events.len(), TASKS * 5 + 2);
    let starts = check_spans(&events);
    let task_scope: HashMap<String, Uuid> = starts
        .values()
        .filter(|e| e.category.as_deref() == Some("function"))
        .map(|e| (e.name.to_string(), e.uuid))
        .collect();
    assert_eq!(task_scope.len(), TASKS);
    for s in starts.values() {
        match s.category.as_deref() {
            Some("agent") => {}
            Some("function") => {
                assert_eq!(s.parent_uuid, Some(parent.info.uuid), "{} nested", s.name)
            }
            Some("tool") => {
                let i = &s.name["tool".len()..];
                assert_eq!(s.parent_uuid, Some(task_scope[&format!("task{i}")]));
                assert_eq!(s.data, json!({"i": i.parse::<usize>().unwrap()}));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    for m in events.iter().filter(|e| e.kind() == "mark") {
        assert_eq!(
            m.parent_uuid,
            Some(task_scope[&format!("task{}", m.data.to_value()["i"])])
        );
    }
}

#[test]
fn concurrent_global_registration_and_calls_do_not_deadlock() {
    let _ = buckets();
    let root = ScopeNode::new_root();
    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let noop: ToolRequest = Arc::new(|_: &str, v: Value| Ok(v));
                global()
                    .tool_request
                    .register("concurrency-churn", 0, false, noop)
                    .unwrap();
                global().tool_request.deregister("concurrency-churn");
            }
        })
    };
    let workers: Vec<_> = (0..8)
        .map(|t| {
            let root = Arc::clone(&root);
            std::thread::spawn(move || {
                for r in 0..200 {
                    let begun = tool::begin(
                        &root,
                        root.info.uuid,
                        "churned",
                        &mut Lazy::Ready(json!({"t": t, "r": r})),
                        ToolOptions::default(),
                    )
                    .unwrap();
                    // With or without the churned intercept, the args are unchanged.
                    if let Some(a) = &begun.args {
                        assert_eq!(a, &json!({"t": t, "r": r}));
                    }
                    tool::end(
                        &begun.handle,
                        Outcome::Ok(&mut Lazy::Ready(Value::Null)),
                        Value::Null,
                        None,
                    )
                    .unwrap();
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    churn.join().unwrap();
    let events = events_of(&root);
    assert_eq!(events.len(), 8 * 200 * 2);
    check_spans(&events);
}
