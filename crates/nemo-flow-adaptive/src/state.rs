//! State backends (§9.6): where runs and learned state live. The trait is object-safe and
//! async (boxed futures), so the in-memory backend here and a Redis backend (shared across
//! workers, reconnecting) are chosen at runtime behind one `Arc<dyn StateBackend>`. Values are
//! JSON documents, exactly what Redis stores. Run history is bounded per agent (the original
//! kept every run forever).

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use serde_json::Value;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A backend failure (connection, serialization…); never raised into a managed call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateError(pub String);

impl std::fmt::Display for StateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "adaptive state backend: {}", self.0)
    }
}

impl std::error::Error for StateError {}

/// Result of a backend operation.
pub type StateResult<T> = Result<T, StateError>;

/// What is stored, and under which id: agent-scoped documents and ACG learning-key documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Slot {
    /// Execution plan (`plan:<agent>`).
    Plan,
    /// Latency trie (`trie:<agent>`).
    Trie,
    /// ACG observations window (`acg_observations:<key>`).
    AcgObservations,
    /// ACG stability profile (`acg_stability:<key>`).
    AcgStability,
}

impl Slot {
    /// The Redis key segment.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plan => "plan",
            Self::Trie => "trie",
            Self::AcgObservations => "acg_observations",
            Self::AcgStability => "acg_stability",
        }
    }
}

/// Storage for the adaptive component.
pub trait StateBackend: Send + Sync {
    /// Appends a finished run to the agent's history (oldest dropped beyond the bound).
    fn store_run<'a>(
        &'a self,
        agent: &'a str,
        run_id: &'a str,
        run: Value,
    ) -> BoxFuture<'a, StateResult<()>>;
    /// The agent's runs, oldest first.
    fn list_runs<'a>(&'a self, agent: &'a str) -> BoxFuture<'a, StateResult<Vec<Value>>>;
    /// Writes a document.
    fn store<'a>(&'a self, slot: Slot, id: &'a str, doc: Value) -> BoxFuture<'a, StateResult<()>>;
    /// Reads a document.
    fn load<'a>(&'a self, slot: Slot, id: &'a str) -> BoxFuture<'a, StateResult<Option<Value>>>;
}

/// Process-local state.
pub struct InMemoryBackend {
    max_runs: usize,
    runs: Mutex<HashMap<String, VecDeque<(String, Value)>>>,
    docs: Mutex<HashMap<(Slot, String), Value>>,
}

impl InMemoryBackend {
    /// Keeps at most `max_runs` runs per agent.
    pub fn new(max_runs: usize) -> Self {
        Self {
            max_runs: max_runs.max(1),
            runs: Mutex::default(),
            docs: Mutex::default(),
        }
    }
}

impl Default for InMemoryBackend {
    fn default() -> Self {
        Self::new(1000)
    }
}

fn ready<'a, T: Send + 'a>(v: T) -> BoxFuture<'a, T> {
    Box::pin(std::future::ready(v))
}

impl StateBackend for InMemoryBackend {
    fn store_run<'a>(
        &'a self,
        agent: &'a str,
        run_id: &'a str,
        run: Value,
    ) -> BoxFuture<'a, StateResult<()>> {
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        let h = runs.entry(agent.to_owned()).or_default();
        h.push_back((run_id.to_owned(), run));
        while h.len() > self.max_runs {
            h.pop_front();
        }
        ready(Ok(()))
    }

    fn list_runs<'a>(&'a self, agent: &'a str) -> BoxFuture<'a, StateResult<Vec<Value>>> {
        let runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        let out = runs
            .get(agent)
            .map(|h| h.iter().map(|(_, v)| v.clone()).collect())
            .unwrap_or_default();
        ready(Ok(out))
    }

    fn store<'a>(&'a self, slot: Slot, id: &'a str, doc: Value) -> BoxFuture<'a, StateResult<()>> {
        self.docs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((slot, id.to_owned()), doc);
        ready(Ok(()))
    }

    fn load<'a>(&'a self, slot: Slot, id: &'a str) -> BoxFuture<'a, StateResult<Option<Value>>> {
        let docs = self.docs.lock().unwrap_or_else(|e| e.into_inner());
        ready(Ok(docs.get(&(slot, id.to_owned())).cloned()))
    }
}
