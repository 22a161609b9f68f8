//! Anthropic Messages responses: content blocks, stop reason and usage.

use serde_json::{Map, Value, json};

use super::{AnthropicMessagesCodec, NAME};
use crate::codecs::fields::{Obj, Res, usage};
use crate::llm::{AnnotatedLlmResponse, LlmResponseCodec};

/// `stop_reason` → normalized finish reason (unknown reasons kept verbatim).
pub(crate) fn finish_reason(raw: &str) -> String {
    match raw {
        "end_turn" | "stop_sequence" => "complete",
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_use",
        "refusal" => "content_filter",
        other => other,
    }
    .to_string()
}

impl LlmResponseCodec for AnthropicMessagesCodec {
    fn name(&self) -> &str {
        NAME
    }

    fn decode_response(&self, response: &Value) -> Res<AnnotatedLlmResponse> {
        let o = Obj::of(NAME, "response", response)?;
        let blocks = o.array("content")?.ok_or_else(|| {
            crate::codecs::fields::missing(NAME, "response.content", "a list of content blocks")
        })?;
        let mut text = String::new();
        let mut has_text = false;
        let mut calls = Vec::new();
        for (i, block) in blocks.iter().enumerate() {
            let b = Obj::of(NAME, format!("response.content[{i}]"), block)?;
            match b.req_str("type")? {
                "text" => {
                    text.push_str(b.req_str("text")?);
                    has_text = true;
                }
                "tool_use" => calls
                    .push(json!({"id": b.req_str("id")?, "name": b.req_str("name")?,
                    "arguments": b.get("input").cloned().unwrap_or(json!({}))})),
                _ => {}
            }
        }
        let mut service_tier = Value::Null;
        let usage_map = match o.object("usage")? {
            Some(u) => {
                let (input, output) = (u.u64("input_tokens")?, u.u64("output_tokens")?);
                let total = (input.is_some() || output.is_some())
                    .then(|| input.unwrap_or(0) + output.unwrap_or(0));
                service_tier = u.get("service_tier").cloned().unwrap_or(Value::Null);
                usage(
                    input,
                    output,
                    total,
                    u.u64("cache_read_input_tokens")?,
                    u.u64("cache_creation_input_tokens")?,
                )
            }
            None => None,
        };
        let field = |k: &str| o.get(k).cloned().unwrap_or(Value::Null);
        let mut api = Map::new();
        api.insert("api".into(), json!("anthropic_messages"));
        api.insert("object_type".into(), field("type"));
        api.insert("role".into(), field("role"));
        api.insert("stop_reason".into(), field("stop_reason"));
        api.insert("stop_sequence".into(), field("stop_sequence"));
        api.insert("service_tier".into(), service_tier);
        api.insert("container".into(), field("container"));
        api.insert("content_blocks".into(), Value::Array(blocks.clone()));
        Ok(AnnotatedLlmResponse {
            id: o.string("id")?,
            model: o.string("model")?,
            message: has_text.then_some(Value::String(text)),
            tool_calls: (!calls.is_empty()).then_some(calls),
            finish_reason: o.str("stop_reason")?.map(finish_reason),
            usage: usage_map,
            api_specific: Some(api),
            extra: Map::new(),
        })
    }
}
