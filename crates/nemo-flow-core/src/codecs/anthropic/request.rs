//! Anthropic Messages requests: `system`, content blocks, tools and options ↔ the annotated view.

use serde_json::{Map, Value, json};

use super::{AnthropicMessagesCodec, NAME};
use crate::codecs::fields::{
    Obj, Res, apply_extra, arguments_string, bad, encode_base, parse_arguments, put,
};
use crate::codecs::messages::{check_messages, stop_list};
use crate::llm::{AnnotatedLlmRequest, LlmCodec, LlmRequest};

const OWNED: &[&str] = &[
    "system",
    "messages",
    "model",
    "max_tokens",
    "temperature",
    "top_p",
    "stop_sequences",
    "tools",
    "tool_choice",
    "thinking",
    "metadata",
    "service_tier",
    "stream",
];

fn image_in(o: &Obj<'_>, block: &Value) -> Res<Value> {
    let Some(src) = o.object("source")? else {
        return Ok(block.clone());
    };
    let url = match src.str("type")? {
        Some("base64") => format!(
            "data:{};base64,{}",
            src.req_str("media_type")?,
            src.req_str("data")?
        ),
        Some("url") => src.req_str("url")?.to_string(),
        _ => return Ok(block.clone()),
    };
    let mut part = json!({"type": "image_url", "image_url": {"url": url}});
    if let Some(cc) = o.get("cache_control") {
        part["cache_control"] = cc.clone();
    }
    Ok(part)
}

fn image_out(p: &Value) -> Value {
    let url = p
        .get("image_url")
        .and_then(|i| i.get("url").or(Some(i)))
        .and_then(Value::as_str)
        .unwrap_or("");
    let source = match url
        .strip_prefix("data:")
        .and_then(|r| r.split_once(";base64,"))
    {
        Some((media, data)) => json!({"type": "base64", "media_type": media, "data": data}),
        None => json!({"type": "url", "url": url}),
    };
    let mut block = json!({"type": "image", "source": source});
    if let Some(cc) = p.get("cache_control") {
        block["cache_control"] = cc.clone();
    }
    block
}

fn message_in(out: &mut Vec<Value>, i: usize, m: &Value) -> Res<()> {
    let o = Obj::of(NAME, format!("messages[{i}]"), m)?;
    let role = o.req_str("role")?;
    let blocks = match o.get("content") {
        Some(Value::String(s)) => {
            out.push(json!({"role": role, "content": s}));
            return Ok(());
        }
        Some(Value::Array(b)) => b,
        Some(other) => {
            return Err(bad(
                NAME,
                &o.at("content"),
                "a string or a list of content blocks",
                other,
            ));
        }
        None => {
            return Err(crate::codecs::fields::missing(
                NAME,
                &o.at("content"),
                "a string or a list of content blocks",
            ));
        }
    };
    let mut parts = Vec::new();
    let mut calls = Vec::new();
    for (j, block) in blocks.iter().enumerate() {
        let b = Obj::of(NAME, format!("{}[{j}]", o.at("content")), block)?;
        match b.req_str("type")? {
            "image" => parts.push(image_in(&b, block)?),
            "tool_use" => calls.push(json!({"id": b.req_str("id")?, "type": "function",
                "function": {"name": b.req_str("name")?, "arguments": arguments_string(b.get("input").unwrap_or(&json!({})))}})),
            "tool_result" => {
                let mut tool = json!({"role": "tool", "tool_call_id": b.req_str("tool_use_id")?,
                    "content": b.get("content").cloned().unwrap_or(json!(""))});
                if let Some(e) = b.get("is_error") {
                    tool["is_error"] = e.clone();
                }
                out.push(tool);
            }
            _ => parts.push(block.clone()),
        }
    }
    if role == "assistant" {
        let content = if parts.is_empty() {
            Value::Null
        } else {
            Value::Array(parts)
        };
        let mut msg = json!({"role": "assistant", "content": content});
        if !calls.is_empty() {
            msg["tool_calls"] = Value::Array(calls);
        }
        out.push(msg);
    } else if !parts.is_empty() || out.last().and_then(|m| m.get("role")) != Some(&json!("tool")) {
        out.push(json!({"role": role, "content": parts}));
    }
    Ok(())
}

/// Normalized messages → `(system, messages)`.
fn messages_out(messages: &[Value]) -> (Option<Value>, Vec<Value>) {
    let mut system = None;
    let mut out: Vec<Value> = Vec::new();
    // Tool results and the user turn after them travel as one Anthropic user message.
    let mut open_user = false;
    for m in messages {
        match m.get("role").and_then(Value::as_str) {
            Some("system") if out.is_empty() && system.is_none() => {
                system = m.get("content").cloned()
            }
            Some("tool") => {
                let mut block = json!({"type": "tool_result", "tool_use_id": m.get("tool_call_id").cloned().unwrap_or(Value::Null),
                    "content": m.get("content").cloned().unwrap_or(json!(""))});
                if let Some(e) = m.get("is_error") {
                    block["is_error"] = e.clone();
                }
                push_user_blocks(&mut out, open_user, vec![block]);
                open_user = true;
            }
            Some("assistant") => {
                let mut blocks = content_blocks(m.get("content"));
                for call in m
                    .get("tool_calls")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let f = call.get("function");
                    blocks.push(json!({"type": "tool_use", "id": call.get("id").cloned().unwrap_or(Value::Null),
                        "name": f.and_then(|f| f.get("name")).cloned().unwrap_or(Value::Null),
                        "input": f.and_then(|f| f.get("arguments")).map(parse_arguments).unwrap_or(json!({}))}));
                }
                let content = match m.get("content") {
                    Some(Value::String(s)) if m.get("tool_calls").is_none() => json!(s),
                    _ => Value::Array(blocks),
                };
                out.push(json!({"role": "assistant", "content": content}));
                open_user = false;
            }
            Some(role) => {
                if open_user {
                    push_user_blocks(&mut out, true, content_blocks(m.get("content")));
                } else {
                    let content = match m.get("content") {
                        Some(Value::String(s)) => json!(s),
                        other => Value::Array(content_blocks(other)),
                    };
                    out.push(json!({"role": role, "content": content}));
                }
                open_user = false;
            }
            None => out.push(m.clone()),
        }
    }
    (system, out)
}

fn push_user_blocks(out: &mut Vec<Value>, merge: bool, blocks: Vec<Value>) {
    if merge {
        if let Some(Value::Array(prev)) = out.last_mut().and_then(|m| m.get_mut("content")) {
            prev.extend(blocks);
            return;
        }
    }
    out.push(json!({"role": "user", "content": blocks}));
}

fn content_blocks(content: Option<&Value>) -> Vec<Value> {
    match content {
        Some(Value::String(s)) if s.is_empty() => vec![],
        Some(Value::String(s)) => vec![json!({"type": "text", "text": s})],
        Some(Value::Array(parts)) => parts
            .iter()
            .map(|p| match p.get("type").and_then(Value::as_str) {
                Some("image_url") => image_out(p),
                _ => p.clone(),
            })
            .collect(),
        _ => vec![],
    }
}

fn tool_in(i: usize, t: &Value) -> Res<Value> {
    let o = Obj::of(NAME, format!("tools[{i}]"), t)?;
    if !matches!(o.str("type")?, None | Some("custom")) {
        return Ok(t.clone()); // a server tool (web search, code execution…)
    }
    let mut f = Map::new();
    f.insert("name".into(), json!(o.req_str("name")?));
    if let Some(d) = o.get("description") {
        f.insert("description".into(), d.clone());
    }
    if let Some(s) = o.get("input_schema") {
        f.insert("parameters".into(), s.clone());
    }
    let mut tool = json!({"type": "function", "function": f});
    if let Some(cc) = o.get("cache_control") {
        tool["cache_control"] = cc.clone();
    }
    Ok(tool)
}

fn tool_out(t: &Value) -> Value {
    let Some(f) = t
        .get("function")
        .filter(|_| t.get("type") == Some(&json!("function")))
    else {
        return t.clone();
    };
    let mut out = Map::new();
    out.insert("name".into(), f.get("name").cloned().unwrap_or(Value::Null));
    if let Some(d) = f.get("description") {
        out.insert("description".into(), d.clone());
    }
    out.insert(
        "input_schema".into(),
        f.get("parameters")
            .cloned()
            .unwrap_or(json!({"type": "object"})),
    );
    if let Some(cc) = t.get("cache_control") {
        out.insert("cache_control".into(), cc.clone());
    }
    Value::Object(out)
}

fn tool_choice_in(o: &Obj<'_>) -> Res<(Option<Value>, Option<bool>)> {
    let Some(tc) = o.object("tool_choice")? else {
        return Ok((None, None));
    };
    let choice = match tc.req_str("type")? {
        "auto" => json!("auto"),
        "any" => json!("required"),
        "none" => json!("none"),
        "tool" => json!({"type": "function", "function": {"name": tc.req_str("name")?}}),
        _ => Value::Object(tc.map.clone()),
    };
    Ok((
        Some(choice),
        tc.bool("disable_parallel_tool_use")?.map(|d| !d),
    ))
}

fn tool_choice_out(choice: Option<&Value>, parallel: Option<bool>) -> Option<Value> {
    let mut tc = match choice {
        None if parallel.is_some() => json!({"type": "auto"}),
        None => return None,
        Some(Value::String(s)) => match s.as_str() {
            "required" => json!({"type": "any"}),
            other => json!({"type": other}),
        },
        Some(v) => match v.get("function").and_then(|f| f.get("name")) {
            Some(name) => json!({"type": "tool", "name": name}),
            None => v.clone(),
        },
    };
    if let (Some(p), Some(m)) = (parallel, tc.as_object_mut()) {
        m.insert("disable_parallel_tool_use".into(), Value::Bool(!p));
    }
    Some(tc)
}

impl LlmCodec for AnthropicMessagesCodec {
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
        match o.get("system") {
            None => {}
            Some(s @ Value::String(_)) => messages.push(json!({"role": "system", "content": s})),
            Some(Value::Array(blocks)) => {
                for (i, b) in blocks.iter().enumerate() {
                    Obj::of(NAME, format!("system[{i}]"), b)?.req_str("type")?;
                }
                messages.push(json!({"role": "system", "content": blocks}));
            }
            Some(other) => {
                return Err(bad(
                    NAME,
                    "system",
                    "a string or a list of text blocks",
                    other,
                ));
            }
        }
        for (i, m) in o.array("messages")?.into_iter().flatten().enumerate() {
            message_in(&mut messages, i, m)?;
        }
        let mut params = Map::new();
        for key in ["temperature", "top_p"] {
            if let Some(v) = o.number(key)? {
                params.insert(key.into(), v);
            }
        }
        if let Some(n) = o.u64("max_tokens")? {
            params.insert("max_tokens".into(), n.into());
        }
        if let Some(stop) = stop_list(&o, "stop_sequences")? {
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
        let (tool_choice, parallel_tool_calls) = tool_choice_in(&o)?;
        Ok(AnnotatedLlmRequest {
            messages,
            model: o.string("model")?,
            params: (!params.is_empty()).then_some(params),
            tools,
            tool_choice,
            parallel_tool_calls,
            reasoning: o.object("thinking")?.map(|t| Value::Object(t.map.clone())),
            metadata: o.map("metadata")?,
            service_tier: o.string("service_tier")?,
            stream: o.bool("stream")?,
            extra: o.rest(OWNED),
            ..AnnotatedLlmRequest::default()
        })
    }

    fn encode(&self, a: &AnnotatedLlmRequest, base: &LlmRequest) -> Res<LlmRequest> {
        check_messages(NAME, &a.messages)?;
        let mut out = encode_base(&base.content, OWNED, &a.extra);
        let (system, messages) = messages_out(&a.messages);
        put(&mut out, "system", system);
        out.insert("messages".into(), Value::Array(messages));
        put(&mut out, "model", a.model.clone().map(Value::String));
        let param = |k: &str| {
            a.params
                .as_ref()
                .and_then(|p| p.get(k))
                .filter(|v| !v.is_null())
                .cloned()
        };
        put(
            &mut out,
            "max_tokens",
            param("max_tokens").or(a.max_output_tokens.map(Value::from)),
        );
        put(&mut out, "temperature", param("temperature"));
        put(&mut out, "top_p", param("top_p"));
        put(&mut out, "stop_sequences", param("stop"));
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
            tool_choice_out(a.tool_choice.as_ref(), a.parallel_tool_calls),
        );
        put(
            &mut out,
            "thinking",
            a.reasoning.clone().filter(Value::is_object),
        );
        put(&mut out, "metadata", a.metadata.clone().map(Value::Object));
        put(
            &mut out,
            "service_tier",
            a.service_tier.clone().map(Value::String),
        );
        put(&mut out, "stream", a.stream.map(Value::Bool));
        apply_extra(&mut out, &a.extra);
        Ok(LlmRequest {
            headers: base.headers.clone(),
            content: Value::Object(out),
        })
    }
}
