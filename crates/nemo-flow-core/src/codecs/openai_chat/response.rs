//! Chat Completions responses: the first choice, its tool calls, finish reason and usage.

use serde_json::{Map, Value, json};

use super::{NAME, OpenAIChatCodec};
use crate::codecs::fields::{Obj, Res, parse_arguments, usage};
use crate::llm::{AnnotatedLlmResponse, LlmResponseCodec};

/// Chat `finish_reason` → normalized reason (unknown reasons kept verbatim).
pub(crate) fn finish_reason(raw: &str) -> String {
    match raw {
        "stop" => "complete",
        "length" => "length",
        "tool_calls" | "function_call" => "tool_use",
        "content_filter" => "content_filter",
        other => other,
    }
    .to_string()
}

impl LlmResponseCodec for OpenAIChatCodec {
    fn name(&self) -> &str {
        NAME
    }

    fn decode_response(&self, response: &Value) -> Res<AnnotatedLlmResponse> {
        let o = Obj::of(NAME, "response", response)?;
        let choices = o.array("choices")?.ok_or_else(|| {
            crate::codecs::fields::missing(NAME, "response.choices", "a list of choices")
        })?;
        let mut out = AnnotatedLlmResponse {
            id: o.string("id")?,
            model: o.string("model")?,
            ..AnnotatedLlmResponse::default()
        };
        if let Some(first) = choices.first() {
            let choice = Obj::of(NAME, "response.choices[0]", first)?;
            out.finish_reason = choice.str("finish_reason")?.map(finish_reason);
            if let Some(msg) = choice.object("message")? {
                out.message = msg.get("content").cloned();
                out.tool_calls = tool_calls(&msg)?;
            }
            let mut api = Map::new();
            api.insert("api".into(), json!("openai_chat"));
            api.insert(
                "logprobs".into(),
                choice.get("logprobs").cloned().unwrap_or(Value::Null),
            );
            api.insert(
                "system_fingerprint".into(),
                o.get("system_fingerprint").cloned().unwrap_or(Value::Null),
            );
            api.insert(
                "service_tier".into(),
                o.get("service_tier").cloned().unwrap_or(Value::Null),
            );
            out.api_specific = Some(api);
        }
        if let Some(u) = o.object("usage")? {
            let cached = match u.object("prompt_tokens_details")? {
                Some(d) => d.u64("cached_tokens")?,
                None => None,
            };
            out.usage = usage(
                u.u64("prompt_tokens")?,
                u.u64("completion_tokens")?,
                u.u64("total_tokens")?,
                cached,
                None,
            );
        }
        Ok(out)
    }
}

/// `message.tool_calls` → `[{id, name, arguments}]`; entries without a function name are
/// skipped (reference §6.3), string arguments parsed as JSON when they hold JSON.
fn tool_calls(msg: &Obj<'_>) -> Res<Option<Vec<Value>>> {
    let Some(calls) = msg.array("tool_calls")? else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for (i, c) in calls.iter().enumerate() {
        let c = Obj::of(NAME, format!("{}[{i}]", msg.at("tool_calls")), c)?;
        let Some(f) = c.object("function")? else {
            continue;
        };
        let Some(name) = f.str("name")? else { continue };
        out.push(json!({
            "id": c.get("id").cloned().unwrap_or(Value::Null),
            "name": name,
            "arguments": f.get("arguments").map(parse_arguments).unwrap_or(json!({})),
        }));
    }
    Ok((!out.is_empty()).then_some(out))
}
