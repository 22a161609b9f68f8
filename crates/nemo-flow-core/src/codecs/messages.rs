//! Validation of normalized (Chat-shaped) messages and tool declarations, shared by the
//! codecs: each refusal names the codec and the field.

use serde_json::{Value, json};

use super::fields::{Obj, Res, bad, missing};

/// Checks one normalized (Chat-shaped) message; `path` names it in errors.
pub(crate) fn check_message(codec: &'static str, path: String, m: &Value) -> Res<()> {
    let o = Obj::of(codec, path, m)?;
    let role = o.req_str("role")?;
    if let Some(c) = o.get("content") {
        check_content(codec, &o.at("content"), c)?;
    }
    if role == "tool" {
        o.req_str("tool_call_id")?;
    }
    if let Some(calls) = o.array("tool_calls")? {
        for (i, call) in calls.iter().enumerate() {
            let call = Obj::of(codec, format!("{}[{i}]", o.at("tool_calls")), call)?;
            let f = call
                .object("function")?
                .ok_or_else(|| missing(codec, &call.at("function"), "an object"))?;
            f.req_str("name")?;
        }
    }
    Ok(())
}

fn check_content(codec: &'static str, path: &str, c: &Value) -> Res<()> {
    match c {
        Value::String(_) => Ok(()),
        Value::Array(parts) => {
            for (i, p) in parts.iter().enumerate() {
                Obj::of(codec, format!("{path}[{i}]"), p)?.req_str("type")?;
            }
            Ok(())
        }
        other => Err(bad(
            codec,
            path,
            "a string or a list of content parts",
            other,
        )),
    }
}

/// Checks a list of normalized messages.
pub(crate) fn check_messages(codec: &'static str, messages: &[Value]) -> Res<()> {
    for (i, m) in messages.iter().enumerate() {
        check_message(codec, format!("messages[{i}]"), m)?;
    }
    Ok(())
}

/// Checks Chat-shaped tool declarations (`{type, function{name, …}}`; other types pass).
pub(crate) fn check_tools(codec: &'static str, path: &str, tools: &[Value]) -> Res<()> {
    for (i, t) in tools.iter().enumerate() {
        let t = Obj::of(codec, format!("{path}[{i}]"), t)?;
        if t.req_str("type")? == "function" {
            let f = t
                .object("function")?
                .ok_or_else(|| missing(codec, &t.at("function"), "an object"))?;
            f.req_str("name")?;
        }
    }
    Ok(())
}

/// `stop` as a list of strings (a single string becomes a one-element list).
pub(crate) fn stop_list(o: &Obj<'_>, key: &str) -> Res<Option<Value>> {
    match o.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(json!([s]))),
        Some(_) => Ok(o.strings(key)?.map(|v| json!(v))),
    }
}
