//! OTLP exporter configuration and the standard `OTEL_*` environment variables.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// What happens when the exporter cannot keep up or the backend is away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OverflowPolicy {
    /// A full queue drops the event, an undeliverable batch fails; both counted.
    #[default]
    Drop,
    /// A full queue makes the caller wait up to `overflow_block` before dropping.
    Block,
    /// Undeliverable batches (backend down or too slow) go to a bounded local file and are
    /// sent again, oldest first, once the backend answers.
    Spool,
}

impl OverflowPolicy {
    /// Parses `drop` / `block` / `spool`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "drop" => Some(Self::Drop),
            "block" => Some(Self::Block),
            "spool" => Some(Self::Spool),
            _ => None,
        }
    }

    /// The configuration name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Drop => "drop",
            Self::Block => "block",
            Self::Spool => "spool",
        }
    }
}

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
    /// Batches in flight at once (one sender thread and connection each).
    pub max_concurrent_exports: usize,
    /// What a full queue or an unreachable backend does.
    pub overflow: OverflowPolicy,
    /// How long [`OverflowPolicy::Block`] lets the caller wait for room.
    pub overflow_block: Duration,
    /// The spool file of [`OverflowPolicy::Spool`]; `None`: one per process in the temporary
    /// directory.
    pub spool_path: Option<PathBuf>,
    /// Bound of the spool file; batches that do not fit are dropped and counted.
    pub spool_max_bytes: u64,
}

/// Default queue: deep enough that a burst of 100,000 events from a tight loop reaches a
/// backend that keeps up (each slot is one shared pointer, 8 bytes).
pub const DEFAULT_QUEUE_SIZE: u64 = 131_072;

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
        let max_queue_size = positive(env, "OTEL_BSP_MAX_QUEUE_SIZE", DEFAULT_QUEUE_SIZE) as usize;
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
            max_concurrent_exports: 4,
            overflow: OverflowPolicy::Drop,
            overflow_block: Duration::from_millis(100),
            spool_path: None,
            spool_max_bytes: 64 * 1024 * 1024,
        }
    }

    /// The spool file in force (`None` unless the policy is `spool`). A forked child gets its
    /// own file (`.<pid>` appended) so parent and child never write one file.
    pub fn resolved_spool_path(&self, flavor: Flavor, after_fork: bool) -> Option<PathBuf> {
        if self.overflow != OverflowPolicy::Spool {
            return None;
        }
        let base = self.spool_path.clone().unwrap_or_else(|| {
            std::env::temp_dir().join(format!(
                "nemo-flow-{}-spool-{}.otlp",
                flavor.default_scope(),
                std::process::id()
            ))
        });
        if !after_fork || self.spool_path.is_none() {
            return Some(base);
        }
        let mut name = base.into_os_string();
        name.push(format!(".{}", std::process::id()));
        Some(PathBuf::from(name))
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
        if self.max_concurrent_exports == 0 || self.max_concurrent_exports > 64 {
            return Err(format!(
                "max_concurrent_exports: expected 1 to 64, got {}",
                self.max_concurrent_exports
            ));
        }
        if self.overflow == OverflowPolicy::Spool && self.spool_max_bytes == 0 {
            return Err("spool_max_bytes: expected a positive number".into());
        }
        validate_endpoint(&self.resolved_endpoint(env))?;
        for (k, v) in self.resolved_headers(env) {
            validate_header(&k, &v)?;
        }
        Ok(())
    }
}

/// Refuses an endpoint that could only fail at the first export: not http(s), no host, a
/// port out of range, unbalanced brackets, whitespace.
pub fn validate_endpoint(ep: &str) -> Result<(), String> {
    let uri: http::Uri = ep
        .parse()
        .map_err(|e| format!("endpoint: malformed URL {ep:?}: {e}"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(format!(
            "endpoint: expected an http:// or https:// URL, got {ep:?}"
        ));
    }
    let authority = uri
        .authority()
        .ok_or_else(|| format!("endpoint: no host in {ep:?}"))?;
    if authority.host().is_empty() || authority.as_str().contains('@') {
        return Err(format!("endpoint: expected host[:port] in {ep:?}"));
    }
    // `http` parses an out-of-range port as "no port": read the digits after the host.
    let after_host = match authority.as_str().rsplit_once(']') {
        Some((_, rest)) => rest,
        None => authority.as_str(),
    };
    let port = after_host.rsplit_once(':').map(|(_, p)| p);
    if port.is_some_and(|p| p.parse::<u16>().is_err() || p == "0") {
        return Err(format!("endpoint: port out of range (1-65535) in {ep:?}"));
    }
    Ok(())
}

/// Refuses a header that no HTTP/2 or HTTP/1.1 request can carry: an empty name or one with
/// separators (`:`, spaces, newlines), a value with control characters (CR, LF, NUL).
pub fn validate_header(name: &str, value: &str) -> Result<(), String> {
    if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(format!("headers: invalid header name {name:?}"));
    }
    if http::HeaderValue::from_str(value).is_err() {
        return Err(format!(
            "headers: the value of {name:?} contains characters a header cannot carry (CR, LF or other control characters)"
        ));
    }
    Ok(())
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

    #[test]
    fn endpoints_and_headers_that_can_only_fail_later_are_refused() {
        for bad in [
            "http://[::1",
            "http://localhost:99999/v1/traces",
            "http://localhost:0",
            "ftp://h:1",
            "http://",
            "http://user@h:1",
            "http:// h:1",
        ] {
            assert!(validate_endpoint(bad).is_err(), "{bad} accepted");
        }
        for good in [
            "http://[::1]:4318/v1/traces",
            "https://h",
            "http://127.0.0.1:4317",
        ] {
            assert!(validate_endpoint(good).is_ok(), "{good} refused");
        }
        assert!(validate_header("a\nb", "v").is_err());
        assert!(validate_header("a:b", "v").is_err());
        assert!(validate_header("", "v").is_err());
        assert!(validate_header("x-key", "v\r\nInjected: 1").is_err());
        assert!(validate_header("x-key", "ok value").is_ok());
        let env = env_of(&[]);
        let mut c = OtlpConfig::from_env(Flavor::OpenTelemetry, &env);
        c.headers.insert("bad name".into(), "v".into());
        let e = c.validate(&env).unwrap_err();
        assert!(e.contains("bad name"), "{e}");
    }
}
