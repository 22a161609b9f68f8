//! LLM request and the provider-neutral annotated request/response views, plus the codec
//! traits that translate between them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::CallbackError;

/// A provider request: transport headers and the JSON body.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LlmRequest {
    /// Transport or provider headers.
    pub headers: Map<String, Value>,
    /// The JSON request body.
    pub content: Value,
}

impl LlmRequest {
    /// `{"headers": …, "content": …}`, the start event's data.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("headers".into(), Value::Object(self.headers.clone()));
        m.insert("content".into(), self.content.clone());
        Value::Object(m)
    }

    /// [`LlmRequest::to_json`] as JSON text, written without copying the request.
    pub fn to_json_text(&self) -> crate::event::JsonText {
        let headers = serde_json::to_string(&self.headers).unwrap_or_else(|_| "{}".into());
        crate::event::JsonText::trusted(format!(
            r#"{{"headers":{headers},"content":{}}}"#,
            self.content
        ))
    }

    /// Inverse of [`LlmRequest::to_json`].
    pub fn from_json(v: Value) -> Result<Self, String> {
        let Value::Object(mut m) = v else {
            return Err("an LLM request must be an object".into());
        };
        let headers = match m.remove("headers") {
            Some(Value::Object(h)) => h,
            None | Some(Value::Null) => Map::new(),
            Some(_) => return Err("'headers' must be an object".into()),
        };
        let content = m.remove("content").unwrap_or(Value::Object(Map::new()));
        Ok(Self { headers, content })
    }
}

/// Provider-neutral view of a request, produced by a codec.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AnnotatedLlmRequest {
    /// Normalized messages.
    #[serde(default)]
    pub messages: Vec<Value>,
    /// Model name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Sampling and other provider parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Map<String, Value>>,
    /// Tool declarations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Value>>,
    /// Tool-choice directive: `"auto"`, `"none"`, `"required"` or `{type, function{name}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    /// Whether the provider stores the response (OpenAI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<bool>,
    /// Response this one continues (OpenAI Responses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_response_id: Option<String>,
    /// Context truncation strategy (OpenAI Responses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncation: Option<String>,
    /// Reasoning configuration (`reasoning`, `reasoning_effort`, Anthropic `thinking`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<Value>,
    /// Extra output to include (OpenAI Responses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include: Option<Vec<String>>,
    /// End-user identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Request metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    /// Service tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<String>,
    /// Whether tools may be called in parallel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// Output token cap as the provider names it (OpenAI Responses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u64>,
    /// Cap on built-in tool calls (OpenAI Responses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tool_calls: Option<u64>,
    /// Number of log-probabilities per token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_logprobs: Option<u64>,
    /// Whether the response is streamed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Provider-specific fields kept as they are.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Provider-neutral view of a response, produced by a response codec.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AnnotatedLlmResponse {
    /// Provider response id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Model that answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Primary message (text or structured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Value>,
    /// Tool calls requested by the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<Value>>,
    /// Normalized finish reason: `complete`, `length`, `tool_use`, `content_filter`, or the
    /// provider's own reason verbatim when it has no normalized equivalent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// Token usage: `prompt_tokens`, `completion_tokens`, `total_tokens`,
    /// `cache_read_tokens`, `cache_write_tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Map<String, Value>>,
    /// Provider-specific fields (`{"api": "openai_chat"}`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_specific: Option<Map<String, Value>>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl AnnotatedLlmRequest {
    /// JSON form for events.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

impl AnnotatedLlmResponse {
    /// JSON form for events.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Decodes provider requests into the annotated view and encodes them back.
pub trait LlmCodec: Send + Sync {
    /// Name used in error messages.
    fn name(&self) -> &str;
    /// Provider request → annotated view.
    fn decode(&self, request: &LlmRequest) -> Result<AnnotatedLlmRequest, CallbackError>;
    /// Annotated view applied over `base` → provider request.
    fn encode(
        &self,
        annotated: &AnnotatedLlmRequest,
        base: &LlmRequest,
    ) -> Result<LlmRequest, CallbackError>;
    /// Applies the edits that turned `before` into `after` over `base`, a request that may
    /// itself have been edited since `before` was decoded from it. By default this is
    /// `encode(after, base)`; codecs whose `encode` rewrites every field it models override it
    /// to keep `base`'s own edits to fields the annotation did not change.
    fn encode_edits(
        &self,
        before: &AnnotatedLlmRequest,
        after: &AnnotatedLlmRequest,
        base: &LlmRequest,
    ) -> Result<LlmRequest, CallbackError> {
        let _ = before;
        self.encode(after, base)
    }
}

/// Re-bases annotation edits: starting from `current` (the annotation of a request that may
/// carry raw edits of its own), every top-level field that `after` changed relative to
/// `before` takes `after`'s value. Fields are compared whole (`messages` is one field, each
/// `extra` key is its own).
pub fn rebase_annotation(
    before: &AnnotatedLlmRequest,
    after: &AnnotatedLlmRequest,
    current: &AnnotatedLlmRequest,
) -> Result<AnnotatedLlmRequest, CallbackError> {
    let as_map = |a: &AnnotatedLlmRequest| match a.to_json() {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let (before, after, mut merged) = (as_map(before), as_map(after), as_map(current));
    for key in before.keys().chain(after.keys()) {
        if before.get(key) != after.get(key) {
            match after.get(key) {
                Some(v) => merged.insert(key.clone(), v.clone()),
                None => merged.shift_remove(key),
            };
        }
    }
    serde_json::from_value(Value::Object(merged))
        .map_err(|e| CallbackError::new("ValueError", format!("annotation edits: {e}")))
}

/// Decodes provider responses into the annotated view.
pub trait LlmResponseCodec: Send + Sync {
    /// Name used in error messages.
    fn name(&self) -> &str;
    /// Provider response → annotated view.
    fn decode_response(&self, response: &Value) -> Result<AnnotatedLlmResponse, CallbackError>;
}

/// Text of a message `content`: a string, or the `text` of its text parts joined.
pub(crate) fn content_text(content: &Value) -> Option<String> {
    match content {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => {
            let texts: Vec<&str> = parts
                .iter()
                .filter_map(|p| match p {
                    Value::String(s) => Some(s.as_str()),
                    Value::Object(o) => o.get("text").and_then(Value::as_str),
                    _ => None,
                })
                .collect();
            (!texts.is_empty()).then(|| texts.join(""))
        }
        _ => None,
    }
}

fn role_is(m: &Value, role: &str) -> bool {
    m.get("role").and_then(Value::as_str) == Some(role)
}

impl AnnotatedLlmRequest {
    /// Text of the first system (or developer) message.
    pub fn system_prompt(&self) -> Option<String> {
        self.messages
            .iter()
            .find(|m| role_is(m, "system") || role_is(m, "developer"))
            .and_then(|m| content_text(m.get("content")?))
    }

    /// Text of the last user message.
    pub fn last_user_message(&self) -> Option<String> {
        self.messages
            .iter()
            .rev()
            .find(|m| role_is(m, "user"))
            .and_then(|m| content_text(m.get("content")?))
    }

    /// Whether the request declares tools.
    pub fn has_tool_calls(&self) -> bool {
        self.tools.as_ref().is_some_and(|t| !t.is_empty())
    }
}

impl AnnotatedLlmResponse {
    /// The response text: the message itself when it is a string, else its text content.
    pub fn response_text(&self) -> Option<String> {
        match self.message.as_ref()? {
            Value::String(s) => Some(s.clone()),
            m @ Value::Object(_) => content_text(m.get("content")?),
            other => content_text(other),
        }
    }

    /// Whether the model asked for tool calls.
    pub fn has_tool_calls(&self) -> bool {
        self.tool_calls.as_ref().is_some_and(|t| !t.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn request_helpers_read_messages_and_tools() {
        let r: AnnotatedLlmRequest = serde_json::from_value(json!({
            "messages": [{"role": "system", "content": "be brief"},
                         {"role": "user", "content": [{"type": "text", "text": "hel"}, {"type": "text", "text": "lo"}]},
                         {"role": "assistant", "content": "hi"}],
            "model": "m", "custom": 1
        }))
        .unwrap();
        assert_eq!(r.system_prompt().as_deref(), Some("be brief"));
        assert_eq!(r.last_user_message().as_deref(), Some("hello"));
        assert!(!r.has_tool_calls());
        assert_eq!(r.extra.get("custom"), Some(&json!(1)));
        assert_eq!(r.to_json()["custom"], json!(1));
    }

    #[test]
    fn response_text_and_unknown_finish_reason_kept() {
        let a: AnnotatedLlmResponse =
            serde_json::from_value(json!({"message": {"role": "assistant", "content": "ok"}, "finish_reason": "weird_reason"})).unwrap();
        assert_eq!(a.response_text().as_deref(), Some("ok"));
        assert_eq!(a.finish_reason.as_deref(), Some("weird_reason"));
        assert!(!a.has_tool_calls());
    }

    #[test]
    fn llm_request_json_round_trip() {
        let r = LlmRequest::from_json(json!({"headers": {"a": "b"}, "content": {"x": 1}})).unwrap();
        assert_eq!(LlmRequest::from_json(r.to_json()).unwrap(), r);
        assert!(LlmRequest::from_json(json!([1])).is_err());
    }
}
