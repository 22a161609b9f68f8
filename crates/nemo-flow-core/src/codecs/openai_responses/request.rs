//! Responses requests: `instructions` and `input` ↔ messages, tools, options.

use serde_json::{Map, Value, json};

use super::{NAME, OpenAIResponsesCodec};
use crate::codecs::fields::{Obj, Res, apply_extra, arguments_string, bad, encode_base, put};
use crate::codecs::messages::{check_messages, stop_list};
use crate::llm::{AnnotatedLlmRequest, LlmCodec, LlmRequest, content_text};

const OWNED: &[&str] = &[
    "instructions",
    "input",
    "model",
    "temperature",
    "top_p",
    "stop",
    "max_output_tokens",
    "tools",
    "tool_choice",
    "store",
    "previous_response_id",
    "truncation",
    "reasoning",
    "include",
    "user",
    "metadata",
    "service_tier",
    "parallel_tool_calls",
    "max_tool_calls",
    "top_logprobs",
    "stream",
];

fn part_in(codec: &'static str, path: String, p: &Value) -> Res<Value> {
    let o = Obj::of(codec, path, p)?;
    Ok(match o.req_str("type")? {
        "input_text" | "output_text" => {
            let mut part = json!({"type": "text", "text": o.req_str("text")?});
            if let Some(ann) = o
                .get("annotations")
                .filter(|a| a.as_array().is_some_and(|a| !a.is_empty()))
            {
                part["annotations"] = ann.clone();
            }
            part
        }
        "input_image" if o.get("image_url").is_some() => {
            let mut img = json!({"url": o.req_str("image_url")?});
            if let Some(d) = o.get("detail") {
                img["detail"] = d.clone();
            }
            json!({"type": "image_url", "image_url": img})
        }
        _ => p.clone(),
    })
}

fn part_out(p: &Value, assistant: bool) -> Value {
    match p.get("type").and_then(Value::as_str) {
        Some("text") => {
            let mut part = json!({"type": if assistant { "output_text" } else { "input_text" }, "text": p.get("text").cloned().unwrap_or(json!(""))});
            if assistant {
                part["annotations"] = p.get("annotations").cloned().unwrap_or(json!([]));
            }
            part
        }
        Some("image_url") => {
            let img = p.get("image_url");
            let url = img
                .and_then(|i| i.get("url").or(Some(i)))
                .cloned()
                .unwrap_or(Value::Null);
            let mut part = json!({"type": "input_image", "image_url": url});
            part["detail"] = img
                .and_then(|i| i.get("detail"))
                .cloned()
                .unwrap_or(json!("auto"));
            part
        }
        _ => p.clone(),
    }
}

fn input_item(items_out: &mut Vec<Value>, i: usize, item: &Value) -> Res<()> {
    let o = Obj::of(NAME, format!("input[{i}]"), item)?;
    match o.str("type")? {
        None | Some("message") => {
            let role = o.req_str("role")?;
            let content = match o.get("content") {
                Some(Value::String(s)) => Value::String(s.clone()),
                Some(Value::Array(parts)) => Value::Array(
                    parts
                        .iter()
                        .enumerate()
                        .map(|(j, p)| part_in(NAME, format!("{}[{j}]", o.at("content")), p))
                        .collect::<Res<_>>()?,
                ),
                Some(other) => {
                    return Err(bad(
                        NAME,
                        &o.at("content"),
                        "a string or a list of content parts",
                        other,
                    ));
                }
                None => Value::String(String::new()),
            };
            items_out.push(json!({"role": role, "content": content}));
        }
        Some("function_call") => {
            let call = json!({"id": o.req_str("call_id")?, "type": "function",
                "function": {"name": o.req_str("name")?, "arguments": o.get("arguments").map(arguments_string).unwrap_or_else(|| "{}".into())}});
            // Consecutive calls belong to one assistant turn.
            if let Some(prev) = items_out.last_mut().filter(|m| {
                m.get("role") == Some(&json!("assistant")) && m.get("tool_calls").is_some()
            }) {
                prev["tool_calls"]
                    .as_array_mut()
                    .expect("tool_calls list")
                    .push(call);
            } else {
                items_out.push(json!({"role": "assistant", "content": null, "tool_calls": [call]}));
            }
        }
        Some("function_call_output") => {
            let output = match o.get("output") {
                Some(Value::String(s)) => Value::String(s.clone()),
                Some(other) => other.clone(),
                None => Value::String(String::new()),
            };
            items_out.push(
                json!({"role": "tool", "tool_call_id": o.req_str("call_id")?, "content": output}),
            );
        }
        Some(_) => items_out.push(item.clone()),
    }
    Ok(())
}

/// Normalized messages → `input` items.
fn to_input(messages: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    for m in messages {
        let Some(role) = m.get("role").and_then(Value::as_str) else {
            out.push(m.clone()); // a provider item kept verbatim
            continue;
        };
        match role {
            "tool" => out.push(json!({
                "type": "function_call_output",
                "call_id": m.get("tool_call_id").cloned().unwrap_or(Value::Null),
                "output": match m.get("content") {
                    Some(c @ Value::String(_)) => c.clone(),
                    Some(c) => Value::String(content_text(c).unwrap_or_default()),
                    None => json!(""),
                },
            })),
            _ => {
                let assistant = role == "assistant";
                match m.get("content") {
                    Some(Value::String(s))
                        if !(assistant && s.is_empty() && m.get("tool_calls").is_some()) =>
                    {
                        out.push(json!({"role": role, "content": s}));
                    }
                    Some(Value::Array(parts)) => {
                        let parts: Vec<Value> =
                            parts.iter().map(|p| part_out(p, assistant)).collect();
                        out.push(json!({"role": role, "content": parts}));
                    }
                    _ => {}
                }
                for call in m
                    .get("tool_calls")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let f = call.get("function");
                    out.push(json!({
                        "type": "function_call",
                        "call_id": call.get("id").cloned().unwrap_or(Value::Null),
                        "name": f.and_then(|f| f.get("name")).cloned().unwrap_or(Value::Null),
                        "arguments": f.and_then(|f| f.get("arguments")).map(arguments_string).unwrap_or_else(|| "{}".into()),
                    }));
                }
            }
        }
    }
    out
}

fn tool_in(i: usize, t: &Value) -> Res<Value> {
    let o = Obj::of(NAME, format!("tools[{i}]"), t)?;
    if o.req_str("type")? != "function" {
        return Ok(t.clone());
    }
    let mut f = Map::new();
    f.insert("name".into(), json!(o.req_str("name")?));
    for k in ["description", "parameters", "strict"] {
        if let Some(v) = o.get(k) {
            f.insert(k.into(), v.clone());
        }
    }
    Ok(json!({"type": "function", "function": f}))
}

fn tool_out(t: &Value) -> Value {
    match (
        t.get("type").and_then(Value::as_str),
        t.get("function").and_then(Value::as_object),
    ) {
        (Some("function"), Some(f)) => {
            let mut out = Map::new();
            out.insert("type".into(), json!("function"));
            for (k, v) in f {
                out.insert(k.clone(), v.clone());
            }
            Value::Object(out)
        }
        _ => t.clone(),
    }
}

fn tool_choice_in(o: &Obj<'_>) -> Res<Option<Value>> {
    match o.get("tool_choice") {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(json!(s))),
        Some(v @ Value::Object(m)) => Ok(Some(
            match (m.get("type").and_then(Value::as_str), m.get("name")) {
                (Some("function"), Some(name)) => {
                    json!({"type": "function", "function": {"name": name}})
                }
                _ => v.clone(),
            },
        )),
        Some(v) => Err(bad(NAME, "tool_choice", "a string or an object", v)),
    }
}

fn tool_choice_out(v: &Value) -> Value {
    match v.get("function").and_then(|f| f.get("name")) {
        Some(name) if v.get("type") == Some(&json!("function")) => {
            json!({"type": "function", "name": name})
        }
        _ => v.clone(),
    }
}

impl LlmCodec for OpenAIResponsesCodec {
    fn name(&self) -> &str {
        NAME
    }

    fn encode_edits(
        &self,
        before: &AnnotatedLlmRequest,
        after: &AnnotatedLlmRequest,
        base: &LlmRequest,
    ) -> Res<LlmRequest> {
        crate::codecs::encode_edits(self, before, after, base)
    }

    fn decode(&self, request: &LlmRequest) -> Res<AnnotatedLlmRequest> {
        let o = Obj::body(NAME, &request.content)?;
        let mut messages = Vec::new();
        if let Some(instr) = o.get("instructions") {
            let Value::String(s) = instr else {
                return Err(bad(NAME, "instructions", "a string", instr));
            };
            messages.push(json!({"role": "system", "content": s}));
        }
        match o.get("input") {
            None => {}
            Some(Value::String(s)) => messages.push(json!({"role": "user", "content": s})),
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    input_item(&mut messages, i, item)?;
                }
            }
            Some(other) => {
                return Err(bad(
                    NAME,
                    "input",
                    "a string or a list of input items",
                    other,
                ));
            }
        }
        let mut params = Map::new();
        for key in ["temperature", "top_p"] {
            if let Some(v) = o.number(key)? {
                params.insert(key.into(), v);
            }
        }
        let max_output_tokens = o.u64("max_output_tokens")?;
        if let Some(n) = max_output_tokens {
            params.insert("max_tokens".into(), n.into());
        }
        if let Some(stop) = stop_list(&o, "stop")? {
            params.insert("stop".into(), stop);
        }
        let tools = match o.array("tools")? {
            Some(t) => Some(
                t.iter()
                    .enumerate()
                    .map(|(i, t)| tool_in(i, t))
                    .collect::<Res<Vec<_>>>()?,
            ),
            None => None,
        };
        let reasoning = match o.get("reasoning") {
            None => None,
            Some(v @ Value::Object(_)) => Some(v.clone()),
            Some(v) => return Err(bad(NAME, "reasoning", "an object", v)),
        };
        Ok(AnnotatedLlmRequest {
            messages,
            model: o.string("model")?,
            params: (!params.is_empty()).then_some(params),
            tools,
            tool_choice: tool_choice_in(&o)?,
            store: o.bool("store")?,
            previous_response_id: o.string("previous_response_id")?,
            truncation: o.string("truncation")?,
            reasoning,
            include: o.strings("include")?,
            user: o.string("user")?,
            metadata: o.map("metadata")?,
            service_tier: o.string("service_tier")?,
            parallel_tool_calls: o.bool("parallel_tool_calls")?,
            max_output_tokens,
            max_tool_calls: o.u64("max_tool_calls")?,
            top_logprobs: o.u64("top_logprobs")?,
            stream: o.bool("stream")?,
            extra: o.rest(OWNED),
        })
    }

    fn encode(&self, a: &AnnotatedLlmRequest, base: &LlmRequest) -> Res<LlmRequest> {
        let chat_shaped: Vec<Value> = a
            .messages
            .iter()
            .filter(|m| m.get("role").is_some())
            .cloned()
            .collect();
        check_messages(NAME, &chat_shaped)?;
        let mut out = encode_base(&base.content, OWNED, &a.extra);
        let mut messages = a.messages.as_slice();
        // The leading system message goes back to `instructions` when the request used it.
        let uses_instructions = base
            .content
            .get("instructions")
            .is_some_and(|v| !v.is_null());
        let mut instructions = None;
        if uses_instructions {
            if let Some((first, rest)) = messages
                .split_first()
                .filter(|(m, _)| m.get("role") == Some(&json!("system")))
            {
                instructions = first
                    .get("content")
                    .and_then(content_text)
                    .map(Value::String);
                messages = rest;
            }
        }
        put(&mut out, "instructions", instructions);
        let input = match (base.content.get("input"), messages) {
            // A plain-string input edited as one user message stays a string.
            (Some(Value::String(_)), [m])
                if m.get("role") == Some(&json!("user"))
                    && m.get("content").is_some_and(Value::is_string) =>
            {
                m["content"].clone()
            }
            _ => Value::Array(to_input(messages)),
        };
        out.insert("input".into(), input);
        put(&mut out, "model", a.model.clone().map(Value::String));
        let param = |k: &str| {
            a.params
                .as_ref()
                .and_then(|p| p.get(k))
                .filter(|v| !v.is_null())
                .cloned()
        };
        put(&mut out, "temperature", param("temperature"));
        put(&mut out, "top_p", param("top_p"));
        put(&mut out, "stop", param("stop"));
        // params.max_tokens is the neutral field, so an edit there wins.
        put(
            &mut out,
            "max_output_tokens",
            param("max_tokens").or(a.max_output_tokens.map(Value::from)),
        );
        put(
            &mut out,
            "tools",
            a.tools
                .as_ref()
                .map(|t| Value::Array(t.iter().map(tool_out).collect())),
        );
        put(
            &mut out,
            "tool_choice",
            a.tool_choice.as_ref().map(tool_choice_out),
        );
        put(&mut out, "store", a.store.map(Value::Bool));
        put(
            &mut out,
            "previous_response_id",
            a.previous_response_id.clone().map(Value::String),
        );
        put(
            &mut out,
            "truncation",
            a.truncation.clone().map(Value::String),
        );
        put(&mut out, "reasoning", a.reasoning.clone());
        put(&mut out, "include", a.include.as_ref().map(|v| json!(v)));
        put(&mut out, "user", a.user.clone().map(Value::String));
        put(&mut out, "metadata", a.metadata.clone().map(Value::Object));
        put(
            &mut out,
            "service_tier",
            a.service_tier.clone().map(Value::String),
        );
        put(
            &mut out,
            "parallel_tool_calls",
            a.parallel_tool_calls.map(Value::Bool),
        );
        put(
            &mut out,
            "max_tool_calls",
            a.max_tool_calls.map(Value::from),
        );
        put(&mut out, "top_logprobs", a.top_logprobs.map(Value::from));
        put(&mut out, "stream", a.stream.map(Value::Bool));
        apply_extra(&mut out, &a.extra);
        Ok(LlmRequest {
            headers: base.headers.clone(),
            content: Value::Object(out),
        })
    }
}
