//! The delivery machinery every exporter shares: the subscriber callback only puts an
//! `Arc<Event>` into a bounded queue; one background thread per exporter converts and writes.
//! A full queue drops the event and counts it; flush and shutdown wait at most their timeout.

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError, bounded};
use nemo_flow_core::Event;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Counters an exporter exposes. After a successful flush with no open spans,
/// `exported + failed + dropped == emitted`.
#[derive(Debug, Default)]
pub struct Stats {
    /// Events handed to the exporter's subscriber callback.
    pub emitted: AtomicU64,
    /// Events dropped because the queue was full or the exporter was shut down.
    pub dropped: AtomicU64,
    /// Events whose data reached the backend (or the file).
    pub exported: AtomicU64,
    /// Events whose export failed (backend error, timeout, write error).
    pub failed: AtomicU64,
}

impl Stats {
    /// `(emitted, dropped, exported, failed)`.
    pub fn snapshot(&self) -> (u64, u64, u64, u64) {
        (
            self.emitted.load(Ordering::Relaxed),
            self.dropped.load(Ordering::Relaxed),
            self.exported.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

/// The conversion and I/O side of an exporter; runs on the worker thread only.
pub trait Sink: Send + 'static {
    /// Takes one event (convert and buffer; no waiting on I/O unless a batch is full).
    fn accept(&mut self, event: Arc<Event>, stats: &Stats);
    /// Whether a full batch is buffered and should be written now.
    fn batch_full(&self) -> bool;
    /// Whether anything is buffered.
    fn has_pending(&self) -> bool;
    /// Writes what is buffered, giving up at `deadline`. `closing` is set by shutdown (open
    /// spans are closed and written too). Failures are recorded for [`Sink::take_failure`].
    fn export(&mut self, deadline: Instant, closing: bool, stats: &Stats);
    /// The failure to report to a flush, if any export failed since the previous flush.
    fn take_failure(&mut self) -> Option<String>;
}

/// Timing of the worker thread.
#[derive(Debug, Clone, Copy)]
pub struct WorkerConfig {
    /// Events the queue holds before it drops.
    pub queue_capacity: usize,
    /// Buffered data is written at least this often.
    pub schedule_delay: Duration,
    /// Upper bound of one scheduled export.
    pub export_timeout: Duration,
}

/// Why a flush or shutdown did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlushError {
    /// The timeout passed first.
    Timeout,
    /// The export failed.
    Failed(String),
}

impl std::fmt::Display for FlushError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Timeout => f.write_str("timed out"),
            Self::Failed(m) => f.write_str(m),
        }
    }
}

type Reply = Sender<Result<(), String>>;

enum Msg {
    Event(Arc<Event>),
    Flush(Reply, Instant),
    Shutdown(Reply, Instant),
}

/// A running exporter worker.
pub struct Worker {
    tx: Sender<Msg>,
    stats: Arc<Stats>,
    closed: AtomicBool,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Worker {
    /// Starts the background thread for `sink`.
    pub fn spawn(
        name: &str,
        sink: Box<dyn Sink>,
        config: WorkerConfig,
    ) -> std::io::Result<Arc<Self>> {
        let (tx, rx) = bounded(config.queue_capacity.max(1));
        let stats = Arc::new(Stats::default());
        let thread_stats = stats.clone();
        let thread = std::thread::Builder::new()
            .name(format!("nemo-flow-{name}"))
            .spawn(move || run(rx, sink, config, &thread_stats))?;
        let worker = Arc::new(Self {
            tx,
            stats,
            closed: AtomicBool::new(false),
            thread: Mutex::new(Some(thread)),
        });
        live()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arc::downgrade(&worker));
        Ok(worker)
    }

    /// The subscriber path: enqueue or drop-and-count. Never waits.
    pub fn enqueue(&self, event: &Arc<Event>) {
        self.stats.emitted.fetch_add(1, Ordering::Relaxed);
        if self.closed.load(Ordering::Acquire) {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        match self.tx.try_send(Msg::Event(event.clone())) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The exporter's counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Whether `shutdown` has been called.
    pub fn is_shut_down(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Writes everything enqueued before this call; returns within `timeout`.
    pub fn flush(&self, timeout: Duration) -> Result<(), FlushError> {
        if self.is_shut_down() {
            return Ok(());
        }
        self.request(timeout, Msg::Flush)
    }

    /// Flushes, closes open spans, and stops the thread; returns within `timeout`. Later calls
    /// do nothing; events emitted afterwards are dropped and counted.
    pub fn shutdown(&self, timeout: Duration) -> Result<(), FlushError> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let result = self.request(timeout, Msg::Shutdown);
        if result.is_ok() {
            // The thread has answered its last message and is exiting.
            if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
                let _ = t.join();
            }
        }
        result
    }

    fn request(
        &self,
        timeout: Duration,
        make: fn(Reply, Instant) -> Msg,
    ) -> Result<(), FlushError> {
        let deadline = Instant::now() + timeout;
        let (reply_tx, reply_rx) = bounded(1);
        self.tx
            .send_deadline(make(reply_tx, deadline), deadline)
            .map_err(|_| FlushError::Timeout)?;
        match reply_rx.recv_deadline(deadline) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(m)) => Err(FlushError::Failed(m)),
            Err(_) => Err(FlushError::Timeout),
        }
    }
}

fn run(rx: Receiver<Msg>, mut sink: Box<dyn Sink>, config: WorkerConfig, stats: &Stats) {
    let mut next = Instant::now() + config.schedule_delay;
    loop {
        match rx.recv_deadline(next) {
            Ok(Msg::Event(e)) => {
                sink.accept(e, stats);
                if sink.batch_full() {
                    sink.export(Instant::now() + config.export_timeout, false, stats);
                    next = Instant::now() + config.schedule_delay;
                }
            }
            Ok(Msg::Flush(reply, deadline)) => {
                sink.export(deadline, false, stats);
                let _ = reply.send(sink.take_failure().map_or(Ok(()), Err));
            }
            Ok(Msg::Shutdown(reply, deadline)) => {
                sink.export(deadline, true, stats);
                let _ = reply.send(sink.take_failure().map_or(Ok(()), Err));
                return;
            }
            Err(RecvTimeoutError::Timeout) => {
                if sink.has_pending() {
                    sink.export(Instant::now() + config.export_timeout, false, stats);
                }
                next = Instant::now() + config.schedule_delay;
            }
            Err(RecvTimeoutError::Disconnected) => {
                sink.export(Instant::now() + config.export_timeout, true, stats);
                return;
            }
        }
    }
}

fn live() -> &'static Mutex<Vec<Weak<Worker>>> {
    static LIVE: Mutex<Vec<Weak<Worker>>> = Mutex::new(Vec::new());
    &LIVE
}

/// Shuts down every exporter still alive in the process (interpreter exit), sharing one
/// `timeout`. Returns whether all of them finished cleanly.
pub fn shutdown_all(timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let workers: Vec<Arc<Worker>> = {
        let mut l = live().lock().unwrap_or_else(|e| e.into_inner());
        l.retain(|w| w.strong_count() > 0);
        l.iter().filter_map(Weak::upgrade).collect()
    };
    let mut ok = true;
    for w in workers {
        let left = deadline.saturating_duration_since(Instant::now());
        ok &= w.shutdown(left).is_ok();
    }
    ok
}
