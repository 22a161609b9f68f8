//! The current scope for Rust callers: a tokio task-local when inside [`inherit`], else a
//! per-thread slot (a fresh root on first use). Python keeps its own pointer in a
//! `ContextVar`; both point at the same kind of [`ScopeNode`].

use serde_json::Value;
use std::cell::RefCell;
use std::sync::Arc;

use crate::clock::Timestamp;
use crate::error::FlowResult;
use crate::event::ErrorInfo;
use crate::scope::{self, ScopeNode, ScopeSpec};

thread_local! {
    static THREAD_SCOPE: RefCell<Option<Arc<ScopeNode>>> = const { RefCell::new(None) };
}

#[cfg(feature = "tokio")]
tokio::task_local! {
    static TASK_SCOPE: RefCell<Arc<ScopeNode>>;
}

/// The current scope node.
pub fn current() -> Arc<ScopeNode> {
    #[cfg(feature = "tokio")]
    if let Ok(n) = TASK_SCOPE.try_with(|c| Arc::clone(&c.borrow())) {
        return n;
    }
    THREAD_SCOPE.with(|c| Arc::clone(c.borrow_mut().get_or_insert_with(ScopeNode::new_root)))
}

fn set_current(node: Arc<ScopeNode>) {
    #[cfg(feature = "tokio")]
    if TASK_SCOPE
        .try_with(|c| *c.borrow_mut() = Arc::clone(&node))
        .is_ok()
    {
        return;
    }
    THREAD_SCOPE.with(|c| *c.borrow_mut() = Some(node));
}

/// Installs `node` as this thread's current scope (e.g. one captured with [`current`] on
/// another thread), so work here nests under it.
pub fn set_thread_scope(node: Arc<ScopeNode>) {
    THREAD_SCOPE.with(|c| *c.borrow_mut() = Some(node));
}

/// Runs `fut` with its own current-scope slot that starts at the caller's current scope, so
/// concurrent tasks spawned under one scope nest under it and never under each other.
#[cfg(feature = "tokio")]
pub fn inherit<F: std::future::Future>(fut: F) -> impl std::future::Future<Output = F::Output> {
    TASK_SCOPE.scope(RefCell::new(current()), fut)
}

/// Opens a scope under the current one and makes it current.
pub fn push(spec: ScopeSpec) -> FlowResult<Arc<ScopeNode>> {
    let node = scope::push(&current(), None, spec)?;
    set_current(Arc::clone(&node));
    Ok(node)
}

/// Closes `handle`, which must be the current scope.
pub fn pop(
    handle: &Arc<ScopeNode>,
    output: Value,
    error: Option<ErrorInfo>,
    timestamp: Option<Timestamp>,
) -> FlowResult<()> {
    let next = scope::pop(&current(), handle, output, error, timestamp)?;
    set_current(next);
    Ok(())
}

/// Emits a mark under the current scope.
pub fn mark(name: &str, data: Value, metadata: Value) -> FlowResult<()> {
    let cur = current();
    scope::mark(
        &cur,
        cur.info.uuid,
        name,
        || Ok(data),
        || Ok(metadata),
        None,
    )
}
