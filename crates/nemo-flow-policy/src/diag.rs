//! Diagnostics: what validation reports instead of raising. Every config error is one of
//! these, found when the component is validated, never when a call is checked.

use serde::Serialize;

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// The component cannot be built; nothing is registered.
    Error,
    /// Built, but the user should know.
    Warning,
}

/// One finding about a configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub level: Level,
    /// Stable machine-readable code, e.g. `policy.deny_without_condition`.
    pub code: &'static str,
    /// What is wrong and what was expected.
    pub message: String,
    /// The component kind (`policy`).
    pub component: String,
    /// Where in the config, e.g. `policies[2].condition.not`.
    pub field: String,
}

/// Every code validation and the importer can report.
pub mod code {
    /// The config is not an object, or a field has the wrong JSON type.
    pub const INVALID_TYPE: &str = "policy.invalid_type";
    /// A field has a value outside its allowed set or range.
    pub const INVALID_VALUE: &str = "policy.invalid_value";
    /// A required field is absent.
    pub const MISSING_FIELD: &str = "policy.missing_field";
    /// A field the schema does not know.
    pub const UNKNOWN_FIELD: &str = "policy.unknown_field";
    /// `version` other than 1.
    pub const UNSUPPORTED_VERSION: &str = "policy.unsupported_version";
    /// Two policies share an id.
    pub const DUPLICATE_ID: &str = "policy.duplicate_id";
    /// An expression key or `kind` that does not exist.
    pub const UNKNOWN_EXPRESSION: &str = "policy.unknown_expression";
    /// A `method_call` method other than `eq`, `starts_with`, `contains`.
    pub const UNKNOWN_METHOD: &str = "policy.unknown_method";
    /// Wrong number of operands.
    pub const WRONG_ARITY: &str = "policy.wrong_arity";
    /// A `node_output` ref (policies see no stage outputs).
    pub const NODE_OUTPUT_REF: &str = "policy.node_output_ref";
    /// A `bound` ref to a name the trigger does not bind.
    pub const UNKNOWN_BOUND: &str = "policy.unknown_bound";
    /// An `input` ref to a name neither `inputs` nor the scope can provide.
    pub const UNKNOWN_INPUT: &str = "policy.unknown_input";
    /// A `before` policy without `requires`.
    pub const BEFORE_WITHOUT_REQUIRES: &str = "policy.before_without_requires";
    /// A requirement other than `user.confirm`.
    pub const UNSUPPORTED_REQUIREMENT: &str = "policy.unsupported_requirement";
    /// A `deny` policy without a condition (NemoIR silently skips it).
    pub const DENY_WITHOUT_CONDITION: &str = "policy.deny_without_condition";
    /// A trigger with neither `tool`, `capability` nor `llm`.
    pub const TRIGGER_WITHOUT_TARGET: &str = "policy.trigger_without_target";
    /// An approver name nobody registered (reported at activation).
    pub const UNKNOWN_APPROVER: &str = "policy.unknown_approver";
    /// The importer changed the meaning of a NemoIR policy (warning).
    pub const NEMOIR_SEMANTICS_DIFFER: &str = "policy.nemoir_semantics_differ";
}

/// Collects diagnostics while walking a config.
#[derive(Debug, Default)]
pub struct Diagnostics {
    /// What was found, in document order.
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// Records an error.
    pub fn error(&mut self, code: &'static str, field: &str, message: impl Into<String>) {
        self.push(Level::Error, code, field, message);
    }

    /// Records a warning.
    pub fn warning(&mut self, code: &'static str, field: &str, message: impl Into<String>) {
        self.push(Level::Warning, code, field, message);
    }

    /// Records a finding at `level`.
    pub fn push(
        &mut self,
        level: Level,
        code: &'static str,
        field: &str,
        message: impl Into<String>,
    ) {
        self.items.push(Diagnostic {
            level,
            code,
            message: message.into(),
            component: "policy".into(),
            field: field.into(),
        });
    }

    /// Whether any error was recorded.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.level == Level::Error)
    }
}
