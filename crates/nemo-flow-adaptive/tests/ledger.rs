//! The cache ledger on recorded usage blocks: hit rates, tokens, cost saved and a reason for
//! every miss.

use nemo_flow_adaptive::acg::{AcgState, RequestFacts};
use nemo_flow_adaptive::config::{AcgConfig, Provider};
use nemo_flow_adaptive::ledger::{CacheLedger, CacheUsage, cache_telemetry_event, cost_saved};
use nemo_flow_adaptive::models::{Price, PriceTable};
use serde_json::{Value, json};

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/anthropic_support_transcript.json")).unwrap()
}

fn request(fx: &Value, n: usize) -> Value {
    let msgs: Vec<Value> = fx["conversations"][0].as_array().unwrap()[..n].to_vec();
    json!({"model": fx["model"], "max_tokens": 1024, "system": fx["system"], "tools": fx["tools"], "messages": msgs})
}

/// A managed call as the execution intercept will make it: facts, govern, remember, learn.
fn send(
    acg: &mut AcgState,
    ledger: &mut CacheLedger,
    mut req: Value,
    at_ms: u64,
    usage: Value,
) -> (RequestFacts, Option<String>) {
    let (ir, plan) = acg.govern(&mut req).unwrap();
    let facts = acg.request_facts(&ir, Some(&plan), "req", "support-agent", at_ms);
    acg.note_request(&ir, Some(&plan), at_ms);
    acg.observe(&ir, at_ms);
    let entry = ledger.record(&facts, &usage).expect("known usage shape");
    (facts, entry.miss_reason.map(|m| m.as_str().to_owned()))
}

fn anthropic_usage(input: u64, write: u64, read: u64) -> Value {
    json!({"input_tokens": input, "cache_creation_input_tokens": write, "cache_read_input_tokens": read,
           "output_tokens": 180, "cache_creation": {"ephemeral_5m_input_tokens": write, "ephemeral_1h_input_tokens": 0}})
}

#[test]
fn usage_shapes_of_both_providers() {
    assert_eq!(
        CacheUsage::parse(&anthropic_usage(12, 2048, 100)).unwrap(),
        CacheUsage {
            cache_read: 100,
            cache_creation: 2048,
            cache_creation_1h: 0,
            total_prompt: 2160
        }
    );
    let chat = json!({"prompt_tokens": 2006, "completion_tokens": 300, "total_tokens": 2306,
        "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0}});
    assert_eq!(
        CacheUsage::parse(&chat).unwrap(),
        CacheUsage {
            cache_read: 1920,
            cache_creation: 0,
            cache_creation_1h: 0,
            total_prompt: 2006
        }
    );
    let responses = json!({"input_tokens": 5000, "input_tokens_details": {"cached_tokens": 4096},
        "output_tokens": 10, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 5010});
    assert_eq!(CacheUsage::parse(&responses).unwrap().cache_read, 4096);
    assert_eq!(CacheUsage::parse(&responses).unwrap().total_prompt, 5000);
    assert_eq!(CacheUsage::parse(&json!({"tokens": 3})), None);
}

#[test]
fn cost_saved_uses_the_price_table_and_overrides() {
    let u = CacheUsage {
        cache_read: 1_000_000,
        cache_creation: 1_000_000,
        cache_creation_1h: 400_000,
        total_prompt: 2_000_000,
    };
    // sonnet: 3 USD/MTok; read saves 0.9 × 3, 5m writes cost 0.25 × 3 × 0.6, 1h writes 1.0 × 3 × 0.4.
    let p = PriceTable::default()
        .lookup("claude-sonnet-4-5-20250929")
        .unwrap();
    assert!((cost_saved(&u, &p) - (2.7 - 0.45 - 1.2)).abs() < 1e-9);
    let mut t = PriceTable::default();
    assert_eq!(
        t.lookup("gpt-4o-mini-2024-07-18").unwrap().input_per_mtok,
        0.15
    );
    assert_eq!(t.lookup("gpt-4o-2024-08-06").unwrap().input_per_mtok, 2.5);
    assert_eq!(t.lookup("my-local-llama"), None);
    t.set("llama", Price::openai(0.5, 0.5));
    t.set("claude-sonnet", Price::anthropic(2.0));
    assert_eq!(t.lookup("my-local-LLAMA").unwrap().input_per_mtok, 0.5);
    assert_eq!(t.lookup("claude-sonnet-4-5").unwrap().input_per_mtok, 2.0);
}

#[test]
fn a_scripted_anthropic_session_gets_a_reason_for_every_miss() {
    let fx = fixture();
    let mut acg = AcgState::new(AcgConfig {
        provider: Provider::Anthropic,
        ..AcgConfig::default()
    });
    let mut ledger = CacheLedger::default();
    let mut reasons = Vec::new();
    let mut t = 0;
    // Recorded usage: nothing cached until markers are sent, a write, then a read.
    for (n, gap, usage) in [
        (1, 0, anthropic_usage(1640, 0, 0)),
        (3, 20_000, anthropic_usage(1700, 0, 0)),
        (5, 20_000, anthropic_usage(40, 1712, 0)),
        (7, 20_000, anthropic_usage(60, 90, 1712)),
        (7, 600_000, anthropic_usage(60, 1802, 0)), // ten minutes later: the 5 m entry is gone
        (7, 10_000, anthropic_usage(1862, 0, 0)),   // marked, in time, matching, yet not read
    ] {
        t += gap;
        reasons.push(send(&mut acg, &mut ledger, request(&fx, n), t, usage).1);
    }
    let r: Vec<Option<&str>> = reasons.iter().map(|r| r.as_deref()).collect();
    assert_eq!(
        r,
        [
            Some("cold_start"),
            Some("unsupported_feature"),
            Some("cold_start"),
            None,
            Some("retention_expired"),
            Some("evicted"),
        ]
    );
    let total = ledger.total();
    assert_eq!((total.requests, total.hits), (6, 1));
    assert_eq!(total.cache_read_tokens, 1712);
    assert_eq!(total.cache_creation_tokens, 1712 + 90 + 1802);
    assert_eq!(total.prompt_tokens, 1640 + 1700 + 1752 + 1862 + 1862 + 1862);
    assert!((total.token_hit_rate() - 1712.0 / 10678.0).abs() < 1e-12);
    assert!((total.request_hit_rate() - 1.0 / 6.0).abs() < 1e-12);
    let want = (1712.0 * 0.9 - (1712.0 + 90.0 + 1802.0) * 0.25) * 3.0 / 1e6;
    assert!(
        (total.cost_saved_usd - want).abs() < 1e-12,
        "{}",
        total.cost_saved_usd
    );
    assert_eq!(total.misses.get("cold_start"), Some(&2));
    let key = learning_key(&request(&fx, 1));
    assert_eq!(ledger.key(&key).unwrap().requests, 6);
    let report = ledger.report();
    assert_eq!(report["total"]["requests"], 6);
    assert_eq!(report["by_key"][&key]["misses"]["evicted"], 1);
}

fn learning_key(req: &Value) -> String {
    nemo_flow_adaptive::ir::PromptIr::from_request(req)
        .unwrap()
        .learning_key()
}

#[test]
fn a_timestamp_in_the_system_prompt_is_diagnosed_as_a_prefix_mismatch() {
    let fx = fixture();
    let mut acg = AcgState::new(AcgConfig {
        provider: Provider::Anthropic,
        ..AcgConfig::default()
    });
    let mut ledger = CacheLedger::default();
    let with_time = |ts: &str| {
        let mut r = request(&fx, 1);
        r["system"] = json!(format!(
            "Current time: {ts}\n{}",
            fx["system"].as_str().unwrap()
        ));
        r
    };
    send(
        &mut acg,
        &mut ledger,
        with_time("2026-11-28T23:00:00Z"),
        0,
        anthropic_usage(1640, 0, 0),
    );
    let (facts, reason) = send(
        &mut acg,
        &mut ledger,
        with_time("2026-11-28T23:00:07Z"),
        7000,
        anthropic_usage(1640, 0, 0),
    );
    assert_eq!(reason.as_deref(), Some("prefix_mismatch"));
    let m = facts.first_mismatch.clone().unwrap();
    assert_eq!(
        (m.index, m.span_id.as_deref(), m.expected_span_id.as_deref()),
        (4, Some("system-0"), Some("system-0"))
    );
    assert_eq!(facts.matched_prefix_blocks, 4);
    assert!(facts.matched_prefix_tokens < 1024);
    let last = ledger.total().last_mismatch.clone().unwrap();
    assert_eq!(last.span_id.as_deref(), Some("system-0"));
    let ev = cache_telemetry_event(
        &facts,
        &anthropic_usage(1640, 0, 0),
        &json!({"agent_id": "support-agent"}),
    )
    .unwrap();
    assert_eq!(ev["miss_reason"], "prefix_mismatch");
    assert_eq!(ev["miss_diagnosis"]["first_changed_block"], "system-0");
    assert_eq!(ev["total_prompt_tokens"], 1640);
    assert_eq!(ev["provider"], "anthropic");
}

#[test]
fn short_prompts_are_below_the_minimum() {
    let mut acg = AcgState::new(AcgConfig::default());
    let mut ledger = CacheLedger::default();
    let req = json!({"model": "gpt-4.1", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]});
    let chat_usage = json!({"prompt_tokens": 20, "prompt_tokens_details": {"cached_tokens": 0}});
    send(&mut acg, &mut ledger, req.clone(), 0, chat_usage.clone());
    let (_, reason) = send(&mut acg, &mut ledger, req, 1000, chat_usage);
    assert_eq!(reason.as_deref(), Some("below_minimum_threshold"));
}

#[test]
fn openai_misses_on_a_matching_prefix_are_routing_mismatches() {
    let fx = fixture();
    let mut acg = AcgState::new(AcgConfig {
        provider: Provider::OpenAi,
        ..AcgConfig::default()
    });
    let mut ledger = CacheLedger::default();
    let chat = |n: usize| {
        let mut msgs = vec![json!({"role": "system", "content": fx["system"]})];
        msgs.extend(
            fx["conversations"][0].as_array().unwrap()[..n]
                .iter()
                .filter(|m| m["content"].is_string())
                .cloned(),
        );
        json!({"model": "gpt-4o-2024-08-06", "messages": msgs})
    };
    let u = |cached: u64| json!({"prompt_tokens": 1400, "completion_tokens": 50, "prompt_tokens_details": {"cached_tokens": cached}});
    let r1 = send(&mut acg, &mut ledger, chat(1), 0, u(0)).1;
    let r2 = send(&mut acg, &mut ledger, chat(5), 5000, u(1152)).1;
    let r3 = send(&mut acg, &mut ledger, chat(5), 9000, u(0)).1;
    assert_eq!(
        (r1.as_deref(), r2.as_deref(), r3.as_deref()),
        (Some("cold_start"), None, Some("routing_mismatch"))
    );
    // gpt-4o reads at half price: 1152 × 0.5 × 2.5 USD / MTok.
    assert!((ledger.total().cost_saved_usd - 1152.0 * 0.5 * 2.5 / 1e6).abs() < 1e-12);
}
