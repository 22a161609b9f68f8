//! ATIF trajectories built from hand-made event streams.

mod common;

use common::{Run, llm_request, profile_model, tool_call_response};
use nemo_flow_export::atif::{AgentInfo, build};
use serde_json::{Value, json};

fn info() -> AgentInfo {
    AgentInfo {
        session_id: "s".into(),
        name: "agent".into(),
        version: "1".into(),
        ..AgentInfo::default()
    }
}

#[test]
fn tool_results_attach_to_the_requesting_step_as_strings() {
    let mut r = Run::new();
    let (agent, a0) = r.start(None, "agent", "agent", None, Value::Null);
    let (llm, l0) = r.start(
        Some(agent),
        "openai",
        "llm",
        profile_model("m"),
        llm_request("hi"),
    );
    let resp = tool_call_response(&[
        ("c1", "search", json!({"q": 1})),
        ("c2", "search", json!({"q": 2})),
    ]);
    let l1 = r.end(llm, Some(agent), "openai", "llm", profile_model("m"), resp);
    let (t, t0) = r.start(
        Some(agent),
        "search",
        "tool",
        Some(json!({"tool_call_id": "c2"})),
        json!({"q": 2}),
    );
    let t1 = r.end(
        t,
        Some(agent),
        "search",
        "tool",
        Some(json!({"tool_call_id": "c2"})),
        json!({"n": 2}),
    );
    // No id: matched by name to the remaining call.
    let (u, u0) = r.start(
        Some(agent),
        "search",
        "tool",
        Some(json!({})),
        json!({"q": 1}),
    );
    let u1 = r.end(
        u,
        Some(agent),
        "search",
        "tool",
        Some(json!({})),
        json!("text"),
    );
    let a1 = r.end(agent, None, "agent", "agent", None, Value::Null);
    // Delivery order does not matter: events are sorted by time.
    let doc = build(&info(), &[a1, u1, u0, t1, t0, l1, l0, a0]);
    assert_eq!(doc["schema_version"], "ATIF-v1.6");
    let steps = doc["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[0]["source"], "user");
    assert_eq!(steps[0]["message"], "hi");
    let agent_step = &steps[1];
    assert_eq!(agent_step["step_id"], 2);
    assert_eq!(agent_step["model_name"], "m");
    assert_eq!(agent_step["tool_calls"][0]["arguments"], json!({"q": 1}));
    assert_eq!(
        agent_step["observation"]["results"],
        json!([{"source_call_id": "c2", "content": "{\"n\":2}"}, {"source_call_id": "c1", "content": "text"}])
    );
    assert_eq!(
        agent_step["metrics"],
        json!({"prompt_tokens": 10, "completion_tokens": 5, "extra": {"total_tokens": 15}})
    );
    assert_eq!(
        doc["final_metrics"],
        json!({"total_prompt_tokens": 10, "total_completion_tokens": 5, "total_steps": 2})
    );
}

#[test]
fn chunk_marks_are_skipped_and_other_marks_become_system_steps() {
    let mut r = Run::new();
    let (llm, l0) = r.start(None, "openai", "llm", None, llm_request("stream"));
    let c1 = r.mark(Some(llm), "llm.chunk", json!({"chunk_index": 0}));
    let c2 = r.mark(Some(llm), "llm.chunk", json!({"chunk_index": 1}));
    let l1 = r.end(
        llm,
        None,
        "openai",
        "llm",
        None,
        json!({"content": "hello"}),
    );
    let m = r.mark(None, "checkpoint", json!({"k": 1}));
    let doc = build(&info(), &[l0, c1, c2, l1, m]);
    let sources: Vec<&str> = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["user", "agent", "system"]);
    assert_eq!(doc["steps"][1]["message"], "hello");
    assert_eq!(doc["steps"][2]["message"], "checkpoint");
    assert_eq!(doc["steps"][2]["extra"]["event_payload"], json!({"k": 1}));
}

#[test]
fn a_request_ending_in_a_tool_message_adds_no_user_step() {
    let mut r = Run::new();
    let body = json!({"headers": {}, "content": {"messages": [
        {"role": "user", "content": "hi"},
        {"role": "tool", "content": "42", "tool_call_id": "c1"}
    ]}});
    let (llm, l0) = r.start(None, "openai", "llm", None, body);
    let l1 = r.end(
        llm,
        None,
        "openai",
        "llm",
        None,
        json!({"content": "the answer is 42"}),
    );
    let doc = build(&info(), &[l0, l1]);
    assert_eq!(doc["steps"].as_array().unwrap().len(), 1);
    assert_eq!(doc["steps"][0]["source"], "agent");
}

#[test]
fn failed_tool_is_a_system_observation_with_the_error() {
    let mut r = Run::new();
    let (t, t0) = r.start(None, "fetch", "tool", Some(json!({})), json!({}));
    let t1 = r.failed_end(t, None, "fetch", "tool", "IOError", "gone");
    let doc = build(&info(), &[t0, t1]);
    assert_eq!(
        doc["steps"][0]["observation"]["results"],
        json!([{"content": "IOError: gone"}])
    );
}
