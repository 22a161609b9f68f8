//! OpenTelemetry and OpenInference span export over OTLP.

mod attrs;
pub mod config;
mod conventions;
mod sink;
pub mod spans;
pub mod transport;

pub use config::{Flavor, OtlpConfig, Transport};

use nemo_flow_core::Event;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use std::sync::{Arc, Mutex};

use crate::worker::{Worker, WorkerConfig};
use config::Env;

/// One OTLP subscriber: its worker, or none when `OTEL_SDK_DISABLED` is set.
pub struct OtlpExporter {
    worker: Option<Arc<Worker>>,
    last_error: Arc<Mutex<Option<String>>>,
    config: OtlpConfig,
}

impl OtlpExporter {
    /// Validates `config` and starts the worker (nothing when disabled).
    pub fn new(config: OtlpConfig, flavor: Flavor, env: Env<'_>) -> Result<Self, String> {
        let last_error = Arc::new(Mutex::new(None));
        if config.disabled {
            return Ok(Self {
                worker: None,
                last_error,
                config,
            });
        }
        config.validate(env)?;
        let url = config.resolved_endpoint(env);
        let headers = config.resolved_headers(env);
        let transport: Box<dyn transport::SpanTransport> = match config.transport {
            Transport::HttpBinary => Box::new(transport::HttpTransport::new(url, headers)),
            #[cfg(feature = "grpc")]
            Transport::Grpc => Box::new(transport::GrpcTransport::new(url, headers)),
            #[cfg(not(feature = "grpc"))]
            Transport::Grpc => return Err("transport: this build has no gRPC support".into()),
        };
        let sink = sink::OtlpSink {
            assembler: spans::Assembler::new(flavor),
            batch: Vec::new(),
            max_batch: config.max_export_batch_size,
            request_timeout: config.timeout,
            transport,
            resource: sink::resource(&config.resolved_resource(env)),
            scope: InstrumentationScope {
                name: config.instrumentation_scope.clone(),
                version: env!("CARGO_PKG_VERSION").into(),
                ..Default::default()
            },
            failure: None,
            last_error: last_error.clone(),
        };
        let name = match flavor {
            Flavor::OpenTelemetry => "otel",
            Flavor::OpenInference => "openinference",
        };
        let worker = Worker::spawn(
            name,
            Box::new(sink),
            WorkerConfig {
                queue_capacity: config.max_queue_size,
                schedule_delay: config.schedule_delay,
                export_timeout: config.export_timeout,
            },
        )
        .map_err(|e| format!("could not start the export thread: {e}"))?;
        Ok(Self {
            worker: Some(worker),
            last_error,
            config,
        })
    }

    /// The subscriber path.
    pub fn enqueue(&self, event: &Arc<Event>) {
        if let Some(w) = &self.worker {
            w.enqueue(event);
        }
    }

    /// The worker, unless disabled.
    pub fn worker(&self) -> Option<&Arc<Worker>> {
        self.worker.as_ref()
    }

    /// The configuration in force.
    pub fn config(&self) -> &OtlpConfig {
        &self.config
    }

    /// The most recent export failure.
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
