//! Responses responses: output text, function calls, status and usage.

use serde_json::{Map, Value, json};

use super::{NAME, OpenAIResponsesCodec};
use crate::codecs::fields::{Obj, Res, parse_arguments, usage};
use crate::llm::{AnnotatedLlmResponse, LlmResponseCodec};

/// `status` + `incomplete_details.reason` → normalized finish reason.
fn finish_reason(status: Option<&str>, reason: Option<&str>) -> Option<String> {
    Some(
        match (status?, reason) {
            ("completed", _) => "complete",
            (_, Some("max_output_tokens")) => "length",
            (_, Some("content_filter")) => "content_filter",
            (_, Some(other)) => other,
            (other, None) => other,
        }
        .to_string(),
    )
}

impl LlmResponseCodec for OpenAIResponsesCodec {
    fn name(&self) -> &str {
        NAME
    }

    fn decode_response(&self, response: &Value) -> Res<AnnotatedLlmResponse> {
        let o = Obj::of(NAME, "response", response)?;
        let output = o.array("output")?.ok_or_else(|| {
            crate::codecs::fields::missing(NAME, "response.output", "a list of output items")
        })?;
        let mut text = String::new();
        let mut has_text = false;
        let mut calls = Vec::new();
        for (i, item) in output.iter().enumerate() {
            let it = Obj::of(NAME, format!("response.output[{i}]"), item)?;
            match it.str("type")? {
                Some("message") => {
                    for (j, part) in it.array("content")?.into_iter().flatten().enumerate() {
                        let p = Obj::of(NAME, format!("{}[{j}]", it.at("content")), part)?;
                        if p.str("type")? == Some("output_text") {
                            text.push_str(p.req_str("text")?);
                            has_text = true;
                        }
                    }
                }
                Some("function_call") => calls.push(json!({
                    "id": it.get("call_id").cloned().unwrap_or(Value::Null),
                    "name": it.req_str("name")?,
                    "arguments": it.get("arguments").map(parse_arguments).unwrap_or(json!({})),
                })),
                _ => {}
            }
        }
        let incomplete = o.object("incomplete_details")?;
        let reason = match &incomplete {
            Some(d) => d.str("reason")?,
            None => None,
        };
        let status = o.str("status")?;
        let (mut input_details, mut output_details) = (Value::Null, Value::Null);
        let usage_map = match o.object("usage")? {
            Some(u) => {
                let (cached, cache_write) = match u.object("input_tokens_details")? {
                    Some(d) => (d.u64("cached_tokens")?, d.u64("cache_write_tokens")?),
                    None => (None, None),
                };
                input_details = u
                    .get("input_tokens_details")
                    .cloned()
                    .unwrap_or(Value::Null);
                output_details = u
                    .get("output_tokens_details")
                    .cloned()
                    .unwrap_or(Value::Null);
                usage(
                    u.u64("input_tokens")?,
                    u.u64("output_tokens")?,
                    u.u64("total_tokens")?,
                    cached,
                    cache_write,
                )
            }
            None => None,
        };
        let field = |k: &str| o.get(k).cloned().unwrap_or(Value::Null);
        let mut api = Map::new();
        api.insert("api".into(), json!("openai_responses"));
        api.insert("output_items".into(), Value::Array(output.clone()));
        for k in [
            "status",
            "incomplete_details",
            "previous_response_id",
            "store",
            "service_tier",
            "truncation",
            "reasoning",
        ] {
            api.insert(k.into(), field(k));
        }
        api.insert("input_tokens_details".into(), input_details);
        api.insert("output_tokens_details".into(), output_details);
        Ok(AnnotatedLlmResponse {
            id: o.string("id")?,
            model: o.string("model")?,
            message: has_text.then_some(Value::String(text)),
            tool_calls: (!calls.is_empty()).then_some(calls),
            finish_reason: finish_reason(status, reason),
            usage: usage_map,
            api_specific: Some(api),
            extra: Map::new(),
        })
    }
}
