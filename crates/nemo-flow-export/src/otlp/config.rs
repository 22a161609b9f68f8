//! OTLP exporter configuration and the standard `OTEL_*` environment variables.

use std::collections::BTreeMap;
use std::time::Duration;

/// Which conventions the spans follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// OpenTelemetry GenAI semantic conventions plus `nemo_flow.*`.
    OpenTelemetry,
    /// OpenInference conventions plus `nemo_flow.*`.
    OpenInference,
}

impl Flavor {
    /// Default instrumentation scope name.
    pub fn default_scope(self) -> &'static str {
        match self {
            Self::OpenTelemetry => "nemo-flow-otel",
            Self::OpenInference => "nemo-flow-openinference",
        }
    }
}

/// OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// OTLP/HTTP with protobuf bodies.
    HttpBinary,
    /// OTLP/gRPC.
    Grpc,
}

impl Transport {
    /// Parses `http_binary` / `grpc` (and the OTel protocol names `http/protobuf`, `grpc`).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "http_binary" | "http/protobuf" | "http" => Some(Self::HttpBinary),
            "grpc" => Some(Self::Grpc),
            _ => None,
        }
    }

    /// The configuration name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HttpBinary => "http_binary",
            Self::Grpc => "grpc",
        }
    }
}

/// Everything an OTLP subscriber needs.
#[derive(Debug, Clone)]
pub struct OtlpConfig {
    /// Transport.
    pub transport: Transport,
    /// Full endpoint URL; `None`: the `OTEL_EXPORTER_OTLP_*` variables, then localhost.
    pub endpoint: Option<String>,
    /// `service.name`.
    pub service_name: String,
    /// `service.namespace`.
    pub service_namespace: Option<String>,
    /// `service.version`.
    pub service_version: Option<String>,
    /// Instrumentation scope name.
    pub instrumentation_scope: String,
    /// Timeout of one export request, and the default flush timeout.
    pub timeout: Duration,
    /// Extra request headers (merged over `OTEL_EXPORTER_OTLP_HEADERS`).
    pub headers: BTreeMap<String, String>,
    /// Extra resource attributes (merged over `OTEL_RESOURCE_ATTRIBUTES`).
    pub resource_attributes: BTreeMap<String, String>,
    /// Events the queue holds before it drops (`OTEL_BSP_MAX_QUEUE_SIZE`).
    pub max_queue_size: usize,
    /// Spans per request (`OTEL_BSP_MAX_EXPORT_BATCH_SIZE`).
    pub max_export_batch_size: usize,
    /// Delay between scheduled exports (`OTEL_BSP_SCHEDULE_DELAY`).
    pub schedule_delay: Duration,
    /// Bound of one scheduled export, retries included (`OTEL_BSP_EXPORT_TIMEOUT`).
    pub export_timeout: Duration,
    /// `OTEL_SDK_DISABLED=true`: the subscriber registers nothing and exports nothing.
    pub disabled: bool,
}

/// Reads an environment variable (injected for tests).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment.
pub fn process_env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

fn non_empty(env: Env<'_>, key: &str) -> Option<String> {
    env(key)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// A positive integer variable; garbage falls back to `default`.
fn positive(env: Env<'_>, key: &str, default: u64) -> u64 {
    non_empty(env, key)
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|v| *v > 0)
        .unwrap_or(default)
}

/// `k=v,k2=v2` with percent-decoding (W3C baggage style, as OTel specifies).
pub fn parse_key_values(s: &str) -> BTreeMap<String, String> {
    s.split(',')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            let k = percent_decode(k.trim());
            (!k.is_empty()).then(|| (k, percent_decode(v.trim())))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && bytes[i + 1].is_ascii_hexdigit()
            && bytes[i + 2].is_ascii_hexdigit()
        {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("00");
            out.push(u8::from_str_radix(hex, 16).unwrap_or(0));
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl OtlpConfig {
    /// Defaults for `flavor`, taking the standard variables from `env`.
    pub fn from_env(flavor: Flavor, env: Env<'_>) -> Self {
        let transport = non_empty(env, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            .or_else(|| non_empty(env, "OTEL_EXPORTER_OTLP_PROTOCOL"))
            .and_then(|p| Transport::parse(&p))
            .unwrap_or(Transport::HttpBinary);
        let timeout_ms = non_empty(env, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")
            .or_else(|| non_empty(env, "OTEL_EXPORTER_OTLP_TIMEOUT"))
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|v| *v > 0)
            .unwrap_or(3000);
        let max_queue_size = positive(env, "OTEL_BSP_MAX_QUEUE_SIZE", 2048) as usize;
        let batch = positive(env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512) as usize;
        Self {
            transport,
            endpoint: None,
            service_name: non_empty(env, "OTEL_SERVICE_NAME").unwrap_or_else(|| "nemo-flow".into()),
            service_namespace: None,
            service_version: None,
            instrumentation_scope: flavor.default_scope().into(),
            timeout: Duration::from_millis(timeout_ms),
            headers: BTreeMap::new(),
            resource_attributes: BTreeMap::new(),
            max_queue_size,
            max_export_batch_size: batch.min(max_queue_size),
            schedule_delay: Duration::from_millis(positive(env, "OTEL_BSP_SCHEDULE_DELAY", 5000)),
            export_timeout: Duration::from_millis(positive(env, "OTEL_BSP_EXPORT_TIMEOUT", 30_000)),
            disabled: non_empty(env, "OTEL_SDK_DISABLED")
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
        }
    }

    /// The URL requests go to.
    pub fn resolved_endpoint(&self, env: Env<'_>) -> String {
        if let Some(e) = self.endpoint.as_deref().filter(|e| !e.trim().is_empty()) {
            return e.trim().to_owned();
        }
        if let Some(e) = non_empty(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            return e;
        }
        match (
            self.transport,
            non_empty(env, "OTEL_EXPORTER_OTLP_ENDPOINT"),
        ) {
            (Transport::HttpBinary, Some(base)) => {
                format!("{}/v1/traces", base.trim_end_matches('/'))
            }
            (Transport::Grpc, Some(base)) => base,
            (Transport::HttpBinary, None) => "http://localhost:4318/v1/traces".into(),
            (Transport::Grpc, None) => "http://localhost:4317".into(),
        }
    }

    /// Request headers: the environment's, overridden by the configured ones.
    pub fn resolved_headers(&self, env: Env<'_>) -> BTreeMap<String, String> {
        let mut h = BTreeMap::new();
        for key in [
            "OTEL_EXPORTER_OTLP_HEADERS",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        ] {
            if let Some(v) = env(key) {
                h.extend(parse_key_values(&v));
            }
        }
        h.extend(self.headers.clone());
        h
    }

    /// Resource attributes: `OTEL_RESOURCE_ATTRIBUTES`, then the configured ones, then the
    /// service identity.
    pub fn resolved_resource(&self, env: Env<'_>) -> BTreeMap<String, String> {
        let mut r = env("OTEL_RESOURCE_ATTRIBUTES")
            .map(|v| parse_key_values(&v))
            .unwrap_or_default();
        r.extend(self.resource_attributes.clone());
        r.insert("service.name".into(), self.service_name.clone());
        if let Some(ns) = &self.service_namespace {
            r.insert("service.namespace".into(), ns.clone());
        }
        if let Some(v) = &self.service_version {
            r.insert("service.version".into(), v.clone());
        }
        r.entry("telemetry.sdk.name".into())
            .or_insert_with(|| "nemo-flow".into());
        r.entry("telemetry.sdk.language".into())
            .or_insert_with(|| "rust".into());
        r
    }

    /// Refuses sizes that cannot work (zero, batch larger than the queue) and a malformed
    /// endpoint.
    pub fn validate(&self, env: Env<'_>) -> Result<(), String> {
        if self.max_queue_size == 0 {
            return Err("max_queue_size: expected a positive number".into());
        }
        if self.max_export_batch_size == 0 || self.max_export_batch_size > self.max_queue_size {
            return Err(
                "max_export_batch_size: expected a positive number no larger than max_queue_size"
                    .into(),
            );
        }
        if self.timeout.is_zero() {
            return Err("timeout_millis: expected a positive number".into());
        }
        let ep = self.resolved_endpoint(env);
        let rest = ep
            .strip_prefix("http://")
            .or_else(|| ep.strip_prefix("https://"))
            .ok_or_else(|| format!("endpoint: expected an http:// or https:// URL, got {ep:?}"))?;
        if rest.is_empty() || rest.starts_with('/') || rest.contains(char::is_whitespace) {
            return Err(format!("endpoint: malformed URL {ep:?}"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn standard_variables_are_honoured() {
        let env = env_of(&[
            ("OTEL_SERVICE_NAME", "svc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "a=1,b=x%20y"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment=test,service.name=ignored",
            ),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "64"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "a"),
            ("OTEL_BSP_SCHEDULE_DELAY", " "),
            ("OTEL_SDK_DISABLED", "TRUE"),
        ]);
        let c = OtlpConfig::from_env(Flavor::OpenTelemetry, &env);
        assert_eq!(c.service_name, "svc");
        assert_eq!(c.resolved_endpoint(&env), "http://collector:4318/v1/traces");
        let h = c.resolved_headers(&env);
        assert_eq!(h["b"], "x y");
        let r = c.resolved_resource(&env);
        assert_eq!(r["deployment.environment"], "test");
        assert_eq!(r["service.name"], "svc");
        assert_eq!(c.max_queue_size, 64);
        // Garbage falls back to the default, clamped to the queue.
        assert_eq!(c.max_export_batch_size, 64);
        assert_eq!(c.schedule_delay, Duration::from_millis(5000));
        assert!(c.disabled);
    }

    #[test]
    fn grpc_endpoint_is_used_as_is_and_bad_config_is_refused() {
        let env = env_of(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://h:4317"),
        ]);
        let mut c = OtlpConfig::from_env(Flavor::OpenInference, &env);
        assert_eq!(c.transport, Transport::Grpc);
        assert_eq!(c.resolved_endpoint(&env), "http://h:4317");
        assert_eq!(c.instrumentation_scope, "nemo-flow-openinference");
        c.endpoint = Some("not a url".into());
        assert!(c.validate(&env).is_err());
        c.endpoint = None;
        c.max_export_batch_size = c.max_queue_size + 1;
        assert!(c.validate(&env).is_err());
    }
}
