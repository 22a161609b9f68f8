//! Events → one ATIF v1.6 trajectory.
//!
//! - An LLM start whose newest message is from the user becomes a `user` step (its text).
//! - An LLM end becomes an `agent` step: response text, model, reasoning, tool calls (ids
//!   synthesized when the provider gave none), token metrics.
//! - A tool end becomes an observation result on the agent step that requested the call
//!   (matched by call id, else by the newest unanswered call of that name); a tool nobody
//!   requested becomes a `system` step. Results are strings: structured output is JSON text.
//! - A mark becomes a `system` step named after it, except streaming chunk marks (marks under
//!   an LLM call), which are noise in a trajectory.
//! - Nested agents stay in one trajectory; every step's `extra.ancestry` and `extra.agent_path`
//!   say where it ran.

use nemo_flow_core::Event;
use nemo_flow_core::clock::Timestamp;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

use crate::llm_view::{self, Usage};

/// The schema version written.
pub const ATIF_VERSION: &str = "ATIF-v1.6";

/// The `agent` block and session of a trajectory.
#[derive(Debug, Clone, Default)]
pub struct AgentInfo {
    /// Trajectory session id.
    pub session_id: String,
    /// Agent name.
    pub name: String,
    /// Agent version.
    pub version: String,
    /// Default model.
    pub model_name: Option<String>,
    /// Tool definitions (OpenAI function schema objects).
    pub tool_definitions: Option<Vec<Value>>,
    /// Free-form agent configuration.
    pub extra: Option<Value>,
}

struct SpanInfo {
    name: String,
    category: String,
    parent: Option<Uuid>,
}

struct PendingCall {
    step: usize,
    /// The scope the requesting LLM call ran in.
    scope: Option<Uuid>,
    id: String,
    name: String,
    answered: bool,
}

#[derive(Default)]
struct Builder {
    spans: HashMap<Uuid, SpanInfo>,
    llm_starts: HashMap<Uuid, Arc<Event>>,
    steps: Vec<Map<String, Value>>,
    calls: Vec<PendingCall>,
}

/// Builds the trajectory for `events` (any order; sorted by timestamp here).
pub fn build(info: &AgentInfo, events: &[Arc<Event>]) -> Value {
    let mut sorted: Vec<&Arc<Event>> = events.iter().collect();
    sorted.sort_by_key(|e| e.timestamp);
    let mut b = Builder::default();
    for e in sorted {
        b.event(e);
    }
    b.finish(info)
}

impl Builder {
    fn event(&mut self, e: &Arc<Event>) {
        let category = e.category.as_deref().unwrap_or("");
        if e.is_scope_start() {
            self.spans.insert(
                e.uuid,
                SpanInfo {
                    name: e.name.to_string(),
                    category: category.to_owned(),
                    parent: e.parent_uuid,
                },
            );
            if category == "llm" {
                self.llm_starts.insert(e.uuid, e.clone());
                self.user_step(e);
            }
        } else if e.is_scope_end() {
            match category {
                "llm" => self.agent_step(e),
                "tool" => self.tool_result(e),
                _ => {}
            }
        } else {
            self.mark(e);
        }
    }

    fn base_step(&self, e: &Event, source: &str) -> Map<String, Value> {
        let mut s = Map::new();
        s.insert("step_id".into(), Value::from(0));
        s.insert("timestamp".into(), Value::from(e.timestamp.to_rfc3339()));
        s.insert("source".into(), Value::from(source));
        s.insert("message".into(), Value::from(""));
        let mut extra = Map::new();
        extra.insert("ancestry".into(), self.ancestry(e.parent_uuid));
        extra.insert(
            "agent_path".into(),
            Value::from(self.agent_path(e.parent_uuid)),
        );
        s.insert("extra".into(), Value::Object(extra));
        s
    }

    fn ancestry(&self, parent: Option<Uuid>) -> Value {
        let info = parent.and_then(|p| self.spans.get(&p));
        let grand = info.and_then(|i| i.parent);
        json!({
            "function_id": parent.map(|p| p.to_string()),
            "function_name": info.map_or("root", |i| i.name.as_str()),
            "parent_id": grand.map(|g| g.to_string()),
            "parent_name": grand.and_then(|g| self.spans.get(&g)).map(|i| i.name.clone()),
        })
    }

    /// Names of the enclosing agent scopes, outermost first.
    fn agent_path(&self, mut at: Option<Uuid>) -> Vec<String> {
        let mut path = Vec::new();
        // Bounded by the number of known spans: a parent chain cannot be longer.
        for _ in 0..=self.spans.len() {
            let Some(info) = at.and_then(|u| self.spans.get(&u)) else {
                break;
            };
            if info.category == "agent" {
                path.push(info.name.clone());
            }
            at = info.parent;
        }
        path.reverse();
        path
    }

    fn user_step(&mut self, start: &Event) {
        let messages = llm_view::input_messages(start);
        let text = match messages.last() {
            Some(m) if m.role == "user" => m.content.clone(),
            Some(_) => return,
            None => {
                let content = llm_view::request_content(&start.data.to_value());
                if content.is_null() {
                    return;
                }
                llm_view::display(&content)
            }
        };
        let mut s = self.base_step(start, "user");
        s.insert("message".into(), Value::from(text));
        self.steps.push(s);
    }

    fn agent_step(&mut self, end: &Event) {
        let start = self.llm_starts.remove(&end.uuid);
        let start_data = start.as_ref().map(|s| s.data.to_value());
        let out = llm_view::output(end);
        let mut s = self.base_step(end, "agent");
        s.insert(
            "message".into(),
            Value::from(out.text.clone().unwrap_or_default()),
        );
        let model = llm_view::model_name(end, start_data.as_ref()).or(out.model.clone());
        if let Some(m) = model {
            s.insert("model_name".into(), Value::from(m));
        }
        if let Some(effort) = start_data
            .as_ref()
            .map(llm_view::request_content)
            .and_then(|c| c.get("reasoning_effort").cloned())
            .filter(|v| v.is_string() || v.is_number())
        {
            s.insert("reasoning_effort".into(), effort);
        }
        if let Some(r) = out.reasoning {
            s.insert("reasoning_content".into(), Value::from(r));
        }
        let step_index = self.steps.len();
        if !out.tool_calls.is_empty() {
            let mut calls = Vec::new();
            for (i, c) in out.tool_calls.iter().enumerate() {
                let id = c.id.clone().unwrap_or_else(|| format!("{}:{i}", end.uuid));
                calls.push(
                    json!({"tool_call_id": id, "function_name": c.name, "arguments": c.arguments}),
                );
                self.calls.push(PendingCall {
                    step: step_index,
                    scope: end.parent_uuid,
                    id,
                    name: c.name.clone(),
                    answered: false,
                });
            }
            s.insert("tool_calls".into(), Value::Array(calls));
        }
        let usage = llm_view::usage(end);
        if !usage.is_empty() {
            s.insert("metrics".into(), metrics(&usage));
        }
        let error = end.scope.as_ref().and_then(|f| f.error.as_ref());
        let extra = s["extra"].as_object_mut().expect("extra is an object");
        let started = start.as_ref().map_or(end.timestamp, |s| s.timestamp);
        extra.insert(
            "invocation".into(),
            json!({
                "start_timestamp": epoch_seconds(started),
                "end_timestamp": epoch_seconds(end.timestamp),
                "invocation_id": end.uuid.to_string(),
                "status": if error.is_some() { "error" } else { "completed" },
                "framework": "nemo_flow",
            }),
        );
        if let Some(err) = error {
            extra.insert("error".into(), err.to_json());
        }
        self.steps.push(s);
    }

    fn tool_result(&mut self, end: &Event) {
        let content = match end.scope.as_ref().and_then(|f| f.error.as_ref()) {
            Some(err) => format!("{}: {}", err.kind, err.message),
            None => llm_view::display(&end.data.to_value()),
        };
        let call_id = end.profile("tool_call_id").and_then(Value::as_str);
        let by_id =
            call_id.and_then(|id| self.calls.iter().rposition(|c| !c.answered && c.id == id));
        // By name: a call requested in the same scope first (concurrent runs stay apart).
        let by_name = |same_scope: bool| {
            self.calls.iter().rposition(|c| {
                !c.answered && c.name == *end.name && (!same_scope || c.scope == end.parent_uuid)
            })
        };
        let target = by_id.or_else(|| by_name(true)).or_else(|| by_name(false));
        if let Some(i) = target {
            self.calls[i].answered = true;
            let (step, id) = (self.calls[i].step, self.calls[i].id.clone());
            let s = &mut self.steps[step];
            let obs = s
                .entry("observation")
                .or_insert_with(|| json!({"results": []}));
            if let Some(results) = obs["results"].as_array_mut() {
                results.push(json!({"source_call_id": id, "content": content}));
            }
            return;
        }
        let mut s = self.base_step(end, "system");
        s.insert("message".into(), Value::from(end.name.to_string()));
        s.insert(
            "observation".into(),
            json!({"results": [{"content": content}]}),
        );
        let extra = s["extra"].as_object_mut().expect("extra is an object");
        extra.insert("tool_name".into(), Value::from(end.name.to_string()));
        if let Some(id) = call_id {
            extra.insert("tool_call_id".into(), Value::from(id));
        }
        self.steps.push(s);
    }

    fn mark(&mut self, m: &Event) {
        let under_llm = m
            .parent_uuid
            .and_then(|p| self.spans.get(&p))
            .is_some_and(|i| i.category == "llm");
        if under_llm || &*m.name == "llm.chunk" {
            return;
        }
        let mut s = self.base_step(m, "system");
        s.insert("message".into(), Value::from(m.name.to_string()));
        let meta = m.metadata.to_value();
        let hook = meta
            .get("hook_event_name")
            .and_then(Value::as_str)
            .map_or_else(|| m.name.to_string(), str::to_owned);
        let extra = s["extra"].as_object_mut().expect("extra is an object");
        extra.insert("hook_event_name".into(), Value::from(hook));
        extra.insert("event_payload".into(), m.data.to_value());
        if !meta.is_null() {
            extra.insert("metadata".into(), meta);
        }
        self.steps.push(s);
    }

    fn finish(mut self, info: &AgentInfo) -> Value {
        let (mut prompt, mut completion, mut cached, mut cost) = (0i64, 0i64, 0i64, 0f64);
        let mut any_metrics = false;
        for (i, s) in self.steps.iter_mut().enumerate() {
            s.insert("step_id".into(), Value::from(i + 1));
            if let Some(m) = s.get("metrics") {
                any_metrics = true;
                prompt += m.get("prompt_tokens").and_then(Value::as_i64).unwrap_or(0);
                completion += m
                    .get("completion_tokens")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                cached += m.get("cached_tokens").and_then(Value::as_i64).unwrap_or(0);
                cost += m.get("cost_usd").and_then(Value::as_f64).unwrap_or(0.0);
            }
        }
        let mut fm = Map::new();
        if any_metrics {
            fm.insert("total_prompt_tokens".into(), Value::from(prompt));
            fm.insert("total_completion_tokens".into(), Value::from(completion));
        }
        if cached > 0 {
            fm.insert("total_cached_tokens".into(), Value::from(cached));
        }
        if cost > 0.0 {
            fm.insert("total_cost_usd".into(), Value::from(cost));
        }
        fm.insert("total_steps".into(), Value::from(self.steps.len()));
        let mut agent = Map::new();
        agent.insert("name".into(), Value::from(info.name.clone()));
        agent.insert("version".into(), Value::from(info.version.clone()));
        if let Some(m) = &info.model_name {
            agent.insert("model_name".into(), Value::from(m.clone()));
        }
        if let Some(t) = &info.tool_definitions {
            agent.insert("tool_definitions".into(), Value::Array(t.clone()));
        }
        if let Some(Value::Object(x)) = &info.extra {
            agent.insert("extra".into(), Value::Object(x.clone()));
        }
        let steps: Vec<Value> = self.steps.into_iter().map(Value::Object).collect();
        json!({
            "schema_version": ATIF_VERSION,
            "session_id": info.session_id,
            "agent": agent,
            "steps": steps,
            "final_metrics": fm,
        })
    }
}

fn metrics(u: &Usage) -> Value {
    let mut m = Map::new();
    let mut put = |k: &str, v: Option<i64>| {
        if let Some(v) = v {
            m.insert(k.into(), Value::from(v));
        }
    };
    put("prompt_tokens", u.prompt);
    put("completion_tokens", u.completion);
    put("cached_tokens", u.cache_read);
    if let Some(c) = u.cost_usd {
        m.insert("cost_usd".into(), Value::from(c));
    }
    let mut extra = u.extra.clone();
    for (k, v) in [
        ("total_tokens", u.total),
        ("cache_creation_tokens", u.cache_write),
        ("reasoning_tokens", u.reasoning),
    ] {
        if let Some(v) = v {
            extra.insert(k.into(), Value::from(v));
        }
    }
    if !extra.is_empty() {
        m.insert("extra".into(), Value::Object(extra));
    }
    Value::Object(m)
}

/// Seconds since the epoch with millisecond precision.
fn epoch_seconds(t: Timestamp) -> f64 {
    (t.0 / 1_000_000) as f64 / 1000.0
}
