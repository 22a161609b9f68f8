//! Model facts the planners and the ledger need: the Anthropic minimum cacheable prefix per
//! model, and a price table (USD per million input tokens and the cache multipliers) that
//! users can override. Names match by substring after lower-casing, first entry wins, so
//! dated (`-20250929`) and Bedrock/Vertex (`anthropic.`, `@`) spellings resolve too.

use serde::{Deserialize, Serialize};

/// Anthropic's smallest cacheable prefix for `model`, in tokens.
pub fn anthropic_min_cacheable_tokens(model: &str) -> u32 {
    let m = model.to_ascii_lowercase();
    const TABLE: [(&str, u32); 9] = [
        ("opus-4-5", 4096),
        ("opus-4-6", 4096),
        ("haiku-4-5", 4096),
        ("sonnet-4-6", 2048),
        ("3-5-haiku", 2048),
        ("haiku-3-5", 2048),
        ("3-opus", 2048),
        ("opus-3", 2048),
        ("claude", 1024),
    ];
    TABLE
        .iter()
        .find(|(p, _)| m.contains(p))
        .map_or(1024, |(_, n)| *n)
}

/// One model's prices.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Price {
    /// USD per million uncached input tokens.
    pub input_per_mtok: f64,
    /// Cache read price as a multiple of the input price.
    pub cache_read_multiplier: f64,
    /// Cache write (5 minute TTL) as a multiple of the input price.
    pub cache_write_5m_multiplier: f64,
    /// Cache write (1 hour TTL) as a multiple of the input price.
    pub cache_write_1h_multiplier: f64,
}

impl Price {
    /// Anthropic economics: write ×1.25 (5 min) / ×2.0 (1 h), read ×0.1.
    pub const fn anthropic(input_per_mtok: f64) -> Self {
        Self {
            input_per_mtok,
            cache_read_multiplier: 0.1,
            cache_write_5m_multiplier: 1.25,
            cache_write_1h_multiplier: 2.0,
        }
    }

    /// OpenAI economics: writes are free, reads at `read`.
    pub const fn openai(input_per_mtok: f64, read: f64) -> Self {
        Self {
            input_per_mtok,
            cache_read_multiplier: read,
            cache_write_5m_multiplier: 1.0,
            cache_write_1h_multiplier: 1.0,
        }
    }
}

/// Patterns to prices; user entries are consulted before the built-in ones.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PriceTable {
    overrides: Vec<(String, Price)>,
}

const BUILTIN: [(&str, Price); 19] = [
    ("opus-4-5", Price::anthropic(5.0)),
    ("opus-4-6", Price::anthropic(5.0)),
    ("opus", Price::anthropic(15.0)),
    ("haiku-4-5", Price::anthropic(1.0)),
    ("3-5-haiku", Price::anthropic(0.8)),
    ("haiku", Price::anthropic(0.25)),
    ("sonnet", Price::anthropic(3.0)),
    ("claude", Price::anthropic(3.0)),
    ("gpt-5-nano", Price::openai(0.05, 0.1)),
    ("gpt-5-mini", Price::openai(0.25, 0.1)),
    ("gpt-5", Price::openai(1.25, 0.1)),
    ("gpt-4.1-nano", Price::openai(0.1, 0.25)),
    ("gpt-4.1-mini", Price::openai(0.4, 0.25)),
    ("gpt-4.1", Price::openai(2.0, 0.25)),
    ("gpt-4o-mini", Price::openai(0.15, 0.5)),
    ("gpt-4o", Price::openai(2.5, 0.5)),
    ("o4-mini", Price::openai(1.1, 0.25)),
    ("o3", Price::openai(2.0, 0.25)),
    ("o1", Price::openai(15.0, 0.5)),
];

impl PriceTable {
    /// Sets (or replaces) the price for model names containing `pattern`.
    pub fn set(&mut self, pattern: &str, price: Price) {
        let p = pattern.to_ascii_lowercase();
        self.overrides.retain(|(q, _)| *q != p);
        self.overrides.insert(0, (p, price));
    }

    /// The price for `model`, if known.
    pub fn lookup(&self, model: &str) -> Option<Price> {
        let m = model.to_ascii_lowercase();
        self.overrides
            .iter()
            .find(|(p, _)| m.contains(p.as_str()))
            .map(|(_, price)| *price)
            .or_else(|| {
                BUILTIN
                    .iter()
                    .find(|(p, _)| m.contains(p))
                    .map(|(_, price)| *price)
            })
    }
}
