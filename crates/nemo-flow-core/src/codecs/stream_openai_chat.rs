//! Rebuilds a Chat Completions response from `chat.completion.chunk`s: text and refusal
//! deltas concatenated per choice, tool-call argument fragments joined by tool-call index,
//! the last finish reason and the usage of the final chunk kept.

use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

use super::StreamCollector;
use super::fields::{Obj, Res};

const NAME: &str = "OpenAIChatStreamCollector";

#[derive(Default)]
struct ToolCallAcc {
    id: Option<Value>,
    kind: Option<Value>,
    name: Option<String>,
    arguments: String,
}

#[derive(Default)]
struct ChoiceAcc {
    role: Option<Value>,
    content: Option<String>,
    refusal: Option<String>,
    reasoning: Option<String>,
    tool_calls: BTreeMap<u64, ToolCallAcc>,
    finish_reason: Option<Value>,
    logprobs: Vec<Value>,
}

/// Collector for OpenAI Chat Completions streams.
#[derive(Default)]
pub struct OpenAIChatStreamCollector {
    head: Map<String, Value>,
    choices: BTreeMap<u64, ChoiceAcc>,
    usage: Option<Value>,
    chunks: u64,
}

fn append(slot: &mut Option<String>, o: &Obj<'_>, key: &str) -> Res<()> {
    if let Some(s) = o.str(key)? {
        slot.get_or_insert_with(String::new).push_str(s);
    }
    Ok(())
}

impl OpenAIChatStreamCollector {
    fn choice(&mut self, path: String, c: &Value) -> Res<()> {
        let c = Obj::of(NAME, path, c)?;
        let acc = self
            .choices
            .entry(c.u64("index")?.unwrap_or(0))
            .or_default();
        if let Some(r) = c.get("finish_reason") {
            acc.finish_reason = Some(r.clone());
        }
        if let Some(lp) = c.object("logprobs")? {
            for k in ["content", "refusal"] {
                if let Some(items) = lp.array(k)? {
                    acc.logprobs.extend(items.iter().cloned());
                }
            }
        }
        let Some(delta) = c.object("delta")? else {
            return Ok(());
        };
        if let Some(role) = delta.get("role") {
            acc.role = Some(role.clone());
        }
        append(&mut acc.content, &delta, "content")?;
        append(&mut acc.refusal, &delta, "refusal")?;
        append(&mut acc.reasoning, &delta, "reasoning_content")?;
        for (i, tc) in delta.array("tool_calls")?.into_iter().flatten().enumerate() {
            let tc = Obj::of(NAME, format!("{}[{i}]", delta.at("tool_calls")), tc)?;
            let call = acc
                .tool_calls
                .entry(tc.u64("index")?.unwrap_or(i as u64))
                .or_default();
            if let Some(id) = tc.get("id") {
                call.id = Some(id.clone());
            }
            if let Some(t) = tc.get("type") {
                call.kind = Some(t.clone());
            }
            if let Some(f) = tc.object("function")? {
                if let Some(name) = f.str("name")? {
                    // Some servers repeat the name on every fragment; others send it once.
                    if call.name.as_deref() != Some(name) {
                        call.name.get_or_insert_with(String::new).push_str(name);
                    }
                }
                if let Some(args) = f.str("arguments")? {
                    call.arguments.push_str(args);
                }
            }
        }
        Ok(())
    }
}

impl StreamCollector for OpenAIChatStreamCollector {
    fn collect(&mut self, chunk: &Value) -> Res<()> {
        let path = format!("chunk[{}]", self.chunks);
        self.chunks += 1;
        let o = Obj::of(NAME, path, chunk)?;
        for k in [
            "id",
            "created",
            "model",
            "system_fingerprint",
            "service_tier",
        ] {
            if let Some(v) = o.get(k) {
                self.head.insert(k.into(), v.clone());
            }
        }
        if let Some(u) = o.get("usage") {
            self.usage = Some(u.clone());
        }
        for (i, c) in o.array("choices")?.into_iter().flatten().enumerate() {
            self.choice(format!("{}[{i}]", o.at("choices")), c)?;
        }
        Ok(())
    }

    fn finalize(&mut self) -> Value {
        let mut out = Map::new();
        out.insert(
            "id".into(),
            self.head.get("id").cloned().unwrap_or(Value::Null),
        );
        out.insert("object".into(), json!("chat.completion"));
        for k in ["created", "model"] {
            out.insert(k.into(), self.head.get(k).cloned().unwrap_or(Value::Null));
        }
        let choices: Vec<Value> = std::mem::take(&mut self.choices)
            .into_iter()
            .map(|(index, c)| {
                let mut msg = Map::new();
                msg.insert("role".into(), c.role.unwrap_or(json!("assistant")));
                msg.insert("content".into(), c.content.map_or(Value::Null, Value::String));
                if let Some(r) = c.refusal {
                    msg.insert("refusal".into(), Value::String(r));
                }
                if let Some(r) = c.reasoning {
                    msg.insert("reasoning_content".into(), Value::String(r));
                }
                if !c.tool_calls.is_empty() {
                    let calls: Vec<Value> = c
                        .tool_calls
                        .into_values()
                        .map(|t| {
                            json!({"id": t.id.unwrap_or(Value::Null), "type": t.kind.unwrap_or(json!("function")),
                                   "function": {"name": t.name, "arguments": t.arguments}})
                        })
                        .collect();
                    msg.insert("tool_calls".into(), Value::Array(calls));
                }
                let logprobs = if c.logprobs.is_empty() { Value::Null } else { json!({"content": c.logprobs}) };
                json!({"index": index, "message": msg, "finish_reason": c.finish_reason.unwrap_or(Value::Null), "logprobs": logprobs})
            })
            .collect();
        out.insert("choices".into(), Value::Array(choices));
        if let Some(u) = self.usage.take() {
            out.insert("usage".into(), u);
        }
        for k in ["system_fingerprint", "service_tier"] {
            if let Some(v) = self.head.get(k) {
                out.insert(k.into(), v.clone());
            }
        }
        self.head.clear();
        self.chunks = 0;
        Value::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codecs::OpenAIChatCodec;
    use crate::llm::LlmResponseCodec;

    fn chunk(delta: Value, finish: Value) -> Value {
        json!({"id": "cc-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o",
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], "usage": null})
    }

    #[test]
    fn rebuilds_text_tool_calls_finish_and_usage() {
        let mut c = OpenAIChatStreamCollector::default();
        let args = ["{\"ci", "ty\": \"Pa", "ris\"", "}"];
        let mut chunks = vec![chunk(
            json!({"role": "assistant", "content": ""}),
            Value::Null,
        )];
        chunks.push(chunk(json!({"content": "Checking"}), Value::Null));
        chunks.push(chunk(json!({"content": "…"}), Value::Null));
        chunks.push(chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "weather", "arguments": ""}}]}),
            Value::Null,
        ));
        for a in args {
            chunks.push(chunk(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": a}}]}),
                Value::Null,
            ));
        }
        chunks.push(chunk(json!({}), json!("tool_calls")));
        chunks.push(json!({"id": "cc-1", "object": "chat.completion.chunk", "choices": [],
                           "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}}));
        for ch in &chunks {
            c.collect(ch).unwrap();
        }
        let full = c.finalize();
        assert_eq!(full["choices"][0]["message"]["content"], json!("Checking…"));
        assert_eq!(
            full["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
            json!("{\"city\": \"Paris\"}")
        );
        let a = OpenAIChatCodec.decode_response(&full).unwrap();
        assert_eq!(a.finish_reason.as_deref(), Some("tool_use"));
        assert_eq!(
            a.tool_calls,
            Some(vec![
                json!({"id": "call_1", "name": "weather", "arguments": {"city": "Paris"}})
            ])
        );
        assert_eq!(a.usage.unwrap()["total_tokens"], json!(13));
    }

    #[test]
    fn malformed_chunk_names_the_field() {
        let mut c = OpenAIChatStreamCollector::default();
        c.collect(&chunk(json!({"content": "a"}), Value::Null))
            .unwrap();
        let e = c
            .collect(&chunk(json!({"content": 5}), Value::Null))
            .unwrap_err();
        assert_eq!(
            e.message,
            "OpenAIChatStreamCollector: chunk[1].choices[0].delta.content: expected a string, got number"
        );
    }
}
