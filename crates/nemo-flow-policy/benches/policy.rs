//! Criterion benches of the policy component's cost: a 20-policy component evaluated on a
//! tool call (directly, and as the installed guardrail on top of a core tool call), and
//! path containment checks on a real tree.

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use nemo_flow_core::pipeline::tool::{self, ToolOptions};
use nemo_flow_core::pipeline::{Lazy, Outcome};
use nemo_flow_core::scope::ScopeNode;
use nemo_flow_policy::paths::{self, Symlinks};
use nemo_flow_policy::{Approvals, Call, Target, UnknownField, install, validate};
use serde_json::{Value, json};

/// Twenty string policies that all match a `run_shell` call (the worst case: every one is
/// evaluated), shared with `benches/policy_hotpath.py`.
fn twenty() -> Value {
    let mut v: Value = serde_json::from_str(include_str!("twenty_policies.json")).unwrap();
    v.as_object_mut().unwrap().remove("_comment");
    v
}

fn evaluate(c: &mut Criterion) {
    let (component, _) = validate(&twenty(), UnknownField::Error).unwrap();
    let args = json!({"command": "git status", "cwd": "/safe/repo"});
    c.bench_function("evaluate 20 policies", |b| {
        b.iter(|| {
            let call = Call {
                name: "run_shell",
                target: Target::Tool {
                    args: black_box(&args),
                    capability: None,
                },
                run: None,
                scope_inputs: None,
            };
            assert!(component.evaluate(&call, Approvals::Ask).allowed);
        })
    });
}

fn tool_call(c: &mut Criterion) {
    let root = ScopeNode::new_root();
    let args = json!({"command": "git status", "cwd": "/safe/repo"});
    let mut run = |label: &str| {
        c.bench_function(label, |b| {
            b.iter(|| {
                let begun = tool::begin(
                    &root,
                    root.info.uuid,
                    "run_shell",
                    &mut Lazy::Ready(args.clone()),
                    ToolOptions::default(),
                )
                .unwrap();
                let mut out = Lazy::Ready(Value::Null);
                tool::end(&begun.handle, Outcome::Ok(&mut out), Value::Null, None).unwrap();
            })
        });
    };
    run("tool call begin+end, no policy");
    let noop: nemo_flow_core::middleware::ToolConditional =
        std::sync::Arc::new(|_: &str, _: &Value| Ok(None));
    let g = nemo_flow_core::middleware::global();
    g.tool_conditional.register("noop", 0, false, noop).unwrap();
    run("tool call begin+end, a no-op native guardrail");
    g.tool_conditional.deregister("noop");
    let mut one = twenty();
    one["policies"].as_array_mut().unwrap().truncate(1);
    let (component, _) = validate(&one, UnknownField::Error).unwrap();
    let installed = install(component, "bench-policy").unwrap();
    run("tool call begin+end, 1-policy component");
    installed.uninstall();
    let (component, _) = validate(&twenty(), UnknownField::Error).unwrap();
    let installed = install(component, "bench-policy").unwrap();
    run("tool call begin+end, 20-policy component");
    installed.uninstall();
}

fn path_check(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("nemo-flow-policy-bench-{}", std::process::id()));
    let ws = dir.join("workspace");
    std::fs::create_dir_all(ws.join("src/deep")).unwrap();
    std::fs::write(ws.join("src/deep/main.rs"), "").unwrap();
    let _ = std::os::unix::fs::symlink(ws.join("src"), ws.join("link"));
    let root = ws.to_str().unwrap().to_string();
    for (label, candidate, inside) in [
        (
            "path check: relative with ..",
            "src/../src/deep/main.rs",
            true,
        ),
        ("path check: through a symlink", "link/deep/main.rs", true),
        ("path check: absolute outside", "/etc/passwd", false),
    ] {
        c.bench_function(label, |b| {
            b.iter(|| {
                let got = paths::contains(&root, black_box(candidate), None, Symlinks::Follow);
                assert_eq!(got, Ok(inside));
            })
        });
    }
    let _ = std::fs::remove_dir_all(dir);
}

criterion_group!(benches, evaluate, tool_call, path_check);
criterion_main!(benches);
