//! The adaptive cache governor's state and entry points: per learning key a bounded window of
//! observations with its stability profile, the last request seen (the exemplar new requests
//! are compared with), and the agent-wide aggregate. The intercept wrapper calls
//! [`AcgState::govern`] (fail-open) and [`AcgState::request_facts`] / [`AcgState::note_request`];
//! the learner calls [`AcgState::observe`].

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::config::{AcgConfig, Provider};
use crate::ir::{PromptIr, Surface};
use crate::models::anthropic_min_cacheable_tokens;
use crate::plan::{self, CachePlan};
use crate::stability::{KeyWindow, Observation, StabilityProfile};

/// Why a request could not be planned (the request is then left untouched).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcgError {
    /// Not an OpenAI Chat / Responses or Anthropic Messages request.
    UnknownSurface,
    /// The planner panicked (a bug); reported, never raised into the call.
    PlannerPanicked,
}

#[derive(Debug, Clone, Default)]
struct KeyState {
    learned: KeyWindow,
    last_request: Option<Sent>,
}

/// A request as it was sent: its shape, model, and whether it carried cache markers.
#[derive(Debug, Clone)]
struct Sent {
    obs: Observation,
    model: String,
    marked: bool,
}

/// Cache governor state for one agent.
#[derive(Debug, Clone)]
pub struct AcgState {
    config: AcgConfig,
    keys: HashMap<String, KeyState>,
    aggregate: Option<String>,
    last_any: Option<Sent>,
}

/// The first block where a request departs from the exemplar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// Position in the request.
    pub index: usize,
    /// The request's span there (`None`: the request is shorter than the exemplar).
    pub span_id: Option<String>,
    /// The exemplar's span there (`None`: the request extends the exemplar).
    pub expected_span_id: Option<String>,
}

impl Mismatch {
    /// `{index, span_id, expected_span_id}`.
    pub fn to_json(&self) -> Value {
        json!({"index": self.index, "span_id": self.span_id, "expected_span_id": self.expected_span_id})
    }
}

/// What is known about a request's cacheability before it is sent
/// (`build_cache_request_facts`).
#[derive(Debug, Clone, PartialEq)]
pub struct RequestFacts {
    /// Configured planner.
    pub provider: Provider,
    /// Caller's request id.
    pub request_id: String,
    /// Agent id.
    pub agent_id: String,
    /// Request surface.
    pub surface: Surface,
    /// `model`.
    pub model: String,
    /// Learning key.
    pub learning_key: String,
    /// Blocks in the request.
    pub block_count: usize,
    /// Their tokens (estimated unless given).
    pub total_tokens: u64,
    /// Leading blocks stable in the learned profile.
    pub stable_prefix_blocks: usize,
    /// Their tokens.
    pub stable_prefix_tokens: u64,
    /// Leading blocks identical to the exemplar.
    pub matched_prefix_blocks: usize,
    /// Their tokens.
    pub matched_prefix_tokens: u64,
    /// The provider's minimum cacheable prefix.
    pub min_cacheable_tokens: u32,
    /// Observations learned for the key.
    pub observations: usize,
    /// Where the request departs from the exemplar, if anywhere.
    pub first_mismatch: Option<Mismatch>,
    /// Whether an earlier request shares a prefix with this one: one with the same learning
    /// key, else the agent's previous request when at least its first block matches (so a
    /// changed system prompt is diagnosed as a prefix mismatch, not a cold start).
    pub has_exemplar: bool,
    /// Whether that request carried cache markers (always true on OpenAI, which caches
    /// without them).
    pub exemplar_marked: bool,
    /// Time since that request, ms.
    pub gap_ms: Option<u64>,
    /// Whether the request carries `cache_control` (after planning, if the caller planned).
    pub has_cache_control: bool,
    /// TTL of that cache control, ms (5 min unless planned as 1 h).
    pub ttl_ms: u64,
    /// When, ms since the Unix epoch.
    pub timestamp_ms: u64,
}

impl RequestFacts {
    /// The JSON dict the Python API returns.
    pub fn to_json(&self) -> Value {
        json!({
            "provider": self.provider.as_str(),
            "request_id": self.request_id,
            "agent_id": self.agent_id,
            "surface": self.surface.as_str(),
            "model": self.model,
            "learning_key": self.learning_key,
            "block_count": self.block_count,
            "total_tokens": self.total_tokens,
            "stable_prefix_blocks": self.stable_prefix_blocks,
            "stable_prefix_tokens": self.stable_prefix_tokens,
            "matched_prefix_blocks": self.matched_prefix_blocks,
            "matched_prefix_tokens": self.matched_prefix_tokens,
            "min_cacheable_tokens": self.min_cacheable_tokens,
            "observations": self.observations,
            "first_mismatch": self.first_mismatch.as_ref().map(Mismatch::to_json),
            "gap_ms": self.gap_ms,
            "has_cache_control": self.has_cache_control,
            "timestamp_ms": self.timestamp_ms,
        })
    }
}

/// The surface's minimum cacheable prefix (Anthropic per model, OpenAI 1024).
pub fn min_cacheable_tokens(surface: Surface, model: &str) -> u32 {
    match surface {
        Surface::AnthropicMessages => anthropic_min_cacheable_tokens(model),
        _ => 1024,
    }
}

impl AcgState {
    /// Empty state for `config`.
    pub fn new(config: AcgConfig) -> Self {
        Self {
            config,
            keys: HashMap::new(),
            aggregate: None,
            last_any: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &AcgConfig {
        &self.config
    }

    /// Learns one request (the `acg` learner): appends it to its key's window, re-analyses,
    /// and updates the aggregate. Returns the key's profile.
    pub fn observe(&mut self, ir: &PromptIr, at_ms: u64) -> &StabilityProfile {
        let key = ir.learning_key();
        let cap = self.config.observation_window;
        let th = self.config.stability_thresholds;
        let st = self.keys.entry(key.clone()).or_default();
        st.learned.observe(Observation::of(ir, at_ms), cap, &th);
        let better = match self.aggregate.as_ref().and_then(|k| self.keys.get(k)) {
            None => true,
            Some(best) => {
                let (a, b) = (&self.keys[&key].learned.profile, &best.learned.profile);
                (a.stable_prefix_len, a.observations) > (b.stable_prefix_len, b.observations)
            }
        };
        if better {
            self.aggregate = Some(key.clone());
        }
        &self.keys[&key].learned.profile
    }

    /// Replaces a key's window (loaded from a state backend).
    pub fn restore(&mut self, key: &str, window: KeyWindow) {
        self.keys.entry(key.to_owned()).or_default().learned = window;
    }

    /// A key's learned window.
    pub fn window(&self, key: &str) -> Option<&KeyWindow> {
        self.keys.get(key).map(|k| &k.learned)
    }

    /// The key's profile, else the aggregate's (§9.5 fallback).
    pub fn profile(&self, key: &str) -> Option<&StabilityProfile> {
        self.keys
            .get(key)
            .filter(|k| k.learned.profile.observations > 0)
            .or_else(|| self.aggregate.as_ref().and_then(|a| self.keys.get(a)))
            .map(|k| &k.learned.profile)
    }

    /// Reads and plans `req` without changing it.
    pub fn prepare(&self, req: &Value) -> Result<(PromptIr, CachePlan), AcgError> {
        let run = || {
            let ir = PromptIr::from_request(req).ok_or(AcgError::UnknownSurface)?;
            let profile = self.profile(&ir.learning_key());
            let plan = plan::plan(self.config.provider, req, &ir, profile);
            Ok((ir, plan))
        };
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(run))
            .unwrap_or(Err(AcgError::PlannerPanicked))
    }

    /// Plans and applies the provider's changes to `req`; on any failure `req` is untouched
    /// and the error returned for reporting.
    pub fn govern(&self, req: &mut Value) -> Result<(PromptIr, CachePlan), AcgError> {
        let (ir, plan) = self.prepare(req)?;
        if plan.changes_request() {
            plan::apply(req, &ir, &plan);
        }
        Ok((ir, plan))
    }

    /// Facts about `ir` (read from the request as sent) against the key's exemplar.
    pub fn request_facts(
        &self,
        ir: &PromptIr,
        plan: Option<&CachePlan>,
        request_id: &str,
        agent_id: &str,
        now_ms: u64,
    ) -> RequestFacts {
        let key = ir.learning_key();
        let leading = |e: &Sent| {
            ir.blocks
                .iter()
                .zip(&e.obs.spans)
                .take_while(|(b, (id, h, _))| b.span_id == *id && b.hash == *h)
                .count()
        };
        let exemplar = self
            .keys
            .get(&key)
            .and_then(|s| s.last_request.as_ref())
            .or_else(|| {
                self.last_any
                    .as_ref()
                    .filter(|e| e.model == ir.model && leading(e) > 0)
            });
        let mut matched = 0;
        let mut first_mismatch = None;
        if let Some(ex) = exemplar {
            matched = leading(ex);
            if matched < ex.obs.spans.len() {
                first_mismatch = Some(Mismatch {
                    index: matched,
                    span_id: ir.blocks.get(matched).map(|b| b.span_id.clone()),
                    expected_span_id: ex.obs.spans.get(matched).map(|s| s.0.clone()),
                });
            }
        }
        let profile = self.profile(&key);
        let stable = profile.map_or(0, |p| plan::stable_prefix(ir, p));
        let tokens = |n: usize| ir.blocks[..n].iter().map(|b| u64::from(b.tokens)).sum();
        let planned_ttl = plan.and_then(|p| p.ttl);
        RequestFacts {
            provider: self.config.provider,
            request_id: request_id.to_owned(),
            agent_id: agent_id.to_owned(),
            surface: ir.surface,
            model: ir.model.clone(),
            learning_key: key,
            block_count: ir.blocks.len(),
            total_tokens: ir.total_tokens(),
            stable_prefix_blocks: stable,
            stable_prefix_tokens: tokens(stable),
            matched_prefix_blocks: matched,
            matched_prefix_tokens: tokens(matched),
            min_cacheable_tokens: min_cacheable_tokens(ir.surface, &ir.model),
            observations: profile.map_or(0, |p| p.observations),
            first_mismatch,
            has_exemplar: exemplar.is_some(),
            exemplar_marked: ir.surface != Surface::AnthropicMessages
                || exemplar.is_some_and(|e| e.marked),
            gap_ms: exemplar.map(|e| now_ms.saturating_sub(e.obs.at_ms)),
            has_cache_control: ir.blocks.iter().any(|b| b.has_cache_control)
                || plan.is_some_and(|p| !p.breakpoints.is_empty()),
            ttl_ms: planned_ttl.map_or(plan::Ttl::FiveMinutes.millis(), plan::Ttl::millis),
            timestamp_ms: now_ms,
        }
    }

    /// Keeps `ir` (with the `plan` applied to it, if any) as its key's and the agent's
    /// exemplar; call after [`Self::request_facts`].
    pub fn note_request(&mut self, ir: &PromptIr, plan: Option<&CachePlan>, at_ms: u64) {
        let sent = Sent {
            obs: Observation::of(ir, at_ms),
            model: ir.model.clone(),
            marked: ir.blocks.iter().any(|b| b.has_cache_control)
                || plan.is_some_and(|p| !p.breakpoints.is_empty()),
        };
        self.last_any = Some(sent.clone());
        self.keys.entry(ir.learning_key()).or_default().last_request = Some(sent);
    }
}
