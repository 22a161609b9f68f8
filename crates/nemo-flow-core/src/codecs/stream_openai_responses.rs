//! Rebuilds an OpenAI Responses response from its stream events. The terminal event
//! (`response.completed`, `.incomplete`, `.failed`) carries the response object with status,
//! usage and incomplete details; its output is filled from the items assembled from
//! `output_item`, `content_part`, `output_text.delta` and `function_call_arguments.delta`
//! events when the server left it empty (or the stream ended early).

use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

use super::StreamCollector;
use super::fields::{Obj, Res};

const NAME: &str = "OpenAIResponsesStreamCollector";

/// Collector for OpenAI Responses streams.
#[derive(Default)]
pub struct OpenAIResponsesStreamCollector {
    response: Option<Map<String, Value>>,
    items: BTreeMap<u64, Value>,
    events: u64,
}

fn content_part(item: &mut Value, index: u64) -> &mut Value {
    if !item.get("content").is_some_and(Value::is_array) {
        item["content"] = json!([]);
    }
    let parts = item["content"].as_array_mut().expect("content list");
    while parts.len() as u64 <= index {
        parts.push(json!({"type": "output_text", "text": "", "annotations": []}));
    }
    &mut parts[index as usize]
}

fn append_str(slot: &mut Value, key: &str, s: &str) {
    let cur = slot
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    slot[key] = Value::String(cur + s);
}

impl OpenAIResponsesStreamCollector {
    fn item(&mut self, o: &Obj<'_>) -> Res<&mut Value> {
        let index = o.u64("output_index")?.unwrap_or(0);
        Ok(self
            .items
            .entry(index)
            .or_insert_with(|| json!({"type": "message", "role": "assistant", "content": []})))
    }
}

impl StreamCollector for OpenAIResponsesStreamCollector {
    fn collect(&mut self, event: &Value) -> Res<()> {
        let path = format!("event[{}]", self.events);
        self.events += 1;
        let o = Obj::of(NAME, path, event)?;
        match o.req_str("type")? {
            "response.created"
            | "response.in_progress"
            | "response.queued"
            | "response.completed"
            | "response.incomplete"
            | "response.failed" => {
                if let Some(r) = o.object("response")? {
                    self.response = Some(r.map.clone());
                }
            }
            "response.output_item.added" | "response.output_item.done" => {
                let item = o.object("item")?.map(|i| Value::Object(i.map.clone()));
                if let Some(item) = item {
                    *self.item(&o)? = item;
                }
            }
            "response.content_part.added" | "response.content_part.done" => {
                let part = o.object("part")?.map(|p| Value::Object(p.map.clone()));
                let index = o.u64("content_index")?.unwrap_or(0);
                if let Some(part) = part {
                    *content_part(self.item(&o)?, index) = part;
                }
            }
            "response.output_text.delta" | "response.refusal.delta" => {
                let key = if o.req_str("type")? == "response.refusal.delta" {
                    "refusal"
                } else {
                    "text"
                };
                let delta = o.req_str("delta")?;
                let index = o.u64("content_index")?.unwrap_or(0);
                append_str(content_part(self.item(&o)?, index), key, delta);
            }
            "response.output_text.done" => {
                let text = o.req_str("text")?;
                let index = o.u64("content_index")?.unwrap_or(0);
                content_part(self.item(&o)?, index)["text"] = json!(text);
            }
            "response.function_call_arguments.delta" => {
                let delta = o.req_str("delta")?;
                append_str(self.item(&o)?, "arguments", delta);
            }
            "response.function_call_arguments.done" => {
                let args = o.req_str("arguments")?;
                self.item(&o)?["arguments"] = json!(args);
            }
            _ => {} // reasoning summaries, built-in tool progress, errors: not part of the response body
        }
        Ok(())
    }

    fn finalize(&mut self) -> Value {
        let mut out = self.response.take().unwrap_or_else(|| {
            let mut m = Map::new();
            m.insert("object".into(), json!("response"));
            m
        });
        let rebuilt: Vec<Value> = std::mem::take(&mut self.items).into_values().collect();
        let empty = out
            .get("output")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty);
        if empty {
            out.insert("output".into(), Value::Array(rebuilt));
        }
        self.events = 0;
        Value::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codecs::OpenAIResponsesCodec;
    use crate::llm::LlmResponseCodec;

    #[test]
    fn rebuilds_text_and_function_call_when_final_output_is_empty() {
        let mut c = OpenAIResponsesStreamCollector::default();
        let mut events = vec![
            json!({"type": "response.created", "response": {"id": "resp_1", "object": "response", "status": "in_progress", "model": "gpt-5", "output": []}}),
            json!({"type": "response.output_item.added", "output_index": 0, "item": {"type": "message", "id": "m1", "role": "assistant", "content": []}}),
            json!({"type": "response.content_part.added", "output_index": 0, "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}),
            json!({"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": "Hel"}),
            json!({"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": "lo"}),
            json!({"type": "response.output_item.added", "output_index": 1, "item": {"type": "function_call", "id": "fc", "call_id": "c1", "name": "f", "arguments": ""}}),
        ];
        for frag in ["{\"a\"", ":", "1}"] {
            events.push(json!({"type": "response.function_call_arguments.delta", "output_index": 1, "delta": frag}));
        }
        events.push(json!({"type": "response.completed", "response": {"id": "resp_1", "object": "response", "status": "completed", "model": "gpt-5", "output": [],
                            "usage": {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}}}));
        for e in &events {
            c.collect(e).unwrap();
        }
        let a = OpenAIResponsesCodec.decode_response(&c.finalize()).unwrap();
        assert_eq!(a.response_text().as_deref(), Some("Hello"));
        assert_eq!(
            a.tool_calls,
            Some(vec![
                json!({"id": "c1", "name": "f", "arguments": {"a": 1}})
            ])
        );
        assert_eq!(a.finish_reason.as_deref(), Some("complete"));
        assert_eq!(a.usage.unwrap()["completion_tokens"], json!(4));
    }

    #[test]
    fn event_without_type_names_the_field() {
        let e = OpenAIResponsesStreamCollector::default()
            .collect(&json!({"delta": "x"}))
            .unwrap_err();
        assert!(
            e.message
                .starts_with("OpenAIResponsesStreamCollector: event[0].type: expected a string"),
            "{}",
            e.message
        );
    }
}
