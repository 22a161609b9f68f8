"""The built-in ``policy`` plugin kind: several components activated through
``plugin.initialize_sync`` (next to ``observability``), enforcement with ``policy.decision``
marks, the report's namespaced registrations, ``clear()``, validation diagnostics with the
policy's codes and fields, and an unknown approver rolling activation back."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from policy_fixtures import ran

from nemo_flow import ConfigError, GuardrailRejected, LLMRequest, _native, llm, plugin, policy, tools
from nemo_flow.codecs import OpenAIChatCodec

PREFIX = "__nemo_flow_plugin__policy__"


@pytest.fixture(autouse=True)
def _clean_plugins() -> Iterator[None]:
    yield
    plugin.clear()


def deny_shell(needle: str, **extra: Any) -> dict[str, Any]:
    return {
        "tools": {"run_shell": {"capability": "os.shell"}},
        "policies": [
            {
                "id": f"no-{needle}",
                "kind": "deny",
                "trigger": {"capability": "os.shell", "bind": {"command": "command"}},
                "condition": {"contains": [{"bound": "command"}, needle]},
            }
        ],
        **extra,
    }


def doc(*configs: dict[str, Any], **policy_: str) -> dict[str, Any]:
    return {"version": 1, "policy": policy_, "components": [{"kind": "policy", "config": c} for c in configs]}


def registrations(report: plugin.ConfigReport) -> list[tuple[str, str, str, int | None]]:
    return [
        (c["kind"], r["family"], r["name"], r["priority"])
        for c in report.get("components", [])
        for r in c["registrations"]
    ]


def still_registered(family: str, name: str) -> bool:
    """Leak check: removes ``name`` from ``family`` and says whether it was still there."""
    return _native.deregister(family, None, name)


def docs_example() -> dict[str, Any]:
    text = (Path(__file__).parent.parent / "docs" / "plugins.md").read_text()
    section = text.split("## The `policy` component", 1)[1]
    block = re.search(r"```json\n(.*?)```", section, re.S)
    assert block is not None
    loaded: dict[str, Any] = json.loads(block.group(1))
    return loaded


def test_kind_is_builtin_and_exposed() -> None:
    assert policy.POLICY_PLUGIN_KIND == "policy"
    assert policy.POLICY_PLUGIN_KIND in plugin.list_kinds()
    with pytest.raises(Exception, match="built in"):
        plugin.deregister("policy")


async def test_two_components_enforce_report_and_clear(events: list[Any]) -> None:
    report = plugin.initialize_sync(doc(deny_shell("rm", priority=5), deny_shell("curl", priority=7, emit="all")))
    assert registrations(report) == [
        ("policy", "tool_conditional_execution", f"{PREFIX}0__tool", 5),
        ("policy", "tool_conditional_execution", f"{PREFIX}1__tool", 7),
    ]
    assert [c["status"] for c in report["components"]] == ["active", "active"]

    assert await ran("run_shell", {"command": "ls"})
    with pytest.raises(GuardrailRejected, match=re.escape("policy 'no-rm' denied capability 'os.shell'")):
        await tools.execute("run_shell", {"command": "rm x"}, lambda a: "ran")
    assert not await ran("run_shell", {"command": "curl http://x"})
    marks = [e.data for e in events if e.name == "policy.decision"]
    # The first component emits denials only, the second every decision.
    assert [(m["policy_id"], m["decision"]) for m in marks] == [
        ("no-curl", "allowed"),
        ("no-rm", "denied"),
        ("no-curl", "denied"),
    ]

    plugin.clear()
    assert plugin.report() is None
    assert await ran("run_shell", {"command": "rm x"})
    assert not still_registered("tool_conditional_execution", f"{PREFIX}0__tool")
    assert not still_registered("tool_conditional_execution", f"{PREFIX}1__tool")


async def test_docs_example_with_observability(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    report = plugin.initialize_sync(docs_example())
    regs = registrations(report)
    # The annotation demand is recorded before the LLM guardrail, so it is dropped after it.
    assert [r for r in regs if r[0] == "policy"] == [
        ("policy", "tool_conditional_execution", f"{PREFIX}0__tool", 50),
        ("policy", "cleanup", f"{PREFIX}1__annotations", None),
        ("policy", "llm_conditional_execution", f"{PREFIX}1__llm", 60),
    ]
    assert any(r[0] == "observability" for r in regs)

    with pytest.raises(GuardrailRejected, match="no recursive deletes"):
        await tools.execute("run_shell", {"command": "rm -rf /"}, lambda a: "ran")

    async def model(_r: LLMRequest) -> Any:
        return {"choices": [{"message": {"role": "assistant", "content": "ok"}}]}

    def chat(model_name: str) -> LLMRequest:
        return LLMRequest({}, {"model": model_name, "messages": []})

    await llm.execute("chat", chat("small-model"), model, codec=OpenAIChatCodec())
    with pytest.raises(GuardrailRejected, match="model-allowlist"):
        await llm.execute("chat", chat("big-model"), model, codec=OpenAIChatCodec())

    plugin.clear()
    await llm.execute("chat", chat("big-model"), model, codec=OpenAIChatCodec())
    assert await ran("run_shell", {"command": "rm -rf /"})
    # The ATOF exporter of the same document recorded the rejected calls' decisions.
    atof = (tmp_path / "traces").glob("*.jsonl")
    recorded = "".join(p.read_text() for p in atof)
    assert recorded.count('"policy.decision"') >= 2


async def test_bad_config_gives_policy_diagnostics_and_registers_nothing() -> None:
    bad = doc(
        deny_shell("rm"),
        {"colour": "blue", "policies": [{"id": "x", "kind": "deny", "trigger": {"tool": "t"}}]},
        unknown_field="error",
    )
    report = plugin.validate(bad)
    found = {(d["level"], d["code"], d.get("component"), d.get("field")) for d in report["diagnostics"]}
    assert found == {
        ("error", "policy.unknown_field", "policy", "colour"),
        ("error", "policy.deny_without_condition", "policy", "policies[0].condition"),
    }
    with pytest.raises(ConfigError, match="a deny policy needs a condition"):
        plugin.initialize_sync(bad)
    assert plugin.report() is None
    assert not still_registered("tool_conditional_execution", f"{PREFIX}0__tool")
    assert await ran("run_shell", {"command": "rm x"})

    warned = plugin.validate({**bad, "policy": {"unknown_field": "warn"}})
    assert ("warning", "policy.unknown_field") in {(d["level"], d["code"]) for d in warned["diagnostics"]}


async def test_unknown_approver_fails_activation_and_restores_previous() -> None:
    plugin.initialize_sync(doc(deny_shell("curl")))
    asks = {
        "tools": {"run_shell": {"capability": "os.shell"}},
        "policies": [
            {
                "id": "ask",
                "kind": "before",
                "trigger": {"capability": "os.shell"},
                "requires": [{"capability": "user.confirm", "approver": "nobody-registered"}],
            }
        ],
    }
    with pytest.raises(ConfigError, match="approver 'nobody-registered' is not registered") as info:
        plugin.initialize_sync(doc(deny_shell("rm"), asks))
    statuses = [c["status"] for c in info.value.report["components"]]  # type: ignore[attr-defined]
    assert statuses == ["rolled_back", "failed"]
    # The earlier configuration is active again; the failed one left nothing.
    assert await ran("run_shell", {"command": "rm x"})
    assert not await ran("run_shell", {"command": "curl x"})
    assert [r[2] for r in registrations(plugin.report() or {"diagnostics": []})] == [f"{PREFIX}tool"]

    policy.register_approver("nobody-registered", lambda message, context: True)
    try:
        plugin.initialize_sync(doc(deny_shell("rm"), asks))
        assert await ran("run_shell", {"command": "ls"})
    finally:
        policy.deregister_approver("nobody-registered")


def test_direct_activate_still_works_beside_the_plugin_kind() -> None:
    plugin.initialize_sync(doc(deny_shell("rm")))
    policy.activate(deny_shell("curl"))
    try:
        with pytest.raises(GuardrailRejected, match="no-curl"):
            tools.execute_sync("run_shell", {"command": "curl x"}, lambda a: "ran")
        plugin.clear()
        with pytest.raises(GuardrailRejected, match="no-curl"):
            tools.execute_sync("run_shell", {"command": "curl x"}, lambda a: "ran")
    finally:
        policy.deactivate()
