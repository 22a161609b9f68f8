"""nemo_flow.adaptive: config dataclasses and validation, canonical JSON, and the cache
governor with its ledger on a multi-turn Anthropic transcript."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from nemo_flow import adaptive
from nemo_flow.adaptive import (
    AcgConfig,
    AcgStabilityThresholds,
    AdaptiveConfig,
    AdaptiveHintsConfig,
    BackendSpec,
    CacheGovernor,
    ComponentSpec,
    ConfigPolicy,
    StateConfig,
    TelemetryConfig,
    ToolParallelismConfig,
)

FIXTURE = Path(__file__).parents[1] / "crates/nemo-flow-adaptive/tests/fixtures/anthropic_support_transcript.json"


def transcript_request(n: int) -> dict[str, Any]:
    fx = json.loads(FIXTURE.read_text())
    return {
        "model": fx["model"],
        "max_tokens": 1024,
        "system": fx["system"],
        "tools": fx["tools"],
        "messages": fx["conversations"][0][:n],
    }


def markers(value: Any) -> int:
    if isinstance(value, dict):
        return int("cache_control" in value) + sum(markers(v) for v in value.values())
    if isinstance(value, list):
        return sum(markers(v) for v in value)
    return 0


def test_dataclass_defaults_and_to_dict() -> None:
    assert adaptive.ADAPTIVE_PLUGIN_KIND == "adaptive"
    assert BackendSpec.in_memory().to_dict() == {"kind": "in_memory", "config": {}}
    assert BackendSpec.redis("redis://127.0.0.1:6379").to_dict() == {
        "kind": "redis",
        "config": {"url": "redis://127.0.0.1:6379", "key_prefix": "nemo_flow:"},
    }
    assert AdaptiveHintsConfig().to_dict() == {
        "priority": 100,
        "break_chain": False,
        "inject_header": True,
        "inject_body_path": "nvext.agent_hints",
    }
    assert ToolParallelismConfig().to_dict() == {"priority": 100, "mode": "observe_only", "cohort_wait_ms": 150}
    assert AcgStabilityThresholds().to_dict() == {
        "stable_threshold": 0.95,
        "semi_stable_threshold": 0.5,
        "min_observations_for_full_confidence": 20,
    }
    assert AcgConfig().to_dict()["provider"] == "passthrough"
    assert AdaptiveConfig().to_dict() == {"version": 1, "policy": ConfigPolicy().to_dict()}
    spec = ComponentSpec(AdaptiveConfig(state=StateConfig()), enabled=False).to_dict()
    assert spec["kind"] == "adaptive" and spec["enabled"] is False
    assert spec["config"]["state"] == {"backend": {"kind": "in_memory", "config": {}}}  # type: ignore[index, call-overload]


def test_full_config_validates_clean() -> None:
    cfg = AdaptiveConfig(
        agent_id="support",
        state=StateConfig(BackendSpec.redis("redis://127.0.0.1:6379/0", "t:")),
        telemetry=TelemetryConfig(learners=["latency_sensitivity", "tool_parallelism", "acg"]),
        adaptive_hints=AdaptiveHintsConfig(inject_header=False),
        tool_parallelism=ToolParallelismConfig(mode="schedule", cohort_wait_ms=50),
        acg=AcgConfig(provider="anthropic"),
    )
    assert adaptive.validate_config(cfg) == {"diagnostics": []}


def test_diagnostics_are_data_with_codes_and_fields() -> None:
    report = adaptive.validate_config(
        {
            "version": 2,
            "state": {"backend": {"kind": "etcd"}},
            "tool_parallelism": {"mode": "turbo"},
            "acg": {"observation_window": 0},
            "extra": True,
        }
    )
    got = sorted((d["code"], d["level"], d.get("field")) for d in report["diagnostics"])
    assert got == [
        ("adaptive.invalid_plugin_config", "error", "acg.observation_window"),
        ("adaptive.unknown_backend", "warning", "state.backend.kind"),
        ("adaptive.unknown_field", "warning", "extra"),
        ("adaptive.unsupported_config_version", "error", "version"),
        ("adaptive.unsupported_value", "error", "tool_parallelism.mode"),
    ]
    missing_state = adaptive.validate_config(AdaptiveConfig(telemetry=TelemetryConfig()))
    assert [d["code"] for d in missing_state["diagnostics"]] == ["adaptive.section_disabled_missing_state"]


def test_validate_config_rejects_what_is_not_a_config() -> None:
    with pytest.raises(TypeError, match="cfg: expected an AdaptiveConfig or a dict, got list"):
        adaptive.validate_config([])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="config"):
        adaptive.validate_config({"agent_id": object()})


def test_canonical_json() -> None:
    assert adaptive.canonical_json({"b": [1.0, 1e21, 1e-7], "a": "é\n"}) == '{"a":"é\\n","b":[1,1e+21,1e-7]}'


def test_governor_places_anthropic_breakpoints_after_the_stability_threshold() -> None:
    gov = CacheGovernor({"provider": "anthropic"})
    assert gov.provider == "anthropic"
    first = transcript_request(1)
    sent, plan = gov.govern(first)
    assert plan["skipped"] == "cold_start" and markers(sent) == 0
    gov.observe(first, 0)
    gov.observe(transcript_request(3), 20_000)
    request = transcript_request(5)
    before = copy.deepcopy(request)
    governed: Any = gov.govern(request)
    sent, plan = governed
    assert request == before, "the argument is not modified"
    assert [b["span_id"] for b in plan["breakpoints"]] == ["system-0", "user-0", "user-4"]
    assert plan["ttl"] == "5m"
    assert markers(sent) == 3
    assert sent["system"][0]["cache_control"] == {"type": "ephemeral"}


def test_governor_is_fail_open_and_checks_its_arguments() -> None:
    gov = CacheGovernor({"provider": "anthropic"})
    sent, plan = gov.govern({"model": "x"})
    assert sent == {"model": "x"} and "error" in plan
    with pytest.raises(TypeError, match="request: expected a dict"):
        gov.govern([1])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"acg\.provider.*\"gemini\""):
        CacheGovernor({"provider": "gemini"})
    with pytest.raises(ValueError, match="input_per_mtok"):
        gov.set_price("claude", -1.0, 0.1)


def test_ledger_reports_hits_misses_and_savings() -> None:
    gov = CacheGovernor({"provider": "anthropic"})
    gov.set_price("claude-sonnet", 3.0, 0.1)
    for i, (n, usage) in enumerate(
        [
            (1, {"input_tokens": 1640, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}),
            (3, {"input_tokens": 60, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 1600}),
        ]
    ):
        facts = gov.build_cache_request_facts(
            request_id=f"r{i}", request=transcript_request(n), agent_id="support", timestamp_ms=i * 1000
        )
        assert facts is not None and facts["min_cacheable_tokens"] == 1024
        entry: Any = gov.record_usage(f"r{i}", usage)
        assert entry is not None
    assert entry["miss_reason"] is None
    assert entry["cost_saved_usd"] == pytest.approx(1600 * 0.9 * 3.0 / 1e6)
    report: Any = gov.cache_report()
    total = report["total"]
    assert (total["requests"], total["hits"], total["misses"]) == (2, 1, {"cold_start": 1})
    assert total["cache_read_tokens"] == 1600
    assert gov.record_usage("unknown", {"input_tokens": 1}) is None
