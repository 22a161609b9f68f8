//! The ten cases of the design (§3.3), evaluated directly.

mod common;

use common::{Workspace, component, tool};
use nemo_flow_policy::approver;
use nemo_flow_policy::diag::code;
use nemo_flow_policy::{Outcome, UnknownField, validate};
use serde_json::{Value, json};
use std::sync::Arc;

fn read_in_workspace(ws: &Workspace, extra: Value) -> Value {
    let mut c = json!({
        "tools": {"read_file": {"capability": "fs.read"}},
        "inputs": {"workspace": {"type": "path", "value": ws.ws}},
        "policies": [{"id": "read-in-workspace", "kind": "deny",
            "trigger": {"capability": "fs.read", "bind": {"path": "path"}},
            "condition": {"not": {"path_within": [{"bound": "path"}, {"input": "workspace"}]}}}]
    });
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

fn read(c: &nemo_flow_policy::Component, path: &str) -> bool {
    tool(c, "read_file", json!({"path": path})).allowed
}

#[test]
fn case1_shell_allowlist_by_capability() {
    let c = component(json!({
        "tools": {"run_shell": {"capability": "os.shell"}, "exec_cmd": {"capability": "os.shell"}},
        "policies": [{"id": "shell-allowlist", "kind": "deny",
            "trigger": {"capability": "os.shell", "bind": {"command": "command"}},
            "condition": {"not": {"or": [{"eq": [{"bound": "command"}, "python run.py"]},
                                         {"starts_with": [{"bound": "command"}, "git commit -m "]}]}}}]
    }));
    assert!(tool(&c, "run_shell", json!({"command": "git commit -m 'x'"})).allowed);
    let v = tool(&c, "run_shell", json!({"command": "rm -rf /"}));
    assert!(!v.allowed);
    assert_eq!(
        v.reason.as_deref(),
        Some("policy 'shell-allowlist' denied capability 'os.shell'")
    );
    assert!(
        tool(
            &c,
            "run_shell",
            json!({"command": "git commit -m x; rm -rf /"})
        )
        .allowed,
        "prefix allowlists can be chained past, as in NemoIR"
    );
    assert!(
        !tool(&c, "exec_cmd", json!({"command": "rm -rf /"})).allowed,
        "every tool mapped to the capability"
    );
    assert!(tool(&c, "unmapped", json!({"command": "rm -rf /"})).allowed);
}

#[test]
fn case2_traversal_and_component_containment() {
    let ws = Workspace::new();
    let c = component(read_in_workspace(&ws, json!({})));
    assert!(!read(&c, "a/../../etc/passwd"));
    assert!(!read(&c, "/etc/passwd"));
    assert!(!read(&c, &format!("{}_evil/x", ws.ws)));
    assert!(read(&c, "sub/../notes.txt"));
    assert!(read(&c, &format!("{}/sub/new.txt", ws.ws)));
}

#[test]
fn case3_symlink_escape_and_reject_mode() {
    let ws = Workspace::new();
    let c = component(read_in_workspace(&ws, json!({})));
    assert!(!read(&c, "link_out/secret"));
    assert!(!read(&c, "dangling_out"));
    assert!(read(&c, "link_in"));
    let strict = component(read_in_workspace(&ws, json!({"symlinks": "reject"})));
    let v = tool(&strict, "read_file", json!({"path": "link_in"}));
    assert!(!v.allowed);
    assert_eq!(v.decisions[0].decision, Outcome::Error);
    assert!(
        v.reason
            .unwrap()
            .contains("evaluation error: path goes through a symlink")
    );
    assert!(read(&strict, "notes.txt"));
}

#[test]
fn case4_unicode_normalisation_opt_in() {
    let allow = |norm: Value| {
        component(json!({"unicode_normalization": norm, "policies": [
            {"id": "only-echo", "kind": "deny", "trigger": {"tool": "sh", "bind": {"c": "command"}},
             "condition": {"not": {"eq": [{"bound": "c"}, "echo caf\u{e9}"]}}}]}))
    };
    let nfd = "echo cafe\u{301}";
    assert!(
        !tool(&allow(Value::Null), "sh", json!({"command": nfd})).allowed,
        "allowlist fails safe"
    );
    assert!(tool(&allow(json!("NFC")), "sh", json!({"command": nfd})).allowed);
    let deny = |norm: Value| {
        component(json!({"unicode_normalization": norm, "policies": [
            {"id": "no-rm", "kind": "deny", "trigger": {"tool": "sh", "bind": {"c": "command"}},
             "condition": {"contains": [{"bound": "c"}, "rm -rf"]}}]}))
    };
    let wide = "\u{ff52}\u{ff4d} -rf /";
    assert!(
        tool(&deny(Value::Null), "sh", json!({"command": wide})).allowed,
        "denylist bypassed without normalisation"
    );
    assert!(!tool(&deny(json!("NFKC")), "sh", json!({"command": wide})).allowed);
}

#[test]
fn case5_short_circuit_and_on_error() {
    let cfg = |cond: Value, on_error: &str| {
        component(
            json!({"on_error": on_error, "tools": {"read_file": {"capability": "fs.read"}}, "policies": [
            {"id": "p", "kind": "deny", "trigger": {"capability": "fs.read", "bind": {"path": "path"}}, "condition": cond}]}),
        )
    };
    let sw = json!({"starts_with": [{"bound": "path"}, "/etc"]});
    assert!(read(&cfg(json!({"and": [false, sw]}), "deny"), "/etc/x"));
    let v = tool(
        &cfg(json!({"or": [false, sw]}), "deny"),
        "read_file",
        json!({"path": "/etc/x"}),
    );
    assert!(!v.allowed);
    assert!(
        v.reason
            .unwrap()
            .contains("starts_with() receiver must be string, got PosixPath")
    );
    let v = tool(
        &cfg(json!({"or": [false, sw]}), "allow"),
        "read_file",
        json!({"path": "/etc/x"}),
    );
    assert!(v.allowed);
    assert_eq!(v.decisions[0].decision, Outcome::Error);
}

#[test]
fn case6_missing_bound_argument_fails_closed() {
    let ws = Workspace::new();
    let c = component(read_in_workspace(&ws, json!({})));
    let v = tool(&c, "read_file", json!({"file": "x"}));
    assert!(!v.allowed);
    assert!(
        v.reason
            .unwrap()
            .contains("trigger-bound argument 'path' is missing")
    );
}

#[test]
fn case7_eq_refuses_numbers() {
    let c = component(json!({"policies": [{"id": "t", "kind": "deny",
        "trigger": {"tool": "sh", "bind": {"timeout": "timeout"}}, "condition": {"eq": [{"bound": "timeout"}, 30]}}]}));
    let v = tool(&c, "sh", json!({"timeout": 30}));
    assert!(!v.allowed);
    assert!(v.reason.unwrap().contains("number operands"));
}

#[test]
fn case8_tool_triggers_versus_capability_triggers() {
    let c = component(
        json!({"tools": {"run_shell": {"capability": "os.shell"}, "exec_cmd": {"capability": "os.shell"}},
        "policies": [{"id": "no-run-shell", "kind": "deny", "trigger": {"tool": "run_shell"}, "condition": true}]}),
    );
    assert!(!tool(&c, "run_shell", json!({})).allowed);
    assert!(tool(&c, "exec_cmd", json!({})).allowed);
}

#[test]
fn case9_approvers_and_deny_before_before() {
    let ws = Workspace::new();
    let answer = Arc::new(std::sync::Mutex::new(json!(true)));
    let asked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (a, n) = (answer.clone(), asked.clone());
    approver::register(
        "case9",
        Arc::new(move |msg, ctx| {
            assert_eq!(ctx.policy_id, "confirm-write");
            assert!(msg.ends_with("x.txt"), "{msg}");
            n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(a.lock().unwrap().clone())
        }),
    );
    let c = component(json!({
        "tools": {"write_file": {"capability": "fs.write"}},
        "inputs": {"workspace": {"type": "path", "value": ws.ws}},
        "policies": [
            {"id": "confirm-write", "kind": "before", "trigger": {"capability": "fs.write", "bind": {"path": "path"}},
             "requires": [{"capability": "user.confirm", "approver": "case9", "args": {"message": {"bound": "path"}}}]},
            {"id": "write-in-workspace", "kind": "deny", "trigger": {"capability": "fs.write", "bind": {"path": "path"}},
             "condition": {"not": {"path_within": [{"bound": "path"}, {"input": "workspace"}]}}}]}));
    let write = |p: &str| common::tool(&c, "write_file", json!({"path": p, "content": "c"}));
    assert!(write("x.txt").allowed);
    *answer.lock().unwrap() = json!(false);
    let v = write("x.txt");
    assert_eq!(
        v.reason.as_deref(),
        Some("policy 'confirm-write': user.confirm returned False, blocking 'fs.write'")
    );
    *answer.lock().unwrap() = json!("no");
    let v = write("x.txt");
    assert!(!v.allowed, "a non-bool answer fails closed");
    assert!(v.reason.unwrap().contains("returned str, expected a bool"));
    let before = asked.load(std::sync::atomic::Ordering::SeqCst);
    let v = write("../x.txt");
    assert!(!v.allowed);
    assert_eq!(
        v.decisions.len(),
        1,
        "deny ran first and won: {:?}",
        v.decisions
    );
    assert_eq!(
        asked.load(std::sync::atomic::Ordering::SeqCst),
        before,
        "the approver was not asked"
    );
    approver::deregister("case9");
}

fn codes(config: Value) -> Vec<&'static str> {
    match validate(&config, UnknownField::Error) {
        Ok(_) => Vec::new(),
        Err(d) => d.iter().map(|d| d.code).collect(),
    }
}

#[test]
fn case10_validation_errors_at_load_time() {
    let t = json!({"capability": "fs.read", "bind": {"path": "path"}});
    assert_eq!(
        codes(json!({"policies": [{"id": "a", "kind": "deny", "trigger": t}]})),
        [code::DENY_WITHOUT_CONDITION]
    );
    assert_eq!(
        codes(
            json!({"policies": [{"id": "a", "kind": "deny", "trigger": t, "condition": {"ends_with": [{"bound": "path"}, "x"]}}]})
        ),
        [code::UNKNOWN_EXPRESSION]
    );
    assert_eq!(
        codes(
            json!({"policies": [{"id": "a", "kind": "deny", "trigger": t, "condition": {"kind": "ref", "ref": {"kind": "node_output", "node": "n", "field": "f"}}}]})
        ),
        [code::NODE_OUTPUT_REF]
    );
}

#[test]
fn every_diagnostic_code_is_reachable() {
    let t = json!({"capability": "fs.read", "bind": {"path": "path"}});
    let deny = |cond: Value| json!({"policies": [{"id": "a", "kind": "deny", "trigger": t, "condition": cond}]});
    let cases: Vec<(Value, &str)> = vec![
        (json!([]), code::INVALID_TYPE),
        (json!({"on_error": "maybe"}), code::INVALID_VALUE),
        (
            json!({"policies": [{"kind": "deny", "trigger": t, "condition": true}]}),
            code::MISSING_FIELD,
        ),
        (json!({"colour": 1}), code::UNKNOWN_FIELD),
        (json!({"version": 2}), code::UNSUPPORTED_VERSION),
        (
            json!({"policies": [{"id": "a", "kind": "deny", "trigger": t, "condition": true}, {"id": "a", "kind": "deny", "trigger": t, "condition": true}]}),
            code::DUPLICATE_ID,
        ),
        (deny(json!({"ends_with": [1, 2]})), code::UNKNOWN_EXPRESSION),
        (
            deny(json!({"kind": "method_call", "receiver": 1, "method": "ends_with", "args": [2]})),
            code::UNKNOWN_METHOD,
        ),
        (deny(json!({"eq": [1]})), code::WRONG_ARITY),
        (
            deny(json!({"kind": "ref", "ref": {"kind": "node_output"}})),
            code::NODE_OUTPUT_REF,
        ),
        (deny(json!({"bound": "nope"})), code::UNKNOWN_BOUND),
        (deny(json!({"input": "nope"})), code::UNKNOWN_INPUT),
        (
            json!({"policies": [{"id": "a", "kind": "before", "trigger": t}]}),
            code::BEFORE_WITHOUT_REQUIRES,
        ),
        (
            json!({"policies": [{"id": "a", "kind": "before", "trigger": t, "requires": [{"capability": "os.shell"}]}]}),
            code::UNSUPPORTED_REQUIREMENT,
        ),
        (
            json!({"policies": [{"id": "a", "kind": "deny", "trigger": t}]}),
            code::DENY_WITHOUT_CONDITION,
        ),
        (
            json!({"policies": [{"id": "a", "kind": "deny", "trigger": {"bind": {}}, "condition": true}]}),
            code::TRIGGER_WITHOUT_TARGET,
        ),
    ];
    for (cfg, expected) in cases {
        let got = codes(cfg.clone());
        assert!(
            got.contains(&expected),
            "{cfg} gave {got:?}, expected {expected}"
        );
    }
    // Unknown fields follow the caller's policy.
    let (_, warnings) = validate(&json!({"colour": 1}), UnknownField::Warn).unwrap();
    assert_eq!(warnings[0].code, code::UNKNOWN_FIELD);
    assert!(
        validate(&json!({"colour": 1}), UnknownField::Ignore)
            .unwrap()
            .1
            .is_empty()
    );
}
