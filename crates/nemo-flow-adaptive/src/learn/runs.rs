//! Run boundaries and call records. A run is an outermost Agent scope (nested Agent scopes are
//! part of their parent's run, unlike the original where each opened a run of its own); tool
//! and LLM calls are paired start-to-end by uuid (the original paired by name, so concurrent
//! calls of one tool were mixed up) and attributed to their run through `parent_uuid`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Lifecycle phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Scope or call started.
    Start,
    /// Scope or call ended.
    End,
}

/// What the event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Agent scope.
    Agent,
    /// Function scope.
    Function,
    /// Any other scope.
    Scope,
    /// Tool call.
    Tool,
    /// LLM call.
    Llm,
}

/// The part of a lifecycle event the learners read (the wiring maps core events to it).
#[derive(Debug, Clone, PartialEq)]
pub struct LifecycleEvent {
    /// Start or end.
    pub phase: Phase,
    /// Scope or call kind.
    pub kind: Kind,
    /// The scope's or call's uuid (the same on start and end).
    pub uuid: String,
    /// Enclosing scope.
    pub parent_uuid: Option<String>,
    /// Name.
    pub name: String,
    /// ms since the Unix epoch.
    pub timestamp_ms: u64,
    /// LLM start: the (annotated) request; LLM end: the response.
    pub data: Option<Value>,
}

/// One tool or LLM call of a finished run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    /// Tool or LLM.
    pub kind: Kind,
    /// Call name.
    pub name: String,
    /// Call uuid.
    pub uuid: String,
    /// Names of the Agent and Function scopes from the run's agent down.
    pub path: Vec<String>,
    /// Start, ms.
    pub started_at: u64,
    /// End, ms (`None` if the end never came).
    pub ended_at: Option<u64>,
    /// LLM request.
    pub request: Option<Value>,
    /// `model` of the request or response.
    pub model: Option<String>,
    /// Output tokens from the response usage.
    pub output_tokens: Option<u64>,
    /// Tool calls the LLM response asked for.
    pub tool_call_count: usize,
}

/// A finished run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run's agent scope uuid.
    pub run_id: String,
    /// The agent's name.
    pub agent: String,
    /// Start, ms.
    pub started_at: u64,
    /// End, ms.
    pub ended_at: u64,
    /// Calls by start time.
    pub calls: Vec<CallRecord>,
}

struct ScopeInfo {
    kind: Kind,
    name: String,
    parent: Option<String>,
}

/// Turns events into [`RunRecord`]s; bounded so runs that never end cannot grow it forever.
pub struct RunTracker {
    scopes: HashMap<String, ScopeInfo>,
    runs: HashMap<String, RunRecord>,
    open_calls: HashMap<String, (String, CallRecord)>,
    max_open_runs: usize,
    /// Runs dropped because more than `max_open_runs` were open.
    pub dropped_runs: u64,
}

/// Output tokens of an OpenAI or Anthropic response.
fn output_tokens(resp: &Value) -> Option<u64> {
    let u = resp.get("usage")?;
    u.get("completion_tokens")
        .or_else(|| u.get("output_tokens"))
        .and_then(Value::as_u64)
}

/// Tool calls an OpenAI Chat / Responses or Anthropic response asks for.
fn tool_call_count(resp: &Value) -> usize {
    if let Some(calls) = resp
        .pointer("/choices/0/message/tool_calls")
        .and_then(Value::as_array)
    {
        return calls.len();
    }
    let items = resp
        .get("content")
        .or_else(|| resp.get("output"))
        .and_then(Value::as_array);
    items.map_or(0, |a| {
        a.iter()
            .filter(|x| {
                matches!(
                    x.get("type").and_then(Value::as_str),
                    Some("tool_use" | "function_call")
                )
            })
            .count()
    })
}

impl RunTracker {
    /// A tracker keeping at most `max_open_runs` unfinished runs.
    pub fn new(max_open_runs: usize) -> Self {
        Self {
            scopes: HashMap::new(),
            runs: HashMap::new(),
            open_calls: HashMap::new(),
            max_open_runs: max_open_runs.max(1),
            dropped_runs: 0,
        }
    }

    /// The run the scope `uuid` belongs to, and the Agent/Function names from it down.
    fn locate<'a>(&'a self, mut uuid: Option<&'a str>) -> Option<(String, Vec<String>)> {
        let mut path = Vec::new();
        while let Some(u) = uuid {
            let s = self.scopes.get(u)?;
            if matches!(s.kind, Kind::Agent | Kind::Function) {
                path.push(s.name.clone());
            }
            if self.runs.contains_key(u) {
                path.reverse();
                return Some((u.to_owned(), path));
            }
            uuid = s.parent.as_deref();
        }
        None
    }

    /// Feeds one event; returns the run it finished, if any.
    pub fn feed(&mut self, ev: LifecycleEvent) -> Option<RunRecord> {
        match (ev.kind, ev.phase) {
            (Kind::Tool | Kind::Llm, Phase::Start) => {
                let (run, path) = self.locate(ev.parent_uuid.as_deref())?;
                let model = ev
                    .data
                    .as_ref()
                    .and_then(|d| d.get("model"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                let rec = CallRecord {
                    kind: ev.kind,
                    name: ev.name,
                    uuid: ev.uuid.clone(),
                    path,
                    started_at: ev.timestamp_ms,
                    ended_at: None,
                    request: if ev.kind == Kind::Llm { ev.data } else { None },
                    model,
                    output_tokens: None,
                    tool_call_count: 0,
                };
                self.open_calls.insert(ev.uuid, (run, rec));
                None
            }
            (Kind::Tool | Kind::Llm, Phase::End) => {
                let (run, mut rec) = self.open_calls.remove(&ev.uuid)?;
                rec.ended_at = Some(ev.timestamp_ms);
                if let Some(resp) = &ev.data {
                    rec.output_tokens = output_tokens(resp);
                    rec.tool_call_count = tool_call_count(resp);
                    if rec.model.is_none() {
                        rec.model = resp.get("model").and_then(Value::as_str).map(str::to_owned);
                    }
                }
                if let Some(r) = self.runs.get_mut(&run) {
                    r.calls.push(rec);
                }
                None
            }
            (kind, Phase::Start) => {
                let in_run = self.locate(ev.parent_uuid.as_deref()).is_some();
                self.scopes.insert(
                    ev.uuid.clone(),
                    ScopeInfo {
                        kind,
                        name: ev.name.clone(),
                        parent: ev.parent_uuid,
                    },
                );
                if kind == Kind::Agent && !in_run {
                    if self.runs.len() >= self.max_open_runs {
                        self.evict_oldest_run();
                    }
                    self.runs.insert(
                        ev.uuid.clone(),
                        RunRecord {
                            run_id: ev.uuid,
                            agent: ev.name,
                            started_at: ev.timestamp_ms,
                            ended_at: ev.timestamp_ms,
                            calls: Vec::new(),
                        },
                    );
                }
                None
            }
            (_, Phase::End) => {
                self.scopes.remove(&ev.uuid);
                let mut run = self.runs.remove(&ev.uuid)?;
                run.ended_at = ev.timestamp_ms;
                // Calls still open at the run's end keep `ended_at: None`.
                let open: Vec<String> = self
                    .open_calls
                    .iter()
                    .filter(|(_, (r, _))| *r == run.run_id)
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in open {
                    if let Some((_, rec)) = self.open_calls.remove(&k) {
                        run.calls.push(rec);
                    }
                }
                run.calls.sort_by_key(|c| c.started_at);
                Some(run)
            }
        }
    }

    fn evict_oldest_run(&mut self) {
        if let Some(oldest) = self
            .runs
            .values()
            .min_by_key(|r| r.started_at)
            .map(|r| r.run_id.clone())
        {
            self.runs.remove(&oldest);
            self.open_calls.retain(|_, (r, _)| *r != oldest);
            self.dropped_runs += 1;
        }
    }
}
