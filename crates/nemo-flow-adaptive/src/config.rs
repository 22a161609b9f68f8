//! The `adaptive` component's configuration (behaviour reference §1.12 / §9.1): parsing with
//! defaults, and validation that reports every problem as a [`Diagnostic`] instead of failing.
//!
//! Sections are optional; an absent section is disabled. `telemetry` and `acg` need `state`;
//! without it each is reported (`adaptive.section_disabled_missing_state`) and left out.

use serde_json::{Map, Value, json};

use crate::diagnostics::{Behavior, ConfigPolicy, Diagnostic, Level, join, type_of};

/// The plugin component kind.
pub const ADAPTIVE_PLUGIN_KIND: &str = "adaptive";
/// Default Redis key prefix.
pub const DEFAULT_KEY_PREFIX: &str = "nemo_flow:";
/// Default body path of the injected hints.
pub const DEFAULT_HINTS_BODY_PATH: &str = "nvext.agent_hints";
/// Learners a config may name.
pub const LEARNERS: [&str; 3] = ["latency_sensitivity", "tool_parallelism", "acg"];

/// Where learned state lives.
#[derive(Debug, Clone, PartialEq)]
pub enum BackendSpec {
    /// Process-local maps.
    InMemory,
    /// A Redis server shared by workers.
    Redis {
        /// `redis://…` URL.
        url: String,
        /// Prefix of every key.
        key_prefix: String,
    },
}

/// `telemetry` section.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryConfig {
    /// Subscriber name; `None` means `adaptive_<runtime uuid>_subscriber`.
    pub subscriber_name: Option<String>,
    /// Enabled learners, in config order, known names only.
    pub learners: Vec<String>,
}

/// `adaptive_hints` section.
#[derive(Debug, Clone, PartialEq)]
pub struct HintsConfig {
    /// LLM request intercept priority.
    pub priority: i32,
    /// Whether the intercept breaks the chain.
    pub break_chain: bool,
    /// Whether the `x-nemo-flow-adaptive-agent-hints` header is set.
    pub inject_header: bool,
    /// Dotted body path of the hints object; empty disables body injection.
    pub inject_body_path: String,
}

/// Tool parallelism modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParallelismMode {
    /// Learn only.
    ObserveOnly,
    /// Add learned parallel groups to LLM requests.
    InjectHints,
    /// Gate followers behind the primer.
    Schedule,
}

impl ParallelismMode {
    /// Every accepted spelling.
    pub const ALL: [&'static str; 3] = ["observe_only", "inject_hints", "schedule"];

    fn parse(s: &str) -> Option<Self> {
        match s {
            "observe_only" => Some(Self::ObserveOnly),
            "inject_hints" => Some(Self::InjectHints),
            "schedule" => Some(Self::Schedule),
            _ => None,
        }
    }

    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        Self::ALL[self as usize]
    }
}

/// `tool_parallelism` section.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolParallelismConfig {
    /// Tool execution intercept priority.
    pub priority: i32,
    /// Mode.
    pub mode: ParallelismMode,
    /// How long followers wait for the primer in `schedule` mode (the original's fixed 150 ms).
    pub cohort_wait_ms: u64,
}

/// ACG provider planners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// `cache_control` breakpoints.
    Anthropic,
    /// Canonical JSON in the stable prefix.
    OpenAi,
    /// No change.
    Passthrough,
}

impl Provider {
    /// Every accepted spelling.
    pub const ALL: [&'static str; 3] = ["anthropic", "openai", "passthrough"];

    /// Parses a configuration spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "anthropic" => Some(Self::Anthropic),
            "openai" => Some(Self::OpenAi),
            "passthrough" => Some(Self::Passthrough),
            _ => None,
        }
    }

    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        Self::ALL[self as usize]
    }
}

/// `acg.stability_thresholds`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StabilityThresholds {
    /// Score at or above which a span is `Stable`.
    pub stable_threshold: f64,
    /// Score at or above which a span is `SemiStable`.
    pub semi_stable_threshold: f64,
    /// Observations at which confidence reaches 1.
    pub min_observations_for_full_confidence: u32,
}

impl Default for StabilityThresholds {
    fn default() -> Self {
        Self {
            stable_threshold: 0.95,
            semi_stable_threshold: 0.5,
            min_observations_for_full_confidence: 20,
        }
    }
}

/// `acg` section.
#[derive(Debug, Clone, PartialEq)]
pub struct AcgConfig {
    /// Planner.
    pub provider: Provider,
    /// Observations kept per learning key.
    pub observation_window: usize,
    /// Execution / stream intercept priority.
    pub priority: i32,
    /// Stability classes.
    pub stability_thresholds: StabilityThresholds,
}

impl Default for AcgConfig {
    fn default() -> Self {
        Self {
            provider: Provider::Passthrough,
            observation_window: 100,
            priority: 50,
            stability_thresholds: StabilityThresholds::default(),
        }
    }
}

/// The whole component config, defaults filled in, disabled sections `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct AdaptiveConfig {
    /// Always 1 once valid.
    pub version: u64,
    /// Fallback agent id.
    pub agent_id: Option<String>,
    /// State backend.
    pub state: Option<BackendSpec>,
    /// Telemetry and learners.
    pub telemetry: Option<TelemetryConfig>,
    /// Hints intercept.
    pub adaptive_hints: Option<HintsConfig>,
    /// Tool parallelism intercept.
    pub tool_parallelism: Option<ToolParallelismConfig>,
    /// Cache governor.
    pub acg: Option<AcgConfig>,
    /// Effective policy (the document's, overridden by the component's `policy`).
    pub policy: ConfigPolicy,
}

const TOP_FIELDS: [&str; 8] = [
    "version",
    "agent_id",
    "state",
    "telemetry",
    "adaptive_hints",
    "tool_parallelism",
    "acg",
    "policy",
];

/// Validates `config` under `policy` (pure): the component's `Plugin::validate`.
pub fn validate(config: &Map<String, Value>, policy: &ConfigPolicy) -> Vec<Diagnostic> {
    parse(config, policy).1
}

/// Parses `config`, returning the config (meaningful only without error diagnostics) and
/// every diagnostic.
pub fn parse(
    config: &Map<String, Value>,
    policy: &ConfigPolicy,
) -> (AdaptiveConfig, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut r = Reader {
        out: &mut diags,
        policy: *policy,
    };
    r.policy = r.read_policy(config.get("policy"));
    r.unknown_fields(config, "", &TOP_FIELDS);
    let version = match config.get("version").filter(|v| !v.is_null()) {
        None => 1,
        Some(v) => match v.as_u64() {
            Some(1) => 1,
            _ => {
                let b = r.policy.unsupported_value;
                r.graded(
                    b,
                    "unsupported_config_version",
                    "version",
                    format!("version: unsupported config version {v}; expected 1"),
                );
                v.as_u64().unwrap_or(0)
            }
        },
    };
    let agent_id = r.string(config, "", "agent_id");
    let state = r.object(config, "", "state").and_then(|s| r.state(s));
    let mut telemetry = r.object(config, "", "telemetry").map(|t| r.telemetry(t));
    let adaptive_hints = r.object(config, "", "adaptive_hints").map(|h| r.hints(h));
    let tool_parallelism = r
        .object(config, "", "tool_parallelism")
        .map(|t| r.parallelism(t));
    let mut acg = r.object(config, "", "acg").map(|a| r.acg(a));
    if config.get("state").is_none_or(Value::is_null) {
        for (name, present) in [("telemetry", telemetry.is_some()), ("acg", acg.is_some())] {
            if present {
                r.push(
                    Level::Warning,
                    "section_disabled_missing_state",
                    name,
                    format!("{name}: needs a `state` section; it is disabled"),
                );
            }
        }
        telemetry = None;
        acg = None;
    }
    let policy = r.policy;
    let cfg = AdaptiveConfig {
        version,
        agent_id,
        state,
        telemetry,
        adaptive_hints,
        tool_parallelism,
        acg,
        policy,
    };
    (cfg, diags)
}

/// Collects diagnostics with codes `adaptive.*`.
struct Reader<'a> {
    out: &'a mut Vec<Diagnostic>,
    policy: ConfigPolicy,
}

impl Reader<'_> {
    fn push(&mut self, level: Level, code: &str, path: &str, message: String) {
        self.out.push(Diagnostic {
            level,
            code: format!("{ADAPTIVE_PLUGIN_KIND}.{code}"),
            message,
            component: Some(ADAPTIVE_PLUGIN_KIND.to_owned()),
            field: (!path.is_empty()).then(|| path.to_owned()),
        });
    }

    fn graded(&mut self, b: Behavior, code: &str, path: &str, message: String) {
        if let Some(level) = b.level() {
            self.push(level, code, path, message);
        }
    }

    /// A value of the wrong type or out of range: always an error.
    fn invalid(&mut self, path: &str, message: String) {
        self.push(
            Level::Error,
            "invalid_plugin_config",
            path,
            format!("{path}: {message}"),
        );
    }

    fn unknown_fields(&mut self, obj: &Map<String, Value>, path: &str, known: &[&str]) {
        for key in obj.keys().filter(|k| !known.contains(&k.as_str())) {
            let p = join(path, key);
            let msg = format!("unknown field {p:?}; expected one of {}", known.join(", "));
            let b = self.policy.unknown_field;
            self.graded(b, "unknown_field", &p, msg);
        }
    }

    fn get<'v>(obj: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
        obj.get(key).filter(|v| !v.is_null())
    }

    fn object<'v>(
        &mut self,
        obj: &'v Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Option<&'v Map<String, Value>> {
        let v = Self::get(obj, key)?;
        let o = v.as_object();
        if o.is_none() {
            self.invalid(
                &join(path, key),
                format!("expected an object, got {}", type_of(v)),
            );
        }
        o
    }

    fn string(&mut self, obj: &Map<String, Value>, path: &str, key: &str) -> Option<String> {
        match Self::get(obj, key)? {
            Value::String(s) => Some(s.clone()),
            v => {
                self.invalid(
                    &join(path, key),
                    format!("expected a str, got {}", type_of(v)),
                );
                None
            }
        }
    }

    fn bool(&mut self, obj: &Map<String, Value>, path: &str, key: &str, default: bool) -> bool {
        match Self::get(obj, key) {
            None => default,
            Some(Value::Bool(b)) => *b,
            Some(v) => {
                self.invalid(
                    &join(path, key),
                    format!("expected a bool, got {}", type_of(v)),
                );
                default
            }
        }
    }

    fn priority(&mut self, obj: &Map<String, Value>, path: &str, default: i32) -> i32 {
        let Some(v) = Self::get(obj, "priority") else {
            return default;
        };
        match v.as_i64().and_then(|n| i32::try_from(n).ok()) {
            Some(n) => n,
            None => {
                self.invalid(
                    &join(path, "priority"),
                    format!("expected a 32-bit int, got {v}"),
                );
                default
            }
        }
    }

    fn uint(
        &mut self,
        obj: &Map<String, Value>,
        path: &str,
        key: &str,
        min: u64,
        default: u64,
    ) -> u64 {
        let Some(v) = Self::get(obj, key) else {
            return default;
        };
        match v.as_u64().filter(|n| *n >= min) {
            Some(n) => n,
            None => {
                self.invalid(
                    &join(path, key),
                    format!("expected an int >= {min}, got {v}"),
                );
                default
            }
        }
    }

    fn unit_float(&mut self, obj: &Map<String, Value>, path: &str, key: &str, default: f64) -> f64 {
        let Some(v) = Self::get(obj, key) else {
            return default;
        };
        match v.as_f64().filter(|f| (0.0..=1.0).contains(f)) {
            Some(f) => f,
            None => {
                self.invalid(
                    &join(path, key),
                    format!("expected a number in [0, 1], got {v}"),
                );
                default
            }
        }
    }

    /// `one of allowed`, reported as `unsupported_value` otherwise.
    fn choice(
        &mut self,
        obj: &Map<String, Value>,
        path: &str,
        key: &str,
        allowed: &[&str],
    ) -> Option<String> {
        let s = self.string(obj, path, key)?;
        if allowed.contains(&s.as_str()) {
            return Some(s);
        }
        let p = join(path, key);
        let want = allowed
            .iter()
            .map(|a| format!("{a:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        let b = self.policy.unsupported_value;
        self.graded(
            b,
            "unsupported_value",
            &p,
            format!("{p}: unsupported value {s:?}; expected one of {want}"),
        );
        None
    }

    fn read_policy(&mut self, v: Option<&Value>) -> ConfigPolicy {
        let mut out = self.policy;
        let Some(v) = v.filter(|v| !v.is_null()) else {
            return out;
        };
        let Some(obj) = v.as_object() else {
            self.invalid("policy", format!("expected an object, got {}", type_of(v)));
            return out;
        };
        const FIELDS: [&str; 3] = ["unknown_component", "unknown_field", "unsupported_value"];
        // Read the values first, so the component's own `unknown_field` grades this object too.
        for (key, slot) in FIELDS.into_iter().zip([
            &mut out.unknown_component,
            &mut out.unknown_field,
            &mut out.unsupported_value,
        ]) {
            let Some(val) = obj.get(key) else { continue };
            match val.as_str().and_then(Behavior::parse) {
                Some(b) => *slot = b,
                None => self.invalid(
                    &join("policy", key),
                    format!("expected one of \"ignore\", \"warn\", \"error\", got {val}"),
                ),
            }
        }
        self.policy = out;
        self.unknown_fields(obj, "policy", &FIELDS);
        out
    }

    fn state(&mut self, s: &Map<String, Value>) -> Option<BackendSpec> {
        self.unknown_fields(s, "state", &["backend"]);
        let Some(b) = self.object(s, "state", "backend") else {
            if Self::get(s, "backend").is_none() {
                self.invalid("state.backend", "required: {kind, config}".into());
            }
            return None;
        };
        self.unknown_fields(b, "state.backend", &["kind", "config"]);
        let kind = match Self::get(b, "kind") {
            None => {
                self.invalid(
                    "state.backend.kind",
                    "required: \"in_memory\" or \"redis\"".into(),
                );
                return None;
            }
            Some(_) => self.string(b, "state.backend", "kind")?,
        };
        let empty = Map::new();
        let cfg = self.object(b, "state.backend", "config").unwrap_or(&empty);
        const P: &str = "state.backend.config";
        match kind.as_str() {
            "in_memory" => {
                self.unknown_fields(cfg, P, &[]);
                Some(BackendSpec::InMemory)
            }
            "redis" => {
                self.unknown_fields(cfg, P, &["url", "key_prefix"]);
                let key_prefix = self
                    .string(cfg, P, "key_prefix")
                    .unwrap_or_else(|| DEFAULT_KEY_PREFIX.into());
                let url = match self.string(cfg, P, "url") {
                    Some(u)
                        if u.starts_with("redis://")
                            || u.starts_with("rediss://")
                            || u.starts_with("unix://") =>
                    {
                        u
                    }
                    Some(u) => {
                        self.invalid(
                            &join(P, "url"),
                            format!("expected a redis://, rediss:// or unix:// URL, got {u:?}"),
                        );
                        return None;
                    }
                    None => {
                        if Self::get(cfg, "url").is_none() {
                            self.invalid(&join(P, "url"), "required for the redis backend".into());
                        }
                        return None;
                    }
                };
                Some(BackendSpec::Redis { url, key_prefix })
            }
            other => {
                let b = self.policy.unknown_component;
                self.graded(
                    b,
                    "unknown_backend",
                    "state.backend.kind",
                    format!("state.backend.kind: unknown backend {other:?}; expected \"in_memory\" or \"redis\""),
                );
                None
            }
        }
    }

    fn telemetry(&mut self, t: &Map<String, Value>) -> TelemetryConfig {
        const P: &str = "telemetry";
        self.unknown_fields(t, P, &["subscriber_name", "learners"]);
        let subscriber_name = self.string(t, P, "subscriber_name");
        let mut learners = Vec::new();
        match Self::get(t, "learners") {
            None => {}
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let path = format!("{P}.learners[{i}]");
                    match item.as_str() {
                        Some(l) if LEARNERS.contains(&l) => {
                            if !learners.iter().any(|x| x == l) {
                                learners.push(l.to_owned());
                            }
                        }
                        // The original ignored unknown learners silently; a typo then disabled
                        // learning without a word, so it is reported, graded like a field.
                        Some(l) => {
                            let b = self.policy.unknown_field;
                            let msg = format!(
                                "{path}: unknown learner {l:?}; expected one of {}",
                                LEARNERS.join(", ")
                            );
                            self.graded(b, "unknown_learner", &path, msg);
                        }
                        None => {
                            self.invalid(&path, format!("expected a str, got {}", type_of(item)))
                        }
                    }
                }
            }
            Some(v) => self.invalid(
                &join(P, "learners"),
                format!("expected a list, got {}", type_of(v)),
            ),
        }
        TelemetryConfig {
            subscriber_name,
            learners,
        }
    }

    fn hints(&mut self, h: &Map<String, Value>) -> HintsConfig {
        const P: &str = "adaptive_hints";
        self.unknown_fields(
            h,
            P,
            &[
                "priority",
                "break_chain",
                "inject_header",
                "inject_body_path",
            ],
        );
        let mut path = self
            .string(h, P, "inject_body_path")
            .unwrap_or_else(|| DEFAULT_HINTS_BODY_PATH.into());
        if !path.is_empty() && path.split('.').any(str::is_empty) {
            self.invalid(
                &join(P, "inject_body_path"),
                format!("expected a dotted path like \"nvext.agent_hints\", got {path:?}"),
            );
            path = DEFAULT_HINTS_BODY_PATH.into();
        }
        HintsConfig {
            priority: self.priority(h, P, 100),
            break_chain: self.bool(h, P, "break_chain", false),
            inject_header: self.bool(h, P, "inject_header", true),
            inject_body_path: path,
        }
    }

    fn parallelism(&mut self, t: &Map<String, Value>) -> ToolParallelismConfig {
        const P: &str = "tool_parallelism";
        self.unknown_fields(t, P, &["priority", "mode", "cohort_wait_ms"]);
        let mode = self
            .choice(t, P, "mode", &ParallelismMode::ALL)
            .and_then(|m| ParallelismMode::parse(&m))
            .unwrap_or(ParallelismMode::ObserveOnly);
        ToolParallelismConfig {
            priority: self.priority(t, P, 100),
            mode,
            cohort_wait_ms: self.uint(t, P, "cohort_wait_ms", 0, 150),
        }
    }

    fn acg(&mut self, a: &Map<String, Value>) -> AcgConfig {
        const P: &str = "acg";
        self.unknown_fields(
            a,
            P,
            &[
                "provider",
                "observation_window",
                "priority",
                "stability_thresholds",
            ],
        );
        let d = AcgConfig::default();
        let provider = self
            .choice(a, P, "provider", &Provider::ALL)
            .and_then(|p| Provider::parse(&p))
            .unwrap_or(d.provider);
        let window = self.uint(a, P, "observation_window", 1, d.observation_window as u64);
        let mut th = d.stability_thresholds;
        if let Some(s) = self.object(a, P, "stability_thresholds") {
            const T: &str = "acg.stability_thresholds";
            self.unknown_fields(
                s,
                T,
                &[
                    "stable_threshold",
                    "semi_stable_threshold",
                    "min_observations_for_full_confidence",
                ],
            );
            th.stable_threshold = self.unit_float(s, T, "stable_threshold", th.stable_threshold);
            th.semi_stable_threshold =
                self.unit_float(s, T, "semi_stable_threshold", th.semi_stable_threshold);
            let n = self.uint(s, T, "min_observations_for_full_confidence", 1, 20);
            th.min_observations_for_full_confidence = u32::try_from(n).unwrap_or(u32::MAX);
            if th.semi_stable_threshold > th.stable_threshold {
                self.invalid(
                    &join(T, "semi_stable_threshold"),
                    format!(
                        "must not exceed stable_threshold ({}), got {}",
                        th.stable_threshold, th.semi_stable_threshold
                    ),
                );
            }
        }
        AcgConfig {
            provider,
            observation_window: usize::try_from(window).unwrap_or(usize::MAX),
            priority: self.priority(a, P, d.priority),
            stability_thresholds: th,
        }
    }
}

impl AdaptiveConfig {
    /// The normalized document (defaults filled in, disabled sections `null`).
    pub fn to_json(&self) -> Value {
        let state = self.state.as_ref().map(|b| match b {
            BackendSpec::InMemory => json!({"backend": {"kind": "in_memory", "config": {}}}),
            BackendSpec::Redis { url, key_prefix } => {
                json!({"backend": {"kind": "redis", "config": {"url": url, "key_prefix": key_prefix}}})
            }
        });
        json!({
            "version": self.version,
            "agent_id": self.agent_id,
            "state": state,
            "telemetry": self.telemetry.as_ref().map(|t| json!({"subscriber_name": t.subscriber_name, "learners": t.learners})),
            "adaptive_hints": self.adaptive_hints.as_ref().map(|h| json!({
                "priority": h.priority, "break_chain": h.break_chain,
                "inject_header": h.inject_header, "inject_body_path": h.inject_body_path})),
            "tool_parallelism": self.tool_parallelism.as_ref().map(|t| json!({
                "priority": t.priority, "mode": t.mode.as_str(), "cohort_wait_ms": t.cohort_wait_ms})),
            "acg": self.acg.as_ref().map(|a| json!({
                "provider": a.provider.as_str(), "observation_window": a.observation_window,
                "priority": a.priority, "stability_thresholds": {
                    "stable_threshold": a.stability_thresholds.stable_threshold,
                    "semi_stable_threshold": a.stability_thresholds.semi_stable_threshold,
                    "min_observations_for_full_confidence": a.stability_thresholds.min_observations_for_full_confidence}})),
            "policy": self.policy.to_json(),
        })
    }
}
