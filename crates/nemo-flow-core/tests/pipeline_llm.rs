//! The managed LLM pipeline as synchronous steps, with Rust request and response codecs.

mod common;

use common::{Collector, cb_err, install_reporter, locals, reports_mentioning, scope_err};
use nemo_flow_core::error::{CallbackError, Foreign};
use nemo_flow_core::event::ErrorInfo;
use nemo_flow_core::llm::{
    AnnotatedLlmRequest, AnnotatedLlmResponse, LlmCodec, LlmRequest, LlmResponseCodec,
};
use nemo_flow_core::middleware::{
    Execution, LlmConditional, LlmRequestIntercept, LlmSanitizeRequest, LlmSanitizeResponse,
};
use nemo_flow_core::pipeline::llm::{self, LazyRequest, LlmBegin, LlmOptions, ResponseAnnotation};
use nemo_flow_core::pipeline::{Lazy, LazyOf, Outcome, redaction_marker};
use nemo_flow_core::{FlowError, FlowResult, LlmAttributes, ScopeNode};
use serde_json::{Map, Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A minimal chat codec: `messages` and `model` are annotated; everything else stays raw.
/// `encode` writes the annotation over `base` and returns *no* headers, so the pipeline must
/// put the intercepted headers back itself.
#[derive(Default)]
struct ChatCodec {
    decodes: AtomicUsize,
    encodes: AtomicUsize,
    encode_bases: Mutex<Vec<LlmRequest>>,
}

impl LlmCodec for ChatCodec {
    fn name(&self) -> &str {
        "chat-codec"
    }

    fn decode(&self, r: &LlmRequest) -> Result<AnnotatedLlmRequest, CallbackError> {
        self.decodes.fetch_add(1, Ordering::SeqCst);
        let c = r
            .content
            .as_object()
            .ok_or_else(|| cb_err("TypeError", "content must be an object"))?;
        Ok(AnnotatedLlmRequest {
            messages: c
                .get("messages")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            model: c.get("model").and_then(Value::as_str).map(str::to_owned),
            ..AnnotatedLlmRequest::default()
        })
    }

    fn encode(
        &self,
        a: &AnnotatedLlmRequest,
        base: &LlmRequest,
    ) -> Result<LlmRequest, CallbackError> {
        self.encodes.fetch_add(1, Ordering::SeqCst);
        self.encode_bases.lock().unwrap().push(base.clone());
        let mut content = base.content.clone();
        content["messages"] = Value::Array(a.messages.clone());
        if let Some(m) = &a.model {
            content["model"] = json!(m);
        }
        Ok(LlmRequest {
            headers: Map::new(),
            content,
        })
    }
}

struct FailingCodec {
    fail_decode: bool,
}

impl LlmCodec for FailingCodec {
    fn name(&self) -> &str {
        "failing-codec"
    }
    fn decode(&self, _: &LlmRequest) -> Result<AnnotatedLlmRequest, CallbackError> {
        if self.fail_decode {
            Err(cb_err("DecodeError", "unreadable"))
        } else {
            Ok(AnnotatedLlmRequest::default())
        }
    }
    fn encode(&self, _: &AnnotatedLlmRequest, _: &LlmRequest) -> Result<LlmRequest, CallbackError> {
        Err(cb_err("EncodeError", "unwritable"))
    }
}

/// Reads `choices[0].message.content` and `id`; fails without `choices`.
#[derive(Default)]
struct ChatResponseCodec {
    decoded: Mutex<Vec<Value>>,
}

impl LlmResponseCodec for ChatResponseCodec {
    fn name(&self) -> &str {
        "chat-response-codec"
    }
    fn decode_response(&self, v: &Value) -> Result<AnnotatedLlmResponse, CallbackError> {
        self.decoded.lock().unwrap().push(v.clone());
        let choice = v
            .get("choices")
            .and_then(|c| c.get(0))
            .ok_or_else(|| cb_err("KeyError", "choices"))?;
        Ok(AnnotatedLlmResponse {
            id: v.get("id").and_then(Value::as_str).map(str::to_owned),
            message: choice
                .get("message")
                .and_then(|m| m.get("content"))
                .cloned(),
            finish_reason: choice
                .get("finish_reason")
                .and_then(Value::as_str)
                .map(str::to_owned),
            ..AnnotatedLlmResponse::default()
        })
    }
}

fn request() -> LlmRequest {
    let mut headers = Map::new();
    headers.insert("h".into(), json!("v"));
    LlmRequest {
        headers,
        content: json!({
            "model": "gpt-x",
            "messages": [{"role": "user", "content": "hi"}],
            "temperature": 0.1
        }),
    }
}

fn model(name: &str) -> LlmOptions {
    LlmOptions {
        model_name: Some(name.into()),
        ..LlmOptions::default()
    }
}

fn begin(
    ctx: &Arc<ScopeNode>,
    name: &str,
    req: LlmRequest,
    codec: Option<&dyn LlmCodec>,
    opts: LlmOptions,
) -> FlowResult<LlmBegin> {
    llm::begin(
        ctx,
        ctx.info.uuid,
        name,
        &mut LazyOf::Ready(req),
        codec,
        opts,
        false,
    )
}

fn intercept(
    f: impl Fn(LlmRequest, Option<AnnotatedLlmRequest>) -> (LlmRequest, Option<AnnotatedLlmRequest>)
    + Send
    + Sync
    + 'static,
) -> LlmRequestIntercept {
    Arc::new(move |_: &str, r: LlmRequest, a: Option<AnnotatedLlmRequest>| Ok(f(r, a)))
}

#[test]
fn a_changed_annotation_is_encoded_over_the_intercepted_request() {
    let root = ScopeNode::new_root();
    let codec = ChatCodec::default();
    let l = locals(&root);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    l.llm_request
        .register(
            "edit",
            1,
            false,
            Arc::new(
                move |name: &str, mut r: LlmRequest, a: Option<AnnotatedLlmRequest>| {
                    s.lock().unwrap().push((name.to_string(), a.clone()));
                    let mut a = a.expect("intercepts see the annotation");
                    r.headers.insert("authorization".into(), json!("Bearer t"));
                    r.content["nvext"] = json!({"agent_hints": {"latency": 1}});
                    a.messages
                        .insert(0, json!({"role": "system", "content": "be brief"}));
                    Ok((r, Some(a)))
                },
            ),
        )
        .unwrap();
    l.llm_request
        .register(
            "check",
            2,
            false,
            intercept(|r, a| {
                let a = a.unwrap();
                assert_eq!(
                    a.messages.len(),
                    2,
                    "sees the earlier intercept's annotation"
                );
                assert_eq!(r.content["nvext"]["agent_hints"]["latency"], 1);
                (r, Some(a))
            }),
        )
        .unwrap();

    let mut lazy = LazyOf::Ready(request());
    let begun = llm::begin(
        &root,
        root.info.uuid,
        "openai",
        &mut lazy,
        Some(&codec),
        model("gpt-x"),
        false,
    )
    .unwrap();

    let decoded = AnnotatedLlmRequest {
        messages: vec![json!({"role": "user", "content": "hi"})],
        model: Some("gpt-x".into()),
        ..AnnotatedLlmRequest::default()
    };
    assert_eq!(
        *seen.lock().unwrap(),
        [("openai".to_string(), Some(decoded))]
    );
    assert_eq!(codec.encodes.load(Ordering::SeqCst), 1);
    // Encode ran over the intercepted request, not the original.
    let bases = codec.encode_bases.lock().unwrap().clone();
    assert_eq!(bases[0].content["nvext"]["agent_hints"]["latency"], 1);

    let sent = begun.request.expect("intercepts ran");
    assert_eq!(
        sent.content,
        json!({
            "model": "gpt-x",
            "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
            "temperature": 0.1,
            "nvext": {"agent_hints": {"latency": 1}}
        }),
        "raw content edits survive the encode"
    );
    assert_eq!(
        Value::Object(sent.headers.clone()),
        json!({"h": "v", "authorization": "Bearer t"}),
        "the intercepted headers are kept"
    );
    assert!(
        matches!(lazy, LazyOf::Ready(ref r) if *r == sent),
        "the callable gets it too"
    );
}

#[test]
fn an_unchanged_annotation_is_not_encoded() {
    let root = ScopeNode::new_root();
    let codec = ChatCodec::default();
    locals(&root)
        .llm_request
        .register(
            "raw-only",
            0,
            false,
            intercept(|mut r, a| {
                assert!(a.is_some());
                r.content["nvext"] = json!(1);
                r.headers.insert("x".into(), json!("y"));
                (r, a)
            }),
        )
        .unwrap();
    let begun = begin(&root, "llm", request(), Some(&codec), LlmOptions::default()).unwrap();
    assert_eq!(codec.encodes.load(Ordering::SeqCst), 0);
    assert_eq!(
        codec.decodes.load(Ordering::SeqCst),
        1,
        "no subscriber: decoded once"
    );
    let sent = begun.request.unwrap();
    assert_eq!(sent.content["nvext"], 1);
    assert_eq!(sent.headers.get("x"), Some(&json!("y")));
    assert_eq!(sent.headers.get("h"), Some(&json!("v")));

    // An intercept that drops the annotation: nothing to encode either.
    let root = ScopeNode::new_root();
    let codec = ChatCodec::default();
    locals(&root)
        .llm_request
        .register("drop", 0, false, intercept(|r, _| (r, None)))
        .unwrap();
    let begun = begin(&root, "llm", request(), Some(&codec), LlmOptions::default()).unwrap();
    assert_eq!(codec.encodes.load(Ordering::SeqCst), 0);
    assert_eq!(begun.request, Some(request()));
}

#[test]
fn break_chain_stops_llm_request_intercepts() {
    let root = ScopeNode::new_root();
    let l = locals(&root);
    let tag = |k: &'static str| {
        intercept(move |mut r, a| {
            r.headers.insert(k.into(), json!(true));
            (r, a)
        })
    };
    l.llm_request
        .register("first", 1, true, tag("first"))
        .unwrap();
    l.llm_request
        .register("second", 2, false, tag("second"))
        .unwrap();
    let mut lazy = LazyOf::Ready(request());
    let out = llm::request_intercepts(&root, "llm", &mut lazy, None)
        .unwrap()
        .unwrap();
    assert_eq!(out.headers.get("first"), Some(&json!(true)));
    assert_eq!(out.headers.get("second"), None);
}

#[test]
fn without_intercepts_the_codec_is_not_run_and_the_request_is_unchanged() {
    let root = ScopeNode::new_root();
    let codec = ChatCodec::default();
    let begun = begin(&root, "llm", request(), Some(&codec), LlmOptions::default()).unwrap();
    assert_eq!(begun.request, None);
    assert_eq!(codec.decodes.load(Ordering::SeqCst), 0);
    assert_eq!(codec.encodes.load(Ordering::SeqCst), 0);

    // Without a codec, intercepts see no annotation.
    locals(&root)
        .llm_request
        .register(
            "no-codec",
            0,
            false,
            intercept(|r, a| {
                assert!(a.is_none());
                (r, a)
            }),
        )
        .unwrap();
    let begun = begin(&root, "llm", request(), None, LlmOptions::default()).unwrap();
    assert_eq!(begun.request, Some(request()));
}

#[test]
fn codec_and_intercept_failures_abort_before_any_llm_event() {
    let root = ScopeNode::new_root();
    let events = Collector::on(&root);
    locals(&root)
        .llm_request
        .register(
            "change",
            0,
            false,
            intercept(|r, _| {
                (
                    r,
                    Some(AnnotatedLlmRequest {
                        model: Some("other".into()),
                        ..AnnotatedLlmRequest::default()
                    }),
                )
            }),
        )
        .unwrap();

    let err = begin(
        &root,
        "llm",
        request(),
        Some(&FailingCodec { fail_decode: true }),
        LlmOptions::default(),
    )
    .err()
    .unwrap();
    assert!(
        matches!(&err, FlowError::Middleware { family: "codec decode", name, error } if name == "failing-codec" && error.kind == "DecodeError"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "codec decode 'failing-codec' failed: DecodeError: unreadable"
    );
    let err = begin(
        &root,
        "llm",
        request(),
        Some(&FailingCodec { fail_decode: false }),
        LlmOptions::default(),
    )
    .err()
    .unwrap();
    assert!(
        matches!(&err, FlowError::Middleware { family: "codec encode", name, .. } if name == "failing-codec"),
        "{err:?}"
    );

    let root2 = ScopeNode::new_root();
    let events2 = Collector::on(&root2);
    locals(&root2)
        .llm_request
        .register(
            "boom",
            0,
            false,
            Arc::new(|_: &str, _: LlmRequest, _: Option<AnnotatedLlmRequest>| {
                Err(cb_err("RuntimeError", "nope"))
            }),
        )
        .unwrap();
    let err = begin(&root2, "llm", request(), None, LlmOptions::default())
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "LLM request intercept 'boom' failed: RuntimeError: nope"
    );
    assert!(events.summary().is_empty());
    assert!(events2.summary().is_empty());
}

#[test]
fn the_start_event_records_the_sanitized_request_and_its_annotation() {
    let root = ScopeNode::new_root();
    let events = Collector::on(&root);
    let codec = ChatCodec::default();
    let l = locals(&root);
    l.llm_request
        .register(
            "auth",
            0,
            false,
            intercept(|mut r, a| {
                r.headers
                    .insert("authorization".into(), json!("Bearer secret-token"));
                (r, a)
            }),
        )
        .unwrap();
    let sanitize_seen = Arc::new(Mutex::new(Vec::new()));
    let ss = Arc::clone(&sanitize_seen);
    let sanitize: LlmSanitizeRequest = Arc::new(move |mut r: LlmRequest| {
        ss.lock().unwrap().push(r.clone());
        r.headers.insert("authorization".into(), json!("***"));
        if let Some(msgs) = r.content["messages"].as_array_mut() {
            for m in msgs {
                m["content"] = json!("[redacted]");
            }
        }
        Ok(r)
    });
    l.llm_sanitize_request
        .register("redact", 0, false, sanitize)
        .unwrap();

    let begun = begin(&root, "openai", request(), Some(&codec), model("gpt-x")).unwrap();

    // The sanitizer saw the intercepted request; the callable gets it unsanitized.
    let sent = begun.request.unwrap();
    assert_eq!(sent.headers["authorization"], "Bearer secret-token");
    assert_eq!(sent.content["messages"][0]["content"], "hi");
    assert_eq!(sanitize_seen.lock().unwrap()[0], sent);

    let start = events.events()[0].to_json_value();
    assert_eq!(start["category"], "llm");
    assert_eq!(start["scope_category"], "start");
    assert_eq!(
        start["data"],
        json!({
            "headers": {"h": "v", "authorization": "***"},
            "content": {"model": "gpt-x", "messages": [{"role": "user", "content": "[redacted]"}], "temperature": 0.1}
        })
    );
    assert_eq!(
        start["category_profile"],
        json!({
            "model_name": "gpt-x",
            "annotated_request": {"messages": [{"role": "user", "content": "[redacted]"}], "model": "gpt-x"}
        }),
        "the annotation is decoded from the sanitized request"
    );
    assert!(!start.to_string().contains("secret-token"));
    assert!(!start.to_string().contains("\"hi\""));
    assert_eq!(
        codec.decodes.load(Ordering::SeqCst),
        2,
        "intercepts + start event"
    );
}

#[test]
fn the_start_profile_has_only_what_was_given() {
    let root = ScopeNode::new_root();
    let events = Collector::on(&root);
    begin(&root, "a", request(), None, model("m")).unwrap();
    begin(&root, "b", request(), None, LlmOptions::default()).unwrap();
    let opts = LlmOptions {
        attributes: LlmAttributes(LlmAttributes::STREAMING.0 | LlmAttributes::STATEFUL.0),
        metadata: json!({"k": 1}),
        ..LlmOptions::default()
    };
    begin(&root, "c", request(), None, opts).unwrap();
    let ev = events.events();
    assert_eq!(
        ev[0].to_json_value()["category_profile"],
        json!({"model_name": "m"})
    );
    assert_eq!(ev[1].to_json_value()["category_profile"], json!({}));
    assert_eq!(ev[1].data, request().to_json());
    let c = ev[2].to_json_value();
    assert_eq!(c["attributes"], json!(["stateful", "streaming"]));
    assert_eq!(c["metadata"], json!({"k": 1}));
}

#[test]
fn a_failing_request_sanitizer_redacts_data_and_annotation() {
    install_reporter();
    let root = ScopeNode::new_root();
    let events = Collector::on(&root);
    let codec = ChatCodec::default();
    let sanitize: LlmSanitizeRequest = Arc::new(|_| Err(cb_err("KeyError", "headers")));
    locals(&root)
        .llm_sanitize_request
        .register("llm-leaky-91c2", 0, false, sanitize)
        .unwrap();
    begin(&root, "openai", request(), Some(&codec), model("gpt-x")).unwrap();
    let start = &events.events()[0];
    assert_eq!(start.data, redaction_marker("llm-leaky-91c2"));
    assert_eq!(
        start.to_json_value()["category_profile"],
        json!({"model_name": "gpt-x"}),
        "no annotation derived from unsanitized data"
    );
    assert!(!start.to_json_string().contains("\"hi\""));
    assert_eq!(
        reports_mentioning("llm-leaky-91c2"),
        [(
            "LLM sanitize-request guardrail 'llm-leaky-91c2'".to_string(),
            // Only the type: a sanitizer's message may quote the payload.
            "KeyError: [message withheld: it may quote the payload being sanitized]".to_string()
        )]
    );
}

#[test]
fn the_end_event_decodes_the_sanitized_response() {
    let root = ScopeNode::new_root();
    let events = Collector::on(&root);
    let sanitize: LlmSanitizeResponse = Arc::new(|mut v: Value| {
        v["choices"][0]["message"]["content"] = json!("[redacted]");
        Ok(v)
    });
    locals(&root)
        .llm_sanitize_response
        .register("redact", 0, false, sanitize)
        .unwrap();
    let rcodec = ChatResponseCodec::default();
    let begun = begin(&root, "openai", request(), None, model("gpt-x")).unwrap();
    let raw = json!({"id": "r1", "choices": [{"message": {"role": "assistant", "content": "the secret"}, "finish_reason": "stop"}]});
    let mut out = Lazy::Ready(raw.clone());
    llm::end(
        &begun.handle,
        Outcome::Ok(&mut out),
        ResponseAnnotation::Codec(&rcodec),
        json!({"e": 1}),
        None,
    )
    .unwrap();
    assert!(
        matches!(out, LazyOf::Ready(ref v) if *v == raw),
        "the caller keeps the raw response"
    );
    let end = events.events()[1].to_json_value();
    assert_eq!(end["scope_category"], "end");
    assert_eq!(
        end["data"]["choices"][0]["message"]["content"],
        "[redacted]"
    );
    assert_eq!(
        end["category_profile"],
        json!({
            "model_name": "gpt-x",
            "annotated_response": {"id": "r1", "message": "[redacted]", "finish_reason": "stop"}
        })
    );
    assert_eq!(end["metadata"], json!({"e": 1}));
    assert_eq!(end["error"], Value::Null);
    assert!(!end.to_string().contains("the secret"));
    assert_eq!(rcodec.decoded.lock().unwrap().len(), 1);
}

#[test]
fn a_given_annotation_or_none_or_a_failing_response_codec() {
    install_reporter();
    let root = ScopeNode::new_root();
    let events = Collector::on(&root);
    let given = AnnotatedLlmResponse {
        message: Some(json!("hello")),
        ..AnnotatedLlmResponse::default()
    };
    let b1 = begin(&root, "given", request(), None, LlmOptions::default()).unwrap();
    llm::end(
        &b1.handle,
        Outcome::Ok(&mut Lazy::Ready(json!({"x": 1}))),
        ResponseAnnotation::Given(Box::new(given)),
        Value::Null,
        None,
    )
    .unwrap();
    let b2 = begin(&root, "none", request(), None, LlmOptions::default()).unwrap();
    llm::end(
        &b2.handle,
        Outcome::Ok(&mut Lazy::Ready(json!({"x": 1}))),
        ResponseAnnotation::None,
        Value::Null,
        None,
    )
    .unwrap();

    struct Bad;
    impl LlmResponseCodec for Bad {
        fn name(&self) -> &str {
            "bad-response-codec-5d1e"
        }
        fn decode_response(&self, _: &Value) -> Result<AnnotatedLlmResponse, CallbackError> {
            Err(cb_err("ValueError", "cannot decode"))
        }
    }
    let b3 = begin(&root, "bad", request(), None, LlmOptions::default()).unwrap();
    llm::end(
        &b3.handle,
        Outcome::Ok(&mut Lazy::Ready(json!({"x": 1}))),
        ResponseAnnotation::Codec(&Bad),
        Value::Null,
        None,
    )
    .unwrap();

    let ev = events.events();
    assert_eq!(
        ev[1].to_json_value()["category_profile"],
        json!({"annotated_response": {"message": "hello"}})
    );
    assert_eq!(ev[3].to_json_value()["category_profile"], json!({}));
    assert_eq!(ev[5].to_json_value()["category_profile"], json!({}));
    assert_eq!(
        ev[5].data,
        json!({"x": 1}),
        "the end event is still emitted"
    );
    assert_eq!(
        reports_mentioning("bad-response-codec-5d1e"),
        [(
            "response codec 'bad-response-codec-5d1e' decode_response".to_string(),
            "ValueError: cannot decode".to_string()
        )]
    );
}

#[test]
fn a_failed_llm_call_records_the_error_and_the_handle_data() {
    let root = ScopeNode::new_root();
    let events = Collector::on(&root);
    let rcodec = ChatResponseCodec::default();
    let opts = LlmOptions {
        data: json!({"app": true}),
        metadata: json!({"a": 1}),
        model_name: Some("m".into()),
        ..LlmOptions::default()
    };
    let begun = begin(&root, "llm", request(), None, opts).unwrap();
    llm::end(
        &begun.handle,
        Outcome::Err(ErrorInfo {
            kind: "TimeoutError".into(),
            message: "slow".into(),
        }),
        ResponseAnnotation::Codec(&rcodec),
        json!({"b": 2}),
        None,
    )
    .unwrap();
    let end = events.events()[1].to_json_value();
    assert_eq!(end["data"], json!({"app": true}));
    assert_eq!(
        end["error"],
        json!({"type": "TimeoutError", "message": "slow"})
    );
    assert_eq!(end["metadata"], json!({"a": 1, "b": 2}));
    assert_eq!(end["category_profile"], json!({"model_name": "m"}));
    assert!(rcodec.decoded.lock().unwrap().is_empty());

    let msg = scope_err(llm::end(
        &begun.handle,
        Outcome::Ok(&mut Lazy::Ready(json!(1))),
        ResponseAnnotation::None,
        Value::Null,
        None,
    ));
    assert_eq!(
        msg,
        format!(
            "LLM call 'llm' ({}) has already ended",
            begun.handle.span.info.uuid
        )
    );
    assert_eq!(events.len(), 2);
}

#[test]
fn chunk_marks_are_parented_to_the_llm_call() {
    let root = ScopeNode::new_root();
    let events = Collector::on(&root);
    let l = locals(&root);
    l.llm_stream_execution
        .register(
            "stream-wrap",
            0,
            false,
            Execution::Foreign(Foreign(Arc::new(()))),
        )
        .unwrap();
    l.llm_execution
        .register(
            "plain-wrap",
            0,
            false,
            Execution::Foreign(Foreign(Arc::new(()))),
        )
        .unwrap();
    let opts = LlmOptions {
        attributes: LlmAttributes::STREAMING,
        model_name: Some("gpt-x".into()),
        ..LlmOptions::default()
    };
    let begun = llm::begin(
        &root,
        root.info.uuid,
        "openai",
        &mut LazyOf::Ready(request()),
        None,
        opts,
        true,
    )
    .unwrap();
    assert!(begun.execution.is_empty());
    assert_eq!(begun.stream_execution.len(), 1);
    assert_eq!(&*begun.stream_execution[0].name, "stream-wrap");
    let plain = begin(&root, "plain", request(), None, LlmOptions::default()).unwrap();
    assert_eq!(plain.execution.len(), 1);
    assert!(plain.stream_execution.is_empty());

    let chunks = [
        json!({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "sec"}}]}),
        json!({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "ret"}, "finish_reason": "stop"}],
               "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}),
        json!("opaque"),
    ];
    for (i, c) in chunks.iter().enumerate() {
        llm::chunk(&begun.handle, i as u64, &mut Lazy::Ready(c.clone())).unwrap();
    }
    llm::end(
        &begun.handle,
        Outcome::Ok(&mut Lazy::Ready(json!({"text": "secret"}))),
        ResponseAnnotation::None,
        Value::Null,
        None,
    )
    .unwrap();

    assert_eq!(
        events.summary(),
        [
            "start:llm:openai",
            "start:llm:plain",
            "mark:llm.chunk",
            "mark:llm.chunk",
            "mark:llm.chunk",
            "end:llm:openai"
        ]
    );
    let ev = events.events();
    let llm_uuid = begun.handle.span.info.uuid;
    for (i, m) in ev[2..5].iter().enumerate() {
        assert_eq!(m.parent_uuid, Some(llm_uuid));
        assert_eq!(m.root_uuid, root.info.uuid);
        assert_eq!(m.category, None);
        assert_eq!(m.data.to_value()["chunk_index"], json!(i));
        assert!(!m.to_json_string().contains("sec"), "never the content");
    }
    assert_eq!(ev[2].data.to_value()["provider"], "openai_chat_completions");
    assert_eq!(
        ev[3].data,
        json!({"chunk_index": 1, "provider": "openai_chat_completions", "event_type": "chat.completion.chunk",
               "choice_indices": [0], "finish_reasons": [{"choice_index": 0, "finish_reason": "stop"}],
               "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}})
    );
    assert_eq!(ev[4].data, json!({"chunk_index": 2, "provider": "unknown"}));
    assert_eq!(ev[5].to_json_value()["attributes"], json!(["streaming"]));
    assert_eq!(ev[5].data, json!({"text": "secret"}));

    // Unobserved chunks are never converted.
    let quiet = ScopeNode::new_root();
    let b = begin(&quiet, "q", request(), None, LlmOptions::default()).unwrap();
    llm::chunk(
        &b.handle,
        0,
        &mut Lazy::pending(|| panic!("chunk converted")),
    )
    .unwrap();
}

#[test]
fn llm_guardrails_emit_scope_pairs_and_a_mark_named_after_the_call() {
    let root = ScopeNode::new_root();
    let events = Collector::on(&root);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    let guard: LlmConditional = Arc::new(move |r: &LlmRequest| {
        s.lock().unwrap().push(r.clone());
        Ok(Some("too expensive".into()))
    });
    locals(&root)
        .llm_conditional
        .register("budget", 0, false, guard)
        .unwrap();

    let err = llm::begin(
        &root,
        root.info.uuid,
        "openai",
        &mut LazyOf::Ready(request()),
        None,
        LlmOptions {
            metadata: json!({"lm": 1}),
            ..LlmOptions::default()
        },
        false,
    )
    .err()
    .unwrap();
    assert_eq!(err.to_string(), "guardrail rejected: too expensive");
    assert_eq!(*seen.lock().unwrap(), [request()]);
    assert_eq!(
        events.summary(),
        [
            "start:guardrail:budget",
            "end:guardrail:budget",
            "mark:openai"
        ]
    );
    let ev = events.events();
    assert_eq!(ev[0].data, json!({"kind": "llm_conditional_execution"}));
    assert_eq!(
        ev[1].data,
        json!({"allowed": false, "rejected": true, "rejection_reason": "too expensive"})
    );
    assert_eq!(
        ev[2].data,
        json!({"rejected": true, "rejection_reason": "too expensive"})
    );
    for e in &ev {
        assert_eq!(e.metadata, json!({"lm": 1}));
        assert_eq!(e.parent_uuid, Some(root.info.uuid));
    }

    // Without a mark name (the standalone check), no mark.
    events.clear();
    let mut lazy: LazyRequest<'_> = LazyOf::Ready(request());
    let err =
        llm::check_guardrails(&root, root.info.uuid, None, &mut lazy, &Value::Null).unwrap_err();
    assert!(
        matches!(err, FlowError::GuardrailRejected { ref guardrail, .. } if guardrail == "budget")
    );
    assert_eq!(
        events.summary(),
        ["start:guardrail:budget", "end:guardrail:budget"]
    );
}

#[test]
fn an_unobserved_llm_request_is_not_converted() {
    let root = ScopeNode::new_root();
    let codec = ChatCodec::default();
    let mut lazy: LazyRequest<'_> = LazyOf::pending(|| panic!("request converted"));
    let begun = llm::begin(
        &root,
        root.info.uuid,
        "llm",
        &mut lazy,
        Some(&codec),
        LlmOptions::default(),
        false,
    )
    .unwrap();
    assert!(matches!(lazy, LazyOf::Pending(_)));
    assert_eq!(codec.decodes.load(Ordering::SeqCst), 0);
    llm::end(
        &begun.handle,
        Outcome::Ok(&mut Lazy::pending(|| panic!("response converted"))),
        ResponseAnnotation::None,
        Value::Null,
        None,
    )
    .unwrap();
}

#[test]
fn decode_annotated_maps_codec_errors() {
    let req = request();
    let a = llm::decode_annotated(&ChatCodec::default(), &req).unwrap();
    assert_eq!(a.model.as_deref(), Some("gpt-x"));
    let err = llm::decode_annotated(&FailingCodec { fail_decode: true }, &req).unwrap_err();
    assert!(matches!(
        err,
        FlowError::Middleware {
            family: "codec decode",
            ..
        }
    ));
}
