//! Python ↔ JSON conversion. Refuses what JSON cannot hold (bytes, NaN, non-string keys,
//! arbitrary objects, reference cycles) with an error that names the argument and the path.

use nemo_flow_core::pipeline::{Lazy, LazyOf};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Number, Value};

use crate::errors::type_name;

const MAX_DEPTH: usize = 256;

enum Problem {
    Type(String),
    Value(String),
    /// A problem found at `[key]` / `[index]` inside a container.
    At(String, Box<Problem>),
}

struct Walker {
    on_path: Vec<usize>,
    /// `false`: only check (nothing is allocated for the result).
    build: bool,
}

impl Walker {
    fn fail(arg: &str, mut p: Problem) -> PyErr {
        let mut at = String::from(arg);
        while let Problem::At(seg, inner) = p {
            at.push_str(&seg);
            p = *inner;
        }
        match p {
            Problem::Type(m) => PyTypeError::new_err(format!("{at}: {m}")),
            Problem::Value(m) => PyValueError::new_err(format!("{at}: {m}")),
            Problem::At(..) => unreachable!("unwrapped above"),
        }
    }

    fn enter(&mut self, obj: &Bound<'_, PyAny>) -> Result<(), Problem> {
        let id = obj.as_ptr() as usize;
        if self.on_path.contains(&id) {
            return Err(Problem::Value(
                "contains a reference cycle; JSON cannot represent it".into(),
            ));
        }
        if self.on_path.len() >= MAX_DEPTH {
            return Err(Problem::Value(format!(
                "is nested more than {MAX_DEPTH} levels deep"
            )));
        }
        self.on_path.push(id);
        Ok(())
    }

    fn convert(&mut self, obj: &Bound<'_, PyAny>) -> Result<Value, Problem> {
        if obj.is_none() {
            return Ok(Value::Null);
        }
        if let Ok(s) = obj.cast::<PyString>() {
            if !self.build {
                return Ok(Value::Null);
            }
            return s
                .to_str()
                .map(|s| Value::String(s.to_owned()))
                .map_err(|e| Problem::Value(e.to_string()));
        }
        if let Ok(b) = obj.cast::<PyBool>() {
            return Ok(Value::Bool(b.is_true()));
        }
        if obj.is_instance_of::<PyInt>() {
            if let Ok(i) = obj.extract::<i64>() {
                return Ok(Value::Number(i.into()));
            }
            if let Ok(u) = obj.extract::<u64>() {
                return Ok(Value::Number(u.into()));
            }
            return Err(Problem::Value("integer does not fit in 64 bits".into()));
        }
        if let Ok(f) = obj.cast::<PyFloat>() {
            let v = f.value();
            return Number::from_f64(v).map(Value::Number).ok_or_else(|| {
                Problem::Value(format!(
                    "{v} is not a finite number; JSON has no NaN or infinity"
                ))
            });
        }
        if let Ok(d) = obj.cast::<PyDict>() {
            self.enter(obj)?;
            let mut m = Map::new();
            for (k, v) in d.iter() {
                let Ok(key) = k.cast::<PyString>() else {
                    return Err(Problem::Type(format!(
                        "dict key {} of type '{}' is not a string; JSON object keys must be strings",
                        k.repr().map(|r| r.to_string()).unwrap_or_default(),
                        type_name(&k)
                    )));
                };
                let key = key.to_str().map_err(|e| Problem::Value(e.to_string()))?;
                let val = self
                    .convert(&v)
                    .map_err(|p| Problem::At(format!("[{key:?}]"), Box::new(p)))?;
                if self.build {
                    m.insert(key.to_owned(), val);
                }
            }
            self.on_path.pop();
            return Ok(Value::Object(m));
        }
        let seq: Option<Vec<Bound<'_, PyAny>>> = if let Ok(l) = obj.cast::<PyList>() {
            Some(l.iter().collect())
        } else if let Ok(t) = obj.cast::<PyTuple>() {
            Some(t.iter().collect())
        } else {
            None
        };
        if let Some(items) = seq {
            self.enter(obj)?;
            let mut out = Vec::with_capacity(items.len());
            for (i, v) in items.iter().enumerate() {
                let val = self
                    .convert(v)
                    .map_err(|p| Problem::At(format!("[{i}]"), Box::new(p)))?;
                if self.build {
                    out.push(val);
                }
            }
            self.on_path.pop();
            return Ok(Value::Array(out));
        }
        Err(Problem::Type(format!(
            "value of type '{}' is not JSON-serializable (expected None, bool, int, float, str, list, tuple or dict)",
            type_name(obj)
        )))
    }
}

/// Converts `obj` to JSON; `arg` names it in the error.
pub fn to_json(obj: &Bound<'_, PyAny>, arg: &str) -> PyResult<Value> {
    let mut w = Walker {
        on_path: Vec::new(),
        build: true,
    };
    w.convert(obj).map_err(|p| Walker::fail(arg, p))
}

/// A Python payload as the core's lazy JSON value: converted only when a step reads it.
pub fn lazy_json<'a>(py: Python<'a>, obj: &'a Bound<'_, PyAny>, arg: &'static str) -> Lazy<'a> {
    Lazy::pending(move || to_json(obj, arg).map_err(|e| crate::errors::carry(py, e)))
}

/// The "bad input is refused even when nobody reads it" rule: after the core steps, a lazy
/// payload that no step converted is still checked (by `check`, without building it).
pub fn check_unread<T>(lazy: &LazyOf<'_, T>, check: impl FnOnce() -> PyResult<()>) -> PyResult<()> {
    match lazy {
        LazyOf::Pending(_) => check(),
        LazyOf::Ready(_) => Ok(()),
    }
}

/// Checks that `obj` is JSON without building the value (for payloads nothing reads).
pub fn validate_json(obj: &Bound<'_, PyAny>, arg: &str) -> PyResult<()> {
    let mut w = Walker {
        on_path: Vec::new(),
        build: false,
    };
    w.convert(obj).map(|_| ()).map_err(|p| Walker::fail(arg, p))
}

/// Converts an optional argument (`None` → JSON null).
pub fn opt_to_json(obj: Option<&Bound<'_, PyAny>>, arg: &str) -> PyResult<Value> {
    match obj {
        None => Ok(Value::Null),
        Some(o) => to_json(o, arg),
    }
}

/// Converts JSON to fresh Python objects.
pub fn to_py(py: Python<'_>, v: &Value) -> PyResult<Py<PyAny>> {
    use pyo3::IntoPyObjectExt;
    Ok(match v {
        Value::Null => py.None(),
        Value::Bool(b) => b.into_py_any(py)?,
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_py_any(py)?
            } else if let Some(u) = n.as_u64() {
                u.into_py_any(py)?
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_py_any(py)?
            }
        }
        Value::String(s) => s.into_py_any(py)?,
        Value::Array(a) => {
            let items = a
                .iter()
                .map(|x| to_py(py, x))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any().unbind()
        }
        Value::Object(m) => {
            let d = PyDict::new(py);
            for (k, x) in m {
                d.set_item(k, to_py(py, x)?)?;
            }
            d.into_any().unbind()
        }
    })
}
