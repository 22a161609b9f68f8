//! Reading LLM and tool payloads the way exporters need them: request messages, response
//! text and tool calls, token usage. Prefers the codec annotations on the event and falls
//! back to the raw provider shapes (OpenAI chat/responses, Anthropic messages).

use nemo_flow_core::Event;
use serde_json::{Map, Value};

/// One chat message, flattened to text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Message {
    /// `system`, `user`, `assistant`, `tool`, …
    pub role: String,
    /// Text content (parts joined).
    pub content: String,
    /// Tool calls the message carries (assistant messages).
    pub tool_calls: Vec<ToolCallView>,
    /// For tool messages: the call answered.
    pub tool_call_id: Option<String>,
}

/// A tool call requested by a model.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCallView {
    /// Provider call id, when present.
    pub id: Option<String>,
    /// Function name.
    pub name: String,
    /// Arguments as a JSON object (string arguments are parsed).
    pub arguments: Value,
}

/// What an LLM end event says about the response.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Output {
    /// Response id.
    pub id: Option<String>,
    /// Model that answered.
    pub model: Option<String>,
    /// Assistant text.
    pub text: Option<String>,
    /// Reasoning text, if the provider returned it separately.
    pub reasoning: Option<String>,
    /// Requested tool calls.
    pub tool_calls: Vec<ToolCallView>,
    /// Finish reason.
    pub finish_reason: Option<String>,
}

/// Token accounting.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    /// Input tokens.
    pub prompt: Option<i64>,
    /// Output tokens.
    pub completion: Option<i64>,
    /// Total, when reported.
    pub total: Option<i64>,
    /// Input tokens read from a cache.
    pub cache_read: Option<i64>,
    /// Input tokens written to a cache.
    pub cache_write: Option<i64>,
    /// Reasoning output tokens.
    pub reasoning: Option<i64>,
    /// Cost in USD, when reported.
    pub cost_usd: Option<f64>,
    /// Keys not understood above.
    pub extra: Map<String, Value>,
}

impl Usage {
    /// Whether any count is known.
    pub fn is_empty(&self) -> bool {
        self.prompt.is_none() && self.completion.is_none() && self.total.is_none()
    }
}

/// The request body of an LLM start event (`data.content` of `{headers, content}`).
pub fn request_content(start: &Value) -> Value {
    match start {
        Value::Object(m) if m.contains_key("content") && m.contains_key("headers") => {
            m["content"].clone()
        }
        other => other.clone(),
    }
}

/// Text of a message `content` (string, list of parts, or object).
pub fn text_of(content: &Value) -> String {
    match content {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| match p {
                Value::String(s) => Some(s.clone()),
                Value::Object(o) => o
                    .get("text")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .or_else(|| o.get("content").map(text_of)),
                _ => None,
            })
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("\n"),
        Value::Object(o) => o
            .get("text")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| content.to_string()),
        other => other.to_string(),
    }
}

/// The messages of an LLM request (annotation first, then the raw body).
pub fn input_messages(start: &Event) -> Vec<Message> {
    let annotated = start
        .profile("annotated_request")
        .and_then(|r| r.get("messages"))
        .and_then(Value::as_array);
    let content = request_content(&start.data.to_value());
    let mut out = Vec::new();
    if let Some(system) = content.get("system") {
        if annotated.is_none() {
            out.push(Message {
                role: "system".into(),
                content: text_of(system),
                ..Message::default()
            });
        }
    }
    let raw = content
        .get("messages")
        .and_then(Value::as_array)
        .or_else(|| content.get("input").and_then(Value::as_array));
    if let Some(msgs) = annotated.or(raw) {
        out.extend(msgs.iter().map(message));
    } else if let Some(s) = content
        .get("input")
        .or_else(|| content.get("prompt"))
        .and_then(Value::as_str)
    {
        out.push(Message {
            role: "user".into(),
            content: s.into(),
            ..Message::default()
        });
    }
    out
}

fn message(v: &Value) -> Message {
    let role = v.get("role").and_then(Value::as_str).unwrap_or("user");
    let mut m = Message {
        role: role.to_owned(),
        content: v.get("content").map(text_of).unwrap_or_default(),
        tool_calls: v.get("tool_calls").map(tool_calls).unwrap_or_default(),
        tool_call_id: v
            .get("tool_call_id")
            .and_then(Value::as_str)
            .map(str::to_owned),
    };
    // Anthropic content blocks carry tool uses inline.
    if let Some(blocks) = v.get("content").and_then(Value::as_array) {
        m.tool_calls
            .extend(blocks.iter().filter_map(tool_use_block));
    }
    m
}

fn tool_use_block(b: &Value) -> Option<ToolCallView> {
    if b.get("type").and_then(Value::as_str) != Some("tool_use") {
        return None;
    }
    Some(ToolCallView {
        id: b.get("id").and_then(Value::as_str).map(str::to_owned),
        name: b.get("name").and_then(Value::as_str)?.to_owned(),
        arguments: args(b.get("input")),
    })
}

/// Tool calls in any of the common shapes: `{id, function: {name, arguments}}`,
/// `{id, name, arguments}`, `{id, type: "tool_use", name, input}`.
pub fn tool_calls(v: &Value) -> Vec<ToolCallView> {
    let Some(items) = v.as_array() else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|c| {
            let f = c.get("function").unwrap_or(c);
            let name = f.get("name").and_then(Value::as_str)?.to_owned();
            let id = c
                .get("id")
                .or_else(|| c.get("call_id"))
                .or_else(|| c.get("tool_call_id"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            let a = f.get("arguments").or_else(|| c.get("input"));
            Some(ToolCallView {
                id,
                name,
                arguments: args(a),
            })
        })
        .collect()
}

/// Arguments as an object: JSON strings are parsed; anything else is wrapped.
fn args(a: Option<&Value>) -> Value {
    match a {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(Value::Object(o)) => Value::Object(o.clone()),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(o)) => Value::Object(o),
            Ok(other) => wrap(other),
            Err(_) if s.trim().is_empty() => Value::Object(Map::new()),
            Err(_) => wrap(Value::String(s.clone())),
        },
        Some(other) => wrap(other.clone()),
    }
}

fn wrap(v: Value) -> Value {
    let mut m = Map::new();
    m.insert("value".into(), v);
    Value::Object(m)
}

/// What the response of an LLM end event says.
pub fn output(end: &Event) -> Output {
    let data = end.data.to_value();
    let mut out = Output::default();
    if let Some(a) = end.profile("annotated_response") {
        out.id = str_of(a.get("id"));
        out.model = str_of(a.get("model"));
        out.finish_reason = str_of(a.get("finish_reason"));
        out.text = a
            .get("message")
            .filter(|m| !m.is_null())
            .map(|m| m.get("content").map_or_else(|| text_of(m), text_of))
            .or_else(|| str_of(a.get("text")));
        out.tool_calls = a.get("tool_calls").map(tool_calls).unwrap_or_default();
    }
    // Raw shapes fill in whatever the annotation did not say.
    let choice_msg = data
        .get("choices")
        .and_then(|c| c.get(0))
        .and_then(|c| c.get("message"));
    out.id = out.id.or_else(|| str_of(data.get("id")));
    out.model = out.model.or_else(|| str_of(data.get("model")));
    out.finish_reason = out.finish_reason.or_else(|| {
        str_of(
            data.get("choices")
                .and_then(|c| c.get(0))
                .and_then(|c| c.get("finish_reason")),
        )
        .or_else(|| str_of(data.get("stop_reason")))
    });
    if out.text.is_none() {
        out.text = if let Some(m) = choice_msg {
            m.get("content").filter(|c| !c.is_null()).map(text_of)
        } else if let Some(c) = data.get("content").filter(|c| !c.is_null()) {
            Some(text_of(c)).filter(|t| !t.is_empty() || c.is_string())
        } else {
            ["output_text", "text", "message", "summary"]
                .iter()
                .find_map(|k| data.get(*k).filter(|v| !v.is_null()).map(text_of))
                .or_else(|| data.as_str().map(str::to_owned))
        };
    }
    if out.tool_calls.is_empty() {
        if let Some(m) = choice_msg {
            out.tool_calls = m.get("tool_calls").map(tool_calls).unwrap_or_default();
        } else if let Some(blocks) = data.get("content").and_then(Value::as_array) {
            out.tool_calls = blocks.iter().filter_map(tool_use_block).collect();
        } else if let Some(tc) = data.get("tool_calls") {
            out.tool_calls = tool_calls(tc);
        }
    }
    out.reasoning = choice_msg
        .and_then(|m| m.get("reasoning_content").or_else(|| m.get("reasoning")))
        .or_else(|| data.get("reasoning"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    out
}

fn str_of(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_owned)
}

/// Token usage of an LLM end event: `annotated_response.usage`, else `usage` or
/// `token_usage` of the raw response, snake_case or camelCase.
pub fn usage(end: &Event) -> Usage {
    let data = end.data.to_value();
    let raw = end
        .profile("annotated_response")
        .and_then(|a| a.get("usage"))
        .filter(|u| u.is_object())
        .cloned()
        .or_else(|| {
            data.get("usage")
                .or_else(|| data.get("token_usage"))
                .or_else(|| data.get("usageMetadata"))
                .filter(|u| u.is_object())
                .cloned()
        });
    let Some(Value::Object(u)) = raw else {
        return Usage::default();
    };
    parse_usage(&u)
}

const PROMPT: &[&str] = &[
    "prompt_tokens",
    "input_tokens",
    "promptTokens",
    "inputTokens",
    "promptTokenCount",
];
const COMPLETION: &[&str] = &[
    "completion_tokens",
    "output_tokens",
    "completionTokens",
    "outputTokens",
    "candidatesTokenCount",
];
const TOTAL: &[&str] = &["total_tokens", "totalTokens", "totalTokenCount"];
const CACHE_READ: &[&str] = &[
    "cached_tokens",
    "cache_read_input_tokens",
    "cacheReadInputTokens",
];
const CACHE_WRITE: &[&str] = &["cache_creation_input_tokens", "cacheCreationInputTokens"];
const DETAILS: &[&str] = &[
    "prompt_tokens_details",
    "input_tokens_details",
    "completion_tokens_details",
    "output_tokens_details",
];

fn parse_usage(u: &Map<String, Value>) -> Usage {
    let int = |keys: &[&str]| keys.iter().find_map(|k| u.get(*k).and_then(Value::as_i64));
    let detail = |key: &str| {
        DETAILS
            .iter()
            .find_map(|d| u.get(*d).and_then(|m| m.get(key)).and_then(Value::as_i64))
    };
    let mut usage = Usage {
        prompt: int(PROMPT),
        completion: int(COMPLETION),
        total: int(TOTAL),
        cache_read: int(CACHE_READ).or_else(|| detail("cached_tokens")),
        cache_write: int(CACHE_WRITE),
        reasoning: detail("reasoning_tokens"),
        cost_usd: u.get("cost_usd").and_then(Value::as_f64),
        extra: Map::new(),
    };
    let known: Vec<&str> = [PROMPT, COMPLETION, TOTAL, CACHE_READ, CACHE_WRITE, DETAILS]
        .concat()
        .into_iter()
        .chain(["cost_usd"])
        .collect();
    for (k, v) in u {
        if !known.contains(&k.as_str()) {
            usage.extra.insert(k.clone(), v.clone());
        }
    }
    // A total smaller than its parts is wrong; drop it.
    if let (Some(t), Some(p), Some(c)) = (usage.total, usage.prompt, usage.completion) {
        if t < p + c {
            usage.total = None;
        }
    }
    usage
}

/// The model an LLM event names: category profile, else the request body.
pub fn model_name(event: &Event, start_data: Option<&Value>) -> Option<String> {
    event
        .profile("model_name")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| {
            start_data
                .map(request_content)
                .and_then(|c| c.get("model").and_then(Value::as_str).map(str::to_owned))
        })
}

/// Display text of a tool or scope output: a string as is, else compact JSON.
pub fn display(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
