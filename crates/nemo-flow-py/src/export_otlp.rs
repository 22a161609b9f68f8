//! `OpenTelemetryConfig` / `OpenTelemetrySubscriber` and `OpenInferenceConfig` /
//! `OpenInferenceSubscriber`: the same machinery with different span conventions, so one
//! macro defines both pairs.

use nemo_flow_core::middleware::Subscriber;
use nemo_flow_export::otlp::config::{process_env, validate_endpoint, validate_header};
use nemo_flow_export::otlp::{Flavor, OtlpConfig, OtlpExporter, OverflowPolicy, Transport};
use nemo_flow_export::worker::FlushError;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::export::{Registration, timeout_arg};

fn overflow(v: &str) -> PyResult<OverflowPolicy> {
    OverflowPolicy::parse(v).ok_or_else(|| {
        PyValueError::new_err(format!(
            "overflow_policy: expected 'drop', 'block' or 'spool', got {v:?}"
        ))
    })
}

fn headers_arg(v: HashMap<String, String>) -> PyResult<BTreeMap<String, String>> {
    for (k, val) in &v {
        validate_header(k, val).map_err(PyValueError::new_err)?;
    }
    Ok(v.into_iter().collect())
}

fn attributes_arg(v: HashMap<String, String>) -> PyResult<BTreeMap<String, String>> {
    if v.keys().any(String::is_empty) {
        return Err(PyValueError::new_err(
            "resource_attributes: expected non-empty keys",
        ));
    }
    Ok(v.into_iter().collect())
}

fn positive(arg: &str, v: u64) -> PyResult<u64> {
    if v == 0 {
        return Err(PyValueError::new_err(format!(
            "{arg}: expected a positive int"
        )));
    }
    Ok(v)
}

fn transport(v: &str) -> PyResult<Transport> {
    Transport::parse(v).ok_or_else(|| {
        PyValueError::new_err(format!(
            "transport: expected 'http_binary' or 'grpc', got {v:?}"
        ))
    })
}

macro_rules! otlp_pair {
    ($config:ident, $sub:ident, $flavor:expr, $what:literal) => {
        #[doc = concat!("Mutable configuration of `", stringify!($sub), "`.")]
        #[pyclass(module = "nemo_flow._native")]
        pub struct $config {
            inner: OtlpConfig,
        }

        #[pymethods]
        impl $config {
            #[new]
            fn new() -> Self {
                Self {
                    inner: OtlpConfig::from_env($flavor, &process_env),
                }
            }

            /// `"http_binary"` (OTLP/HTTP protobuf) or `"grpc"`.
            #[getter]
            fn transport(&self) -> &'static str {
                self.inner.transport.as_str()
            }

            #[setter]
            fn set_transport(&mut self, v: &str) -> PyResult<()> {
                self.inner.transport = transport(v)?;
                Ok(())
            }

            /// Endpoint URL; None: the OTEL_EXPORTER_OTLP_* variables, then localhost.
            #[getter]
            fn endpoint(&self) -> Option<String> {
                self.inner.endpoint.clone()
            }

            #[setter]
            fn set_endpoint(&mut self, v: Option<String>) -> PyResult<()> {
                if let Some(e) = v.as_deref().filter(|e| !e.trim().is_empty()) {
                    validate_endpoint(e.trim()).map_err(PyValueError::new_err)?;
                }
                self.inner.endpoint = v;
                Ok(())
            }

            /// `service.name` resource attribute.
            #[getter]
            fn service_name(&self) -> String {
                self.inner.service_name.clone()
            }

            #[setter]
            fn set_service_name(&mut self, v: String) {
                self.inner.service_name = v;
            }

            /// `service.namespace` resource attribute.
            #[getter]
            fn service_namespace(&self) -> Option<String> {
                self.inner.service_namespace.clone()
            }

            #[setter]
            fn set_service_namespace(&mut self, v: Option<String>) {
                self.inner.service_namespace = v;
            }

            /// `service.version` resource attribute.
            #[getter]
            fn service_version(&self) -> Option<String> {
                self.inner.service_version.clone()
            }

            #[setter]
            fn set_service_version(&mut self, v: Option<String>) {
                self.inner.service_version = v;
            }

            /// Instrumentation scope name.
            #[getter]
            fn instrumentation_scope(&self) -> String {
                self.inner.instrumentation_scope.clone()
            }

            #[setter]
            fn set_instrumentation_scope(&mut self, v: String) {
                self.inner.instrumentation_scope = v;
            }

            /// Timeout of one export request, and the default flush timeout.
            #[getter]
            fn timeout_millis(&self) -> u64 {
                self.inner.timeout.as_millis() as u64
            }

            #[setter]
            fn set_timeout_millis(&mut self, v: u64) -> PyResult<()> {
                self.inner.timeout = Duration::from_millis(positive("timeout_millis", v)?);
                Ok(())
            }

            /// Events the queue holds before it drops (OTEL_BSP_MAX_QUEUE_SIZE).
            #[getter]
            fn max_queue_size(&self) -> usize {
                self.inner.max_queue_size
            }

            #[setter]
            fn set_max_queue_size(&mut self, v: u64) -> PyResult<()> {
                self.inner.max_queue_size = positive("max_queue_size", v)? as usize;
                Ok(())
            }

            /// Spans per export request (OTEL_BSP_MAX_EXPORT_BATCH_SIZE).
            #[getter]
            fn max_export_batch_size(&self) -> usize {
                self.inner.max_export_batch_size
            }

            #[setter]
            fn set_max_export_batch_size(&mut self, v: u64) -> PyResult<()> {
                self.inner.max_export_batch_size = positive("max_export_batch_size", v)? as usize;
                Ok(())
            }

            /// Delay between scheduled exports (OTEL_BSP_SCHEDULE_DELAY).
            #[getter]
            fn schedule_delay_millis(&self) -> u64 {
                self.inner.schedule_delay.as_millis() as u64
            }

            #[setter]
            fn set_schedule_delay_millis(&mut self, v: u64) -> PyResult<()> {
                self.inner.schedule_delay = Duration::from_millis(positive("schedule_delay_millis", v)?);
                Ok(())
            }

            /// Bound of one scheduled export, retries included (OTEL_BSP_EXPORT_TIMEOUT).
            #[getter]
            fn export_timeout_millis(&self) -> u64 {
                self.inner.export_timeout.as_millis() as u64
            }

            #[setter]
            fn set_export_timeout_millis(&mut self, v: u64) -> PyResult<()> {
                self.inner.export_timeout = Duration::from_millis(positive("export_timeout_millis", v)?);
                Ok(())
            }

            /// Whether OTEL_SDK_DISABLED=true turned export off.
            #[getter]
            fn disabled(&self) -> bool {
                self.inner.disabled
            }

            /// Additional exporter headers (a copy; assign a dict to replace them all).
            #[getter]
            fn headers(&self) -> HashMap<String, String> {
                self.inner.headers.clone().into_iter().collect()
            }

            #[setter]
            fn set_headers(&mut self, v: HashMap<String, String>) -> PyResult<()> {
                self.inner.headers = headers_arg(v)?;
                Ok(())
            }

            /// Additional resource attributes (a copy; assign a dict to replace them all).
            #[getter]
            fn resource_attributes(&self) -> HashMap<String, String> {
                self.inner.resource_attributes.clone().into_iter().collect()
            }

            #[setter]
            fn set_resource_attributes(&mut self, v: HashMap<String, String>) -> PyResult<()> {
                self.inner.resource_attributes = attributes_arg(v)?;
                Ok(())
            }

            /// Set one exporter header.
            fn set_header(&mut self, key: String, value: String) -> PyResult<()> {
                validate_header(&key, &value).map_err(PyValueError::new_err)?;
                self.inner.headers.insert(key, value);
                Ok(())
            }

            /// Set one resource attribute.
            fn set_resource_attribute(&mut self, key: String, value: String) -> PyResult<()> {
                attributes_arg(HashMap::from([(key.clone(), String::new())]))?;
                self.inner.resource_attributes.insert(key, value);
                Ok(())
            }

            /// Batches in flight at once, each on its own connection (1 to 64).
            #[getter]
            fn max_concurrent_exports(&self) -> usize {
                self.inner.max_concurrent_exports
            }

            #[setter]
            fn set_max_concurrent_exports(&mut self, v: u64) -> PyResult<()> {
                if v == 0 || v > 64 {
                    return Err(PyValueError::new_err(format!(
                        "max_concurrent_exports: expected 1 to 64, got {v}"
                    )));
                }
                self.inner.max_concurrent_exports = v as usize;
                Ok(())
            }

            /// `"drop"` (default: a full queue drops and counts), `"block"` (the caller waits
            /// up to `overflow_block_millis` for room) or `"spool"` (batches the backend
            /// cannot take go to `spool_path` and are sent again when it answers).
            #[getter]
            fn overflow_policy(&self) -> &'static str {
                self.inner.overflow.as_str()
            }

            #[setter]
            fn set_overflow_policy(&mut self, v: &str) -> PyResult<()> {
                self.inner.overflow = overflow(v)?;
                Ok(())
            }

            /// How long the `"block"` policy lets a caller wait for room in the queue.
            #[getter]
            fn overflow_block_millis(&self) -> u64 {
                self.inner.overflow_block.as_millis() as u64
            }

            #[setter]
            fn set_overflow_block_millis(&mut self, v: u64) -> PyResult<()> {
                self.inner.overflow_block = Duration::from_millis(positive("overflow_block_millis", v)?);
                Ok(())
            }

            /// The spool file of the `"spool"` policy; None: one per process in the
            /// temporary directory. Batches left there by an earlier process are sent too.
            #[getter]
            fn spool_path(&self) -> Option<PathBuf> {
                self.inner.spool_path.clone()
            }

            #[setter]
            fn set_spool_path(&mut self, v: Option<PathBuf>) {
                self.inner.spool_path = v;
            }

            /// Bound of the spool file in bytes; batches that do not fit are dropped and counted.
            #[getter]
            fn spool_max_bytes(&self) -> u64 {
                self.inner.spool_max_bytes
            }

            #[setter]
            fn set_spool_max_bytes(&mut self, v: u64) -> PyResult<()> {
                self.inner.spool_max_bytes = positive("spool_max_bytes", v)?;
                Ok(())
            }

            fn __repr__(&self) -> String {
                format!(
                    "{}(transport={:?}, endpoint={:?}, service_name={:?}, overflow_policy={:?}, max_queue_size={})",
                    stringify!($config),
                    self.inner.transport.as_str(),
                    self.inner.resolved_endpoint(&process_env),
                    self.inner.service_name,
                    self.inner.overflow.as_str(),
                    self.inner.max_queue_size,
                )
            }
        }

        #[doc = concat!("Exports lifecycle events as ", $what, " spans over OTLP, from a background thread.")]
        #[pyclass(module = "nemo_flow._native", frozen)]
        pub struct $sub {
            inner: Arc<OtlpExporter>,
            registration: Registration,
        }

        #[pymethods]
        impl $sub {
            #[new]
            fn new(config: PyRef<'_, $config>) -> PyResult<Self> {
                let c: OtlpConfig = config.inner.clone();
                let inner = OtlpExporter::new(c, $flavor, &process_env).map_err(PyValueError::new_err)?;
                Ok(Self { inner: Arc::new(inner), registration: Registration::default() })
            }

            fn __repr__(&self) -> String {
                let (emitted, dropped, exported, failed) =
                    self.inner.worker().map_or((0, 0, 0, 0), |w| w.stats().snapshot());
                format!(
                    "{}(endpoint={:?}, registered_as={}, emitted={emitted}, exported={exported}, spooled={}, dropped={dropped}, failed={failed})",
                    stringify!($sub),
                    self.inner.config().resolved_endpoint(&process_env),
                    self.registration.name(),
                    self.spooled_events(),
                )
            }

            /// Events waiting in the spool for the backend (they count as exported once sent).
            #[getter]
            fn spooled_events(&self) -> u64 {
                self.inner.worker().map_or(0, |w| w.stats().spooled())
            }

            /// The spool file in use (`"spool"` policy only).
            #[getter]
            fn spool_path(&self) -> Option<PathBuf> {
                self.inner.spool_path().map(std::path::Path::to_path_buf)
            }

            /// Register as a global subscriber under `name` (a no-op subscriber when disabled).
            fn register(&self, py: Python<'_>, name: &str) -> PyResult<()> {
                let e = self.inner.clone();
                let cb: Subscriber = Arc::new(move |ev| {
                    e.enqueue(ev);
                    Ok(())
                });
                let w = self.inner.worker().map(|w| (w.clone(), self.inner.config().timeout));
                self.registration.register(py, name, cb, w)
            }

            /// Deregister `name`; return whether it was registered.
            fn deregister(&self, name: &str) -> bool {
                self.registration.deregister(name)
            }

            /// Export everything received so far. Returns True only if every event emitted
            /// so far was delivered (or is spooled) within `timeout_millis` (default: the
            /// config's `timeout_millis`): any drop or failed export makes it False for good;
            /// the reason is in `last_error`, the counts in the `*_events` properties.
            #[pyo3(signature = (timeout_millis=None))]
            fn force_flush(&self, py: Python<'_>, timeout_millis: Option<&Bound<'_, PyAny>>) -> PyResult<bool> {
                let t = timeout_arg(timeout_millis, self.inner.config().timeout)?;
                let Some(w) = self.inner.worker().cloned() else {
                    return Ok(true);
                };
                Ok(ok(py.detach(move || w.flush(t))))
            }

            /// Flush, close open spans, stop the thread. Returns whether everything emitted was
            /// delivered (as `force_flush`). Later events are dropped and counted.
            #[pyo3(signature = (timeout_millis=None))]
            fn shutdown(&self, py: Python<'_>, timeout_millis: Option<&Bound<'_, PyAny>>) -> PyResult<bool> {
                let t = timeout_arg(timeout_millis, self.inner.config().timeout)?;
                let Some(w) = self.inner.worker().cloned() else {
                    return Ok(true);
                };
                Ok(ok(py.detach(move || w.shutdown(t))))
            }

            /// Events dropped because the queue was full or the subscriber was shut down.
            #[getter]
            fn dropped_events(&self) -> u64 {
                self.inner.worker().map_or(0, |w| w.stats().snapshot().1)
            }

            /// Events delivered to the backend as part of a span.
            #[getter]
            fn exported_events(&self) -> u64 {
                self.inner.worker().map_or(0, |w| w.stats().snapshot().2)
            }

            /// Events whose span the backend did not accept.
            #[getter]
            fn failed_events(&self) -> u64 {
                self.inner.worker().map_or(0, |w| w.stats().snapshot().3)
            }

            /// Events received.
            #[getter]
            fn emitted_events(&self) -> u64 {
                self.inner.worker().map_or(0, |w| w.stats().snapshot().0)
            }

            /// The most recent export failure, if any.
            #[getter]
            fn last_error(&self) -> Option<String> {
                self.inner.last_error()
            }

            /// The endpoint requests go to.
            #[getter]
            fn endpoint(&self) -> String {
                self.inner.config().resolved_endpoint(&process_env)
            }

            /// The resource attributes sent with every batch.
            #[getter]
            fn resource(&self) -> BTreeMap<String, String> {
                self.inner.config().resolved_resource(&process_env)
            }
        }
    };
}

fn ok(r: Result<(), FlushError>) -> bool {
    r.is_ok()
}

otlp_pair!(
    OpenTelemetryConfig,
    OpenTelemetrySubscriber,
    Flavor::OpenTelemetry,
    "OpenTelemetry (GenAI conventions)"
);
otlp_pair!(
    OpenInferenceConfig,
    OpenInferenceSubscriber,
    Flavor::OpenInference,
    "OpenInference"
);
