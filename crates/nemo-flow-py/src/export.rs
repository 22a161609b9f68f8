//! Exporter pyclasses: `AtofExporter` (+ config and mode) and `AtifExporter`. The exporters
//! live in `nemo-flow-export`; this file only converts arguments and registers their
//! subscriber callbacks and flush hooks.

use nemo_flow_core::dispatch;
use nemo_flow_core::middleware::{Subscriber, global};
use nemo_flow_export::atif::{self, AgentInfo};
use nemo_flow_export::atof;
use nemo_flow_export::worker::{FlushError, Worker};
use pyo3::exceptions::{PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::errors::IntoPyResult;
use crate::json::{opt_to_json, to_py};

fn flush_hook_name(name: &str) -> String {
    format!("exporter:{name}")
}

/// The one name an exporter is registered under. Registering the same exporter under a
/// second name would deliver every event to it twice (duplicate lines, duplicate spans).
#[derive(Default)]
pub struct Registration(std::sync::Mutex<Option<String>>);

impl Registration {
    /// Registers `callback` under `name`, refusing a second name while one is registered.
    pub fn register(
        &self,
        py: Python<'_>,
        name: &str,
        callback: Subscriber,
        worker: Option<(Arc<Worker>, Duration)>,
    ) -> PyResult<()> {
        let mut current = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(existing) = current.as_deref() {
            return Err(crate::errors::RegistrationError::new_err(format!(
                "this exporter is already registered as '{existing}'; deregister it before registering it as '{name}'"
            )));
        }
        register_subscriber(py, name, callback, worker)?;
        *current = Some(name.to_owned());
        Ok(())
    }

    /// Deregisters `name`; returns whether it was registered.
    pub fn deregister(&self, name: &str) -> bool {
        let mut current = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if current.as_deref() == Some(name) {
            *current = None;
        }
        deregister_subscriber(name)
    }

    /// The registered name as Python would show it (`'name'` or `None`), for `repr`.
    pub fn name(&self) -> String {
        match self.0.lock().unwrap_or_else(|e| e.into_inner()).as_deref() {
            Some(n) => format!("{n:?}").replace('"', "'"),
            None => "None".into(),
        }
    }
}

/// Registers `callback` as a global subscriber under `name`, plus a flush hook so that
/// `nemo_flow.subscribers.flush()` drains the exporter.
pub fn register_subscriber(
    py: Python<'_>,
    name: &str,
    callback: Subscriber,
    worker: Option<(Arc<Worker>, Duration)>,
) -> PyResult<()> {
    global()
        .subscribers
        .register(name, 0, false, callback)
        .py(py)?;
    if let Some((w, default)) = worker {
        let hook: dispatch::FlushHook =
            Arc::new(move |t: Option<Duration>| w.flush(t.unwrap_or(default)).is_ok());
        // A stale hook of the same name (an earlier exporter) is replaced.
        dispatch::deregister_flush_hook(&flush_hook_name(name));
        dispatch::register_flush_hook(&flush_hook_name(name), hook).py(py)?;
    }
    Ok(())
}

/// Removes the subscriber and flush hook registered under `name`.
pub fn deregister_subscriber(name: &str) -> bool {
    dispatch::deregister_flush_hook(&flush_hook_name(name));
    global().subscribers.deregister(name)
}

/// `timeout_millis` argument, or `default`.
pub fn timeout_arg(
    timeout_millis: Option<&Bound<'_, PyAny>>,
    default: Duration,
) -> PyResult<Duration> {
    let Some(t) = timeout_millis.filter(|t| !t.is_none()) else {
        return Ok(default);
    };
    if t.is_instance_of::<pyo3::types::PyBool>() {
        return Err(PyTypeError::new_err(
            "timeout_millis: expected a non-negative int or None, got bool",
        ));
    }
    let ms: i64 = t.extract().map_err(|_| {
        PyTypeError::new_err(format!(
            "timeout_millis: expected a non-negative int or None, got {}",
            crate::errors::type_name(t)
        ))
    })?;
    if ms < 0 {
        return Err(PyValueError::new_err(format!(
            "timeout_millis: expected a non-negative int, got {ms}"
        )));
    }
    Ok(Duration::from_millis(ms as u64))
}

/// How the ATOF file is opened.
#[pyclass(eq, eq_int, hash, frozen, module = "nemo_flow._native", from_py_object)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum AtofExporterMode {
    /// Add lines to an existing file.
    Append,
    /// Truncate an existing file first.
    Overwrite,
}

/// Mutable configuration of an `AtofExporter`.
#[pyclass(module = "nemo_flow._native")]
pub struct AtofExporterConfig {
    /// Directory of the JSONL file (created if missing).
    #[pyo3(get, set)]
    output_directory: String,
    /// File name (a plain name: no directory part).
    #[pyo3(get)]
    filename: String,
    /// Append or overwrite.
    #[pyo3(get, set)]
    mode: AtofExporterMode,
    /// Events the queue holds before it drops.
    #[pyo3(get)]
    queue_capacity: usize,
}

#[pymethods]
impl AtofExporterConfig {
    #[new]
    #[pyo3(signature = (output_directory=None, filename=None, mode=AtofExporterMode::Append, queue_capacity=None))]
    fn new(
        output_directory: Option<PathBuf>,
        filename: Option<String>,
        mode: AtofExporterMode,
        queue_capacity: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let d = atof::AtofConfig::default();
        let queue_capacity = match queue_capacity.filter(|q| !q.is_none()) {
            None => d.queue_capacity,
            Some(q) => positive_int("queue_capacity", q)?,
        };
        let filename = filename.unwrap_or(d.filename);
        atof::validate_filename(&filename).map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(Self {
            output_directory: output_directory
                .unwrap_or(d.output_directory)
                .to_string_lossy()
                .into_owned(),
            filename,
            mode,
            queue_capacity,
        })
    }

    #[setter]
    fn set_filename(&mut self, v: String) -> PyResult<()> {
        atof::validate_filename(&v).map_err(|e| PyValueError::new_err(e.to_string()))?;
        self.filename = v;
        Ok(())
    }

    fn __repr__(&self) -> String {
        format!(
            "AtofExporterConfig(path={:?}, mode={}, queue_capacity={})",
            self.core().path().display(),
            match self.mode {
                AtofExporterMode::Append => "Append",
                AtofExporterMode::Overwrite => "Overwrite",
            },
            self.queue_capacity
        )
    }

    /// The file the exporter writes.
    #[getter]
    fn path(&self) -> String {
        self.core().path().to_string_lossy().into_owned()
    }
}

impl AtofExporterConfig {
    fn core(&self) -> atof::AtofConfig {
        atof::AtofConfig {
            output_directory: PathBuf::from(&self.output_directory),
            filename: self.filename.clone(),
            mode: match self.mode {
                AtofExporterMode::Append => atof::AtofMode::Append,
                AtofExporterMode::Overwrite => atof::AtofMode::Overwrite,
            },
            queue_capacity: self.queue_capacity,
        }
    }
}

/// Writes every event it receives as one canonical JSON line.
#[pyclass(module = "nemo_flow._native", frozen)]
pub struct AtofExporter {
    inner: atof::AtofExporter,
    registration: Registration,
}

const ATOF_FLUSH_DEFAULT: Duration = Duration::from_secs(10);

#[pymethods]
impl AtofExporter {
    #[new]
    #[pyo3(signature = (config=None))]
    fn new(config: Option<PyRef<'_, AtofExporterConfig>>) -> PyResult<Self> {
        let c = match config {
            Some(c) => c.core(),
            None => atof::AtofConfig::default(),
        };
        if let Err(e) = atof::validate_filename(&c.filename) {
            return Err(PyValueError::new_err(e.to_string()));
        }
        let inner = atof::AtofExporter::new(&c)
            .map_err(|e| PyOSError::new_err(format!("cannot open {}: {e}", c.path().display())))?;
        Ok(Self {
            inner,
            registration: Registration::default(),
        })
    }

    fn __repr__(&self) -> String {
        let (emitted, dropped, exported, failed) = self.inner.worker().stats().snapshot();
        format!(
            "AtofExporter(path={:?}, registered_as={}, emitted={emitted}, exported={exported}, dropped={dropped}, failed={failed})",
            self.inner.path().display(),
            self.registration.name()
        )
    }

    /// The file being written.
    #[getter]
    fn path(&self) -> String {
        self.inner.path().to_string_lossy().into_owned()
    }

    /// Register as a global subscriber under `name`.
    fn register(&self, py: Python<'_>, name: &str) -> PyResult<()> {
        let w = self.inner.worker().clone();
        let cb: Subscriber = Arc::new(move |e| {
            w.enqueue(e);
            Ok(())
        });
        self.registration.register(
            py,
            name,
            cb,
            Some((self.inner.worker().clone(), ATOF_FLUSH_DEFAULT)),
        )
    }

    /// Deregister `name`; return whether it was registered.
    fn deregister(&self, name: &str) -> bool {
        self.registration.deregister(name)
    }

    /// Write everything received so far. Returns False when `timeout_millis` passed first
    /// or events were dropped; raises OSError when a write failed.
    #[pyo3(signature = (timeout_millis=None))]
    fn force_flush(
        &self,
        py: Python<'_>,
        timeout_millis: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let t = timeout_arg(timeout_millis, ATOF_FLUSH_DEFAULT)?;
        let w = self.inner.worker().clone();
        atof_result(py.detach(move || w.flush(t)))
    }

    /// Flush and stop the writer thread; later events are dropped and counted.
    #[pyo3(signature = (timeout_millis=None))]
    fn shutdown(
        &self,
        py: Python<'_>,
        timeout_millis: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let t = timeout_arg(timeout_millis, ATOF_FLUSH_DEFAULT)?;
        let w = self.inner.worker().clone();
        atof_result(py.detach(move || w.shutdown(t)))
    }

    /// Events dropped because the queue was full or the exporter was shut down.
    #[getter]
    fn dropped_events(&self) -> u64 {
        self.inner.worker().stats().snapshot().1
    }

    /// Events written to the file.
    #[getter]
    fn exported_events(&self) -> u64 {
        self.inner.worker().stats().snapshot().2
    }

    /// Events lost to a write error.
    #[getter]
    fn failed_events(&self) -> u64 {
        self.inner.worker().stats().snapshot().3
    }

    /// Events received.
    #[getter]
    fn emitted_events(&self) -> u64 {
        self.inner.worker().stats().snapshot().0
    }
}

fn atof_result(r: Result<(), FlushError>) -> PyResult<bool> {
    match r {
        Ok(()) => Ok(true),
        Err(FlushError::Timeout | FlushError::Lost(_)) => Ok(false),
        Err(FlushError::Failed(m)) => Err(PyOSError::new_err(m)),
    }
}

/// Collects events and exports them as an ATIF v1.6 trajectory.
#[pyclass(module = "nemo_flow._native", frozen)]
pub struct AtifExporter {
    inner: Arc<atif::AtifExporter>,
    registration: Registration,
}

fn non_empty(arg: &str, v: &str) -> PyResult<String> {
    if v.is_empty() {
        return Err(PyValueError::new_err(format!(
            "{arg}: expected a non-empty str"
        )));
    }
    Ok(v.to_owned())
}

#[pymethods]
impl AtifExporter {
    #[new]
    #[pyo3(signature = (session_id, agent_name, agent_version, *, model_name=None, tool_definitions=None, extra=None))]
    fn new(
        session_id: &str,
        agent_name: &str,
        agent_version: &str,
        model_name: Option<String>,
        tool_definitions: Option<&Bound<'_, PyAny>>,
        extra: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let tools = match opt_to_json(tool_definitions, "tool_definitions")? {
            Value::Null => None,
            Value::Array(items) if items.iter().all(Value::is_object) => Some(items),
            _ => {
                return Err(PyTypeError::new_err(
                    "tool_definitions: expected a list of dicts or None",
                ));
            }
        };
        let extra = match opt_to_json(extra, "extra")? {
            Value::Null => None,
            v @ Value::Object(_) => Some(v),
            _ => return Err(PyTypeError::new_err("extra: expected a dict or None")),
        };
        let info = AgentInfo {
            session_id: non_empty("session_id", session_id)?,
            name: non_empty("agent_name", agent_name)?,
            version: agent_version.to_owned(),
            model_name,
            tool_definitions: tools,
            extra,
        };
        Ok(Self {
            inner: Arc::new(atif::AtifExporter::new(info, atif::DEFAULT_CAPACITY)),
            registration: Registration::default(),
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "AtifExporter(registered_as={}, dropped={})",
            self.registration.name(),
            self.inner.dropped()
        )
    }

    /// Register as a global subscriber under `name`.
    fn register(&self, py: Python<'_>, name: &str) -> PyResult<()> {
        let c = self.inner.clone();
        let cb: Subscriber = Arc::new(move |e| {
            c.collect(e);
            Ok(())
        });
        self.registration.register(py, name, cb, None)
    }

    /// Deregister `name`; return whether it was registered.
    fn deregister(&self, name: &str) -> bool {
        self.registration.deregister(name)
    }

    /// The trajectory of the events collected so far, as a dict.
    fn export(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let inner = self.inner.clone();
        let v = py.detach(move || inner.export());
        to_py(py, &v)
    }

    /// The trajectory as a JSON string.
    fn export_json(&self, py: Python<'_>) -> String {
        let inner = self.inner.clone();
        py.detach(move || inner.export().to_string())
    }

    /// Forget the collected events (registration is unchanged).
    fn clear(&self) {
        self.inner.clear();
    }

    /// Events dropped because the buffer was full.
    #[getter]
    fn dropped_events(&self) -> u64 {
        self.inner.dropped()
    }
}

/// A positive int argument, with errors that name it (negative, zero, bool, too large).
pub fn positive_int(arg: &str, v: &Bound<'_, PyAny>) -> PyResult<usize> {
    if v.is_instance_of::<pyo3::types::PyBool>() || !v.is_instance_of::<pyo3::types::PyInt>() {
        return Err(PyTypeError::new_err(format!(
            "{arg}: expected a positive int, got {}",
            crate::errors::type_name(v)
        )));
    }
    match v.extract::<i128>() {
        Ok(n) if n > 0 && n <= 1 << 40 => Ok(n as usize),
        Ok(n) => Err(PyValueError::new_err(format!(
            "{arg}: expected a positive int no larger than 2**40, got {n}"
        ))),
        Err(_) => Err(PyValueError::new_err(format!(
            "{arg}: expected a positive int no larger than 2**40"
        ))),
    }
}

/// Waits of the subscriber path (the "block" overflow policy) release the GIL, so a caller
/// waiting for queue room never stalls the other Python threads.
pub fn install_blocking_region() {
    /// The wait only moves an event between this thread and the worker's queue.
    struct Wait<'a>(&'a mut dyn FnMut());
    // SAFETY: the closure runs on this same thread, inside `detach`, and touches no Python
    // object; `detach` only needs the bound to keep Python references out.
    unsafe impl Send for Wait<'_> {}
    impl Wait<'_> {
        fn run(self) {
            (self.0)();
        }
    }
    fn without_gil(f: &mut dyn FnMut()) {
        let wait = Wait(f);
        Python::attach(|py| py.detach(move || wait.run()));
    }
    nemo_flow_export::worker::set_blocking_region(without_gil);
}

/// Restarts every exporter's worker in a forked child (registered with
/// `os.register_at_fork(after_in_child=...)` by `nemo_flow.observability`).
#[pyfunction]
pub fn _restart_exporters_after_fork() {
    nemo_flow_export::worker::restart_after_fork();
}

/// Shut down every live exporter, sharing `timeout` seconds (called at interpreter exit).
#[pyfunction]
pub fn shutdown_exporters(py: Python<'_>, timeout: f64) -> PyResult<bool> {
    if !(timeout.is_finite() && timeout >= 0.0) {
        return Err(PyValueError::new_err(
            "timeout: expected a non-negative number of seconds",
        ));
    }
    let t = Duration::from_secs_f64(timeout);
    Ok(py.detach(move || nemo_flow_export::worker::shutdown_all(t)))
}
