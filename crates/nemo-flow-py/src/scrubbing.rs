//! Configuration of the scrubbing of recorded error text (see `nemo_flow_core::scrub`).

use nemo_flow_core::scrub;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::errors;

/// Sets the secret patterns (`None`: the defaults) and whether sanitized values are scrubbed.
#[pyfunction]
#[pyo3(signature = (patterns=None, sanitized_values=true))]
pub fn configure_scrubbing(
    py: Python<'_>,
    patterns: Option<&Bound<'_, PyAny>>,
    sanitized_values: bool,
) -> PyResult<()> {
    let patterns = match patterns.filter(|p| !p.is_none()) {
        None => None,
        Some(p) if p.is_instance_of::<PyString>() => {
            return Err(PyTypeError::new_err(
                "patterns: expected a sequence of regular expressions or None, got a single str",
            ));
        }
        Some(p) => Some(p.extract::<Vec<String>>().map_err(|_| {
            PyTypeError::new_err(format!(
                "patterns: expected a sequence of str or None, got {}",
                errors::type_name(p)
            ))
        })?),
    };
    scrub::configure(patterns, sanitized_values).map_err(|e| errors::to_py_err(py, e))
}

/// The secret patterns in force.
#[pyfunction]
pub fn scrubbing_patterns() -> Vec<String> {
    scrub::patterns()
}

/// The patterns scrubbed by default.
#[pyfunction]
pub fn default_scrubbing_patterns() -> Vec<&'static str> {
    scrub::DEFAULT_PATTERNS.to_vec()
}
