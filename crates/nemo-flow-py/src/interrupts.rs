//! `KeyboardInterrupt`, `SystemExit` and `asyncio.CancelledError` raised inside a callback
//! whose failure the core absorbs (a subscriber is logged, a sanitizer fails closed) must
//! still interrupt. The callback wrapper notes the first one raised on this thread; the
//! managed call's step that ran it re-raises it once the core step (and, when the call had
//! started, its end event) is done.

use pyo3::prelude::*;
use std::cell::RefCell;

use crate::errors::is_interrupt;

thread_local! {
    static PENDING: RefCell<Option<PyErr>> = const { RefCell::new(None) };
}

/// Notes `err` when it is an interrupt and none is pending yet.
pub fn note(py: Python<'_>, err: &PyErr) {
    if is_interrupt(py, err) {
        PENDING.with(|p| {
            p.borrow_mut().get_or_insert_with(|| err.clone_ref(py));
        });
    }
}

/// Takes the pending interrupt, if any.
pub fn take() -> Option<PyErr> {
    PENDING.with(|p| p.borrow_mut().take())
}

/// Runs a managed call's step: an interrupt raised inside it wins over its result.
pub fn step<T>(f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    drop(take());
    let out = f();
    match take() {
        Some(interrupt) => Err(interrupt),
        None => out,
    }
}
