//! ACG per-request cost: prompt IR + stability lookup + Anthropic plan for a 50-block prompt
//! (target ≤ 50 µs), the same with the edits applied, and the OpenAI canonicalization pass.

use criterion::{BatchSize, Criterion, black_box, criterion_group, criterion_main};
use nemo_flow_adaptive::acg::AcgState;
use nemo_flow_adaptive::config::{AcgConfig, Provider};
use nemo_flow_adaptive::ir::PromptIr;
use serde_json::{Value, json};

/// 4 tools + system + 45 conversation blocks = 50 blocks, ~3 kB system prompt, ~400 B turns.
fn request(turns: usize) -> Value {
    let tools: Vec<Value> = (0..4)
        .map(|i| json!({"name": format!("tool_{i}"), "description": "Looks something up in the catalog by id or query.",
            "input_schema": {"type": "object", "properties": {"id": {"type": "string"}, "query": {"type": "string"},
            "limit": {"type": "integer", "minimum": 1, "maximum": 50}}, "required": ["query"]}}))
        .collect();
    let system =
        "Follow the support policy carefully and cite the tool results you used. ".repeat(60);
    let messages: Vec<Value> = (0..turns)
        .map(|i| {
            let role = if i % 2 == 0 { "user" } else { "assistant" };
            json!({"role": role, "content": format!("Turn {i}: {}", "some words about the order and its items ".repeat(10))})
        })
        .collect();
    json!({"model": "claude-sonnet-4-5", "max_tokens": 1024, "system": system, "tools": tools, "messages": messages})
}

fn bench(c: &mut Criterion) {
    let mut acg = AcgState::new(AcgConfig {
        provider: Provider::Anthropic,
        ..AcgConfig::default()
    });
    for i in 0..20u64 {
        let ir = PromptIr::from_request(&request(25 + i as usize)).unwrap();
        acg.observe(&ir, i * 10_000);
    }
    let req = request(45);
    let (ir, plan) = acg.prepare(&req).unwrap();
    assert_eq!(ir.blocks.len(), 50);
    assert!(!plan.breakpoints.is_empty(), "{:?}", plan.to_json());

    c.bench_function("acg anthropic plan, 50 blocks", |b| {
        b.iter(|| black_box(acg.prepare(black_box(&req)).unwrap()))
    });
    c.bench_function("acg anthropic govern (plan + apply), 50 blocks", |b| {
        b.iter_batched(
            || req.clone(),
            |mut r| black_box(acg.govern(&mut r).unwrap()),
            BatchSize::SmallInput,
        )
    });
    let openai = AcgState::new(AcgConfig {
        provider: Provider::OpenAi,
        ..AcgConfig::default()
    });
    c.bench_function("acg openai plan, 50 blocks", |b| {
        b.iter(|| black_box(openai.prepare(black_box(&req)).unwrap()))
    });
    c.bench_function("prompt IR only, 50 blocks", |b| {
        b.iter(|| black_box(PromptIr::from_request(black_box(&req)).unwrap()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
