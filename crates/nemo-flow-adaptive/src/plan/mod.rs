//! Provider planners (§9.5): given a request, its prompt IR and the learning key's stability
//! profile, decide what to change; [`apply`] then makes the changes. Planning never mutates,
//! so a failure anywhere leaves the request untouched (fail-open, see [`crate::acg`]).

mod anthropic;
mod openai;

use serde_json::{Value, json};

use crate::config::Provider;
use crate::ir::{Loc, PromptIr, Surface};
use crate::stability::{StabilityClass, StabilityProfile};

/// Observations a key needs before any breakpoint is planned (`MIN_ACG_OBSERVATIONS`).
pub const MIN_ACG_OBSERVATIONS: usize = 2;
/// Anthropic's limit of `cache_control` breakpoints per request.
pub const MAX_BREAKPOINTS: usize = 4;

/// Cache entry lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ttl {
    /// Anthropic's default, `cache_control` without `ttl`.
    FiveMinutes,
    /// `"ttl": "1h"`.
    OneHour,
}

impl Ttl {
    /// `5m` / `1h`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FiveMinutes => "5m",
            Self::OneHour => "1h",
        }
    }

    /// Lifetime in ms.
    pub fn millis(self) -> u64 {
        match self {
            Self::FiveMinutes => 300_000,
            Self::OneHour => 3_600_000,
        }
    }
}

/// One planned `cache_control` marker.
#[derive(Debug, Clone, PartialEq)]
pub struct Breakpoint {
    /// Index into the IR's blocks.
    pub block: usize,
    /// Span id of that block.
    pub span_id: String,
    /// Tokens up to and including the block.
    pub cumulative_tokens: u64,
}

/// Why nothing (more) was planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Provider `passthrough`: every intent ignored, not relevant.
    NotRelevant,
    /// Fewer than [`MIN_ACG_OBSERVATIONS`] observations.
    ColdStart,
    /// No leading stable block in this request.
    NoStablePrefix,
    /// The cacheable prefix is shorter than the model's minimum.
    BelowMinimumThreshold,
    /// Expected reuse does not pay for the cache write.
    Uneconomic,
    /// Requests come further apart than the longest TTL.
    RetentionExpired,
    /// The request already uses all breakpoints.
    BreakpointsExhausted,
    /// The request surface is not Anthropic Messages.
    UnsupportedSurface,
}

impl Skip {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotRelevant => "not_relevant",
            Self::ColdStart => "cold_start",
            Self::NoStablePrefix => "no_stable_prefix",
            Self::BelowMinimumThreshold => "below_minimum_threshold",
            Self::Uneconomic => "uneconomic",
            Self::RetentionExpired => "retention_expired",
            Self::BreakpointsExhausted => "breakpoints_exhausted",
            Self::UnsupportedSurface => "unsupported_surface",
        }
    }
}

/// What a planner decided for one request.
#[derive(Debug, Clone, PartialEq)]
pub struct CachePlan {
    /// Planner.
    pub provider: Provider,
    /// Request surface.
    pub surface: Surface,
    /// Learning key of the request.
    pub learning_key: String,
    /// Observations behind the profile used.
    pub observations: usize,
    /// Leading blocks of this request that are stable with their usual content.
    pub stable_prefix_blocks: usize,
    /// Their tokens.
    pub stable_prefix_tokens: u64,
    /// All blocks' tokens.
    pub total_tokens: u64,
    /// The provider's minimum cacheable prefix (0 when it has none).
    pub min_cacheable_tokens: u32,
    /// Breakpoints to add, by position.
    pub breakpoints: Vec<Breakpoint>,
    /// TTL of the breakpoints.
    pub ttl: Option<Ttl>,
    /// Locations whose JSON is rewritten in canonical form.
    pub canonicalize: Vec<Loc>,
    /// Why breakpoints were not planned, if they were not.
    pub skipped: Option<Skip>,
}

impl CachePlan {
    /// Whether applying it changes the request.
    pub fn changes_request(&self) -> bool {
        !self.breakpoints.is_empty() || !self.canonicalize.is_empty()
    }

    /// A JSON report for telemetry and debugging.
    pub fn to_json(&self) -> Value {
        json!({
            "provider": self.provider.as_str(),
            "surface": self.surface.as_str(),
            "learning_key": self.learning_key,
            "observations": self.observations,
            "stable_prefix_blocks": self.stable_prefix_blocks,
            "stable_prefix_tokens": self.stable_prefix_tokens,
            "total_tokens": self.total_tokens,
            "min_cacheable_tokens": self.min_cacheable_tokens,
            "breakpoints": self.breakpoints.iter().map(|b| json!({
                "span_id": b.span_id, "cumulative_tokens": b.cumulative_tokens})).collect::<Vec<_>>(),
            "ttl": self.ttl.map(Ttl::as_str),
            "canonicalized": self.canonicalize.len(),
            "skipped": self.skipped.map(Skip::as_str),
        })
    }
}

/// Leading blocks of `ir` that are `Stable` in `profile` with their dominant content.
pub fn stable_prefix(ir: &PromptIr, profile: &StabilityProfile) -> usize {
    let index = profile.index();
    ir.blocks
        .iter()
        .take_while(|b| {
            index.get(b.span_id.as_str()).is_some_and(|&i| {
                let s = &profile.spans[i];
                s.class == StabilityClass::Stable && s.dominant_hash == b.hash
            })
        })
        .count()
}

/// Plans `provider`'s changes for `req` (read as `ir`) given the key's `profile`.
pub fn plan(
    provider: Provider,
    req: &Value,
    ir: &PromptIr,
    profile: Option<&StabilityProfile>,
) -> CachePlan {
    let stable_prefix_blocks = profile.map_or(0, |p| stable_prefix(ir, p));
    let mut plan = CachePlan {
        provider,
        surface: ir.surface,
        learning_key: ir.learning_key(),
        observations: profile.map_or(0, |p| p.observations),
        stable_prefix_blocks,
        stable_prefix_tokens: ir.blocks[..stable_prefix_blocks]
            .iter()
            .map(|b| u64::from(b.tokens))
            .sum(),
        total_tokens: ir.total_tokens(),
        min_cacheable_tokens: 0,
        breakpoints: Vec::new(),
        ttl: None,
        canonicalize: Vec::new(),
        skipped: None,
    };
    match provider {
        Provider::Passthrough => plan.skipped = Some(Skip::NotRelevant),
        Provider::Anthropic => anthropic::plan(&mut plan, req, ir, profile),
        Provider::OpenAi => openai::plan(&mut plan, req, ir),
    }
    plan
}

/// Applies `plan` to `req` (the request `ir` was read from). Locations that no longer exist
/// are skipped.
pub fn apply(req: &mut Value, ir: &PromptIr, plan: &CachePlan) {
    for loc in &plan.canonicalize {
        openai::canonicalize_at(req, *loc);
    }
    if !plan.breakpoints.is_empty() {
        anthropic::apply(req, ir, plan);
    }
}
