//! The cache ledger: what prompt caching actually did, from each response's usage block, per
//! learning key and in total — requests, hit rates, tokens read from and written to the cache,
//! the estimated cost saved, and a reason for every miss (§9.5's list).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::acg::{Mismatch, RequestFacts};
use crate::ir::Surface;
use crate::models::{Price, PriceTable};

/// Prompt-token accounting read from a usage block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheUsage {
    /// Tokens served from the cache.
    pub cache_read: u64,
    /// Tokens written to the cache (Anthropic only; OpenAI writes are implicit and free).
    pub cache_creation: u64,
    /// Tokens written with a 1 h TTL (part of `cache_creation`).
    pub cache_creation_1h: u64,
    /// All prompt tokens, cached or not.
    pub total_prompt: u64,
}

impl CacheUsage {
    /// Reads Anthropic (`input_tokens` + `cache_*_input_tokens`), OpenAI Chat
    /// (`prompt_tokens`, `prompt_tokens_details.cached_tokens`) and OpenAI Responses
    /// (`input_tokens`, `input_tokens_details.cached_tokens`) usage. `None` when it is none
    /// of these.
    pub fn parse(usage: &Value) -> Option<Self> {
        let n = |p: &str| usage.pointer(p).and_then(Value::as_u64).unwrap_or(0);
        if usage.get("prompt_tokens").is_some() {
            return Some(Self {
                cache_read: n("/prompt_tokens_details/cached_tokens"),
                total_prompt: n("/prompt_tokens"),
                ..Self::default()
            });
        }
        if usage.get("input_tokens_details").is_some() {
            return Some(Self {
                cache_read: n("/input_tokens_details/cached_tokens"),
                total_prompt: n("/input_tokens"),
                ..Self::default()
            });
        }
        usage.get("input_tokens")?;
        let (read, creation) = (
            n("/cache_read_input_tokens"),
            n("/cache_creation_input_tokens"),
        );
        Some(Self {
            cache_read: read,
            cache_creation: creation,
            cache_creation_1h: n("/cache_creation/ephemeral_1h_input_tokens"),
            total_prompt: n("/input_tokens") + read + creation,
        })
    }
}

/// Why a request read nothing from the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MissReason {
    /// The prefix changed before the minimum was reached; the first changed block.
    PrefixMismatch(Mismatch),
    /// The whole shared prefix is shorter than the provider's minimum.
    BelowMinimumThreshold,
    /// The previous request with this prefix is older than the cache TTL.
    RetentionExpired,
    /// Matching prefix, within TTL, not served: routed to another cache (OpenAI).
    RoutingMismatch,
    /// Matching prefix, within TTL, marked for caching, not served (Anthropic).
    Evicted,
    /// The request asks for no caching the provider needs (Anthropic without `cache_control`).
    UnsupportedFeature,
    /// First request with this prefix.
    ColdStart,
}

impl MissReason {
    /// §9.5 name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::PrefixMismatch(_) => "prefix_mismatch",
            Self::BelowMinimumThreshold => "below_minimum_threshold",
            Self::RetentionExpired => "retention_expired",
            Self::RoutingMismatch => "routing_mismatch",
            Self::Evicted => "evicted",
            Self::UnsupportedFeature => "unsupported_feature",
            Self::ColdStart => "cold_start",
        }
    }

    /// Classifies a request that read nothing, from its facts.
    pub fn classify(f: &RequestFacts) -> Self {
        if !f.has_exemplar {
            return Self::ColdStart;
        }
        if f.matched_prefix_tokens < u64::from(f.min_cacheable_tokens) {
            return match &f.first_mismatch {
                Some(m) => Self::PrefixMismatch(m.clone()),
                None => Self::BelowMinimumThreshold,
            };
        }
        if f.gap_ms.is_some_and(|g| g > f.ttl_ms) {
            return Self::RetentionExpired;
        }
        match f.surface {
            Surface::AnthropicMessages if !f.has_cache_control => Self::UnsupportedFeature,
            // The previous request wrote nothing: this one is the first write.
            Surface::AnthropicMessages if !f.exemplar_marked => Self::ColdStart,
            Surface::AnthropicMessages => Self::Evicted,
            _ => Self::RoutingMismatch,
        }
    }
}

/// One response's ledger line.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerEntry {
    /// Usage read.
    pub usage: CacheUsage,
    /// `cache_read / total_prompt`.
    pub hit_rate: f64,
    /// Set when nothing was read.
    pub miss_reason: Option<MissReason>,
    /// USD saved against sending everything uncached (negative: writes cost more than reads
    /// saved so far); `None` for a model without a price.
    pub cost_saved_usd: Option<f64>,
}

/// Totals for one learning key (or all).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LedgerTotals {
    /// Responses recorded.
    pub requests: u64,
    /// Responses that read from the cache.
    pub hits: u64,
    /// All prompt tokens.
    pub prompt_tokens: u64,
    /// Tokens read from the cache.
    pub cache_read_tokens: u64,
    /// Tokens written to the cache.
    pub cache_creation_tokens: u64,
    /// Sum of per-request savings (priced requests only).
    pub cost_saved_usd: f64,
    /// Misses by reason.
    pub misses: BTreeMap<&'static str, u64>,
    /// The last prefix mismatch, for diagnosis.
    pub last_mismatch: Option<Mismatch>,
}

impl LedgerTotals {
    fn add(&mut self, e: &LedgerEntry) {
        self.requests += 1;
        self.hits += u64::from(e.usage.cache_read > 0);
        self.prompt_tokens += e.usage.total_prompt;
        self.cache_read_tokens += e.usage.cache_read;
        self.cache_creation_tokens += e.usage.cache_creation;
        self.cost_saved_usd += e.cost_saved_usd.unwrap_or(0.0);
        if let Some(r) = &e.miss_reason {
            *self.misses.entry(r.as_str()).or_default() += 1;
            if let MissReason::PrefixMismatch(m) = r {
                self.last_mismatch = Some(m.clone());
            }
        }
    }

    /// Share of requests that read from the cache.
    pub fn request_hit_rate(&self) -> f64 {
        ratio(self.hits, self.requests)
    }

    /// Share of prompt tokens served from the cache.
    pub fn token_hit_rate(&self) -> f64 {
        ratio(self.cache_read_tokens, self.prompt_tokens)
    }

    /// The report dict.
    pub fn to_json(&self) -> Value {
        json!({
            "requests": self.requests,
            "hits": self.hits,
            "request_hit_rate": self.request_hit_rate(),
            "token_hit_rate": self.token_hit_rate(),
            "prompt_tokens": self.prompt_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_creation_tokens": self.cache_creation_tokens,
            "cost_saved_usd": self.cost_saved_usd,
            "misses": self.misses,
            "last_mismatch": self.last_mismatch.as_ref().map(Mismatch::to_json),
        })
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// USD saved by `u` at `p`, against sending every prompt token uncached.
pub fn cost_saved(u: &CacheUsage, p: &Price) -> f64 {
    let per_token = p.input_per_mtok / 1e6;
    let read_saving = u.cache_read as f64 * (1.0 - p.cache_read_multiplier);
    let w1h = u.cache_creation_1h.min(u.cache_creation) as f64;
    let w5m = u.cache_creation as f64 - w1h;
    let write_cost =
        w5m * (p.cache_write_5m_multiplier - 1.0) + w1h * (p.cache_write_1h_multiplier - 1.0);
    (read_saving - write_cost) * per_token
}

/// Per-key and total ledger.
#[derive(Debug, Clone, Default)]
pub struct CacheLedger {
    prices: PriceTable,
    total: LedgerTotals,
    by_key: BTreeMap<String, LedgerTotals>,
}

impl CacheLedger {
    /// A ledger pricing with `prices`.
    pub fn new(prices: PriceTable) -> Self {
        Self {
            prices,
            ..Self::default()
        }
    }

    /// The price table (to override entries).
    pub fn prices_mut(&mut self) -> &mut PriceTable {
        &mut self.prices
    }

    /// Records one response given the request's facts; `None` for an unknown usage shape.
    pub fn record(&mut self, facts: &RequestFacts, usage: &Value) -> Option<LedgerEntry> {
        let u = CacheUsage::parse(usage)?;
        let entry = LedgerEntry {
            usage: u,
            hit_rate: ratio(u.cache_read, u.total_prompt),
            miss_reason: (u.cache_read == 0).then(|| MissReason::classify(facts)),
            cost_saved_usd: self.prices.lookup(&facts.model).map(|p| cost_saved(&u, &p)),
        };
        self.total.add(&entry);
        self.by_key
            .entry(facts.learning_key.clone())
            .or_default()
            .add(&entry);
        Some(entry)
    }

    /// All requests.
    pub fn total(&self) -> &LedgerTotals {
        &self.total
    }

    /// One learning key.
    pub fn key(&self, key: &str) -> Option<&LedgerTotals> {
        self.by_key.get(key)
    }

    /// `{total, by_key: {key: totals}}` (`AdaptiveRuntime.cache_report()`).
    pub fn report(&self) -> Value {
        json!({
            "total": self.total.to_json(),
            "by_key": self.by_key.iter().map(|(k, t)| (k.clone(), t.to_json())).collect::<serde_json::Map<_, _>>(),
        })
    }
}

/// `build_cache_telemetry_event`: the §9.5 telemetry dict for one response, or `None` when the
/// usage shape is unknown.
pub fn cache_telemetry_event(
    facts: &RequestFacts,
    usage: &Value,
    identity: &Value,
) -> Option<Value> {
    let u = CacheUsage::parse(usage)?;
    let miss = (u.cache_read == 0).then(|| MissReason::classify(facts));
    let mut ev = json!({
        "request_id": facts.request_id,
        "agent_identity": identity,
        "cache_read_tokens": u.cache_read,
        "cache_creation_tokens": u.cache_creation,
        "total_prompt_tokens": u.total_prompt,
        "hit_rate": ratio(u.cache_read, u.total_prompt),
        "provider": facts.provider.as_str(),
        "timestamp": facts.timestamp_ms,
    });
    if let Some(m) = miss {
        ev["miss_reason"] = json!(m.as_str());
        if let MissReason::PrefixMismatch(mm) = &m {
            ev["miss_diagnosis"] = json!({"first_changed_block": mm.span_id, "expected_block": mm.expected_span_id, "index": mm.index});
        }
    }
    Some(ev)
}
