"""The built-in ``observability`` component end to end: one activation writes the ATOF file,
one ATIF file per top-level agent run (validated with the official ATIF models), and OTLP
spans to loopback receivers; plus its validation, dataclasses, OTEL_* variables, write
failures reported without raising, and rollback when a section fails to start."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nat.atif import Trajectory
from otlp_receivers import OtlpHttpReceiver, wait_for

from nemo_flow import ConfigError, LLMRequest, ScopeType, _native, llm, observability, plugin, scope, subscribers, tools
from nemo_flow.observability import AtifConfig, AtofConfig, ComponentSpec, ObservabilityConfig, OtlpConfig
from nemo_flow.plugin import ConfigPolicy, PluginConfig


@pytest.fixture(autouse=True)
def _clean_plugins() -> Iterator[None]:
    yield
    plugin.clear()


@pytest.fixture
def receiver() -> Iterator[OtlpHttpReceiver]:
    r = OtlpHttpReceiver()
    yield r
    r.stop()


def config(**sections: Any) -> PluginConfig:
    return PluginConfig(components=[ComponentSpec(ObservabilityConfig(**sections))])


async def agent_run(name: str, marker: str) -> None:
    """A top-level agent with an LLM call that requests a tool, the tool, and a nested agent."""
    with scope.scope(name, ScopeType.Agent):
        req = LLMRequest({}, {"model": "gpt-x", "messages": [{"role": "user", "content": f"find {marker}"}]})

        async def model(_r: LLMRequest) -> Any:
            await asyncio.sleep(0)
            return {
                "choices": [{"message": {"role": "assistant", "content": f"answer {marker}"}}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 2},
            }

        await llm.execute("gpt-x", req, model)
        await tools.execute("search", {"q": marker}, lambda a: {"found": marker})
        with scope.scope(f"{name}-helper", ScopeType.Agent):
            await tools.execute("lookup", {"q": marker}, lambda a: {"nested": marker})


def trajectories(directory: Path) -> dict[str, dict[str, Any]]:
    out = {}
    for p in sorted(directory.glob("nemo-flow-atif-*.json")):
        doc = json.loads(p.read_text())
        Trajectory.model_validate(doc)
        assert p.name == f"nemo-flow-atif-{doc['session_id']}.json"
        out[p.name] = doc
    return out


async def test_one_activation_writes_atof_atif_per_run_and_otlp_spans(
    tmp_path: Path, receiver: OtlpHttpReceiver
) -> None:
    oi = OtlpHttpReceiver()
    try:
        report = await plugin.initialize(
            config(
                atof=AtofConfig(enabled=True, output_directory=tmp_path, filename="events.jsonl"),
                atif=AtifConfig(
                    enabled=True, output_directory=tmp_path / "atif", agent_name="demo", model_name="gpt-x"
                ),
                opentelemetry=OtlpConfig(enabled=True, endpoint=receiver.url, service_name="otel-svc"),
                openinference=OtlpConfig(enabled=True, endpoint=oi.url),
            )
        )
        (comp,) = report["components"]
        assert comp["status"] == "active"
        subs = [g["name"] for g in comp["registrations"] if g["family"] == "subscriber"]
        assert subs == [
            f"__nemo_flow_plugin__observability__{n}" for n in ("atof", "atif", "opentelemetry", "openinference")
        ]

        await agent_run("first", "m-first")
        await agent_run("second", "m-second")
        await asyncio.gather(agent_run("left", "m-left"), agent_run("right", "m-right"))
        # A run still open when the configuration is cleared is written by clear().
        open_agent = scope.push("open", ScopeType.Agent)
        await tools.execute("late", {"q": "m-open"}, lambda a: {"late": "m-open"})
        assert subscribers.flush(10)
        assert len(trajectories(tmp_path / "atif")) == 4
        plugin.clear()
        scope.pop(open_agent)

        docs = trajectories(tmp_path / "atif")
        assert len(docs) == 5  # one per top-level run; nested helpers stay inside
        markers = ["m-first", "m-second", "m-left", "m-right", "m-open"]
        for doc in docs.values():
            text = json.dumps(doc)
            mine = [m for m in markers if m in text]
            assert len(mine) == 1, mine  # sibling and concurrent runs never mix
            assert doc["agent"]["name"] == "demo" and doc["agent"]["model_name"] == "gpt-x"
            if mine != ["m-open"]:
                assert f"{doc['steps'][0]['extra']['agent_path'][0]}-helper" in text  # nested agent inside

        lines = (tmp_path / "events.jsonl").read_text().splitlines()
        names = {json.loads(line)["name"] for line in lines}
        assert {"first", "second", "left", "right", "first-helper", "open", "search"} <= names

        want = {"invoke_agent first", "invoke_agent right", "execute_tool search"}
        assert wait_for(lambda: want <= {s.name for s in receiver.spans()})
        otel = receiver.spans()
        assert {s.resource.get("service.name") for s in otel} == {"otel-svc"}
        assert wait_for(lambda: any(s.attributes.get("openinference.span.kind") == "AGENT" for s in oi.spans()))
    finally:
        oi.stop()
    # Cleared: the subscribers are gone.
    assert not _native.deregister("subscriber", None, "__nemo_flow_plugin__observability__atof")


async def test_otel_variables_fill_unset_fields(receiver: OtlpHttpReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.base_url)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "env-svc")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test")
    plugin.initialize_sync(config(opentelemetry=OtlpConfig(enabled=True, resource_attributes={"team": "a"})))
    with scope.scope("env-agent", ScopeType.Agent):
        pass
    plugin.clear()  # shuts the subscriber down: spans are flushed
    spans = receiver.spans()
    assert [s.name for s in spans] == ["invoke_agent env-agent"]
    res = spans[0].resource
    assert (res["service.name"], res["deployment.environment"], res["team"]) == ("env-svc", "test", "a")


async def test_unwritable_trajectory_is_reported_and_logged_never_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    plugin.initialize_sync(config(atif=AtifConfig(enabled=True, output_directory=blocker / "sub")))
    with caplog.at_level(logging.ERROR, logger="nemo_flow"):
        await agent_run("doomed", "m-doomed")  # raises nothing into the application
        assert subscribers.flush(10) is False
    report = plugin.report()
    assert report is not None
    (d,) = [d for d in report["diagnostics"] if d["code"] == "observability.atif_write_failed"]
    assert d["level"] == "error" and d["field"] == "atif.output_directory" and "not-a-dir" in d["message"]
    assert "could not write ATIF trajectory" in caplog.text


def test_a_section_failing_to_start_rolls_back_the_earlier_sections(tmp_path: Path) -> None:
    bad = config(
        atof=AtofConfig(enabled=True, output_directory=tmp_path, filename="e.jsonl"),
        atif=AtifConfig(enabled=True, output_directory=tmp_path),
        opentelemetry=OtlpConfig(enabled=True, endpoint="http:///no-host"),
    )
    with pytest.raises(
        ConfigError, match=r"plugin component 'observability' failed to register: .*opentelemetry"
    ) as info:
        plugin.initialize_sync(bad)
    comp = info.value.report["components"][0]
    assert comp["status"] == "failed"
    assert {g["name"] for g in comp["registrations"]} >= {"__nemo_flow_plugin__observability__atof"}
    for f, n in [("subscriber", "atof"), ("subscriber", "atif")]:
        assert not _native.deregister(f, None, f"__nemo_flow_plugin__observability__{n}")
    assert plugin.report() is None


def test_validation_of_the_observability_config() -> None:
    doc = {
        "components": [
            {
                "kind": "observability",
                "config": {
                    "version": 2,
                    "colour": "red",
                    "atof": {"enabled": True, "mode": 3},
                    "atif": {"enabled": False, "filename_template": "run.json", "tool_definitions": [1]},
                    "opentelemetry": {"transport": "smoke", "headers": {"a": 1}, "timeout_millis": -5},
                    "openinference": {"enabled": True, "deep": {"x": 1}},
                },
            }
        ]
    }
    got = {(d["code"], d["level"], d.get("field")) for d in plugin.validate(doc)["diagnostics"]}
    assert got == {
        ("observability.unsupported_config_version", "error", "version"),
        ("observability.unknown_field", "warning", "colour"),
        ("observability.invalid_plugin_config", "error", "atof.mode"),
        ("observability.unsupported_value", "error", "atif.filename_template"),
        ("observability.invalid_plugin_config", "error", "atif.tool_definitions"),
        ("observability.unsupported_value", "error", "opentelemetry.transport"),
        ("observability.invalid_plugin_config", "error", "opentelemetry.headers.a"),
        ("observability.invalid_plugin_config", "error", "opentelemetry.timeout_millis"),
        ("observability.unknown_field", "warning", "openinference.deep"),
    }
    # The component's own policy overrides the document's.
    strict = {"components": [{"kind": "observability", "config": {"policy": {"unknown_field": "error"}, "x": 1}}]}
    assert [(d["code"], d["level"]) for d in plugin.validate(strict)["diagnostics"]] == [
        ("observability.unknown_field", "error")
    ]
    assert plugin.validate(config(policy=ConfigPolicy(unknown_field="ignore")))["diagnostics"] == []


def test_observability_dataclasses_defaults_and_bad_types() -> None:
    assert observability.OBSERVABILITY_PLUGIN_KIND == "observability"
    spec = ComponentSpec()
    d = spec.to_dict()
    assert d["kind"] == "observability" and d["enabled"] is True
    assert d["config"]["atif"] == {
        "enabled": False,
        "agent_name": "NeMo Flow",
        "agent_version": None,
        "model_name": "unknown",
        "tool_definitions": None,
        "extra": None,
        "output_directory": None,
        "filename_template": "nemo-flow-atif-{session_id}.json",
    }
    assert d["config"]["atof"] == {"enabled": False, "output_directory": None, "filename": None, "mode": "append"}
    assert "policy" not in d["config"]
    assert plugin.validate(PluginConfig(components=[spec]))["diagnostics"] == []
    bad: list[tuple[Any, type[Exception], str]] = [
        (lambda: AtofConfig(mode="sideways"), ValueError, r"AtofConfig\.mode"),  # type: ignore[arg-type]
        (lambda: AtofConfig(enabled="yes"), TypeError, r"AtofConfig\.enabled: expected a bool, got str"),  # type: ignore[arg-type]
        (lambda: AtofConfig(output_directory=3), TypeError, r"AtofConfig\.output_directory"),  # type: ignore[arg-type]
        (lambda: AtifConfig(filename_template="x.json"), ValueError, r"must contain \{session_id\}"),
        (lambda: AtifConfig(tool_definitions=[1]), TypeError, r"AtifConfig\.tool_definitions"),  # type: ignore[list-item]
        (lambda: AtifConfig(agent_name=None), TypeError, r"AtifConfig\.agent_name"),  # type: ignore[arg-type]
        (lambda: OtlpConfig(transport="smoke"), ValueError, r"OtlpConfig\.transport"),  # type: ignore[arg-type]
        (lambda: OtlpConfig(headers={"a": 1}), TypeError, r"OtlpConfig\.headers"),  # type: ignore[dict-item]
        (lambda: OtlpConfig(timeout_millis=0), ValueError, r"OtlpConfig\.timeout_millis"),
        (lambda: ObservabilityConfig(atof={}), TypeError, r"ObservabilityConfig\.atof"),  # type: ignore[arg-type]
        (lambda: ObservabilityConfig(version="1"), TypeError, r"ObservabilityConfig\.version"),  # type: ignore[arg-type]
        (lambda: ComponentSpec(config={}), TypeError, r"ComponentSpec\.config"),  # type: ignore[arg-type]
    ]
    for make, exc, match in bad:
        with pytest.raises(exc, match=match):
            make()
