//! The async Rust API on tokio: managed tool and LLM calls with native execution intercepts,
//! origin tagging of errors, and per-task current scopes with `context::inherit`.

mod common;

use common::{Collector, cb_err, locals, spec, thread_root};
use nemo_flow_core::api::{self, Codecs};
use nemo_flow_core::error::{CallbackError, Foreign};
use nemo_flow_core::llm::{
    AnnotatedLlmRequest, AnnotatedLlmResponse, LlmCodec, LlmRequest, LlmResponseCodec,
};
use nemo_flow_core::middleware::{
    BoxFuture, Execution, LlmExecution, LlmNext, LlmRequestIntercept, ToolConditional,
    ToolExecution, ToolNext, ToolRequest,
};
use nemo_flow_core::pipeline::llm::LlmOptions;
use nemo_flow_core::pipeline::tool::ToolOptions;
use nemo_flow_core::{FlowError, ScopeNode, ScopeType, context};
use serde_json::{Map, Value, json};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Res<T> = Result<T, CallbackError>;

fn tool_intercept(
    f: impl Fn(String, Value, ToolNext) -> BoxFuture<Res<Value>> + Send + Sync + 'static,
) -> ToolExecution {
    Execution::Native(Arc::new(f))
}

fn llm_intercept(
    f: impl Fn(String, LlmRequest, LlmNext) -> BoxFuture<Res<Value>> + Send + Sync + 'static,
) -> LlmExecution {
    Execution::Native(Arc::new(f))
}

/// A callable that counts its calls and returns `{"echo": args}`.
fn echo(
    calls: &Arc<AtomicUsize>,
) -> impl Fn(Value) -> BoxFuture<Res<Value>> + Send + Sync + 'static {
    let calls = Arc::clone(calls);
    move |args| {
        calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move { Ok(json!({"echo": args})) })
    }
}

#[tokio::test]
async fn tool_call_execute_runs_the_callable_and_emits_start_and_end() {
    let root = thread_root();
    let events = Collector::on(&root);
    let calls = Arc::new(AtomicUsize::new(0));
    let scope = context::push(spec("agent", ScopeType::Agent)).unwrap();
    let opts = ToolOptions {
        metadata: json!({"m": 1}),
        ..ToolOptions::default()
    };
    let out = api::tool_call_execute("search", json!({"q": 1}), opts, echo(&calls))
        .await
        .unwrap();
    context::pop(&scope, Value::Null, None, None).unwrap();
    assert_eq!(out, json!({"echo": {"q": 1}}));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        events.summary(),
        [
            "start:agent:agent",
            "start:tool:search",
            "end:tool:search",
            "end:agent:agent"
        ]
    );
    let ev = events.events();
    assert_eq!(
        ev[1].parent_uuid,
        Some(scope.info.uuid),
        "parented to the current scope"
    );
    assert_eq!(ev[1].data, json!({"q": 1}));
    assert_eq!(ev[2].data, json!({"echo": {"q": 1}}));
    assert_eq!(ev[2].metadata, json!({"m": 1}));
    assert_eq!(ev[2].scope.as_ref().unwrap().error, None);
}

#[tokio::test]
async fn request_intercepts_change_what_the_callable_receives() {
    let root = thread_root();
    let intercept: ToolRequest = Arc::new(|_: &str, mut v: Value| {
        v["added"] = json!(true);
        Ok(v)
    });
    locals(&root)
        .tool_request
        .register("add", 0, false, intercept)
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let out = api::tool_call_execute("t", json!({}), ToolOptions::default(), echo(&calls))
        .await
        .unwrap();
    assert_eq!(out, json!({"echo": {"added": true}}));
}

#[tokio::test]
async fn a_short_circuiting_intercept_never_calls_the_callable() {
    let root = thread_root();
    let events = Collector::on(&root);
    locals(&root)
        .tool_execution
        .register(
            "cache",
            0,
            false,
            tool_intercept(|_, _, _next| Box::pin(async { Ok(json!({"cached": true})) })),
        )
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let out = api::tool_call_execute("t", json!({}), ToolOptions::default(), echo(&calls))
        .await
        .unwrap();
    assert_eq!(out, json!({"cached": true}));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(events.summary(), ["start:tool:t", "end:tool:t"]);
    assert_eq!(events.events()[1].data, json!({"cached": true}));
}

#[tokio::test]
async fn a_retrying_intercept_may_call_next_several_times() {
    let root = thread_root();
    let events = Collector::on(&root);
    locals(&root)
        .tool_execution
        .register(
            "retry",
            0,
            false,
            tool_intercept(|_, args, next| {
                Box::pin(async move {
                    let mut last = None;
                    for _ in 0..3 {
                        match next(args.clone()).await {
                            Ok(v) => return Ok(v),
                            Err(e) => last = Some(e),
                        }
                    }
                    Err(last.unwrap())
                })
            }),
        )
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let out = api::tool_call_execute("flaky", json!({"n": 1}), ToolOptions::default(), move |a| {
        let n = c.fetch_add(1, Ordering::SeqCst) + 1;
        Box::pin(async move {
            if n < 3 {
                Err(cb_err("ConnectionError", &format!("attempt {n}")))
            } else {
                Ok(json!({"attempt": n, "args": a}))
            }
        }) as BoxFuture<Res<Value>>
    })
    .await
    .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(out, json!({"attempt": 3, "args": {"n": 1}}));
    assert_eq!(events.summary(), ["start:tool:flaky", "end:tool:flaky"]);
    assert_eq!(events.events()[1].scope.as_ref().unwrap().error, None);

    // All three attempts fail: the callable's error, tagged as such.
    let c = Arc::clone(&calls);
    let err = api::tool_call_execute("flaky", json!({}), ToolOptions::default(), move |_| {
        c.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Err(cb_err("ConnectionError", "down")) }) as BoxFuture<Res<Value>>
    })
    .await
    .unwrap_err();
    assert_eq!(calls.load(Ordering::SeqCst), 6);
    assert!(
        matches!(err, FlowError::Callable(ref e) if e.kind == "ConnectionError"),
        "{err:?}"
    );
}

#[tokio::test]
async fn intercepts_nest_lowest_priority_outermost() {
    let root = thread_root();
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let wrap = |label: &'static str| {
        let log = Arc::clone(&log);
        tool_intercept(move |_, args, next| {
            let log = Arc::clone(&log);
            Box::pin(async move {
                log.lock().unwrap().push(format!("{label}:before"));
                let r = next(args).await;
                log.lock().unwrap().push(format!("{label}:after"));
                r
            })
        })
    };
    let l = locals(&root);
    l.tool_execution
        .register("inner", 10, false, wrap("inner"))
        .unwrap();
    l.tool_execution
        .register("outer", 1, false, wrap("outer"))
        .unwrap();
    let log2 = Arc::clone(&log);
    api::tool_call_execute("t", json!({}), ToolOptions::default(), move |_| {
        log2.lock().unwrap().push("callable".into());
        Box::pin(async { Ok(Value::Null) }) as BoxFuture<Res<Value>>
    })
    .await
    .unwrap();
    assert_eq!(
        *log.lock().unwrap(),
        [
            "outer:before",
            "inner:before",
            "callable",
            "inner:after",
            "outer:after"
        ]
    );
}

#[tokio::test]
async fn a_callable_error_is_a_callable_error_even_through_intercepts() {
    let root = thread_root();
    let events = Collector::on(&root);
    locals(&root)
        .tool_execution
        .register(
            "passthrough",
            0,
            false,
            tool_intercept(|_, a, next| Box::pin(async move { next(a).await })),
        )
        .unwrap();
    let opts = ToolOptions {
        data: json!({"app": 1}),
        ..ToolOptions::default()
    };
    let err = api::tool_call_execute("t", json!({}), opts, |_| {
        Box::pin(async { Err(cb_err("ValueError", "bad input")) }) as BoxFuture<Res<Value>>
    })
    .await
    .unwrap_err();
    match &err {
        FlowError::Callable(e) => {
            assert_eq!(e.kind, "ValueError");
            assert_eq!(e.message, "bad input");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.to_string(), "ValueError: bad input");
    let end = events.events()[1].to_json_value();
    assert_eq!(
        end["error"],
        json!({"type": "ValueError", "message": "bad input"})
    );
    assert_eq!(end["data"], json!({"app": 1}));
}

#[tokio::test]
async fn an_intercepts_own_error_names_the_intercept() {
    let root = thread_root();
    let events = Collector::on(&root);
    let l = locals(&root);
    l.tool_execution
        .register(
            "outer-pass",
            0,
            false,
            tool_intercept(|_, a, next| Box::pin(async move { next(a).await })),
        )
        .unwrap();
    l.tool_execution
        .register(
            "gate",
            1,
            false,
            tool_intercept(|_, _, _| Box::pin(async { Err(cb_err("PermissionError", "nope")) })),
        )
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let err = api::tool_call_execute("t", json!({}), ToolOptions::default(), echo(&calls))
        .await
        .unwrap_err();
    match &err {
        FlowError::Middleware {
            family,
            name,
            error,
        } => {
            assert_eq!(*family, "tool execution intercept");
            assert_eq!(
                name, "gate",
                "the failing intercept, not the one it passed through"
            );
            assert_eq!(error.kind, "PermissionError");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "tool execution intercept 'gate' failed: PermissionError: nope"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    let end = events.events()[1].to_json_value();
    assert_eq!(
        end["error"],
        json!({"type": "PermissionError", "message": "nope"})
    );

    // An intercept that turns the callable's failure into its own error owns it.
    let root = thread_root();
    locals(&root)
        .tool_execution
        .register(
            "wrapper",
            0,
            false,
            tool_intercept(|_, a, next| {
                Box::pin(async move {
                    next(a)
                        .await
                        .map_err(|e| cb_err("WrappedError", &format!("wrapped {}", e.message)))
                })
            }),
        )
        .unwrap();
    let err = api::tool_call_execute("t", json!({}), ToolOptions::default(), |_| {
        Box::pin(async { Err(cb_err("ValueError", "inner")) }) as BoxFuture<Res<Value>>
    })
    .await
    .unwrap_err();
    assert!(
        matches!(&err, FlowError::Middleware { name, error, .. } if name == "wrapper" && error.message == "wrapped inner"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_foreign_intercept_cannot_run_from_rust() {
    let root = thread_root();
    let events = Collector::on(&root);
    locals(&root)
        .tool_execution
        .register(
            "py-intercept",
            0,
            false,
            Execution::Foreign(Foreign(Arc::new(()))),
        )
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let err = api::tool_call_execute("t", json!({}), ToolOptions::default(), echo(&calls))
        .await
        .unwrap_err();
    match &err {
        FlowError::Middleware {
            family,
            name,
            error,
        } => {
            assert_eq!(*family, "tool execution intercept");
            assert_eq!(name, "py-intercept");
            assert_eq!(error.kind, "UnsupportedIntercept");
            assert_eq!(
                error.message,
                "execution intercept 'py-intercept' belongs to another language binding and cannot run from Rust"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(events.summary(), ["start:tool:t", "end:tool:t"]);
    assert_eq!(
        events.events()[1]
            .scope
            .as_ref()
            .unwrap()
            .error
            .as_ref()
            .unwrap()
            .kind,
        "UnsupportedIntercept"
    );

    // The same for LLM calls.
    let root = thread_root();
    locals(&root)
        .llm_execution
        .register(
            "py-llm",
            0,
            false,
            Execution::Foreign(Foreign(Arc::new(()))),
        )
        .unwrap();
    let err = api::llm_call_execute(
        "llm",
        LlmRequest::default(),
        LlmOptions::default(),
        Codecs::default(),
        |_| Box::pin(async { Ok(Value::Null) }) as BoxFuture<Res<Value>>,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, FlowError::Middleware { family: "LLM execution intercept", name, .. } if name == "py-llm"),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("belongs to another language binding"),
        "{err}"
    );
}

#[tokio::test]
async fn a_rejected_call_never_reaches_the_callable() {
    let root = thread_root();
    let events = Collector::on(&root);
    let guard: ToolConditional = Arc::new(|_: &str, _: &Value| Ok(Some("blocked".into())));
    locals(&root)
        .tool_conditional
        .register("deny", 0, false, guard)
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let err = api::tool_call_execute("t", json!({}), ToolOptions::default(), echo(&calls))
        .await
        .unwrap_err();
    assert!(matches!(err, FlowError::GuardrailRejected { ref reason, .. } if reason == "blocked"));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(
        events.summary(),
        ["start:guardrail:deny", "end:guardrail:deny", "mark:t"]
    );
}

struct Chat;

impl LlmCodec for Chat {
    fn name(&self) -> &str {
        "chat"
    }
    fn decode(&self, r: &LlmRequest) -> Result<AnnotatedLlmRequest, CallbackError> {
        Ok(AnnotatedLlmRequest {
            messages: r.content["messages"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
            model: r.content["model"].as_str().map(str::to_owned),
            ..AnnotatedLlmRequest::default()
        })
    }
    fn encode(
        &self,
        a: &AnnotatedLlmRequest,
        base: &LlmRequest,
    ) -> Result<LlmRequest, CallbackError> {
        let mut r = base.clone();
        r.content["messages"] = Value::Array(a.messages.clone());
        Ok(r)
    }
}

impl LlmResponseCodec for Chat {
    fn name(&self) -> &str {
        "chat"
    }
    fn decode_response(&self, v: &Value) -> Result<AnnotatedLlmResponse, CallbackError> {
        Ok(AnnotatedLlmResponse {
            message: v.get("text").cloned(),
            ..AnnotatedLlmResponse::default()
        })
    }
}

fn chat_request() -> LlmRequest {
    LlmRequest {
        headers: Map::new(),
        content: json!({"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}]}),
    }
}

#[tokio::test]
async fn llm_call_execute_runs_codecs_intercepts_and_events() {
    let root = thread_root();
    let events = Collector::on(&root);
    let l = locals(&root);
    let add_system: LlmRequestIntercept = Arc::new(
        |_: &str, mut r: LlmRequest, a: Option<AnnotatedLlmRequest>| {
            let mut a = a.expect("codec annotation");
            a.messages
                .insert(0, json!({"role": "system", "content": "sys"}));
            r.content["nvext"] = json!({"hint": 1});
            Ok((r, Some(a)))
        },
    );
    l.llm_request
        .register("add-system", 0, false, add_system)
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    l.llm_execution
        .register(
            "observe",
            0,
            false,
            llm_intercept(move |name, req, next| {
                s.lock().unwrap().push((name, req.clone()));
                Box::pin(async move { next(req).await })
            }),
        )
        .unwrap();
    let got = Arc::new(Mutex::new(None));
    let g = Arc::clone(&got);
    let codec = Chat;
    let out = api::llm_call_execute(
        "openai",
        chat_request(),
        LlmOptions {
            model_name: Some("gpt-x".into()),
            ..LlmOptions::default()
        },
        Codecs {
            request: Some(&codec),
            response: Some(&codec),
        },
        move |req| {
            *g.lock().unwrap() = Some(req);
            Box::pin(async { Ok(json!({"text": "hello"})) }) as BoxFuture<Res<Value>>
        },
    )
    .await
    .unwrap();
    assert_eq!(out, json!({"text": "hello"}));
    let sent = got.lock().unwrap().clone().unwrap();
    assert_eq!(sent.content["messages"][0]["content"], "sys");
    assert_eq!(
        sent.content["nvext"]["hint"], 1,
        "raw edits survive the codec"
    );
    assert_eq!(seen.lock().unwrap()[0].0, "openai");
    assert_eq!(seen.lock().unwrap()[0].1, sent);

    assert_eq!(events.summary(), ["start:llm:openai", "end:llm:openai"]);
    let ev = events.events();
    assert_eq!(ev[0].profile("model_name"), Some(&json!("gpt-x")));
    assert_eq!(
        ev[0].profile("annotated_request").unwrap()["messages"][0]["content"],
        "sys"
    );
    assert_eq!(ev[0].data.to_value()["content"]["nvext"]["hint"], 1);
    assert_eq!(
        ev[1].profile("annotated_response"),
        Some(&json!({"message": "hello"}))
    );
    assert_eq!(ev[1].parent_uuid, Some(root.info.uuid));
}

#[tokio::test]
async fn llm_execution_intercepts_short_circuit_retry_and_tag_errors() {
    let root = thread_root();
    let events = Collector::on(&root);
    let attempts = Arc::new(AtomicUsize::new(0));
    locals(&root)
        .llm_execution
        .register(
            "retry3",
            0,
            false,
            llm_intercept(|_, req, next| {
                Box::pin(async move {
                    let mut last = None;
                    for _ in 0..3 {
                        match next(req.clone()).await {
                            Ok(v) => return Ok(v),
                            Err(e) => last = Some(e),
                        }
                    }
                    Err(last.unwrap())
                })
            }),
        )
        .unwrap();
    let a = Arc::clone(&attempts);
    let err = api::llm_call_execute(
        "llm",
        chat_request(),
        LlmOptions::default(),
        Codecs::default(),
        move |_| {
            a.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { Err(cb_err("RateLimitError", "429")) }) as BoxFuture<Res<Value>>
        },
    )
    .await
    .unwrap_err();
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
    assert!(
        matches!(&err, FlowError::Callable(e) if e.kind == "RateLimitError"),
        "{err:?}"
    );
    let end = events.events()[1].to_json_value();
    assert_eq!(
        end["error"],
        json!({"type": "RateLimitError", "message": "429"})
    );

    // Short circuit, on a fresh root.
    let root = thread_root();
    let events = Collector::on(&root);
    locals(&root)
        .llm_execution
        .register(
            "canned",
            0,
            false,
            llm_intercept(|_, _, _| Box::pin(async { Ok(json!({"canned": true})) })),
        )
        .unwrap();
    let a = Arc::clone(&attempts);
    let out = api::llm_call_execute(
        "llm",
        chat_request(),
        LlmOptions::default(),
        Codecs::default(),
        move |_| {
            a.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { Ok(Value::Null) }) as BoxFuture<Res<Value>>
        },
    )
    .await
    .unwrap();
    assert_eq!(out, json!({"canned": true}));
    assert_eq!(attempts.load(Ordering::SeqCst), 3, "callable not called");
    assert_eq!(events.summary(), ["start:llm:llm", "end:llm:llm"]);

    // The intercept's own error.
    let root = thread_root();
    locals(&root)
        .llm_execution
        .register(
            "llm-gate",
            0,
            false,
            llm_intercept(|_, _, _| Box::pin(async { Err(cb_err("Denied", "no")) })),
        )
        .unwrap();
    let err = api::llm_call_execute(
        "llm",
        chat_request(),
        LlmOptions::default(),
        Codecs::default(),
        |_| Box::pin(async { Ok(Value::Null) }) as BoxFuture<Res<Value>>,
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "LLM execution intercept 'llm-gate' failed: Denied: no"
    );
}

async fn until(flag: &AtomicBool) {
    while !flag.load(Ordering::SeqCst) {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn inherit_gives_sibling_tasks_their_own_current_scope() {
    let root = thread_root();
    let events = Collector::on(&root);
    let parent = context::push(spec("parent", ScopeType::Agent)).unwrap();

    // Task a pushes first and pops last; task b pushes second and pops first. Without
    // per-task slots b's scope would nest under a's and a's pop would not be "on top".
    let a_pushed = Arc::new(AtomicBool::new(false));
    let b_done = Arc::new(AtomicBool::new(false));
    let (ap, bd) = (Arc::clone(&a_pushed), Arc::clone(&b_done));
    let a = tokio::spawn(context::inherit(async move {
        let s = context::push(spec("task-a", ScopeType::Function)).unwrap();
        ap.store(true, Ordering::SeqCst);
        until(&bd).await;
        let calls = Arc::new(AtomicUsize::new(0));
        api::tool_call_execute("tool-a", json!({}), ToolOptions::default(), echo(&calls))
            .await
            .unwrap();
        assert!(Arc::ptr_eq(&context::current(), &s));
        context::pop(&s, Value::Null, None, None).unwrap();
        context::current().info.uuid
    }));
    let (ap, bd) = (Arc::clone(&a_pushed), Arc::clone(&b_done));
    let b = tokio::spawn(context::inherit(async move {
        until(&ap).await;
        let s = context::push(spec("task-b", ScopeType::Function)).unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        api::tool_call_execute("tool-b", json!({}), ToolOptions::default(), echo(&calls))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        context::pop(&s, Value::Null, None, None).unwrap();
        bd.store(true, Ordering::SeqCst);
        context::current().info.uuid
    }));
    let b_after = b.await.unwrap();
    let a_after = a.await.unwrap();
    assert_eq!(
        a_after, parent.info.uuid,
        "each task returns to the inherited scope"
    );
    assert_eq!(b_after, parent.info.uuid);
    assert!(
        Arc::ptr_eq(&context::current(), &parent),
        "the spawner is unaffected"
    );
    context::pop(&parent, Value::Null, None, None).unwrap();

    let ev = events.events();
    let find = |s: &str| {
        ev.iter()
            .find(|e| common::summary(e) == s)
            .unwrap_or_else(|| panic!("no {s}"))
            .clone()
    };
    let ta = find("start:function:task-a");
    let tb = find("start:function:task-b");
    assert_eq!(ta.parent_uuid, Some(parent.info.uuid));
    assert_eq!(
        tb.parent_uuid,
        Some(parent.info.uuid),
        "b does not nest under a"
    );
    assert_eq!(find("start:tool:tool-a").parent_uuid, Some(ta.uuid));
    assert_eq!(find("start:tool:tool-b").parent_uuid, Some(tb.uuid));
    assert_eq!(ev.len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn inherit_captures_the_scope_at_call_time_and_follows_the_task_across_threads() {
    let root = ScopeNode::new_root();
    let events = Collector::on(&root);
    let outer = nemo_flow_core::scope::push(&root, None, spec("p", ScopeType::Agent)).unwrap();
    // Run the rest of the test inside a task slot that starts at `outer`.
    context::set_thread_scope(Arc::clone(&outer));
    let fut = context::inherit(async move {
        let me = context::current();
        let mut handles = Vec::new();
        for i in 0..8 {
            handles.push(tokio::spawn(context::inherit(async move {
                let s = context::push(spec(&format!("w{i}"), ScopeType::Function)).unwrap();
                for _ in 0..5 {
                    tokio::task::yield_now().await;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    assert!(
                        Arc::ptr_eq(&context::current(), &s),
                        "slot follows the task"
                    );
                }
                context::pop(&s, Value::Null, None, None).unwrap();
                s.info.uuid
            })));
        }
        let mut ids = Vec::new();
        for h in handles {
            ids.push(h.await.unwrap());
        }
        assert!(Arc::ptr_eq(&context::current(), &me));
        ids
    });
    // Changing this thread's scope after `inherit` was called does not affect the task.
    context::set_thread_scope(ScopeNode::new_root());
    let ids = fut.await;
    assert_eq!(ids.len(), 8);
    for e in events.events().iter().filter(|e| e.name.starts_with('w')) {
        assert_eq!(e.parent_uuid, Some(outer.info.uuid));
    }
    assert_eq!(events.len(), 1 + 16);
}

fn assert_send<T: Send>(t: T) -> T {
    t
}

#[tokio::test]
async fn the_returned_futures_are_send() {
    let _root = thread_root();
    let calls = Arc::new(AtomicUsize::new(0));
    let codec = Chat;
    let t = assert_send(api::tool_call_execute(
        "t",
        json!({}),
        ToolOptions::default(),
        echo(&calls),
    ));
    let l = assert_send(api::llm_call_execute(
        "l",
        chat_request(),
        LlmOptions::default(),
        Codecs {
            request: Some(&codec),
            response: Some(&codec),
        },
        |_| Box::pin(async { Ok(Value::Null) }) as BoxFuture<Res<Value>>,
    ));
    t.await.unwrap();
    l.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_spawned_without_inherit_still_runs_under_the_callers_scope() {
    let root = thread_root();
    let events = Collector::on(&root);
    let s = context::push(spec("caller", ScopeType::Agent)).unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let handle = tokio::spawn(api::tool_call_execute(
        "spawned",
        json!({}),
        ToolOptions::default(),
        echo(&calls),
    ));
    handle.await.unwrap().unwrap();
    context::pop(&s, Value::Null, None, None).unwrap();
    assert_eq!(
        events.summary(),
        [
            "start:agent:caller",
            "start:tool:spawned",
            "end:tool:spawned",
            "end:agent:caller"
        ]
    );
    assert_eq!(events.events()[1].parent_uuid, Some(s.info.uuid));
}

#[tokio::test]
async fn the_scope_is_read_when_the_call_is_made_not_when_it_is_awaited() {
    let root = thread_root();
    let events = Collector::on(&root);
    let calls = Arc::new(AtomicUsize::new(0));
    let fut = api::tool_call_execute("early", json!({}), ToolOptions::default(), echo(&calls));
    let later = context::push(spec("later", ScopeType::Agent)).unwrap();
    fut.await.unwrap();
    context::pop(&later, Value::Null, None, None).unwrap();
    let tool_start = events
        .events()
        .into_iter()
        .find(|e| e.name.as_ref() == "early")
        .unwrap();
    assert_eq!(tool_start.parent_uuid, Some(root.info.uuid));
}

#[tokio::test]
async fn a_dropped_call_still_emits_its_end_event() {
    let root = thread_root();
    let events = Collector::on(&root);
    let slow = |_: Value| {
        Box::pin(async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(json!("too late"))
        }) as BoxFuture<Res<Value>>
    };
    let r = tokio::time::timeout(
        Duration::from_millis(20),
        api::tool_call_execute("slow-tool", json!({}), ToolOptions::default(), slow),
    )
    .await;
    assert!(r.is_err(), "timed out");
    let r = tokio::time::timeout(
        Duration::from_millis(20),
        api::llm_call_execute(
            "slow-llm",
            chat_request(),
            LlmOptions::default(),
            Codecs::default(),
            |_| {
                Box::pin(async {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    Ok(Value::Null)
                }) as BoxFuture<Res<Value>>
            },
        ),
    )
    .await;
    assert!(r.is_err(), "timed out");
    // A future dropped before it was ever polled did nothing at all.
    let calls = Arc::new(AtomicUsize::new(0));
    drop(api::tool_call_execute(
        "never-polled",
        json!({}),
        ToolOptions::default(),
        echo(&calls),
    ));

    assert_eq!(
        events.summary(),
        [
            "start:tool:slow-tool",
            "end:tool:slow-tool",
            "start:llm:slow-llm",
            "end:llm:slow-llm"
        ]
    );
    for e in [&events.events()[1], &events.events()[3]] {
        let err = e.scope.as_ref().unwrap().error.as_ref().unwrap();
        assert_eq!(err.kind, "Cancelled");
        assert!(err.message.contains("dropped"), "{}", err.message);
    }
}
