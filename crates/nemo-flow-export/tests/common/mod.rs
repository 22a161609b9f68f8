//! Event builders for the exporter tests.

#![allow(dead_code)]

use nemo_flow_core::clock::Timestamp;
use nemo_flow_core::event::{ErrorInfo, Event, JsonText, ScopeCategory, ScopeFields};
use serde_json::{Map, Value, json};
use std::borrow::Cow;
use std::sync::Arc;
use uuid::Uuid;

/// Builds the events of one run with a ticking clock.
pub struct Run {
    pub root: Uuid,
    clock: i64,
}

impl Default for Run {
    fn default() -> Self {
        Self::new()
    }
}

impl Run {
    pub fn new() -> Self {
        Self {
            root: Uuid::now_v7(),
            clock: 1_700_000_000_000_000_000,
        }
    }

    fn tick(&mut self) -> Timestamp {
        self.clock += 1_000_000;
        Timestamp(self.clock)
    }

    #[allow(clippy::too_many_arguments)]
    fn scope(
        &mut self,
        cat: ScopeCategory,
        uuid: Uuid,
        parent: Option<Uuid>,
        name: &str,
        category: &str,
        profile: Option<Value>,
        data: Value,
        error: Option<ErrorInfo>,
    ) -> Arc<Event> {
        Arc::new(Event {
            scope: Some(ScopeFields {
                scope_category: cat,
                attributes: Vec::new(),
                error,
            }),
            parent_uuid: Some(parent.unwrap_or(self.root)),
            uuid,
            root_uuid: self.root,
            timestamp: self.tick(),
            name: Arc::from(name),
            category: Some(Cow::Owned(category.to_owned())),
            category_profile: profile.and_then(|p| match p {
                Value::Object(m) => Some(Box::new(m)),
                _ => None,
            }),
            data: JsonText::from_value(&data),
            data_schema: None,
            metadata: JsonText::NULL,
        })
    }

    /// A start/end pair around nothing.
    pub fn start(
        &mut self,
        parent: Option<Uuid>,
        name: &str,
        category: &str,
        profile: Option<Value>,
        data: Value,
    ) -> (Uuid, Arc<Event>) {
        let u = Uuid::now_v7();
        (
            u,
            self.scope(
                ScopeCategory::Start,
                u,
                parent,
                name,
                category,
                profile,
                data,
                None,
            ),
        )
    }

    pub fn end(
        &mut self,
        uuid: Uuid,
        parent: Option<Uuid>,
        name: &str,
        category: &str,
        profile: Option<Value>,
        data: Value,
    ) -> Arc<Event> {
        self.scope(
            ScopeCategory::End,
            uuid,
            parent,
            name,
            category,
            profile,
            data,
            None,
        )
    }

    pub fn failed_end(
        &mut self,
        uuid: Uuid,
        parent: Option<Uuid>,
        name: &str,
        category: &str,
        kind: &str,
        msg: &str,
    ) -> Arc<Event> {
        let err = ErrorInfo {
            kind: kind.into(),
            message: msg.into(),
        };
        self.scope(
            ScopeCategory::End,
            uuid,
            parent,
            name,
            category,
            None,
            Value::Null,
            Some(err),
        )
    }

    pub fn mark(&mut self, parent: Option<Uuid>, name: &str, data: Value) -> Arc<Event> {
        Arc::new(Event {
            scope: None,
            parent_uuid: Some(parent.unwrap_or(self.root)),
            uuid: Uuid::now_v7(),
            root_uuid: self.root,
            timestamp: self.tick(),
            name: Arc::from(name),
            category: None,
            category_profile: None,
            data: JsonText::from_value(&data),
            data_schema: None,
            metadata: JsonText::NULL,
        })
    }
}

/// An OpenAI chat response asking for `calls` (id, name, arguments).
pub fn tool_call_response(calls: &[(&str, &str, Value)]) -> Value {
    let tool_calls: Vec<Value> = calls
        .iter()
        .map(|(id, name, args)| json!({"id": id, "type": "function", "function": {"name": name, "arguments": args.to_string()}}))
        .collect();
    json!({
        "id": "r1",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": null, "tool_calls": tool_calls}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    })
}

/// `{headers, content}` of an LLM start with one user message.
pub fn llm_request(text: &str) -> Value {
    json!({"headers": {}, "content": {"model": "m", "messages": [{"role": "user", "content": text}]}})
}

pub fn profile_model(model: &str) -> Option<Value> {
    let mut m = Map::new();
    m.insert("model_name".into(), Value::from(model));
    Some(Value::Object(m))
}
