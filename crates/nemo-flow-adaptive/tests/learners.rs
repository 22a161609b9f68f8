//! Learners on scripted runs: run boundaries and uuid pairing, tool parallelism groups, the
//! latency trie and its hints, the ACG learner, and the in-memory state backend.

use futures_executor::block_on;
use nemo_flow_adaptive::acg::AcgState;
use nemo_flow_adaptive::config::AcgConfig;
use nemo_flow_adaptive::learn::latency::LatencyTrie;
use nemo_flow_adaptive::learn::observe_acg;
use nemo_flow_adaptive::learn::parallel::{ParallelPlan, group_id};
use nemo_flow_adaptive::learn::runs::{Kind, LifecycleEvent, Phase, RunRecord, RunTracker};
use nemo_flow_adaptive::state::{InMemoryBackend, Slot, StateBackend};
use serde_json::{Value, json};

fn event(
    phase: Phase,
    kind: Kind,
    uuid: &str,
    parent: Option<&str>,
    name: &str,
    t: u64,
) -> LifecycleEvent {
    LifecycleEvent {
        phase,
        kind,
        uuid: uuid.into(),
        parent_uuid: parent.map(Into::into),
        name: name.into(),
        timestamp_ms: t,
        data: None,
    }
}

/// Builds event scripts.
struct Script {
    tracker: RunTracker,
    finished: Vec<RunRecord>,
}

impl Script {
    fn new() -> Self {
        Self {
            tracker: RunTracker::new(16),
            finished: Vec::new(),
        }
    }

    fn feed(&mut self, ev: LifecycleEvent) {
        if let Some(run) = self.tracker.feed(ev) {
            self.finished.push(run);
        }
    }

    fn start(&mut self, kind: Kind, uuid: &str, parent: Option<&str>, name: &str, t: u64) {
        self.feed(event(Phase::Start, kind, uuid, parent, name, t));
    }

    fn end(&mut self, kind: Kind, uuid: &str, t: u64) {
        self.feed(event(Phase::End, kind, uuid, None, "", t));
    }

    /// An LLM call over `(start, end)` producing `out` tokens and `tools` tool calls.
    fn llm(
        &mut self,
        uuid: &str,
        parent: &str,
        (t0, t1): (u64, u64),
        out: u64,
        tools: usize,
        request: Option<Value>,
    ) {
        let mut start = event(Phase::Start, Kind::Llm, uuid, Some(parent), "chat", t0);
        start.data = request;
        self.feed(start);
        let calls: Vec<Value> = (0..tools)
            .map(|i| json!({"id": format!("c{i}"), "type": "function"}))
            .collect();
        let mut end = event(Phase::End, Kind::Llm, uuid, Some(parent), "chat", t1);
        end.data = Some(
            json!({"model": "gpt-4.1", "choices": [{"message": {"tool_calls": calls}}], "usage": {"completion_tokens": out}}),
        );
        self.feed(end);
    }
}

#[test]
fn concurrent_calls_of_one_tool_are_paired_by_uuid() {
    let mut s = Script::new();
    s.start(Kind::Agent, "run1", Some("root"), "researcher", 0);
    s.start(Kind::Tool, "a", Some("run1"), "search", 10);
    s.start(Kind::Tool, "b", Some("run1"), "search", 20);
    s.end(Kind::Tool, "b", 30); // the later call ends first
    s.end(Kind::Tool, "a", 310);
    s.end(Kind::Agent, "run1", 400);
    let run = &s.finished[0];
    assert_eq!(
        (
            run.run_id.as_str(),
            run.agent.as_str(),
            run.started_at,
            run.ended_at
        ),
        ("run1", "researcher", 0, 400)
    );
    let spans: Vec<(&str, u64, Option<u64>)> = run
        .calls
        .iter()
        .map(|c| (c.uuid.as_str(), c.started_at, c.ended_at))
        .collect();
    assert_eq!(spans, [("a", 10, Some(310)), ("b", 20, Some(30))]);
}

#[test]
fn nested_agents_and_functions_belong_to_the_outer_run() {
    let mut s = Script::new();
    s.start(Kind::Agent, "run", None, "planner", 0);
    s.start(Kind::Function, "f", Some("run"), "plan_step", 1);
    s.start(Kind::Agent, "sub", Some("f"), "critic", 2);
    s.llm("l1", "sub", (3, 9), 40, 0, None);
    s.end(Kind::Agent, "sub", 10);
    assert!(s.finished.is_empty(), "a nested agent does not end the run");
    s.start(Kind::Tool, "open", Some("f"), "never_ends", 11);
    s.end(Kind::Function, "f", 12);
    s.end(Kind::Agent, "run", 20);
    assert_eq!(s.finished.len(), 1);
    let calls = &s.finished[0].calls;
    assert_eq!(calls[0].path, ["planner", "plan_step", "critic"]);
    assert_eq!(
        (calls[0].output_tokens, calls[0].model.as_deref()),
        (Some(40), Some("gpt-4.1"))
    );
    assert_eq!(
        (calls[1].name.as_str(), calls[1].ended_at),
        ("never_ends", None)
    );
}

#[test]
fn calls_outside_runs_are_ignored_and_open_runs_are_bounded() {
    let mut s = Script {
        tracker: RunTracker::new(2),
        finished: Vec::new(),
    };
    s.start(Kind::Tool, "stray", Some("nowhere"), "t", 0);
    s.end(Kind::Tool, "stray", 1);
    for (i, id) in ["r1", "r2", "r3"].into_iter().enumerate() {
        s.start(Kind::Agent, id, None, "a", i as u64);
    }
    assert_eq!(s.tracker.dropped_runs, 1);
    s.end(Kind::Agent, "r1", 10);
    assert!(s.finished.is_empty(), "the oldest run was dropped");
    s.end(Kind::Agent, "r3", 11);
    assert_eq!(s.finished.len(), 1);
    assert!(s.finished[0].calls.is_empty());
}

fn fanout_run(s: &mut Script, id: &str, t: u64) {
    s.start(Kind::Agent, id, None, "researcher", t);
    for (u, name, a, b) in [
        ("s", "web_search", 10, 50),
        ("f", "fetch_page", 20, 70),
        ("g", "web_search", 30, 40),
        ("x", "summarize", 100, 120),
    ] {
        let u = format!("{id}-{u}");
        s.start(Kind::Tool, &u, Some(id), name, t + a);
        s.end(Kind::Tool, &u, t + b);
    }
    s.end(Kind::Agent, id, t + 200);
}

#[test]
fn tool_parallelism_groups_overlapping_tools() {
    let mut s = Script::new();
    fanout_run(&mut s, "r1", 0);
    fanout_run(&mut s, "r2", 1000);
    let mut plan = ParallelPlan::new("researcher");
    for run in &s.finished {
        plan.learn(run);
    }
    assert_eq!(plan.parallel_groups.len(), 1, "summarize ran alone");
    let g = &plan.parallel_groups[0];
    assert_eq!(g.tools, ["fetch_page", "web_search"]);
    assert_eq!(g.id, "fanout:e7500dbd8eb2");
    assert_eq!(g.id, group_id(&g.tools));
    assert_eq!(g.observations, 2);
    assert_eq!(plan.group_of("web_search").unwrap().id, g.id);
    assert!(plan.group_of("summarize").is_none());
    assert_eq!(
        plan.metadata_template("r3"),
        json!({"run_id": "r3", "agent_id": "researcher", "parallel_hints": [
        {"tool_name": "fetch_page", "group_id": g.id, "explicit": false},
        {"tool_name": "web_search", "group_id": g.id, "explicit": false}], "extensions": {}})
    );
}

fn three_call_run(s: &mut Script, id: &str, t: u64, outs: [u64; 3]) {
    s.start(Kind::Agent, id, None, "writer", t);
    s.llm(&format!("{id}-1"), id, (t, t + 100), outs[0], 2, None);
    s.llm(&format!("{id}-2"), id, (t + 400, t + 500), outs[1], 0, None);
    s.llm(
        &format!("{id}-3"),
        id,
        (t + 1000, t + 1100),
        outs[2],
        0,
        None,
    );
    s.end(Kind::Agent, id, t + 1200);
}

#[test]
fn latency_trie_predicts_per_call_index_and_builds_hints() {
    let mut s = Script::new();
    three_call_run(&mut s, "r1", 0, [100, 50, 300]);
    three_call_run(&mut s, "r2", 5000, [120, 70, 500]);
    let mut trie = LatencyTrie::default();
    for run in &s.finished {
        trie.learn(run);
    }
    let path = vec!["writer".to_owned()];
    let p0 = trie.predict(&path, 0).unwrap();
    assert_eq!(
        (
            p0.remaining_calls,
            p0.interarrival_ms,
            p0.output_tokens_p90,
            p0.samples
        ),
        (2.0, 0.0, 120, 2)
    );
    // First call: alone (critical), fan-out 2/4, at the edge: 1 + round(4 × (0.5 + 0.15 + 0.2)) = 4.
    assert_eq!(p0.latency_sensitivity, 4);
    let p1 = trie.predict(&path, 1).unwrap();
    // Middle call: 1 + round(4 × 0.5) = 3; 400 ms after the first.
    assert_eq!(
        (
            p1.latency_sensitivity,
            p1.interarrival_ms,
            p1.remaining_calls
        ),
        (3, 400.0, 1.0)
    );
    let p2 = trie.predict(&path, 2).unwrap();
    assert_eq!((p2.latency_sensitivity, p2.output_tokens_p90), (4, 500));
    // An unseen index falls back to the node's any-index figures; an unknown path to the
    // deepest known node.
    assert_eq!(trie.predict(&path, 9).unwrap().samples, 6);
    assert_eq!(
        trie.predict(&["writer".into(), "unknown".into()], 1)
            .unwrap(),
        p1
    );

    let h = trie.hints("writer", &path, 1, None).unwrap();
    assert_eq!(
        h,
        json!({"osl": 70, "iat": 400, "priority": 2, "latency_sensitivity": 3, "prefix_id": "writer-d1", "total_requests": 2})
    );
    // A manual level only raises.
    assert_eq!(
        trie.hints("writer", &path, 1, Some(5)).unwrap()["latency_sensitivity"],
        5
    );
    assert_eq!(
        trie.hints("writer", &path, 1, Some(5)).unwrap()["priority"],
        0
    );
    assert_eq!(
        trie.hints("writer", &path, 1, Some(1)).unwrap()["latency_sensitivity"],
        3
    );
    // No data: a manual level still gives hints, with osl = iat = 0; without it, none.
    let empty = LatencyTrie::default();
    assert_eq!(empty.hints("a", &[], 0, None), None);
    let m = empty.hints("a", &[], 0, Some(4)).unwrap();
    assert_eq!(
        (m["osl"].as_u64(), m["iat"].as_u64(), m["priority"].as_u64()),
        (Some(0), Some(0), Some(1))
    );
}

#[test]
fn trie_survives_a_json_round_trip() {
    let mut s = Script::new();
    three_call_run(&mut s, "r1", 0, [10, 20, 30]);
    let mut trie = LatencyTrie::default();
    trie.learn(&s.finished[0]);
    let doc = serde_json::to_value(&trie).unwrap();
    let back: LatencyTrie = serde_json::from_value(doc).unwrap();
    assert_eq!(back, trie);
}

#[test]
fn acg_learner_observes_llm_requests_of_a_run() {
    let mut s = Script::new();
    s.start(Kind::Agent, "r", None, "a", 0);
    let req = json!({"model": "gpt-4.1", "messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}]});
    s.llm("l1", "r", (0, 10), 5, 0, Some(req.clone()));
    s.llm("l2", "r", (20, 30), 5, 0, Some(req));
    s.llm("l3", "r", (40, 50), 5, 0, None);
    s.end(Kind::Agent, "r", 60);
    let mut acg = AcgState::new(AcgConfig::default());
    assert_eq!(observe_acg(&mut acg, &s.finished[0]), 2);
    let ir = nemo_flow_adaptive::ir::PromptIr::from_request(
        s.finished[0].calls[0].request.as_ref().unwrap(),
    )
    .unwrap();
    let p = acg.profile(&ir.learning_key()).unwrap();
    assert_eq!(
        (p.observations, p.stable_prefix_len, p.median_gap_ms),
        (2, 2, Some(20))
    );
}

#[test]
fn in_memory_backend_bounds_run_history_and_keeps_documents() {
    let backend: Box<dyn StateBackend> = Box::new(InMemoryBackend::new(2));
    block_on(async {
        for i in 0..3 {
            backend
                .store_run("agent", &format!("r{i}"), json!({"run": i}))
                .await
                .unwrap();
        }
        assert_eq!(
            backend.list_runs("agent").await.unwrap(),
            [json!({"run": 1}), json!({"run": 2})]
        );
        assert!(backend.list_runs("other").await.unwrap().is_empty());
        assert_eq!(backend.load(Slot::Plan, "agent").await.unwrap(), None);
        backend
            .store(Slot::Plan, "agent", json!({"groups": []}))
            .await
            .unwrap();
        backend.store(Slot::Trie, "agent", json!(1)).await.unwrap();
        assert_eq!(
            backend.load(Slot::Plan, "agent").await.unwrap(),
            Some(json!({"groups": []}))
        );
        assert_eq!(
            backend.load(Slot::Trie, "agent").await.unwrap(),
            Some(json!(1))
        );
        assert_eq!(
            backend.load(Slot::AcgStability, "agent").await.unwrap(),
            None
        );
    });
}
