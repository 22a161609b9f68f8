//! Pipelined delivery: the worker thread assembles spans and hands each encoded batch to a
//! small pool of sender threads, each with its own transport (its own keep-alive connection),
//! so several batches are in flight while the worker keeps draining the event queue. A
//! batch that cannot be delivered is spooled (when a spool is configured) or counted failed;
//! after any successful send, the spool is replayed oldest first.

use crossbeam_channel::{Receiver, Sender, bounded};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::spool::Spool;
use super::transport::{SendError, SpanTransport};
use crate::worker::Stats;

/// Attempts per batch (the first and two retries), all within the export deadline.
const MAX_ATTEMPTS: u32 = 3;

/// One batch on its way.
pub struct Job {
    /// The encoded `ExportTraceServiceRequest`.
    pub body: Vec<u8>,
    /// Events folded into its spans.
    pub events: u64,
    /// Give up (spool or fail) after this.
    pub deadline: Instant,
}

/// Builds one sender's transport.
pub type TransportFactory = Arc<dyn Fn() -> Box<dyn SpanTransport> + Send + Sync>;

/// What the senders share with the worker thread.
struct Shared {
    stats: Arc<Stats>,
    in_flight: Mutex<usize>,
    settled: Condvar,
    spool: Option<Mutex<Spool>>,
    replaying: AtomicBool,
    request_timeout: Duration,
    failure: Mutex<Option<String>>,
    last_error: Arc<Mutex<Option<String>>>,
}

impl Shared {
    fn record_error(&self, m: &str) {
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(m.to_owned());
    }

    fn done(&self) {
        let mut n = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        *n -= 1;
        if *n == 0 {
            self.settled.notify_all();
        }
    }

    /// Sends `body` with bounded retries; every failed attempt is visible in `last_error`
    /// at once (not only after the last retry).
    fn send(
        &self,
        transport: &mut dyn SpanTransport,
        body: &[u8],
        deadline: Instant,
    ) -> Result<(), String> {
        let mut error = String::from("export deadline passed before sending");
        for attempt in 0..MAX_ATTEMPTS {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match transport.send(body, left.min(self.request_timeout)) {
                Ok(()) => return Ok(()),
                Err(SendError::Permanent(m)) => {
                    self.record_error(&m);
                    return Err(m);
                }
                Err(SendError::Retryable(m, hint)) => {
                    self.record_error(&m);
                    error = m;
                    let backoff = hint.unwrap_or(Duration::from_millis(100 << attempt));
                    if attempt + 1 == MAX_ATTEMPTS || Instant::now() + backoff >= deadline {
                        break;
                    }
                    std::thread::sleep(backoff);
                }
            }
        }
        Err(error)
    }

    /// A batch that could not go out now: into the spool if there is one and it has room,
    /// else counted (`failed` with a reason, or `dropped` when the spool is full).
    fn park(&self, job: &Job, why: String) {
        let spooled = self.spool.as_ref().map(|s| {
            s.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(&job.body, job.events)
        });
        match spooled {
            Some(Ok(true)) => {
                self.stats.spooled.fetch_add(job.events, Ordering::Relaxed);
            }
            Some(Ok(false)) => {
                self.stats.dropped.fetch_add(job.events, Ordering::Relaxed);
            }
            Some(Err(e)) => self.fail(job.events, format!("{why}; spool write failed: {e}")),
            None => self.fail(job.events, why),
        }
    }

    fn fail(&self, events: u64, why: String) {
        self.stats.failed.fetch_add(events, Ordering::Relaxed);
        self.record_error(&why);
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(why);
    }

    /// After a success: send the spooled batches again, oldest first, until one fails. One
    /// sender replays at a time; the others keep sending fresh batches.
    fn replay(&self, transport: &mut dyn SpanTransport) {
        let Some(spool) = &self.spool else { return };
        if self.replaying.swap(true, Ordering::AcqRel) {
            return;
        }
        loop {
            let record = match spool.lock().unwrap_or_else(|e| e.into_inner()).peek() {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(e) => {
                    self.record_error(&format!("spool read failed: {e}"));
                    break;
                }
            };
            let deadline = Instant::now() + self.request_timeout * MAX_ATTEMPTS;
            if self.send(transport, &record.body, deadline).is_err() {
                break;
            }
            if let Err(e) = spool
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .consume(&record)
            {
                self.record_error(&format!("spool truncate failed: {e}"));
            }
            self.stats
                .spooled
                .fetch_sub(record.events, Ordering::Relaxed);
            self.stats
                .exported
                .fetch_add(record.events, Ordering::Relaxed);
        }
        self.replaying.store(false, Ordering::Release);
    }
}

/// The sender threads and the queue of batches between them and the worker.
pub struct SenderPool {
    jobs: Option<Sender<Job>>,
    shared: Arc<Shared>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// How a pool is set up.
pub struct PoolConfig {
    /// Sender threads (batches in flight at once).
    pub senders: usize,
    /// Bound of one request.
    pub request_timeout: Duration,
    /// Where undeliverable batches wait, if anywhere.
    pub spool: Option<Spool>,
}

impl SenderPool {
    /// Starts `config.senders` threads, each with a transport from `transport`.
    pub fn start(
        config: PoolConfig,
        transport: &TransportFactory,
        stats: Arc<Stats>,
        last_error: Arc<Mutex<Option<String>>>,
    ) -> std::io::Result<Self> {
        let senders = config.senders.max(1);
        let (tx, rx) = bounded::<Job>(senders);
        let shared = Arc::new(Shared {
            stats,
            in_flight: Mutex::new(0),
            settled: Condvar::new(),
            spool: config.spool.map(Mutex::new),
            replaying: AtomicBool::new(false),
            request_timeout: config.request_timeout,
            failure: Mutex::new(None),
            last_error,
        });
        let mut threads = Vec::with_capacity(senders);
        for i in 0..senders {
            let rx = rx.clone();
            let shared = shared.clone();
            let t = transport.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("nemo-flow-otlp-send-{i}"))
                    .spawn(move || sender(&rx, &*t, &shared))?,
            );
        }
        let pool = Self {
            jobs: Some(tx),
            shared,
            threads,
        };
        // Batches an earlier process left in the spool go out as soon as a sender is free.
        if pool.has_spooled() {
            pool.submit(Job {
                body: Vec::new(),
                events: 0,
                deadline: Instant::now(),
            });
        }
        Ok(pool)
    }

    fn has_spooled(&self) -> bool {
        self.shared
            .spool
            .as_ref()
            .is_some_and(|s| s.lock().unwrap_or_else(|e| e.into_inner()).has_records())
    }

    /// Hands `job` to a sender, waiting for one until the job's deadline; a job no sender
    /// took in time is spooled or counted failed. With a spool, never waits: a busy pool
    /// spools at once so the worker keeps draining the event queue.
    pub fn submit(&self, job: Job) {
        let Some(jobs) = &self.jobs else { return };
        *self
            .shared
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner()) += 1;
        if job.body.is_empty() {
            // A replay nudge: worth nothing if every sender is busy (they replay anyway).
            if jobs.try_send(job).is_err() {
                self.shared.done();
            }
            return;
        }
        let handed = if self.shared.spool.is_some() {
            jobs.try_send(job)
                .map_err(crossbeam_channel::TrySendError::into_inner)
        } else {
            let deadline = job.deadline;
            jobs.send_deadline(job, deadline)
                .map_err(crossbeam_channel::SendTimeoutError::into_inner)
        };
        if let Err(job) = handed {
            self.shared.park(
                &job,
                "export backlog: no sender became free before the export deadline".into(),
            );
            self.shared.done();
        }
    }

    /// Waits until no batch is in flight, at most until `deadline`.
    pub fn settle(&self, deadline: Instant) -> bool {
        let mut n = self
            .shared
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        while *n > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            n = self
                .shared
                .settled
                .wait_timeout(n, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// The first delivery failure since the previous call.
    pub fn take_failure(&self) -> Option<String> {
        self.shared
            .failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}

impl Drop for SenderPool {
    fn drop(&mut self) {
        // Closing the queue lets each sender finish its batch and exit.
        self.jobs = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn sender(
    rx: &Receiver<Job>,
    make: &(dyn Fn() -> Box<dyn SpanTransport> + Send + Sync),
    shared: &Shared,
) {
    let mut transport = make();
    while let Ok(job) = rx.recv() {
        // An empty job only asks for a replay attempt (spool left by an earlier process).
        if job.body.is_empty() {
            shared.replay(&mut *transport);
        } else {
            match shared.send(&mut *transport, &job.body, job.deadline) {
                Ok(()) => {
                    shared
                        .stats
                        .exported
                        .fetch_add(job.events, Ordering::Relaxed);
                    shared.replay(&mut *transport);
                }
                Err(why) => shared.park(&job, why),
            }
        }
        shared.done();
    }
}
