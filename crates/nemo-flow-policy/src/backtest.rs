//! Backtest: replays the tool and LLM calls recorded in an ATOF JSONL file through a
//! component and reports which would have been rejected and why. Approvers are not asked
//! (a `before` policy records "approval required"); rate limits run on the recorded
//! timestamps. Calls a guardrail rejected live were never started, so they have no start
//! event to replay; arguments are what the file holds (after any sanitizer).

use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use nemo_flow_core::clock::Timestamp;

use crate::config::Component;
use crate::decision::{Decision, Outcome};
use crate::engine::{Approvals, Call, Target};
use crate::rate::Clock;

/// A call that some policy did not simply allow.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// 1-based line in the file.
    pub line: usize,
    /// The call's uuid.
    pub uuid: String,
    /// `tool` or `llm`.
    pub call: &'static str,
    /// Tool or LLM call name.
    pub name: String,
    /// Recorded start time.
    pub timestamp: String,
    /// Whether the component would have let it run.
    pub allowed: bool,
    /// The rejection reason, when rejected.
    pub reason: Option<String>,
    /// The decisions other than `allowed`.
    pub decisions: Vec<Decision>,
}

/// Counts per outcome.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    /// `allowed` decisions.
    pub allowed: u64,
    /// `denied`.
    pub denied: u64,
    /// `would_deny`.
    pub would_deny: u64,
    /// `error`.
    pub error: u64,
    /// `rate_limited`.
    pub rate_limited: u64,
}

impl Counts {
    fn add(&mut self, o: Outcome) {
        match o {
            Outcome::Allowed => self.allowed += 1,
            Outcome::Denied => self.denied += 1,
            Outcome::WouldDeny => self.would_deny += 1,
            Outcome::Error => self.error += 1,
            Outcome::RateLimited => self.rate_limited += 1,
        }
    }
}

/// What the replay found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Tool calls replayed.
    pub tool_calls: u64,
    /// LLM calls replayed.
    pub llm_calls: u64,
    /// Calls the component would have rejected.
    pub rejected: u64,
    /// Per policy id.
    pub by_policy: BTreeMap<String, Counts>,
    /// Calls with a decision other than `allowed`, in file order.
    pub findings: Vec<Finding>,
    /// Lines that were not JSON events (skipped).
    pub skipped_lines: u64,
}

struct ReplayClock(AtomicU64);

impl Clock for ReplayClock {
    fn now(&self) -> f64 {
        self.0.load(Ordering::Acquire) as f64 / 1e6
    }
}

/// Replays `reader` (ATOF JSONL) through `component`. Its rate limits are switched to the
/// recorded timestamps, so pass a component built for the backtest.
pub fn run(component: &Component, reader: impl BufRead) -> std::io::Result<Report> {
    let clock = Arc::new(ReplayClock(AtomicU64::new(0)));
    component.set_clock(clock.clone());
    let mut report = Report::default();
    for (i, line) in reader.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let Ok(ev) = serde_json::from_str::<Value>(&line) else {
            report.skipped_lines += 1;
            continue;
        };
        let s = |k: &str| ev.get(k).and_then(Value::as_str);
        if s("kind") != Some("scope") || s("scope_category") != Some("start") {
            continue;
        }
        let (call_kind, name) = match (s("category"), s("name")) {
            (Some("tool"), Some(n)) => ("tool", n),
            (Some("llm"), Some(n)) => ("llm", n),
            _ => continue,
        };
        if let Some(t) = s("timestamp").and_then(Timestamp::parse_rfc3339) {
            clock
                .0
                .store(u64::try_from(t.0 / 1000).unwrap_or(0), Ordering::Release);
        }
        let null = Value::Null;
        let data = ev.get("data").unwrap_or(&null);
        let target = if call_kind == "tool" {
            report.tool_calls += 1;
            Target::Tool {
                args: data,
                capability: ev
                    .pointer("/metadata/nemoir.capability")
                    .and_then(Value::as_str),
            }
        } else {
            report.llm_calls += 1;
            Target::Llm {
                annotated: ev.pointer("/category_profile/annotated_request"),
            }
        };
        let call = Call {
            name,
            target,
            run: s("root_uuid"),
            scope_inputs: None,
        };
        let verdict = component.evaluate(&call, Approvals::Skip);
        for d in &verdict.decisions {
            report
                .by_policy
                .entry(d.policy_id.clone())
                .or_default()
                .add(d.decision);
        }
        if !verdict.allowed {
            report.rejected += 1;
        }
        let notable: Vec<Decision> = verdict
            .decisions
            .into_iter()
            .filter(|d| d.decision != Outcome::Allowed)
            .collect();
        if !notable.is_empty() {
            report.findings.push(Finding {
                line: i + 1,
                uuid: s("uuid").unwrap_or_default().to_string(),
                call: call_kind,
                name: name.to_string(),
                timestamp: s("timestamp").unwrap_or_default().to_string(),
                allowed: verdict.allowed,
                reason: verdict.reason,
                decisions: notable,
            });
        }
    }
    Ok(report)
}
