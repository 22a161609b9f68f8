//! Importer: a component config from a NemoIR `WorkflowManifest` (as
//! `dataclasses.asdict`). Expressions are kept in NemoIR's native spelling; wherever our
//! semantics differ from NemoIR's, a `policy.nemoir_semantics_differ` warning says so, and
//! where equivalence can be kept (a deny without condition, a before's condition, a typed
//! path literal) the importer keeps it.

use serde_json::{Map, Value, json};

use crate::diag::{Diagnostic, Diagnostics, code};

/// `(config, diagnostics)` for `manifest`, with `inputs` as the input values.
pub fn config_from_manifest(manifest: &Value, inputs: &Value) -> (Value, Vec<Diagnostic>) {
    let mut d = Diagnostics::default();
    let manifest = strip_nulls(manifest);
    let mut policies = Vec::new();
    let items = manifest
        .get("policies")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (i, p) in items.iter().enumerate() {
        let f = format!("policies[{i}]");
        let id = p.get("id").cloned().unwrap_or(Value::Null);
        let kind = p.get("kind").and_then(Value::as_str).unwrap_or("");
        let mut condition = p
            .get("condition")
            .cloned()
            .map(|c| untype_path_literals(c, &format!("{f}.condition"), &mut d));
        if kind == "deny" && condition.is_none() {
            d.warning(code::NEMOIR_SEMANTICS_DIFFER, &f, "skipped: NemoIR never evaluates a deny policy without a condition (here it would be a config error)");
            continue;
        }
        if kind == "before" && condition.is_some() {
            d.warning(
                code::NEMOIR_SEMANTICS_DIFFER,
                &format!("{f}.condition"),
                "dropped: NemoIR ignores a before policy's condition (nemo_flow would honour it)",
            );
            condition = None;
        }
        let mut out = Map::new();
        out.insert("id".into(), id);
        out.insert("kind".into(), Value::String(kind.to_string()));
        out.insert(
            "trigger".into(),
            json!({
                "capability": p.pointer("/trigger/capability").cloned().unwrap_or(Value::Null),
                "bind": p.pointer("/trigger/bind").cloned().unwrap_or(json!({})),
            }),
        );
        if let Some(c) = condition {
            out.insert("condition".into(), c);
        }
        if kind == "before" {
            let reqs = p
                .get("requires")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let converted: Vec<Value> = reqs
                .iter()
                .enumerate()
                .map(|(j, r)| requirement(r, &format!("{f}.requires[{j}]"), &mut d))
                .collect();
            out.insert("requires".into(), Value::Array(converted));
        }
        policies.push(Value::Object(out));
    }
    if !policies.is_empty() {
        d.warning(code::NEMOIR_SEMANTICS_DIFFER, "policies", "an evaluation error rejects the call (the model sees it and the run goes on); NemoIR aborts the run");
        d.warning(code::NEMOIR_SEMANTICS_DIFFER, "policies", "an approver answer other than True/False fails closed; NemoIR lets anything but False through");
    }
    let mut declared = Map::new();
    for i in manifest
        .get("inputs")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
    {
        let Some(name) = i.get("name").and_then(Value::as_str) else {
            continue;
        };
        let mut def = Map::new();
        def.insert(
            "type".into(),
            i.get("type").cloned().unwrap_or(json!("json")),
        );
        if let Some(v) = inputs.get(name) {
            def.insert("value".into(), v.clone());
        }
        declared.insert(name.to_string(), Value::Object(def));
    }
    let config = json!({"version": 1, "inputs": declared, "policies": policies});
    (config, d.items)
}

fn requirement(r: &Value, f: &str, d: &mut Diagnostics) -> Value {
    let mut out = Map::new();
    out.insert(
        "capability".into(),
        r.get("capability").cloned().unwrap_or(Value::Null),
    );
    out.insert("approver".into(), json!("default"));
    let mut args = Map::new();
    for (k, refspec) in r
        .get("args")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
    {
        // RefSpec → the native ref expression (node_output stays, and validation reports it).
        args.insert(k, json!({"kind": "ref", "ref": refspec}));
    }
    if !args.is_empty() {
        out.insert("args".into(), Value::Object(args));
    }
    if r.get("capability").and_then(Value::as_str) != Some("user.confirm") {
        d.error(code::UNSUPPORTED_REQUIREMENT, &format!("{f}.capability"), "only user.confirm requirements can be imported (NemoIR would call that capability's tool)");
    }
    Value::Object(out)
}

/// NemoIR ignores a literal's `type`, so a `path` literal stays a string there; dropping
/// the type keeps the imported policy equivalent.
fn untype_path_literals(mut e: Value, f: &str, d: &mut Diagnostics) -> Value {
    fn walk(e: &mut Value, found: &mut bool) {
        match e {
            Value::Object(m) => {
                if m.get("kind").and_then(Value::as_str) == Some("literal")
                    && m.get("type").and_then(Value::as_str) == Some("path")
                {
                    m.remove("type");
                    *found = true;
                }
                m.values_mut().for_each(|v| walk(v, found));
            }
            Value::Array(a) => a.iter_mut().for_each(|v| walk(v, found)),
            _ => {}
        }
    }
    let mut found = false;
    walk(&mut e, &mut found);
    if found {
        d.warning(code::NEMOIR_SEMANTICS_DIFFER, f, "path-typed literals imported as strings, as NemoIR evaluates them (nemo_flow would type them as paths)");
    }
    e
}

fn strip_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_nulls).collect()),
        other => other.clone(),
    }
}
