//! `ScopeType` and the three attribute flag classes.

use nemo_flow_core::types as core;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

use crate::errors::type_name;
use pyo3::types::PyInt;

/// Enum identifying the kind of execution scope.
#[pyclass(eq, eq_int, hash, frozen, module = "nemo_flow._native", from_py_object)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScopeType {
    /// Autonomous agent scope.
    Agent,
    /// Generic function-call scope.
    Function,
    /// Tool invocation scope.
    Tool,
    /// LLM call scope.
    Llm,
    /// Retriever or RAG lookup scope.
    Retriever,
    /// Embedding model scope.
    Embedder,
    /// Reranking model scope.
    Reranker,
    /// Guardrail evaluation scope.
    Guardrail,
    /// Evaluator or judge scope.
    Evaluator,
    /// User-defined scope type.
    Custom,
    /// Unknown or unspecified scope type.
    Unknown,
}

impl ScopeType {
    /// To the core enum.
    pub fn to_core(self) -> core::ScopeType {
        core::ScopeType::ALL[self as usize]
    }

    /// From the core enum.
    pub fn from_core(t: core::ScopeType) -> Self {
        const ALL: [ScopeType; 11] = [
            ScopeType::Agent,
            ScopeType::Function,
            ScopeType::Tool,
            ScopeType::Llm,
            ScopeType::Retriever,
            ScopeType::Embedder,
            ScopeType::Reranker,
            ScopeType::Guardrail,
            ScopeType::Evaluator,
            ScopeType::Custom,
            ScopeType::Unknown,
        ];
        ALL[core::ScopeType::ALL
            .iter()
            .position(|x| *x == t)
            .unwrap_or(10)]
    }
}

/// Accepts a `ScopeType` or its name (`"agent"`, `"Llm"`, …).
pub fn scope_type_arg(obj: &Bound<'_, PyAny>) -> PyResult<core::ScopeType> {
    if let Ok(t) = obj.cast::<ScopeType>() {
        return Ok(t.get().to_core());
    }
    if let Ok(s) = obj.extract::<&str>() {
        return core::ScopeType::parse(s)
            .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()));
    }
    Err(PyTypeError::new_err(format!(
        "scope_type: expected a ScopeType (e.g. ScopeType.Agent), got {}",
        type_name(obj)
    )))
}

macro_rules! py_flags {
    ($py:ident, $pyname:literal, $core:ty, $doc:literal, [$($flag:ident => $is:ident),+]) => {
        #[doc = $doc]
        #[pyclass(name = $pyname, frozen, eq, hash, module = "nemo_flow._native", from_py_object)]
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $py(pub $core);

        #[pymethods]
        impl $py {
            #[new]
            #[pyo3(signature = (value = None))]
            fn new(value: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
                Self::arg(value).map(Self)
            }

            $(
                #[classattr]
                const $flag: u32 = <$core>::$flag.0;

                #[getter]
                fn $is(&self) -> bool {
                    self.0.contains(<$core>::$flag)
                }
            )+

            /// Return the raw integer bitmask.
            #[getter]
            fn value(&self) -> u32 {
                self.0 .0
            }

            fn __or__(&self, other: &Bound<'_, PyAny>) -> PyResult<Self> {
                let bits = flag_bits(other, $pyname)?;
                <$core>::from_bits(self.0 .0 as i64 | bits).map(Self).map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))
            }

            fn __and__(&self, other: &Bound<'_, PyAny>) -> PyResult<Self> {
                let bits = flag_bits(other, $pyname)?;
                Ok(Self(<$core>::from_bits(self.0 .0 as i64 & bits).unwrap_or_default()))
            }

            fn __int__(&self) -> u32 {
                self.0 .0
            }

            fn __bool__(&self) -> bool {
                self.0 .0 != 0
            }

            fn __repr__(&self) -> String {
                format!("{}({})", $pyname, self.0 .0)
            }
        }

        impl $py {
            /// Accepts `None`, an instance, or an int mask.
            pub fn arg(obj: Option<&Bound<'_, PyAny>>) -> PyResult<$core> {
                match obj {
                    None => Ok(<$core>::default()),
                    Some(o) if o.is_none() => Ok(<$core>::default()),
                    Some(o) => {
                        let bits = flag_bits(o, $pyname)?;
                        <$core>::from_bits(bits).map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))
                    }
                }
            }
        }
    };
}

fn flag_bits(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<i64> {
    // Only the same flag class (or a plain int): a ToolAttributes where ScopeAttributes is
    // expected is a wrong type, not bits to reinterpret.
    if let Ok(a) = obj.cast::<ScopeAttributes>()
        && what == "ScopeAttributes"
    {
        return Ok(a.get().0.0 as i64);
    }
    if let Ok(a) = obj.cast::<ToolAttributes>()
        && what == "ToolAttributes"
    {
        return Ok(a.get().0.0 as i64);
    }
    if let Ok(a) = obj.cast::<LLMAttributes>()
        && what == "LLMAttributes"
    {
        return Ok(a.get().0.0 as i64);
    }
    if obj.is_instance_of::<PyInt>() && !obj.is_instance_of::<pyo3::types::PyBool>() {
        return obj.extract::<i64>();
    }
    Err(PyTypeError::new_err(format!(
        "attributes: expected {what} or an int bitmask, got {}",
        type_name(obj)
    )))
}

py_flags!(ScopeAttributes, "ScopeAttributes", core::ScopeAttributes, "Bitflags describing scope properties.", [PARALLEL => is_parallel, RELOCATABLE => is_relocatable]);
py_flags!(ToolAttributes, "ToolAttributes", core::ToolAttributes, "Bitflags describing tool call properties.", [REMOTE => is_remote]);
py_flags!(LLMAttributes, "LLMAttributes", core::LlmAttributes, "Bitflags describing LLM call properties.", [STATEFUL => is_stateful, STREAMING => is_streaming]);
