//! Anthropic: up to four `cache_control: {"type": "ephemeral"}` breakpoints over the stable
//! prefix, only where the prefix reaches the model's minimum and expected reuse pays for the
//! write; TTL `5m` or `1h` from the observed gap between requests.

use serde_json::{Map, Value, json};

use super::{Breakpoint, CachePlan, MAX_BREAKPOINTS, MIN_ACG_OBSERVATIONS, Skip, Ttl};
use crate::ir::{ContentType, Loc, PromptIr, Surface};
use crate::models::{Price, anthropic_min_cacheable_tokens};
use crate::stability::StabilityProfile;

/// Share of a TTL a typical gap may use; beyond it a cache entry would often be gone.
const TTL_MARGIN: f64 = 0.8;
/// Append-only share above which the conversation tail gets a rolling breakpoint.
const ROLLING_TAIL_RATIO: f64 = 0.5;

/// Whether caching a prefix once and reading it `reuses` times costs less than sending it
/// uncached `reuses + 1` times.
fn pays(write: f64, read: f64, reuses: usize) -> bool {
    let r = reuses as f64;
    write + read * r < 1.0 + r
}

/// The TTL for requests `gap_ms` apart (median), or `None` when even 1 h is too short or
/// does not pay.
fn choose_ttl(gap_ms: Option<u64>, reuses: usize) -> Result<Ttl, Skip> {
    let e = Price::anthropic(1.0);
    let gap = gap_ms.unwrap_or(0) as f64;
    if gap <= Ttl::FiveMinutes.millis() as f64 * TTL_MARGIN {
        return if pays(e.cache_write_5m_multiplier, e.cache_read_multiplier, reuses) {
            Ok(Ttl::FiveMinutes)
        } else {
            Err(Skip::Uneconomic)
        };
    }
    if gap > Ttl::OneHour.millis() as f64 * TTL_MARGIN {
        return Err(Skip::RetentionExpired);
    }
    if pays(e.cache_write_1h_multiplier, e.cache_read_multiplier, reuses) {
        Ok(Ttl::OneHour)
    } else {
        Err(Skip::Uneconomic)
    }
}

pub(super) fn plan(
    plan: &mut CachePlan,
    req: &Value,
    ir: &PromptIr,
    profile: Option<&StabilityProfile>,
) {
    plan.min_cacheable_tokens = anthropic_min_cacheable_tokens(&ir.model);
    if ir.surface != Surface::AnthropicMessages {
        plan.skipped = Some(Skip::UnsupportedSurface);
        return;
    }
    // Tool schemas are part of every cached prefix: make their bytes canonical.
    for b in &ir.blocks {
        if let Loc::Tool(i) = b.loc {
            if req
                .pointer(&format!("/tools/{i}"))
                .is_some_and(|t| !crate::jcs::is_canonical(t))
            {
                plan.canonicalize.push(b.loc);
            }
        }
    }
    let Some(profile) = profile.filter(|p| p.observations >= MIN_ACG_OBSERVATIONS) else {
        plan.skipped = Some(Skip::ColdStart);
        return;
    };
    let existing = ir.blocks.iter().filter(|b| b.has_cache_control).count();
    let budget = MAX_BREAKPOINTS.saturating_sub(existing);
    if budget == 0 {
        plan.skipped = Some(Skip::BreakpointsExhausted);
        return;
    }
    let p = plan.stable_prefix_blocks;
    if p == 0 {
        plan.skipped = Some(Skip::NoStablePrefix);
        return;
    }
    let ttl = match choose_ttl(profile.median_gap_ms, profile.observations - 1) {
        Ok(t) => t,
        Err(skip) => {
            plan.skipped = Some(skip);
            return;
        }
    };
    let mut cum = Vec::with_capacity(ir.blocks.len());
    let mut total = 0u64;
    for b in &ir.blocks {
        total += u64::from(b.tokens);
        cum.push(total);
    }
    let last = ir.blocks.len() - 1;
    // In priority order: the end of the stable prefix, the conversation tail when turns
    // extend each other, then section ends (tools, system) inside the prefix.
    let mut candidates = vec![p - 1];
    if last > p - 1 && profile.append_only_ratio >= ROLLING_TAIL_RATIO {
        candidates.push(last);
    }
    for role in ["system", "tools"] {
        if let Some(i) = ir.blocks[..p].iter().rposition(|b| b.role == role) {
            candidates.push(i);
        }
    }
    let min = u64::from(plan.min_cacheable_tokens);
    let mut chosen: Vec<usize> = Vec::with_capacity(MAX_BREAKPOINTS);
    for c in candidates {
        // A marker cannot sit on thinking or empty text blocks: use the nearest earlier one.
        let Some(i) = (0..=c).rev().find(|&i| ir.blocks[i].cacheable) else {
            continue;
        };
        if cum[i] >= min
            && !chosen.contains(&i)
            && !ir.blocks[i].has_cache_control
            && chosen.len() < budget
        {
            chosen.push(i);
        }
    }
    if chosen.is_empty() {
        plan.skipped = Some(Skip::BelowMinimumThreshold);
        return;
    }
    chosen.sort_unstable();
    plan.ttl = Some(ttl);
    plan.breakpoints = chosen
        .into_iter()
        .map(|i| Breakpoint {
            block: i,
            span_id: ir.blocks[i].span_id.clone(),
            cumulative_tokens: cum[i],
        })
        .collect();
}

fn marker(ttl: Option<Ttl>) -> Value {
    match ttl {
        Some(Ttl::OneHour) => json!({"type": "ephemeral", "ttl": "1h"}),
        _ => json!({"type": "ephemeral"}),
    }
}

fn mark(obj: Option<&mut Value>, ttl: Option<Ttl>) {
    if let Some(Value::Object(o)) = obj {
        o.insert("cache_control".into(), marker(ttl));
    }
}

/// A string content as one text block carrying the marker.
fn text_block(text: Value, ttl: Option<Ttl>) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), json!("text"));
    m.insert("text".into(), text);
    m.insert("cache_control".into(), marker(ttl));
    Value::Array(vec![Value::Object(m)])
}

pub(super) fn apply(req: &mut Value, ir: &PromptIr, plan: &CachePlan) {
    for bp in &plan.breakpoints {
        let Some(block) = ir.blocks.get(bp.block) else {
            continue;
        };
        match block.loc {
            Loc::Tool(i) => mark(req.get_mut("tools").and_then(|t| t.get_mut(i)), plan.ttl),
            Loc::System(Some(i)) => {
                mark(req.get_mut("system").and_then(|s| s.get_mut(i)), plan.ttl)
            }
            Loc::System(None) => {
                if let Some(s) = req.get_mut("system").filter(|s| s.is_string()) {
                    *s = text_block(s.take(), plan.ttl);
                }
            }
            Loc::Message(m, Some(p)) => mark(
                req.pointer_mut(&format!("/messages/{m}/content/{p}")),
                plan.ttl,
            ),
            Loc::Message(m, None) if block.content_type != ContentType::Image => {
                if let Some(c) = req
                    .pointer_mut(&format!("/messages/{m}/content"))
                    .filter(|c| c.is_string())
                {
                    *c = text_block(c.take(), plan.ttl);
                }
            }
            _ => {}
        }
    }
}
