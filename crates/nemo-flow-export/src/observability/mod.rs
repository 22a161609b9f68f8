//! The built-in `observability` plugin component: an ATOF exporter, one ATIF trajectory
//! file per top-level agent run, and OpenTelemetry / OpenInference subscribers, each
//! installed from its config section and shut down (flushed) when the component is removed.

mod atif_runs;
pub mod config;

pub use atif_runs::{AtifRunsSink, RunFiles};

use nemo_flow_core::dispatch::FlushHook;
use nemo_flow_core::error::CallbackError;
use nemo_flow_core::plugin::{
    self, ComponentConfig, ConfigPolicy, Diagnostic, Plugin, PluginContext,
};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::atif::AgentInfo;
use crate::atof::{AtofConfig, AtofExporter};
use crate::worker::{Worker, WorkerConfig};

/// The component kind.
pub const KIND: &str = "observability";

/// How long removing the component waits for each exporter to drain.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Registers the `observability` kind (idempotent).
pub fn register_builtin() {
    plugin::register_builtin(KIND, Arc::new(ObservabilityPlugin));
}

/// The component.
pub struct ObservabilityPlugin;

impl Plugin for ObservabilityPlugin {
    fn allows_multiple_components(&self) -> bool {
        false
    }

    fn validate(&self, config: &ComponentConfig, policy: &ConfigPolicy) -> Vec<Diagnostic> {
        let mut d = Vec::new();
        config::parse(config, policy, &mut d);
        d
    }

    fn register(&self, config: &ComponentConfig, ctx: &PluginContext) -> Result<(), CallbackError> {
        let c = config::parse(config, &ctx.policy(), &mut Vec::new());
        if let Some(s) = &c.atof {
            install_atof(ctx, s)?;
        }
        if let Some(s) = &c.atif {
            install_atif(ctx, s)?;
        }
        #[cfg(feature = "otlp")]
        for (section, flavor) in [
            (&c.opentelemetry, crate::otlp::Flavor::OpenTelemetry),
            (&c.openinference, crate::otlp::Flavor::OpenInference),
        ] {
            if let Some(s) = section {
                otlp::install(ctx, s, flavor)?;
            }
        }
        Ok(())
    }
}

fn registration(e: nemo_flow_core::FlowError) -> CallbackError {
    CallbackError::new("RegistrationError", e.to_string())
}

fn cwd() -> PathBuf {
    std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
}

/// Subscriber → worker queue, a flush hook, and a shutdown on removal. The shutdown is
/// recorded first so that rollback (reverse order) unsubscribes before it drains.
fn install_worker(
    ctx: &PluginContext,
    name: &str,
    worker: Arc<Worker>,
) -> Result<(), CallbackError> {
    let w = worker.clone();
    ctx.add_cleanup(name, move || {
        w.shutdown(SHUTDOWN_TIMEOUT)
            .map_err(|e| CallbackError::new("ExportError", e.to_string()))
    })
    .map_err(registration)?;
    let w = worker.clone();
    ctx.register_subscriber(
        name,
        Arc::new(move |e| {
            w.enqueue(e);
            Ok(())
        }),
    )
    .map_err(registration)?;
    let hook: FlushHook =
        Arc::new(move |t: Option<Duration>| worker.flush(t.unwrap_or(SHUTDOWN_TIMEOUT)).is_ok());
    ctx.register_flush_hook(name, hook).map_err(registration)?;
    Ok(())
}

fn install_atof(ctx: &PluginContext, s: &config::AtofSection) -> Result<(), CallbackError> {
    let mut cfg = AtofConfig::default();
    if let Some(d) = &s.output_directory {
        cfg.output_directory = d.clone();
    }
    if let Some(f) = &s.filename {
        cfg.filename = f.clone();
    }
    cfg.mode = s.mode;
    let exporter = AtofExporter::new(&cfg).map_err(|e| {
        CallbackError::new(
            "OSError",
            format!("atof: could not open {}: {e}", cfg.path().display()),
        )
    })?;
    install_worker(ctx, "atof", exporter.worker().clone())
}

fn install_atif(ctx: &PluginContext, s: &config::AtifSection) -> Result<(), CallbackError> {
    let files = RunFiles {
        info: AgentInfo {
            session_id: String::new(),
            name: s.agent_name.clone(),
            version: s.agent_version.clone(),
            model_name: Some(s.model_name.clone()),
            tool_definitions: s.tool_definitions.clone(),
            extra: s.extra.clone(),
        },
        directory: s.output_directory.clone().unwrap_or_else(cwd),
        template: s.filename_template.clone(),
        issues: Some(ctx.issues()),
    };
    let worker = Worker::spawn(
        "atif-runs",
        Box::new(AtifRunsSink::new(files)),
        WorkerConfig {
            queue_capacity: 65_536,
            schedule_delay: Duration::from_millis(200),
            export_timeout: SHUTDOWN_TIMEOUT,
            overflow: crate::worker::Overflow::Drop,
        },
    )
    .map_err(|e| CallbackError::new("OSError", format!("atif: could not start its thread: {e}")))?;
    install_worker(ctx, "atif", worker)
}

#[cfg(feature = "otlp")]
mod otlp {
    use super::*;
    use crate::otlp::config::process_env;
    use crate::otlp::{Flavor, OtlpConfig, OtlpExporter, Transport};

    /// The section over the `OTEL_*` defaults: only fields that are set override them.
    pub(super) fn config_of(s: &config::OtlpSection, flavor: Flavor) -> OtlpConfig {
        let mut c = OtlpConfig::from_env(flavor, &process_env);
        if let Some(t) = s.transport.as_deref().and_then(Transport::parse) {
            c.transport = t;
        }
        c.endpoint = s.endpoint.clone();
        c.headers.extend(s.headers.iter().cloned());
        c.resource_attributes
            .extend(s.resource_attributes.iter().cloned());
        if let Some(n) = &s.service_name {
            c.service_name = n.clone();
        }
        c.service_namespace = s.service_namespace.clone();
        c.service_version = s.service_version.clone();
        if let Some(i) = &s.instrumentation_scope {
            c.instrumentation_scope = i.clone();
        }
        if let Some(ms) = s.timeout_millis {
            c.timeout = Duration::from_millis(ms);
        }
        c
    }

    pub(super) fn install(
        ctx: &PluginContext,
        s: &config::OtlpSection,
        flavor: Flavor,
    ) -> Result<(), CallbackError> {
        let name = match flavor {
            Flavor::OpenTelemetry => "opentelemetry",
            Flavor::OpenInference => "openinference",
        };
        let exporter = OtlpExporter::new(config_of(s, flavor), flavor, &process_env)
            .map_err(|e| CallbackError::new("ConfigError", format!("{name}: {e}")))?;
        // OTEL_SDK_DISABLED: nothing to install.
        match exporter.worker() {
            Some(w) => install_worker(ctx, name, w.clone()),
            None => Ok(()),
        }
    }
}
