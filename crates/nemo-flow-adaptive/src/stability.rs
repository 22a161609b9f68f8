//! Stability analysis over a window of prompt observations (§9.5): per span,
//! `score = presence rate × share of its most common content`, classed against the configured
//! thresholds; the stable prefix is the run of leading `Stable` spans by first-seen position.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::config::StabilityThresholds;
use crate::ir::PromptIr;

/// One request's shape: `(span id, content hash, tokens)` in prefix order, and when it was seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// Blocks.
    pub spans: Vec<(String, u64, u32)>,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
}

impl Observation {
    /// The observation of `ir` at `at_ms`.
    pub fn of(ir: &PromptIr, at_ms: u64) -> Self {
        Self {
            spans: ir
                .blocks
                .iter()
                .map(|b| (b.span_id.clone(), b.hash, b.tokens))
                .collect(),
            at_ms,
        }
    }
}

/// A span's class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StabilityClass {
    /// Score ≥ stable threshold.
    Stable,
    /// Score ≥ semi-stable threshold.
    SemiStable,
    /// Below.
    Variable,
}

/// One span's statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanStability {
    /// Span id.
    pub span_id: String,
    /// Smallest position it was seen at.
    pub first_seen_index: usize,
    /// Observations that contain it.
    pub present: usize,
    /// Presence rate × dominant content share.
    pub score: f64,
    /// Class.
    pub class: StabilityClass,
    /// `min(1, present / min_observations_for_full_confidence)`.
    pub confidence: f64,
    /// The most common content hash.
    pub dominant_hash: u64,
    /// Tokens of the dominant content.
    pub tokens: u32,
}

/// The analysis of one learning key's window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct StabilityProfile {
    /// Observations analysed.
    pub observations: usize,
    /// Spans by first-seen position.
    pub spans: Vec<SpanStability>,
    /// Leading `Stable` spans.
    pub stable_prefix_len: usize,
    /// Their tokens.
    pub stable_prefix_tokens: u64,
    /// Share of consecutive observations where the earlier is a prefix of the later (a
    /// conversation growing turn by turn).
    pub append_only_ratio: f64,
    /// Median gap between consecutive observations, ms (`None` with fewer than two).
    pub median_gap_ms: Option<u64>,
    /// Largest gap, ms.
    pub max_gap_ms: Option<u64>,
}

impl StabilityProfile {
    /// The span's statistics.
    pub fn span(&self, span_id: &str) -> Option<&SpanStability> {
        self.spans.iter().find(|s| s.span_id == span_id)
    }

    /// Span id → index into `spans`, for per-request lookups.
    pub fn index(&self) -> HashMap<&str, usize> {
        self.spans
            .iter()
            .enumerate()
            .map(|(i, s)| (s.span_id.as_str(), i))
            .collect()
    }
}

/// Analyses `window` (oldest first).
pub fn analyze(window: &VecDeque<Observation>, th: &StabilityThresholds) -> StabilityProfile {
    let n = window.len();
    if n == 0 {
        return StabilityProfile::default();
    }
    struct Acc {
        first: usize,
        present: usize,
        hashes: Vec<(u64, usize, u32)>,
    }
    let mut order: Vec<String> = Vec::new();
    let mut acc: HashMap<&str, Acc> = HashMap::new();
    for obs in window {
        for (pos, (id, hash, tokens)) in obs.spans.iter().enumerate() {
            let a = acc.entry(id.as_str()).or_insert_with(|| {
                order.push(id.clone());
                Acc {
                    first: pos,
                    present: 0,
                    hashes: Vec::new(),
                }
            });
            a.first = a.first.min(pos);
            a.present += 1;
            match a.hashes.iter_mut().find(|h| h.0 == *hash) {
                Some(h) => h.1 += 1,
                None => a.hashes.push((*hash, 1, *tokens)),
            }
        }
    }
    let full = f64::from(th.min_observations_for_full_confidence.max(1));
    let mut spans: Vec<SpanStability> = order
        .iter()
        .map(|id| {
            let a = &acc[id.as_str()];
            let (dominant_hash, count, tokens) = a
                .hashes
                .iter()
                .copied()
                .max_by_key(|h| h.1)
                .unwrap_or((0, 0, 0));
            let score = (a.present as f64 / n as f64) * (count as f64 / a.present as f64);
            let class = if score >= th.stable_threshold {
                StabilityClass::Stable
            } else if score >= th.semi_stable_threshold {
                StabilityClass::SemiStable
            } else {
                StabilityClass::Variable
            };
            SpanStability {
                span_id: id.clone(),
                first_seen_index: a.first,
                present: a.present,
                score,
                class,
                confidence: (a.present as f64 / full).min(1.0),
                dominant_hash,
                tokens,
            }
        })
        .collect();
    spans.sort_by_key(|s| s.first_seen_index);
    let stable_prefix_len = spans
        .iter()
        .take_while(|s| s.class == StabilityClass::Stable)
        .count();
    let stable_prefix_tokens = spans[..stable_prefix_len]
        .iter()
        .map(|s| u64::from(s.tokens))
        .sum();
    let pairs: Vec<_> = window.iter().zip(window.iter().skip(1)).collect();
    let append_only = pairs
        .iter()
        .filter(|(a, b)| {
            a.spans.len() <= b.spans.len()
                && a.spans
                    .iter()
                    .zip(&b.spans)
                    .all(|(x, y)| x.0 == y.0 && x.1 == y.1)
        })
        .count();
    let mut gaps: Vec<u64> = pairs
        .iter()
        .map(|(a, b)| b.at_ms.saturating_sub(a.at_ms))
        .collect();
    gaps.sort_unstable();
    StabilityProfile {
        observations: n,
        spans,
        stable_prefix_len,
        stable_prefix_tokens,
        append_only_ratio: if pairs.is_empty() {
            0.0
        } else {
            append_only as f64 / pairs.len() as f64
        },
        median_gap_ms: gaps.get(gaps.len() / 2).copied(),
        max_gap_ms: gaps.last().copied(),
    }
}

/// A learning key's bounded window and its current analysis.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct KeyWindow {
    /// Oldest first, at most the configured window.
    pub window: VecDeque<Observation>,
    /// Analysis of `window`.
    pub profile: StabilityProfile,
}

impl KeyWindow {
    /// Appends `obs` (dropping the oldest beyond `cap`) and re-analyses.
    pub fn observe(&mut self, obs: Observation, cap: usize, th: &StabilityThresholds) {
        self.window.push_back(obs);
        while self.window.len() > cap.max(1) {
            self.window.pop_front();
        }
        self.profile = analyze(&self.window, th);
    }

    /// The latest observation (the exemplar requests are compared with).
    pub fn exemplar(&self) -> Option<&Observation> {
        self.window.back()
    }
}
