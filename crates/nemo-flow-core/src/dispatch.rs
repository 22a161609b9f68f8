//! Synchronous event delivery, in registration order: global subscribers first, then the
//! scope-local subscribers from the outermost scope to the innermost. A failing subscriber
//! is counted and reported; it never disturbs the call or the other subscribers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::error::CallbackError;
use crate::event::Event;
use crate::middleware::Subscriber;
use crate::registry::Entry;
use crate::scope::{ScopeNode, visible};

static SUBSCRIBER_ERRORS: AtomicU64 = AtomicU64::new(0);

/// Receives failures that must not propagate (the Python binding logs them through
/// `logging`). Called with a description such as `subscriber 'audit'`.
pub type ErrorReporter = Arc<dyn Fn(&str, &CallbackError) + Send + Sync>;

fn reporter() -> &'static RwLock<Option<ErrorReporter>> {
    static R: RwLock<Option<ErrorReporter>> = RwLock::new(None);
    &R
}

/// Installs the function that reports subscriber failures (default: the `log` crate, target
/// `nemo_flow`).
pub fn set_error_reporter(r: Option<ErrorReporter>) {
    *reporter().write().unwrap_or_else(|e| e.into_inner()) = r;
}

/// How many subscriber calls have failed in this process.
pub fn subscriber_error_count() -> u64 {
    SUBSCRIBER_ERRORS.load(Ordering::Relaxed)
}

/// The subscribers that receive events emitted from `node`.
pub fn subscribers_for(node: &Arc<ScopeNode>) -> Arc<[Entry<Subscriber>]> {
    visible(node, |m| &m.subscribers)
}

/// Whether any subscriber would receive an event emitted from `node`.
pub fn has_subscribers(node: &Arc<ScopeNode>) -> bool {
    !subscribers_for(node).is_empty()
}

/// Delivers one event to `subs`, in order. A subscriber that returns an error or panics is
/// counted and reported; the call and the other subscribers go on.
pub fn emit(subs: &[Entry<Subscriber>], event: Event) {
    let event = Arc::new(event);
    for s in subs {
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (s.callback)(&event)))
                .unwrap_or_else(|payload| {
                    Err(CallbackError::new("panic", panic_message(&*payload)))
                });
        if let Err(e) = result {
            SUBSCRIBER_ERRORS.fetch_add(1, Ordering::Relaxed);
            report(&format!("subscriber '{}'", s.name), &e);
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a subscriber panicked".to_string()
    }
}

/// Reports a failure that must not propagate (a subscriber, a fail-closed sanitizer, a
/// response codec on a successful call).
pub fn report(what: &str, err: &CallbackError) {
    let r = reporter().read().unwrap_or_else(|e| e.into_inner()).clone();
    match r {
        Some(r) => r(what, err),
        None => log::error!(target: "nemo_flow", "{what} failed: {err}"),
    }
}

/// Something with buffered output that `flush` should drain (exporters register one).
pub type FlushHook = Arc<dyn Fn(Option<Duration>) -> bool + Send + Sync>;

fn flush_hooks() -> &'static crate::registry::Registry<FlushHook> {
    static H: std::sync::LazyLock<crate::registry::Registry<FlushHook>> =
        std::sync::LazyLock::new(|| {
            crate::registry::Registry::new("flush hook", crate::registry::Order::Registration)
        });
    &H
}

/// Registers a flush hook under `name`.
pub fn register_flush_hook(name: &str, hook: FlushHook) -> crate::error::FlowResult<()> {
    flush_hooks().register(name, 0, false, hook)
}

/// Removes a flush hook.
pub fn deregister_flush_hook(name: &str) -> bool {
    flush_hooks().deregister(name)
}

/// Delivery is synchronous, so every event emitted before this call has already reached
/// every subscriber; what remains is draining exporters' buffers. Returns `true` when every
/// hook drained within `timeout`.
pub fn flush(timeout: Option<Duration>) -> bool {
    // Every hook runs, even after one fails.
    let drained: Vec<bool> = flush_hooks()
        .snapshot()
        .iter()
        .map(|h| (h.callback)(timeout))
        .collect();
    drained.into_iter().all(|ok| ok)
}
