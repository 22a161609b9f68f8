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
