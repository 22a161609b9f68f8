//! OpenTelemetry and OpenInference span export over OTLP.

mod attrs;
pub mod config;
mod conventions;
mod pool;
mod sink;
pub mod spans;
pub mod spool;
pub mod transport;

pub use config::{Flavor, OtlpConfig, OverflowPolicy, Transport};

use nemo_flow_core::Event;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use std::sync::{Arc, Mutex};

use crate::worker::{Overflow, Worker, WorkerConfig};
use config::Env;
use pool::{PoolConfig, SenderPool, TransportFactory};

/// One OTLP subscriber: its worker, or none when `OTEL_SDK_DISABLED` is set.
pub struct OtlpExporter {
    worker: Option<Arc<Worker>>,
    last_error: Arc<Mutex<Option<String>>>,
    config: OtlpConfig,
    spool_path: Option<std::path::PathBuf>,
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
                spool_path: None,
            });
        }
        config.validate(env)?;
        let url = config.resolved_endpoint(env);
        let headers = config.resolved_headers(env);
        let transport: TransportFactory = match config.transport {
            Transport::HttpBinary => Arc::new(move || {
                Box::new(transport::HttpTransport::new(url.clone(), headers.clone()))
                    as Box<dyn transport::SpanTransport>
            }),
            #[cfg(feature = "grpc")]
            Transport::Grpc => Arc::new(move || {
                Box::new(transport::GrpcTransport::new(url.clone(), headers.clone()))
                    as Box<dyn transport::SpanTransport>
            }),
            #[cfg(not(feature = "grpc"))]
            Transport::Grpc => return Err("transport: this build has no gRPC support".into()),
        };
        let resource = sink::resource(&config.resolved_resource(env));
        let scope = InstrumentationScope {
            name: config.instrumentation_scope.clone(),
            version: env!("CARGO_PKG_VERSION").into(),
            ..Default::default()
        };
        let spool_path = config.resolved_spool_path(flavor, false);
        let factory = {
            let config = config.clone();
            let last_error = last_error.clone();
            move |after_fork: bool, stats: &Arc<crate::worker::Stats>| {
                let spool = match config.resolved_spool_path(flavor, after_fork) {
                    Some(path) => {
                        let (spool, carried) = spool::Spool::open(&path, config.spool_max_bytes)?;
                        // What an earlier process left is this exporter's to deliver.
                        stats
                            .emitted
                            .fetch_add(carried, std::sync::atomic::Ordering::Relaxed);
                        stats
                            .spooled
                            .fetch_add(carried, std::sync::atomic::Ordering::Relaxed);
                        Some(spool)
                    }
                    None => None,
                };
                let pool = SenderPool::start(
                    PoolConfig {
                        senders: config.max_concurrent_exports,
                        request_timeout: config.timeout,
                        spool,
                    },
                    &transport,
                    stats.clone(),
                    last_error.clone(),
                )?;
                Ok(Box::new(sink::OtlpSink {
                    assembler: spans::Assembler::new(flavor),
                    batch: Vec::new(),
                    max_batch: config.max_export_batch_size,
                    resource: resource.clone(),
                    scope: scope.clone(),
                    pool,
                }) as Box<dyn crate::worker::Sink>)
            }
        };
        let name = match flavor {
            Flavor::OpenTelemetry => "otel",
            Flavor::OpenInference => "openinference",
        };
        let worker = Worker::spawn_with(
            name,
            Box::new(factory),
            WorkerConfig {
                queue_capacity: config.max_queue_size,
                schedule_delay: config.schedule_delay,
                export_timeout: config.export_timeout,
                overflow: match config.overflow {
                    OverflowPolicy::Block => Overflow::Block(config.overflow_block),
                    OverflowPolicy::Drop | OverflowPolicy::Spool => Overflow::Drop,
                },
            },
        )
        .map_err(|e| format!("could not start the exporter: {e}"))?;
        Ok(Self {
            worker: Some(worker),
            last_error,
            config,
            spool_path,
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

    /// The spool file, when the overflow policy is `spool`.
    pub fn spool_path(&self) -> Option<&std::path::Path> {
        self.spool_path.as_deref()
    }

    /// The most recent export failure.
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
