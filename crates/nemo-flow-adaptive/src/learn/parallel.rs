//! `tool_parallelism` learner: tool calls of one run that overlapped in time form a cohort;
//! each distinct sorted set of names becomes a parallel group `fanout:<12 hex of sha256>`,
//! merged into the agent's execution plan with a count of the runs that showed it.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::runs::{Kind, RunRecord};

/// Tools seen running concurrently.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParallelGroup {
    /// `fanout:<first 12 hex chars of sha256(names joined by "|")>`.
    pub id: String,
    /// Sorted distinct tool names.
    pub tools: Vec<String>,
    /// Runs in which the group was seen.
    pub observations: u64,
}

/// The agent's learned execution plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ParallelPlan {
    /// Agent id.
    pub agent_id: String,
    /// Groups, in first-seen order.
    pub parallel_groups: Vec<ParallelGroup>,
}

/// The id of a group of sorted names.
pub fn group_id(sorted_names: &[String]) -> String {
    let digest = Sha256::digest(sorted_names.join("|").as_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("fanout:{hex}")
}

/// Sorted name sets of the tool calls in `run` that overlapped in time.
pub fn overlapping_sets(run: &RunRecord) -> Vec<Vec<String>> {
    let mut calls: Vec<(u64, u64, &str)> = run
        .calls
        .iter()
        .filter(|c| c.kind == Kind::Tool)
        .filter_map(|c| Some((c.started_at, c.ended_at?, c.name.as_str())))
        .collect();
    calls.sort_unstable();
    let mut sets = Vec::new();
    let mut cluster: Vec<&str> = Vec::new();
    let mut cluster_end = 0;
    let mut flush = |cluster: &mut Vec<&str>| {
        let mut names: Vec<String> = cluster.iter().map(|s| (*s).to_owned()).collect();
        names.sort();
        names.dedup();
        if names.len() >= 2 && !sets.contains(&names) {
            sets.push(names);
        }
        cluster.clear();
    };
    for (start, end, name) in calls {
        if !cluster.is_empty() && start >= cluster_end {
            flush(&mut cluster);
        }
        if cluster.is_empty() {
            cluster_end = end;
        }
        cluster_end = cluster_end.max(end);
        cluster.push(name);
    }
    flush(&mut cluster);
    sets
}

impl ParallelPlan {
    /// An empty plan for `agent_id`.
    pub fn new(agent_id: &str) -> Self {
        Self {
            agent_id: agent_id.to_owned(),
            parallel_groups: Vec::new(),
        }
    }

    /// Folds one finished run in.
    pub fn learn(&mut self, run: &RunRecord) {
        for tools in overlapping_sets(run) {
            let id = group_id(&tools);
            match self.parallel_groups.iter_mut().find(|g| g.id == id) {
                Some(g) => g.observations += 1,
                None => self.parallel_groups.push(ParallelGroup {
                    id,
                    tools,
                    observations: 1,
                }),
            }
        }
    }

    /// The largest group containing `tool` (most observed among equals).
    pub fn group_of(&self, tool: &str) -> Option<&ParallelGroup> {
        self.parallel_groups
            .iter()
            .filter(|g| g.tools.iter().any(|t| t == tool))
            .max_by_key(|g| (g.tools.len(), g.observations))
    }

    /// `{run_id, agent_id, parallel_hints: [{tool_name, group_id, explicit: false}], extensions}`,
    /// the hint object `inject_hints` adds to LLM requests.
    pub fn metadata_template(&self, run_id: &str) -> Value {
        let hints: Vec<Value> = self
            .parallel_groups
            .iter()
            .flat_map(|g| {
                g.tools
                    .iter()
                    .map(move |t| json!({"tool_name": t, "group_id": g.id, "explicit": false}))
            })
            .collect();
        json!({"run_id": run_id, "agent_id": self.agent_id, "parallel_hints": hints, "extensions": {}})
    }
}
