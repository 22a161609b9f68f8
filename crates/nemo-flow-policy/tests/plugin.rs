//! The `policy` plugin kind: validation through `plugin::validate` (policy codes and fields,
//! unknown-field level from the document's policy) and activation through the plugin
//! context (namespaced registrations at the component's priority, undone by `clear`). One
//! test: the registries are process-wide.

use nemo_flow_core::ScopeNode;
use nemo_flow_core::middleware::global;
use nemo_flow_core::pipeline::Lazy;
use nemo_flow_core::pipeline::tool::{self, ToolOptions};
use nemo_flow_core::plugin::{self, Level};
use serde_json::{Value, json};
use std::sync::Arc;

fn call_tool(ctx: &Arc<ScopeNode>, name: &str, args: Value) -> bool {
    tool::begin(
        ctx,
        ctx.info.uuid,
        name,
        &mut Lazy::Ready(args),
        ToolOptions::default(),
    )
    .is_ok()
}

fn deny_shell(priority: i32, needle: &str) -> Value {
    json!({"priority": priority, "tools": {"sh": {"capability": "os.shell"}}, "policies": [
        {"id": format!("no-{needle}"), "kind": "deny",
         "trigger": {"capability": "os.shell", "bind": {"c": "command"}},
         "condition": {"contains": [{"bound": "c"}, needle]}}]})
}

fn doc(components: Vec<Value>, policy: Value) -> Value {
    let components: Vec<Value> = components
        .into_iter()
        .map(|c| json!({"kind": "policy", "config": c}))
        .collect();
    json!({"version": 1, "components": components, "policy": policy})
}

#[test]
fn policy_kind_validates_activates_and_clears() {
    nemo_flow_policy::plugin::register_builtin();
    assert!(plugin::list_kinds().contains(&"policy".to_string()));

    let bad = doc(
        vec![json!({"policies": [{"id": "x", "kind": "deny", "trigger": {"tool": "sh"}}]})],
        json!({}),
    );
    let report = plugin::validate(&bad);
    let d = &report.diagnostics[0];
    assert_eq!(
        (
            d.level,
            d.code.as_str(),
            d.component.as_deref(),
            d.field.as_deref()
        ),
        (
            Level::Error,
            "policy.deny_without_condition",
            Some("policy"),
            Some("policies[0].condition")
        ),
        "{report:?}"
    );
    assert!(plugin::initialize(&bad).is_err());
    assert_eq!(global().tool_conditional.len(), 0, "nothing registered");

    let mut extra = deny_shell(5, "rm");
    extra["colour"] = json!("blue");
    for (behavior, level) in [
        ("error", Some(Level::Error)),
        ("warn", Some(Level::Warning)),
        ("ignore", None),
    ] {
        let r = plugin::validate(&doc(
            vec![extra.clone()],
            json!({"unknown_field": behavior}),
        ));
        let found: Vec<_> = r
            .diagnostics
            .iter()
            .filter(|d| d.code == "policy.unknown_field")
            .map(|d| (d.level, d.field.clone()))
            .collect();
        let want: Vec<_> = level
            .map(|l| (l, Some("colour".into())))
            .into_iter()
            .collect();
        assert_eq!(found, want, "unknown_field = {behavior}");
    }

    let report = plugin::initialize(&doc(
        vec![deny_shell(5, "rm"), deny_shell(7, "curl")],
        json!({}),
    ))
    .unwrap();
    let regs: Vec<_> = report
        .components
        .iter()
        .flat_map(|c| c.registrations.iter())
        .map(|r| (r.family.as_str(), r.name.as_str(), r.priority))
        .collect();
    assert_eq!(
        regs,
        [
            (
                "tool_conditional_execution",
                "__nemo_flow_plugin__policy__0__tool",
                Some(5)
            ),
            (
                "tool_conditional_execution",
                "__nemo_flow_plugin__policy__1__tool",
                Some(7)
            ),
        ]
    );
    let root = ScopeNode::new_root();
    assert!(call_tool(&root, "sh", json!({"command": "ls"})));
    assert!(!call_tool(&root, "sh", json!({"command": "rm x"})));
    assert!(!call_tool(&root, "sh", json!({"command": "curl y"})));

    plugin::clear().unwrap();
    assert_eq!(global().tool_conditional.len(), 0);
    assert!(call_tool(&root, "sh", json!({"command": "rm x"})));
}
