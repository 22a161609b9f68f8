//! Evaluation, exactly as NemoIR's `_eval_expr_impl` (truthiness, short-circuit left to
//! right, `eq` refusing numbers, path-aware `eq`/`contains`), over JSON values plus a path
//! type. Opt-ins (Unicode normalisation of string operands, `symlinks: reject`,
//! `path_base`) come from the component.

use serde_json::{Number, Value};
use std::borrow::Cow;
use unicode_normalization::UnicodeNormalization;

use crate::expr::{BinOp, CmpOp, Expr, Method};
use crate::paths::{self, Symlinks};

/// A value during evaluation: JSON, or a path (NemoIR's `Path`).
#[derive(Debug, Clone, PartialEq)]
pub enum Val<'a> {
    /// A JSON value.
    J(Cow<'a, Value>),
    /// A path.
    P(Cow<'a, str>),
}

impl Val<'_> {
    fn truthy(&self) -> bool {
        match self {
            Val::P(_) => true,
            Val::J(v) => match &**v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
                Value::String(s) => !s.is_empty(),
                Value::Array(a) => !a.is_empty(),
                Value::Object(o) => !o.is_empty(),
            },
        }
    }

    /// The Python type name, for messages (never the value: it may be a secret).
    pub fn type_name(&self) -> &'static str {
        match self {
            Val::P(_) => "PosixPath",
            Val::J(v) => match &**v {
                Value::Null => "NoneType",
                Value::Bool(_) => "bool",
                Value::Number(n) if n.is_f64() => "float",
                Value::Number(_) => "int",
                Value::String(_) => "str",
                Value::Array(_) => "list",
                Value::Object(_) => "dict",
            },
        }
    }

    fn str(&self) -> Option<&str> {
        match self {
            Val::J(v) => v.as_str(),
            Val::P(_) => None,
        }
    }

    fn is_number(&self) -> bool {
        matches!(self, Val::J(v) if v.is_number())
    }

    fn is_null(&self) -> bool {
        matches!(self, Val::J(v) if v.is_null())
    }

    fn bool(b: bool) -> Val<'static> {
        Val::J(Cow::Owned(Value::Bool(b)))
    }

    /// The value with its borrow detached.
    pub fn into_owned(self) -> Val<'static> {
        match self {
            Val::J(v) => Val::J(Cow::Owned(v.into_owned())),
            Val::P(p) => Val::P(Cow::Owned(p.into_owned())),
        }
    }
}

/// Unicode normalisation applied to string operands of string predicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normalization {
    /// Canonical composition.
    Nfc,
    /// Compatibility composition (fullwidth letters become ASCII, …).
    Nfkc,
}

/// Component-wide evaluation options.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `None`: raw strings, as NemoIR.
    pub normalization: Option<Normalization>,
    /// Follow (NemoIR) or reject symlinks in path operands.
    pub symlinks: Symlinks,
    /// Where a relative candidate of a containment check is joined (default: onto the root).
    pub path_base: Option<String>,
}

/// An evaluation error: the call is rejected (or, with `on_error: allow`, the policy skipped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalError(pub String);

type R<T> = Result<T, EvalError>;

fn err<T>(m: impl Into<String>) -> R<T> {
    Err(EvalError(m.into()))
}

/// Resolves the names an expression refers to.
pub trait Refs {
    /// The n-th bound variable.
    fn bound(&self, i: usize) -> R<Val<'_>>;
    /// A workflow input.
    fn input(&self, name: &str) -> R<Val<'_>>;
}

/// Evaluates `e`.
pub fn eval<'a, F: Refs + ?Sized>(e: &'a Expr, refs: &'a F, o: &Options) -> R<Val<'a>> {
    match e {
        Expr::Lit(v) => Ok(Val::J(Cow::Borrowed(v))),
        Expr::Path(p) => Ok(Val::P(Cow::Borrowed(p))),
        Expr::Bound(i) => refs.bound(*i),
        Expr::Input(n) => refs.input(n),
        Expr::Not(_) | Expr::And(_) | Expr::Or(_) | Expr::Call(..) | Expr::Compare(..) => {
            holds(e, refs, o).map(Val::bool)
        }
        Expr::Binop(op, l, r) => {
            let (l, r) = (eval(l, refs, o)?, eval(r, refs, o)?);
            binop(*op, &l, &r)
        }
    }
}

/// Whether `e` is truthy. Boolean nodes are decided here without building values (the
/// same order, short-circuits and errors as [`eval`]).
pub fn holds<F: Refs + ?Sized>(e: &Expr, refs: &F, o: &Options) -> R<bool> {
    match e {
        Expr::Not(x) => Ok(!holds(x, refs, o)?),
        Expr::And(xs) => {
            for x in xs {
                if !holds(x, refs, o)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Expr::Or(xs) => {
            for x in xs {
                if holds(x, refs, o)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Expr::Call(m, recv, arg) => {
            let r = eval(recv, refs, o)?;
            let a = eval(arg, refs, o)?;
            call(*m, &r, &a, o)
        }
        Expr::Compare(op, l, r) => {
            let (l, r) = (eval(l, refs, o)?, eval(r, refs, o)?);
            compare(*op, &l, &r)
        }
        _ => Ok(eval(e, refs, o)?.truthy()),
    }
}

fn norm<'s>(s: &'s str, o: &Options) -> Cow<'s, str> {
    match o.normalization {
        None => Cow::Borrowed(s),
        Some(Normalization::Nfc) => Cow::Owned(s.nfc().collect()),
        Some(Normalization::Nfkc) => Cow::Owned(s.nfkc().collect()),
    }
}

fn path_err(e: paths::PathError) -> EvalError {
    EvalError(e.to_string())
}

/// `Path(x)` for a path or a string; anything else is Python's `TypeError`.
fn as_path<'v>(v: &'v Val<'_>) -> R<&'v str> {
    match v {
        Val::P(p) => Ok(p),
        Val::J(j) => match j.as_str() {
            Some(s) => Ok(s),
            None => err(format!(
                "expected str or os.PathLike object, not {}",
                v.type_name()
            )),
        },
    }
}

fn call(m: Method, r: &Val<'_>, a: &Val<'_>, o: &Options) -> R<bool> {
    match m {
        Method::Eq => {
            if r.is_number() || a.is_number() {
                return err(
                    "eq() does not support number operands; use a compare predicate (>, >=, <, <=)",
                );
            }
            if matches!(r, Val::P(_)) || matches!(a, Val::P(_)) {
                return paths::eq(as_path(r)?, as_path(a)?, o.symlinks).map_err(path_err);
            }
            match (r.str(), a.str()) {
                (Some(x), Some(y)) => Ok(norm(x, o) == norm(y, o)),
                _ => Ok(r == a),
            }
        }
        Method::StartsWith => match (r.str(), a.str()) {
            (Some(x), Some(y)) => Ok(norm(x, o).starts_with(&*norm(y, o))),
            (None, _) => err(format!(
                "starts_with() receiver must be string, got {}",
                r.type_name()
            )),
            (_, None) => err(format!(
                "starts_with() argument must be string, got {}",
                a.type_name()
            )),
        },
        Method::Contains => match r {
            Val::J(j) if j.is_string() => match a.str() {
                Some(y) => Ok(norm(j.as_str().unwrap_or_default(), o).contains(&*norm(y, o))),
                None => err(format!(
                    "string.contains() argument must be string, got {}",
                    a.type_name()
                )),
            },
            Val::P(root) => within(root, a, o),
            // Extension (NemoIR raises): membership in a list, e.g. the tool names an LLM
            // request offers.
            Val::J(j) if j.is_array() => Ok(j.as_array().is_some_and(|items| {
                items
                    .iter()
                    .any(|x| call(Method::Eq, &Val::J(Cow::Borrowed(x)), a, o).unwrap_or(false))
            })),
            _ => err(format!(
                "contains() receiver must be Path or string, got {}",
                r.type_name()
            )),
        },
        Method::PathWithin => {
            let root = as_path(r)?;
            within(root, a, o)
        }
    }
}

fn within(root: &str, candidate: &Val<'_>, o: &Options) -> R<bool> {
    match candidate {
        Val::P(c) => paths::contains(root, c, o.path_base.as_deref(), o.symlinks).map_err(path_err),
        Val::J(j) => match j.as_str() {
            Some(c) => {
                paths::contains(root, c, o.path_base.as_deref(), o.symlinks).map_err(path_err)
            }
            None => Ok(false),
        },
    }
}

/// Python ordering over numbers (bool counts as int) and strings.
fn compare(op: CmpOp, l: &Val<'_>, r: &Val<'_>) -> R<bool> {
    if l.is_null() || r.is_null() {
        return Ok(false);
    }
    let ord = match (num(l), num(r), l.str(), r.str()) {
        (Some(a), Some(b), _, _) => a.partial_cmp(&b),
        (_, _, Some(a), Some(b)) => Some(a.cmp(b)),
        _ => {
            return err(format!(
                "ordering not supported between instances of '{}' and '{}'",
                l.type_name(),
                r.type_name()
            ));
        }
    };
    let Some(ord) = ord else { return Ok(false) };
    Ok(match op {
        CmpOp::Gt => ord.is_gt(),
        CmpOp::Gte => ord.is_ge(),
        CmpOp::Lt => ord.is_lt(),
        CmpOp::Lte => ord.is_le(),
    })
}

fn num(v: &Val<'_>) -> Option<f64> {
    match v {
        Val::J(j) => match &**j {
            Value::Number(n) => n.as_f64(),
            Value::Bool(b) => Some(f64::from(u8::from(*b))),
            _ => None,
        },
        Val::P(_) => None,
    }
}

fn int(v: &Val<'_>) -> Option<i64> {
    match v {
        Val::J(j) => match &**j {
            Value::Number(n) => n.as_i64(),
            Value::Bool(b) => Some(i64::from(*b)),
            _ => None,
        },
        Val::P(_) => None,
    }
}

fn binop(op: BinOp, l: &Val<'_>, r: &Val<'_>) -> R<Val<'static>> {
    if l.is_null() || r.is_null() {
        return Ok(Val::J(Cow::Owned(Value::Null)));
    }
    let out = |v: Value| Ok(Val::J(Cow::Owned(v)));
    if let (BinOp::Add, Some(a), Some(b)) = (op, l.str(), r.str()) {
        return out(Value::String(format!("{a}{b}")));
    }
    let (Some(a), Some(b)) = (num(l), num(r)) else {
        return err(format!(
            "unsupported operand types for arithmetic: '{}' and '{}'",
            l.type_name(),
            r.type_name()
        ));
    };
    if op == BinOp::Div {
        if b == 0.0 {
            return err("Division by zero in binop");
        }
        return out(float(a / b));
    }
    if let (Some(x), Some(y)) = (int(l), int(r)) {
        let exact = match op {
            BinOp::Add => x.checked_add(y),
            BinOp::Sub => x.checked_sub(y),
            _ => x.checked_mul(y),
        };
        if let Some(v) = exact {
            return out(Value::Number(v.into()));
        }
    }
    out(float(match op {
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        _ => a * b,
    }))
}

fn float(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}
