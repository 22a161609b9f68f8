//! The delivery machinery every exporter shares: the subscriber callback only puts an
//! `Arc<Event>` into a bounded queue; one background thread per exporter converts and writes.
//! A full queue drops the event and counts it (or, with [`Overflow::Block`], waits a bounded
//! time first); flush and shutdown wait at most their timeout, and report success only when
//! every event emitted so far was delivered.

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError, bounded};
use nemo_flow_core::Event;
use std::sync::atomic::AtomicPtr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Counters an exporter exposes. After a successful flush with no open spans,
/// `exported + spooled + failed + dropped == emitted`.
#[derive(Debug, Default)]
pub struct Stats {
    /// Events handed to the exporter's subscriber callback.
    pub emitted: AtomicU64,
    /// Events dropped because the queue was full, the spool was full, or the exporter was
    /// shut down.
    pub dropped: AtomicU64,
    /// Events whose data reached the backend (or the file).
    pub exported: AtomicU64,
    /// Events whose export failed (backend error, timeout, write error).
    pub failed: AtomicU64,
    /// Events waiting in a spool file for the backend to come back (they move to `exported`
    /// when it does).
    pub spooled: AtomicU64,
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

    /// Events currently spooled.
    pub fn spooled(&self) -> u64 {
        self.spooled.load(Ordering::Relaxed)
    }

    fn lost(&self) -> (u64, u64) {
        (
            self.dropped.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }

    fn reset(&self) {
        for c in [
            &self.emitted,
            &self.dropped,
            &self.exported,
            &self.failed,
            &self.spooled,
        ] {
            c.store(0, Ordering::Relaxed);
        }
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
    /// Writes (or hands off for writing) what is buffered, giving up at `deadline`. `closing`
    /// is set by shutdown (open spans are closed and written too). Failures are recorded for
    /// [`Sink::take_failure`].
    fn export(&mut self, deadline: Instant, closing: bool, stats: &Stats);
    /// Waits until everything handed off by [`Sink::export`] has been delivered or has
    /// failed, at most until `deadline`; returns whether it settled in time. Sinks that write
    /// synchronously have nothing to wait for.
    fn settle(&mut self, _deadline: Instant, _stats: &Stats) -> bool {
        true
    }
    /// The failure to report to a flush, if any export failed since the previous flush.
    fn take_failure(&mut self) -> Option<String>;
}

/// Builds the sink of a worker; called again in a forked child (`after_fork = true`) so the
/// child gets fresh connections and files instead of the parent's.
/// The factory gets the worker's counters, which a sink that delivers from threads of its
/// own updates directly.
pub type SinkFactory =
    Box<dyn Fn(bool, &Arc<Stats>) -> std::io::Result<Box<dyn Sink>> + Send + Sync>;

/// What the subscriber path does when the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overflow {
    /// Drop the event and count it (never waits).
    #[default]
    Drop,
    /// Wait up to this long for room, then drop and count.
    Block(Duration),
}

/// Timing of the worker thread.
#[derive(Debug, Clone, Copy)]
pub struct WorkerConfig {
    /// Events the queue holds before it overflows.
    pub queue_capacity: usize,
    /// Buffered data is written at least this often.
    pub schedule_delay: Duration,
    /// Upper bound of one scheduled export.
    pub export_timeout: Duration,
    /// What a full queue does to the caller.
    pub overflow: Overflow,
}

/// Why a flush or shutdown did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlushError {
    /// The timeout passed first.
    Timeout,
    /// An export failed (the message says why).
    Failed(String),
    /// Events were dropped before they could be exported (queue or spool full, or emitted
    /// after shutdown).
    Lost(String),
}

impl std::fmt::Display for FlushError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Timeout => f.write_str("timed out"),
            Self::Failed(m) | Self::Lost(m) => f.write_str(m),
        }
    }
}

type Reply = Sender<Result<(), String>>;

enum Msg {
    Event(Arc<Event>),
    Flush(Reply, Instant),
    Shutdown(Reply, Instant),
}

/// The thread, the sending end of its queue and the failure it reported. Replaced in a
/// forked child, where locks held by the parent's other threads would never be released:
/// so it sits behind an atomic pointer, and the parent's copy is leaked there, not touched.
struct Running {
    tx: Sender<Msg>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The first export failure ever reported, kept so every later flush reports it too.
    failure: Mutex<Option<String>>,
}

/// A running exporter worker.
pub struct Worker {
    name: String,
    running: AtomicPtr<Running>,
    factory: Option<SinkFactory>,
    config: WorkerConfig,
    stats: Arc<Stats>,
    closed: AtomicBool,
    /// Set in a forked child whose worker could not be restarted: flushes fail at once
    /// instead of waiting on a thread that does not exist.
    orphaned: AtomicBool,
}

impl Drop for Worker {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `Box::into_raw` and nothing else holds it once the
        // worker itself is being dropped.
        drop(unsafe { Box::from_raw(*self.running.get_mut()) });
    }
}

impl Worker {
    /// Starts the background thread for `sink`. A worker made this way cannot be restarted
    /// in a forked child (see [`Worker::spawn_with`]).
    pub fn spawn(
        name: &str,
        sink: Box<dyn Sink>,
        config: WorkerConfig,
    ) -> std::io::Result<Arc<Self>> {
        Self::start(name, sink, None, config, Arc::new(Stats::default()))
    }

    /// Starts the background thread with the sink `factory` builds; after `fork`, the child's
    /// worker is rebuilt from the same factory by [`restart_after_fork`].
    pub fn spawn_with(
        name: &str,
        factory: SinkFactory,
        config: WorkerConfig,
    ) -> std::io::Result<Arc<Self>> {
        let stats = Arc::new(Stats::default());
        let sink = factory(false, &stats)?;
        Self::start(name, sink, Some(factory), config, stats)
    }

    fn start(
        name: &str,
        sink: Box<dyn Sink>,
        factory: Option<SinkFactory>,
        config: WorkerConfig,
        stats: Arc<Stats>,
    ) -> std::io::Result<Arc<Self>> {
        let running = launch(name, sink, config, &stats)?;
        let worker = Arc::new(Self {
            name: name.to_owned(),
            running: AtomicPtr::new(Box::into_raw(Box::new(running))),
            factory,
            config,
            stats,
            closed: AtomicBool::new(false),
            orphaned: AtomicBool::new(false),
        });
        live()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arc::downgrade(&worker));
        Ok(worker)
    }

    /// The subscriber path: enqueue, or (after the overflow policy's wait) drop and count.
    pub fn enqueue(&self, event: &Arc<Event>) {
        self.stats.emitted.fetch_add(1, Ordering::Relaxed);
        if self.closed.load(Ordering::Acquire) {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let running = self.running();
        let sent = match running.tx.try_send(Msg::Event(event.clone())) {
            Ok(()) => true,
            Err(TrySendError::Full(msg)) => match self.config.overflow {
                Overflow::Drop => false,
                Overflow::Block(wait) => {
                    let mut sent = false;
                    let mut msg = Some(msg);
                    blocking_region(&mut || {
                        if let Some(m) = msg.take() {
                            sent = running.tx.send_timeout(m, wait).is_ok();
                        }
                    });
                    sent
                }
            },
            Err(TrySendError::Disconnected(_)) => false,
        };
        if !sent {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn running(&self) -> &Running {
        // SAFETY: the pointer is always a live `Box<Running>`: it is only replaced in a
        // forked child (single-threaded at that point), which leaks the old one, and freed
        // when the worker is dropped.
        unsafe { &*self.running.load(Ordering::Acquire) }
    }

    /// The exporter's counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Whether `shutdown` has been called.
    pub fn is_shut_down(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Delivers everything enqueued before this call; returns within `timeout`. Succeeds only
    /// if no event emitted so far was dropped or failed: success means delivered.
    pub fn flush(&self, timeout: Duration) -> Result<(), FlushError> {
        if !self.is_shut_down() {
            self.request(timeout, Msg::Flush)?;
        }
        self.verdict()
    }

    /// Flushes, closes open spans, and stops the thread; returns within `timeout`. Later
    /// calls only report; events emitted afterwards are dropped and counted.
    pub fn shutdown(&self, timeout: Duration) -> Result<(), FlushError> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return self.verdict();
        }
        self.request(timeout, Msg::Shutdown)?;
        // The thread has answered its last message and is exiting.
        let thread = self
            .running()
            .thread
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(t) = thread {
            let _ = t.join();
        }
        self.verdict()
    }

    fn request(
        &self,
        timeout: Duration,
        make: fn(Reply, Instant) -> Msg,
    ) -> Result<(), FlushError> {
        if self.orphaned.load(Ordering::Acquire) {
            return Err(FlushError::Failed(format!(
                "exporter '{}' has no worker thread in this forked process",
                self.name
            )));
        }
        let deadline = Instant::now() + timeout;
        let (reply_tx, reply_rx) = bounded(1);
        let tx = self.running().tx.clone();
        tx.send_deadline(make(reply_tx, deadline), deadline)
            .map_err(|_| FlushError::Timeout)?;
        match reply_rx.recv_deadline(deadline) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(m)) => {
                self.running()
                    .failure
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get_or_insert(m);
                Ok(())
            }
            Err(_) => Err(FlushError::Timeout),
        }
    }

    /// Whether everything emitted so far was delivered (or is safely spooled).
    fn verdict(&self) -> Result<(), FlushError> {
        let failure = self
            .running()
            .failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let (dropped, failed) = self.stats.lost();
        if failed > 0 || failure.is_some() {
            let why = failure.unwrap_or_else(|| "export failed".into());
            return Err(FlushError::Failed(format!(
                "{failed} event(s) failed to export: {why}"
            )));
        }
        let spooled = self.stats.spooled();
        if spooled > 0 {
            return Err(FlushError::Failed(format!(
                "{spooled} event(s) waiting in the spool for the backend to answer"
            )));
        }
        if dropped > 0 {
            return Err(FlushError::Lost(format!(
                "{dropped} event(s) dropped (queue full, spool full, or emitted after shutdown)"
            )));
        }
        Ok(())
    }

    /// In a forked child: a fresh queue and thread with a sink from the factory, counters
    /// reset (the parent's pending events stay the parent's). Without a factory, the worker
    /// is marked orphaned and drops everything.
    fn restart_in_child(&self) {
        self.stats.reset();
        let fresh = if self.is_shut_down() {
            None
        } else {
            self.factory
                .as_ref()
                .map(|f| f(true, &self.stats))
                .and_then(Result::ok)
                .and_then(|sink| launch(&self.name, sink, self.config, &self.stats).ok())
        };
        let replacement = fresh.unwrap_or_else(|| {
            self.orphaned.store(true, Ordering::Release);
            self.closed.store(true, Ordering::Release);
            let (tx, _) = bounded(1);
            Running {
                tx,
                thread: Mutex::new(None),
                failure: Mutex::new(None),
            }
        });
        // The parent's `Running` (its thread handle, queue and locks) is leaked on purpose:
        // that thread does not exist here and its locks may be held forever.
        self.running
            .store(Box::into_raw(Box::new(replacement)), Ordering::Release);
    }
}

/// Runs a wait of the subscriber path (the `Block` overflow policy). An embedding runtime
/// can install a wrapper, e.g. the Python binding releases the GIL around the wait so other
/// threads, the backend's included when it lives in the same process, keep running.
pub type BlockingRegion = fn(&mut dyn FnMut());

static BLOCKING_REGION: std::sync::OnceLock<BlockingRegion> = std::sync::OnceLock::new();

/// Installs the wrapper for waits on the subscriber path (first call wins).
pub fn set_blocking_region(wrapper: BlockingRegion) {
    let _ = BLOCKING_REGION.set(wrapper);
}

fn blocking_region(f: &mut dyn FnMut()) {
    match BLOCKING_REGION.get() {
        Some(wrap) => wrap(f),
        None => f(),
    }
}

fn launch(
    name: &str,
    sink: Box<dyn Sink>,
    config: WorkerConfig,
    stats: &Arc<Stats>,
) -> std::io::Result<Running> {
    let (tx, rx) = bounded(config.queue_capacity.max(1));
    let thread_stats = stats.clone();
    let thread = std::thread::Builder::new()
        .name(format!("nemo-flow-{name}"))
        .spawn(move || run(rx, sink, config, &thread_stats))?;
    Ok(Running {
        tx,
        thread: Mutex::new(Some(thread)),
        failure: Mutex::new(None),
    })
}

fn run(rx: Receiver<Msg>, mut sink: Box<dyn Sink>, config: WorkerConfig, stats: &Stats) {
    let mut next = Instant::now() + config.schedule_delay;
    let answer = |sink: &mut Box<dyn Sink>, reply: Reply, deadline: Instant, closing: bool| {
        sink.export(deadline, closing, stats);
        let settled = sink.settle(deadline, stats);
        let result = match sink.take_failure() {
            Some(m) => Err(m),
            None if !settled => Err("export still in flight when the deadline passed".into()),
            None => Ok(()),
        };
        let _ = reply.send(result);
    };
    loop {
        match rx.recv_deadline(next) {
            Ok(Msg::Event(e)) => {
                sink.accept(e, stats);
                if sink.batch_full() {
                    sink.export(Instant::now() + config.export_timeout, false, stats);
                    next = Instant::now() + config.schedule_delay;
                }
            }
            Ok(Msg::Flush(reply, deadline)) => answer(&mut sink, reply, deadline, false),
            Ok(Msg::Shutdown(reply, deadline)) => {
                answer(&mut sink, reply, deadline, true);
                return;
            }
            Err(RecvTimeoutError::Timeout) => {
                if sink.has_pending() {
                    sink.export(Instant::now() + config.export_timeout, false, stats);
                }
                next = Instant::now() + config.schedule_delay;
            }
            Err(RecvTimeoutError::Disconnected) => {
                let deadline = Instant::now() + config.export_timeout;
                sink.export(deadline, true, stats);
                sink.settle(deadline, stats);
                return;
            }
        }
    }
}

fn live() -> &'static Mutex<Vec<Weak<Worker>>> {
    static LIVE: Mutex<Vec<Weak<Worker>>> = Mutex::new(Vec::new());
    &LIVE
}

fn live_workers() -> Vec<Arc<Worker>> {
    let mut l = live().lock().unwrap_or_else(|e| e.into_inner());
    l.retain(|w| w.strong_count() > 0);
    l.iter().filter_map(Weak::upgrade).collect()
}

/// Shuts down every exporter still alive in the process (interpreter exit), sharing one
/// `timeout`. Returns whether all of them finished cleanly.
pub fn shutdown_all(timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let mut ok = true;
    for w in live_workers() {
        let left = deadline.saturating_duration_since(Instant::now());
        ok &= w.shutdown(left).is_ok();
    }
    ok
}

/// Call in the child right after `fork()` (Python: `os.register_at_fork(after_in_child=…)`):
/// every live exporter gets a new worker thread, an empty queue and zeroed counters, so the
/// child exports its own events and exits promptly, and the parent's queue is sent once.
pub fn restart_after_fork() {
    for w in live_workers() {
        w.restart_in_child();
    }
}
