//! The `observability` component driven from Rust: one ATIF file per top-level agent run, with
//! runs on concurrent threads kept apart, nested agents inside their parent's file, and an
//! agent still open written when the configuration is cleared.

use nemo_flow_core::context;
use nemo_flow_core::dispatch;
use nemo_flow_core::plugin;
use nemo_flow_core::{ScopeSpec, ScopeType};
use serde_json::{Value, json};
use std::path::PathBuf;

fn run(name: &str, marker: &str) {
    let agent = context::push(ScopeSpec::new(name, ScopeType::Agent)).unwrap();
    context::mark("step", json!({ "marker": marker }), Value::Null).unwrap();
    let nested = context::push(ScopeSpec::new(format!("{name}-nested"), ScopeType::Agent)).unwrap();
    context::mark("inner", json!({ "marker": marker }), Value::Null).unwrap();
    context::pop(&nested, Value::Null, None, None).unwrap();
    context::pop(&agent, Value::Null, None, None).unwrap();
}

fn files(dir: &PathBuf) -> Vec<Value> {
    let mut out: Vec<Value> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            serde_json::from_str(&std::fs::read_to_string(e.unwrap().path()).unwrap()).unwrap()
        })
        .collect();
    out.sort_by_key(|d| d["session_id"].as_str().unwrap_or_default().to_owned());
    out
}

#[test]
fn one_trajectory_per_top_level_agent_run() {
    nemo_flow_export::observability::register_builtin();
    let dir = std::env::temp_dir().join(format!("nemo-flow-atif-runs-{}", uuid::Uuid::now_v7()));
    let doc = json!({"components": [{"kind": "observability", "config": {
        "atif": {"enabled": true, "output_directory": dir, "agent_name": "rust"}
    }}]});
    let report = plugin::initialize(&doc).unwrap();
    assert_eq!(report.components[0].status, plugin::Status::Active);

    let threads: Vec<_> = (0..4)
        .map(|i| std::thread::spawn(move || run(&format!("agent-{i}"), &format!("m{i}"))))
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let open = context::push(ScopeSpec::new("open", ScopeType::Agent)).unwrap();
    context::mark("late", json!({"marker": "m-open"}), Value::Null).unwrap();
    assert!(dispatch::flush(None));
    assert_eq!(files(&dir).len(), 4);
    plugin::clear().unwrap();
    context::pop(&open, Value::Null, None, None).unwrap();

    let docs = files(&dir);
    assert_eq!(docs.len(), 5);
    for d in &docs {
        let text = d.to_string();
        let mine: Vec<String> = ["m0", "m1", "m2", "m3", "m-open"]
            .iter()
            .filter(|m| text.contains(&format!("\"marker\":\"{m}\"")))
            .map(|m| m.to_string())
            .collect();
        assert_eq!(mine.len(), 1, "{mine:?}");
        assert_eq!(d["agent"]["name"], "rust");
        if mine[0] != "m-open" {
            // The nested agent's mark is in its parent's file.
            assert_eq!(d["steps"].as_array().unwrap().len(), 2, "{text}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
