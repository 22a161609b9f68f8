//! The eleven middleware families: one name each for bindings (`key`) and one for people
//! (`label`, used in error messages and registry errors).

/// A middleware family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// Tool sanitize-request guardrails.
    ToolSanitizeRequest,
    /// Tool sanitize-response guardrails.
    ToolSanitizeResponse,
    /// Tool conditional-execution guardrails.
    ToolConditional,
    /// Tool request intercepts.
    ToolRequest,
    /// Tool execution intercepts.
    ToolExecution,
    /// LLM sanitize-request guardrails.
    LlmSanitizeRequest,
    /// LLM sanitize-response guardrails.
    LlmSanitizeResponse,
    /// LLM conditional-execution guardrails.
    LlmConditional,
    /// LLM request intercepts.
    LlmRequest,
    /// LLM execution intercepts.
    LlmExecution,
    /// LLM stream execution intercepts.
    LlmStreamExecution,
}

impl Family {
    /// Every family, in pipeline order (tool families first).
    pub const ALL: [Family; 11] = [
        Family::ToolSanitizeRequest,
        Family::ToolSanitizeResponse,
        Family::ToolConditional,
        Family::ToolRequest,
        Family::ToolExecution,
        Family::LlmSanitizeRequest,
        Family::LlmSanitizeResponse,
        Family::LlmConditional,
        Family::LlmRequest,
        Family::LlmExecution,
        Family::LlmStreamExecution,
    ];

    /// The binding's name, e.g. `tool_conditional_execution`.
    pub const fn key(self) -> &'static str {
        self.names().0
    }

    /// The human name, e.g. `tool conditional-execution guardrail`.
    pub const fn label(self) -> &'static str {
        self.names().1
    }

    /// The family whose [`key`](Self::key) is `key`.
    pub fn from_key(key: &str) -> Option<Family> {
        Self::ALL.into_iter().find(|f| f.key() == key)
    }

    /// Whether its entries are guardrails (sanitize or conditional) rather than intercepts.
    pub const fn is_guardrail(self) -> bool {
        matches!(
            self,
            Family::ToolSanitizeRequest
                | Family::ToolSanitizeResponse
                | Family::ToolConditional
                | Family::LlmSanitizeRequest
                | Family::LlmSanitizeResponse
                | Family::LlmConditional
        )
    }

    const fn names(self) -> (&'static str, &'static str) {
        match self {
            Family::ToolSanitizeRequest => {
                ("tool_sanitize_request", "tool sanitize-request guardrail")
            }
            Family::ToolSanitizeResponse => {
                ("tool_sanitize_response", "tool sanitize-response guardrail")
            }
            Family::ToolConditional => (
                "tool_conditional_execution",
                "tool conditional-execution guardrail",
            ),
            Family::ToolRequest => ("tool_request", "tool request intercept"),
            Family::ToolExecution => ("tool_execution", "tool execution intercept"),
            Family::LlmSanitizeRequest => {
                ("llm_sanitize_request", "LLM sanitize-request guardrail")
            }
            Family::LlmSanitizeResponse => {
                ("llm_sanitize_response", "LLM sanitize-response guardrail")
            }
            Family::LlmConditional => (
                "llm_conditional_execution",
                "LLM conditional-execution guardrail",
            ),
            Family::LlmRequest => ("llm_request", "LLM request intercept"),
            Family::LlmExecution => ("llm_execution", "LLM execution intercept"),
            Family::LlmStreamExecution => {
                ("llm_stream_execution", "LLM stream execution intercept")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_are_distinct() {
        for f in Family::ALL {
            assert_eq!(Family::from_key(f.key()), Some(f));
        }
        let keys: std::collections::HashSet<_> = Family::ALL.iter().map(|f| f.key()).collect();
        let labels: std::collections::HashSet<_> = Family::ALL.iter().map(|f| f.label()).collect();
        assert_eq!((keys.len(), labels.len()), (11, 11));
        assert_eq!(Family::from_key("subscriber"), None);
    }

    #[test]
    fn guardrails_are_the_sanitize_and_conditional_families() {
        let guardrails: Vec<_> = Family::ALL
            .into_iter()
            .filter(|f| f.is_guardrail())
            .collect();
        assert_eq!(guardrails.len(), 6);
        assert!(guardrails.iter().all(|f| f.label().ends_with("guardrail")));
    }
}
