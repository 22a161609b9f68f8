//! `latency_sensitivity` learner: a prediction trie over scope paths (Agent and Function names
//! below the root). Each node keeps, per LLM call index within a run and for any index,
//! the remaining calls, inter-arrival time, output tokens (p90 over a bounded sample) and a
//! latency sensitivity 1–5; [`LatencyTrie::hints`] turns a prediction into `AgentHints`.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::runs::{CallRecord, Kind, RunRecord};

/// Output-token samples kept per accumulator.
const SAMPLES: usize = 64;

/// Running statistics for one (node, call index).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Accumulator {
    /// Calls folded in.
    pub count: u64,
    sum_remaining: f64,
    sum_iat_ms: f64,
    iat_count: u64,
    sum_sensitivity: f64,
    output_tokens: VecDeque<u64>,
}

/// What the trie predicts for a call.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Mean LLM calls still to come in the run after this one.
    pub remaining_calls: f64,
    /// Mean ms since the previous LLM call started.
    pub interarrival_ms: f64,
    /// p90 of output tokens.
    pub output_tokens_p90: u64,
    /// 1 (tolerant) to 5 (sensitive).
    pub latency_sensitivity: u8,
    /// Calls behind the prediction.
    pub samples: u64,
}

impl Accumulator {
    fn add(&mut self, remaining: usize, iat: Option<u64>, out: Option<u64>, sensitivity: u8) {
        self.count += 1;
        self.sum_remaining += remaining as f64;
        if let Some(i) = iat {
            self.sum_iat_ms += i as f64;
            self.iat_count += 1;
        }
        if let Some(o) = out {
            self.output_tokens.push_back(o);
            if self.output_tokens.len() > SAMPLES {
                self.output_tokens.pop_front();
            }
        }
        self.sum_sensitivity += f64::from(sensitivity);
    }

    fn predict(&self) -> Option<Prediction> {
        if self.count == 0 {
            return None;
        }
        let n = self.count as f64;
        let mut out: Vec<u64> = self.output_tokens.iter().copied().collect();
        out.sort_unstable();
        let p90 = if out.is_empty() {
            0
        } else {
            out[((out.len() - 1) as f64 * 0.9).round() as usize]
        };
        Some(Prediction {
            remaining_calls: self.sum_remaining / n,
            interarrival_ms: if self.iat_count == 0 {
                0.0
            } else {
                self.sum_iat_ms / self.iat_count as f64
            },
            output_tokens_p90: p90,
            latency_sensitivity: (self.sum_sensitivity / n).round().clamp(1.0, 5.0) as u8,
            samples: self.count,
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Node {
    children: BTreeMap<String, Node>,
    by_index: BTreeMap<usize, Accumulator>,
    any: Accumulator,
}

/// The trie plus the agent-wide default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyTrie {
    root: Node,
    overall: Accumulator,
}

/// 1–5 from the call's place in the run: critical path (no other call overlapping) ×0.5,
/// fan-out (tool calls it asked for, saturating at 4) ×0.3, U-shaped position (first and last
/// calls matter most) ×0.2.
pub fn sensitivity(call: &CallRecord, index: usize, n: usize, all: &[CallRecord]) -> u8 {
    let end = call.ended_at.unwrap_or(call.started_at);
    let overlapped = all.iter().any(|o| {
        o.uuid != call.uuid
            && o.started_at < end
            && o.ended_at.unwrap_or(o.started_at) > call.started_at
    });
    let critical = if overlapped { 0.0 } else { 1.0 };
    let fanout = (call.tool_call_count as f64 / 4.0).min(1.0);
    let u = if n <= 1 {
        1.0
    } else {
        (2.0 * index as f64 / (n - 1) as f64 - 1.0).abs()
    };
    let score = 0.5 * critical + 0.3 * fanout + 0.2 * u;
    (1.0 + (4.0 * score).round()).clamp(1.0, 5.0) as u8
}

impl LatencyTrie {
    /// Folds one finished run in.
    pub fn learn(&mut self, run: &RunRecord) {
        let llm: Vec<&CallRecord> = run.calls.iter().filter(|c| c.kind == Kind::Llm).collect();
        let n = llm.len();
        for (i, call) in llm.iter().enumerate() {
            let iat = (i > 0).then(|| call.started_at.saturating_sub(llm[i - 1].started_at));
            let s = sensitivity(call, i, n, &run.calls);
            let remaining = n - i - 1;
            let mut node = &mut self.root;
            for name in &call.path {
                node = node.children.entry(name.clone()).or_default();
            }
            node.by_index
                .entry(i)
                .or_default()
                .add(remaining, iat, call.output_tokens, s);
            node.any.add(remaining, iat, call.output_tokens, s);
            self.overall.add(remaining, iat, call.output_tokens, s);
        }
    }

    /// Prediction for the `index`th LLM call of a run at `path`: the deepest known node on the
    /// path, at that index, else any index.
    pub fn predict(&self, path: &[String], index: usize) -> Option<Prediction> {
        let mut node = &self.root;
        for name in path {
            match node.children.get(name) {
                Some(c) => node = c,
                None => break,
            }
        }
        node.by_index
            .get(&index)
            .and_then(Accumulator::predict)
            .or_else(|| node.any.predict())
    }

    /// The agent-wide default prediction.
    pub fn default_prediction(&self) -> Option<Prediction> {
        self.overall.predict()
    }

    /// `AgentHints` (§9.3) for a call: the prediction (or default), raised to `manual` if
    /// that is higher; with neither, `None`. A manual level without data gives `osl = iat = 0`.
    pub fn hints(
        &self,
        agent: &str,
        path: &[String],
        index: usize,
        manual: Option<u8>,
    ) -> Option<Value> {
        let p = self
            .predict(path, index)
            .or_else(|| self.default_prediction());
        let (osl, iat, remaining, learned) = match &p {
            Some(p) => (
                p.output_tokens_p90,
                p.interarrival_ms,
                p.remaining_calls,
                Some(p.latency_sensitivity),
            ),
            None => (0, 0.0, 0.0, None),
        };
        let ls = match (learned, manual) {
            (None, None) => return None,
            (a, b) => a.unwrap_or(1).max(b.unwrap_or(1)).min(5),
        };
        Some(json!({
            "osl": osl,
            "iat": iat.round() as u64,
            "priority": 5u8.saturating_sub(ls),
            "latency_sensitivity": ls,
            "prefix_id": format!("{agent}-d{}", path.len()),
            "total_requests": (remaining.round() as u64) + index as u64,
        }))
    }
}
