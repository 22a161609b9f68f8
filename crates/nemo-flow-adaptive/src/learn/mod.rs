//! Learners (§9.2) as pure state machines: [`runs::RunTracker`] turns lifecycle events into
//! finished runs (calls paired by uuid), and each learner folds finished runs into what the
//! intercepts read: [`latency::LatencyTrie`] (hints), [`parallel::ParallelPlan`] (tool
//! parallelism) and [`crate::acg::AcgState::observe`] (cache governor).

pub mod latency;
pub mod parallel;
pub mod runs;

use crate::acg::AcgState;
use crate::ir::PromptIr;
use runs::{Kind, RunRecord};

/// `acg` learner: observes every LLM call of `run` that carries a readable request; returns
/// how many were observed.
pub fn observe_acg(acg: &mut AcgState, run: &RunRecord) -> usize {
    let mut n = 0;
    for call in run.calls.iter().filter(|c| c.kind == Kind::Llm) {
        if let Some(ir) = call.request.as_ref().and_then(PromptIr::from_request) {
            acg.observe(&ir, call.started_at);
            n += 1;
        }
    }
    n
}
