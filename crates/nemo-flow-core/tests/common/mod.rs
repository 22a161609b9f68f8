//! Helpers shared by the integration tests.
//!
//! Tests run in parallel threads of one process and the registries are process-global, so
//! every test works under its own `ScopeNode::new_root()` and registers its subscribers and
//! middleware scope-locally on that root (or on scopes below it). Nothing registered there
//! is visible to any other test.

#![allow(dead_code)]

use nemo_flow_core::error::CallbackError;
use nemo_flow_core::event::Event;
use nemo_flow_core::middleware::Middleware;
use nemo_flow_core::{FlowError, FlowResult, ScopeNode, ScopeSpec, ScopeType};
use std::sync::{Arc, Mutex, OnceLock};

/// Records every event a scope-local subscriber receives.
#[derive(Clone)]
pub struct Collector {
    events: Arc<Mutex<Vec<Arc<Event>>>>,
}

impl Collector {
    /// Registers a scope-local subscriber named `collector` on `node`.
    pub fn on(node: &Arc<ScopeNode>) -> Self {
        Self::named(node, "collector")
    }

    /// Registers a scope-local subscriber named `name` on `node`.
    pub fn named(node: &Arc<ScopeNode>, name: &str) -> Self {
        let events: Arc<Mutex<Vec<Arc<Event>>>> = Arc::default();
        let sink = Arc::clone(&events);
        locals(node)
            .subscribers
            .register(
                name,
                0,
                false,
                Arc::new(move |e: &Arc<Event>| {
                    sink.lock().unwrap().push(Arc::clone(e));
                    Ok(())
                }),
            )
            .unwrap();
        Self { events }
    }

    /// A snapshot of the events received so far.
    pub fn events(&self) -> Vec<Arc<Event>> {
        self.events.lock().unwrap().clone()
    }

    /// Number of events received so far.
    pub fn len(&self) -> usize {
        self.events.lock().unwrap().len()
    }

    /// Forgets the events received so far.
    pub fn clear(&self) {
        self.events.lock().unwrap().clear();
    }

    /// One short line per event, see [`summary`].
    pub fn summary(&self) -> Vec<String> {
        self.events().iter().map(|e| summary(e)).collect()
    }
}

/// `start:<category>:<name>`, `end:<category>:<name>` or `mark:<name>`.
pub fn summary(e: &Event) -> String {
    if e.is_scope_start() || e.is_scope_end() {
        format!(
            "{}:{}:{}",
            if e.is_scope_start() { "start" } else { "end" },
            e.category.as_deref().unwrap_or("-"),
            e.name
        )
    } else {
        format!("mark:{}", e.name)
    }
}

/// The scope-local registries of `node`, created on first use.
pub fn locals(node: &Arc<ScopeNode>) -> Arc<Middleware> {
    node.locals_or_create().unwrap()
}

/// A scope spec with only a name and a type.
pub fn spec(name: &str, ty: ScopeType) -> ScopeSpec {
    ScopeSpec::new(name, ty)
}

/// A fresh root installed as this thread's current scope.
pub fn thread_root() -> Arc<ScopeNode> {
    let root = ScopeNode::new_root();
    nemo_flow_core::context::set_thread_scope(Arc::clone(&root));
    root
}

/// A callback failure.
pub fn cb_err(kind: &str, message: &str) -> CallbackError {
    CallbackError::new(kind, message)
}

/// The message of a [`FlowError::Scope`]; panics on any other outcome.
pub fn scope_err<T>(r: FlowResult<T>) -> String {
    match r {
        Err(FlowError::Scope(m)) => m,
        Err(other) => panic!("expected FlowError::Scope, got {other:?}"),
        Ok(_) => panic!("expected FlowError::Scope, got Ok"),
    }
}

fn reports() -> &'static Mutex<Vec<(String, String)>> {
    static R: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
    &R
}

/// Installs (once per process) an error reporter that records every report.
pub fn install_reporter() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        nemo_flow_core::dispatch::set_error_reporter(Some(Arc::new(
            |what: &str, err: &CallbackError| {
                reports()
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((what.to_string(), err.to_string()));
            },
        )));
    });
}

/// Every `(what, error)` report whose description mentions `needle` (use unique names).
pub fn reports_mentioning(needle: &str) -> Vec<(String, String)> {
    reports()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|(w, _)| w.contains(needle))
        .cloned()
        .collect()
}
