//! Compact summaries of streamed LLM chunks for `llm.chunk` marks: the provider, event type,
//! indices, finish reasons and usage, never the generated content.

use serde_json::{Map, Value, json};

/// Summarizes one chunk (OpenAI Chat, OpenAI Responses, Anthropic Messages, or unknown).
pub fn chunk_summary(index: u64, chunk: &Value) -> Value {
    let mut out = Map::new();
    out.insert("chunk_index".into(), json!(index));
    let obj = chunk.as_object();
    let ty = obj.and_then(|o| o.get("type")).and_then(Value::as_str);
    let object = obj.and_then(|o| o.get("object")).and_then(Value::as_str);
    match (obj, object, ty) {
        (Some(o), Some("chat.completion.chunk"), _) => openai_chat(o, &mut out),
        (Some(o), _, Some(t)) if t.starts_with("response.") => openai_responses(o, t, &mut out),
        (Some(o), _, Some(t)) if is_anthropic(t) => anthropic(o, t, &mut out),
        _ => {
            out.insert("provider".into(), json!("unknown"));
        }
    }
    Value::Object(out)
}

fn is_anthropic(t: &str) -> bool {
    matches!(
        t,
        "message_start"
            | "message_delta"
            | "message_stop"
            | "content_block_start"
            | "content_block_delta"
            | "content_block_stop"
            | "ping"
    )
}

fn openai_chat(o: &Map<String, Value>, out: &mut Map<String, Value>) {
    out.insert("provider".into(), json!("openai_chat_completions"));
    out.insert("event_type".into(), json!("chat.completion.chunk"));
    let choices = o
        .get("choices")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let indices: Vec<Value> = choices
        .iter()
        .filter_map(|c| c.get("index").cloned())
        .collect();
    out.insert("choice_indices".into(), Value::Array(indices));
    let finish: Vec<Value> = choices
        .iter()
        .filter_map(|c| {
            let r = c.get("finish_reason").filter(|r| !r.is_null())?;
            Some(json!({"choice_index": c.get("index").cloned().unwrap_or(Value::Null), "finish_reason": r}))
        })
        .collect();
    if !finish.is_empty() {
        out.insert("finish_reasons".into(), Value::Array(finish));
    }
    if let Some(u) = o.get("usage").and_then(Value::as_object) {
        let mut usage = pick(
            u,
            &[
                ("prompt_tokens", "prompt_tokens"),
                ("completion_tokens", "completion_tokens"),
                ("total_tokens", "total_tokens"),
            ],
        );
        if let Some(c) = u
            .get("prompt_tokens_details")
            .and_then(|d| d.get("cached_tokens"))
        {
            usage.insert("cache_read_tokens".into(), c.clone());
        }
        out.insert("usage".into(), Value::Object(usage));
    }
}

fn openai_responses(o: &Map<String, Value>, t: &str, out: &mut Map<String, Value>) {
    out.insert("provider".into(), json!("openai_responses"));
    out.insert("event_type".into(), json!(t));
    let mut indices = Map::new();
    for k in ["output_index", "content_index"] {
        if let Some(v) = o.get(k) {
            indices.insert(k.into(), v.clone());
        }
    }
    if !indices.is_empty() {
        out.insert("indices".into(), Value::Object(indices));
    }
    let response = o.get("response").and_then(Value::as_object);
    if let Some(s) = response.and_then(|r| r.get("status")) {
        out.insert("status".into(), s.clone());
    }
    if let Some(r) = response
        .and_then(|r| r.get("incomplete_details"))
        .and_then(|d| d.get("reason"))
    {
        out.insert("finish_reason".into(), r.clone());
    }
    if let Some(u) = response
        .and_then(|r| r.get("usage"))
        .and_then(Value::as_object)
    {
        let mut usage = pick(
            u,
            &[
                ("input_tokens", "prompt_tokens"),
                ("output_tokens", "completion_tokens"),
                ("total_tokens", "total_tokens"),
            ],
        );
        if let Some(c) = u
            .get("input_tokens_details")
            .and_then(|d| d.get("cached_tokens"))
        {
            usage.insert("cache_read_tokens".into(), c.clone());
        }
        out.insert("usage".into(), Value::Object(usage));
    }
}

fn anthropic(o: &Map<String, Value>, t: &str, out: &mut Map<String, Value>) {
    out.insert("provider".into(), json!("anthropic_messages"));
    out.insert("event_type".into(), json!(t));
    if let Some(i) = o.get("index") {
        out.insert("indices".into(), json!({"index": i}));
    }
    let stop = o
        .get("delta")
        .and_then(|d| d.get("stop_reason"))
        .filter(|r| !r.is_null());
    if let Some(r) = stop {
        out.insert("stop_reason".into(), r.clone());
    }
    let usage = o
        .get("usage")
        .or_else(|| o.get("message").and_then(|m| m.get("usage")))
        .and_then(Value::as_object);
    if let Some(u) = usage {
        let mut m = pick(
            u,
            &[
                ("input_tokens", "prompt_tokens"),
                ("output_tokens", "completion_tokens"),
            ],
        );
        let total: i64 = ["input_tokens", "output_tokens"]
            .iter()
            .filter_map(|k| u.get(*k).and_then(Value::as_i64))
            .sum();
        m.insert("total_tokens".into(), json!(total));
        for (k, to) in [
            ("cache_read_input_tokens", "cache_read_tokens"),
            ("cache_creation_input_tokens", "cache_write_tokens"),
        ] {
            if let Some(v) = u.get(k).filter(|v| !v.is_null()) {
                m.insert(to.into(), v.clone());
            }
        }
        out.insert("usage".into(), Value::Object(m));
    }
}

fn pick(u: &Map<String, Value>, keys: &[(&str, &str)]) -> Map<String, Value> {
    keys.iter()
        .filter_map(|(from, to)| Some(((*to).to_string(), u.get(*from)?.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_chat_chunk_summary_matches_reference_shape() {
        let c = json!({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "secret"}, "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}});
        assert_eq!(
            chunk_summary(1, &c),
            json!({"chunk_index": 1, "provider": "openai_chat_completions", "event_type": "chat.completion.chunk",
                   "choice_indices": [0], "finish_reasons": [{"choice_index": 0, "finish_reason": "stop"}],
                   "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}})
        );
        assert!(!chunk_summary(1, &c).to_string().contains("secret"));
    }

    #[test]
    fn anthropic_usage_totals_and_unknown_provider() {
        let c = json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"input_tokens": 4, "output_tokens": 6}});
        let s = chunk_summary(3, &c);
        assert_eq!(s["provider"], "anthropic_messages");
        assert_eq!(s["stop_reason"], "end_turn");
        assert_eq!(s["usage"]["total_tokens"], 10);
        assert_eq!(
            chunk_summary(0, &json!("text")),
            json!({"chunk_index": 0, "provider": "unknown"})
        );
    }

    #[test]
    fn responses_summary_reads_indices_and_usage() {
        let c = json!({"type": "response.completed", "response": {"status": "completed", "usage": {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}}});
        let s = chunk_summary(9, &c);
        assert_eq!(s["provider"], "openai_responses");
        assert_eq!(s["status"], "completed");
        assert_eq!(
            s["usage"],
            json!({"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3})
        );
    }
}
