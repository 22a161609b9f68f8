//! Interpreter exit. A daemon thread that waits for the GIL after finalization has begun is
//! ended by CPython with `pthread_exit`, whose unwinding aborts the process if it crosses
//! this extension's frames (a Python callback called from the core). So an `atexit` hook
//! stops new callbacks from entering Python and waits (GIL released, bounded) for the ones
//! in flight to return; after it, daemon threads only meet the GIL in plain Python code.

use pyo3::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static EXITING: AtomicBool = AtomicBool::new(false);
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// How long the exit hook waits for callbacks still running in other threads.
const DRAIN: Duration = Duration::from_secs(2);

/// Held while a callback runs Python code.
pub struct InFlight(());

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Admits a callback into Python, or `None` once the interpreter is exiting.
pub fn enter() -> Option<InFlight> {
    IN_FLIGHT.fetch_add(1, Ordering::AcqRel);
    let admitted = InFlight(());
    (!exiting()).then_some(admitted)
}

/// Whether the exit hook has run.
pub fn exiting() -> bool {
    EXITING.load(Ordering::Acquire)
}

/// The `atexit` hook (registered by `nemo_flow/__init__.py`).
#[pyfunction]
pub fn _at_exit(py: Python<'_>) {
    EXITING.store(true, Ordering::Release);
    py.detach(|| {
        let start = Instant::now();
        while IN_FLIGHT.load(Ordering::Acquire) > 0 && start.elapsed() < DRAIN {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}
