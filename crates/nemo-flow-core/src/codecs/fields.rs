//! Typed field access for the provider codecs. Every failure is a `ValueError` callback
//! error that names the codec and the offending field, e.g.
//! `OpenAIChatCodec: messages[2].role: expected a string, got number`.

use serde_json::{Map, Value};

use crate::error::CallbackError;

pub(crate) type Res<T> = Result<T, CallbackError>;

/// The error for a field that holds the wrong kind of value.
pub(crate) fn bad(codec: &str, field: &str, expected: &str, got: &Value) -> CallbackError {
    CallbackError::new(
        "ValueError",
        format!("{codec}: {field}: expected {expected}, got {}", kind(got)),
    )
}

/// The error for a required field that is missing.
pub(crate) fn missing(codec: &str, field: &str, expected: &str) -> CallbackError {
    CallbackError::new(
        "ValueError",
        format!("{codec}: {field}: expected {expected}, but it is missing"),
    )
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

/// An object payload read by one codec; `path` prefixes field names in errors.
pub(crate) struct Obj<'a> {
    pub codec: &'static str,
    pub path: String,
    pub map: &'a Map<String, Value>,
}

impl<'a> Obj<'a> {
    /// `v` as an object, or an error naming `path`.
    pub fn of(codec: &'static str, path: impl Into<String>, v: &'a Value) -> Res<Self> {
        let path = path.into();
        match v {
            Value::Object(map) => Ok(Self { codec, path, map }),
            other => Err(bad(codec, &path, "an object", other)),
        }
    }

    /// A request body: its fields are named from the top level in errors (`messages[0]`,
    /// not `content.messages[0]`), while a non-object body is reported as `content`.
    pub fn body(codec: &'static str, content: &'a Value) -> Res<Self> {
        let o = Self::of(codec, "content", content)?;
        Ok(Self {
            path: String::new(),
            ..o
        })
    }

    /// The full name of `key` for error messages.
    pub fn at(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The value of `key`; JSON null counts as absent (SDKs serialize unset fields as null).
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn typed<T>(
        &self,
        key: &str,
        expected: &str,
        f: impl Fn(&'a Value) -> Option<T>,
    ) -> Res<Option<T>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => f(v)
                .map(Some)
                .ok_or_else(|| bad(self.codec, &self.at(key), expected, v)),
        }
    }

    pub fn str(&self, key: &str) -> Res<Option<&'a str>> {
        self.typed(key, "a string", Value::as_str)
    }

    pub fn string(&self, key: &str) -> Res<Option<String>> {
        Ok(self.str(key)?.map(str::to_owned))
    }

    pub fn req_str(&self, key: &str) -> Res<&'a str> {
        self.str(key)?
            .ok_or_else(|| missing(self.codec, &self.at(key), "a string"))
    }

    pub fn bool(&self, key: &str) -> Res<Option<bool>> {
        self.typed(key, "a bool", Value::as_bool)
    }

    pub fn u64(&self, key: &str) -> Res<Option<u64>> {
        self.typed(key, "a non-negative integer", Value::as_u64)
    }

    /// A number, kept as the JSON value it was (integer or float).
    pub fn number(&self, key: &str) -> Res<Option<Value>> {
        self.typed(key, "a number", |v| v.is_number().then(|| v.clone()))
    }

    pub fn array(&self, key: &str) -> Res<Option<&'a Vec<Value>>> {
        self.typed(key, "a list", Value::as_array)
    }

    pub fn object(&self, key: &str) -> Res<Option<Obj<'a>>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => Obj::of(self.codec, self.at(key), v).map(Some),
        }
    }

    pub fn map(&self, key: &str) -> Res<Option<Map<String, Value>>> {
        Ok(self.object(key)?.map(|o| o.map.clone()))
    }

    pub fn strings(&self, key: &str) -> Res<Option<Vec<String>>> {
        let Some(items) = self.array(key)? else {
            return Ok(None);
        };
        items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str().map(str::to_owned).ok_or_else(|| {
                    bad(self.codec, &format!("{}[{i}]", self.at(key)), "a string", v)
                })
            })
            .collect::<Res<Vec<_>>>()
            .map(Some)
    }

    /// Every entry whose key is not in `known`.
    pub fn rest(&self, known: &[&str]) -> Map<String, Value> {
        self.map
            .iter()
            .filter(|(k, _)| !known.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// Sets `key` to `v`, or removes it (keeping the order of the other keys) when `v` is `None`.
pub(crate) fn put(out: &mut Map<String, Value>, key: &str, v: Option<Value>) {
    match v {
        Some(v) => {
            out.insert(key.to_string(), v);
        }
        None => {
            out.shift_remove(key);
        }
    }
}

/// Starts an encoded body from `base` (the request being encoded onto): keys the codec owns
/// are rewritten by the caller, keys the annotation's `extra` no longer holds are dropped,
/// and `extra` is applied last.
pub(crate) fn encode_base(
    base: &Value,
    owned: &[&str],
    extra: &Map<String, Value>,
) -> Map<String, Value> {
    let mut out = match base {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    out.retain(|k, _| owned.contains(&k.as_str()) || extra.contains_key(k));
    out
}

/// Applies the annotation's `extra` over an encoded body.
pub(crate) fn apply_extra(out: &mut Map<String, Value>, extra: &Map<String, Value>) {
    for (k, v) in extra {
        out.insert(k.clone(), v.clone());
    }
}

/// Tool-call arguments as JSON: a string is parsed when it holds JSON, else kept as is.
pub(crate) fn parse_arguments(v: &Value) -> Value {
    match v {
        Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| v.clone()),
        other => other.clone(),
    }
}

/// Tool-call arguments as the JSON string OpenAI carries.
pub(crate) fn arguments_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "{}".to_string(),
        other => other.to_string(),
    }
}

/// Builds a usage map, leaving out counts the provider did not report.
pub(crate) fn usage(
    prompt: Option<u64>,
    completion: Option<u64>,
    total: Option<u64>,
    cache_read: Option<u64>,
    cache_write: Option<u64>,
) -> Option<Map<String, Value>> {
    let mut m = Map::new();
    for (k, v) in [
        ("prompt_tokens", prompt),
        ("completion_tokens", completion),
        ("total_tokens", total),
        ("cache_read_tokens", cache_read),
        ("cache_write_tokens", cache_write),
    ] {
        if let Some(v) = v {
            m.insert(k.into(), Value::from(v));
        }
    }
    (!m.is_empty()).then_some(m)
}
