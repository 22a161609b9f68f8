//! The delivery worker: never waits on the subscriber path, drops and counts when full,
//! flush and shutdown bounded by their timeout.

mod common;

use common::Run;
use nemo_flow_core::Event;
use nemo_flow_export::worker::{FlushError, Overflow, Sink, Stats, Worker, WorkerConfig};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Takes `delay` per export and counts what it received.
struct SlowSink {
    pending: u64,
    delay: Duration,
}

impl Sink for SlowSink {
    fn accept(&mut self, _e: Arc<Event>, _s: &Stats) {
        self.pending += 1;
    }
    fn batch_full(&self) -> bool {
        self.pending >= 8
    }
    fn has_pending(&self) -> bool {
        self.pending > 0
    }
    fn export(&mut self, _deadline: Instant, _closing: bool, stats: &Stats) {
        std::thread::sleep(self.delay);
        stats.exported.fetch_add(self.pending, Ordering::Relaxed);
        self.pending = 0;
    }
    fn take_failure(&mut self) -> Option<String> {
        None
    }
}

fn worker(delay: Duration, capacity: usize) -> Arc<Worker> {
    Worker::spawn(
        "test",
        Box::new(SlowSink { pending: 0, delay }),
        WorkerConfig {
            queue_capacity: capacity,
            schedule_delay: Duration::from_millis(20),
            export_timeout: Duration::from_secs(1),
            overflow: Overflow::Drop,
        },
    )
    .unwrap()
}

#[test]
fn exported_plus_dropped_equals_emitted_from_many_threads() {
    let w = worker(Duration::from_millis(5), 16);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let w = w.clone();
            std::thread::spawn(move || {
                let mut r = Run::new();
                for _ in 0..2_000 {
                    w.enqueue(&r.mark(None, "m", Value::Null));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // Success means delivered: with drops, shutdown finishes but says events were lost.
    assert!(matches!(
        w.shutdown(Duration::from_secs(30)),
        Err(FlushError::Lost(_))
    ));
    let (emitted, dropped, exported, failed) = w.stats().snapshot();
    assert_eq!(emitted, 8_000);
    assert!(dropped > 0);
    assert_eq!(failed, 0);
    assert_eq!(exported + dropped, emitted);
}

#[test]
fn flush_gives_up_at_its_timeout_while_an_export_is_stuck() {
    let w = worker(Duration::from_secs(3), 16);
    let mut r = Run::new();
    for _ in 0..8 {
        w.enqueue(&r.mark(None, "m", Value::Null));
    }
    // The worker is now inside a 3 s export; a 50 ms flush reports a timeout.
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(w.flush(Duration::from_millis(50)), Err(FlushError::Timeout));
    assert_eq!(
        w.shutdown(Duration::from_millis(50)),
        Err(FlushError::Timeout)
    );
    // Shut down: later events are dropped and counted, later calls return at once.
    w.enqueue(&r.mark(None, "late", Value::Null));
    assert_eq!(w.stats().dropped.load(Ordering::Relaxed), 1);
    assert!(matches!(
        w.shutdown(Duration::from_millis(1)),
        Err(FlushError::Lost(_))
    ));
}
