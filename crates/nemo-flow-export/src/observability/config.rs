//! The `observability` component's config: `{version, atof, atif, opentelemetry,
//! openinference, policy}`, read field by field into typed sections with diagnostics.

use nemo_flow_core::plugin::{ComponentConfig, ConfigPolicy, ConfigReader, Diagnostic, Level};
use serde_json::{Map, Value};
use std::path::PathBuf;

use crate::atof::AtofMode;

/// `{session_id}` is replaced by the top-level agent scope's uuid.
pub const DEFAULT_ATIF_TEMPLATE: &str = "nemo-flow-atif-{session_id}.json";

/// ATOF section.
#[derive(Debug, Clone)]
pub struct AtofSection {
    /// Directory (default: current directory).
    pub output_directory: Option<PathBuf>,
    /// File name (default: timestamped).
    pub filename: Option<String>,
    /// Append (default) or overwrite.
    pub mode: AtofMode,
}

/// ATIF section.
#[derive(Debug, Clone)]
pub struct AtifSection {
    /// `agent.name`.
    pub agent_name: String,
    /// `agent.version` (default: this crate's version).
    pub agent_version: String,
    /// `agent.model_name`.
    pub model_name: String,
    /// `agent.tool_definitions`.
    pub tool_definitions: Option<Vec<Value>>,
    /// `agent.extra`.
    pub extra: Option<Value>,
    /// Directory (default: current directory).
    pub output_directory: Option<PathBuf>,
    /// File name with `{session_id}`.
    pub filename_template: String,
}

/// OpenTelemetry / OpenInference section; unset fields fall back to the `OTEL_*` variables.
#[derive(Debug, Clone, Default)]
pub struct OtlpSection {
    /// `http_binary` or `grpc`.
    pub transport: Option<String>,
    /// Endpoint URL.
    pub endpoint: Option<String>,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// Extra resource attributes.
    pub resource_attributes: Vec<(String, String)>,
    /// `service.name`.
    pub service_name: Option<String>,
    /// `service.namespace`.
    pub service_namespace: Option<String>,
    /// `service.version`.
    pub service_version: Option<String>,
    /// Instrumentation scope name.
    pub instrumentation_scope: Option<String>,
    /// Export request timeout.
    pub timeout_millis: Option<u64>,
}

/// The sections that are present and enabled.
#[derive(Debug, Clone, Default)]
pub struct ObservabilityConfig {
    /// ATOF JSONL exporter.
    pub atof: Option<AtofSection>,
    /// One ATIF trajectory file per top-level agent run.
    pub atif: Option<AtifSection>,
    /// OpenTelemetry spans.
    pub opentelemetry: Option<OtlpSection>,
    /// OpenInference spans.
    pub openinference: Option<OtlpSection>,
}

const TOP: [&str; 6] = [
    "version",
    "atof",
    "atif",
    "opentelemetry",
    "openinference",
    "policy",
];
const ATOF: [&str; 4] = ["enabled", "output_directory", "filename", "mode"];
const ATIF: [&str; 8] = [
    "enabled",
    "agent_name",
    "agent_version",
    "model_name",
    "tool_definitions",
    "extra",
    "output_directory",
    "filename_template",
];
const OTLP: [&str; 10] = [
    "enabled",
    "transport",
    "endpoint",
    "headers",
    "resource_attributes",
    "service_name",
    "service_namespace",
    "service_version",
    "instrumentation_scope",
    "timeout_millis",
];

/// Reads `config`; diagnostics go to `diags` (codes `observability.*`).
pub fn parse(
    config: &ComponentConfig,
    policy: &ConfigPolicy,
    diags: &mut Vec<Diagnostic>,
) -> ObservabilityConfig {
    let mut r = ConfigReader::new(diags, *policy, "observability", Some(super::KIND));
    let policy = policy.overridden(&mut r, config.get("policy"), "policy");
    r.policy = policy;
    r.unknown_fields(config, "", &TOP);
    if let Some(v) = config.get("version").filter(|v| !v.is_null()) {
        if v.as_i64() != Some(1) {
            r.graded(
                policy.unsupported_value,
                "unsupported_config_version",
                "version",
                format!("unsupported observability config version {v}; expected 1"),
            );
        }
    }
    ObservabilityConfig {
        atof: section(&mut r, config, "atof", &ATOF).map(|o| atof(&mut r, o)),
        atif: section(&mut r, config, "atif", &ATIF).map(|o| atif(&mut r, o)),
        opentelemetry: section(&mut r, config, "opentelemetry", &OTLP)
            .map(|o| otlp(&mut r, o, "opentelemetry")),
        openinference: section(&mut r, config, "openinference", &OTLP)
            .map(|o| otlp(&mut r, o, "openinference")),
    }
}

/// The section object when present, checked for unknown fields; `None` when disabled
/// (validated all the same).
fn section<'v>(
    r: &mut ConfigReader<'_>,
    config: &'v Map<String, Value>,
    key: &str,
    known: &[&str],
) -> Option<&'v Map<String, Value>> {
    let o = r.object(config, "", key)?;
    r.unknown_fields(o, key, known);
    let enabled = r.bool(o, key, "enabled", false);
    // Disabled sections are read too, so their mistakes are reported.
    if !enabled {
        let mut scratch = Vec::new();
        let mut inner =
            ConfigReader::new(&mut scratch, r.policy, "observability", Some(super::KIND));
        match key {
            "atof" => drop(atof(&mut inner, o)),
            "atif" => drop(atif(&mut inner, o)),
            _ => drop(otlp(&mut inner, o, key)),
        }
        r.diagnostics.extend(scratch);
        return None;
    }
    Some(o)
}

fn path_field(r: &mut ConfigReader<'_>, o: &Map<String, Value>, at: &str) -> Option<PathBuf> {
    r.string(o, at, "output_directory").map(PathBuf::from)
}

fn atof(r: &mut ConfigReader<'_>, o: &Map<String, Value>) -> AtofSection {
    let mode = match r
        .choice(o, "atof", "mode", &["append", "overwrite"])
        .as_deref()
    {
        Some("overwrite") => AtofMode::Overwrite,
        _ => AtofMode::Append,
    };
    let filename = r.string(o, "atof", "filename");
    if let Some(f) = &filename {
        if f.is_empty() || f.contains(['/', '\\']) {
            r.unsupported("atof.filename", format!("expected a file name, got {f:?}"));
        }
    }
    AtofSection {
        output_directory: path_field(r, o, "atof"),
        filename,
        mode,
    }
}

fn atif(r: &mut ConfigReader<'_>, o: &Map<String, Value>) -> AtifSection {
    let template = r
        .string(o, "atif", "filename_template")
        .unwrap_or_else(|| DEFAULT_ATIF_TEMPLATE.into());
    if !template.contains("{session_id}") {
        r.unsupported(
            "atif.filename_template",
            format!("the template must contain {{session_id}}, got {template:?}"),
        );
    } else if template.contains(['/', '\\']) {
        r.unsupported(
            "atif.filename_template",
            format!("expected a file name, not a path, got {template:?}"),
        );
    }
    let tool_definitions = match o.get("tool_definitions").filter(|v| !v.is_null()) {
        None => None,
        Some(Value::Array(a)) if a.iter().all(Value::is_object) => Some(a.clone()),
        Some(v) => {
            r.invalid(
                "atif.tool_definitions",
                format!("expected a list of objects, got {v}"),
            );
            None
        }
    };
    let extra = r
        .object(o, "atif", "extra")
        .map(|m| Value::Object(m.clone()));
    AtifSection {
        agent_name: r
            .string(o, "atif", "agent_name")
            .unwrap_or_else(|| "NeMo Flow".into()),
        agent_version: r
            .string(o, "atif", "agent_version")
            .unwrap_or_else(|| env!("CARGO_PKG_VERSION").into()),
        model_name: r
            .string(o, "atif", "model_name")
            .unwrap_or_else(|| "unknown".into()),
        tool_definitions,
        extra,
        output_directory: path_field(r, o, "atif"),
        filename_template: template,
    }
}

fn otlp(r: &mut ConfigReader<'_>, o: &Map<String, Value>, at: &str) -> OtlpSection {
    let transport = r.choice(o, at, "transport", &["http_binary", "grpc"]);
    if cfg!(not(feature = "otlp")) {
        r.push(
            Level::Error,
            "feature_disabled",
            at,
            format!("{at}: this build has no OTLP export"),
        );
    } else if cfg!(not(feature = "grpc")) && transport.as_deref() == Some("grpc") {
        r.push(
            Level::Error,
            "feature_disabled",
            &format!("{at}.transport"),
            format!("{at}.transport: this build has no gRPC support"),
        );
    }
    let timeout_millis = r.uint(o, at, "timeout_millis");
    if timeout_millis == Some(0) {
        r.unsupported(
            &format!("{at}.timeout_millis"),
            "expected a positive number".into(),
        );
    }
    let endpoint = r.string(o, at, "endpoint");
    if let Some(e) = &endpoint {
        if !(e.starts_with("http://") || e.starts_with("https://")) {
            r.unsupported(
                &format!("{at}.endpoint"),
                format!("expected an http:// or https:// URL, got {e:?}"),
            );
        }
    }
    OtlpSection {
        transport,
        endpoint,
        headers: r.string_map(o, at, "headers"),
        resource_attributes: r.string_map(o, at, "resource_attributes"),
        service_name: r.string(o, at, "service_name"),
        service_namespace: r.string(o, at, "service_namespace"),
        service_version: r.string(o, at, "service_version"),
        instrumentation_scope: r.string(o, at, "instrumentation_scope"),
        timeout_millis,
    }
}
