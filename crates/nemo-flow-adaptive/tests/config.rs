//! Config parsing and every diagnostic code of the `adaptive` component.

use nemo_flow_adaptive::config::{BackendSpec, ParallelismMode, Provider, parse, validate};
use nemo_flow_adaptive::diagnostics::{Behavior, ConfigPolicy, Diagnostic, Level};
use serde_json::{Map, Value, json};

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().expect("object")
}

fn diags(v: Value) -> Vec<Diagnostic> {
    validate(&obj(v), &ConfigPolicy::default())
}

fn codes(d: &[Diagnostic]) -> Vec<(&str, Level, Option<&str>)> {
    d.iter()
        .map(|d| (d.code.as_str(), d.level, d.field.as_deref()))
        .collect()
}

#[test]
fn empty_config_is_valid_and_all_sections_off() {
    let (cfg, d) = parse(&Map::new(), &ConfigPolicy::default());
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(cfg.version, 1);
    assert!(cfg.state.is_none() && cfg.telemetry.is_none() && cfg.acg.is_none());
}

#[test]
fn defaults_are_filled_in() {
    let (cfg, d) = parse(
        &obj(
            json!({"state": {"backend": {"kind": "in_memory"}}, "telemetry": {},
            "adaptive_hints": {}, "tool_parallelism": {}, "acg": {}}),
        ),
        &ConfigPolicy::default(),
    );
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(cfg.state, Some(BackendSpec::InMemory));
    let h = cfg.adaptive_hints.unwrap();
    assert_eq!(
        (h.priority, h.break_chain, h.inject_header),
        (100, false, true)
    );
    assert_eq!(h.inject_body_path, "nvext.agent_hints");
    let t = cfg.tool_parallelism.unwrap();
    assert_eq!(
        (t.priority, t.mode, t.cohort_wait_ms),
        (100, ParallelismMode::ObserveOnly, 150)
    );
    let a = cfg.acg.unwrap();
    assert_eq!(
        (a.provider, a.observation_window, a.priority),
        (Provider::Passthrough, 100, 50)
    );
    assert_eq!(a.stability_thresholds.stable_threshold, 0.95);
    assert_eq!(a.stability_thresholds.semi_stable_threshold, 0.5);
    assert_eq!(
        a.stability_thresholds.min_observations_for_full_confidence,
        20
    );
    assert!(cfg.telemetry.unwrap().learners.is_empty());
}

#[test]
fn full_config_round_trips_through_to_json() {
    let doc = json!({
        "version": 1, "agent_id": "planner",
        "state": {"backend": {"kind": "redis", "config": {"url": "redis://127.0.0.1:6379/0", "key_prefix": "t:"}}},
        "telemetry": {"subscriber_name": "s", "learners": ["acg", "tool_parallelism", "acg"]},
        "adaptive_hints": {"priority": 7, "break_chain": true, "inject_header": false, "inject_body_path": "a.b"},
        "tool_parallelism": {"priority": -3, "mode": "schedule", "cohort_wait_ms": 20},
        "acg": {"provider": "anthropic", "observation_window": 8, "priority": 1,
                "stability_thresholds": {"stable_threshold": 0.9, "semi_stable_threshold": 0.4,
                                          "min_observations_for_full_confidence": 5}},
        "policy": {"unknown_field": "error"}
    });
    let (cfg, d) = parse(&obj(doc), &ConfigPolicy::default());
    assert!(d.is_empty(), "{d:?}");
    let j = cfg.to_json();
    assert_eq!(j["state"]["backend"]["config"]["key_prefix"], "t:");
    assert_eq!(
        j["telemetry"]["learners"],
        json!(["acg", "tool_parallelism"])
    );
    assert_eq!(j["adaptive_hints"]["inject_body_path"], "a.b");
    assert_eq!(j["tool_parallelism"]["mode"], "schedule");
    assert_eq!(j["acg"]["provider"], "anthropic");
    assert_eq!(
        j["acg"]["stability_thresholds"]["min_observations_for_full_confidence"],
        5
    );
    assert_eq!(j["policy"]["unknown_field"], "error");
    let (again, d2) = parse(j.as_object().unwrap(), &ConfigPolicy::default());
    assert!(d2.is_empty(), "{d2:?}");
    assert_eq!(again, cfg);
}

#[test]
fn redis_key_prefix_defaults() {
    let (cfg, _) = parse(
        &obj(json!({"state": {"backend": {"kind": "redis", "config": {"url": "redis://h"}}}})),
        &ConfigPolicy::default(),
    );
    assert_eq!(
        cfg.state,
        Some(BackendSpec::Redis {
            url: "redis://h".into(),
            key_prefix: "nemo_flow:".into()
        })
    );
}

#[test]
fn unsupported_config_version_follows_unsupported_value() {
    let d = diags(json!({"version": 2}));
    assert_eq!(
        codes(&d),
        [(
            "adaptive.unsupported_config_version",
            Level::Error,
            Some("version")
        )]
    );
    assert_eq!(d[0].component.as_deref(), Some("adaptive"));
    let lenient = ConfigPolicy {
        unsupported_value: Behavior::Warn,
        ..Default::default()
    };
    let d = validate(&obj(json!({"version": 2})), &lenient);
    assert_eq!(d[0].level, Level::Warning);
    let ignore = ConfigPolicy {
        unsupported_value: Behavior::Ignore,
        ..Default::default()
    };
    assert!(validate(&obj(json!({"version": 2})), &ignore).is_empty());
}

#[test]
fn unknown_backend_follows_unknown_component() {
    let doc = json!({"state": {"backend": {"kind": "etcd"}}});
    let d = diags(doc.clone());
    assert_eq!(
        codes(&d),
        [(
            "adaptive.unknown_backend",
            Level::Warning,
            Some("state.backend.kind")
        )]
    );
    assert!(d[0].message.contains("\"etcd\"") && d[0].message.contains("in_memory"));
    let strict = ConfigPolicy {
        unknown_component: Behavior::Error,
        ..Default::default()
    };
    assert_eq!(validate(&obj(doc), &strict)[0].level, Level::Error);
}

#[test]
fn unknown_fields_at_every_level() {
    let d = diags(json!({
        "extra": 1,
        "state": {"backend": {"kind": "in_memory", "config": {"url": "x"}, "b": 1}, "s": 1},
        "telemetry": {"t": 1}, "adaptive_hints": {"h": 1}, "tool_parallelism": {"p": 1},
        "acg": {"a": 1, "stability_thresholds": {"x": 1}}, "policy": {"q": "warn"}
    }));
    let mut fields: Vec<_> = d
        .iter()
        .map(|d| {
            assert_eq!(
                (d.code.as_str(), d.level),
                ("adaptive.unknown_field", Level::Warning)
            );
            d.field.clone().unwrap()
        })
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "acg.a",
            "acg.stability_thresholds.x",
            "adaptive_hints.h",
            "extra",
            "policy.q",
            "state.backend.b",
            "state.backend.config.url",
            "state.s",
            "telemetry.t",
            "tool_parallelism.p",
        ]
    );
}

#[test]
fn component_policy_overrides_the_document_policy() {
    let d = diags(json!({"extra": 1, "policy": {"unknown_field": "error"}}));
    assert_eq!(
        codes(&d),
        [("adaptive.unknown_field", Level::Error, Some("extra"))]
    );
    assert!(diags(json!({"extra": 1, "policy": {"unknown_field": "ignore"}})).is_empty());
}

#[test]
fn unsupported_values() {
    let d = diags(
        json!({"tool_parallelism": {"mode": "turbo"}, "state": {"backend": {"kind": "in_memory"}},
                         "acg": {"provider": "gemini"}}),
    );
    assert_eq!(
        codes(&d),
        [
            (
                "adaptive.unsupported_value",
                Level::Error,
                Some("tool_parallelism.mode")
            ),
            (
                "adaptive.unsupported_value",
                Level::Error,
                Some("acg.provider")
            ),
        ]
    );
    assert!(d[0].message.contains("\"turbo\"") && d[0].message.contains("\"inject_hints\""));
}

#[test]
fn sections_without_state_are_disabled_with_a_warning() {
    let (cfg, d) = parse(
        &obj(json!({"telemetry": {}, "acg": {}, "adaptive_hints": {}})),
        &ConfigPolicy::default(),
    );
    assert_eq!(
        codes(&d),
        [
            (
                "adaptive.section_disabled_missing_state",
                Level::Warning,
                Some("telemetry")
            ),
            (
                "adaptive.section_disabled_missing_state",
                Level::Warning,
                Some("acg")
            ),
        ]
    );
    assert!(cfg.telemetry.is_none() && cfg.acg.is_none());
    assert!(cfg.adaptive_hints.is_some(), "hints do not need state");
}

#[test]
fn unknown_learner_is_reported_not_silently_dropped() {
    let (cfg, d) = parse(
        &obj(
            json!({"state": {"backend": {"kind": "in_memory"}}, "telemetry": {"learners": ["acgg", "acg"]}}),
        ),
        &ConfigPolicy::default(),
    );
    assert_eq!(
        codes(&d),
        [(
            "adaptive.unknown_learner",
            Level::Warning,
            Some("telemetry.learners[0]")
        )]
    );
    assert_eq!(cfg.telemetry.unwrap().learners, ["acg"]);
}

#[test]
fn wrong_types_and_ranges_are_errors_naming_the_field() {
    let d = diags(json!({
        "agent_id": 3,
        "state": {"backend": {"kind": "redis", "config": {"url": "http://x"}}},
        "telemetry": {"learners": "acg"},
        "adaptive_hints": {"priority": "high", "break_chain": 1, "inject_body_path": "a..b"},
        "tool_parallelism": {"cohort_wait_ms": -1},
        "acg": {"observation_window": 0, "stability_thresholds": {"stable_threshold": 1.5,
                "semi_stable_threshold": 0.9, "min_observations_for_full_confidence": 0}},
        "policy": {"unknown_field": "loud"}
    }));
    let mut fields: Vec<_> = d
        .iter()
        .map(|d| {
            assert_eq!(
                (d.code.as_str(), d.level),
                ("adaptive.invalid_plugin_config", Level::Error),
                "{d:?}"
            );
            let f = d.field.clone().unwrap();
            assert!(d.message.starts_with(&f), "{d:?}");
            f
        })
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "acg.observation_window",
            "acg.stability_thresholds.min_observations_for_full_confidence",
            "acg.stability_thresholds.stable_threshold",
            "adaptive_hints.break_chain",
            "adaptive_hints.inject_body_path",
            "adaptive_hints.priority",
            "agent_id",
            "policy.unknown_field",
            "state.backend.config.url",
            "telemetry.learners",
            "tool_parallelism.cohort_wait_ms",
        ]
    );
}

#[test]
fn semi_stable_above_stable_is_an_error() {
    let d = diags(json!({"state": {"backend": {"kind": "in_memory"}},
        "acg": {"stability_thresholds": {"stable_threshold": 0.6, "semi_stable_threshold": 0.7}}}));
    assert_eq!(
        codes(&d),
        [(
            "adaptive.invalid_plugin_config",
            Level::Error,
            Some("acg.stability_thresholds.semi_stable_threshold")
        )]
    );
}

#[test]
fn missing_backend_and_redis_url_are_errors() {
    for (doc, field) in [
        (json!({"state": {}}), "state.backend"),
        (json!({"state": {"backend": {}}}), "state.backend.kind"),
        (
            json!({"state": {"backend": {"kind": "redis"}}}),
            "state.backend.config.url",
        ),
        (json!({"state": "redis"}), "state"),
    ] {
        let d = diags(doc);
        assert_eq!(
            codes(&d)[0],
            ("adaptive.invalid_plugin_config", Level::Error, Some(field))
        );
    }
}

#[test]
fn diagnostics_serialize_as_data() {
    let d = diags(json!({"version": 3}));
    assert_eq!(
        d[0].to_json(),
        json!({
        "level": "error", "code": "adaptive.unsupported_config_version",
        "message": "version: unsupported config version 3; expected 1",
        "component": "adaptive", "field": "version"})
    );
}
