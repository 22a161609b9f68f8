//! Value types shared by scopes, tool calls and LLM calls: the scope type enum and the
//! three attribute bitflag sets.

use crate::error::{FlowError, FlowResult};

/// Kind of an execution scope. The lowercase name is the event `category`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScopeType {
    /// Autonomous agent.
    Agent,
    /// Generic function call.
    Function,
    /// Tool invocation.
    Tool,
    /// LLM call.
    Llm,
    /// Retriever or RAG lookup.
    Retriever,
    /// Embedding model.
    Embedder,
    /// Reranking model.
    Reranker,
    /// Guardrail evaluation.
    Guardrail,
    /// Evaluator or judge.
    Evaluator,
    /// User defined.
    Custom,
    /// Unknown or unspecified.
    Unknown,
}

impl ScopeType {
    /// All variants, in declaration order.
    pub const ALL: [ScopeType; 11] = [
        Self::Agent,
        Self::Function,
        Self::Tool,
        Self::Llm,
        Self::Retriever,
        Self::Embedder,
        Self::Reranker,
        Self::Guardrail,
        Self::Evaluator,
        Self::Custom,
        Self::Unknown,
    ];

    /// The event category string.
    pub fn category(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Function => "function",
            Self::Tool => "tool",
            Self::Llm => "llm",
            Self::Retriever => "retriever",
            Self::Embedder => "embedder",
            Self::Reranker => "reranker",
            Self::Guardrail => "guardrail",
            Self::Evaluator => "evaluator",
            Self::Custom => "custom",
            Self::Unknown => "unknown",
        }
    }

    /// The variant name as the Python enum spells it (`Agent`, `Llm`, …).
    pub fn name(self) -> &'static str {
        match self {
            Self::Agent => "Agent",
            Self::Function => "Function",
            Self::Tool => "Tool",
            Self::Llm => "Llm",
            Self::Retriever => "Retriever",
            Self::Embedder => "Embedder",
            Self::Reranker => "Reranker",
            Self::Guardrail => "Guardrail",
            Self::Evaluator => "Evaluator",
            Self::Custom => "Custom",
            Self::Unknown => "Unknown",
        }
    }

    /// Looks a scope type up by its variant name or its category, case-insensitively.
    pub fn parse(s: &str) -> FlowResult<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.category().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                FlowError::invalid(
                    "scope_type",
                    format!(
                        "unknown scope type {s:?}; expected one of {}",
                        Self::names().join(", ")
                    ),
                )
            })
    }

    fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|t| t.name()).collect()
    }
}

macro_rules! flag_set {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $flag:ident = $bit:expr => $label:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name(pub u32);

        impl $name {
            $($(#[$fdoc])* pub const $flag: $name = $name($bit);)+
            /// Every defined bit.
            pub const ALL_BITS: u32 = 0 $(| $bit)+;

            /// Builds a flag set from a raw mask, refusing undefined bits.
            pub fn from_bits(bits: i64) -> FlowResult<Self> {
                if bits < 0 || bits as u64 & !(Self::ALL_BITS as u64) != 0 {
                    return Err(FlowError::invalid(
                        "attributes",
                        format!("{} {bits} has bits outside the defined flags (mask {})", stringify!($name), Self::ALL_BITS),
                    ));
                }
                Ok(Self(bits as u32))
            }

            /// Whether every bit of `other` is set.
            pub fn contains(self, other: Self) -> bool {
                self.0 & other.0 == other.0
            }

            /// The lowercase labels of the set bits, sorted and de-duplicated.
            pub fn labels(self) -> Vec<&'static str> {
                let mut out = Vec::new();
                $(if self.0 & $bit != 0 { out.push($label); })+
                out.sort_unstable();
                out
            }
        }
    };
}

flag_set!(
    /// Scope flags.
    ScopeAttributes {
        /// Child work may run in parallel.
        PARALLEL = 1 => "parallel",
        /// Work may move to another execution context.
        RELOCATABLE = 2 => "relocatable",
    }
);
flag_set!(
    /// Tool-call flags.
    ToolAttributes {
        /// The tool runs remotely.
        REMOTE = 1 => "remote",
    }
);
flag_set!(
    /// LLM-call flags.
    LlmAttributes {
        /// The call uses stateful context.
        STATEFUL = 1 => "stateful",
        /// The call returns a stream.
        STREAMING = 2 => "streaming",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_type_parse_accepts_names_and_categories() {
        assert_eq!(ScopeType::parse("Llm").unwrap(), ScopeType::Llm);
        assert_eq!(ScopeType::parse("retriever").unwrap(), ScopeType::Retriever);
        let err = ScopeType::parse("robot").unwrap_err().to_string();
        assert!(err.contains("scope_type") && err.contains("robot"), "{err}");
    }

    #[test]
    fn flags_label_and_validate() {
        let a = ScopeAttributes(ScopeAttributes::PARALLEL.0 | ScopeAttributes::RELOCATABLE.0);
        assert_eq!(a.labels(), vec!["parallel", "relocatable"]);
        assert!(LlmAttributes::from_bits(4).is_err());
        assert!(ToolAttributes::from_bits(-1).is_err());
        assert!(
            LlmAttributes::from_bits(3)
                .unwrap()
                .contains(LlmAttributes::STREAMING)
        );
    }
}
