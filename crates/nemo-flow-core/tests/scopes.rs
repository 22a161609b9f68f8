//! Scope stack rules: push/pop (node API and current-scope API), misuse errors that leave the
//! stack intact, explicit parents, detached scopes, marks, scope-local registries and end
//! timestamps.

mod common;

use common::{Collector, locals, scope_err, spec, thread_root};
use nemo_flow_core::clock::Timestamp;
use nemo_flow_core::event::ErrorInfo;
use nemo_flow_core::middleware::ToolRequest;
use nemo_flow_core::scope::{self, visible};
use nemo_flow_core::{FlowError, ScopeAttributes, ScopeNode, ScopeSpec, ScopeType, context};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;

fn noop_intercept() -> ToolRequest {
    Arc::new(|_: &str, v: Value| Ok(v))
}

fn visible_request_names(node: &Arc<ScopeNode>) -> Vec<String> {
    visible(node, |m| &m.tool_request)
        .iter()
        .map(|e| e.name.to_string())
        .collect()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn a_root_is_implicit_and_never_emits() {
    let root = ScopeNode::new_root();
    let events = Collector::on(&root);
    assert!(root.is_root());
    assert_eq!(&*root.info.name, "root");
    assert_eq!(root.scope_type, ScopeType::Agent);
    assert_eq!(root.info.parent_uuid, None);
    assert_eq!(root.info.root_uuid, root.info.uuid);
    assert_eq!(root.info.uuid.get_version_num(), 7);
    assert!(!root.is_ended());
    assert_eq!(events.len(), 0);
    // Two roots are two runs.
    assert_ne!(ScopeNode::new_root().info.root_uuid, root.info.root_uuid);
}

#[test]
fn scope_push_and_pop_emit_start_and_end_with_the_reference_shape() {
    let root = ScopeNode::new_root();
    let events = Collector::on(&root);

    let mut s = ScopeSpec::new("agent1", ScopeType::Agent);
    s.attributes = ScopeAttributes(ScopeAttributes::PARALLEL.0 | ScopeAttributes::RELOCATABLE.0);
    s.input = json!({"in": 1});
    s.metadata = json!({"m": 1});
    s.data = json!({"kept": "on the handle only"});
    let a = scope::push(&root, None, s).unwrap();
    let b = scope::push(&a, None, spec("fn", ScopeType::Function)).unwrap();

    assert!(Arc::ptr_eq(a.parent.as_ref().unwrap(), &root));
    assert!(Arc::ptr_eq(b.parent.as_ref().unwrap(), &a));
    assert_eq!(a.info.parent_uuid, Some(root.info.uuid));
    assert_eq!(b.info.parent_uuid, Some(a.info.uuid));
    assert_eq!(b.info.root_uuid, root.info.uuid);
    assert_eq!(a.info.data, json!({"kept": "on the handle only"}));
    assert!(a.info.uuid < b.info.uuid, "uuids are v7 and time ordered");

    let back = scope::pop(&b, &b, json!({"out": 2}), None, None).unwrap();
    assert!(Arc::ptr_eq(&back, &a));
    assert!(b.is_ended() && !a.is_ended());
    let back = scope::pop(&a, &a, Value::Null, None, None).unwrap();
    assert!(Arc::ptr_eq(&back, &root));

    assert_eq!(
        events.summary(),
        [
            "start:agent:agent1",
            "start:function:fn",
            "end:function:fn",
            "end:agent:agent1"
        ]
    );
    let ev = events.events();
    let start = ev[0].to_json_value();
    assert_eq!(
        keys(&start),
        [
            "atof_version",
            "attributes",
            "category",
            "category_profile",
            "data",
            "data_schema",
            "error",
            "kind",
            "metadata",
            "name",
            "parent_uuid",
            "root_uuid",
            "scope_category",
            "timestamp",
            "uuid"
        ]
        .into_iter()
        .map(String::from)
        .collect()
    );
    assert_eq!(start["atof_version"], "0.1");
    assert_eq!(start["kind"], "scope");
    assert_eq!(start["scope_category"], "start");
    assert_eq!(start["attributes"], json!(["parallel", "relocatable"]));
    assert_eq!(start["category"], "agent");
    assert_eq!(start["category_profile"], Value::Null);
    assert_eq!(start["data"], json!({"in": 1}), "input is the start data");
    assert_eq!(start["metadata"], json!({"m": 1}));
    assert_eq!(start["error"], Value::Null);
    assert_eq!(start["parent_uuid"], json!(root.info.uuid.to_string()));
    assert_eq!(start["root_uuid"], json!(root.info.uuid.to_string()));
    assert_eq!(start["uuid"], json!(a.info.uuid.to_string()));
    assert!(Timestamp::parse_rfc3339(start["timestamp"].as_str().unwrap()).is_some());
    assert!(
        !start.to_string().contains("on the handle only"),
        "handle data is not emitted"
    );

    // Start and end of one span share the uuid; end data is the output.
    assert_eq!(ev[2].uuid, b.info.uuid);
    assert_eq!(ev[2].data, json!({"out": 2}));
    assert_eq!(ev[2].parent_uuid, Some(a.info.uuid));
    assert_eq!(ev[2].metadata, Value::Null);
    // A scope end reuses the handle's metadata.
    assert_eq!(ev[3].uuid, a.info.uuid);
    assert_eq!(ev[3].metadata, json!({"m": 1}));
    assert_eq!(ev[3].data, Value::Null);
    assert!(ev[3].timestamp > ev[0].timestamp);
}

#[test]
fn scope_end_can_carry_an_error() {
    let root = ScopeNode::new_root();
    let events = Collector::on(&root);
    let a = scope::push(&root, None, spec("a", ScopeType::Custom)).unwrap();
    let err = ErrorInfo {
        kind: "ValueError".into(),
        message: "boom".into(),
    };
    scope::pop(&a, &a, Value::Null, Some(err.clone()), None).unwrap();
    let end = &events.events()[1];
    assert_eq!(end.scope.as_ref().unwrap().error, Some(err));
    assert_eq!(
        end.to_json_value()["error"],
        json!({"type": "ValueError", "message": "boom"})
    );
    assert_eq!(end.to_json_value()["category"], "custom");
}

#[test]
fn context_push_and_pop_move_the_current_scope() {
    let root = thread_root();
    let events = Collector::on(&root);
    assert!(Arc::ptr_eq(&context::current(), &root));

    let a = context::push(spec("a", ScopeType::Agent)).unwrap();
    assert!(Arc::ptr_eq(&context::current(), &a));
    let b = context::push(spec("b", ScopeType::Function)).unwrap();
    assert!(Arc::ptr_eq(&context::current(), &b));
    assert_eq!(b.info.parent_uuid, Some(a.info.uuid));

    context::mark("progress", json!({"x": 1}), json!({"y": 2})).unwrap();

    context::pop(&b, json!("done"), None, None).unwrap();
    assert!(Arc::ptr_eq(&context::current(), &a));
    context::pop(&a, Value::Null, None, None).unwrap();
    assert!(Arc::ptr_eq(&context::current(), &root));

    assert_eq!(
        events.summary(),
        [
            "start:agent:a",
            "start:function:b",
            "mark:progress",
            "end:function:b",
            "end:agent:a"
        ]
    );
    let ev = events.events();
    assert_eq!(ev[2].parent_uuid, Some(b.info.uuid));
    assert_eq!(ev[2].data, json!({"x": 1}));
    assert_eq!(ev[2].metadata, json!({"y": 2}));
    assert_eq!(ev[3].data, json!("done"));
}

#[test]
fn a_thread_gets_its_own_root_on_first_use() {
    let (mine, other) = std::thread::spawn(|| {
        let a = context::current();
        let b = context::current();
        assert!(Arc::ptr_eq(&a, &b), "the lazily created root is kept");
        (
            a.info.uuid,
            std::thread::spawn(|| context::current().info.uuid)
                .join()
                .unwrap(),
        )
    })
    .join()
    .unwrap();
    assert_ne!(mine, other);
}

#[test]
fn popping_a_scope_below_the_top_is_refused_and_the_stack_stays_intact() {
    let root = thread_root();
    let events = Collector::on(&root);
    let a = context::push(spec("outer", ScopeType::Agent)).unwrap();
    let b = context::push(spec("inner", ScopeType::Function)).unwrap();

    let msg = scope_err(context::pop(&a, Value::Null, None, None));
    assert!(
        msg.contains("'outer' is not at the top of the stack"),
        "{msg}"
    );
    assert!(msg.contains("the top is 'inner'"), "{msg}");
    assert!(msg.contains("pop the inner scopes first"), "{msg}");
    assert!(!a.is_ended());
    assert!(Arc::ptr_eq(&context::current(), &b), "current unchanged");
    assert_eq!(events.len(), 2, "no end event for a refused pop");

    // The same through the node API.
    let msg = scope_err(scope::pop(&b, &a, Value::Null, None, None));
    assert!(msg.contains("not at the top"), "{msg}");

    context::pop(&b, Value::Null, None, None).unwrap();
    context::pop(&a, Value::Null, None, None).unwrap();
    assert!(Arc::ptr_eq(&context::current(), &root));
    assert_eq!(events.len(), 4);
}

#[test]
fn popping_an_ended_scope_is_refused_and_the_stack_stays_intact() {
    let root = thread_root();
    let events = Collector::on(&root);
    let a = context::push(spec("a", ScopeType::Agent)).unwrap();
    let b = context::push(spec("b", ScopeType::Function)).unwrap();
    context::pop(&b, Value::Null, None, None).unwrap();

    let msg = scope_err(context::pop(&b, Value::Null, None, None));
    assert!(msg.contains("'b'"), "{msg}");
    assert!(msg.contains(&b.info.uuid.to_string()), "{msg}");
    assert!(msg.contains("has already ended"), "{msg}");
    assert!(Arc::ptr_eq(&context::current(), &a));
    assert_eq!(events.len(), 3, "exactly one end event for b");

    context::pop(&a, Value::Null, None, None).unwrap();
    let msg = scope_err(scope::pop(&root, &a, Value::Null, None, None));
    assert!(msg.contains("has already ended"), "{msg}");
    assert_eq!(events.len(), 4);
}

#[test]
fn the_root_cannot_be_popped() {
    let root = thread_root();
    let events = Collector::on(&root);
    let msg = scope_err(context::pop(&root, Value::Null, None, None));
    assert_eq!(msg, "the root scope cannot be popped");
    assert!(!root.is_ended());
    assert!(Arc::ptr_eq(&context::current(), &root));

    let a = context::push(spec("a", ScopeType::Agent)).unwrap();
    let msg = scope_err(scope::pop(&a, &root, Value::Null, None, None));
    assert_eq!(msg, "the root scope cannot be popped");
    assert!(Arc::ptr_eq(&context::current(), &a));
    context::pop(&a, Value::Null, None, None).unwrap();
    // The root still works after all of that.
    let again = context::push(spec("again", ScopeType::Agent)).unwrap();
    context::pop(&again, Value::Null, None, None).unwrap();
    assert_eq!(events.len(), 4);
}

#[test]
fn popping_a_scope_of_another_stack_is_refused() {
    let root = thread_root();
    let events = Collector::on(&root);
    let mine = context::push(spec("mine", ScopeType::Agent)).unwrap();

    // A scope of another run.
    let other_root = ScopeNode::new_root();
    let foreign = scope::push(&other_root, None, spec("foreign", ScopeType::Agent)).unwrap();
    let msg = scope_err(context::pop(&foreign, Value::Null, None, None));
    assert!(msg.contains("'foreign'"), "{msg}");
    assert!(msg.contains("is not on the current scope stack"), "{msg}");
    assert!(msg.contains("another task or thread"), "{msg}");
    assert!(!foreign.is_ended());
    assert!(Arc::ptr_eq(&context::current(), &mine));

    // A scope pushed on another thread under the same parent.
    let parent = Arc::clone(&mine);
    let sibling = std::thread::spawn(move || {
        context::set_thread_scope(parent);
        context::push(spec("theirs", ScopeType::Function)).unwrap()
    })
    .join()
    .unwrap();
    let msg = scope_err(context::pop(&sibling, Value::Null, None, None));
    assert!(msg.contains("'theirs' ("), "{msg}");
    assert!(msg.contains("is not on the current scope stack"), "{msg}");
    assert!(!sibling.is_ended());
    assert!(Arc::ptr_eq(&context::current(), &mine));

    // Each can still be closed by its owner.
    assert!(Arc::ptr_eq(
        &scope::pop(&foreign, &foreign, Value::Null, None, None).unwrap(),
        &other_root
    ));
    assert!(Arc::ptr_eq(
        &scope::pop(&sibling, &sibling, Value::Null, None, None).unwrap(),
        &mine
    ));
    context::pop(&mine, Value::Null, None, None).unwrap();
    assert_eq!(
        events.summary(),
        [
            "start:agent:mine",
            "start:function:theirs",
            "end:function:theirs",
            "end:agent:mine"
        ]
    );
}

#[test]
fn push_under_an_explicit_parent_restores_the_previous_current_on_pop() {
    let root = ScopeNode::new_root();
    let events = Collector::on(&root);
    let agent = scope::push(&root, None, spec("agent", ScopeType::Agent)).unwrap();
    let worker = scope::push(&agent, None, spec("worker", ScopeType::Function)).unwrap();

    // Current is `worker`, the logical parent is `agent`.
    let cb = scope::push(&worker, Some(&agent), spec("callback", ScopeType::Tool)).unwrap();
    assert_eq!(cb.info.parent_uuid, Some(agent.info.uuid));
    assert!(Arc::ptr_eq(cb.parent.as_ref().unwrap(), &agent));
    assert!(Arc::ptr_eq(cb.restore_target().unwrap(), &worker));
    assert_eq!(events.events()[2].parent_uuid, Some(agent.info.uuid));

    // `worker` is on the stack below `callback`, so it is "not at the top".
    let msg = scope_err(scope::pop(&cb, &worker, Value::Null, None, None));
    assert!(msg.contains("'worker' is not at the top"), "{msg}");
    assert!(msg.contains("the top is 'callback'"), "{msg}");
    // `agent` is reachable both ways; still not at the top.
    let msg = scope_err(scope::pop(&cb, &agent, Value::Null, None, None));
    assert!(msg.contains("not at the top"), "{msg}");

    let cur = scope::pop(&cb, &cb, Value::Null, None, None).unwrap();
    assert!(
        Arc::ptr_eq(&cur, &worker),
        "pop returns to the previous current"
    );
    let cur = scope::pop(&cur, &worker, Value::Null, None, None).unwrap();
    assert!(Arc::ptr_eq(&cur, &agent));

    // An explicit parent equal to current is an ordinary push.
    let plain = scope::push(&agent, Some(&agent), spec("plain", ScopeType::Function)).unwrap();
    assert!(Arc::ptr_eq(plain.restore_target().unwrap(), &agent));
    let cur = scope::pop(&plain, &plain, Value::Null, None, None).unwrap();
    assert!(Arc::ptr_eq(&cur, &agent));

    // An ended explicit parent is refused and nothing is emitted.
    let before = events.len();
    let msg = scope_err(scope::push(
        &agent,
        Some(&worker),
        spec("late", ScopeType::Tool),
    ));
    assert!(msg.contains("parent scope 'worker'"), "{msg}");
    assert!(msg.contains("has already ended"), "{msg}");
    assert_eq!(events.len(), before);
}

#[test]
fn explicit_parent_scopes_see_the_logical_parents_middleware_not_the_callers() {
    let root = ScopeNode::new_root();
    let agent = scope::push(&root, None, spec("agent", ScopeType::Agent)).unwrap();
    let worker = scope::push(&agent, None, spec("worker", ScopeType::Function)).unwrap();
    locals(&agent)
        .tool_request
        .register("from-agent", 0, false, noop_intercept())
        .unwrap();
    locals(&worker)
        .tool_request
        .register("from-worker", 0, false, noop_intercept())
        .unwrap();
    let cb = scope::push(&worker, Some(&agent), spec("callback", ScopeType::Tool)).unwrap();
    assert_eq!(visible_request_names(&cb), ["from-agent"]);
    assert_eq!(
        visible_request_names(&worker),
        ["from-agent", "from-worker"]
    );
}

#[test]
fn detached_scopes_start_and_end_in_any_order() {
    let root = ScopeNode::new_root();
    let events = Collector::on(&root);
    let agent = scope::push(&root, None, spec("agent", ScopeType::Agent)).unwrap();

    let c1 = scope::start_detached(&agent, spec("chain1", ScopeType::Function)).unwrap();
    let c2 = scope::start_detached(&agent, spec("chain2", ScopeType::Function)).unwrap();
    let inner = scope::start_detached(&c1, spec("inner", ScopeType::Llm)).unwrap();
    assert!(c1.is_detached() && !agent.is_detached());
    assert_eq!(inner.info.parent_uuid, Some(c1.info.uuid));

    // Ends in the order they started: not last-in-first-out.
    scope::end_detached(&c1, json!(1), None, None).unwrap();
    scope::end_detached(&c2, json!(2), None, None).unwrap();
    scope::end_detached(&inner, json!(3), None, None).unwrap();

    assert_eq!(
        events.summary(),
        [
            "start:agent:agent",
            "start:function:chain1",
            "start:function:chain2",
            "start:llm:inner",
            "end:function:chain1",
            "end:function:chain2",
            "end:llm:inner"
        ]
    );
    let ev = events.events();
    assert_eq!(ev[1].parent_uuid, Some(agent.info.uuid));
    assert_eq!(ev[2].parent_uuid, Some(agent.info.uuid));
    assert_eq!(ev[6].parent_uuid, Some(c1.info.uuid));
    assert_eq!(ev[6].data, json!(3));

    let msg = scope_err(scope::end_detached(&c1, Value::Null, None, None));
    assert!(
        msg.contains("'chain1'") && msg.contains("has already ended"),
        "{msg}"
    );
    let msg = scope_err(scope::pop(&agent, &c2, Value::Null, None, None));
    assert!(
        msg.contains("was started detached; end it with end_detached()"),
        "{msg}"
    );
    let msg = scope_err(scope::end_detached(&agent, Value::Null, None, None));
    assert!(
        msg.contains("'agent' was pushed on a stack; close it with pop()"),
        "{msg}"
    );
    assert!(!agent.is_ended());
    let msg = scope_err(scope::start_detached(&c1, spec("late", ScopeType::Tool)));
    assert!(
        msg.contains("parent scope 'chain1'") && msg.contains("has already ended"),
        "{msg}"
    );

    scope::pop(&agent, &agent, Value::Null, None, None).unwrap();
    assert_eq!(events.len(), 8);
}

#[test]
fn marks_are_parented_where_asked_and_built_only_when_observed() {
    let root = ScopeNode::new_root();
    let a = scope::push(&root, None, spec("a", ScopeType::Agent)).unwrap();

    // Nobody listens: the payload closures are never called.
    scope::mark(
        &a,
        a.info.uuid,
        "unobserved",
        || panic!("data built without a subscriber"),
        || panic!("metadata built without a subscriber"),
        None,
    )
    .unwrap();
    assert!(!scope::observed(&a));

    let events = Collector::on(&root);
    assert!(scope::observed(&a));
    let elsewhere = ScopeNode::new_root().info.uuid;
    let t = Timestamp(1_577_836_801_000_000_000);
    scope::mark(
        &a,
        elsewhere,
        "checkpoint",
        || Ok(json!({"x": 1})),
        || Ok(json!({"y": 2})),
        Some(t),
    )
    .unwrap();

    let ev = events.events();
    assert_eq!(ev.len(), 1);
    let m = &ev[0];
    assert_eq!(m.kind(), "mark");
    assert!(!m.is_scope_start() && !m.is_scope_end());
    assert_eq!(m.parent_uuid, Some(elsewhere));
    assert_eq!(m.root_uuid, root.info.uuid);
    assert_eq!(m.timestamp, t);
    let j = m.to_json_value();
    assert_eq!(j["name"], "checkpoint");
    assert_eq!(j["category"], Value::Null);
    assert_eq!(j["category_profile"], Value::Null);
    assert_eq!(j["data"], json!({"x": 1}));
    assert_eq!(j["metadata"], json!({"y": 2}));
    assert_eq!(j["timestamp"], "2020-01-01T00:00:01+00:00");
    for k in ["scope_category", "attributes", "error"] {
        assert!(j.get(k).is_none(), "marks have no {k}");
    }

    // A failing payload conversion is an error and emits nothing.
    let err = scope::mark(
        &a,
        a.info.uuid,
        "bad",
        || Err(FlowError::invalid("data", "not JSON")),
        || Ok(Value::Null),
        None,
    )
    .unwrap_err();
    assert!(matches!(err, FlowError::InvalidArgument { ref arg, .. } if arg == "data"));
    assert_eq!(events.len(), 1);
}

#[test]
fn scope_local_registries_are_dropped_when_the_scope_ends() {
    let root = ScopeNode::new_root();
    let a = scope::push(&root, None, spec("a", ScopeType::Agent)).unwrap();
    assert!(a.locals().is_none(), "created on first use only");
    let l = locals(&a);
    assert!(Arc::ptr_eq(&l, &locals(&a)), "one registry set per scope");
    l.tool_request
        .register("a-intercept", 0, false, noop_intercept())
        .unwrap();
    assert!(a.locals().is_some());
    assert_eq!(visible_request_names(&a), ["a-intercept"]);

    scope::pop(&a, &a, Value::Null, None, None).unwrap();
    assert!(a.locals().is_none());
    assert!(l.tool_request.is_empty(), "the registries are cleared");
    assert!(visible_request_names(&a).is_empty());
    let msg = scope_err(a.locals_or_create());
    assert!(msg.contains("'a'") && msg.contains("has ended"), "{msg}");
    assert!(a.locals().is_none());

    // The same for detached scopes.
    let d = scope::start_detached(&root, spec("d", ScopeType::Function)).unwrap();
    locals(&d)
        .tool_request
        .register("d-intercept", 0, false, noop_intercept())
        .unwrap();
    scope::end_detached(&d, Value::Null, None, None).unwrap();
    assert!(d.locals().is_none());
    assert!(d.locals_or_create().is_err());
}

#[test]
fn scope_local_middleware_is_visible_to_descendants_only() {
    let root = ScopeNode::new_root();
    let a = scope::push(&root, None, spec("a", ScopeType::Agent)).unwrap();
    let b = scope::push(&a, None, spec("b", ScopeType::Function)).unwrap();
    let sibling = scope::start_detached(&root, spec("sibling", ScopeType::Agent)).unwrap();
    locals(&a)
        .tool_request
        .register("from-a", 0, false, noop_intercept())
        .unwrap();
    locals(&b)
        .tool_request
        .register("from-b", 0, false, noop_intercept())
        .unwrap();

    assert!(visible_request_names(&root).is_empty());
    assert_eq!(visible_request_names(&a), ["from-a"]);
    assert_eq!(visible_request_names(&b), ["from-a", "from-b"]);
    assert!(visible_request_names(&sibling).is_empty());
    // Other families of the same scope are unaffected.
    assert!(visible(&b, |m| &m.tool_sanitize_request).is_empty());

    // Ending the inner scope removes only its own layer.
    scope::pop(&b, &b, Value::Null, None, None).unwrap();
    assert_eq!(visible_request_names(&a), ["from-a"]);
}

#[test]
fn a_scope_local_subscriber_sees_its_scope_end_but_not_its_start() {
    let root = ScopeNode::new_root();
    let outer_sub = Collector::on(&root);
    let a = scope::push(&root, None, spec("a", ScopeType::Agent)).unwrap();
    let a_sub = Collector::on(&a);
    let b = scope::push(&a, None, spec("b", ScopeType::Function)).unwrap();
    scope::pop(&b, &b, Value::Null, None, None).unwrap();
    let sibling = scope::push(&root, None, spec("sib", ScopeType::Agent)).unwrap();
    let cur = scope::pop(&sibling, &sibling, Value::Null, None, None).unwrap();
    assert!(Arc::ptr_eq(&cur, &root));
    scope::pop(&a, &a, Value::Null, None, None).unwrap();

    assert_eq!(
        a_sub.summary(),
        ["start:function:b", "end:function:b", "end:agent:a"]
    );
    assert_eq!(outer_sub.len(), 6);

    // After the scope ended, its subscriber is gone.
    let again = scope::push(&root, None, spec("again", ScopeType::Agent)).unwrap();
    scope::pop(&again, &again, Value::Null, None, None).unwrap();
    assert_eq!(a_sub.len(), 3);
}

#[test]
fn end_timestamps_are_strictly_after_start() {
    let root = ScopeNode::new_root();
    let events = Collector::on(&root);
    let t = Timestamp(1_577_836_801_000_000_000);
    let at = |name: &str| {
        let mut s = spec(name, ScopeType::Function);
        s.timestamp = Some(t);
        s
    };

    // Explicit equal end → start + 1µs.
    let a = scope::push(&root, None, at("equal")).unwrap();
    assert_eq!(a.info.start, t);
    scope::pop(&a, &a, Value::Null, None, Some(t)).unwrap();
    // Explicit earlier end → start + 1µs.
    let b = scope::push(&root, None, at("earlier")).unwrap();
    scope::pop(&b, &b, Value::Null, None, Some(Timestamp(t.0 - 5))).unwrap();
    // Explicit later end is kept.
    let c = scope::push(&root, None, at("later")).unwrap();
    scope::pop(
        &c,
        &c,
        Value::Null,
        None,
        Some(Timestamp(t.0 + 2_000_000_000)),
    )
    .unwrap();
    // A start in the future and no explicit end: now <= start → start + 1µs.
    let future = Timestamp(Timestamp::now().0 + 3_600_000_000_000);
    let mut fs = spec("future", ScopeType::Function);
    fs.timestamp = Some(future);
    let d = scope::push(&root, None, fs).unwrap();
    scope::pop(&d, &d, Value::Null, None, None).unwrap();
    // Detached scopes follow the same rule.
    let e = scope::start_detached(&root, at("detached")).unwrap();
    scope::end_detached(&e, Value::Null, None, Some(t)).unwrap();
    // Implicit times on both sides.
    let f = scope::push(&root, None, spec("implicit", ScopeType::Function)).unwrap();
    scope::pop(&f, &f, Value::Null, None, None).unwrap();

    let ev = events.events();
    let ts = |i: usize| ev[i].to_json_value()["timestamp"].clone();
    assert_eq!(ts(0), "2020-01-01T00:00:01+00:00");
    assert_eq!(ts(1), "2020-01-01T00:00:01.000001+00:00");
    assert_eq!(ev[1].timestamp, Timestamp(t.0 + 1_000));
    assert_eq!(ev[3].timestamp, Timestamp(t.0 + 1_000));
    assert_eq!(ts(5), "2020-01-01T00:00:03+00:00");
    assert_eq!(ev[7].timestamp, Timestamp(future.0 + 1_000));
    assert_eq!(ev[9].timestamp, Timestamp(t.0 + 1_000));
    assert!(ev[11].timestamp > ev[10].timestamp);
    for pair in ev.chunks(2) {
        assert_eq!(pair[0].uuid, pair[1].uuid);
        assert!(pair[1].timestamp > pair[0].timestamp, "{pair:?}");
    }
}

#[test]
fn scope_types_map_to_their_event_categories() {
    let root = ScopeNode::new_root();
    let events = Collector::on(&root);
    for ty in ScopeType::ALL {
        let s = scope::push(&root, None, spec(ty.name(), ty)).unwrap();
        scope::pop(&s, &s, Value::Null, None, None).unwrap();
    }
    let cats: Vec<String> = events
        .events()
        .iter()
        .step_by(2)
        .map(|e| e.category.as_deref().unwrap().to_string())
        .collect();
    assert_eq!(
        cats,
        [
            "agent",
            "function",
            "tool",
            "llm",
            "retriever",
            "embedder",
            "reranker",
            "guardrail",
            "evaluator",
            "custom",
            "unknown"
        ]
    );
}

#[test]
fn a_very_deep_chain_of_unpopped_scopes_drops_without_overflowing_the_stack() {
    // A loop that forgets to pop builds one long chain; dropping it must not recurse once
    // per scope (that aborts the process with a stack overflow).
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(|| {
            let root = ScopeNode::new_root();
            let mut cur = Arc::clone(&root);
            for i in 0..100_000 {
                cur = scope::push(&cur, None, spec(&format!("s{i}"), ScopeType::Function)).unwrap();
            }
            // An explicit-parent push adds a restore link as well.
            let side = scope::push(&cur, Some(&root), spec("side", ScopeType::Tool)).unwrap();
            drop(cur);
            drop(root);
            drop(side);
        })
        .unwrap()
        .join()
        .unwrap();
}
