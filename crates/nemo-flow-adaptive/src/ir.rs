//! Prompt IR: an LLM request as an ordered list of addressable blocks (§9.5), built from the
//! OpenAI Chat, OpenAI Responses or Anthropic Messages request JSON.
//!
//! Blocks are ordered the way providers build their cache prefix: tool schemas, then the
//! structured-output schema, then system / instructions, then the conversation. Span ids are
//! `<role>-<index>[.<part>][-<suffix>]` (suffix: tool name or tool call id), stable as a
//! conversation grows, so the same block has the same id in every turn.

use serde_json::Value;

use crate::hash::ContentHasher;

/// The request surface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// Anthropic Messages.
    AnthropicMessages,
    /// OpenAI Chat Completions.
    OpenAiChat,
    /// OpenAI Responses.
    OpenAiResponses,
}

impl Surface {
    /// Detects the surface from the request's shape.
    pub fn detect(req: &Value) -> Option<Self> {
        let o = req.as_object()?;
        if o.contains_key("input") && !o.contains_key("messages") {
            return Some(Self::OpenAiResponses);
        }
        let messages = o.get("messages")?.as_array()?;
        let anthropic_tools = o
            .get("tools")
            .and_then(Value::as_array)
            .is_some_and(|t| t.iter().any(|t| t.get("input_schema").is_some()));
        let anthropic_blocks = messages.iter().any(|m| {
            m.get("content")
                .and_then(Value::as_array)
                .is_some_and(|parts| {
                    parts.iter().any(|p| {
                        matches!(
                            p.get("type").and_then(Value::as_str),
                            Some("tool_use" | "tool_result" | "thinking")
                        )
                    })
                })
        });
        let model_claude = o
            .get("model")
            .and_then(Value::as_str)
            .is_some_and(|m| m.contains("claude"));
        if o.contains_key("system") || anthropic_tools || anthropic_blocks || model_claude {
            Some(Self::AnthropicMessages)
        } else {
            Some(Self::OpenAiChat)
        }
    }

    /// `anthropic_messages`, `openai_chat`, `openai_responses`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AnthropicMessages => "anthropic_messages",
            Self::OpenAiChat => "openai_chat",
            Self::OpenAiResponses => "openai_responses",
        }
    }
}

/// What a block holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentType {
    /// Prose.
    Text,
    /// A tool's declaration.
    ToolSchema,
    /// A tool's output.
    ToolResult,
    /// JSON produced or required by the model (tool calls, response schema).
    StructuredOutput,
    /// An image.
    Image,
}

/// Where a block came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provenance {
    /// System prompt / instructions.
    System,
    /// Developer-provided: tool schemas, developer messages, response schemas.
    Developer,
    /// The user.
    User,
    /// Tools (results) and the model's own turns.
    Tool,
    /// Retrieved documents.
    Retrieval,
    /// Memory.
    Memory,
}

/// Where a block lives in the request, so a planner can edit it in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loc {
    /// `tools[i]`.
    Tool(usize),
    /// `response_format` (Chat) or `text.format` (Responses).
    ResponseSchema,
    /// Anthropic `system` (`None`: a string) or its `i`th block.
    System(Option<usize>),
    /// Responses `instructions`.
    Instructions,
    /// `messages[m]` / `input[m]` content, whole (`None`) or part `p`.
    Message(usize, Option<usize>),
    /// Chat `messages[m].tool_calls[k]`.
    ToolCall(usize, usize),
}

/// One addressable block.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptBlock {
    /// Stable id.
    pub span_id: String,
    /// Role (`tools`, `schema`, `system`, `developer`, `user`, `assistant`, `tool`).
    pub role: &'static str,
    /// Kind of content.
    pub content_type: ContentType,
    /// Origin.
    pub provenance: Provenance,
    /// Content hash.
    pub hash: u64,
    /// Token count (`token_count` on the block if present, else text bytes ÷ 4).
    pub tokens: u32,
    /// Position in the request.
    pub loc: Loc,
    /// Whether an Anthropic `cache_control` may sit on this block.
    pub cacheable: bool,
    /// Whether the block already carries `cache_control`.
    pub has_cache_control: bool,
}

/// A request as blocks.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptIr {
    /// Surface it was read from.
    pub surface: Surface,
    /// `model`, or empty.
    pub model: String,
    /// Blocks in cache-prefix order.
    pub blocks: Vec<PromptBlock>,
    /// Hashes of the tool schemas, in order.
    pub tool_schema_hashes: Vec<u64>,
}

const IMAGE_TOKENS: u32 = 1600;

impl PromptIr {
    /// Reads `req` (surface detected). `None` when it is not an LLM request this knows.
    pub fn from_request(req: &Value) -> Option<Self> {
        Self::from_request_as(req, Surface::detect(req)?)
    }

    /// Reads `req` as `surface`.
    pub fn from_request_as(req: &Value, surface: Surface) -> Option<Self> {
        let o = req.as_object()?;
        let mut b = Builder {
            blocks: Vec::with_capacity(16),
        };
        if let Some(tools) = o.get("tools").and_then(Value::as_array) {
            for (i, t) in tools.iter().enumerate() {
                let name = t
                    .get("name")
                    .or_else(|| t.pointer("/function/name"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                b.push(
                    format!("tools-{i}-{name}"),
                    ("tools", ContentType::ToolSchema, Provenance::Developer),
                    t,
                    Loc::Tool(i),
                    true,
                );
            }
        }
        let schema = match surface {
            Surface::OpenAiChat => o.get("response_format"),
            Surface::OpenAiResponses => o.get("text").and_then(|t| t.get("format")),
            Surface::AnthropicMessages => None,
        };
        if let Some(s) =
            schema.filter(|s| s.get("type").and_then(Value::as_str) == Some("json_schema"))
        {
            b.push(
                "schema-0".into(),
                (
                    "schema",
                    ContentType::StructuredOutput,
                    Provenance::Developer,
                ),
                s,
                Loc::ResponseSchema,
                false,
            );
        }
        match surface {
            Surface::AnthropicMessages => {
                match o.get("system") {
                    Some(sys @ Value::String(s)) if !s.is_empty() => {
                        b.push(
                            "system-0".into(),
                            ("system", ContentType::Text, Provenance::System),
                            sys,
                            Loc::System(None),
                            true,
                        );
                    }
                    Some(Value::Array(parts)) => {
                        for (i, p) in parts.iter().enumerate() {
                            b.push(
                                format!("system-{i}"),
                                ("system", ContentType::Text, Provenance::System),
                                p,
                                Loc::System(Some(i)),
                                is_cacheable_part(p),
                            );
                        }
                    }
                    _ => {}
                }
                b.messages(o.get("messages")?.as_array()?);
            }
            Surface::OpenAiChat => b.messages(o.get("messages")?.as_array()?),
            Surface::OpenAiResponses => {
                if let Some(ins) = o.get("instructions").filter(|v| v.is_string()) {
                    b.push(
                        "system-0".into(),
                        ("system", ContentType::Text, Provenance::System),
                        ins,
                        Loc::Instructions,
                        false,
                    );
                }
                match o.get("input")? {
                    Value::String(_) => {
                        b.push(
                            "user-0".into(),
                            ("user", ContentType::Text, Provenance::User),
                            &o["input"],
                            Loc::Message(0, None),
                            false,
                        );
                    }
                    Value::Array(items) => b.messages(items),
                    _ => return None,
                }
            }
        }
        let tool_schema_hashes = b
            .blocks
            .iter()
            .filter(|x| x.content_type == ContentType::ToolSchema)
            .map(|x| x.hash)
            .collect();
        Some(Self {
            surface,
            model: o
                .get("model")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            blocks: b.blocks,
            tool_schema_hashes,
        })
    }

    /// The ACG learning key: model, system / instructions blocks and tool schemas. Requests
    /// that share it share a cacheable prefix shape.
    pub fn learning_key(&self) -> String {
        let mut h = ContentHasher::default();
        h.bytes(self.model.as_bytes());
        for b in &self.blocks {
            if matches!(b.role, "tools" | "system" | "schema") {
                h.u64(b.hash);
            }
        }
        format!("acg-{:016x}", h.finish())
    }

    /// Sum of block tokens.
    pub fn total_tokens(&self) -> u64 {
        self.blocks.iter().map(|b| u64::from(b.tokens)).sum()
    }
}

struct Builder {
    blocks: Vec<PromptBlock>,
}

fn is_cacheable_part(p: &Value) -> bool {
    match p.get("type").and_then(Value::as_str) {
        Some("thinking" | "redacted_thinking") => false,
        Some("text") => p
            .get("text")
            .and_then(Value::as_str)
            .is_some_and(|t| !t.is_empty()),
        _ => true,
    }
}

fn part_kind(p: &Value, role: &'static str) -> (ContentType, Provenance) {
    let prov = role_provenance(role);
    match p.get("type").and_then(Value::as_str) {
        Some("image" | "image_url" | "input_image") => (ContentType::Image, prov),
        Some("tool_result" | "function_call_output") => (ContentType::ToolResult, Provenance::Tool),
        Some("tool_use" | "function_call") => (ContentType::StructuredOutput, Provenance::Tool),
        Some("document") => (ContentType::Text, Provenance::Retrieval),
        _ => (ContentType::Text, prov),
    }
}

fn role_provenance(role: &str) -> Provenance {
    match role {
        "system" => Provenance::System,
        "developer" => Provenance::Developer,
        "user" => Provenance::User,
        _ => Provenance::Tool,
    }
}

fn static_role(r: &str) -> &'static str {
    match r {
        "system" => "system",
        "developer" => "developer",
        "assistant" => "assistant",
        "tool" | "function" => "tool",
        _ => "user",
    }
}

impl Builder {
    /// Adds the block `v` at `loc`; `kind` is `(role, content type, provenance)`.
    fn push(
        &mut self,
        span_id: String,
        kind: (&'static str, ContentType, Provenance),
        v: &Value,
        loc: Loc,
        cacheable: bool,
    ) {
        let (role, content_type, provenance) = kind;
        let mut h = ContentHasher::default();
        // Schemas hash canonically: key order is not a change, since the planners rewrite
        // them to canonical order anyway.
        let text_bytes = if content_type == ContentType::ToolSchema || loc == Loc::ResponseSchema {
            let c = crate::jcs::to_canonical_string(v);
            h.bytes(c.as_bytes());
            c.len()
        } else {
            h.value(v)
        };
        let tokens = match v.get("token_count").and_then(Value::as_u64) {
            Some(n) => u32::try_from(n).unwrap_or(u32::MAX),
            None if content_type == ContentType::Image => IMAGE_TOKENS,
            None => u32::try_from(text_bytes.div_ceil(4)).unwrap_or(u32::MAX),
        };
        self.blocks.push(PromptBlock {
            span_id,
            role,
            content_type,
            provenance,
            hash: h.finish(),
            tokens,
            loc,
            cacheable,
            has_cache_control: v.get("cache_control").is_some_and(|c| !c.is_null()),
        });
    }

    fn messages(&mut self, messages: &[Value]) {
        for (m, msg) in messages.iter().enumerate() {
            let item_type = msg.get("type").and_then(Value::as_str);
            // Responses items that are not messages.
            match item_type {
                Some("function_call") => {
                    let name = msg.get("name").and_then(Value::as_str).unwrap_or("");
                    self.push(
                        format!("assistant-{m}-{name}"),
                        ("assistant", ContentType::StructuredOutput, Provenance::Tool),
                        msg,
                        Loc::Message(m, None),
                        false,
                    );
                    continue;
                }
                Some("function_call_output") => {
                    let id = msg.get("call_id").and_then(Value::as_str).unwrap_or("");
                    self.push(
                        format!("tool-{m}-{id}"),
                        ("tool", ContentType::ToolResult, Provenance::Tool),
                        msg,
                        Loc::Message(m, None),
                        false,
                    );
                    continue;
                }
                Some("reasoning") => continue,
                _ => {}
            }
            let role = static_role(msg.get("role").and_then(Value::as_str).unwrap_or("user"));
            let suffix = msg
                .get("tool_call_id")
                .or_else(|| msg.get("name"))
                .and_then(Value::as_str)
                .map(|s| format!("-{s}"))
                .unwrap_or_default();
            let (ct, prov) = if role == "tool" {
                (ContentType::ToolResult, Provenance::Tool)
            } else {
                (ContentType::Text, role_provenance(role))
            };
            match msg.get("content") {
                Some(c @ Value::String(_)) => {
                    self.push(
                        format!("{role}-{m}{suffix}"),
                        (role, ct, prov),
                        c,
                        Loc::Message(m, None),
                        true,
                    );
                }
                Some(Value::Array(parts)) => {
                    for (p, part) in parts.iter().enumerate() {
                        let (pct, pprov) = if role == "tool" {
                            (ct, prov)
                        } else {
                            part_kind(part, role)
                        };
                        let psuffix = part
                            .get("tool_use_id")
                            .or_else(|| part.get("id"))
                            .or_else(|| part.get("name"))
                            .and_then(Value::as_str)
                            .map(|s| format!("-{s}"))
                            .unwrap_or_else(|| suffix.clone());
                        let id = if parts.len() == 1 {
                            format!("{role}-{m}{psuffix}")
                        } else {
                            format!("{role}-{m}.{p}{psuffix}")
                        };
                        self.push(
                            id,
                            (role, pct, pprov),
                            part,
                            Loc::Message(m, Some(p)),
                            is_cacheable_part(part),
                        );
                    }
                }
                _ => {}
            }
            if let Some(calls) = msg.get("tool_calls").and_then(Value::as_array) {
                for (k, call) in calls.iter().enumerate() {
                    let name = call
                        .pointer("/function/name")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    self.push(
                        format!("{role}-{m}.tc{k}-{name}"),
                        (role, ContentType::StructuredOutput, Provenance::Tool),
                        call,
                        Loc::ToolCall(m, k),
                        false,
                    );
                }
            }
        }
    }
}
