//! Configuration diagnostics as data. The shape (`Level`, `Diagnostic{level, code, message,
//! component?, field?}`, `Behavior`, `ConfigPolicy`) mirrors `nemo_flow_core::plugin` on the
//! plugin-system branch field for field, so once both are merged these definitions are
//! replaced by a re-export and `validate` becomes the `Plugin::validate` body unchanged.

use serde_json::{Map, Value, json};

/// How serious a diagnostic is. Any `Error` stops activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Reported; activation goes on.
    Warning,
    /// Activation is refused.
    Error,
}

impl Level {
    /// `"warning"` or `"error"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

/// One finding about a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Severity.
    pub level: Level,
    /// Stable machine-readable code, e.g. `adaptive.unknown_backend`.
    pub code: String,
    /// What is wrong and what was expected.
    pub message: String,
    /// The component kind it concerns, if any.
    pub component: Option<String>,
    /// Dotted path of the field inside the component config, if any.
    pub field: Option<String>,
}

impl Diagnostic {
    /// `{level, code, message, component?, field?}`.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("level".into(), json!(self.level.as_str()));
        m.insert("code".into(), json!(self.code));
        m.insert("message".into(), json!(self.message));
        if let Some(c) = &self.component {
            m.insert("component".into(), json!(c));
        }
        if let Some(f) = &self.field {
            m.insert("field".into(), json!(f));
        }
        Value::Object(m)
    }
}

/// What a policy does with one class of finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behavior {
    /// Drop the diagnostic.
    Ignore,
    /// Report a warning.
    Warn,
    /// Report an error (activation is refused).
    Error,
}

impl Behavior {
    /// Parses `ignore` / `warn` / `error`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ignore" => Some(Self::Ignore),
            "warn" => Some(Self::Warn),
            "error" => Some(Self::Error),
            _ => None,
        }
    }

    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ignore => "ignore",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }

    /// The level a finding gets, or `None` when it is dropped.
    pub fn level(self) -> Option<Level> {
        match self {
            Self::Ignore => None,
            Self::Warn => Some(Level::Warning),
            Self::Error => Some(Level::Error),
        }
    }
}

/// How strict validation is about unknown kinds, unknown fields and unsupported values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigPolicy {
    /// A component kind (here: a state backend kind) nobody knows.
    pub unknown_component: Behavior,
    /// A field the component does not know.
    pub unknown_field: Behavior,
    /// A value outside the supported set.
    pub unsupported_value: Behavior,
}

impl Default for ConfigPolicy {
    fn default() -> Self {
        Self {
            unknown_component: Behavior::Warn,
            unknown_field: Behavior::Warn,
            unsupported_value: Behavior::Error,
        }
    }
}

impl ConfigPolicy {
    /// `{unknown_component, unknown_field, unsupported_value}`.
    pub fn to_json(&self) -> Value {
        json!({
            "unknown_component": self.unknown_component.as_str(),
            "unknown_field": self.unknown_field.as_str(),
            "unsupported_value": self.unsupported_value.as_str(),
        })
    }
}

/// `a.b`, or `b` when `a` is empty.
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// JSON type name for messages.
pub fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(n) if n.is_f64() => "a float",
        Value::Number(_) => "an int",
        Value::String(_) => "a str",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
