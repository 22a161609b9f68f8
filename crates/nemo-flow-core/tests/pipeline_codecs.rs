//! The managed LLM pipeline with the built-in provider codecs: annotation edits and raw
//! request edits both reach the provider request, and a payload the codec cannot read fails
//! the call before its start event.

mod common;

use common::{Collector, locals};
use nemo_flow_core::codecs::{AnthropicMessagesCodec, OpenAIChatCodec};
use nemo_flow_core::llm::{AnnotatedLlmRequest, LlmRequest};
use nemo_flow_core::pipeline::LazyOf;
use nemo_flow_core::pipeline::llm::{self, LlmOptions};
use nemo_flow_core::{FlowError, ScopeNode};
use serde_json::{Map, json};
use std::sync::Arc;

fn request(content: serde_json::Value) -> LlmRequest {
    LlmRequest {
        headers: Map::new(),
        content,
    }
}

#[test]
fn annotation_and_raw_edits_both_reach_the_provider_request() {
    let root = ScopeNode::new_root();
    let events = Collector::on(&root);
    locals(&root)
        .llm_request
        .register(
            "edit",
            1,
            false,
            Arc::new(
                |_: &str, mut r: LlmRequest, a: Option<AnnotatedLlmRequest>| {
                    let mut a = a.expect("a codec is in use");
                    a.messages
                        .insert(0, json!({"role": "system", "content": "Be brief."}));
                    a.params
                        .get_or_insert_with(Map::new)
                        .insert("temperature".into(), json!(0));
                    r.content["metadata"] = json!({"trace": "t1"});
                    r.headers.insert("x-trace".into(), json!("t1"));
                    Ok((r, Some(a)))
                },
            ),
        )
        .unwrap();
    let original = request(json!({
        "model": "claude", "max_tokens": 64,
        "messages": [{"role": "user", "content": "Hi"}]
    }));
    let begun = llm::begin(
        &root,
        root.info.uuid,
        "claude",
        &mut LazyOf::Ready(original),
        Some(&AnthropicMessagesCodec),
        LlmOptions::default(),
        false,
    )
    .unwrap();
    let sent = begun.request.expect("the request changed");
    assert_eq!(
        sent.content,
        json!({"model": "claude", "max_tokens": 64, "system": "Be brief.", "temperature": 0,
               "messages": [{"role": "user", "content": "Hi"}], "metadata": {"trace": "t1"}})
    );
    assert_eq!(sent.headers.get("x-trace"), Some(&json!("t1")));
    let start = &events.events()[0];
    let annotated = &start.category_profile.as_ref().unwrap()["annotated_request"];
    assert_eq!(annotated["metadata"], json!({"trace": "t1"}));
    assert_eq!(annotated["messages"][0]["content"], json!("Be brief."));
}

#[test]
fn an_unreadable_payload_fails_before_the_start_event_when_someone_listens() {
    let root = ScopeNode::new_root();
    let events = Collector::on(&root);
    let err = llm::begin(
        &root,
        root.info.uuid,
        "gpt",
        &mut LazyOf::Ready(request(
            json!({"messages": [{"role": "user", "content": 3}]}),
        )),
        Some(&OpenAIChatCodec),
        LlmOptions::default(),
        false,
    )
    .err()
    .expect("decode fails");
    match err {
        FlowError::Middleware {
            family,
            name,
            error,
        } => {
            assert_eq!((family, name.as_str()), ("codec decode", "OpenAIChatCodec"));
            assert!(
                error.message.contains("messages[0].content"),
                "{}",
                error.message
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(events.len(), 0);
}
