//! # nemo-flow-core
//!
//! The nemo_flow runtime, in pure Rust: scopes, ATOF lifecycle events, middleware
//! registries, and the managed tool/LLM call pipeline as synchronous steps that any binding
//! can drive from its own event loop. The Python package drives them from asyncio; Rust
//! callers use the async helpers in [`api`].

#![deny(missing_docs)]

#[cfg(feature = "tokio")]
pub mod api;
pub mod clock;
pub mod codecs;
pub mod context;
pub mod dispatch;
pub mod error;
pub mod event;
pub mod family;
pub mod llm;
pub mod middleware;
pub mod pipeline;
pub mod plugin;
pub mod registry;
pub mod scope;
pub mod scrub;
pub mod stream;
pub mod types;

pub use error::{CallbackError, FlowError, FlowResult};
pub use event::Event;
pub use family::Family;
pub use scope::{ScopeNode, ScopeSpec};
pub use types::{LlmAttributes, ScopeAttributes, ScopeType, ToolAttributes};
