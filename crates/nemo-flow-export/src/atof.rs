//! ATOF JSONL: one canonical JSON event per line, written by the worker thread.

use nemo_flow_core::Event;
use nemo_flow_core::clock::Timestamp;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::worker::{Sink, Stats, Worker, WorkerConfig};

/// What happens to an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AtofMode {
    /// Add lines at the end (the default).
    #[default]
    Append,
    /// Truncate first.
    Overwrite,
}

/// Where and how the JSONL file is written.
#[derive(Debug, Clone)]
pub struct AtofConfig {
    /// Directory of the file; created if missing. Default: the current directory.
    pub output_directory: PathBuf,
    /// File name. Default: `nemo-flow-events-YYYY-MM-DD-HH.MM.SS.jsonl` (UTC).
    pub filename: String,
    /// Append or overwrite.
    pub mode: AtofMode,
    /// Events the queue holds before it drops.
    pub queue_capacity: usize,
}

impl Default for AtofConfig {
    fn default() -> Self {
        Self {
            output_directory: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            filename: default_filename(Timestamp::now()),
            mode: AtofMode::Append,
            queue_capacity: 65_536,
        }
    }
}

impl AtofConfig {
    /// The file the exporter writes.
    pub fn path(&self) -> PathBuf {
        self.output_directory.join(&self.filename)
    }
}

/// `nemo-flow-events-2026-11-21-14.24.26.jsonl` for that instant.
pub fn default_filename(at: Timestamp) -> String {
    // RFC 3339 text starts "YYYY-MM-DDTHH:MM:SS".
    let t = at.to_rfc3339();
    let (date, time) = (&t[..10], &t[11..19]);
    format!("nemo-flow-events-{date}-{}.jsonl", time.replace(':', "."))
}

/// Lines buffered before the worker writes them out without waiting for the timer.
const BATCH_LINES: usize = 512;

struct AtofSink {
    out: BufWriter<File>,
    pending: u64,
    error: Option<String>,
}

impl AtofSink {
    fn fail(&mut self, e: std::io::Error, stats: &Stats) {
        stats.failed.fetch_add(self.pending, Ordering::Relaxed);
        self.pending = 0;
        self.error
            .get_or_insert_with(|| format!("ATOF write failed: {e}"));
    }
}

impl Sink for AtofSink {
    fn accept(&mut self, event: Arc<Event>, stats: &Stats) {
        if self.error.is_some() {
            stats.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut line = event.to_json_string();
        line.push('\n');
        self.pending += 1;
        if let Err(e) = self.out.write_all(line.as_bytes()) {
            self.fail(e, stats);
        }
    }

    fn batch_full(&self) -> bool {
        self.pending >= BATCH_LINES as u64
    }

    fn has_pending(&self) -> bool {
        self.pending > 0
    }

    fn export(&mut self, _deadline: Instant, _closing: bool, stats: &Stats) {
        if self.error.is_none() {
            match self.out.flush() {
                Ok(()) => {
                    stats.exported.fetch_add(self.pending, Ordering::Relaxed);
                    self.pending = 0;
                }
                Err(e) => self.fail(e, stats),
            }
        }
    }

    /// The first write failure is reported by every flush from then on.
    fn take_failure(&mut self) -> Option<String> {
        self.error.clone()
    }
}

/// The ATOF JSONL exporter.
pub struct AtofExporter {
    worker: Arc<Worker>,
    path: PathBuf,
}

impl AtofExporter {
    /// Creates the directory if needed and opens the file; fails if it cannot.
    pub fn new(config: &AtofConfig) -> std::io::Result<Self> {
        std::fs::create_dir_all(&config.output_directory)?;
        let path = config.path();
        let file = open(&path, config.mode)?;
        let sink = AtofSink {
            out: BufWriter::with_capacity(64 * 1024, file),
            pending: 0,
            error: None,
        };
        let worker = Worker::spawn(
            "atof",
            Box::new(sink),
            WorkerConfig {
                queue_capacity: config.queue_capacity,
                schedule_delay: Duration::from_millis(200),
                export_timeout: Duration::from_secs(5),
            },
        )?;
        Ok(Self { worker, path })
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The delivery worker (enqueue, flush, shutdown, counters).
    pub fn worker(&self) -> &Arc<Worker> {
        &self.worker
    }
}

fn open(path: &Path, mode: AtofMode) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.create(true);
    match mode {
        AtofMode::Append => o.append(true),
        AtofMode::Overwrite => o.write(true).truncate(true),
    };
    o.open(path)
}
