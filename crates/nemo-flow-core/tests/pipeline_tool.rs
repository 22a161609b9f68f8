//! The managed tool pipeline as synchronous steps: conditional guardrails, request
//! intercepts, sanitize + start event, and sanitize + end event.

mod common;

use common::{Collector, cb_err, install_reporter, locals, reports_mentioning, scope_err, spec};
use nemo_flow_core::clock::Timestamp;
use nemo_flow_core::error::Foreign;
use nemo_flow_core::event::ErrorInfo;
use nemo_flow_core::middleware::{
    Execution, LlmConditional, ToolConditional, ToolRequest, ToolSanitize,
};
use nemo_flow_core::pipeline::tool::{self, ToolBegin, ToolOptions};
use nemo_flow_core::pipeline::{Lazy, LazyOf, Outcome, redaction_marker};
use nemo_flow_core::scope;
use nemo_flow_core::{FlowError, FlowResult, ScopeNode, ScopeType, ToolAttributes};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

fn begin(
    ctx: &Arc<ScopeNode>,
    name: &str,
    args: Value,
    opts: ToolOptions,
) -> FlowResult<ToolBegin> {
    tool::begin(ctx, ctx.info.uuid, name, &mut Lazy::Ready(args), opts)
}

fn end_ok(h: &tool::ToolHandle, v: Value) -> FlowResult<()> {
    tool::end(h, Outcome::Ok(&mut Lazy::Ready(v)), Value::Null, None)
}

fn conditional(
    f: impl Fn(&str, &Value) -> Option<String> + Send + Sync + 'static,
) -> ToolConditional {
    Arc::new(move |n: &str, a: &Value| Ok(f(n, a)))
}

fn request(f: impl Fn(Value) -> Value + Send + Sync + 'static) -> ToolRequest {
    Arc::new(move |_: &str, v: Value| Ok(f(v)))
}

fn sanitizer(f: impl Fn(Value) -> Value + Send + Sync + 'static) -> ToolSanitize {
    Arc::new(move |_: &str, v: Value| Ok(f(v)))
}

fn with_meta(metadata: Value) -> ToolOptions {
    ToolOptions {
        metadata,
        ..ToolOptions::default()
    }
}

#[test]
fn a_rejecting_guardrail_emits_scope_pairs_and_a_mark_and_no_tool_start() {
    let root = ScopeNode::new_root();
    let events = Collector::on(&root);
    let agent = scope::push(&root, None, spec("agent", ScopeType::Agent)).unwrap();
    // The resolved parent may differ from the context scope: events use the parent.
    let parent = ScopeNode::new_root().info.uuid;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    let l = locals(&agent);
    l.tool_conditional
        .register(
            "allow",
            1,
            false,
            conditional(move |n, a| {
                s.lock().unwrap().push((n.to_string(), a.clone()));
                None
            }),
        )
        .unwrap();
    l.tool_conditional
        .register(
            "deny",
            2,
            false,
            conditional(|_, a| (a["q"] == "drop tables").then(|| "bad query".to_string())),
        )
        .unwrap();
    let later_ran = Arc::new(AtomicBool::new(false));
    let lr = Arc::clone(&later_ran);
    l.tool_conditional
        .register(
            "never",
            3,
            false,
            conditional(move |_, _| {
                lr.store(true, Ordering::SeqCst);
                None
            }),
        )
        .unwrap();
    let intercept_ran = Arc::new(AtomicBool::new(false));
    let ir = Arc::clone(&intercept_ran);
    l.tool_request
        .register(
            "req",
            0,
            false,
            request(move |v| {
                ir.store(true, Ordering::SeqCst);
                v
            }),
        )
        .unwrap();
    events.clear();

    let err = tool::begin(
        &agent,
        parent,
        "search",
        &mut Lazy::Ready(json!({"q": "drop tables"})),
        with_meta(json!({"tm": 1})),
    )
    .err()
    .expect("rejected");
    match &err {
        FlowError::GuardrailRejected { guardrail, reason } => {
            assert_eq!(guardrail, "deny");
            assert_eq!(reason, "bad query");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.to_string(), "guardrail rejected: bad query");
    assert_eq!(
        *seen.lock().unwrap(),
        [("search".to_string(), json!({"q": "drop tables"}))]
    );
    assert!(
        !later_ran.load(Ordering::SeqCst),
        "the first rejection stops the chain"
    );
    assert!(
        !intercept_ran.load(Ordering::SeqCst),
        "no request intercepts after a rejection"
    );

    assert_eq!(
        events.summary(),
        [
            "start:guardrail:allow",
            "end:guardrail:allow",
            "start:guardrail:deny",
            "end:guardrail:deny",
            "mark:search"
        ]
    );
    let ev = events.events();
    let start_data = json!({"kind": "tool_conditional_execution", "target_name": "search"});
    assert_eq!(
        ev[0].data, start_data,
        "raw arguments stay out of the guardrail event"
    );
    assert_eq!(ev[1].data, json!({"allowed": true, "rejected": false}));
    assert_eq!(ev[2].data, start_data);
    assert_eq!(
        ev[3].data,
        json!({"allowed": false, "rejected": true, "rejection_reason": "bad query"})
    );
    for e in &ev[..4] {
        let j = e.to_json_value();
        assert_eq!(j["category"], "guardrail");
        assert_eq!(j["category_profile"], Value::Null);
        assert_eq!(j["attributes"], json!([]));
        assert_eq!(j["metadata"], json!({"tm": 1}));
        assert_eq!(e.parent_uuid, Some(parent));
        assert_eq!(e.root_uuid, root.info.uuid);
    }
    assert_eq!(ev[0].uuid, ev[1].uuid);
    assert_eq!(ev[2].uuid, ev[3].uuid);
    assert_ne!(ev[0].uuid, ev[2].uuid);
    assert!(ev[1].timestamp > ev[0].timestamp && ev[3].timestamp > ev[2].timestamp);
    let mark = ev[4].to_json_value();
    assert_eq!(mark["kind"], "mark");
    assert_eq!(mark["category"], Value::Null);
    assert_eq!(
        mark["data"],
        json!({"rejected": true, "rejection_reason": "bad query"})
    );
    assert_eq!(mark["metadata"], json!({"tm": 1}));
    assert_eq!(ev[4].parent_uuid, Some(parent));

    // An allowed call gets the guardrail pairs, then the tool start.
    events.clear();
    let ok = begin(
        &agent,
        "search",
        json!({"q": "cats"}),
        ToolOptions::default(),
    )
    .unwrap();
    assert_eq!(
        events.summary(),
        [
            "start:guardrail:allow",
            "end:guardrail:allow",
            "start:guardrail:deny",
            "end:guardrail:deny",
            "start:guardrail:never",
            "end:guardrail:never",
            "start:tool:search"
        ]
    );
    assert_eq!(events.events()[6].uuid, ok.handle.span.info.uuid);
}

#[test]
fn a_failing_guardrail_is_a_middleware_error_without_a_mark() {
    let root = ScopeNode::new_root();
    let events = Collector::on(&root);
    locals(&root)
        .tool_conditional
        .register(
            "broken",
            0,
            false,
            Arc::new(|_: &str, _: &Value| Err(cb_err("ValueError", "boom"))),
        )
        .unwrap();
    let err = begin(&root, "t", json!({}), ToolOptions::default())
        .err()
        .unwrap();
    match &err {
        FlowError::Middleware {
            family,
            name,
            error,
        } => {
            assert_eq!(*family, "tool conditional-execution guardrail");
            assert_eq!(name, "broken");
            assert_eq!(error.kind, "ValueError");
            assert_eq!(error.message, "boom");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "tool conditional-execution guardrail 'broken' failed: ValueError: boom"
    );
    assert_eq!(
        events.summary(),
        ["start:guardrail:broken", "end:guardrail:broken"]
    );
    assert_eq!(
        events.events()[1].data,
        json!({"allowed": false, "error": "ValueError: boom"})
    );
}

#[test]
fn check_guardrails_without_mark_still_emits_guardrail_scopes() {
    let root = ScopeNode::new_root();
    let events = Collector::on(&root);
    locals(&root)
        .tool_conditional
        .register("deny", 0, false, conditional(|_, _| Some("no".into())))
        .unwrap();
    let err = tool::check_guardrails(
        &root,
        root.info.uuid,
        "t",
        &mut Lazy::Ready(json!(1)),
        &Value::Null,
        false,
    )
    .unwrap_err();
    assert!(matches!(err, FlowError::GuardrailRejected { .. }));
    assert_eq!(
        events.summary(),
        ["start:guardrail:deny", "end:guardrail:deny"]
    );
    assert_eq!(events.events()[0].metadata, Value::Null);
}

#[test]
fn request_intercepts_run_in_priority_order_and_break_chain_stops_them() {
    let root = ScopeNode::new_root();
    let events = Collector::on(&root);
    let l = locals(&root);
    let add = |k: &'static str| {
        request(move |mut v| {
            v[k] = json!(true);
            v
        })
    };
    l.tool_request.register("c", 3, false, add("c")).unwrap();
    l.tool_request.register("b", 2, true, add("b")).unwrap();
    l.tool_request.register("a", 1, false, add("a")).unwrap();

    let begun = begin(&root, "t", json!({"x": 1}), ToolOptions::default()).unwrap();
    let expected = json!({"x": 1, "a": true, "b": true});
    assert_eq!(
        begun.args,
        Some(expected.clone()),
        "the callable gets the intercepted args"
    );
    assert_eq!(events.events()[0].data, expected);

    // Directly through the step function; the lazy value is replaced.
    let mut lazy = Lazy::Ready(json!({}));
    let out = tool::request_intercepts(&root, "t", &mut lazy).unwrap();
    assert_eq!(out, Some(json!({"a": true, "b": true})));
    assert!(matches!(lazy, LazyOf::Ready(ref v) if *v == json!({"a": true, "b": true})));
}

#[test]
fn without_request_intercepts_the_callers_args_are_used_as_they_are() {
    let root = ScopeNode::new_root();
    let begun = begin(&root, "t", json!({"x": 1}), ToolOptions::default()).unwrap();
    assert_eq!(begun.args, None);
    assert!(begun.execution.is_empty());
}

#[test]
fn a_failing_request_intercept_aborts_before_any_tool_event() {
    let root = ScopeNode::new_root();
    let events = Collector::on(&root);
    let l = locals(&root);
    l.tool_conditional
        .register("ok", 0, false, conditional(|_, _| None))
        .unwrap();
    l.tool_request
        .register(
            "explode",
            0,
            false,
            Arc::new(|_: &str, _: Value| Err(cb_err("KeyError", "k"))),
        )
        .unwrap();
    let err = begin(&root, "t", json!({}), ToolOptions::default())
        .err()
        .unwrap();
    assert!(
        matches!(&err, FlowError::Middleware { family: "tool request intercept", name, .. } if name == "explode"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "tool request intercept 'explode' failed: KeyError: k"
    );
    assert_eq!(events.summary(), ["start:guardrail:ok", "end:guardrail:ok"]);
}

#[test]
fn sanitize_request_changes_what_is_recorded_not_what_the_callable_gets() {
    let root = ScopeNode::new_root();
    let events = Collector::on(&root);
    let l = locals(&root);
    // Two sanitizers chain in priority order.
    l.tool_sanitize_request
        .register(
            "mask",
            1,
            false,
            sanitizer(|mut v| {
                v["password"] = json!("***");
                v
            }),
        )
        .unwrap();
    l.tool_sanitize_request
        .register(
            "tag",
            2,
            false,
            sanitizer(|mut v| {
                assert_eq!(v["password"], "***", "sees the earlier sanitizer's output");
                v["sanitized"] = json!(true);
                v
            }),
        )
        .unwrap();

    let args = json!({"user": "u", "password": "hunter2"});
    let mut lazy = Lazy::Ready(args.clone());
    let begun = tool::begin(
        &root,
        root.info.uuid,
        "login",
        &mut lazy,
        ToolOptions::default(),
    )
    .unwrap();
    assert_eq!(begun.args, None);
    assert!(
        matches!(lazy, LazyOf::Ready(ref v) if *v == args),
        "caller's args untouched"
    );
    assert_eq!(
        events.events()[0].data,
        json!({"user": "u", "password": "***", "sanitized": true})
    );

    // With an intercept as well: the callable gets the intercepted, unsanitized args.
    l.tool_request
        .register(
            "upper",
            0,
            false,
            request(|mut v| {
                v["user"] = json!("U");
                v
            }),
        )
        .unwrap();
    let begun = begin(&root, "login", args, ToolOptions::default()).unwrap();
    assert_eq!(
        begun.args,
        Some(json!({"user": "U", "password": "hunter2"}))
    );
    assert_eq!(
        events.events()[1].data,
        json!({"user": "U", "password": "***", "sanitized": true})
    );
}

#[test]
fn sanitize_response_changes_what_is_recorded_not_what_the_caller_gets() {
    let root = ScopeNode::new_root();
    let events = Collector::on(&root);
    locals(&root)
        .tool_sanitize_response
        .register(
            "mask",
            0,
            false,
            sanitizer(|mut v| {
                v["token"] = json!("***");
                v
            }),
        )
        .unwrap();
    let begun = begin(&root, "t", json!({}), ToolOptions::default()).unwrap();
    let raw = json!({"token": "secret", "ok": true});
    let mut out = Lazy::Ready(raw.clone());
    tool::end(&begun.handle, Outcome::Ok(&mut out), Value::Null, None).unwrap();
    assert!(
        matches!(out, LazyOf::Ready(ref v) if *v == raw),
        "raw result kept for the caller"
    );
    let end = &events.events()[1];
    assert!(end.is_scope_end());
    assert_eq!(end.data, json!({"token": "***", "ok": true}));
    assert_eq!(end.scope.as_ref().unwrap().error, None);
}

#[test]
fn a_failing_sanitizer_redacts_the_payload_and_is_reported() {
    install_reporter();
    let root = ScopeNode::new_root();
    let events = Collector::on(&root);
    let l = locals(&root);
    let after_ran = Arc::new(AtomicBool::new(false));
    let ar = Arc::clone(&after_ran);
    l.tool_sanitize_request
        .register(
            "leaky-req-7f3a",
            1,
            false,
            Arc::new(|_: &str, _: Value| Err(cb_err("KeyError", "nope"))),
        )
        .unwrap();
    l.tool_sanitize_request
        .register(
            "after-7f3a",
            2,
            false,
            sanitizer(move |v| {
                ar.store(true, Ordering::SeqCst);
                v
            }),
        )
        .unwrap();
    l.tool_sanitize_response
        .register(
            "leaky-resp-7f3a",
            0,
            false,
            Arc::new(|_: &str, _: Value| Err(cb_err("TypeError", "bad"))),
        )
        .unwrap();

    let begun = begin(
        &root,
        "t",
        json!({"secret": "s3cr3t"}),
        ToolOptions::default(),
    )
    .unwrap();
    end_ok(&begun.handle, json!({"secret": "r3sult"})).unwrap();

    let ev = events.events();
    assert_eq!(
        ev[0].data,
        json!("[redacted: sanitize guardrail 'leaky-req-7f3a' failed]")
    );
    assert_eq!(ev[0].data, redaction_marker("leaky-req-7f3a"));
    assert_eq!(ev[1].data, redaction_marker("leaky-resp-7f3a"));
    for e in &ev {
        assert!(!e.to_json_string().contains("s3cr3t"));
        assert!(!e.to_json_string().contains("r3sult"));
    }
    assert!(
        !after_ran.load(Ordering::SeqCst),
        "the chain stops at the failure"
    );
    assert_eq!(
        reports_mentioning("leaky-req-7f3a"),
        [(
            "tool sanitize-request guardrail 'leaky-req-7f3a'".to_string(),
            "KeyError: [message withheld: it may quote the payload being sanitized]".to_string()
        )]
    );
    assert_eq!(
        reports_mentioning("leaky-resp-7f3a"),
        [(
            "tool sanitize-response guardrail 'leaky-resp-7f3a'".to_string(),
            "TypeError: [message withheld: it may quote the payload being sanitized]".to_string()
        )]
    );
}

#[test]
fn a_failed_call_records_the_error_and_the_handle_data() {
    let root = ScopeNode::new_root();
    let events = Collector::on(&root);
    let sanitized = Arc::new(AtomicBool::new(false));
    let s = Arc::clone(&sanitized);
    locals(&root)
        .tool_sanitize_response
        .register(
            "s",
            0,
            false,
            sanitizer(move |v| {
                s.store(true, Ordering::SeqCst);
                v
            }),
        )
        .unwrap();
    let opts = ToolOptions {
        data: json!({"app": 1}),
        metadata: json!({"m": 1}),
        ..ToolOptions::default()
    };
    let begun = begin(&root, "t", json!({"a": 1}), opts).unwrap();
    let err = ErrorInfo {
        kind: "ValueError".into(),
        message: "boom".into(),
    };
    tool::end(
        &begun.handle,
        Outcome::Err(err.clone()),
        json!({"extra": 2}),
        None,
    )
    .unwrap();
    let end = &events.events()[1];
    assert_eq!(end.data, json!({"app": 1}));
    assert_eq!(end.scope.as_ref().unwrap().error, Some(err));
    assert_eq!(end.metadata, json!({"m": 1, "extra": 2}));
    let j = end.to_json_value();
    assert_eq!(j["error"], json!({"type": "ValueError", "message": "boom"}));
    assert_eq!(j["category_profile"], json!({}));
    assert!(!sanitized.load(Ordering::SeqCst));
    assert!(begun.handle.span.is_ended());
}

#[test]
fn a_null_result_falls_back_to_the_handle_data() {
    let root = ScopeNode::new_root();
    let events = Collector::on(&root);
    let opts = ToolOptions {
        data: json!("app data"),
        ..ToolOptions::default()
    };
    let b1 = begin(&root, "t", json!({}), opts.clone()).unwrap();
    end_ok(&b1.handle, Value::Null).unwrap();
    let b2 = begin(&root, "t", json!({}), opts).unwrap();
    end_ok(&b2.handle, json!(0)).unwrap();
    let ev = events.events();
    assert_eq!(ev[1].data, json!("app data"));
    assert_eq!(ev[3].data, json!(0));
}

#[test]
fn end_metadata_is_shallow_merged_over_the_handle_metadata() {
    let root = ScopeNode::new_root();
    let events = Collector::on(&root);
    let meta = json!({"a": 1, "b": {"keep": true}});
    let b1 = begin(&root, "t", json!({}), with_meta(meta.clone())).unwrap();
    tool::end(
        &b1.handle,
        Outcome::Ok(&mut Lazy::Ready(json!(1))),
        json!({"b": {"new": 1}, "c": 3}),
        None,
    )
    .unwrap();
    let b2 = begin(&root, "t", json!({}), with_meta(meta.clone())).unwrap();
    end_ok(&b2.handle, json!(1)).unwrap();
    let ev = events.events();
    assert_eq!(ev[0].metadata, meta);
    assert_eq!(ev[1].metadata, json!({"a": 1, "b": {"new": 1}, "c": 3}));
    assert_eq!(ev[3].metadata, meta, "null end metadata keeps the handle's");
    assert_eq!(
        b1.handle.span.info.metadata, meta,
        "the handle is not changed"
    );
}

#[test]
fn ending_a_tool_call_twice_is_a_scope_error() {
    let root = ScopeNode::new_root();
    let events = Collector::on(&root);
    let begun = begin(&root, "twice", json!({}), ToolOptions::default()).unwrap();
    assert!(!begun.handle.span.is_ended());
    end_ok(&begun.handle, json!(1)).unwrap();
    let msg = scope_err(end_ok(&begun.handle, json!(2)));
    assert_eq!(
        msg,
        format!(
            "tool call 'twice' ({}) has already ended",
            begun.handle.span.info.uuid
        )
    );
    let msg = scope_err(tool::end(
        &begun.handle,
        Outcome::Err(ErrorInfo {
            kind: "E".into(),
            message: "m".into(),
        }),
        Value::Null,
        None,
    ));
    assert!(msg.contains("has already ended"), "{msg}");
    assert_eq!(events.summary(), ["start:tool:twice", "end:tool:twice"]);
    assert_eq!(events.events()[1].data, json!(1));
}

#[test]
fn a_lazy_payload_is_not_converted_when_nothing_consumes_it() {
    let root = ScopeNode::new_root();
    let a = scope::push(&root, None, spec("a", ScopeType::Agent)).unwrap();
    // Middleware of other families does not read tool arguments.
    let l = locals(&a);
    l.tool_execution
        .register(
            "foreign",
            0,
            false,
            Execution::Foreign(Foreign(Arc::new(()))),
        )
        .unwrap();
    let llm_guard: LlmConditional = Arc::new(|_| Ok(None));
    l.llm_conditional
        .register("llm-only", 0, false, llm_guard)
        .unwrap();

    let mut args = Lazy::pending(|| panic!("tool args converted with no consumer"));
    let begun = tool::begin(&a, a.info.uuid, "t", &mut args, ToolOptions::default()).unwrap();
    assert!(matches!(args, LazyOf::Pending(_)));
    assert_eq!(begun.args, None);
    assert_eq!(begun.execution.len(), 1);

    let mut result = Lazy::pending(|| panic!("result converted with no consumer"));
    tool::end(&begun.handle, Outcome::Ok(&mut result), Value::Null, None).unwrap();
    assert!(matches!(result, LazyOf::Pending(_)));

    let mut manual = Lazy::pending(|| panic!("manual args converted with no consumer"));
    let h = tool::start(&a, a.info.uuid, "m", &mut manual, ToolOptions::default()).unwrap();
    assert!(matches!(manual, LazyOf::Pending(_)));
    tool::end(
        &h,
        Outcome::Ok(&mut Lazy::pending(|| panic!())),
        Value::Null,
        None,
    )
    .unwrap();
}

#[test]
fn a_lazy_payload_is_converted_once_however_many_steps_read_it() {
    let root = ScopeNode::new_root();
    let events = Collector::on(&root);
    let l = locals(&root);
    l.tool_conditional
        .register("g", 0, false, conditional(|_, _| None))
        .unwrap();
    l.tool_sanitize_request
        .register("s", 0, false, sanitizer(|v| v))
        .unwrap();
    let conversions = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&conversions);
    let mut args = Lazy::pending(move || {
        c.fetch_add(1, Ordering::SeqCst);
        Ok(json!({"n": 1}))
    });
    let begun = tool::begin(
        &root,
        root.info.uuid,
        "t",
        &mut args,
        ToolOptions::default(),
    )
    .unwrap();
    assert_eq!(conversions.load(Ordering::SeqCst), 1);
    assert!(matches!(args, LazyOf::Ready(ref v) if *v == json!({"n": 1})));
    assert_eq!(events.events()[2].data, json!({"n": 1}));
    let _ = begun;

    // A conversion failure is the call's error, and nothing is emitted for it.
    events.clear();
    let mut bad = Lazy::pending(|| Err(FlowError::invalid("args", "expected JSON, got a set")));
    let err = tool::begin(&root, root.info.uuid, "t", &mut bad, ToolOptions::default())
        .err()
        .unwrap();
    assert!(matches!(err, FlowError::InvalidArgument { ref arg, .. } if arg == "args"));
    assert_eq!(err.to_string(), "args: expected JSON, got a set");
    assert!(events.summary().is_empty());
}

#[test]
fn a_failed_conversion_fails_again_the_same_way_instead_of_panicking() {
    let mut lazy = Lazy::pending(|| Err(FlowError::invalid("result", "NaN is not JSON")));
    for _ in 0..2 {
        let err = lazy.get().unwrap_err();
        assert_eq!(err.to_string(), "result: NaN is not JSON");
    }
    assert!(matches!(lazy, LazyOf::Pending(_)), "still unconverted");
    lazy.set(json!(1));
    assert_eq!(lazy.get().unwrap(), &json!(1));
}

#[test]
fn manual_start_runs_only_sanitizers_and_records_the_tool_call_id() {
    let root = ScopeNode::new_root();
    let events = Collector::on(&root);
    let l = locals(&root);
    l.tool_conditional
        .register("deny", 0, false, conditional(|_, _| Some("no".into())))
        .unwrap();
    l.tool_request
        .register(
            "never",
            0,
            false,
            request(|_| panic!("intercepts do not run")),
        )
        .unwrap();
    l.tool_sanitize_request
        .register("mask", 0, false, sanitizer(|_| json!("masked")))
        .unwrap();
    let t = Timestamp(1_577_836_801_000_000_000);
    let opts = ToolOptions {
        attributes: ToolAttributes::REMOTE,
        tool_call_id: Some("call_1".into()),
        timestamp: Some(t),
        ..ToolOptions::default()
    };
    let h = tool::start(
        &root,
        root.info.uuid,
        "manual_tool",
        &mut Lazy::Ready(json!({"a": 1})),
        opts,
    )
    .unwrap();
    tool::end(
        &h,
        Outcome::Ok(&mut Lazy::Ready(json!(2))),
        Value::Null,
        Some(t),
    )
    .unwrap();
    let ev = events.events();
    assert_eq!(
        events.summary(),
        ["start:tool:manual_tool", "end:tool:manual_tool"]
    );
    let start = ev[0].to_json_value();
    assert_eq!(start["category_profile"], json!({"tool_call_id": "call_1"}));
    assert_eq!(start["attributes"], json!(["remote"]));
    assert_eq!(start["data"], json!("masked"));
    assert_eq!(start["timestamp"], "2020-01-01T00:00:01+00:00");
    assert_eq!(ev[1].profile("tool_call_id"), Some(&json!("call_1")));
    assert_eq!(
        ev[1].timestamp,
        Timestamp(t.0 + 1_000),
        "end strictly after start"
    );
    assert_eq!(h.tool_call_id.as_deref(), Some("call_1"));
}

#[test]
fn managed_tool_events_have_an_empty_profile_and_the_right_parent() {
    let root = ScopeNode::new_root();
    let events = Collector::on(&root);
    let a = scope::push(&root, None, spec("agent", ScopeType::Agent)).unwrap();
    let begun = begin(&a, "t", json!({"x": 1}), ToolOptions::default()).unwrap();
    end_ok(&begun.handle, json!({"y": 2})).unwrap();
    let ev = events.events();
    for e in &ev[1..] {
        let j = e.to_json_value();
        assert_eq!(j["category"], "tool");
        assert_eq!(j["category_profile"], json!({}));
        assert_eq!(j["attributes"], json!([]));
        assert_eq!(e.parent_uuid, Some(a.info.uuid));
        assert_eq!(e.root_uuid, root.info.uuid);
        assert_eq!(e.uuid, begun.handle.span.info.uuid);
    }
    assert_eq!(ev[1].data, json!({"x": 1}));
    assert_eq!(ev[2].data, json!({"y": 2}));
}

#[test]
fn execution_intercepts_are_handed_back_outermost_first() {
    let root = ScopeNode::new_root();
    let l = locals(&root);
    for (n, p) in [("inner", 20), ("outer", 1), ("middle", 10)] {
        l.tool_execution
            .register(n, p, false, Execution::Foreign(Foreign(Arc::new(n))))
            .unwrap();
    }
    let begun = begin(&root, "t", json!({}), ToolOptions::default()).unwrap();
    let names: Vec<&str> = begun.execution.iter().map(|e| &*e.name).collect();
    assert_eq!(names, ["outer", "middle", "inner"]);
}

#[test]
fn a_result_that_fails_to_convert_leaves_the_call_open_for_a_corrected_end() {
    let root = ScopeNode::new_root();
    let events = Collector::on(&root);
    let mut args = Lazy::Ready(json!({}));
    let h = tool::start(
        &root,
        root.info.uuid,
        "t",
        &mut args,
        ToolOptions::default(),
    )
    .unwrap();
    let mut bad = Lazy::pending(|| Err(FlowError::invalid("result", "NaN is not JSON")));
    let err = tool::end(&h, Outcome::Ok(&mut bad), Value::Null, None).unwrap_err();
    assert_eq!(err.to_string(), "result: NaN is not JSON");
    assert!(
        !h.span.is_ended(),
        "the failed end must not consume the handle"
    );

    tool::end(
        &h,
        Outcome::Ok(&mut Lazy::Ready(json!(2))),
        Value::Null,
        None,
    )
    .unwrap();
    assert_eq!(events.summary(), ["start:tool:t", "end:tool:t"]);
    assert_eq!(events.events()[1].data, json!(2));
    let again = tool::end(
        &h,
        Outcome::Ok(&mut Lazy::Ready(json!(3))),
        Value::Null,
        None,
    );
    assert!(again.unwrap_err().to_string().contains("already ended"));
}
