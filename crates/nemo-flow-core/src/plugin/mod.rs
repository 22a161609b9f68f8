//! Plugins: components installed from configuration instead of hand-written registration.
//!
//! A configuration document is `{version: 1, components: [{kind, enabled, config}], policy}`.
//! Each component's kind names a [`Plugin`] registered here. A plugin validates its config
//! purely (diagnostics, never an exception), then registers middleware, subscribers and
//! cleanups through a [`PluginContext`] that namespaces names and records how to undo each
//! one. Activation ([`initialize`]) is a transaction: all components or none, and a failed
//! re-activation restores the configuration that was active before.
//!
//! A built-in component kind written in Rust is one line at start-up:
//!
//! ```ignore
//! nemo_flow_core::plugin::register_builtin("policy", std::sync::Arc::new(PolicyPlugin));
//! ```

mod activation;
mod context;
mod diagnostics;

pub use activation::{
    ActivationError, ActivationReport, ComponentReport, Status, active_config, clear, initialize,
    report, validate,
};
pub use context::{Family, Issues, PluginContext, Registration, namespace};
pub use diagnostics::{
    Behavior, ConfigPolicy, ConfigReader, Diagnostic, Level, join as join_path, type_of,
};

use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock, RwLock};

use crate::error::{CallbackError, FlowError, FlowResult};

/// A component's config object.
pub type ComponentConfig = Map<String, Value>;

/// A plugin component kind.
pub trait Plugin: Send + Sync + 'static {
    /// Whether one configuration may hold several components of this kind (default: yes).
    fn allows_multiple_components(&self) -> bool {
        true
    }

    /// Checks `config` without side effects. Called for disabled components too.
    fn validate(&self, config: &ComponentConfig, policy: &ConfigPolicy) -> Vec<Diagnostic> {
        let _ = (config, policy);
        Vec::new()
    }

    /// Installs the component through `ctx`. On error, everything registered through `ctx`
    /// (and by earlier components) is rolled back.
    fn register(&self, config: &ComponentConfig, ctx: &PluginContext) -> Result<(), CallbackError>;
}

struct Kind {
    plugin: Arc<dyn Plugin>,
    builtin: bool,
}

fn kinds() -> &'static RwLock<BTreeMap<String, Kind>> {
    static K: LazyLock<RwLock<BTreeMap<String, Kind>>> = LazyLock::new(Default::default);
    &K
}

fn check_kind(kind: &str) -> FlowResult<()> {
    if kind.is_empty()
        || kind
            .chars()
            .any(|c| !(c.is_ascii_alphanumeric() || "_-.".contains(c)))
    {
        return Err(FlowError::invalid(
            "kind",
            format!("expected a non-empty name of letters, digits, '_', '-' or '.', got {kind:?}"),
        ));
    }
    Ok(())
}

/// Registers a user plugin kind; a kind that is already registered is refused.
pub fn register_kind(kind: &str, plugin: Arc<dyn Plugin>) -> FlowResult<()> {
    check_kind(kind)?;
    let mut k = kinds().write().unwrap_or_else(|e| e.into_inner());
    if k.contains_key(kind) {
        return Err(FlowError::Registration(format!(
            "plugin kind '{kind}' is already registered"
        )));
    }
    k.insert(
        kind.to_owned(),
        Kind {
            plugin,
            builtin: false,
        },
    );
    Ok(())
}

/// Registers a built-in kind (idempotent: a second call replaces the first). Built-in kinds
/// cannot be deregistered by users.
pub fn register_builtin(kind: &str, plugin: Arc<dyn Plugin>) {
    debug_assert!(check_kind(kind).is_ok(), "bad built-in kind {kind:?}");
    kinds().write().unwrap_or_else(|e| e.into_inner()).insert(
        kind.to_owned(),
        Kind {
            plugin,
            builtin: true,
        },
    );
}

/// Removes a user kind; returns whether it was registered. Built-in kinds are refused.
/// Components of the kind that are active stay active until the next activation or clear.
pub fn deregister_kind(kind: &str) -> FlowResult<bool> {
    let mut k = kinds().write().unwrap_or_else(|e| e.into_inner());
    match k.get(kind) {
        None => Ok(false),
        Some(e) if e.builtin => Err(FlowError::Registration(format!(
            "plugin kind '{kind}' is built in and cannot be deregistered"
        ))),
        Some(_) => {
            k.remove(kind);
            Ok(true)
        }
    }
}

/// Every registered kind, sorted.
pub fn list_kinds() -> Vec<String> {
    kinds()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .keys()
        .cloned()
        .collect()
}

fn lookup(kind: &str) -> Option<Arc<dyn Plugin>> {
    kinds()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(kind)
        .map(|k| Arc::clone(&k.plugin))
}
