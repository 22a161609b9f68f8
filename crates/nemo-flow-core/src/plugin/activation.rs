//! Validation of a configuration document and its transactional activation.

use serde_json::{Map, Value, json};
use std::cell::Cell;
use std::sync::{Arc, LazyLock, Mutex, RwLock};

use super::context::{Issues, PluginContext, Registration, roll_back};
use super::diagnostics::{ConfigPolicy, ConfigReader, Diagnostic, Level, type_of};
use super::{Plugin, lookup};
use crate::error::{CallbackError, FlowError, FlowResult};

/// Where a component ended up after an activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Registered and live.
    Active,
    /// `enabled = false`.
    Disabled,
    /// Its kind is unknown (the policy let activation go on without it).
    Skipped,
    /// Its `register` failed.
    Failed,
    /// Registered, then undone because a later component failed.
    RolledBack,
}

impl Status {
    /// `active`, `disabled`, `skipped`, `failed` or `rolled_back`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
            Self::RolledBack => "rolled_back",
        }
    }
}

/// One component of an activation.
#[derive(Debug, Clone)]
pub struct ComponentReport {
    /// Its kind.
    pub kind: String,
    /// Index among the components of the same kind (0 for the first).
    pub ordinal: usize,
    /// As configured.
    pub enabled: bool,
    /// Outcome.
    pub status: Status,
    /// What it registered, in order.
    pub registrations: Vec<Registration>,
    /// Why it failed.
    pub error: Option<String>,
}

/// The activation report: validation diagnostics (plus problems components reported at run
/// time) and each component's outcome.
#[derive(Debug, Clone, Default)]
pub struct ActivationReport {
    /// Findings, in document order.
    pub diagnostics: Vec<Diagnostic>,
    /// Components in document order (empty for a pure validation).
    pub components: Vec<ComponentReport>,
}

impl ActivationReport {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.level == Level::Error)
    }

    /// `{diagnostics: [...], components: [...]}`.
    pub fn to_json(&self) -> Value {
        let comps: Vec<Value> = self
            .components
            .iter()
            .map(|c| {
                let regs: Vec<Value> = c
                    .registrations
                    .iter()
                    .map(|r| json!({"family": r.family, "name": r.name, "priority": r.priority}))
                    .collect();
                let mut m = Map::new();
                m.insert("kind".into(), json!(c.kind));
                m.insert("ordinal".into(), json!(c.ordinal));
                m.insert("enabled".into(), json!(c.enabled));
                m.insert("status".into(), json!(c.status.as_str()));
                m.insert("registrations".into(), Value::Array(regs));
                if let Some(e) = &c.error {
                    m.insert("error".into(), json!(e));
                }
                Value::Object(m)
            })
            .collect();
        json!({
            "diagnostics": self.diagnostics.iter().map(Diagnostic::to_json).collect::<Vec<_>>(),
            "components": comps,
        })
    }
}

/// Activation refused or failed. Nothing of the new configuration is left registered; the
/// previous one is active again (unless the message says restoring it failed too).
#[derive(Debug, Clone)]
pub struct ActivationError {
    /// Names the component and the cause.
    pub message: String,
    /// The report of the failed attempt.
    pub report: ActivationReport,
    /// The failure a component's `register` returned, if that is what failed.
    pub cause: Option<Box<CallbackError>>,
}

impl std::fmt::Display for ActivationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ActivationError {}

struct Spec {
    kind: String,
    enabled: bool,
    config: Map<String, Value>,
    ordinal: usize,
    copies: usize,
    plugin: Option<Arc<dyn Plugin>>,
}

struct Parsed {
    policy: ConfigPolicy,
    specs: Vec<Spec>,
}

const TOP_FIELDS: [&str; 3] = ["version", "components", "policy"];
const COMPONENT_FIELDS: [&str; 3] = ["kind", "enabled", "config"];

/// Reads and checks `doc`; the parsed form is usable when no error was reported.
fn check(doc: &Value) -> (Parsed, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut parsed = Parsed {
        policy: ConfigPolicy::default(),
        specs: Vec::new(),
    };
    let Some(top) = doc.as_object() else {
        diags.push(Diagnostic::error(
            "plugin.invalid_plugin_config",
            format!(
                "the plugin configuration must be an object, got {}",
                type_of(doc)
            ),
        ));
        return (parsed, diags);
    };
    // The policy first: it grades everything else, including its own siblings.
    let mut r = ConfigReader::new(&mut diags, ConfigPolicy::default(), "plugin", None);
    let policy = ConfigPolicy::default().overridden(&mut r, top.get("policy"), "policy");
    r.policy = policy;
    r.unknown_fields(top, "", &TOP_FIELDS);
    match top.get("version").filter(|v| !v.is_null()) {
        None => {}
        Some(v) if v.as_i64() == Some(1) => {}
        Some(v) if v.is_i64() || v.is_u64() => {
            r.graded(
                policy.unsupported_value,
                "unsupported_config_version",
                "version",
                format!("unsupported plugin configuration version {v}; expected 1"),
            );
        }
        Some(v) => r.invalid("version", format!("expected an int, got {}", type_of(v))),
    }
    let raw: &[Value] = match top.get("components").filter(|v| !v.is_null()) {
        None => &[],
        Some(Value::Array(a)) => a,
        Some(v) => {
            r.invalid("components", format!("expected a list, got {}", type_of(v)));
            &[]
        }
    };
    let mut specs = Vec::new();
    for (i, c) in raw.iter().enumerate() {
        let path = format!("components[{i}]");
        let Some(obj) = c.as_object() else {
            r.invalid(&path, format!("expected an object, got {}", type_of(c)));
            continue;
        };
        r.unknown_fields(obj, &path, &COMPONENT_FIELDS);
        let Some(kind) = r.string(obj, &path, "kind") else {
            if !obj.contains_key("kind") || obj["kind"].is_null() {
                r.invalid(&format!("{path}.kind"), "a component needs a kind".into());
            }
            continue;
        };
        let enabled = r.bool(obj, &path, "enabled", true);
        let config = r.object(obj, &path, "config").cloned().unwrap_or_default();
        specs.push(Spec {
            kind,
            enabled,
            config,
            ordinal: 0,
            copies: 0,
            plugin: None,
        });
    }
    // Ordinals among same-kind components, and singleton checks.
    for i in 0..specs.len() {
        let kind = specs[i].kind.clone();
        specs[i].ordinal = specs[..i].iter().filter(|s| s.kind == kind).count();
        specs[i].copies = specs.iter().filter(|s| s.kind == kind).count();
    }
    for s in &mut specs {
        s.plugin = lookup(&s.kind);
        let Some(p) = &s.plugin else {
            if s.ordinal == 0 {
                if let Some(level) = policy.unknown_component.level() {
                    r.diagnostics.push(
                        Diagnostic::new(
                            level,
                            "plugin.unknown_component",
                            format!("unknown plugin component kind '{}'", s.kind),
                        )
                        .component(&s.kind),
                    );
                }
            }
            continue;
        };
        if s.ordinal == 1 && !p.allows_multiple_components() {
            r.diagnostics.push(
                Diagnostic::error(
                    "plugin.duplicate_component",
                    format!(
                        "component kind '{}' may appear only once; found {} copies",
                        s.kind, s.copies
                    ),
                )
                .component(&s.kind),
            );
        }
        r.diagnostics
            .extend(component_validate(p.as_ref(), s, &policy));
    }
    parsed.policy = policy;
    parsed.specs = specs;
    (parsed, diags)
}

/// The plugin's own diagnostics, attributed to the component; a panic becomes
/// `plugin.validate_failed`.
fn component_validate(p: &dyn Plugin, s: &Spec, policy: &ConfigPolicy) -> Vec<Diagnostic> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        p.validate(&s.config, policy)
    })) {
        Ok(ds) => ds
            .into_iter()
            .map(|mut d| {
                d.component.get_or_insert_with(|| s.kind.clone());
                d
            })
            .collect(),
        Err(_) => vec![
            Diagnostic::error(
                "plugin.validate_failed",
                format!("validating component '{}' panicked", s.kind),
            )
            .component(&s.kind),
        ],
    }
}

/// Checks a configuration document without side effects.
pub fn validate(doc: &Value) -> ActivationReport {
    ActivationReport {
        diagnostics: check(doc).1,
        components: Vec::new(),
    }
}

struct Live {
    report: ComponentReport,
    undos: Vec<Box<dyn FnOnce() -> Result<(), CallbackError> + Send>>,
    issues: Issues,
}

struct Active {
    doc: Value,
    diagnostics: Vec<Diagnostic>,
    components: Vec<Live>,
}

impl Active {
    fn tear_down(self) {
        for c in self.components.into_iter().rev() {
            roll_back(&c.report.kind, c.undos);
        }
    }
}

/// The activation lock and the active configuration.
static ACTIVE: Mutex<Option<Active>> = Mutex::new(None);

/// What `report()` returns, readable while an activation runs.
struct Published {
    doc: Value,
    report: ActivationReport,
    issues: Vec<Issues>,
}

static PUBLISHED: LazyLock<RwLock<Option<Published>>> = LazyLock::new(|| RwLock::new(None));

thread_local! {
    static ACTIVATING: Cell<bool> = const { Cell::new(false) };
}

fn not_reentrant(what: &str) -> FlowResult<()> {
    if ACTIVATING.with(Cell::get) {
        return Err(FlowError::Config(format!(
            "plugin configuration cannot be {what} from inside a plugin's register"
        )));
    }
    Ok(())
}

fn publish(active: Option<&Active>) {
    let p = active.map(|a| Published {
        doc: a.doc.clone(),
        report: ActivationReport {
            diagnostics: a.diagnostics.clone(),
            components: a.components.iter().map(|c| c.report.clone()).collect(),
        },
        issues: a.components.iter().map(|c| c.issues.clone()).collect(),
    });
    *PUBLISHED.write().unwrap_or_else(|e| e.into_inner()) = p;
}

fn fail(message: String, diagnostics: Vec<Diagnostic>) -> ActivationError {
    ActivationError {
        message,
        report: ActivationReport {
            diagnostics,
            components: Vec::new(),
        },
        cause: None,
    }
}

/// Validates and activates `doc`, replacing the active configuration. On failure nothing of
/// `doc` stays registered and the previous configuration is restored.
pub fn initialize(doc: &Value) -> Result<ActivationReport, ActivationError> {
    not_reentrant("initialized").map_err(|e| fail(e.to_string(), Vec::new()))?;
    let (parsed, diags) = check(doc);
    let errors: Vec<&str> = diags
        .iter()
        .filter(|d| d.level == Level::Error)
        .map(|d| d.message.as_str())
        .collect();
    if !errors.is_empty() {
        let message = format!("invalid config: {}", errors.join("; "));
        return Err(fail(message, diags));
    }
    let mut guard = ACTIVE.lock().unwrap_or_else(|e| e.into_inner());
    let previous = guard.take().map(|p| {
        let doc = p.doc.clone();
        p.tear_down();
        doc
    });
    let result = activate(doc, parsed, diags);
    let outcome = match result {
        Ok(active) => {
            let report = published_report(&active);
            *guard = Some(active);
            Ok(report)
        }
        Err(mut err) => {
            if let Some(prev) = previous {
                let (p, d) = check(&prev);
                match activate(&prev, p, d) {
                    Ok(a) => *guard = Some(a),
                    Err(e) => {
                        err.message = format!(
                            "{}; restoring the previous plugin configuration also failed: {}",
                            err.message, e.message
                        );
                    }
                }
            }
            Err(err)
        }
    };
    publish(guard.as_ref());
    outcome
}

fn published_report(a: &Active) -> ActivationReport {
    ActivationReport {
        diagnostics: a.diagnostics.clone(),
        components: a.components.iter().map(|c| c.report.clone()).collect(),
    }
}

/// Registers each enabled component in order; on a failure rolls back every registration
/// made so far, in reverse.
fn activate(
    doc: &Value,
    parsed: Parsed,
    diagnostics: Vec<Diagnostic>,
) -> Result<Active, ActivationError> {
    let mut live: Vec<Live> = Vec::with_capacity(parsed.specs.len());
    for s in &parsed.specs {
        let mut report = ComponentReport {
            kind: s.kind.clone(),
            ordinal: s.ordinal,
            enabled: s.enabled,
            status: Status::Disabled,
            registrations: Vec::new(),
            error: None,
        };
        let plugin = match (&s.plugin, s.enabled) {
            (_, false) => None,
            (None, true) => {
                report.status = Status::Skipped;
                None
            }
            (Some(p), true) => Some(p),
        };
        let Some(plugin) = plugin else {
            live.push(Live {
                report,
                undos: Vec::new(),
                issues: Issues::default(),
            });
            continue;
        };
        let ordinal = (s.copies > 1).then_some(s.ordinal);
        let ctx = PluginContext::new(&s.kind, ordinal, parsed.policy);
        ACTIVATING.with(|a| a.set(true));
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            plugin.register(&s.config, &ctx)
        }))
        .unwrap_or_else(|_| Err(CallbackError::new("panic", "register panicked")));
        ACTIVATING.with(|a| a.set(false));
        let (regs, undos): (Vec<_>, Vec<_>) = ctx.close().into_iter().unzip();
        report.registrations = regs;
        match outcome {
            Ok(()) => {
                report.status = Status::Active;
                live.push(Live {
                    report,
                    undos,
                    issues: ctx.issues(),
                });
            }
            Err(cause) => {
                roll_back(&s.kind, undos);
                let which = match ordinal {
                    Some(n) => format!("plugin component '{}' (#{n})", s.kind),
                    None => format!("plugin component '{}'", s.kind),
                };
                let message = format!("{which} failed to register: {cause}");
                report.status = Status::Failed;
                report.error = Some(cause.to_string());
                let mut components: Vec<ComponentReport> = Vec::with_capacity(parsed.specs.len());
                for c in live.into_iter().rev() {
                    roll_back(&c.report.kind, c.undos);
                    let mut r = c.report;
                    if r.status == Status::Active {
                        r.status = Status::RolledBack;
                    }
                    components.push(r);
                }
                components.reverse();
                components.push(report);
                return Err(ActivationError {
                    message,
                    report: ActivationReport {
                        diagnostics,
                        components,
                    },
                    cause: Some(Box::new(cause)),
                });
            }
        }
    }
    Ok(Active {
        doc: doc.clone(),
        diagnostics,
        components: live,
    })
}

/// Rolls back the active configuration, components in reverse order.
pub fn clear() -> FlowResult<()> {
    not_reentrant("cleared")?;
    let mut guard = ACTIVE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(a) = guard.take() {
        a.tear_down();
    }
    publish(None);
    Ok(())
}

/// The active configuration's report (validation diagnostics, then problems its components
/// reported since), or `None` when nothing is active.
pub fn report() -> Option<ActivationReport> {
    let p = PUBLISHED.read().unwrap_or_else(|e| e.into_inner());
    let p = p.as_ref()?;
    let mut r = p.report.clone();
    for i in &p.issues {
        r.diagnostics.extend(i.snapshot());
    }
    Some(r)
}

/// The active configuration document, or `None`.
pub fn active_config() -> Option<Value> {
    PUBLISHED
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .map(|p| p.doc.clone())
}
