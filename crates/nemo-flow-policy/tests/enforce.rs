//! Enforcement through the core pipeline: the component installed as native conditional
//! guardrails, decisions as `policy.decision` marks, LLM policies over the annotated
//! request, undo. One test: the registries are process-wide.

use nemo_flow_core::codecs::{AnthropicMessagesCodec, OpenAIChatCodec, OpenAIResponsesCodec};
use nemo_flow_core::error::FlowError;
use nemo_flow_core::llm::{LlmCodec, LlmRequest};
use nemo_flow_core::middleware::global;
use nemo_flow_core::pipeline::llm::{self, LlmOptions};
use nemo_flow_core::pipeline::tool::{self, ToolOptions};
use nemo_flow_core::pipeline::{Lazy, LazyOf};
use nemo_flow_core::{Event, ScopeNode};
use nemo_flow_policy::{InstallError, UnknownField, install, validate};
use serde_json::{Map, Value, json};
use std::sync::{Arc, Mutex};

fn call_tool(ctx: &Arc<ScopeNode>, name: &str, args: Value) -> Result<(), FlowError> {
    tool::begin(
        ctx,
        ctx.info.uuid,
        name,
        &mut Lazy::Ready(args),
        ToolOptions::default(),
    )
    .map(|_| ())
}

fn call_llm(ctx: &Arc<ScopeNode>, codec: &dyn LlmCodec, content: Value) -> Result<(), FlowError> {
    let req = LlmRequest {
        headers: Map::new(),
        content,
    };
    llm::begin(
        ctx,
        ctx.info.uuid,
        "chat",
        &mut LazyOf::Ready(req),
        Some(codec),
        LlmOptions::default(),
        false,
    )
    .map(|_| ())
}

#[test]
fn installed_component_enforces_marks_and_uninstalls() {
    let marks: Arc<Mutex<Vec<Value>>> = Arc::default();
    let m = marks.clone();
    global()
        .subscribers
        .register(
            "capture",
            0,
            false,
            Arc::new(move |e: &Arc<Event>| {
                if &*e.name == "policy.decision" {
                    m.lock().unwrap().push(e.data.to_value());
                }
                Ok(())
            }),
        )
        .unwrap();
    let (component, _) = validate(
        &json!({"emit": "all", "tools": {"run_shell": {"capability": "os.shell"}}, "policies": [
            {"id": "no-rm", "kind": "deny", "trigger": {"capability": "os.shell", "bind": {"c": "command"}},
             "condition": {"contains": [{"bound": "c"}, "rm -rf"]}},
            {"id": "models", "kind": "deny", "trigger": {"llm": "ch*", "bind": {"model": "model"}},
             "condition": {"not": {"in": [{"bound": "model"}, ["small-model"]]}}},
            {"id": "token-cap", "kind": "deny", "trigger": {"llm": true, "bind": {"max": "params.max_tokens"}},
             "condition": {"kind": "compare", "op": "gt", "left": {"bound": "max"}, "right": 1000}}]}),
        UnknownField::Error,
    )
    .unwrap();
    let installed = install(component.clone(), "policy").unwrap();
    assert!(
        matches!(
            install(component, "policy"),
            Err(InstallError::Registration(_))
        ),
        "a taken name fails"
    );
    assert_eq!(
        global().tool_conditional.len(),
        1,
        "the failed install left nothing behind"
    );
    let root = ScopeNode::new_root();

    call_tool(&root, "run_shell", json!({"command": "ls"})).unwrap();
    let err = call_tool(&root, "run_shell", json!({"command": "rm -rf /tmp/x"})).unwrap_err();
    assert_eq!(
        err.to_string(),
        "guardrail rejected: policy 'no-rm' denied capability 'os.shell'"
    );
    let got = marks.lock().unwrap().clone();
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[1],
        json!({"policy_id": "no-rm", "kind": "deny", "decision": "denied", "capability": "os.shell", "tool": "run_shell"})
    );
    assert!(
        !serde_json::to_string(&got).unwrap().contains("rm -rf"),
        "no argument values in marks"
    );

    let requests: [(&dyn LlmCodec, Value, Value); 3] = [
        (
            &OpenAIChatCodec,
            json!({"model": "small-model", "messages": [], "max_tokens": 100}),
            json!({"model": "big-model", "messages": [], "max_tokens": 100}),
        ),
        (
            &OpenAIResponsesCodec,
            json!({"model": "small-model", "input": "hi"}),
            json!({"model": "small-model", "input": "hi", "max_output_tokens": 5000}),
        ),
        (
            &AnthropicMessagesCodec,
            json!({"model": "small-model", "messages": [], "max_tokens": 100}),
            json!({"model": "small-model", "messages": [], "max_tokens": 5000}),
        ),
    ];
    for (codec, ok, bad) in requests {
        call_llm(&root, codec, ok).unwrap_or_else(|e| panic!("{}: {e}", codec.name()));
        let err = call_llm(&root, codec, bad).unwrap_err().to_string();
        let expected = [
            "guardrail rejected: policy 'models' denied LLM call 'chat'",
            "guardrail rejected: policy 'token-cap' denied LLM call 'chat'",
        ];
        assert!(expected.contains(&err.as_str()), "{}: {err}", codec.name());
    }

    installed.uninstall();
    assert!(global().tool_conditional.is_empty() && global().llm_conditional.is_empty());
    call_tool(&root, "run_shell", json!({"command": "rm -rf /tmp/x"})).unwrap();
    global().subscribers.deregister("capture");
}
