//! ACG on a realistic multi-turn Anthropic support transcript: cold start, breakpoints once
//! the stability threshold is reached, the model minimum, TTL choice, existing markers,
//! thinking blocks and fail-open.

use nemo_flow_adaptive::acg::AcgState;
use nemo_flow_adaptive::config::{AcgConfig, Provider};
use nemo_flow_adaptive::ir::{Loc, PromptIr, Surface};
use nemo_flow_adaptive::jcs::{canonicalize, to_canonical_string};
use nemo_flow_adaptive::plan::{CachePlan, Skip, Ttl};
use serde_json::{Value, json};

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/anthropic_support_transcript.json")).unwrap()
}

/// The request of conversation `c` after `n` messages.
fn request(fx: &Value, c: usize, n: usize) -> Value {
    let msgs: Vec<Value> = fx["conversations"][c].as_array().unwrap()[..n].to_vec();
    json!({"model": fx["model"], "max_tokens": fx["max_tokens"], "system": fx["system"],
           "tools": fx["tools"], "messages": msgs})
}

fn state() -> AcgState {
    AcgState::new(AcgConfig {
        provider: Provider::Anthropic,
        ..AcgConfig::default()
    })
}

/// One managed call: govern the request, then learn it as the app sent it.
fn call(acg: &mut AcgState, req: &mut Value, at_ms: u64) -> CachePlan {
    let (ir, plan) = acg.govern(req).expect("anthropic request");
    acg.observe(&ir, at_ms);
    plan
}

/// Paths of every `cache_control` in a request, with its value.
fn markers(req: &Value) -> Vec<(String, Value)> {
    fn walk(v: &Value, path: String, out: &mut Vec<(String, Value)>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    if k == "cache_control" {
                        out.push((path.clone(), x.clone()));
                    } else {
                        walk(x, format!("{path}/{k}"), out);
                    }
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    walk(x, format!("{path}/{i}"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(req, String::new(), &mut out);
    out
}

#[test]
fn ir_reads_the_anthropic_request_in_cache_prefix_order() {
    let fx = fixture();
    let req = request(&fx, 0, 3);
    let ir = PromptIr::from_request(&req).unwrap();
    assert_eq!(ir.surface, Surface::AnthropicMessages);
    let ids: Vec<&str> = ir.blocks.iter().map(|b| b.span_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "tools-0-lookup_order",
            "tools-1-check_inventory",
            "tools-2-create_return",
            "tools-3-escalate_to_human",
            "system-0",
            "user-0",
            "assistant-1.0",
            "assistant-1.1-toolu_NW-20481234_1",
            "user-2-toolu_NW-20481234_1",
        ]
    );
    assert_eq!(ir.blocks[4].loc, Loc::System(None));
    // ~4.4 kB of system prompt is ~1.1k tokens at 4 bytes a token.
    assert!(
        (1000..1300).contains(&ir.blocks[4].tokens),
        "{}",
        ir.blocks[4].tokens
    );
    assert_eq!(ir.tool_schema_hashes.len(), 4);
}

#[test]
fn cold_start_leaves_the_request_untouched() {
    let fx = fixture();
    let mut acg = state();
    let mut req = request(&fx, 0, 1);
    let before = req.clone();
    let plan = call(&mut acg, &mut req, 0);
    assert_eq!(plan.skipped, Some(Skip::ColdStart));
    assert_eq!(req, before);
}

#[test]
fn breakpoints_appear_after_the_stability_threshold_on_a_multi_turn_transcript() {
    let fx = fixture();
    let mut acg = state();
    let mut t = 0;
    // Conversation 0, turn by turn, 20 s apart.
    let mut plans = Vec::new();
    let mut sent = Vec::new();
    for n in [1, 3, 5, 7] {
        let mut req = request(&fx, 0, n);
        plans.push(call(&mut acg, &mut req, t));
        sent.push(req);
        t += 20_000;
    }
    // The plan for a request uses what was learned before it: one observation is not enough.
    assert_eq!(plans[0].skipped, Some(Skip::ColdStart));
    assert_eq!(plans[1].skipped, Some(Skip::ColdStart));
    assert!(markers(&sent[1]).is_empty());
    // From the third request on: tools, system and the first user turn are stable.
    let p = &plans[2];
    assert_eq!(p.skipped, None, "{:?}", p.to_json());
    assert_eq!(p.stable_prefix_blocks, 6);
    assert_eq!(p.ttl, Some(Ttl::FiveMinutes));
    let spans: Vec<&str> = p.breakpoints.iter().map(|b| b.span_id.as_str()).collect();
    // The four tool schemas (~500 tokens) are below sonnet 4.5's 1024-token minimum, so no
    // marker ends them; the system prompt, the end of the stable prefix and the rolling
    // conversation tail get one each.
    assert_eq!(spans, ["system-0", "user-0", "user-4"]);
    assert!(p.breakpoints[0].cumulative_tokens >= 1024);
    assert!(
        p.breakpoints
            .windows(2)
            .all(|w| w[0].cumulative_tokens < w[1].cumulative_tokens)
    );
    let m = markers(&sent[2]);
    let paths: Vec<&str> = m.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/system/0",
            "/messages/0/content/0",
            "/messages/4/content/0"
        ]
    );
    assert!(m.iter().all(|(_, v)| *v == json!({"type": "ephemeral"})));
    // The string system prompt became one text block carrying the marker, text unchanged.
    assert_eq!(sent[2]["system"][0]["type"], "text");
    assert_eq!(sent[2]["system"][0]["text"], fx["system"]);
    // The next turn keeps the prefix breakpoints and moves the tail marker forward.
    let last: Vec<&str> = plans[3]
        .breakpoints
        .iter()
        .map(|b| b.span_id.as_str())
        .collect();
    assert_eq!(last, ["system-0", "user-0", "user-6-toolu_NW-20481234_2"]);
    // Nothing else changed but the tool schemas' key order (RFC 8785).
    let mut stripped = sent[3].clone();
    stripped["system"] = fx["system"].clone();
    stripped["messages"][0]["content"] = fx["conversations"][0][0]["content"].clone();
    stripped
        .pointer_mut("/messages/6/content/0")
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove("cache_control");
    let mut want = request(&fx, 0, 7);
    want["tools"] = canonicalize(&want["tools"]);
    assert_eq!(stripped, want);
    assert_eq!(
        serde_json::to_string(&stripped["tools"]).unwrap(),
        to_canonical_string(&fx["tools"])
    );
}

#[test]
fn a_new_user_question_drops_out_of_the_stable_prefix_across_runs() {
    let fx = fixture();
    let mut acg = state();
    let mut t = 0;
    for c in [0, 1, 0, 1] {
        for n in [1, 3, 5, 7] {
            call(&mut acg, &mut request(&fx, c, n), t);
            t += 15_000;
        }
    }
    let mut req = request(&fx, 1, 3);
    let plan = call(&mut acg, &mut req, t);
    // Only tools and system are stable now; user-0 alternates between two questions.
    assert_eq!(plan.stable_prefix_blocks, 5);
    let spans: Vec<&str> = plan
        .breakpoints
        .iter()
        .map(|b| b.span_id.as_str())
        .collect();
    assert_eq!(spans, ["system-0", "user-2-toolu_NW-20489911_1"]);
}

#[test]
fn a_prefix_below_the_model_minimum_gets_no_breakpoint() {
    let fx = fixture();
    let mut acg = state();
    let mut last = None;
    for (i, n) in [1, 3, 5].into_iter().enumerate() {
        let mut req = request(&fx, 0, n);
        req["model"] = json!("claude-opus-4-5-20251101"); // 4096-token minimum
        let before = req.clone();
        last = Some(call(&mut acg, &mut req, i as u64 * 1000));
        assert!(markers(&req).iter().all(|(p, _)| !p.is_empty()));
        if i > 0 {
            // The tool schemas may be rewritten canonically; no marker is added.
            assert!(markers(&req).is_empty());
            assert_eq!(req["messages"], before["messages"]);
        }
    }
    let plan = last.unwrap();
    assert_eq!(plan.min_cacheable_tokens, 4096);
    assert_eq!(plan.skipped, Some(Skip::BelowMinimumThreshold));
}

fn plan_with_gap(gap_ms: u64, observations: usize) -> (CachePlan, Value) {
    let fx = fixture();
    let mut acg = state();
    for i in 0..observations {
        call(&mut acg, &mut request(&fx, 0, 1), i as u64 * gap_ms);
    }
    let mut req = request(&fx, 0, 1);
    let plan = acg.govern(&mut req).unwrap().1;
    (plan, req)
}

#[test]
fn ttl_follows_the_observed_gap_between_requests() {
    let (p, req) = plan_with_gap(30_000, 3);
    assert_eq!(p.ttl, Some(Ttl::FiveMinutes));
    assert!(markers(&req).iter().all(|(_, v)| v.get("ttl").is_none()));

    let (p, req) = plan_with_gap(10 * 60_000, 3);
    assert_eq!(p.ttl, Some(Ttl::OneHour));
    assert!(!markers(&req).is_empty());
    assert!(
        markers(&req)
            .iter()
            .all(|(_, v)| *v == json!({"type": "ephemeral", "ttl": "1h"}))
    );

    // One reuse does not pay for a 2× write.
    let (p, req) = plan_with_gap(10 * 60_000, 2);
    assert_eq!(
        (p.skipped, markers(&req).len()),
        (Some(Skip::Uneconomic), 0)
    );

    let (p, req) = plan_with_gap(2 * 3_600_000, 5);
    assert_eq!(
        (p.skipped, markers(&req).len()),
        (Some(Skip::RetentionExpired), 0)
    );
}

#[test]
fn existing_markers_count_against_the_limit_of_four() {
    let fx = fixture();
    let mut acg = state();
    let add_user_markers = |req: &mut Value| {
        for i in 0..3 {
            req["tools"][i]["cache_control"] = json!({"type": "ephemeral"});
        }
    };
    for (i, n) in [1, 3, 5].into_iter().enumerate() {
        let mut req = request(&fx, 0, n);
        add_user_markers(&mut req);
        call(&mut acg, &mut req, i as u64);
    }
    let mut req = request(&fx, 0, 7);
    add_user_markers(&mut req);
    let plan = acg.govern(&mut req).unwrap().1;
    assert_eq!(plan.breakpoints.len(), 1);
    assert_eq!(markers(&req).len(), 4);
    let mut exhausted = request(&fx, 0, 7);
    for i in 0..4 {
        exhausted["tools"][i]["cache_control"] = json!({"type": "ephemeral"});
    }
    let before = exhausted.clone();
    assert_eq!(
        acg.govern(&mut exhausted).unwrap().1.skipped,
        Some(Skip::BreakpointsExhausted)
    );
    assert_eq!(exhausted, before);
}

#[test]
fn a_marker_never_lands_on_a_thinking_block() {
    let fx = fixture();
    let mut acg = state();
    let with_thinking = |n: usize| {
        let mut req = request(&fx, 0, n);
        req["messages"][0]["content"] = json!([
            {"type": "text", "text": "Hi, I'm Dana. My tent pole broke."},
        ]);
        if n >= 3 {
            req["messages"][2]["content"] = json!([
                {"type": "tool_result", "tool_use_id": "toolu_NW-20481234_1", "content": "{}"},
                {"type": "thinking", "thinking": "The tent is covered.", "signature": "sig"},
            ]);
        }
        req
    };
    for (i, n) in [3, 3, 3].into_iter().enumerate() {
        call(&mut acg, &mut with_thinking(n), i as u64);
    }
    let mut req = with_thinking(3);
    acg.govern(&mut req).unwrap();
    assert!(
        req["messages"][2]["content"][1]
            .get("cache_control")
            .is_none()
    );
    assert!(
        req["messages"][2]["content"][0]
            .get("cache_control")
            .is_some()
    );
}

#[test]
fn fail_open_on_requests_it_cannot_read() {
    let acg = state();
    for bad in [
        json!("text"),
        json!({"messages": "nope"}),
        json!({"model": "x"}),
        json!(null),
    ] {
        let mut req = bad.clone();
        assert!(acg.govern(&mut req).is_err());
        assert_eq!(req, bad);
    }
}

#[test]
fn passthrough_changes_nothing_and_reports_not_relevant() {
    let fx = fixture();
    let mut acg = AcgState::new(AcgConfig::default());
    for i in 0..3 {
        call(&mut acg, &mut request(&fx, 0, 3), i);
    }
    let mut req = request(&fx, 0, 3);
    let before = req.clone();
    let (_, plan) = acg.govern(&mut req).unwrap();
    assert_eq!(plan.skipped, Some(Skip::NotRelevant));
    assert_eq!(plan.stable_prefix_blocks, 9, "stability is still analysed");
    assert_eq!(req, before);
}
