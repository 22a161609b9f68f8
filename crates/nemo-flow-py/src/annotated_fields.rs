//! Getters and setters of `AnnotatedLLMRequest`'s request options (reference §6.1), each
//! validated against the core field's type.

use pyo3::prelude::*;
use serde_json::{Map, Value};

use crate::llm_types::{AnnotatedLLMRequest, json_or_none, opt_json};

macro_rules! options {
    ($($field:ident, $setter:ident: $ty:ty, $doc:literal;)*) => {
        /// Names accepted as keyword arguments of the constructor.
        pub const REQUEST_OPTIONS: &[&str] = &[$(stringify!($field)),*];

        impl AnnotatedLLMRequest {
            /// Sets one option by name (the constructor's `**fields`).
            pub fn set_option(&mut self, name: &str, v: &Bound<'_, PyAny>) -> PyResult<()> {
                match name {
                    $(stringify!($field) => self.inner.$field = opt_json::<$ty>(Some(v), stringify!($field))?,)*
                    _ => unreachable!("checked against REQUEST_OPTIONS"),
                }
                Ok(())
            }
        }

        $(
            #[pymethods]
            impl AnnotatedLLMRequest {
                #[doc = $doc]
                #[getter]
                fn $field(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
                    json_or_none(py, self.inner.$field.as_ref().map(to_value))
                }
                #[setter]
                fn $setter(&mut self, v: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
                    self.inner.$field = opt_json::<$ty>(v, stringify!($field))?;
                    Ok(())
                }
            }
        )*
    };
}

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

options! {
    store, set_store: bool, "Return whether the provider stores the response, if set.";
    previous_response_id, set_previous_response_id: String, "Return the response this request continues, if set.";
    truncation, set_truncation: String, "Return the context truncation strategy, if set.";
    reasoning, set_reasoning: Value, "Return the reasoning configuration, if set.";
    include, set_include: Vec<String>, "Return the extra outputs to include, if set.";
    user, set_user: String, "Return the end-user identifier, if set.";
    metadata, set_metadata: Map<String, Value>, "Return the request metadata, if set.";
    service_tier, set_service_tier: String, "Return the service tier, if set.";
    parallel_tool_calls, set_parallel_tool_calls: bool, "Return whether tools may be called in parallel, if set.";
    max_output_tokens, set_max_output_tokens: u64, "Return the output token cap as the provider names it, if set.";
    max_tool_calls, set_max_tool_calls: u64, "Return the cap on built-in tool calls, if set.";
    top_logprobs, set_top_logprobs: u64, "Return the number of log-probabilities per token, if set.";
    stream, set_stream: bool, "Return whether the response is streamed, if set.";
}
