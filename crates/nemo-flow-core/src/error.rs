//! Errors of the runtime itself. Errors raised by user callables are carried through
//! untouched (as an opaque [`Foreign`] payload) so a binding can re-raise the original.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

/// An error value owned by a binding (for Python: the original exception object).
/// The core never looks inside; it only hands it back so the binding can re-raise it.
#[derive(Clone)]
pub struct Foreign(pub Arc<dyn Any + Send + Sync>);

impl fmt::Debug for Foreign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Foreign(..)")
    }
}

/// What a middleware callback or user callable reports when it fails.
#[derive(Debug, Clone)]
pub struct CallbackError {
    /// Short type name of the failure, e.g. `ValueError`.
    pub kind: String,
    /// Human readable message.
    pub message: String,
    /// The original error object, when it came from a binding.
    pub source: Option<Foreign>,
    /// Where in an execution chain the error was raised, when known.
    pub origin: Option<Origin>,
}

/// Where a failure inside an execution chain came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The user's callable (passes through intercepts unchanged).
    Callable,
    /// The execution intercept of that name.
    Intercept(String),
}

impl CallbackError {
    /// A failure raised by Rust code.
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            message: message.into(),
            source: None,
            origin: None,
        }
    }
}

impl fmt::Display for CallbackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

/// Errors of the runtime. Each variant maps onto one exception class in the bindings.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FlowError {
    /// A conditional-execution guardrail refused the call.
    #[error("guardrail rejected: {reason}")]
    GuardrailRejected {
        /// Name of the guardrail registration that refused.
        guardrail: String,
        /// The reason it gave.
        reason: String,
    },
    /// Misuse of the scope stack: popping a scope that is not on top, ending a handle twice…
    #[error("{0}")]
    Scope(String),
    /// A duplicate or otherwise invalid registration.
    #[error("{0}")]
    Registration(String),
    /// Invalid configuration.
    #[error("{0}")]
    Config(String),
    /// A guardrail, intercept or codec raised.
    #[error("{family} '{name}' failed: {error}")]
    Middleware {
        /// Middleware family, e.g. `tool request intercept`.
        family: &'static str,
        /// Registration name (or codec name).
        name: String,
        /// The failure itself.
        error: Box<CallbackError>,
    },
    /// An argument had the wrong type or value.
    #[error("{arg}: {message}")]
    InvalidArgument {
        /// Name of the offending argument.
        arg: String,
        /// What was wrong and what was expected.
        message: String,
    },
    /// The user's callable failed; carried through unchanged.
    #[error("{0}")]
    Callable(Box<CallbackError>),
}

impl FlowError {
    /// Shorthand for [`FlowError::InvalidArgument`].
    pub fn invalid(arg: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidArgument {
            arg: arg.into(),
            message: message.into(),
        }
    }
}

/// Result alias used across the crate.
pub type FlowResult<T> = Result<T, FlowError>;
