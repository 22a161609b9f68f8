//! Building OTLP attribute lists.

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use serde_json::Value;

/// Longest string attribute value kept; longer ones are cut and marked.
pub const MAX_VALUE_CHARS: usize = 64 * 1024;
const TRUNCATED: &str = "…[truncated]";

/// An attribute list being built.
#[derive(Default)]
pub struct Attrs(pub Vec<KeyValue>);

fn kv(key: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

/// A string cut to [`MAX_VALUE_CHARS`] (on a character boundary) with a marker.
pub fn capped(s: &str) -> String {
    if s.len() <= MAX_VALUE_CHARS {
        return s.to_owned();
    }
    let mut end = MAX_VALUE_CHARS;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{TRUNCATED}", &s[..end])
}

impl Attrs {
    /// A string attribute.
    pub fn str(&mut self, key: &str, v: impl AsRef<str>) {
        self.0
            .push(kv(key, any_value::Value::StringValue(capped(v.as_ref()))));
    }

    /// A string attribute when `v` is set.
    pub fn opt_str(&mut self, key: &str, v: Option<impl AsRef<str>>) {
        if let Some(v) = v {
            self.str(key, v);
        }
    }

    /// An integer attribute when `v` is set.
    pub fn opt_int(&mut self, key: &str, v: Option<i64>) {
        if let Some(v) = v {
            self.0.push(kv(key, any_value::Value::IntValue(v)));
        }
    }

    /// A boolean attribute.
    pub fn bool(&mut self, key: &str, v: bool) {
        self.0.push(kv(key, any_value::Value::BoolValue(v)));
    }

    /// A string-array attribute.
    pub fn strs(&mut self, key: &str, v: &[String]) {
        let values = v
            .iter()
            .map(|s| AnyValue {
                value: Some(any_value::Value::StringValue(capped(s))),
            })
            .collect();
        self.0.push(kv(
            key,
            any_value::Value::ArrayValue(opentelemetry_proto::tonic::common::v1::ArrayValue {
                values,
            }),
        ));
    }

    /// JSON text kept by an event, as a string attribute, unless it is null (no re-encoding).
    pub fn json_text(&mut self, key: &str, v: &nemo_flow_core::event::JsonText) {
        if !v.is_null() {
            self.str(key, v.as_str());
        }
    }

    /// A JSON value as a string attribute, unless it is null.
    pub fn json(&mut self, key: &str, v: &Value) {
        if !v.is_null() {
            self.str(key, v.to_string());
        }
    }
}
