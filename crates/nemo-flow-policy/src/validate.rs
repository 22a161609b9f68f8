//! Validation: walks a component config (§3.1 of the design) once and either builds a
//! [`Component`] or returns every problem as a diagnostic, so no config error can surface
//! when a call is checked.

use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

use crate::config::{
    Component, Emit, InputDef, Kind, Mode, OnError, Policy, Requirement, ToolMap, Trigger,
    catalog_path_params,
};
use crate::diag::{Diagnostic, Diagnostics, Level, code};
use crate::eval::{Normalization, Options};
use crate::expr::{self, Scope};
use crate::glob::Glob;
use crate::paths::Symlinks;
use crate::rate::{Limiter, RateKey};

/// What happens to fields the schema does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownField {
    /// An error diagnostic.
    #[default]
    Error,
    /// A warning diagnostic.
    Warn,
    /// Nothing.
    Ignore,
}

/// Validates and compiles a component config. Errors come back as diagnostics (warnings
/// are returned alongside a built component).
pub fn validate(
    config: &Value,
    unknown_field: UnknownField,
) -> Result<(Arc<Component>, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut r = Reader {
        d: Diagnostics::default(),
        unknown: unknown_field,
    };
    let built = r.component(config);
    match built {
        Some(c) if !r.d.has_errors() => Ok((Arc::new(c), r.d.items)),
        _ => Err(r.d.items),
    }
}

struct Reader {
    d: Diagnostics,
    unknown: UnknownField,
}

const TOP: &[&str] = &[
    "version",
    "priority",
    "on_error",
    "unmapped_tools",
    "unicode_normalization",
    "symlinks",
    "path_base",
    "emit",
    "mode",
    "tools",
    "inputs",
    "inputs_from_scope",
    "policies",
];
const POLICY: &[&str] = &[
    "id",
    "kind",
    "mode",
    "trigger",
    "condition",
    "requires",
    "message",
    "rate",
    "per",
    "burst",
    "key",
];

fn at(base: &str, k: &str) -> String {
    if base.is_empty() {
        k.to_string()
    } else {
        format!("{base}.{k}")
    }
}

impl Reader {
    fn obj<'v>(
        &mut self,
        v: &'v Value,
        field: &str,
        keys: &[&str],
    ) -> Option<&'v Map<String, Value>> {
        let Value::Object(m) = v else {
            let what = if field.is_empty() {
                "the policy config"
            } else {
                field
            };
            self.d.error(
                code::INVALID_TYPE,
                field,
                format!("{what} must be an object"),
            );
            return None;
        };
        for k in m.keys() {
            if !keys.contains(&k.as_str()) {
                let level = match self.unknown {
                    UnknownField::Ignore => continue,
                    UnknownField::Warn => Level::Warning,
                    UnknownField::Error => Level::Error,
                };
                self.d.push(
                    level,
                    code::UNKNOWN_FIELD,
                    &at(field, k),
                    format!("unknown field '{k}'; expected one of {keys:?}"),
                );
            }
        }
        Some(m)
    }

    fn choice(
        &mut self,
        m: &Map<String, Value>,
        base: &str,
        k: &str,
        options: &[&'static str],
        default: &'static str,
    ) -> &'static str {
        match m.get(k) {
            None | Some(Value::Null) => default,
            Some(Value::String(s)) if options.contains(&s.as_str()) => options
                .iter()
                .find(|o| **o == s)
                .copied()
                .unwrap_or(default),
            Some(other) => {
                self.d.error(
                    code::INVALID_VALUE,
                    &at(base, k),
                    format!("'{k}' must be one of {options:?}, got {other}"),
                );
                default
            }
        }
    }

    fn string(&mut self, m: &Map<String, Value>, base: &str, k: &str) -> Option<String> {
        match m.get(k) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(_) => {
                self.d.error(
                    code::INVALID_TYPE,
                    &at(base, k),
                    format!("'{k}' must be a non-empty string"),
                );
                None
            }
        }
    }

    fn boolean(&mut self, m: &Map<String, Value>, base: &str, k: &str, default: bool) -> bool {
        match m.get(k) {
            None | Some(Value::Null) => default,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.d.error(
                    code::INVALID_TYPE,
                    &at(base, k),
                    format!("'{k}' must be true or false"),
                );
                default
            }
        }
    }

    fn positive(&mut self, m: &Map<String, Value>, base: &str, k: &str) -> Option<f64> {
        match m.get(k) {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) if n.as_f64().is_some_and(|f| f.is_finite() && f > 0.0) => {
                n.as_f64()
            }
            Some(_) => {
                self.d.error(
                    code::INVALID_VALUE,
                    &at(base, k),
                    format!("'{k}' must be a positive number"),
                );
                None
            }
        }
    }

    fn mode(&mut self, m: &Map<String, Value>, base: &str, default: Mode) -> Mode {
        let d = if default == Mode::Shadow {
            "shadow"
        } else {
            "enforce"
        };
        match self.choice(m, base, "mode", &["enforce", "shadow"], d) {
            "shadow" => Mode::Shadow,
            _ => Mode::Enforce,
        }
    }

    fn component(&mut self, v: &Value) -> Option<Component> {
        let m = self.obj(v, "", TOP)?;
        match m.get("version") {
            None | Some(Value::Null) => {}
            Some(Value::Number(n)) if n.as_u64() == Some(1) => {}
            Some(other) => self.d.error(
                code::UNSUPPORTED_VERSION,
                "version",
                format!("unsupported config version {other}; expected 1"),
            ),
        }
        let priority = match m.get("priority") {
            None | Some(Value::Null) => 50,
            Some(Value::Number(n)) if n.as_i64().is_some_and(|p| i32::try_from(p).is_ok()) => {
                n.as_i64().and_then(|p| i32::try_from(p).ok()).unwrap_or(50)
            }
            Some(_) => {
                self.d.error(
                    code::INVALID_TYPE,
                    "priority",
                    "'priority' must be an integer",
                );
                50
            }
        };
        let on_error = match self.choice(m, "", "on_error", &["deny", "allow"], "deny") {
            "allow" => OnError::Allow,
            _ => OnError::Deny,
        };
        let deny_unmapped =
            self.choice(m, "", "unmapped_tools", &["allow", "deny"], "allow") == "deny";
        let normalization = match m.get("unicode_normalization") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s == "NFC" => Some(Normalization::Nfc),
            Some(Value::String(s)) if s == "NFKC" => Some(Normalization::Nfkc),
            Some(other) => {
                self.d.error(
                    code::INVALID_VALUE,
                    "unicode_normalization",
                    format!(
                        "'unicode_normalization' must be null, \"NFC\" or \"NFKC\", got {other}"
                    ),
                );
                None
            }
        };
        let symlinks = match self.choice(m, "", "symlinks", &["follow", "reject"], "follow") {
            "reject" => Symlinks::Reject,
            _ => Symlinks::Follow,
        };
        let path_base = self.string(m, "", "path_base");
        let emit = match self.choice(m, "", "emit", &["none", "denials", "all"], "denials") {
            "none" => Emit::None,
            "all" => Emit::All,
            _ => Emit::Denials,
        };
        let mode = self.mode(m, "", Mode::Enforce);
        let tools = self.tools(m.get("tools"));
        let inputs = self.inputs(m.get("inputs"));
        let inputs_from_scope = self.boolean(m, "", "inputs_from_scope", false);
        let mut policies = Vec::new();
        match m.get("policies") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                let has_input = |n: &str| inputs_from_scope || inputs.contains_key(n);
                for (i, p) in items.iter().enumerate() {
                    if let Some(p) = self.policy(p, &format!("policies[{i}]"), mode, &has_input) {
                        if policies.iter().any(|q: &Policy| q.id == p.id) {
                            self.d.error(
                                code::DUPLICATE_ID,
                                &format!("policies[{i}].id"),
                                format!("policy id '{}' is used twice", p.id),
                            );
                        }
                        policies.push(p);
                    }
                }
            }
            Some(_) => self
                .d
                .error(code::INVALID_TYPE, "policies", "'policies' must be a list"),
        }
        let has_capability_triggers = policies.iter().any(|p| {
            matches!(
                &p.trigger,
                Trigger::Tool {
                    capability: Some(_),
                    ..
                }
            )
        });
        let mut arg_names: Vec<String> = Vec::new();
        for p in policies
            .iter_mut()
            .filter(|p| matches!(p.trigger, Trigger::Tool { .. }))
        {
            for (_, arg) in &p.bind {
                let slot = arg_names.iter().position(|a| a == arg).unwrap_or_else(|| {
                    arg_names.push(arg.clone());
                    arg_names.len() - 1
                });
                p.arg_slots.push(slot);
            }
        }
        let mut order: Vec<usize> = (0..policies.len()).collect();
        order.sort_by_key(|&i| match policies[i].kind {
            Kind::Deny => 0,
            Kind::RateLimit => 1,
            Kind::Before => 2,
        });
        Some(Component {
            priority,
            on_error,
            deny_unmapped,
            options: Options {
                normalization,
                symlinks,
                path_base,
            },
            emit,
            tools,
            inputs,
            inputs_from_scope,
            policies,
            has_capability_triggers,
            arg_names,
            order,
        })
    }

    /// An optional object keyed by names (absent or null: none).
    fn named_map<'v>(
        &mut self,
        v: Option<&'v Value>,
        field: &str,
        shape: &str,
    ) -> Option<&'v Map<String, Value>> {
        match v {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => Some(m),
            Some(_) => {
                self.d.error(
                    code::INVALID_TYPE,
                    field,
                    format!("'{field}' must be an object of {shape}"),
                );
                None
            }
        }
    }

    fn tools(&mut self, v: Option<&Value>) -> HashMap<String, ToolMap> {
        let mut out = HashMap::new();
        let Some(m) = self.named_map(v, "tools", "tool name → {capability, path_params}") else {
            return out;
        };
        for (name, t) in m {
            let f = format!("tools.{name}");
            let Some(tm) = self.obj(t, &f, &["capability", "path_params"]) else {
                continue;
            };
            let Some(capability) = self.string(tm, &f, "capability") else {
                self.d.error(
                    code::MISSING_FIELD,
                    &at(&f, "capability"),
                    "a tool mapping needs a 'capability'",
                );
                continue;
            };
            let path_params = match tm.get("path_params") {
                None | Some(Value::Null) => catalog_path_params(&capability)
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                Some(Value::Array(a))
                    if a.iter().all(|x| x.as_str().is_some_and(|s| !s.is_empty())) =>
                {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect()
                }
                Some(_) => {
                    self.d.error(
                        code::INVALID_TYPE,
                        &at(&f, "path_params"),
                        "'path_params' must be a list of argument names",
                    );
                    Vec::new()
                }
            };
            out.insert(
                name.clone(),
                ToolMap {
                    capability,
                    path_params,
                },
            );
        }
        out
    }

    fn inputs(&mut self, v: Option<&Value>) -> HashMap<String, InputDef> {
        let mut out = HashMap::new();
        let Some(m) = self.named_map(v, "inputs", "name → {type, value}") else {
            return out;
        };
        for (name, i) in m {
            let f = format!("inputs.{name}");
            let Some(im) = self.obj(i, &f, &["type", "value"]) else {
                continue;
            };
            let ty = self.choice(
                im,
                &f,
                "type",
                &["string", "path", "bool", "number", "string[]", "json"],
                "json",
            );
            out.insert(
                name.clone(),
                InputDef {
                    path: ty == "path",
                    value: im.get("value").cloned(),
                },
            );
        }
        out
    }

    fn policy(
        &mut self,
        v: &Value,
        f: &str,
        default_mode: Mode,
        has_input: &dyn Fn(&str) -> bool,
    ) -> Option<Policy> {
        let m = self.obj(v, f, POLICY)?;
        let id = self.string(m, f, "id");
        if id.is_none() && !m.contains_key("id") {
            self.d
                .error(code::MISSING_FIELD, &at(f, "id"), "a policy needs an 'id'");
        }
        let kind = match m.get("kind").and_then(Value::as_str) {
            Some("deny") => Some(Kind::Deny),
            Some("before") => Some(Kind::Before),
            Some("rate_limit") => Some(Kind::RateLimit),
            None if !m.contains_key("kind") => {
                self.d.error(
                    code::MISSING_FIELD,
                    &at(f, "kind"),
                    "a policy needs a 'kind' (deny, before or rate_limit)",
                );
                None
            }
            _ => {
                self.d.error(
                    code::INVALID_VALUE,
                    &at(f, "kind"),
                    "'kind' must be \"deny\", \"before\" or \"rate_limit\"",
                );
                None
            }
        };
        let mode = self.mode(m, f, default_mode);
        let (trigger, bind) = self.trigger(m.get("trigger"), &at(f, "trigger"))?;
        let bound: Vec<String> = bind.iter().map(|(v, _)| v.clone()).collect();
        let scope = Scope {
            bound: &bound,
            has_input,
        };
        let condition = match m.get("condition") {
            None | Some(Value::Null) => None,
            Some(c) => Some(expr::compile(c, &at(f, "condition"), &scope, &mut self.d)?),
        };
        let message = self.string(m, f, "message");
        let kind = kind?;
        if kind != Kind::RateLimit {
            for k in ["rate", "per", "burst", "key"] {
                if m.contains_key(k) {
                    self.d.error(
                        code::UNKNOWN_FIELD,
                        &at(f, k),
                        format!("'{k}' belongs to rate_limit policies"),
                    );
                }
            }
        }
        if kind != Kind::Before && m.get("requires").is_some_and(|r| !r.is_null()) {
            self.d.error(
                code::UNKNOWN_FIELD,
                &at(f, "requires"),
                "'requires' belongs to before policies",
            );
        }
        let mut requires = Vec::new();
        let mut limiter = None;
        match kind {
            Kind::Deny if condition.is_none() => {
                self.d.error(
                    code::DENY_WITHOUT_CONDITION,
                    &at(f, "condition"),
                    "a deny policy needs a condition (NemoIR silently skips one without)",
                );
            }
            Kind::Before => {
                requires = self.requires(m.get("requires"), &at(f, "requires"), &scope)?
            }
            Kind::RateLimit => {
                let rate = self.positive(m, f, "rate");
                let per = self.positive(m, f, "per").unwrap_or(1.0);
                let burst = self.positive(m, f, "burst");
                if rate.is_none() {
                    self.d.error(
                        code::MISSING_FIELD,
                        &at(f, "rate"),
                        "a rate_limit policy needs a positive 'rate' (calls per 'per' seconds)",
                    );
                }
                let key = match m.get("key") {
                    None | Some(Value::Null) => Some(RateKey::Tool),
                    Some(Value::String(s)) if s == "tool" => Some(RateKey::Tool),
                    Some(Value::String(s)) if s == "capability" => Some(RateKey::Capability),
                    Some(Value::String(s)) if s == "run" => Some(RateKey::Run),
                    Some(Value::Object(k))
                        if k.len() == 1 && k.get("bound").and_then(Value::as_str).is_some() =>
                    {
                        let name = k.get("bound").and_then(Value::as_str).unwrap_or_default();
                        match bound.iter().position(|b| b == name) {
                            Some(i) => Some(RateKey::Bound(i)),
                            None => {
                                self.d.error(
                                    code::UNKNOWN_BOUND,
                                    &at(f, "key"),
                                    format!(
                                        "rate key binds '{name}', which the trigger does not bind"
                                    ),
                                );
                                None
                            }
                        }
                    }
                    Some(_) => {
                        self.d.error(
                            code::INVALID_VALUE,
                            &at(f, "key"),
                            "'key' must be \"tool\", \"capability\", \"run\" or {\"bound\": name}",
                        );
                        None
                    }
                };
                if let (Some(rate), Some(key)) = (rate, key) {
                    limiter = Some(Limiter::new(rate, per, burst.unwrap_or(rate), key));
                }
            }
            Kind::Deny => {}
        }
        Some(Policy {
            id: id?,
            kind,
            mode,
            trigger,
            bind,
            arg_slots: Vec::new(),
            condition,
            requires,
            message,
            limiter,
        })
    }

    fn trigger(&mut self, v: Option<&Value>, f: &str) -> Option<(Trigger, Vec<(String, String)>)> {
        let Some(v) = v else {
            self.d
                .error(code::MISSING_FIELD, f, "a policy needs a 'trigger'");
            return None;
        };
        let m = self.obj(v, f, &["tool", "capability", "llm", "bind"])?;
        let tool = self.string(m, f, "tool");
        let capability = self.string(m, f, "capability");
        let llm = match m.get("llm") {
            None | Some(Value::Null) | Some(Value::Bool(false)) => None,
            Some(Value::Bool(true)) => Some(None),
            Some(Value::String(g)) if !g.is_empty() => Some(Some(Glob::new(g))),
            Some(_) => {
                self.d.error(
                    code::INVALID_TYPE,
                    &at(f, "llm"),
                    "'llm' must be true or a call-name glob",
                );
                None
            }
        };
        let mut bind = Vec::new();
        match m.get("bind") {
            None | Some(Value::Null) => {}
            Some(Value::Object(b)) => {
                for (var, arg) in b {
                    match arg.as_str().filter(|s| !s.is_empty()) {
                        Some(a) => bind.push((var.clone(), a.to_string())),
                        None => self.d.error(code::INVALID_TYPE, &format!("{f}.bind.{var}"), "a binding names a call argument (or, for LLM triggers, a dotted request field)"),
                    }
                }
            }
            Some(_) => self.d.error(
                code::INVALID_TYPE,
                &at(f, "bind"),
                "'bind' must be an object of variable → argument",
            ),
        }
        let trigger = match (llm, tool.is_some() || capability.is_some()) {
            (Some(_), true) => {
                self.d.error(
                    code::INVALID_VALUE,
                    f,
                    "a trigger is either 'llm' or 'tool'/'capability', not both",
                );
                return None;
            }
            (Some(g), false) => Trigger::Llm(g),
            (None, true) => Trigger::Tool { tool, capability },
            (None, false) => {
                self.d.error(
                    code::TRIGGER_WITHOUT_TARGET,
                    f,
                    "a trigger needs 'tool', 'capability' or 'llm'",
                );
                return None;
            }
        };
        Some((trigger, bind))
    }

    fn requires(
        &mut self,
        v: Option<&Value>,
        f: &str,
        scope: &Scope<'_>,
    ) -> Option<Vec<Requirement>> {
        let items = match v {
            Some(Value::Array(a)) if !a.is_empty() => a,
            None | Some(Value::Null) | Some(Value::Array(_)) => {
                self.d.error(
                    code::BEFORE_WITHOUT_REQUIRES,
                    f,
                    "a before policy needs at least one requirement",
                );
                return None;
            }
            Some(_) => {
                self.d
                    .error(code::INVALID_TYPE, f, "'requires' must be a list");
                return None;
            }
        };
        let mut out = Vec::new();
        for (i, r) in items.iter().enumerate() {
            let rf = format!("{f}[{i}]");
            let m = self.obj(r, &rf, &["capability", "approver", "args"])?;
            match m.get("capability").and_then(Value::as_str) {
                Some("user.confirm") => {}
                other => {
                    self.d.error(
                        code::UNSUPPORTED_REQUIREMENT,
                        &at(&rf, "capability"),
                        format!("only 'user.confirm' requirements are supported, got {other:?}"),
                    );
                    continue;
                }
            }
            let approver = self
                .string(m, &rf, "approver")
                .unwrap_or_else(|| "default".into());
            let mut message = None;
            match m.get("args") {
                None | Some(Value::Null) => {}
                Some(a) => {
                    let af = at(&rf, "args");
                    let am = self.obj(a, &af, &["message"])?;
                    if let Some(e) = am.get("message") {
                        message = Some(expr::compile(e, &at(&af, "message"), scope, &mut self.d)?);
                    }
                }
            }
            out.push(Requirement { approver, message });
        }
        Some(out)
    }
}
