//! Chat Completions requests: decode into and encode from the annotated view.

use serde_json::{Map, Value, json};

use super::{NAME, OpenAIChatCodec};
use crate::codecs::fields::{Obj, Res, apply_extra, bad, encode_base, put};
use crate::codecs::messages::{check_messages, check_tools, stop_list};
use crate::llm::{AnnotatedLlmRequest, LlmCodec, LlmRequest};

const OWNED: &[&str] = &[
    "messages",
    "model",
    "temperature",
    "top_p",
    "stop",
    "max_tokens",
    "max_completion_tokens",
    "tools",
    "tool_choice",
    "store",
    "reasoning_effort",
    "user",
    "metadata",
    "service_tier",
    "parallel_tool_calls",
    "top_logprobs",
    "stream",
    "stream_options",
];

fn tool_choice(o: &Obj<'_>) -> Res<Option<Value>> {
    match o.get("tool_choice") {
        None => Ok(None),
        Some(v @ (Value::String(_) | Value::Object(_))) => Ok(Some(v.clone())),
        Some(v) => Err(bad(NAME, "tool_choice", "a string or an object", v)),
    }
}

impl LlmCodec for OpenAIChatCodec {
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
        let messages = o.array("messages")?.cloned().unwrap_or_default();
        check_messages(NAME, &messages)?;
        let mut params = Map::new();
        for key in ["temperature", "top_p"] {
            if let Some(v) = o.number(key)? {
                params.insert(key.into(), v);
            }
        }
        // max_completion_tokens supersedes the deprecated max_tokens.
        if let Some(n) = o.u64("max_completion_tokens")?.or(o.u64("max_tokens")?) {
            params.insert("max_tokens".into(), n.into());
        }
        if let Some(stop) = stop_list(&o, "stop")? {
            params.insert("stop".into(), stop);
        }
        let tools = o.array("tools")?.cloned();
        if let Some(t) = &tools {
            check_tools(NAME, "tools", t)?;
        }
        Ok(AnnotatedLlmRequest {
            messages,
            model: o.string("model")?,
            params: (!params.is_empty()).then_some(params),
            tools,
            tool_choice: tool_choice(&o)?,
            store: o.bool("store")?,
            reasoning: o.string("reasoning_effort")?.map(|e| json!({"effort": e})),
            user: o.string("user")?,
            metadata: o.map("metadata")?,
            service_tier: o.string("service_tier")?,
            parallel_tool_calls: o.bool("parallel_tool_calls")?,
            top_logprobs: o.u64("top_logprobs")?,
            stream: o.bool("stream")?,
            extra: o.rest(OWNED),
            ..AnnotatedLlmRequest::default()
        })
    }

    fn encode(&self, a: &AnnotatedLlmRequest, base: &LlmRequest) -> Res<LlmRequest> {
        check_messages(NAME, &a.messages)?;
        let mut out = encode_base(&base.content, OWNED, &a.extra);
        out.insert("messages".into(), Value::Array(a.messages.clone()));
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
        put(
            &mut out,
            "stop",
            encode_stop(base.content.get("stop"), param("stop")),
        );
        encode_max_tokens(
            &mut out,
            &base.content,
            param("max_tokens").or(a.max_output_tokens.map(Value::from)),
        );
        put(&mut out, "tools", a.tools.clone().map(Value::Array));
        put(&mut out, "tool_choice", a.tool_choice.clone());
        put(&mut out, "store", a.store.map(Value::Bool));
        put(
            &mut out,
            "reasoning_effort",
            reasoning_effort(a.reasoning.as_ref()),
        );
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
        put(&mut out, "top_logprobs", a.top_logprobs.map(Value::from));
        put(&mut out, "stream", a.stream.map(Value::Bool));
        if a.stream == Some(true) {
            // Without it a streamed Chat response carries no usage at all.
            let mut opts = match out.get("stream_options") {
                Some(Value::Object(m)) => m.clone(),
                _ => Map::new(),
            };
            opts.insert("include_usage".into(), Value::Bool(true));
            out.insert("stream_options".into(), Value::Object(opts));
        } else if a.stream.is_none() {
            out.shift_remove("stream_options");
        }
        apply_extra(&mut out, &a.extra);
        Ok(LlmRequest {
            headers: base.headers.clone(),
            content: Value::Object(out),
        })
    }
}

/// A one-element stop list goes back as the bare string the original request used.
pub(crate) fn encode_stop(original: Option<&Value>, stop: Option<Value>) -> Option<Value> {
    match (original, stop) {
        (Some(Value::String(_)), Some(Value::Array(v))) if v.len() == 1 && v[0].is_string() => {
            Some(v[0].clone())
        }
        (_, stop) => stop,
    }
}

/// Writes the token cap under the key the original request used (`max_completion_tokens`
/// for new requests, as OpenAI deprecated `max_tokens`).
fn encode_max_tokens(out: &mut Map<String, Value>, base: &Value, n: Option<Value>) {
    let had = |k: &str| base.get(k).is_some_and(|v| !v.is_null());
    match n {
        None => {
            out.shift_remove("max_tokens");
            out.shift_remove("max_completion_tokens");
        }
        Some(n) if had("max_tokens") && !had("max_completion_tokens") => {
            out.insert("max_tokens".into(), n);
        }
        Some(n) => {
            out.insert("max_completion_tokens".into(), n);
        }
    }
}

fn reasoning_effort(r: Option<&Value>) -> Option<Value> {
    match r? {
        Value::String(s) => Some(Value::String(s.clone())),
        Value::Object(m) => m.get("effort").filter(|v| v.is_string()).cloned(),
        _ => None,
    }
}
