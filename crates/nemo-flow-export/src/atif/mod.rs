//! The ATIF exporter: collects the events it receives and builds a trajectory on demand.
//!
//! Collecting is the whole subscriber path (push an `Arc<Event>` under a short lock); the
//! conversion runs when the caller asks for the trajectory. The buffer is bounded: past
//! `capacity` events, new ones are dropped and counted.

mod builder;

pub use builder::{ATIF_VERSION, AgentInfo, build};

use nemo_flow_core::Event;
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Default bound of the event buffer.
pub const DEFAULT_CAPACITY: usize = 1_000_000;

/// Collects events for one trajectory.
pub struct AtifExporter {
    info: AgentInfo,
    events: Mutex<Vec<Arc<Event>>>,
    capacity: usize,
    dropped: AtomicU64,
}

impl AtifExporter {
    /// A collector for `info`, holding at most `capacity` events.
    pub fn new(info: AgentInfo, capacity: usize) -> Self {
        Self {
            info,
            events: Mutex::new(Vec::new()),
            capacity,
            dropped: AtomicU64::new(0),
        }
    }

    /// The subscriber path.
    pub fn collect(&self, event: &Arc<Event>) {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        if events.len() >= self.capacity {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        } else {
            events.push(event.clone());
        }
    }

    /// Events dropped because the buffer was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// How many events are held.
    pub fn len(&self) -> usize {
        self.events.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no event is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets the collected events.
    pub fn clear(&self) {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// The trajectory of the events collected so far.
    pub fn export(&self) -> Value {
        let events = self
            .events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        build(&self.info, &events)
    }
}
