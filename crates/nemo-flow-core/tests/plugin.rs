//! The plugin system with a plugin written in Rust: validation diagnostics, namespacing,
//! transactional activation, rollback at each failure point, restore on failed re-activation.

use nemo_flow_core::error::CallbackError;
use nemo_flow_core::middleware::global;
use nemo_flow_core::plugin::{
    self, ComponentConfig, ConfigPolicy, ConfigReader, Diagnostic, Level, Plugin, PluginContext,
    Status,
};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex, MutexGuard};

/// The plugin system is process-global: tests in this file take turns.
fn serial() -> MutexGuard<'static, ()> {
    static M: Mutex<()> = Mutex::new(());
    let g = M.lock().unwrap_or_else(|e| e.into_inner());
    plugin::clear().unwrap();
    global().clear();
    g
}

/// Registers one tool request intercept per entry of `names`, a subscriber and a cleanup
/// that logs into `log`; `fail_after` makes `register` fail after that many intercepts.
struct Recorder {
    log: Arc<Mutex<Vec<String>>>,
    single: bool,
}

const FIELDS: [&str; 3] = ["names", "fail_after", "nested"];

impl Plugin for Recorder {
    fn allows_multiple_components(&self) -> bool {
        !self.single
    }

    fn validate(&self, config: &ComponentConfig, policy: &ConfigPolicy) -> Vec<Diagnostic> {
        let mut d = Vec::new();
        let mut r = ConfigReader::new(&mut d, *policy, "recorder", None);
        r.unknown_fields(config, "", &FIELDS);
        if let Some(n) = r.object(config, "", "nested") {
            r.unknown_fields(n, "nested", &["depth"]);
            r.uint(n, "nested", "depth");
        }
        r.uint(config, "", "fail_after");
        d
    }

    fn register(&self, config: &ComponentConfig, ctx: &PluginContext) -> Result<(), CallbackError> {
        let names: Vec<String> = config
            .get("names")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let fail_after = config.get("fail_after").and_then(Value::as_u64);
        let log = self.log.clone();
        ctx.add_cleanup("log", move || {
            log.lock().unwrap().push("cleanup".into());
            Ok(())
        })
        .map_err(|e| CallbackError::new("RegistrationError", e.to_string()))?;
        for (i, n) in names.iter().enumerate() {
            if fail_after == Some(i as u64) {
                return Err(CallbackError::new("ValueError", format!("refusing '{n}'")));
            }
            let tag = n.clone();
            ctx.register_tool_request_intercept(
                n,
                i as i32,
                false,
                Arc::new(move |_name: &str, mut args: Value| {
                    args[tag.as_str()] = json!(true);
                    Ok(args)
                }),
            )
            .map_err(|e| CallbackError::new("RegistrationError", e.to_string()))?;
        }
        ctx.register_subscriber("events", Arc::new(|_e| Ok(())))
            .map_err(|e| CallbackError::new("RegistrationError", e.to_string()))?;
        Ok(())
    }
}

fn setup() -> Arc<Mutex<Vec<String>>> {
    let log = Arc::new(Mutex::new(Vec::new()));
    let _ = plugin::deregister_kind("recorder");
    let _ = plugin::deregister_kind("solo");
    plugin::register_kind(
        "recorder",
        Arc::new(Recorder {
            log: log.clone(),
            single: false,
        }),
    )
    .unwrap();
    plugin::register_kind(
        "solo",
        Arc::new(Recorder {
            log: log.clone(),
            single: true,
        }),
    )
    .unwrap();
    log
}

fn tool_request_names() -> Vec<String> {
    global()
        .tool_request
        .snapshot()
        .iter()
        .map(|e| e.name.to_string())
        .collect()
}

fn codes(r: &plugin::ActivationReport) -> Vec<(String, Level, Option<String>)> {
    r.diagnostics
        .iter()
        .map(|d| (d.code.clone(), d.level, d.field.clone()))
        .collect()
}

#[test]
fn validation_reports_every_problem_with_code_level_and_field() {
    let _g = serial();
    setup();
    let doc = json!({
        "version": 2,
        "extra": 1,
        "components": [
            {"kind": "nope"},
            {"kind": "solo", "enabled": false, "config": {"bogus": 1, "nested": {"depth": -1, "x": 0}}},
            {"kind": "solo", "colour": "red"},
            {"enabled": true},
        ],
    });
    let r = plugin::validate(&doc);
    let c = codes(&r);
    let has = |code: &str, level: Level, field: Option<&str>| {
        c.iter()
            .any(|(cc, l, f)| cc == code && *l == level && f.as_deref() == field)
    };
    assert!(
        has(
            "plugin.unsupported_config_version",
            Level::Error,
            Some("version")
        ),
        "{c:?}"
    );
    assert!(
        has("plugin.unknown_field", Level::Warning, Some("extra")),
        "{c:?}"
    );
    assert!(
        has("plugin.unknown_component", Level::Warning, None),
        "{c:?}"
    );
    assert!(
        has("plugin.duplicate_component", Level::Error, None),
        "{c:?}"
    );
    assert!(
        has(
            "plugin.unknown_field",
            Level::Warning,
            Some("components[2].colour")
        ),
        "{c:?}"
    );
    assert!(
        has(
            "plugin.invalid_plugin_config",
            Level::Error,
            Some("components[3].kind")
        ),
        "{c:?}"
    );
    // Disabled components are validated too, at every nesting level.
    assert!(
        has("recorder.unknown_field", Level::Warning, Some("bogus")),
        "{c:?}"
    );
    assert!(
        has("recorder.unknown_field", Level::Warning, Some("nested.x")),
        "{c:?}"
    );
    assert!(
        has(
            "recorder.invalid_plugin_config",
            Level::Error,
            Some("nested.depth")
        ),
        "{c:?}"
    );
    let solo: Vec<_> = r
        .diagnostics
        .iter()
        .filter(|d| d.code == "recorder.unknown_field")
        .collect();
    assert!(solo.iter().all(|d| d.component.as_deref() == Some("solo")));

    // The policy grades: ignore drops, error escalates.
    let strict = json!({
        "policy": {"unknown_component": "error", "unknown_field": "ignore", "unsupported_value": "warn"},
        "version": 3, "x": 1, "components": [{"kind": "nope"}],
    });
    let c = codes(&plugin::validate(&strict));
    assert_eq!(
        c,
        vec![
            (
                "plugin.unsupported_config_version".into(),
                Level::Warning,
                Some("version".into())
            ),
            ("plugin.unknown_component".into(), Level::Error, None),
        ]
    );
    let bad_policy = plugin::validate(&json!({"policy": {"unknown_field": "loud"}}));
    assert_eq!(
        bad_policy.diagnostics[0].field.as_deref(),
        Some("policy.unknown_field")
    );
    assert_eq!(
        plugin::validate(&json!([1])).diagnostics[0].code,
        "plugin.invalid_plugin_config"
    );
}

#[test]
fn two_copies_are_namespaced_by_ordinal_and_the_report_lists_registrations() {
    let _g = serial();
    setup();
    let doc = json!({"components": [
        {"kind": "recorder", "config": {"names": ["a"]}},
        {"kind": "recorder", "config": {"names": ["a", "b"]}},
        {"kind": "solo", "config": {"names": ["a"]}},
        {"kind": "recorder", "enabled": false},
    ]});
    let r = plugin::initialize(&doc).unwrap();
    let mut names = tool_request_names();
    names.sort();
    assert_eq!(
        names,
        [
            "__nemo_flow_plugin__recorder__0__a",
            "__nemo_flow_plugin__recorder__1__a",
            "__nemo_flow_plugin__recorder__1__b",
            "__nemo_flow_plugin__solo__a",
        ]
    );
    let statuses: Vec<_> = r
        .components
        .iter()
        .map(|c| (c.kind.as_str(), c.ordinal, c.status))
        .collect();
    assert_eq!(
        statuses,
        [
            ("recorder", 0, Status::Active),
            ("recorder", 1, Status::Active),
            ("solo", 0, Status::Active),
            ("recorder", 2, Status::Disabled),
        ]
    );
    let regs: Vec<_> = r.components[1]
        .registrations
        .iter()
        .map(|g| (g.family.as_str(), g.name.as_str(), g.priority))
        .collect();
    assert_eq!(
        regs,
        [
            ("cleanup", "__nemo_flow_plugin__recorder__1__log", None),
            (
                "tool_request",
                "__nemo_flow_plugin__recorder__1__a",
                Some(0)
            ),
            (
                "tool_request",
                "__nemo_flow_plugin__recorder__1__b",
                Some(1)
            ),
            (
                "subscriber",
                "__nemo_flow_plugin__recorder__1__events",
                None
            ),
        ]
    );
    assert_eq!(plugin::report().unwrap().components.len(), 4);
    assert_eq!(plugin::active_config(), Some(doc));
    plugin::clear().unwrap();
    assert!(tool_request_names().is_empty());
    assert!(global().subscribers.is_empty());
    assert!(plugin::report().is_none());
}

#[test]
fn a_register_failing_half_way_rolls_back_itself_and_earlier_components() {
    let _g = serial();
    let log = setup();
    let doc = json!({"components": [
        {"kind": "recorder", "config": {"names": ["x"]}},
        {"kind": "solo", "config": {"names": ["a", "b", "c"], "fail_after": 2}},
    ]});
    let err = plugin::initialize(&doc).unwrap_err();
    assert!(
        err.message
            .contains("plugin component 'solo' failed to register"),
        "{}",
        err.message
    );
    assert!(err.message.contains("refusing 'c'"), "{}", err.message);
    assert_eq!(err.cause.as_ref().unwrap().kind, "ValueError");
    let st: Vec<_> = err.report.components.iter().map(|c| c.status).collect();
    assert_eq!(st, [Status::RolledBack, Status::Failed]);
    assert!(tool_request_names().is_empty());
    assert!(global().subscribers.is_empty());
    // Both cleanups ran: the failing component's own, then the earlier one's.
    assert_eq!(*log.lock().unwrap(), ["cleanup", "cleanup"]);
    assert!(plugin::report().is_none());
}

#[test]
fn a_failed_reinitialize_restores_the_previous_configuration() {
    let _g = serial();
    setup();
    let good = json!({"components": [{"kind": "recorder", "config": {"names": ["keep"]}}]});
    plugin::initialize(&good).unwrap();
    let bad =
        json!({"components": [{"kind": "solo", "config": {"names": ["a"], "fail_after": 0}}]});
    let err = plugin::initialize(&bad).unwrap_err();
    assert!(err.message.contains("'solo'"));
    assert_eq!(tool_request_names(), ["__nemo_flow_plugin__recorder__keep"]);
    assert_eq!(plugin::active_config(), Some(good.clone()));
    // Invalid documents are refused before anything is touched.
    let err = plugin::initialize(
        &json!({"components": [{"kind": "recorder", "config": {"fail_after": "x"}}]}),
    )
    .unwrap_err();
    assert!(
        err.message.starts_with("invalid config: "),
        "{}",
        err.message
    );
    assert_eq!(tool_request_names(), ["__nemo_flow_plugin__recorder__keep"]);
    // A successful re-initialize replaces it.
    plugin::initialize(&json!({"components": [{"kind": "solo", "config": {"names": ["new"]}}]}))
        .unwrap();
    assert_eq!(tool_request_names(), ["__nemo_flow_plugin__solo__new"]);
}

struct Reentrant;
impl Plugin for Reentrant {
    fn register(&self, _c: &ComponentConfig, ctx: &PluginContext) -> Result<(), CallbackError> {
        let e = plugin::initialize(&json!({})).unwrap_err();
        assert!(e.message.contains("from inside a plugin's register"));
        assert!(plugin::clear().is_err());
        // Keep the context past register: it must refuse later registrations.
        *KEPT.lock().unwrap() = Some(ctx.clone());
        Ok(())
    }
}
static KEPT: Mutex<Option<PluginContext>> = Mutex::new(None);

#[test]
fn register_cannot_reenter_and_a_kept_context_is_closed() {
    let _g = serial();
    let _ = plugin::deregister_kind("reentrant");
    plugin::register_kind("reentrant", Arc::new(Reentrant)).unwrap();
    plugin::initialize(&json!({"components": [{"kind": "reentrant"}]})).unwrap();
    let ctx = KEPT.lock().unwrap().take().unwrap();
    let err = ctx
        .register_subscriber("late", Arc::new(|_e| Ok(())))
        .unwrap_err();
    assert!(err.to_string().contains("closed"), "{err}");
    assert!(global().subscribers.is_empty());
}

#[test]
fn kinds_are_listed_sorted_and_builtins_cannot_be_deregistered() {
    let _g = serial();
    setup();
    plugin::register_builtin("zz-builtin", Arc::new(Reentrant));
    let kinds = plugin::list_kinds();
    let mut sorted = kinds.clone();
    sorted.sort();
    assert_eq!(kinds, sorted);
    assert!(kinds.contains(&"recorder".to_string()));
    assert!(plugin::register_kind("recorder", Arc::new(Reentrant)).is_err());
    assert!(plugin::register_kind("bad kind", Arc::new(Reentrant)).is_err());
    assert!(plugin::deregister_kind("zz-builtin").is_err());
    assert!(plugin::deregister_kind("recorder").unwrap());
    assert!(!plugin::deregister_kind("recorder").unwrap());
}
