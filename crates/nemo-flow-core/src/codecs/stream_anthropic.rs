//! Rebuilds an Anthropic Messages response from its stream events: `message_start` gives
//! the envelope, content blocks are assembled from text, thinking, signature and
//! `input_json_delta` fragments (parsed when the block stops), and `message_delta` brings the
//! stop reason and the final usage.

use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

use super::StreamCollector;
use super::fields::{Obj, Res};
use crate::error::CallbackError;

const NAME: &str = "AnthropicMessagesStreamCollector";

/// Collector for Anthropic Messages streams.
#[derive(Default)]
pub struct AnthropicMessagesStreamCollector {
    message: Map<String, Value>,
    blocks: BTreeMap<u64, Value>,
    partial_json: BTreeMap<u64, String>,
    events: u64,
}

fn append_str(slot: &mut Value, key: &str, s: &str) {
    let cur = slot
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    slot[key] = Value::String(cur + s);
}

impl AnthropicMessagesStreamCollector {
    fn finish_block(&mut self, index: u64, path: &str) -> Res<()> {
        let Some(json) = self.partial_json.remove(&index) else {
            return Ok(());
        };
        let input = if json.trim().is_empty() {
            json!({})
        } else {
            serde_json::from_str(&json).map_err(|e| {
                CallbackError::new(
                    "ValueError",
                    format!("{NAME}: {path}: content block {index}: input_json_delta fragments are not valid JSON ({e})"),
                )
            })?
        };
        self.blocks
            .entry(index)
            .or_insert_with(|| json!({"type": "tool_use"}))["input"] = input;
        Ok(())
    }
}

impl StreamCollector for AnthropicMessagesStreamCollector {
    fn collect(&mut self, event: &Value) -> Res<()> {
        let path = format!("event[{}]", self.events);
        self.events += 1;
        let o = Obj::of(NAME, path, event)?;
        match o.req_str("type")? {
            "message_start" => {
                if let Some(m) = o.object("message")? {
                    self.message = m.map.clone();
                }
            }
            "content_block_start" => {
                let index = o.u64("index")?.unwrap_or(0);
                if let Some(b) = o.object("content_block")? {
                    self.blocks.insert(index, Value::Object(b.map.clone()));
                }
            }
            "content_block_delta" => {
                let index = o.u64("index")?.unwrap_or(0);
                let Some(d) = o.object("delta")? else {
                    return Ok(());
                };
                let block = self
                    .blocks
                    .entry(index)
                    .or_insert_with(|| json!({"type": "text", "text": ""}));
                match d.req_str("type")? {
                    "text_delta" => append_str(block, "text", d.req_str("text")?),
                    "thinking_delta" => append_str(block, "thinking", d.req_str("thinking")?),
                    "signature_delta" => block["signature"] = json!(d.req_str("signature")?),
                    "citations_delta" => {
                        if let Some(c) = d.get("citation") {
                            if !block.get("citations").is_some_and(Value::is_array) {
                                block["citations"] = json!([]);
                            }
                            block["citations"]
                                .as_array_mut()
                                .expect("citations list")
                                .push(c.clone());
                        }
                    }
                    "input_json_delta" => {
                        let frag = d.req_str("partial_json")?;
                        self.partial_json.entry(index).or_default().push_str(frag);
                    }
                    _ => {}
                }
            }
            "content_block_stop" => {
                let index = o.u64("index")?.unwrap_or(0);
                let path = o.path.clone();
                self.finish_block(index, &path)?;
            }
            "message_delta" => {
                if let Some(d) = o.object("delta")? {
                    for (k, v) in d.map {
                        self.message.insert(k.clone(), v.clone());
                    }
                }
                if let Some(u) = o.object("usage")? {
                    // Counts in message_delta are cumulative: they replace message_start's.
                    let usage = self.message.entry("usage").or_insert_with(|| json!({}));
                    for (k, v) in u.map.iter().filter(|(_, v)| !v.is_null()) {
                        usage[k] = v.clone();
                    }
                }
            }
            _ => {} // message_stop, ping, error
        }
        Ok(())
    }

    fn finalize(&mut self) -> Value {
        // A stream cut short still yields whatever input JSON parses.
        for index in self.partial_json.keys().copied().collect::<Vec<_>>() {
            let _ = self.finish_block(index, "finalize");
        }
        let mut out = std::mem::take(&mut self.message);
        out.entry("type").or_insert_with(|| json!("message"));
        out.entry("role").or_insert_with(|| json!("assistant"));
        out.insert(
            "content".into(),
            Value::Array(std::mem::take(&mut self.blocks).into_values().collect()),
        );
        self.partial_json.clear();
        self.events = 0;
        Value::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codecs::AnthropicMessagesCodec;
    use crate::llm::LlmResponseCodec;

    #[test]
    fn rebuilds_blocks_tool_input_stop_reason_and_usage() {
        let mut c = AnthropicMessagesStreamCollector::default();
        let mut events = vec![
            json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude", "content": [],
                   "stop_reason": null, "usage": {"input_tokens": 20, "output_tokens": 1, "cache_read_input_tokens": 8}}}),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            json!({"type": "ping"}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Let me "}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "look."}}),
            json!({"type": "content_block_stop", "index": 0}),
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "tu_1", "name": "search", "input": {}}}),
        ];
        for frag in ["", "{\"q\": ", "\"rust ", "serde\"", "}"] {
            events.push(json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": frag}}));
        }
        events.push(json!({"type": "content_block_stop", "index": 1}));
        events.push(json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 42}}));
        events.push(json!({"type": "message_stop"}));
        for e in &events {
            c.collect(e).unwrap();
        }
        let a = AnthropicMessagesCodec
            .decode_response(&c.finalize())
            .unwrap();
        assert_eq!(a.response_text().as_deref(), Some("Let me look."));
        assert_eq!(
            a.tool_calls,
            Some(vec![
                json!({"id": "tu_1", "name": "search", "arguments": {"q": "rust serde"}})
            ])
        );
        assert_eq!(a.finish_reason.as_deref(), Some("tool_use"));
        assert_eq!(
            Value::Object(a.usage.unwrap()),
            json!({"prompt_tokens": 20, "completion_tokens": 42, "total_tokens": 62, "cache_read_tokens": 8})
        );
    }

    #[test]
    fn broken_input_json_names_the_block() {
        let mut c = AnthropicMessagesStreamCollector::default();
        c.collect(&json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "{\"a\""}}))
            .unwrap();
        let e = c
            .collect(&json!({"type": "content_block_stop", "index": 2}))
            .unwrap_err();
        assert!(
            e.message
                .starts_with("AnthropicMessagesStreamCollector: event[1]: content block 2"),
            "{}",
            e.message
        );
    }
}
