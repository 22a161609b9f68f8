//! Span names, kinds and attributes: `nemo_flow.*` on every span, plus the OpenTelemetry
//! GenAI semantic conventions or the OpenInference ones depending on the subscriber.

use nemo_flow_core::Event;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use serde_json::Value;

use super::attrs::Attrs;
use super::config::Flavor;
use crate::llm_view::{self, Message, ToolCallView};

fn category(e: &Event) -> &str {
    e.category.as_deref().unwrap_or("")
}

/// OTel span kind: CLIENT for calls that leave the process, INTERNAL otherwise.
pub fn span_kind(e: &Event) -> SpanKind {
    match category(e) {
        "llm" | "retriever" | "embedder" => SpanKind::Client,
        _ => SpanKind::Internal,
    }
}

fn genai_operation(e: &Event) -> Option<&'static str> {
    Some(match category(e) {
        "llm" => "chat",
        "tool" => "execute_tool",
        "agent" => "invoke_agent",
        "retriever" => "retrieval",
        "embedder" => "embeddings",
        _ => return None,
    })
}

fn openinference_kind(e: &Event) -> &'static str {
    match category(e) {
        "agent" => "AGENT",
        "tool" => "TOOL",
        "llm" => "LLM",
        "retriever" => "RETRIEVER",
        "embedder" => "EMBEDDING",
        "reranker" => "RERANKER",
        "guardrail" => "GUARDRAIL",
        "evaluator" => "EVALUATOR",
        "unknown" => "UNKNOWN",
        _ => "CHAIN",
    }
}

fn model(e: &Event) -> Option<String> {
    if let Some(m) = e.profile("model_name").and_then(Value::as_str) {
        return Some(m.to_owned());
    }
    llm_view::model_name(e, Some(&e.data.to_value()))
}

/// Span name: GenAI style (`chat gpt-4o`, `execute_tool search`, `invoke_agent planner`) for
/// OpenTelemetry, the scope name for OpenInference.
pub fn span_name(flavor: Flavor, e: &Event) -> String {
    if flavor == Flavor::OpenInference {
        return e.name.to_string();
    }
    match (genai_operation(e), category(e)) {
        (Some(op), "llm") => format!("{op} {}", model(e).unwrap_or_else(|| e.name.to_string())),
        (Some(op), "tool" | "agent") => format!("{op} {}", e.name),
        _ => e.name.to_string(),
    }
}

/// `gen_ai.provider.name`: metadata `provider`, else recognised from the call name.
fn provider(e: &Event) -> String {
    if let Some(p) = e
        .metadata
        .to_value()
        .get("provider")
        .and_then(Value::as_str)
    {
        return p.to_owned();
    }
    let n = e.name.to_lowercase();
    let known = [
        ("azure", "azure.ai.openai"),
        ("openai", "openai"),
        ("anthropic", "anthropic"),
        ("claude", "anthropic"),
        ("bedrock", "aws.bedrock"),
        ("vertex", "gcp.vertex_ai"),
        ("gemini", "gcp.gemini"),
        ("mistral", "mistral_ai"),
        ("groq", "groq"),
        ("deepseek", "deepseek"),
        ("xai", "x_ai"),
        ("nvidia", "nvidia"),
        ("nim", "nvidia"),
    ];
    known
        .iter()
        .find(|(k, _)| n.contains(k))
        .map_or(n.clone(), |(_, v)| (*v).to_owned())
}

/// `nemo_flow.*` attributes of a start event (also of an end event seen without its start).
pub fn common_start(a: &mut Attrs, e: &Event) {
    a.str("nemo_flow.uuid", e.uuid.to_string());
    a.opt_str(
        "nemo_flow.parent_uuid",
        e.parent_uuid.map(|u| u.to_string()),
    );
    a.str("nemo_flow.root_uuid", e.root_uuid.to_string());
    a.str("nemo_flow.scope_type", category(e));
    a.opt_str(
        "nemo_flow.model_name",
        e.profile("model_name").and_then(Value::as_str),
    );
    a.opt_str(
        "nemo_flow.tool_call_id",
        e.profile("tool_call_id").and_then(Value::as_str),
    );
    if let Some(s) = e.scope.as_ref().filter(|s| !s.attributes.is_empty()) {
        a.str(
            "nemo_flow.handle_attributes_json",
            Value::from(s.attributes.clone()).to_string(),
        );
    }
    if e.is_scope_start() {
        a.json_text("nemo_flow.start.data_json", &e.data);
        a.json_text("nemo_flow.start.metadata_json", &e.metadata);
    }
}

/// `nemo_flow.*` attributes of an end event.
pub fn common_end(a: &mut Attrs, e: &Event) {
    a.json_text("nemo_flow.end.data_json", &e.data);
    a.json_text("nemo_flow.end.metadata_json", &e.metadata);
}

/// Convention attributes known when the span opens.
pub fn start(flavor: Flavor, a: &mut Attrs, e: &Event) {
    match flavor {
        Flavor::OpenTelemetry => genai_start(a, e),
        Flavor::OpenInference => openinference_start(a, e),
    }
}

/// Convention attributes known when the span closes.
pub fn end(flavor: Flavor, a: &mut Attrs, start: Option<&Event>, e: &Event) {
    match flavor {
        Flavor::OpenTelemetry => genai_end(a, e),
        Flavor::OpenInference => openinference_end(a, start, e),
    }
}

fn genai_start(a: &mut Attrs, e: &Event) {
    let Some(op) = genai_operation(e) else {
        return;
    };
    a.str("gen_ai.operation.name", op);
    match category(e) {
        "llm" => {
            a.str("gen_ai.provider.name", provider(e));
            a.opt_str("gen_ai.request.model", model(e));
            let streaming = e
                .scope
                .as_ref()
                .is_some_and(|s| s.attributes.contains(&"streaming"));
            if streaming {
                a.bool("gen_ai.request.stream", true);
            }
            let content = llm_view::request_content(&e.data.to_value());
            for (key, attr) in [
                ("max_tokens", "gen_ai.request.max_tokens"),
                ("max_completion_tokens", "gen_ai.request.max_tokens"),
                ("seed", "gen_ai.request.seed"),
                ("top_k", "gen_ai.request.top_k"),
            ] {
                a.opt_int(attr, content.get(key).and_then(Value::as_i64));
            }
            for (key, attr) in [
                ("temperature", "gen_ai.request.temperature"),
                ("top_p", "gen_ai.request.top_p"),
                ("frequency_penalty", "gen_ai.request.frequency_penalty"),
                ("presence_penalty", "gen_ai.request.presence_penalty"),
            ] {
                if let Some(v) = content.get(key).and_then(Value::as_f64) {
                    a.0.push(float_kv(attr, v));
                }
            }
        }
        "tool" => {
            a.str("gen_ai.tool.name", &*e.name);
            a.str("gen_ai.tool.type", "function");
            a.opt_str(
                "gen_ai.tool.call.id",
                e.profile("tool_call_id").and_then(Value::as_str),
            );
        }
        "agent" => {
            a.str("gen_ai.agent.name", &*e.name);
            a.str("gen_ai.agent.id", e.uuid.to_string());
        }
        _ => {}
    }
}

fn float_kv(key: &str, v: f64) -> opentelemetry_proto::tonic::common::v1::KeyValue {
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::DoubleValue(v)),
        }),
        ..Default::default()
    }
}

fn genai_end(a: &mut Attrs, e: &Event) {
    if let Some(err) = e.scope.as_ref().and_then(|s| s.error.as_ref()) {
        a.str("error.type", &err.kind);
    }
    if category(e) != "llm" {
        return;
    }
    let out = llm_view::output(e);
    a.opt_str("gen_ai.response.id", out.id.as_deref());
    a.opt_str("gen_ai.response.model", out.model.as_deref());
    if let Some(f) = out.finish_reason {
        a.strs("gen_ai.response.finish_reasons", &[f]);
    }
    let u = llm_view::usage(e);
    a.opt_int("gen_ai.usage.input_tokens", u.prompt);
    a.opt_int("gen_ai.usage.output_tokens", u.completion);
    a.opt_int("gen_ai.usage.cache_read.input_tokens", u.cache_read);
    a.opt_int("gen_ai.usage.cache_creation.input_tokens", u.cache_write);
    a.opt_int("gen_ai.usage.reasoning.output_tokens", u.reasoning);
}

fn openinference_start(a: &mut Attrs, e: &Event) {
    a.str("openinference.span.kind", openinference_kind(e));
    a.json_text("metadata", &e.metadata);
    let data = e.data.to_value();
    match category(e) {
        "llm" => {
            a.opt_str("llm.model_name", model(e));
            a.str("llm.provider", provider(e));
            let messages = llm_view::input_messages(e);
            let text: Vec<&str> = messages
                .iter()
                .map(|m| m.content.as_str())
                .filter(|t| !t.is_empty())
                .collect();
            let content = llm_view::request_content(&data);
            if text.is_empty() {
                a.str("input.value", content.to_string());
                a.str("input.mime_type", "application/json");
            } else {
                a.str("input.value", text.join("\n\n"));
                a.str("input.mime_type", "text/plain");
            }
            flatten_messages(a, "llm.input_messages", &messages);
            if let Value::Object(c) = &content {
                let params: serde_json::Map<String, Value> = c
                    .iter()
                    .filter(|(k, _)| {
                        !matches!(k.as_str(), "messages" | "tools" | "system" | "input")
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                if !params.is_empty() {
                    a.str(
                        "llm.invocation_parameters",
                        Value::Object(params).to_string(),
                    );
                }
                if let Some(tools) = c.get("tools").and_then(Value::as_array) {
                    for (i, t) in tools.iter().enumerate() {
                        a.str(&format!("llm.tools.{i}.tool.json_schema"), t.to_string());
                    }
                }
            }
        }
        "tool" => {
            a.str("tool.name", &*e.name);
            a.str("tool_call.function.name", &*e.name);
            a.opt_str(
                "tool_call.id",
                e.profile("tool_call_id").and_then(Value::as_str),
            );
            a.json("tool.parameters", &data);
            a.json("tool_call.function.arguments", &data);
            input_value(a, &data);
        }
        "agent" => {
            a.str("agent.name", &*e.name);
            input_value(a, &data);
        }
        _ => input_value(a, &data),
    }
}

fn input_value(a: &mut Attrs, data: &Value) {
    match data {
        Value::Null => {}
        Value::String(s) => {
            a.str("input.value", s);
            a.str("input.mime_type", "text/plain");
        }
        other => {
            a.str("input.value", other.to_string());
            a.str("input.mime_type", "application/json");
        }
    }
}

fn flatten_messages(a: &mut Attrs, prefix: &str, messages: &[Message]) {
    for (i, m) in messages.iter().enumerate() {
        let p = format!("{prefix}.{i}.message");
        a.str(&format!("{p}.role"), &m.role);
        if !m.content.is_empty() {
            a.str(&format!("{p}.content"), &m.content);
        }
        a.opt_str(&format!("{p}.tool_call_id"), m.tool_call_id.as_deref());
        flatten_tool_calls(a, &p, &m.tool_calls);
    }
}

fn flatten_tool_calls(a: &mut Attrs, prefix: &str, calls: &[ToolCallView]) {
    for (j, c) in calls.iter().enumerate() {
        let p = format!("{prefix}.tool_calls.{j}.tool_call");
        a.opt_str(&format!("{p}.id"), c.id.as_deref());
        a.str(&format!("{p}.function.name"), &c.name);
        a.str(&format!("{p}.function.arguments"), c.arguments.to_string());
    }
}

fn openinference_end(a: &mut Attrs, start: Option<&Event>, e: &Event) {
    let data = e.data.to_value();
    if category(e) == "llm" {
        if start.is_none() {
            a.opt_str("llm.model_name", model(e));
        }
        let out = llm_view::output(e);
        let text = out.text.clone().unwrap_or_default();
        if !text.is_empty() {
            a.str("output.value", &text);
            a.str("output.mime_type", "text/plain");
        } else if !data.is_null() {
            a.str("output.value", data.to_string());
            a.str("output.mime_type", "application/json");
        }
        let msg = Message {
            role: "assistant".into(),
            content: text,
            tool_calls: out.tool_calls,
            tool_call_id: None,
        };
        if !data.is_null() {
            flatten_messages(a, "llm.output_messages", std::slice::from_ref(&msg));
        }
        a.opt_str("llm.finish_reason", out.finish_reason.as_deref());
        let u = llm_view::usage(e);
        a.opt_int("llm.token_count.prompt", u.prompt);
        a.opt_int("llm.token_count.completion", u.completion);
        let total = u.total.or_else(|| Some(u.prompt? + u.completion?));
        a.opt_int("llm.token_count.total", total);
        a.opt_int("llm.token_count.prompt_details.cache_read", u.cache_read);
        a.opt_int("llm.token_count.prompt_details.cache_write", u.cache_write);
        a.opt_int("llm.token_count.completion_details.reasoning", u.reasoning);
        return;
    }
    output_value(a, &data);
}

/// `output.value`: the first display key of an object output, a string as is, else JSON.
fn output_value(a: &mut Attrs, data: &Value) {
    let display = ["content", "summary", "message", "text", "prompt"]
        .iter()
        .find_map(|k| data.get(*k).and_then(Value::as_str))
        .or_else(|| data.as_str());
    match (data, display) {
        (Value::Null, _) => {}
        (_, Some(t)) => {
            a.str("output.value", t);
            a.str("output.mime_type", "text/plain");
        }
        (other, None) => {
            a.str("output.value", other.to_string());
            a.str("output.mime_type", "application/json");
        }
    }
}

/// Attributes of a mark, as a span event or an orphan span.
pub fn mark_attrs(a: &mut Attrs, m: &Event) {
    a.str("nemo_flow.mark.uuid", m.uuid.to_string());
    a.opt_str(
        "nemo_flow.mark.parent_uuid",
        m.parent_uuid.map(|u| u.to_string()),
    );
    a.opt_str("nemo_flow.mark.category", m.category.as_deref());
    a.json_text("nemo_flow.mark.data_json", &m.data);
    a.json_text("nemo_flow.mark.metadata_json", &m.metadata);
}

/// Convention attributes of a mark that became its own span.
pub fn orphan_mark(flavor: Flavor, a: &mut Attrs) {
    if flavor == Flavor::OpenInference {
        a.str("openinference.span.kind", "CHAIN");
    }
}
