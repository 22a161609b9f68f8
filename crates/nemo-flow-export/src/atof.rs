//! ATOF JSONL: one canonical JSON event per line, written by the worker thread.

use nemo_flow_core::Event;
use nemo_flow_core::clock::Timestamp;
use std::fs::{File, OpenOptions};
use std::io::Write;
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

/// Lines are buffered and written with one `write` per batch on an `O_APPEND` file, so a
/// forked child writing the same file never splits a parent's line (nor the parent a child's).
struct AtofSink {
    file: File,
    buf: Vec<u8>,
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
        self.buf
            .extend_from_slice(event.to_json_string().as_bytes());
        self.buf.push(b'\n');
        self.pending += 1;
    }

    fn batch_full(&self) -> bool {
        self.pending >= BATCH_LINES as u64
    }

    fn has_pending(&self) -> bool {
        self.pending > 0
    }

    fn export(&mut self, _deadline: Instant, _closing: bool, stats: &Stats) {
        if self.error.is_none() && self.pending > 0 {
            match self.file.write_all(&self.buf) {
                Ok(()) => {
                    stats.exported.fetch_add(self.pending, Ordering::Relaxed);
                    self.pending = 0;
                }
                Err(e) => self.fail(e, stats),
            }
        }
        self.buf.clear();
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
        validate_filename(&config.filename)?;
        std::fs::create_dir_all(&config.output_directory)?;
        let path = config.path();
        let mode = config.mode;
        let sink_path = path.clone();
        let factory = move |after_fork: bool, _stats: &Arc<Stats>| {
            // A forked child appends to the file its parent opened, never truncates it.
            let mode = if after_fork { AtofMode::Append } else { mode };
            Ok(Box::new(AtofSink {
                file: open(&sink_path, mode)?,
                buf: Vec::with_capacity(64 * 1024),
                pending: 0,
                error: None,
            }) as Box<dyn Sink>)
        };
        let worker = Worker::spawn_with(
            "atof",
            Box::new(factory),
            WorkerConfig {
                queue_capacity: config.queue_capacity,
                schedule_delay: Duration::from_millis(200),
                export_timeout: Duration::from_secs(5),
                overflow: crate::worker::Overflow::Drop,
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

/// Opens for appending (after truncating, in `Overwrite` mode): every write lands at the end.
fn open(path: &Path, mode: AtofMode) -> std::io::Result<File> {
    if mode == AtofMode::Overwrite {
        File::create(path)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}

/// Refuses a file name that would leave `output_directory`: separators, `..`, an absolute
/// path, or nothing at all.
pub fn validate_filename(name: &str) -> std::io::Result<()> {
    let plain =
        !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0']);
    if plain {
        return Ok(());
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("filename: expected a plain file name inside output_directory, got {name:?}"),
    ))
}
