//! Configuration diagnostics as data: the plugin system's own types, so the component's
//! `validate` is the `Plugin::validate` body unchanged.

pub use nemo_flow_core::plugin::{
    Behavior, ConfigPolicy, Diagnostic, Level, join_path as join, type_of,
};
