"""nemo_flow.plugin: validation diagnostics, activation as a transaction (rollback at each
failure point, restore of the previous configuration), namespacing, custom Python plugins,
configuration sources (dataclasses, dict, JSON, TOML/JSON files, environment), context managers
and bad input. Nothing registered may be left behind after a failure."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nemo_flow import ConfigError, RegistrationError, _native, plugin, tools
from nemo_flow.plugin import ComponentSpec, ConfigPolicy, PluginConfig, PluginContext

PYTHON_FAMILIES = [
    "tool_sanitize_request",
    "tool_sanitize_response",
    "tool_conditional_execution",
    "tool_request",
    "tool_execution",
    "llm_sanitize_request",
    "llm_sanitize_response",
    "llm_conditional_execution",
    "llm_request",
    "llm_execution",
    "llm_stream_execution",
    "subscriber",
]


@pytest.fixture(autouse=True)
def _clean_plugins() -> Iterator[None]:
    yield
    plugin.clear()
    for k in plugin.list_kinds():
        if k not in ("observability", "policy"):
            plugin.deregister(k)


def registered(family: str, name: str) -> bool:
    """Leak check: removes ``name`` from ``family`` and says whether it was still there."""
    return _native.deregister(family, None, name)


class Recorder:
    """Registers a tool request intercept that tags the arguments, a subscriber and a cleanup;
    ``fail_after`` makes register raise after that many intercepts."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.contexts: list[PluginContext] = []

    def validate(self, config: dict[str, Any]) -> list[dict[str, Any]] | None:
        unknown = set(config) - {"tags", "fail_after"}
        return [
            {"level": "warning", "code": "recorder.unknown_field", "message": f"unknown {k}", "field": k}
            for k in sorted(unknown)
        ]

    def register(self, config: dict[str, Any], context: PluginContext) -> None:
        self.contexts.append(context)
        context.add_cleanup(lambda: self.log.append(f"cleanup {context.prefix}"))
        for i, tag in enumerate(config.get("tags", [])):
            if config.get("fail_after") == i:
                raise ValueError(f"refusing {tag}")

            def tagger(name: str, args: Any, tag: str = tag) -> Any:
                return {**args, tag: True}

            context.register_tool_request_intercept(tag, i, False, tagger)
        context.register_subscriber("events", lambda e: None)


def run_tool() -> Any:
    return tools.execute_sync("t", {"q": 1}, lambda a: a)


def codes(report: plugin.ConfigReport) -> set[tuple[str, str, str | None]]:
    return {(d["code"], d["level"], d.get("field")) for d in report["diagnostics"]}


# -- validation -----------------------------------------------------------------------------


def test_validate_reports_every_code_with_level_component_and_field() -> None:
    r = Recorder()
    plugin.register("recorder", r)
    doc = {
        "version": 2,
        "surprise": True,
        "components": [
            {"kind": "nope"},
            {"kind": "observability", "config": {}},
            {"kind": "observability", "enabled": False, "config": {"atif": {"filename_template": "x.json"}}},
            {"kind": "recorder", "enabled": False, "config": {"colour": 1}},
            {"kind": "recorder", "extra_key": 1},
        ],
    }
    report = plugin.validate(doc)
    c = codes(report)
    assert ("plugin.unsupported_config_version", "error", "version") in c
    assert ("plugin.unknown_field", "warning", "surprise") in c
    assert ("plugin.unknown_component", "warning", None) in c
    assert ("plugin.duplicate_component", "error", None) in c
    assert ("plugin.unknown_field", "warning", "components[4].extra_key") in c
    # Disabled components are validated too, including nested fields.
    assert ("observability.unsupported_value", "error", "atif.filename_template") in c
    assert ("recorder.unknown_field", "warning", "colour") in c
    by_code = {d["code"]: d for d in report["diagnostics"]}
    assert by_code["recorder.unknown_field"]["component"] == "recorder"
    assert by_code["plugin.unknown_component"]["component"] == "nope"
    assert "components" not in report
    # Pure: nothing became active.
    assert plugin.report() is None


def test_policy_grades_diagnostics() -> None:
    doc = {
        "version": 7,
        "x": 1,
        "components": [{"kind": "nope"}],
        "policy": {"unknown_component": "error", "unknown_field": "ignore", "unsupported_value": "warn"},
    }
    assert codes(plugin.validate(doc)) == {
        ("plugin.unsupported_config_version", "warning", "version"),
        ("plugin.unknown_component", "error", None),
    }
    with pytest.raises(ConfigError, match="invalid config: unknown plugin component kind 'nope'"):
        plugin.initialize_sync(doc)
    shapes = plugin.validate({"version": "1", "components": [{"kind": 3}, 5, {"kind": "x", "config": []}]})
    assert codes(shapes) == {
        ("plugin.invalid_plugin_config", "error", "version"),
        ("plugin.invalid_plugin_config", "error", "components[0].kind"),
        ("plugin.invalid_plugin_config", "error", "components[1]"),
        ("plugin.invalid_plugin_config", "error", "components[2].config"),
        ("plugin.unknown_component", "warning", None),
    }


def test_plugin_validate_raising_or_malformed_becomes_validate_failed() -> None:
    class Raises:
        def validate(self, config: dict[str, Any]) -> None:
            raise RuntimeError("boom")

        def register(self, config: dict[str, Any], context: PluginContext) -> None:
            raise AssertionError("not reached")

    class Malformed:
        def validate(self, config: dict[str, Any]) -> Any:
            return [{"level": "fatal", "code": "x", "message": "y"}]

        def register(self, config: dict[str, Any], context: PluginContext) -> None:
            raise AssertionError("not reached")

    plugin.register("raises", Raises())
    plugin.register("malformed", Malformed())
    report = plugin.validate({"components": [{"kind": "raises"}, {"kind": "malformed"}]})
    msgs = [(d["code"], d["component"], d["message"]) for d in report["diagnostics"]]
    assert msgs[0][:2] == ("plugin.validate_failed", "raises") and "RuntimeError: boom" in msgs[0][2]
    assert msgs[1][:2] == ("plugin.validate_failed", "malformed") and "level" in msgs[1][2]
    # Validation errors stop activation before any register runs.
    with pytest.raises(ConfigError, match="validate of component 'raises' raised"):
        plugin.initialize_sync({"components": [{"kind": "raises"}]})


# -- activation -----------------------------------------------------------------------------


def test_custom_python_plugin_registers_namespaced_middleware_that_runs() -> None:
    r = Recorder()
    plugin.register("recorder", r)
    report = plugin.initialize_sync(PluginConfig(components=[ComponentSpec("recorder", config={"tags": ["a", "b"]})]))
    assert report["diagnostics"] == []
    (comp,) = report["components"]
    assert (comp["kind"], comp["ordinal"], comp["enabled"], comp["status"]) == ("recorder", 0, True, "active")
    assert [(g["family"], g["name"], g["priority"]) for g in comp["registrations"]] == [
        ("cleanup", "__nemo_flow_plugin__recorder__<lambda>", None),
        ("tool_request", "__nemo_flow_plugin__recorder__a", 0),
        ("tool_request", "__nemo_flow_plugin__recorder__b", 1),
        ("subscriber", "__nemo_flow_plugin__recorder__events", None),
    ]
    assert run_tool() == {"q": 1, "a": True, "b": True}
    assert plugin.report() == report
    plugin.clear()
    assert run_tool() == {"q": 1}
    assert r.log == ["cleanup __nemo_flow_plugin__recorder__"]
    assert plugin.report() is None


def test_two_copies_of_one_kind_get_ordinal_namespaces() -> None:
    plugin.register("recorder", Recorder())
    report = plugin.initialize_sync(
        {
            "components": [
                {"kind": "recorder", "config": {"tags": ["same"]}},
                {"kind": "recorder", "enabled": False},
                {"kind": "recorder", "config": {"tags": ["same"]}},
            ]
        }
    )
    names = [g["name"] for c in report["components"] for g in c["registrations"] if g["family"] == "tool_request"]
    assert names == ["__nemo_flow_plugin__recorder__0__same", "__nemo_flow_plugin__recorder__2__same"]
    assert [c["status"] for c in report["components"]] == ["active", "disabled", "active"]


def test_every_context_family_registers_under_the_namespace_and_is_undone() -> None:
    def cb(*_: Any) -> Any:
        return None

    class Everything:
        def register(self, config: dict[str, Any], ctx: PluginContext) -> None:
            ctx.register_tool_sanitize_request_guardrail("n", 1, cb)
            ctx.register_tool_sanitize_response_guardrail("n", 2, cb)
            ctx.register_tool_conditional_execution_guardrail("n", 3, cb)
            ctx.register_tool_request_intercept("n", 4, True, cb)
            ctx.register_tool_execution_intercept("n", 5, cb)
            ctx.register_llm_sanitize_request_guardrail("n", 6, cb)
            ctx.register_llm_sanitize_response_guardrail("n", 7, cb)
            ctx.register_llm_conditional_execution_guardrail("n", 8, cb)
            ctx.register_llm_request_intercept("n", 9, False, cb)
            ctx.register_llm_execution_intercept("n", 10, cb)
            ctx.register_llm_stream_execution_intercept("n", 11, cb)
            assert ctx.register_subscriber("n", cb) == "__nemo_flow_plugin__all__n"

    plugin.register("all", Everything())
    report = plugin.initialize_sync({"components": [{"kind": "all"}]})
    regs = report["components"][0]["registrations"]
    assert [g["family"] for g in regs] == PYTHON_FAMILIES
    assert [g["priority"] for g in regs] == [*range(1, 12), None]
    assert {g["name"] for g in regs} == {"__nemo_flow_plugin__all__n"}
    plugin.clear()
    # Every one was removed by the rollback.
    assert not any(registered(f, "__nemo_flow_plugin__all__n") for f in PYTHON_FAMILIES)


def test_register_failing_half_way_rolls_back_itself_and_earlier_components() -> None:
    first, second = Recorder(), Recorder()
    plugin.register("first", first)
    plugin.register("second", second)
    doc = {
        "components": [
            {"kind": "first", "config": {"tags": ["x"]}},
            {"kind": "second", "config": {"tags": ["a", "b", "c"], "fail_after": 2}},
        ]
    }
    with pytest.raises(ConfigError) as info:
        plugin.initialize_sync(doc)
    err = info.value
    assert "plugin component 'second' failed to register: ValueError: refusing c" in str(err)
    assert isinstance(err.__cause__, ValueError)
    statuses = [(c["kind"], c["status"]) for c in err.report["components"]]
    assert statuses == [("first", "rolled_back"), ("second", "failed")]
    assert run_tool() == {"q": 1}
    assert second.log == ["cleanup __nemo_flow_plugin__second__"]
    assert first.log == ["cleanup __nemo_flow_plugin__first__"]
    assert not registered("tool_request", "__nemo_flow_plugin__second__a")
    assert not registered("subscriber", "__nemo_flow_plugin__first__events")
    assert plugin.report() is None


def test_failed_reinitialize_restores_the_previous_configuration() -> None:
    plugin.register("recorder", Recorder())
    good = {"components": [{"kind": "recorder", "config": {"tags": ["keep"]}}]}
    plugin.initialize_sync(good)
    bad = {"components": [{"kind": "recorder", "config": {"tags": ["a"], "fail_after": 0}}]}
    with pytest.raises(ConfigError, match="'recorder' failed to register"):
        plugin.initialize_sync(bad)
    assert run_tool() == {"q": 1, "keep": True}
    report = plugin.report()
    assert report is not None and report["components"][0]["registrations"][1]["name"].endswith("keep")
    # An invalid document is refused before anything changes.
    with pytest.raises(ConfigError, match="invalid config"):
        plugin.initialize_sync({"components": [{"kind": "recorder", "enabled": "yes"}]})
    assert run_tool() == {"q": 1, "keep": True}
    # A good replacement replaces.
    plugin.initialize_sync({"components": [{"kind": "recorder", "config": {"tags": ["new"]}}]})
    assert run_tool() == {"q": 1, "new": True}


def test_clear_rolls_back_in_reverse_order_and_a_raising_cleanup_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    order: list[str] = []

    class Ordered:
        def register(self, config: dict[str, Any], ctx: PluginContext) -> None:
            ctx.add_cleanup(lambda: order.append(f"{config['n']}.1"))

            def bad() -> None:
                order.append(f"{config['n']}.2")
                raise OSError("disk gone")

            ctx.add_cleanup(bad)

    plugin.register("ordered", Ordered())
    plugin.initialize_sync(
        {"components": [{"kind": "ordered", "config": {"n": 1}}, {"kind": "ordered", "config": {"n": 2}}]}
    )
    with caplog.at_level(logging.ERROR, logger="nemo_flow"):
        plugin.clear()
    assert order == ["2.2", "2.1", "1.2", "1.1"]
    assert "disk gone" in caplog.text


def test_register_returning_a_coroutine_is_a_clear_error() -> None:
    class AsyncRegister:
        async def register(self, config: dict[str, Any], ctx: PluginContext) -> None:
            ctx.register_subscriber("never", lambda e: None)

    plugin.register("async", AsyncRegister())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the coroutine is closed, never "never awaited"
        with pytest.raises(ConfigError, match="register must be a plain synchronous function") as info:
            plugin.initialize_sync({"components": [{"kind": "async"}]})
    assert isinstance(info.value.__cause__, TypeError)
    assert not registered("subscriber", "__nemo_flow_plugin__async__never")


def test_a_context_kept_after_register_refuses_registrations() -> None:
    r = Recorder()
    plugin.register("recorder", r)
    plugin.initialize_sync({"components": [{"kind": "recorder"}]})
    with pytest.raises(RegistrationError, match="closed"):
        r.contexts[0].register_subscriber("late", lambda e: None)
    assert not registered("subscriber", "__nemo_flow_plugin__recorder__late")
    assert repr(r.contexts[0]) == '<PluginContext kind="recorder" prefix="__nemo_flow_plugin__recorder__">'


def test_bad_arguments_inside_register_fail_activation_and_leave_nothing() -> None:
    class BadArgs:
        def register(self, config: dict[str, Any], ctx: PluginContext) -> None:
            ctx.register_subscriber("ok", lambda e: None)
            ctx.register_tool_request_intercept("x", "high", False, lambda n, a: a)  # type: ignore[arg-type]

    plugin.register("badargs", BadArgs())
    with pytest.raises(ConfigError, match="priority: expected an int"):
        plugin.initialize_sync({"components": [{"kind": "badargs"}]})
    assert not registered("subscriber", "__nemo_flow_plugin__badargs__ok")


def test_register_and_deregister_kinds() -> None:
    assert "observability" in plugin.list_kinds()
    plugin.register("zeta", Recorder())
    plugin.register("alpha", Recorder())
    kinds = plugin.list_kinds()
    assert kinds == sorted(kinds) and {"alpha", "zeta"} <= set(kinds)
    with pytest.raises(RegistrationError, match="'alpha' is already registered"):
        plugin.register("alpha", Recorder())
    with pytest.raises(RegistrationError, match="built in"):
        plugin.deregister("observability")
    assert plugin.deregister("alpha") is True
    assert plugin.deregister("alpha") is False


@pytest.mark.parametrize(
    ("kind", "obj", "exc", "match"),
    [
        (1, Recorder(), TypeError, "kind: expected a str, got int"),
        ("bad kind", Recorder(), ValueError, "kind: expected a non-empty name"),
        ("k", object(), TypeError, "plugin: expected an object with a register"),
        ("k", type("V", (), {"register": lambda s, c, x: None, "validate": 3})(), TypeError, "validate must be"),
    ],
)
def test_register_refuses_bad_input(kind: Any, obj: Any, exc: type[Exception], match: str) -> None:
    with pytest.raises(exc, match=match):
        plugin.register(kind, obj)
    assert "k" not in plugin.list_kinds()


# -- sources ------------------------------------------------------------------------------------


def test_dataclasses_normalise_nested_dataclasses_and_refuse_wrong_types() -> None:
    from dataclasses import dataclass

    @dataclass
    class Inner:
        depth: int = 2

    spec = ComponentSpec("x", config={"inner": Inner(), "items": (Inner(3),), "p": Path("/tmp")})
    assert spec.to_dict() == {
        "kind": "x",
        "enabled": True,
        "config": {"inner": {"depth": 2}, "items": [{"depth": 3}], "p": "/tmp"},
    }
    assert PluginConfig().to_dict() == {
        "version": 1,
        "components": [],
        "policy": {"unknown_component": "warn", "unknown_field": "warn", "unsupported_value": "error"},
    }
    with pytest.raises(TypeError, match=r"ComponentSpec\.kind: expected a non-empty str, got int"):
        ComponentSpec(1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"ComponentSpec\.enabled: expected a bool, got int"):
        ComponentSpec("x", enabled=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"ComponentSpec\.config: expected a mapping"):
        ComponentSpec("x", config=[1])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"PluginConfig\.version: expected an int, got bool"):
        PluginConfig(version=True)
    with pytest.raises(TypeError, match=r"PluginConfig.components\[0\]"):
        PluginConfig(components=[3])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"PluginConfig\.policy: expected a ConfigPolicy"):
        PluginConfig(policy={"unknown_field": "warn"})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"ConfigPolicy\.unknown_field: expected one of"):
        ConfigPolicy(unknown_field="loud")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"config.*not JSON-serializable"):
        plugin.validate({"components": [{"kind": "x", "config": {"f": object()}}]})
    with pytest.raises(TypeError, match="config: expected a PluginConfig"):
        plugin.validate(42)  # type: ignore[arg-type]


def test_json_string_and_files(tmp_path: Path) -> None:
    plugin.register("recorder", Recorder())
    assert plugin.initialize_sync('{"components": [{"kind": "recorder", "config": {"tags": ["j"]}}]}')
    assert run_tool() == {"q": 1, "j": True}
    toml = tmp_path / "plugins.toml"
    toml.write_text(
        textwrap.dedent(
            """
            version = 1
            [policy]
            unknown_field = "error"
            [[components]]
            kind = "recorder"
            [components.config]
            tags = ["t"]
            """
        )
    )
    loaded = plugin.load(toml)
    assert loaded.policy.unknown_field == "error"
    assert loaded.components == [ComponentSpec("recorder", True, {"tags": ["t"]})]
    plugin.initialize_sync(str(toml))
    assert run_tool() == {"q": 1, "t": True}
    js = tmp_path / "plugins.json"
    js.write_text(json.dumps({"components": [{"kind": "recorder", "config": {"tags": ["f"]}}]}))
    plugin.initialize_sync(js)
    assert run_tool() == {"q": 1, "f": True}
    assert plugin.load(js).components[0].config == {"tags": ["f"]}


def test_files_that_do_not_parse_name_the_file_and_line(tmp_path: Path) -> None:
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text('version = 1\n[[components]]\nkind = "x\n')
    with pytest.raises(ConfigError, match=r"bad\.toml: line 3, column \d+: invalid TOML"):
        plugin.load(bad_toml)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{\n  "components": [,]\n}')
    with pytest.raises(ConfigError, match=r"bad\.json: line 2, column 18: invalid JSON"):
        plugin.initialize_sync(bad_json)
    with pytest.raises(ConfigError, match=r"missing\.toml: cannot read"):
        plugin.load(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match=r"expected a \.toml or \.json"):
        plugin.load(tmp_path / "x.yaml")
    with pytest.raises(ConfigError, match="config: line 1, column 2: invalid JSON"):
        plugin.validate("{oops")
    shape = tmp_path / "shape.json"
    shape.write_text('{"components": [{"kind": 5}]}')
    with pytest.raises(ConfigError, match=r"shape\.json: ComponentSpec.kind"):
        plugin.load(shape)
    assert plugin.report() is None


def _run_import(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    code = "import nemo_flow, json; print(json.dumps(nemo_flow.plugin.report()))"
    full = {**os.environ, **env}
    return subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True, timeout=60)


def test_environment_activation_on_import(tmp_path: Path) -> None:
    good = tmp_path / "plugins.toml"
    atof = f'enabled = true\noutput_directory = "{tmp_path}"\nfilename = "env.jsonl"\n'
    good.write_text(f'[[components]]\nkind = "observability"\n[components.config.atof]\n{atof}')
    done = _run_import({"NEMO_FLOW_PLUGINS": str(good)})
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["components"][0]["status"] == "active"
    assert (tmp_path / "env.jsonl").exists()

    bad = tmp_path / "bad.toml"
    bad.write_text('[[components]]\nkind = "observability"\n[components.config.atof]\nmode = "sideways"\n')
    done = _run_import({"NEMO_FLOW_PLUGINS": str(bad)})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) is None
    assert "was not activated" in done.stderr and "atof.mode" in done.stderr

    done = _run_import({"NEMO_FLOW_PLUGINS": str(bad), "NEMO_FLOW_PLUGINS_STRICT": "1"})
    assert done.returncode != 0
    assert "ConfigError" in done.stderr and "atof.mode" in done.stderr


# -- context managers ---------------------------------------------------------------------------


def test_configured_sync_restores_what_was_active() -> None:
    plugin.register("recorder", Recorder())
    outer = {"components": [{"kind": "recorder", "config": {"tags": ["outer"]}}]}
    inner = {"components": [{"kind": "recorder", "config": {"tags": ["inner"]}}]}
    with plugin.configured_sync(outer) as report:
        assert report["components"][0]["status"] == "active"
        with plugin.configured_sync(inner):
            assert run_tool() == {"q": 1, "inner": True}
        assert run_tool() == {"q": 1, "outer": True}
        with (
            pytest.raises(ConfigError),
            plugin.configured_sync({"components": [{"kind": "recorder", "config": {"fail_after": 0, "tags": ["x"]}}]}),
        ):
            pass
        assert run_tool() == {"q": 1, "outer": True}
    assert run_tool() == {"q": 1}
    assert plugin.report() is None


async def test_configured_async_restores_on_error() -> None:
    plugin.register("recorder", Recorder())
    with pytest.raises(KeyError):
        async with plugin.configured({"components": [{"kind": "recorder", "config": {"tags": ["a"]}}]}):
            assert await tools.execute("t", {"q": 1}, lambda a: a) == {"q": 1, "a": True}
            raise KeyError("leave")
    assert run_tool() == {"q": 1}
    report = await plugin.initialize({"components": []})
    assert report == {"diagnostics": [], "components": []}
    await asyncio.sleep(0)
