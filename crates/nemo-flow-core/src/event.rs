//! Lifecycle events (ATOF 0.1 plus `root_uuid` and, on failed ends, `error`).
//!
//! Events are immutable once built and shared as `Arc<Event>` with every subscriber.

use serde_json::{Map, Value};
use std::borrow::Cow;
use std::sync::Arc;
use uuid::Uuid;

use crate::clock::Timestamp;

/// ATOF schema version written on every event.
pub const ATOF_VERSION: &str = "0.1";

/// Whether a scope event opens or closes its span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeCategory {
    /// The span opens.
    Start,
    /// The span closes.
    End,
}

impl ScopeCategory {
    /// `"start"` or `"end"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::End => "end",
        }
    }
}

/// Why a call failed, recorded on its end event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorInfo {
    /// Exception or error type name, e.g. `ValueError`.
    pub kind: String,
    /// The error message.
    pub message: String,
}

impl ErrorInfo {
    /// JSON form: `{"type": …, "message": …}`.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("type".into(), Value::String(self.kind.clone()));
        m.insert("message".into(), Value::String(self.message.clone()));
        Value::Object(m)
    }
}

/// Fields only scope events have.
#[derive(Debug, Clone)]
pub struct ScopeFields {
    /// Start or end.
    pub scope_category: ScopeCategory,
    /// Sorted, de-duplicated attribute labels.
    pub attributes: Vec<&'static str>,
    /// Set on end events of failed calls and scopes.
    pub error: Option<ErrorInfo>,
}

/// One lifecycle event. `scope` is `Some` for scope events and `None` for marks.
#[derive(Debug, Clone)]
pub struct Event {
    /// Scope fields, or `None` for a mark.
    pub scope: Option<ScopeFields>,
    /// Parent span (scope, tool or LLM call) uuid.
    pub parent_uuid: Option<Uuid>,
    /// Event uuid; start and end of one span share it.
    pub uuid: Uuid,
    /// Root scope of the run this event belongs to.
    pub root_uuid: Uuid,
    /// When it happened.
    pub timestamp: Timestamp,
    /// Scope, call or mark name.
    pub name: Arc<str>,
    /// Semantic category (`agent`, `tool`, `llm`, `guardrail`, …); marks usually have none.
    pub category: Option<Cow<'static, str>>,
    /// Category-specific profile (`model_name`, `tool_call_id`, annotations, …).
    pub category_profile: Option<Box<Map<String, Value>>>,
    /// Input on start events, output on end events, payload on marks. Null when absent.
    pub data: JsonText,
    /// Schema descriptor for `data`; no public API sets it.
    pub data_schema: Option<Box<Value>>,
    /// Caller metadata. Null when absent.
    pub metadata: JsonText,
}

/// A JSON value kept as compact text. Events are retained (by subscribers, by exporters
/// that batch or collect them) far longer than their payloads are read, and text is several
/// times smaller than a parsed tree; readers parse on demand.
#[derive(Clone, Default)]
pub struct JsonText(Repr);

#[derive(Clone, Default)]
enum Repr {
    #[default]
    Null,
    Static(&'static str),
    Owned(Box<str>),
}

impl JsonText {
    /// JSON null (no allocation).
    pub const NULL: JsonText = JsonText(Repr::Null);

    /// Serializes `v` (null stays unallocated).
    pub fn from_value(v: &Value) -> Self {
        if v.is_null() {
            return Self::NULL;
        }
        Self(Repr::Owned(v.to_string().into_boxed_str()))
    }

    /// Text the caller guarantees is valid JSON (built by this crate).
    pub(crate) fn trusted(text: String) -> Self {
        Self(Repr::Owned(text.into_boxed_str()))
    }

    /// Constant text the caller guarantees is valid JSON.
    pub(crate) const fn trusted_static(text: &'static str) -> Self {
        Self(Repr::Static(text))
    }

    /// Whether this is JSON null.
    pub fn is_null(&self) -> bool {
        matches!(self.0, Repr::Null)
    }

    /// The JSON text (`null` for null).
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Null => "null",
            Repr::Static(s) => s,
            Repr::Owned(s) => s,
        }
    }

    /// The parsed value.
    pub fn to_value(&self) -> Value {
        if self.is_null() {
            return Value::Null;
        }
        serde_json::from_str(self.as_str()).expect("JsonText always holds valid JSON")
    }
}

/// A JSON string literal for `s` (quoted and escaped), for building trusted text.
pub(crate) fn json_str(s: &str) -> String {
    Value::from(s).to_string()
}

impl PartialEq for JsonText {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for JsonText {}

impl From<Value> for JsonText {
    fn from(v: Value) -> Self {
        Self::from_value(&v)
    }
}

impl PartialEq<Value> for JsonText {
    fn eq(&self, other: &Value) -> bool {
        self.to_value() == *other
    }
}

impl std::fmt::Debug for JsonText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an event sits in the run: its own uuid, its parent's and the root's.
#[derive(Debug, Clone, Copy)]
pub struct Ids {
    /// Event uuid (shared by a span's start and end).
    pub uuid: Uuid,
    /// Parent span uuid.
    pub parent_uuid: Option<Uuid>,
    /// Root scope uuid.
    pub root_uuid: Uuid,
}

impl Event {
    /// A scope start or end event with null data and metadata, no profile and no error.
    pub fn scope(
        scope_category: ScopeCategory,
        attributes: Vec<&'static str>,
        category: Cow<'static, str>,
        name: Arc<str>,
        ids: Ids,
        timestamp: Timestamp,
    ) -> Self {
        Self {
            scope: Some(ScopeFields {
                scope_category,
                attributes,
                error: None,
            }),
            parent_uuid: ids.parent_uuid,
            uuid: ids.uuid,
            root_uuid: ids.root_uuid,
            timestamp,
            name,
            category: Some(category),
            category_profile: None,
            data: JsonText::NULL,
            data_schema: None,
            metadata: JsonText::NULL,
        }
    }

    /// A mark: a point event with no category.
    pub fn mark(
        name: Arc<str>,
        ids: Ids,
        timestamp: Timestamp,
        data: JsonText,
        metadata: JsonText,
    ) -> Self {
        Self {
            scope: None,
            parent_uuid: ids.parent_uuid,
            uuid: ids.uuid,
            root_uuid: ids.root_uuid,
            timestamp,
            name,
            category: None,
            category_profile: None,
            data,
            data_schema: None,
            metadata,
        }
    }

    /// `"scope"` or `"mark"`.
    pub fn kind(&self) -> &'static str {
        if self.scope.is_some() {
            "scope"
        } else {
            "mark"
        }
    }

    /// Whether this is a scope start event.
    pub fn is_scope_start(&self) -> bool {
        matches!(&self.scope, Some(s) if s.scope_category == ScopeCategory::Start)
    }

    /// Whether this is a scope end event.
    pub fn is_scope_end(&self) -> bool {
        matches!(&self.scope, Some(s) if s.scope_category == ScopeCategory::End)
    }

    /// A `category_profile` entry.
    pub fn profile(&self, key: &str) -> Option<&Value> {
        self.category_profile.as_ref()?.get(key)
    }

    /// The canonical JSON object (keys sorted).
    pub fn to_json_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("atof_version".into(), Value::from(ATOF_VERSION));
        m.insert("kind".into(), Value::from(self.kind()));
        m.insert("parent_uuid".into(), opt_uuid(self.parent_uuid));
        m.insert("uuid".into(), Value::String(self.uuid.to_string()));
        m.insert(
            "root_uuid".into(),
            Value::String(self.root_uuid.to_string()),
        );
        m.insert(
            "timestamp".into(),
            Value::String(self.timestamp.to_rfc3339()),
        );
        m.insert("name".into(), Value::from(&*self.name));
        m.insert("data".into(), self.data.to_value());
        m.insert(
            "data_schema".into(),
            self.data_schema.as_deref().cloned().unwrap_or(Value::Null),
        );
        m.insert("metadata".into(), self.metadata.to_value());
        m.insert(
            "category".into(),
            self.category.as_deref().map_or(Value::Null, Value::from),
        );
        m.insert(
            "category_profile".into(),
            self.category_profile
                .as_deref()
                .cloned()
                .map_or(Value::Null, Value::Object),
        );
        if let Some(s) = &self.scope {
            m.insert(
                "scope_category".into(),
                Value::from(s.scope_category.as_str()),
            );
            m.insert("attributes".into(), Value::from(s.attributes.clone()));
            m.insert(
                "error".into(),
                s.error.as_ref().map_or(Value::Null, ErrorInfo::to_json),
            );
        }
        let mut v = Value::Object(m);
        // Canonical form: keys sorted at every level (payload maps keep the caller's order
        // everywhere else).
        v.sort_all_objects();
        v
    }

    /// Canonical JSON text, one line.
    pub fn to_json_string(&self) -> String {
        // Written directly, keys in sorted order: exporters write one line per event, and
        // building a map first costs several times more.
        use std::fmt::Write;
        let mut o =
            String::with_capacity(320 + self.data.as_str().len() + self.metadata.as_str().len());
        let _ = write!(o, r#"{{"atof_version":"{ATOF_VERSION}""#);
        if let Some(s) = &self.scope {
            o.push_str(r#","attributes":["#);
            for (i, a) in s.attributes.iter().enumerate() {
                let _ = write!(o, r#"{}"{a}""#, if i == 0 { "" } else { "," });
            }
            o.push(']');
        }
        o.push_str(r#","category":"#);
        match &self.category {
            Some(c) => o.push_str(&json_str(c)),
            None => o.push_str("null"),
        }
        o.push_str(r#","category_profile":"#);
        match &self.category_profile {
            Some(p) => push_canonical(&mut o, &Value::Object((**p).clone())),
            None => o.push_str("null"),
        }
        o.push_str(r#","data":"#);
        push_canonical_text(&mut o, &self.data);
        o.push_str(r#","data_schema":"#);
        match &self.data_schema {
            Some(d) => push_canonical(&mut o, d),
            None => o.push_str("null"),
        }
        if let Some(s) = &self.scope {
            o.push_str(r#","error":"#);
            match &s.error {
                Some(e) => push_canonical(&mut o, &e.to_json()),
                None => o.push_str("null"),
            }
        }
        let _ = write!(o, r#","kind":"{}","metadata":"#, self.kind());
        push_canonical_text(&mut o, &self.metadata);
        let _ = write!(o, r#","name":{},"parent_uuid":"#, json_str(&self.name));
        match self.parent_uuid {
            Some(u) => {
                let _ = write!(o, r#""{u}""#);
            }
            None => o.push_str("null"),
        }
        let _ = write!(o, r#","root_uuid":"{}""#, self.root_uuid);
        if let Some(s) = &self.scope {
            let _ = write!(o, r#","scope_category":"{}""#, s.scope_category.as_str());
        }
        let _ = write!(
            o,
            r#","timestamp":"{}","uuid":"{}"}}"#,
            self.timestamp.to_rfc3339(),
            self.uuid
        );
        o
    }
}

/// Appends `v` with object keys sorted at every level.
fn push_canonical(out: &mut String, v: &Value) {
    let mut v = v.clone();
    v.sort_all_objects();
    out.push_str(&v.to_string());
}

/// Appends a payload in canonical form; text without objects is already canonical.
fn push_canonical_text(out: &mut String, t: &JsonText) {
    let text = t.as_str();
    if text.contains('{') {
        push_canonical(out, &t.to_value());
    } else {
        out.push_str(text);
    }
}

fn opt_uuid(u: Option<Uuid>) -> Value {
    u.map_or(Value::Null, |u| Value::String(u.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn direct_writer_matches_the_canonical_map_form() {
        let mut profile = Map::new();
        profile.insert("z".into(), json!({"b": 1, "a": [{"d": 1, "c": 2}]}));
        profile.insert("model_name".into(), json!("m"));
        let scope = Event {
            scope: Some(ScopeFields {
                scope_category: ScopeCategory::End,
                attributes: vec!["parallel", "remote"],
                error: Some(ErrorInfo {
                    kind: "ValueError".into(),
                    message: "bad \"x\"\n".into(),
                }),
            }),
            parent_uuid: Some(Uuid::nil()),
            uuid: Uuid::from_u128(7),
            root_uuid: Uuid::from_u128(1),
            timestamp: Timestamp(1_577_836_801_500_000_000),
            name: Arc::from("tool \"q\""),
            category: Some(Cow::Borrowed("tool")),
            category_profile: Some(Box::new(profile)),
            data: JsonText::from_value(&json!({"y": 1, "x": {"k2": null, "k1": "é"}})),
            data_schema: Some(Box::new(json!({"version": "1", "name": "s"}))),
            metadata: JsonText::from_value(&json!([3, "t"])),
        };
        let mark = Event {
            scope: None,
            parent_uuid: None,
            category: None,
            category_profile: None,
            data_schema: None,
            metadata: JsonText::NULL,
            ..scope.clone()
        };
        for e in [scope, mark] {
            let text = e.to_json_string();
            assert_eq!(
                serde_json::from_str::<Value>(&text).unwrap(),
                e.to_json_value()
            );
            assert_eq!(
                text,
                e.to_json_value().to_string(),
                "byte-identical, keys sorted"
            );
        }
    }
}
