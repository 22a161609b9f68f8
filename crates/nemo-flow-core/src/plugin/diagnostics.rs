//! Configuration diagnostics, the policy that grades them, and [`ConfigReader`], the helper
//! every component uses to read its config object field by field without raising.

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
    /// Stable machine-readable code, e.g. `plugin.unknown_component`.
    pub code: String,
    /// What is wrong and what was expected.
    pub message: String,
    /// The component kind it concerns, if any.
    pub component: Option<String>,
    /// Dotted path of the field inside the document or component config, if any.
    pub field: Option<String>,
}

impl Diagnostic {
    /// A diagnostic at `level`.
    pub fn new(level: Level, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            level,
            code: code.into(),
            message: message.into(),
            component: None,
            field: None,
        }
    }

    /// An error-level diagnostic.
    pub fn error(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Level::Error, code, message)
    }

    /// Sets the component kind.
    pub fn component(mut self, kind: impl Into<String>) -> Self {
        self.component = Some(kind.into());
        self
    }

    /// Sets the field path.
    pub fn field(mut self, path: impl Into<String>) -> Self {
        self.field = Some(path.into());
        self
    }

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
    /// A component kind nobody registered.
    pub unknown_component: Behavior,
    /// A field the component does not know.
    pub unknown_field: Behavior,
    /// A value outside the supported set (version, mode, transport…).
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

const POLICY_FIELDS: [&str; 3] = ["unknown_component", "unknown_field", "unsupported_value"];

impl ConfigPolicy {
    /// `self` overridden by the `policy` object at `path` (absent: unchanged). Problems are
    /// reported through `r`.
    pub fn overridden(&self, r: &mut ConfigReader<'_>, policy: Option<&Value>, path: &str) -> Self {
        let mut out = *self;
        let Some(v) = policy.filter(|v| !v.is_null()) else {
            return out;
        };
        let Some(obj) = v.as_object() else {
            r.invalid(path, format!("expected an object, got {}", type_of(v)));
            return out;
        };
        r.unknown_fields(obj, path, &POLICY_FIELDS);
        for (key, slot) in POLICY_FIELDS.into_iter().zip([
            &mut out.unknown_component,
            &mut out.unknown_field,
            &mut out.unsupported_value,
        ]) {
            let Some(val) = obj.get(key) else { continue };
            match val.as_str().and_then(Behavior::parse) {
                Some(b) => *slot = b,
                None => r.invalid(
                    &join(path, key),
                    format!("expected one of \"ignore\", \"warn\", \"error\", got {val}"),
                ),
            }
        }
        out
    }

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

/// Reads a component's config object, collecting diagnostics instead of failing. Codes are
/// `<prefix>.unknown_field`, `<prefix>.unsupported_value` (graded by the policy) and
/// `<prefix>.invalid_plugin_config` (a wrong type: always an error).
pub struct ConfigReader<'a> {
    /// Where diagnostics go.
    pub diagnostics: &'a mut Vec<Diagnostic>,
    /// The policy grading them.
    pub policy: ConfigPolicy,
    prefix: &'static str,
    component: Option<String>,
}

impl<'a> ConfigReader<'a> {
    /// A reader for codes `<prefix>.*`, attributing diagnostics to `component`.
    pub fn new(
        diagnostics: &'a mut Vec<Diagnostic>,
        policy: ConfigPolicy,
        prefix: &'static str,
        component: Option<&str>,
    ) -> Self {
        Self {
            diagnostics,
            policy,
            prefix,
            component: component.map(str::to_owned),
        }
    }

    /// Adds a diagnostic at `level` (with this reader's component).
    pub fn push(&mut self, level: Level, code: &str, path: &str, message: String) {
        let mut d = Diagnostic::new(level, format!("{}.{code}", self.prefix), message);
        d.component = self.component.clone();
        if !path.is_empty() {
            d.field = Some(path.to_owned());
        }
        self.diagnostics.push(d);
    }

    /// Adds a diagnostic graded by `b` (dropped when `ignore`).
    pub fn graded(&mut self, b: Behavior, code: &str, path: &str, message: String) {
        if let Some(level) = b.level() {
            self.push(level, code, path, message);
        }
    }

    /// A value of the wrong type or shape (always an error).
    pub fn invalid(&mut self, path: &str, message: String) {
        self.push(
            Level::Error,
            "invalid_plugin_config",
            path,
            format!("{path}: {message}"),
        );
    }

    /// A value outside the supported set, graded by `unsupported_value`.
    pub fn unsupported(&mut self, path: &str, message: String) {
        let b = self.policy.unsupported_value;
        self.graded(b, "unsupported_value", path, format!("{path}: {message}"));
    }

    /// Reports every key of `obj` not in `known`, graded by `unknown_field`.
    pub fn unknown_fields(&mut self, obj: &Map<String, Value>, path: &str, known: &[&str]) {
        for key in obj.keys().filter(|k| !known.contains(&k.as_str())) {
            let p = join(path, key);
            let msg = format!("unknown field {p:?}; expected one of {}", known.join(", "));
            let b = self.policy.unknown_field;
            self.graded(b, "unknown_field", &p, msg);
        }
    }

    /// `obj[key]` unless absent or null.
    fn get<'v>(obj: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
        obj.get(key).filter(|v| !v.is_null())
    }

    /// A nested object (absent or null: `None`).
    pub fn object<'v>(
        &mut self,
        obj: &'v Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Option<&'v Map<String, Value>> {
        let v = Self::get(obj, key)?;
        let o = v.as_object();
        if o.is_none() {
            self.invalid(
                &join(path, key),
                format!("expected an object, got {}", type_of(v)),
            );
        }
        o
    }

    /// A bool, `default` when absent.
    pub fn bool(&mut self, obj: &Map<String, Value>, path: &str, key: &str, default: bool) -> bool {
        match Self::get(obj, key) {
            None => default,
            Some(Value::Bool(b)) => *b,
            Some(v) => {
                self.invalid(
                    &join(path, key),
                    format!("expected a bool, got {}", type_of(v)),
                );
                default
            }
        }
    }

    /// A string, `None` when absent.
    pub fn string(&mut self, obj: &Map<String, Value>, path: &str, key: &str) -> Option<String> {
        match Self::get(obj, key)? {
            Value::String(s) => Some(s.clone()),
            v => {
                self.invalid(
                    &join(path, key),
                    format!("expected a str, got {}", type_of(v)),
                );
                None
            }
        }
    }

    /// A non-negative integer, `None` when absent.
    pub fn uint(&mut self, obj: &Map<String, Value>, path: &str, key: &str) -> Option<u64> {
        let v = Self::get(obj, key)?;
        let n = v.as_u64();
        if n.is_none() {
            self.invalid(
                &join(path, key),
                format!("expected a non-negative int, got {v}"),
            );
        }
        n
    }

    /// One of `allowed`, `None` when absent or unsupported.
    pub fn choice(
        &mut self,
        obj: &Map<String, Value>,
        path: &str,
        key: &str,
        allowed: &[&str],
    ) -> Option<String> {
        let s = self.string(obj, path, key)?;
        if allowed.contains(&s.as_str()) {
            return Some(s);
        }
        let want = allowed.iter().map(|a| format!("{a:?}")).collect::<Vec<_>>();
        self.unsupported(
            &join(path, key),
            format!(
                "unsupported value {s:?}; expected one of {}",
                want.join(", ")
            ),
        );
        None
    }

    /// A `{str: str}` map (absent: empty).
    pub fn string_map(
        &mut self,
        obj: &Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Vec<(String, String)> {
        let Some(m) = self.object(obj, path, key) else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(m.len());
        for (k, v) in m {
            match v.as_str() {
                Some(s) => out.push((k.clone(), s.to_owned())),
                None => self.invalid(
                    &join(&join(path, key), k),
                    format!("expected a str, got {}", type_of(v)),
                ),
            }
        }
        out
    }

    /// Whether any error-level diagnostic was collected.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.level == Level::Error)
    }
}
