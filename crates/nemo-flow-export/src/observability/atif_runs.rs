//! One ATIF trajectory file per top-level agent run.
//!
//! A top-level agent run is an Agent scope whose parent is the root of its stack. Events are
//! routed to a run by ancestry: the run owns its agent scope and every span started under a
//! span it owns, so sibling and concurrent runs never mix and nested agents stay in their
//! parent's file. The file is written on the worker thread when the agent scope ends; runs
//! still open are written at shutdown. A write failure is logged and reported, never raised.

use nemo_flow_core::Event;
use nemo_flow_core::dispatch;
use nemo_flow_core::error::CallbackError;
use nemo_flow_core::plugin::{Diagnostic, Issues};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;
use uuid::Uuid;

use crate::atif::{AgentInfo, build};
use crate::worker::{Sink, Stats};

/// Where and how trajectories are written.
pub struct RunFiles {
    /// `agent` block of every trajectory (its `session_id` is set per run).
    pub info: AgentInfo,
    /// Target directory (created if missing).
    pub directory: PathBuf,
    /// File name with `{session_id}`.
    pub template: String,
    /// Where write failures are reported (the activation report).
    pub issues: Option<Issues>,
}

impl RunFiles {
    /// The file of the run whose agent scope is `session`.
    pub fn path_for(&self, session: &Uuid) -> PathBuf {
        self.directory
            .join(self.template.replace("{session_id}", &session.to_string()))
    }
}

#[derive(Default)]
struct Run {
    events: Vec<Arc<Event>>,
    members: Vec<Uuid>,
}

/// The worker-side router and writer.
pub struct AtifRunsSink {
    files: RunFiles,
    owner: HashMap<Uuid, Uuid>,
    runs: HashMap<Uuid, Run>,
    failure: Option<String>,
}

impl AtifRunsSink {
    /// A sink writing per `files`.
    pub fn new(files: RunFiles) -> Self {
        Self {
            files,
            owner: HashMap::new(),
            runs: HashMap::new(),
            failure: None,
        }
    }

    fn run_of(&mut self, e: &Event) -> Option<Uuid> {
        let top_level_agent = e.is_scope_start()
            && e.category.as_deref() == Some("agent")
            && e.parent_uuid == Some(e.root_uuid);
        if top_level_agent {
            self.runs.insert(e.uuid, Run::default());
            return Some(e.uuid);
        }
        if let Some(r) = self.owner.get(&e.uuid) {
            return Some(*r);
        }
        e.parent_uuid.and_then(|p| self.owner.get(&p).copied())
    }

    fn finish(&mut self, session: Uuid, stats: &Stats) {
        let Some(run) = self.runs.remove(&session) else {
            return;
        };
        for m in &run.members {
            self.owner.remove(m);
        }
        let n = run.events.len() as u64;
        let mut info = self.files.info.clone();
        info.session_id = session.to_string();
        let doc = build(&info, &run.events);
        let path = self.files.path_for(&session);
        match write(&self.files.directory, &path, &doc) {
            Ok(()) => {
                stats.exported.fetch_add(n, Ordering::Relaxed);
            }
            Err(e) => {
                stats.failed.fetch_add(n, Ordering::Relaxed);
                let message = format!("could not write ATIF trajectory {}: {e}", path.display());
                dispatch::report(
                    "observability ATIF exporter",
                    &CallbackError::new("OSError", message.clone()),
                );
                if let Some(i) = &self.files.issues {
                    i.push(
                        Diagnostic::error("observability.atif_write_failed", message.clone())
                            .component(super::KIND)
                            .field("atif.output_directory"),
                    );
                }
                self.failure.get_or_insert(message);
            }
        }
    }
}

fn write(dir: &Path, path: &Path, doc: &serde_json::Value) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let text = serde_json::to_string_pretty(doc).map_err(std::io::Error::other)?;
    std::fs::write(path, text)
}

impl Sink for AtifRunsSink {
    fn accept(&mut self, event: Arc<Event>, stats: &Stats) {
        let Some(run) = self.run_of(&event) else {
            // Not part of any top-level agent run: nothing to write.
            stats.exported.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let ends_run = event.is_scope_end() && event.uuid == run;
        if let Some(r) = self.runs.get_mut(&run) {
            if event.is_scope_start() {
                r.members.push(event.uuid);
                self.owner.insert(event.uuid, run);
            }
            r.events.push(event);
        }
        if ends_run {
            self.finish(run, stats);
        }
    }

    fn batch_full(&self) -> bool {
        false
    }

    /// Finished runs are written as they end; open ones only at shutdown.
    fn has_pending(&self) -> bool {
        false
    }

    fn export(&mut self, _deadline: Instant, closing: bool, stats: &Stats) {
        if closing {
            let open: Vec<Uuid> = self.runs.keys().copied().collect();
            for session in open {
                self.finish(session, stats);
            }
        }
    }

    fn take_failure(&mut self) -> Option<String> {
        self.failure.take()
    }
}
