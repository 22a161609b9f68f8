"""Bad configs (every diagnostic code, found at load time), bad arguments, and activation
being all or nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from nemo_flow import RegistrationError, guardrails, policy, tools

T = {"capability": "fs.read", "bind": {"path": "path"}}


def deny(condition: Any) -> dict[str, Any]:
    return {"policies": [{"id": "a", "kind": "deny", "trigger": T, "condition": condition}]}


BAD: list[tuple[Any, str, str]] = [
    ({"policies": 3}, "policy.invalid_type", "policies"),
    ({"on_error": "maybe"}, "policy.invalid_value", "on_error"),
    ({"policies": [{"kind": "deny", "trigger": T, "condition": True}]}, "policy.missing_field", "policies[0].id"),
    ({"colour": 1}, "policy.unknown_field", "colour"),
    ({"version": 2}, "policy.unsupported_version", "version"),
    (
        {"policies": [{"id": "a", "kind": "deny", "trigger": T, "condition": True}] * 2},
        "policy.duplicate_id",
        "policies[1].id",
    ),
    (deny({"ends_with": [{"bound": "path"}, "x"]}), "policy.unknown_expression", "policies[0].condition.ends_with"),
    (
        deny({"kind": "method_call", "receiver": {"bound": "path"}, "method": "ends_with", "args": ["x"]}),
        "policy.unknown_method",
        "policies[0].condition.method",
    ),
    (deny({"eq": [{"bound": "path"}]}), "policy.wrong_arity", "policies[0].condition.eq"),
    (
        deny({"kind": "ref", "ref": {"kind": "node_output", "node": "n", "field": "f"}}),
        "policy.node_output_ref",
        "policies[0].condition.ref.kind",
    ),
    (deny({"bound": "file"}), "policy.unknown_bound", "policies[0].condition.bound"),
    (deny({"input": "workspace"}), "policy.unknown_input", "policies[0].condition.input"),
    (
        {"policies": [{"id": "a", "kind": "before", "trigger": T}]},
        "policy.before_without_requires",
        "policies[0].requires",
    ),
    (
        {"policies": [{"id": "a", "kind": "before", "trigger": T, "requires": [{"capability": "os.shell"}]}]},
        "policy.unsupported_requirement",
        "policies[0].requires[0].capability",
    ),
    (
        {"policies": [{"id": "a", "kind": "deny", "trigger": T}]},
        "policy.deny_without_condition",
        "policies[0].condition",
    ),
    (
        {"policies": [{"id": "a", "kind": "deny", "trigger": {"bind": {}}, "condition": True}]},
        "policy.trigger_without_target",
        "policies[0].trigger",
    ),
]


@pytest.fixture(autouse=True)
def _deactivate() -> Iterator[None]:
    yield
    policy.deactivate()


@pytest.mark.parametrize(("config", "code", "field"), BAD, ids=[b[1] for b in BAD])
def test_every_error_is_a_diagnostic_at_load_time_and_nothing_registers(config: Any, code: str, field: str) -> None:
    found = [(d.level, d.code, d.field) for d in policy.validate(config)]
    assert ("error", code, field) in found, found
    with pytest.raises(policy.PolicyConfigError) as e:
        policy.activate(config)
    assert code in str(e.value) and field in str(e.value)
    assert not policy.deactivate()
    with pytest.raises(policy.PolicyConfigError):
        policy.evaluate(config, "read_file", {"path": "x"})


def test_unknown_fields_follow_the_unknown_field_setting() -> None:
    assert [d.level for d in policy.validate({"colour": 1}, unknown_field="warn")] == ["warning"]
    assert policy.validate({"colour": 1}, unknown_field="ignore") == []
    with pytest.raises(ValueError, match="unknown_field: expected 'error', 'warn' or 'ignore'"):
        policy.validate({}, unknown_field="loud")


def test_rate_limit_fields_are_validated() -> None:
    bad = {"policies": [{"id": "r", "kind": "rate_limit", "trigger": {"tool": "t"}, "rate": -1, "key": "user"}]}
    codes = {(d.code, d.field) for d in policy.validate(bad)}
    assert ("policy.invalid_value", "policies[0].rate") in codes
    assert ("policy.invalid_value", "policies[0].key") in codes
    misplaced = {"policies": [{"id": "d", "kind": "deny", "trigger": {"tool": "t"}, "condition": True, "rate": 1}]}
    assert [(d.code, d.field) for d in policy.validate(misplaced)] == [("policy.unknown_field", "policies[0].rate")]


async def test_activation_reports_registrations_and_refuses_a_second_activation() -> None:
    cfg = {"policies": [{"id": "d", "kind": "deny", "trigger": {"tool": "t"}, "condition": True}]}
    report = policy.activate(cfg)
    assert report == {
        "registered": {"tool_conditional_execution": "nemo_flow.policy:policy", "llm_conditional_execution": None},
        "warnings": [],
    }
    with pytest.raises(RegistrationError, match="policy component 'policy' is already active"):
        policy.activate(cfg)
    other = policy.activate(cfg, name="second")
    assert other["registered"]["tool_conditional_execution"] == "nemo_flow.policy:second"
    assert policy.deactivate("second") and not policy.deactivate("second")
    # Removing the native guardrail by name is the same as deactivating.
    assert guardrails.deregister_tool_conditional_execution("nemo_flow.policy:policy")
    assert await tools.execute("t", {}, lambda a: "ran") == "ran"
    policy.activate(cfg)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: policy.evaluate([], "t", {}), TypeError, "config: expected a mapping"),
        (lambda: policy.evaluate({}, "", {}), TypeError, "tool: expected a non-empty string"),
        (lambda: policy.evaluate({}, "t", [1]), TypeError, "args: expected a mapping"),
        (lambda: policy.evaluate({}, "t", {"x": object()}), TypeError, r'args\["x"\]: value of type'),
        (lambda: policy.evaluate({}, "t", {"x": float("nan")}), ValueError, r'args\["x"\]: NaN'),
        (lambda: policy.evaluate_llm({}, "m", 3), TypeError, "request: expected an AnnotatedLLMRequest"),
        (lambda: policy.activate({}, name=""), TypeError, "name: expected a non-empty string"),
        (lambda: policy.validate("cfg"), TypeError, "config: expected a mapping"),
    ],
)
def test_bad_arguments_name_the_argument(call: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        call()
    assert not policy.deactivate()


def test_evaluate_reports_every_decision_without_argument_values() -> None:
    cfg = {
        "tools": {"sh": {"capability": "os.shell"}},
        "unmapped_tools": "deny",
        "policies": [
            {"id": "ok", "kind": "deny", "trigger": {"capability": "os.shell"}, "condition": False},
            {
                "id": "no",
                "kind": "deny",
                "trigger": {"capability": "os.shell", "bind": {"c": "command"}},
                "condition": {"contains": [{"bound": "c"}, "secret-token"]},
                "message": "nope",
            },
        ],
    }
    d = policy.evaluate(cfg, "sh", {"command": "echo secret-token"})
    assert d == policy.Decision(
        False,
        "nope",
        (
            policy.PolicyDecision("ok", "deny", "allowed", "os.shell", "sh", None, None),
            policy.PolicyDecision("no", "deny", "denied", "os.shell", "sh", "nope", None),
        ),
    )
    unmapped = policy.evaluate(cfg, "other", {})
    assert (unmapped.allowed, unmapped.decisions[0].kind) == (False, "unmapped_tools")
    assert policy.evaluate(cfg, "other", {"command": "ls"}, capability="os.shell").allowed
