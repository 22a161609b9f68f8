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
    /// Tool-choice directive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
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
    /// Normalized finish reason; an unknown provider reason is kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// Token usage.
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
}

/// Decodes provider responses into the annotated view.
pub trait LlmResponseCodec: Send + Sync {
    /// Name used in error messages.
    fn name(&self) -> &str;
    /// Provider response → annotated view.
    fn decode_response(&self, response: &Value) -> Result<AnnotatedLlmResponse, CallbackError>;
}

/// Text of a message `content`: a string, or the `text` of its text parts joined.
fn content_text(content: &Value) -> Option<String> {
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
