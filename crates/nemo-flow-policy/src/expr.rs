//! The expression tree and its compiler. Both spellings parse to one tree when the config
//! is validated: the sugar (`{"not": e}`, `{"eq": [a, b]}`, `{"bound": "x"}`…) and NemoIR's
//! native form (`dataclasses.asdict(ExprSpec)` without the `None`s). Every malformed
//! expression is a diagnostic here, so evaluation never meets an unknown shape.

use serde_json::{Map, Value};

use crate::diag::{Diagnostics, code};

/// A predicate over two operands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// NemoIR `eq`: raises on numbers, path-aware, strings raw.
    Eq,
    /// Both operands strings.
    StartsWith,
    /// Substring for strings, containment for a path receiver.
    Contains,
    /// `Path(root).contains(candidate)`, the root always taken as a path.
    PathWithin,
}

/// `compare` operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `>`
    Gt,
    /// `>=`
    Gte,
    /// `<`
    Lt,
    /// `<=`
    Lte,
}

/// `binop` operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
}

/// A compiled expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A JSON literal.
    Lit(Value),
    /// A path literal.
    Path(String),
    /// The n-th variable the trigger binds.
    Bound(usize),
    /// A workflow input.
    Input(String),
    /// Truthiness negation.
    Not(Box<Expr>),
    /// Short-circuit conjunction (empty: true).
    And(Vec<Expr>),
    /// Short-circuit disjunction (empty: false).
    Or(Vec<Expr>),
    /// `receiver.method(argument)`.
    Call(Method, Box<Expr>, Box<Expr>),
    /// Ordering comparison; a null operand gives false.
    Compare(CmpOp, Box<Expr>, Box<Expr>),
    /// Arithmetic; a null operand gives null.
    Binop(BinOp, Box<Expr>, Box<Expr>),
}

/// What names an expression may refer to.
pub struct Scope<'a> {
    /// Variables the trigger binds, in order.
    pub bound: &'a [String],
    /// Whether `name` is a known input.
    pub has_input: &'a dyn Fn(&str) -> bool,
}

/// Compiles `v` found at `field`; `None` (with diagnostics) when it is malformed.
pub fn compile(v: &Value, field: &str, scope: &Scope<'_>, d: &mut Diagnostics) -> Option<Expr> {
    match v {
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {
            Some(Expr::Lit(v.clone()))
        }
        Value::Array(_) => {
            d.error(
                code::UNKNOWN_EXPRESSION,
                field,
                "a JSON array is not an expression (use {\"in\": [e, [...]]} for membership)",
            );
            None
        }
        Value::Object(m) if m.contains_key("kind") => native(m, field, scope, d),
        Value::Object(m) => sugar(m, field, scope, d),
    }
}

fn sugar(
    m: &Map<String, Value>,
    field: &str,
    scope: &Scope<'_>,
    d: &mut Diagnostics,
) -> Option<Expr> {
    let mut it = m.iter();
    let (Some((key, arg)), None) = (it.next(), it.next()) else {
        let keys: Vec<&str> = m.keys().map(String::as_str).collect();
        d.error(
            code::UNKNOWN_EXPRESSION,
            field,
            format!("an expression object has exactly one key (or a 'kind'), got {keys:?}"),
        );
        return None;
    };
    let at = format!("{field}.{key}");
    match key.as_str() {
        "not" => Some(Expr::Not(Box::new(compile(arg, &at, scope, d)?))),
        "and" | "or" => {
            let items = list(arg, &at, d)?;
            let exprs = compile_all(items, &at, scope, d)?;
            Some(if key == "and" {
                Expr::And(exprs)
            } else {
                Expr::Or(exprs)
            })
        }
        "eq" | "starts_with" | "contains" | "path_within" => {
            let [a, b] = pair(arg, &at, key, d)?;
            let a = compile(a, &format!("{at}[0]"), scope, d);
            let b = compile(b, &format!("{at}[1]"), scope, d);
            let (a, b) = (a?, b?);
            Some(match key.as_str() {
                "eq" => Expr::Call(Method::Eq, Box::new(a), Box::new(b)),
                "starts_with" => Expr::Call(Method::StartsWith, Box::new(a), Box::new(b)),
                "contains" => Expr::Call(Method::Contains, Box::new(a), Box::new(b)),
                // path_within(candidate, root) == root.contains(candidate)
                _ => Expr::Call(Method::PathWithin, Box::new(b), Box::new(a)),
            })
        }
        "in" => {
            let [e, options] = pair(arg, &at, key, d)?;
            let e = compile(e, &format!("{at}[0]"), scope, d)?;
            let Value::Array(options) = options else {
                d.error(
                    code::INVALID_TYPE,
                    &format!("{at}[1]"),
                    "'in' expects a list of literals",
                );
                return None;
            };
            Some(Expr::Or(
                options
                    .iter()
                    .map(|o| {
                        Expr::Call(
                            Method::Eq,
                            Box::new(e.clone()),
                            Box::new(Expr::Lit(o.clone())),
                        )
                    })
                    .collect(),
            ))
        }
        "bound" => bound_ref(arg, &at, scope, d),
        "input" => input_ref(arg, &at, scope, d),
        "path" => match arg {
            Value::String(s) => Some(Expr::Path(s.clone())),
            _ => {
                d.error(code::INVALID_TYPE, &at, "a path literal must be a string");
                None
            }
        },
        other => {
            d.error(
                code::UNKNOWN_EXPRESSION,
                &at,
                format!(
                    "unknown expression '{other}'; expected one of not, and, or, eq, starts_with, \
                     contains, path_within, in, bound, input, path"
                ),
            );
            None
        }
    }
}

fn list<'v>(v: &'v Value, at: &str, d: &mut Diagnostics) -> Option<&'v [Value]> {
    match v {
        Value::Array(a) => Some(a),
        _ => {
            d.error(code::INVALID_TYPE, at, "expected a list of expressions");
            None
        }
    }
}

fn pair<'v>(v: &'v Value, at: &str, what: &str, d: &mut Diagnostics) -> Option<[&'v Value; 2]> {
    match v {
        Value::Array(a) if a.len() == 2 => Some([&a[0], &a[1]]),
        Value::Array(a) => {
            d.error(
                code::WRONG_ARITY,
                at,
                format!("'{what}' takes exactly 2 operands, got {}", a.len()),
            );
            None
        }
        _ => {
            d.error(
                code::INVALID_TYPE,
                at,
                format!("'{what}' expects a list of 2 operands"),
            );
            None
        }
    }
}

fn compile_all(
    items: &[Value],
    at: &str,
    scope: &Scope<'_>,
    d: &mut Diagnostics,
) -> Option<Vec<Expr>> {
    let out: Vec<Option<Expr>> = items
        .iter()
        .enumerate()
        .map(|(i, e)| compile(e, &format!("{at}[{i}]"), scope, d))
        .collect();
    out.into_iter().collect()
}

fn name_of<'v>(v: &'v Value, at: &str, d: &mut Diagnostics) -> Option<&'v str> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s),
        _ => {
            d.error(
                code::INVALID_TYPE,
                at,
                "a reference names a variable with a non-empty string",
            );
            None
        }
    }
}

fn bound_ref(v: &Value, at: &str, scope: &Scope<'_>, d: &mut Diagnostics) -> Option<Expr> {
    let name = name_of(v, at, d)?;
    match scope.bound.iter().position(|b| b == name) {
        Some(i) => Some(Expr::Bound(i)),
        None => {
            d.error(
                code::UNKNOWN_BOUND,
                at,
                format!(
                    "bound variable '{name}' is not bound by the trigger (bind: {:?})",
                    scope.bound
                ),
            );
            None
        }
    }
}

fn input_ref(v: &Value, at: &str, scope: &Scope<'_>, d: &mut Diagnostics) -> Option<Expr> {
    let name = name_of(v, at, d)?;
    if !(scope.has_input)(name) {
        d.error(
            code::UNKNOWN_INPUT,
            at,
            format!("input '{name}' is not declared in 'inputs' (and inputs_from_scope is off)"),
        );
        return None;
    }
    Some(Expr::Input(name.to_string()))
}

/// Keys every native expression may carry (asdict keeps the empty tuples).
const NATIVE_ALWAYS: [&str; 3] = ["kind", "args", "exprs"];

fn native(
    m: &Map<String, Value>,
    field: &str,
    scope: &Scope<'_>,
    d: &mut Diagnostics,
) -> Option<Expr> {
    let kind = match m.get("kind") {
        Some(Value::String(k)) => k.as_str(),
        _ => {
            d.error(
                code::INVALID_TYPE,
                &format!("{field}.kind"),
                "'kind' must be a string",
            );
            return None;
        }
    };
    let allowed: &[&str] = match kind {
        "not" => &["expr"],
        "and" | "or" => &[],
        "method_call" => &["receiver", "method"],
        "ref" => &["ref"],
        "literal" => &["value", "type"],
        "compare" | "binop" => &["op", "left", "right"],
        other => {
            d.error(
                code::UNKNOWN_EXPRESSION,
                &format!("{field}.kind"),
                format!(
                    "unknown expression kind '{other}'; expected not, and, or, method_call, ref, \
                     literal, compare or binop"
                ),
            );
            return None;
        }
    };
    let mut ok = true;
    for k in m.keys() {
        if !NATIVE_ALWAYS.contains(&k.as_str()) && !allowed.contains(&k.as_str()) {
            d.error(
                code::UNKNOWN_EXPRESSION,
                &format!("{field}.{k}"),
                format!("'{k}' is not a field of a '{kind}' expression"),
            );
            ok = false;
        }
    }
    let empty = Value::Array(Vec::new());
    let args = m.get("args").unwrap_or(&empty);
    let exprs = m.get("exprs").unwrap_or(&empty);
    if kind != "method_call" && args.as_array().is_none_or(|a| !a.is_empty()) {
        d.error(
            code::UNKNOWN_EXPRESSION,
            &format!("{field}.args"),
            format!("a '{kind}' expression takes no 'args'"),
        );
        ok = false;
    }
    if !matches!(kind, "and" | "or") && exprs.as_array().is_none_or(|a| !a.is_empty()) {
        d.error(
            code::UNKNOWN_EXPRESSION,
            &format!("{field}.exprs"),
            format!("a '{kind}' expression takes no 'exprs'"),
        );
        ok = false;
    }
    if !ok {
        return None;
    }
    let sub = |k: &str, d: &mut Diagnostics| -> Option<Expr> {
        let at = format!("{field}.{k}");
        match m.get(k) {
            Some(v) => compile(v, &at, scope, d),
            None => {
                d.error(
                    code::WRONG_ARITY,
                    &at,
                    format!("a '{kind}' expression needs '{k}'"),
                );
                None
            }
        }
    };
    match kind {
        "not" => Some(Expr::Not(Box::new(sub("expr", d)?))),
        "and" | "or" => {
            let at = format!("{field}.exprs");
            let exprs = compile_all(list(exprs, &at, d)?, &at, scope, d)?;
            Some(if kind == "and" {
                Expr::And(exprs)
            } else {
                Expr::Or(exprs)
            })
        }
        "method_call" => {
            let method = match m.get("method").and_then(Value::as_str) {
                Some("eq") => Method::Eq,
                Some("starts_with") => Method::StartsWith,
                Some("contains") => Method::Contains,
                other => {
                    d.error(
                        code::UNKNOWN_METHOD,
                        &format!("{field}.method"),
                        format!("unknown method {other:?}; expected eq, starts_with or contains"),
                    );
                    return None;
                }
            };
            let at = format!("{field}.args");
            let items = list(args, &at, d)?;
            if items.len() != 1 {
                d.error(
                    code::WRONG_ARITY,
                    &at,
                    format!(
                        "a method call takes exactly 1 argument, got {}",
                        items.len()
                    ),
                );
                return None;
            }
            let receiver = sub("receiver", d);
            let arg = compile(&items[0], &format!("{at}[0]"), scope, d);
            Some(Expr::Call(method, Box::new(receiver?), Box::new(arg?)))
        }
        "ref" => native_ref(m.get("ref"), &format!("{field}.ref"), scope, d),
        "literal" => {
            let value = m.get("value").cloned().unwrap_or(Value::Null);
            match (m.get("type").and_then(Value::as_str), value) {
                (Some("path"), Value::String(s)) => Some(Expr::Path(s)),
                (_, v) => Some(Expr::Lit(v)),
            }
        }
        _ => {
            let op = m.get("op").and_then(Value::as_str).unwrap_or("");
            let at = format!("{field}.op");
            let (l, r) = (sub("left", d), sub("right", d));
            if kind == "compare" {
                let op = match op {
                    "gt" => CmpOp::Gt,
                    "gte" => CmpOp::Gte,
                    "lt" => CmpOp::Lt,
                    "lte" => CmpOp::Lte,
                    _ => {
                        d.error(
                            code::UNKNOWN_EXPRESSION,
                            &at,
                            format!("unknown compare op '{op}'; expected gt, gte, lt or lte"),
                        );
                        return None;
                    }
                };
                Some(Expr::Compare(op, Box::new(l?), Box::new(r?)))
            } else {
                let op = match op {
                    "add" => BinOp::Add,
                    "sub" => BinOp::Sub,
                    "mul" => BinOp::Mul,
                    "div" => BinOp::Div,
                    _ => {
                        d.error(
                            code::UNKNOWN_EXPRESSION,
                            &at,
                            format!("unknown binop '{op}'; expected add, sub, mul or div"),
                        );
                        return None;
                    }
                };
                Some(Expr::Binop(op, Box::new(l?), Box::new(r?)))
            }
        }
    }
}

fn native_ref(v: Option<&Value>, at: &str, scope: &Scope<'_>, d: &mut Diagnostics) -> Option<Expr> {
    let Some(Value::Object(r)) = v else {
        d.error(
            code::WRONG_ARITY,
            at,
            "a 'ref' expression needs a 'ref' object",
        );
        return None;
    };
    for k in r.keys() {
        if !matches!(k.as_str(), "kind" | "name" | "node" | "field") {
            d.error(
                code::UNKNOWN_EXPRESSION,
                &format!("{at}.{k}"),
                format!("'{k}' is not a field of a ref"),
            );
            return None;
        }
    }
    let name = r.get("name").unwrap_or(&Value::Null);
    match r.get("kind").and_then(Value::as_str) {
        Some("bound") => bound_ref(name, &format!("{at}.name"), scope, d),
        Some("input") => input_ref(name, &format!("{at}.name"), scope, d),
        Some("node_output") => {
            d.error(
                code::NODE_OUTPUT_REF,
                &format!("{at}.kind"),
                "policies cannot read stage outputs ('node_output' refs); use 'bound' or 'input'",
            );
            None
        }
        other => {
            d.error(
                code::UNKNOWN_EXPRESSION,
                &format!("{at}.kind"),
                format!("unknown ref kind {other:?}; expected bound or input"),
            );
            None
        }
    }
}
