//! Ordering of middleware and subscribers across the global registries and nested
//! scope-local layers, and re-entrant registration from inside callbacks.
//!
//! These tests use the process-global registries, so every test in this binary holds
//! `GLOBAL` and removes its global registrations (even when it fails) before releasing it.

mod common;

use common::{Collector, locals, spec};
use nemo_flow_core::error::Foreign;
use nemo_flow_core::event::Event;
use nemo_flow_core::llm::{AnnotatedLlmRequest, LlmRequest};
use nemo_flow_core::middleware::{
    Execution, LlmRequestIntercept, Subscriber, ToolConditional, ToolRequest, ToolSanitize, global,
};
use nemo_flow_core::pipeline::Lazy;
use nemo_flow_core::pipeline::llm as llm_steps;
use nemo_flow_core::pipeline::tool::{self, ToolOptions};
use nemo_flow_core::scope::{self, visible};
use nemo_flow_core::{ScopeNode, ScopeType};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

static GLOBAL: Mutex<()> = Mutex::new(());

/// Holds the global lock and removes the named global registrations on drop.
struct Globals {
    names: Vec<&'static str>,
    _lock: MutexGuard<'static, ()>,
}

impl Globals {
    fn lock() -> Self {
        Self {
            names: Vec::new(),
            _lock: GLOBAL.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }
}

impl Drop for Globals {
    fn drop(&mut self) {
        let g = global();
        // Remove by name from every family; names in this file are unique.
        for n in &self.names {
            g.tool_request.deregister(n);
            g.tool_sanitize_request.deregister(n);
            g.tool_conditional.deregister(n);
            g.tool_execution.deregister(n);
            g.llm_request.deregister(n);
            g.subscribers.deregister(n);
        }
        let leaked = g.clear();
        if !std::thread::panicking() {
            assert_eq!(leaked, 0, "a test leaked a global registration");
        }
    }
}

fn track(g: &mut Globals, name: &'static str) {
    g.names.push(name);
}

type Log = Arc<Mutex<Vec<String>>>;

fn logging_request(log: &Log, label: &str) -> ToolRequest {
    let log = Arc::clone(log);
    let label = label.to_string();
    Arc::new(move |_: &str, v: Value| {
        log.lock().unwrap().push(label.clone());
        Ok(v)
    })
}

/// A global tool request intercept that only logs calls of `tool` (other tests' calls never
/// reach it anyway, but the filter keeps the log exact).
fn logging_request_for(log: &Log, label: &str, tool: &'static str) -> ToolRequest {
    let log = Arc::clone(log);
    let label = label.to_string();
    Arc::new(move |n: &str, v: Value| {
        if n == tool {
            log.lock().unwrap().push(label.clone());
        }
        Ok(v)
    })
}

fn take(log: &Log) -> Vec<String> {
    std::mem::take(&mut *log.lock().unwrap())
}

#[test]
fn global_and_nested_scope_layers_merge_stably_by_priority() {
    let mut g = Globals::lock();
    let log: Log = Arc::default();
    let t = "merge-tool";
    for (n, p) in [("g-b5", 5), ("g-a5", 5), ("g10", 10)] {
        global()
            .tool_request
            .register(n, p, false, logging_request_for(&log, n, t))
            .unwrap();
    }
    for n in ["g-b5", "g-a5", "g10"] {
        track(&mut g, n);
    }
    let root = ScopeNode::new_root();
    let outer = scope::push(&root, None, spec("outer", ScopeType::Agent)).unwrap();
    let inner = scope::push(&outer, None, spec("inner", ScopeType::Function)).unwrap();
    let lo = locals(&outer);
    lo.tool_request
        .register("o5", 5, false, logging_request(&log, "o5"))
        .unwrap();
    lo.tool_request
        .register("o1", 1, false, logging_request(&log, "o1"))
        .unwrap();
    let li = locals(&inner);
    li.tool_request
        .register("i5-z", 5, false, logging_request(&log, "i5-z"))
        .unwrap();
    li.tool_request
        .register("i5-a", 5, false, logging_request(&log, "i5-a"))
        .unwrap();
    li.tool_request
        .register("i0", 0, false, logging_request(&log, "i0"))
        .unwrap();
    li.tool_request
        .register("i10", 10, false, logging_request(&log, "i10"))
        .unwrap();

    let expected = [
        "i0", "o1", // lowest priorities first, wherever they live
        "g-a5", "g-b5", // priority 5: global first, by name within the registry
        "o5",   // then the outer scope
        "i5-a", "i5-z", // then the inner scope, by name
        "g10", "i10", // priority 10: global before scope-local
    ];
    let names: Vec<String> = visible(&inner, |m| &m.tool_request)
        .iter()
        .map(|e| e.name.to_string())
        .collect();
    assert_eq!(names, expected);

    tool::request_intercepts(&inner, t, &mut Lazy::Ready(json!({}))).unwrap();
    assert_eq!(take(&log), expected);

    // From the outer scope, only the global and outer layers apply.
    tool::request_intercepts(&outer, t, &mut Lazy::Ready(json!({}))).unwrap();
    assert_eq!(take(&log), ["o1", "g-a5", "g-b5", "o5", "g10"]);

    // With no scope-local layer in reach: the global registry alone.
    let bare = ScopeNode::new_root();
    tool::request_intercepts(&bare, t, &mut Lazy::Ready(json!({}))).unwrap();
    assert_eq!(take(&log), ["g-a5", "g-b5", "g10"]);
}

#[test]
fn every_family_uses_the_same_merge_order() {
    let mut g = Globals::lock();
    let log: Log = Arc::default();
    let root = ScopeNode::new_root();
    let events = Collector::on(&root);
    let scope_a = scope::push(&root, None, spec("a", ScopeType::Agent)).unwrap();
    let t = "family-tool";

    let guard = |label: &'static str| -> ToolConditional {
        let log = Arc::clone(&log);
        Arc::new(move |n: &str, _: &Value| {
            if n == t {
                log.lock().unwrap().push(format!("guard:{label}"));
            }
            Ok(None)
        })
    };
    let sanitize = |label: &'static str| -> ToolSanitize {
        let log = Arc::clone(&log);
        Arc::new(move |n: &str, v: Value| {
            if n == t {
                log.lock().unwrap().push(format!("sanitize:{label}"));
            }
            Ok(v)
        })
    };
    global()
        .tool_conditional
        .register("fam-global", 1, false, guard("global"))
        .unwrap();
    track(&mut g, "fam-global");
    global()
        .tool_sanitize_request
        .register("fam-global-s", 2, false, sanitize("global"))
        .unwrap();
    track(&mut g, "fam-global-s");
    locals(&root)
        .tool_conditional
        .register("root", 1, false, guard("root"))
        .unwrap();
    locals(&scope_a)
        .tool_conditional
        .register("a", 0, false, guard("a"))
        .unwrap();
    locals(&root)
        .tool_sanitize_request
        .register("root-s", 2, false, sanitize("root"))
        .unwrap();
    locals(&scope_a)
        .tool_sanitize_request
        .register("a-s", 1, false, sanitize("a"))
        .unwrap();
    global()
        .tool_execution
        .register(
            "fam-exec-global",
            5,
            false,
            Execution::Foreign(Foreign(Arc::new(()))),
        )
        .unwrap();
    track(&mut g, "fam-exec-global");
    locals(&scope_a)
        .tool_execution
        .register(
            "exec-a",
            5,
            false,
            Execution::Foreign(Foreign(Arc::new(()))),
        )
        .unwrap();
    locals(&root)
        .tool_execution
        .register(
            "exec-root",
            6,
            false,
            Execution::Foreign(Foreign(Arc::new(()))),
        )
        .unwrap();

    events.clear();
    let begun = tool::begin(
        &scope_a,
        scope_a.info.uuid,
        t,
        &mut Lazy::Ready(json!({})),
        ToolOptions::default(),
    )
    .unwrap();
    assert_eq!(
        take(&log),
        [
            "guard:a",
            "guard:global",
            "guard:root",
            "sanitize:a",
            "sanitize:global",
            "sanitize:root"
        ]
    );
    let guard_events: Vec<String> = events
        .events()
        .iter()
        .filter(|e| e.is_scope_start() && e.category.as_deref() == Some("guardrail"))
        .map(|e| e.name.to_string())
        .collect();
    assert_eq!(guard_events, ["a", "fam-global", "root"]);
    let exec: Vec<&str> = begun.execution.iter().map(|e| &*e.name).collect();
    assert_eq!(exec, ["fam-exec-global", "exec-a", "exec-root"]);
}

#[test]
fn llm_request_intercepts_merge_the_same_way() {
    let mut g = Globals::lock();
    let log: Log = Arc::default();
    let mk = |label: &'static str| -> LlmRequestIntercept {
        let log = Arc::clone(&log);
        Arc::new(
            move |n: &str, r: LlmRequest, a: Option<AnnotatedLlmRequest>| {
                if n == "order-llm" {
                    log.lock().unwrap().push(label.to_string());
                }
                Ok((r, a))
            },
        )
    };
    global()
        .llm_request
        .register("llm-g", 3, false, mk("llm-g"))
        .unwrap();
    track(&mut g, "llm-g");
    let root = ScopeNode::new_root();
    let a = scope::push(&root, None, spec("a", ScopeType::Agent)).unwrap();
    locals(&root)
        .llm_request
        .register("root", 3, false, mk("root"))
        .unwrap();
    locals(&a)
        .llm_request
        .register("a", 3, false, mk("a"))
        .unwrap();
    locals(&a)
        .llm_request
        .register("a-first", 2, false, mk("a-first"))
        .unwrap();
    llm_steps::request_intercepts(
        &a,
        "order-llm",
        &mut nemo_flow_core::pipeline::LazyOf::Ready(Default::default()),
        None,
    )
    .unwrap();
    assert_eq!(take(&log), ["a-first", "llm-g", "root", "a"]);
}

#[test]
fn subscribers_run_in_registration_order_global_then_outer_to_inner() {
    let mut g = Globals::lock();
    let log: Log = Arc::default();
    let root = ScopeNode::new_root();
    let root_uuid = root.info.root_uuid;
    let sub = |label: &'static str| -> Subscriber {
        let log = Arc::clone(&log);
        Arc::new(move |e: &Arc<Event>| {
            if e.root_uuid == root_uuid && e.kind() == "mark" {
                log.lock().unwrap().push(label.to_string());
            }
            Ok(())
        })
    };
    // Registration order, not name order.
    for n in ["sub-z", "sub-a", "sub-m"] {
        global().subscribers.register(n, 0, false, sub(n)).unwrap();
        track(&mut g, n);
    }
    let outer = scope::push(&root, None, spec("outer", ScopeType::Agent)).unwrap();
    let inner = scope::push(&outer, None, spec("inner", ScopeType::Function)).unwrap();
    // Registered inner first, then outer, then root: delivery is still outer to inner.
    locals(&inner)
        .subscribers
        .register("inner-2", 0, false, sub("inner-2"))
        .unwrap();
    locals(&inner)
        .subscribers
        .register("inner-1", 0, false, sub("inner-1"))
        .unwrap();
    locals(&outer)
        .subscribers
        .register("outer", 0, false, sub("outer"))
        .unwrap();
    locals(&root)
        .subscribers
        .register("root", 0, false, sub("root"))
        .unwrap();

    scope::mark(
        &inner,
        inner.info.uuid,
        "m",
        || Ok(Value::Null),
        || Ok(Value::Null),
        None,
    )
    .unwrap();
    assert_eq!(
        take(&log),
        [
            "sub-z", "sub-a", "sub-m", "root", "outer", "inner-2", "inner-1"
        ]
    );

    // Deregistering keeps the others' order; re-registering goes to the end.
    assert!(global().subscribers.deregister("sub-z"));
    global()
        .subscribers
        .register("sub-z", 0, false, sub("sub-z"))
        .unwrap();
    scope::mark(
        &outer,
        outer.info.uuid,
        "m",
        || Ok(Value::Null),
        || Ok(Value::Null),
        None,
    )
    .unwrap();
    assert_eq!(take(&log), ["sub-a", "sub-m", "sub-z", "root", "outer"]);
}

#[test]
fn a_failing_subscriber_is_counted_and_the_rest_still_run() {
    let mut g = Globals::lock();
    common::install_reporter();
    let root = ScopeNode::new_root();
    let root_uuid = root.info.root_uuid;
    let failing: Subscriber = Arc::new(move |e: &Arc<Event>| {
        if e.root_uuid == root_uuid {
            Err(common::cb_err("ValueError", "subscriber broke"))
        } else {
            Ok(())
        }
    });
    global()
        .subscribers
        .register("failing-sub-3b9", 0, false, failing)
        .unwrap();
    track(&mut g, "failing-sub-3b9");
    let after = Collector::on(&root);
    let before = nemo_flow_core::dispatch::subscriber_error_count();
    let a = scope::push(&root, None, spec("a", ScopeType::Agent)).unwrap();
    scope::pop(&a, &a, Value::Null, None, None).unwrap();
    assert_eq!(after.len(), 2, "later subscribers still receive the events");
    assert!(nemo_flow_core::dispatch::subscriber_error_count() >= before + 2);
    let reports = common::reports_mentioning("failing-sub-3b9");
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0].0, "subscriber 'failing-sub-3b9'");
    assert_eq!(reports[0].1, "ValueError: subscriber broke");
}

/// Runs `f` on another thread and fails (instead of hanging) if it does not finish.
fn within(secs: u64, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    let h = std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) => h.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The closure panicked: surface its panic.
            h.join().unwrap();
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("deadlock: did not finish in {secs}s"),
    }
}

#[test]
fn a_callback_may_register_and_deregister_in_its_own_registry() {
    let mut g = Globals::lock();
    track(&mut g, "reentrant-global");
    track(&mut g, "added-by-global");
    track(&mut g, "reentrant-sub");
    track(&mut g, "added-sub");
    within(10, || {
        let root = ScopeNode::new_root();
        let log: Log = Arc::default();
        let t = "reentrant-tool";

        // A global request intercept that adds another global one and removes itself.
        let log2 = Arc::clone(&log);
        let adder: ToolRequest = Arc::new(move |n: &str, v: Value| {
            if n != t {
                return Ok(v);
            }
            log2.lock().unwrap().push("reentrant-global".into());
            let l3 = Arc::clone(&log2);
            global()
                .tool_request
                .register(
                    "added-by-global",
                    0,
                    false,
                    Arc::new(move |n: &str, v: Value| {
                        if n == "reentrant-tool" {
                            l3.lock().unwrap().push("added-by-global".into());
                        }
                        Ok(v)
                    }),
                )
                .unwrap();
            assert!(global().tool_request.deregister("reentrant-global"));
            Ok(v)
        });
        global()
            .tool_request
            .register("reentrant-global", 1, false, adder)
            .unwrap();

        // A scope-local one on the same scope's registry.
        let l = locals(&root);
        let log4 = Arc::clone(&log);
        let root2 = Arc::clone(&root);
        l.tool_request
            .register(
                "reentrant-local",
                2,
                false,
                Arc::new(move |_: &str, v: Value| {
                    log4.lock().unwrap().push("reentrant-local".into());
                    let mine = root2.locals_or_create().unwrap();
                    let l5 = Arc::clone(&log4);
                    mine.tool_request
                        .register(
                            "added-local",
                            3,
                            false,
                            Arc::new(move |_: &str, v: Value| {
                                l5.lock().unwrap().push("added-local".into());
                                Ok(v)
                            }),
                        )
                        .unwrap();
                    assert!(mine.tool_request.deregister("reentrant-local"));
                    Ok(v)
                }),
            )
            .unwrap();

        // The running call uses its snapshot; the changes apply to the next call.
        tool::request_intercepts(&root, t, &mut Lazy::Ready(json!({}))).unwrap();
        assert_eq!(take(&log), ["reentrant-global", "reentrant-local"]);
        tool::request_intercepts(&root, t, &mut Lazy::Ready(json!({}))).unwrap();
        assert_eq!(take(&log), ["added-by-global", "added-local"]);

        // A subscriber that registers and deregisters subscribers, and pushes a scope.
        let calls = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&calls);
        let root_uuid = root.info.root_uuid;
        let sub: Subscriber = Arc::new(move |e: &Arc<Event>| {
            if e.root_uuid != root_uuid || e.name.as_ref() != "trigger" {
                return Ok(());
            }
            c.fetch_add(1, Ordering::SeqCst);
            global()
                .subscribers
                .register("added-sub", 0, false, Arc::new(|_: &Arc<Event>| Ok(())))
                .unwrap();
            assert!(global().subscribers.deregister("reentrant-sub"));
            Ok(())
        });
        global()
            .subscribers
            .register("reentrant-sub", 0, false, sub)
            .unwrap();
        let scope_sub: Subscriber = {
            let root = Arc::clone(&root);
            Arc::new(move |e: &Arc<Event>| {
                if e.name.as_ref() == "trigger" {
                    // Re-entrant emission from inside a subscriber.
                    let s = scope::push(&root, None, spec("nested", ScopeType::Custom)).unwrap();
                    scope::pop(&s, &s, Value::Null, None, None).unwrap();
                    let l = root.locals_or_create().unwrap();
                    l.subscribers.deregister("scope-sub");
                }
                Ok(())
            })
        };
        locals(&root)
            .subscribers
            .register("scope-sub", 0, false, scope_sub)
            .unwrap();
        let events = Collector::named(&root, "after");
        scope::mark(
            &root,
            root.info.uuid,
            "trigger",
            || Ok(Value::Null),
            || Ok(Value::Null),
            None,
        )
        .unwrap();
        scope::mark(
            &root,
            root.info.uuid,
            "trigger",
            || Ok(Value::Null),
            || Ok(Value::Null),
            None,
        )
        .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1, "deregistered itself");
        assert!(global().subscribers.deregister("added-sub"));
        assert_eq!(
            events.summary(),
            [
                "start:custom:nested",
                "end:custom:nested",
                "mark:trigger",
                "mark:trigger"
            ]
        );
    });
}

#[test]
fn a_guardrail_and_a_sanitizer_may_register_middleware_while_running() {
    let mut g = Globals::lock();
    track(&mut g, "late-guard");
    track(&mut g, "late-sanitizer");
    within(10, || {
        let root = ScopeNode::new_root();
        let _events = Collector::on(&root);
        let guard: ToolConditional = Arc::new(|_: &str, _: &Value| {
            let _ = global().tool_conditional.register(
                "late-guard",
                99,
                false,
                Arc::new(|_: &str, _: &Value| Ok(None)),
            );
            Ok(None)
        });
        locals(&root)
            .tool_conditional
            .register("g", 0, false, guard)
            .unwrap();
        let sanitize: ToolSanitize = Arc::new(|_: &str, v: Value| {
            let _ = global().tool_sanitize_request.register(
                "late-sanitizer",
                0,
                false,
                Arc::new(|_: &str, v: Value| Ok(v)),
            );
            Ok(v)
        });
        locals(&root)
            .tool_sanitize_request
            .register("s", 0, false, sanitize)
            .unwrap();
        let begun = tool::begin(
            &root,
            root.info.uuid,
            "t",
            &mut Lazy::Ready(json!({})),
            ToolOptions::default(),
        )
        .unwrap();
        tool::end(
            &begun.handle,
            nemo_flow_core::pipeline::Outcome::Ok(&mut Lazy::Ready(json!(1))),
            Value::Null,
            None,
        )
        .unwrap();
        assert_eq!(global().tool_conditional.len(), 1);
        assert_eq!(global().tool_sanitize_request.len(), 1);
    });
}

#[test]
fn duplicate_names_are_refused_per_registry_and_change_nothing() {
    let mut g = Globals::lock();
    track(&mut g, "dup-global");
    let noop: ToolRequest = Arc::new(|_: &str, v: Value| Ok(v));
    global()
        .tool_request
        .register("dup-global", 1, false, Arc::clone(&noop))
        .unwrap();
    let err = global()
        .tool_request
        .register("dup-global", 2, true, Arc::clone(&noop))
        .unwrap_err();
    assert!(matches!(err, nemo_flow_core::FlowError::Registration(_)));
    assert_eq!(
        err.to_string(),
        "tool request intercept 'dup-global' is already registered"
    );
    let snap = global().tool_request.snapshot();
    assert_eq!(snap.len(), 1);
    assert_eq!(snap[0].priority, 1);
    assert!(!snap[0].break_chain);
    // The same name may exist in a scope-local registry and in another family.
    let root = ScopeNode::new_root();
    locals(&root)
        .tool_request
        .register("dup-global", 0, false, noop)
        .unwrap();
    global()
        .subscribers
        .register("dup-global", 0, false, Arc::new(|_: &Arc<Event>| Ok(())))
        .unwrap();
    assert_eq!(visible(&root, |m| &m.tool_request).len(), 2);
    let err = global()
        .tool_request
        .register("", 0, false, Arc::new(|_: &str, v: Value| Ok(v)))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "name: tool request intercept name must be a non-empty string"
    );
}

#[test]
fn a_panicking_subscriber_is_reported_and_does_not_disturb_the_call() {
    let _g = Globals::lock();
    common::install_reporter();
    let root = ScopeNode::new_root();
    let before = Collector::named(&root, "before");
    let panicking: Subscriber = Arc::new(|_: &Arc<Event>| panic!("exporter bug 41d7"));
    locals(&root)
        .subscribers
        .register("panicking-sub-41d7", 0, false, panicking)
        .unwrap();
    let after = Collector::named(&root, "after");
    let errors = nemo_flow_core::dispatch::subscriber_error_count();
    let begun = tool::begin(
        &root,
        root.info.uuid,
        "t",
        &mut Lazy::Ready(json!({})),
        ToolOptions::default(),
    )
    .unwrap();
    tool::end(
        &begun.handle,
        nemo_flow_core::pipeline::Outcome::Ok(&mut Lazy::Ready(json!(1))),
        Value::Null,
        None,
    )
    .unwrap();
    assert_eq!(before.summary(), ["start:tool:t", "end:tool:t"]);
    assert_eq!(after.summary(), ["start:tool:t", "end:tool:t"]);
    assert!(nemo_flow_core::dispatch::subscriber_error_count() >= errors + 2);
    let reports = common::reports_mentioning("panicking-sub-41d7");
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0].1, "panic: exporter bug 41d7");
}
