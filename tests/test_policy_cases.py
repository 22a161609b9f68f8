"""The ten cases of the policy design (§3.3), enforced end to end through tools.execute
with the component activated, and checked with policy.evaluate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from policy_fixtures import SHELL_ALLOWLIST, make_workspace, ran, read_in_workspace

import nemo_flow
from nemo_flow import GuardrailRejected, policy, tools


@pytest.fixture(autouse=True)
def _deactivate() -> Iterator[None]:
    yield
    policy.deactivate()


async def reason(tool: str, args: dict[str, Any]) -> str:
    with pytest.raises(GuardrailRejected) as e:
        await tools.execute(tool, args, lambda a: "ran")
    return str(e.value)


async def test_case1_shell_allowlist_covers_every_tool_of_the_capability() -> None:
    policy.activate(SHELL_ALLOWLIST)
    assert await ran("run_shell", {"command": "git commit -m 'x'"})
    assert await reason("run_shell", {"command": "rm -rf /"}) == (
        "guardrail rejected: policy 'shell-allowlist' denied capability 'os.shell'"
    )
    assert await ran("run_shell", {"command": "git commit -m x; rm -rf /"}), "prefix allowlists chain, as in NemoIR"
    assert not await ran("exec_cmd", {"command": "rm -rf /"})
    assert await ran("unmapped_tool", {"command": "rm -rf /"})


async def test_case2_traversal_and_containment_by_component(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    policy.activate(read_in_workspace(ws))
    for path in ["a/../../etc/passwd", "/etc/passwd", f"{ws}_evil/x"]:
        assert await reason("read_file", {"path": path}) == "guardrail rejected: reads must stay inside the workspace"
    assert await ran("read_file", {"path": "sub/../notes.txt"})


async def test_case3_symlink_escape_and_strict_mode(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    policy.activate(read_in_workspace(ws))
    assert not await ran("read_file", {"path": "link_out/secret"})
    assert not await ran("read_file", {"path": "dangling_out"})
    assert await ran("read_file", {"path": "link_in"})
    policy.deactivate()
    policy.activate(read_in_workspace(ws, symlinks="reject"))
    msg = await reason("read_file", {"path": "link_in"})
    assert "policy 'read-in-workspace': evaluation error: path goes through a symlink" in msg
    assert await ran("read_file", {"path": "notes.txt"})


def _string_policy(condition: dict[str, Any], norm: str | None) -> dict[str, Any]:
    return {
        "unicode_normalization": norm,
        "policies": [
            {"id": "p", "kind": "deny", "trigger": {"tool": "sh", "bind": {"c": "command"}}, "condition": condition}
        ],
    }


def test_case4_unicode_normalisation_is_opt_in_and_never_touches_paths(tmp_path: Path) -> None:
    allow = {"not": {"eq": [{"bound": "c"}, "echo caf\u00e9"]}}
    nfd = {"command": "echo cafe\u0301"}
    assert not policy.evaluate(_string_policy(allow, None), "sh", nfd).allowed, "allowlists fail safe"
    assert policy.evaluate(_string_policy(allow, "NFC"), "sh", nfd).allowed
    deny = {"contains": [{"bound": "c"}, "rm -rf"]}
    wide = {"command": "\uff52\uff4d -rf /"}
    assert policy.evaluate(_string_policy(deny, None), "sh", wide).allowed, "denylists can be bypassed"
    assert not policy.evaluate(_string_policy(deny, "NFKC"), "sh", wide).allowed
    # Paths are never normalised: an NFD file name is not inside an NFC-named directory.
    ws = Path(tmp_path) / "caf\u00e9"
    ws.mkdir()
    cfg = read_in_workspace(ws, unicode_normalization="NFKC")
    assert not policy.evaluate(cfg, "read_file", {"path": str(tmp_path / "cafe\u0301" / "x")}).allowed
    assert policy.evaluate(cfg, "read_file", {"path": str(ws / "x")}).allowed


def _short_circuit(op: str, on_error: str) -> dict[str, Any]:
    sw = {"starts_with": [{"bound": "path"}, "/etc"]}
    return {
        "on_error": on_error,
        "tools": {"read_file": {"capability": "fs.read"}},
        "policies": [
            {
                "id": "p",
                "kind": "deny",
                "trigger": {"capability": "fs.read", "bind": {"path": "path"}},
                "condition": {op: [False, sw]},
            }
        ],
    }


async def test_case5_short_circuit_and_on_error(events: list[Any]) -> None:
    assert policy.evaluate(_short_circuit("and", "deny"), "read_file", {"path": "/etc/x"}).allowed
    policy.activate(_short_circuit("or", "deny"))
    assert "evaluation error: starts_with() receiver must be string, got PosixPath" in await reason(
        "read_file", {"path": "/etc/x"}
    )
    policy.deactivate()
    policy.activate(_short_circuit("or", "allow"))
    assert await ran("read_file", {"path": "/etc/x"})
    marks = [e.data for e in events if e.name == "policy.decision"]
    assert [m["decision"] for m in marks] == ["error", "error"], "on_error: allow still records the error"


async def test_case6_missing_bound_argument_fails_closed(tmp_path: Path) -> None:
    policy.activate(read_in_workspace(make_workspace(tmp_path)))
    assert "trigger-bound argument 'path' is missing" in await reason("read_file", {"file": "x"})


def test_case7_eq_refuses_numbers() -> None:
    cfg = {
        "policies": [
            {
                "id": "t",
                "kind": "deny",
                "trigger": {"tool": "sh", "bind": {"timeout": "timeout"}},
                "condition": {"eq": [{"bound": "timeout"}, 30]},
            }
        ]
    }
    d = policy.evaluate(cfg, "sh", {"timeout": 30})
    assert not d.allowed and d.reason is not None and "number operands" in d.reason
    assert d.decisions[0].decision == "error"


async def test_case8_tool_name_triggers() -> None:
    cfg = {
        "tools": {"run_shell": {"capability": "os.shell"}, "exec_cmd": {"capability": "os.shell"}},
        "policies": [{"id": "no-run-shell", "kind": "deny", "trigger": {"tool": "run_shell"}, "condition": True}],
    }
    policy.activate(cfg)
    assert not await ran("run_shell", {})
    assert await ran("exec_cmd", {})


async def test_case9_approvers_and_deny_before_before(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    answers: list[Any] = []
    asked: list[tuple[str, dict[str, Any]]] = []

    def approve(message: str, context: dict[str, Any]) -> Any:
        asked.append((message, context))
        return answers[-1]

    policy.register_approver("case9", approve)
    cfg = {
        "tools": {"write_file": {"capability": "fs.write"}},
        "inputs": {"workspace": {"type": "path", "value": str(ws)}},
        "policies": [
            {
                "id": "confirm-write",
                "kind": "before",
                "trigger": {"capability": "fs.write", "bind": {"path": "path"}},
                "requires": [
                    {"capability": "user.confirm", "approver": "case9", "args": {"message": {"bound": "path"}}}
                ],
            },
            {
                "id": "write-in-workspace",
                "kind": "deny",
                "trigger": {"capability": "fs.write", "bind": {"path": "path"}},
                "condition": {"not": {"path_within": [{"bound": "path"}, {"input": "workspace"}]}},
            },
        ],
    }
    policy.activate(cfg)
    answers.append(True)
    assert await ran("write_file", {"path": "x.txt", "content": "c"})
    assert asked[-1] == ("x.txt", {"tool": "write_file", "capability": "fs.write", "policy_id": "confirm-write"})
    answers.append(False)
    assert await reason("write_file", {"path": "x.txt", "content": "c"}) == (
        "guardrail rejected: policy 'confirm-write': user.confirm returned False, blocking 'fs.write'"
    )
    answers.append("no")
    assert "returned str, expected a bool" in await reason("write_file", {"path": "x.txt", "content": "c"})
    n = len(asked)
    assert "write-in-workspace" in await reason("write_file", {"path": "../x.txt", "content": "c"})
    assert len(asked) == n, "the deny ran first; the approver was not asked"
    policy.deregister_approver("case9")


def test_case10_validation_errors_and_nothing_registered() -> None:
    trigger = {"capability": "fs.read", "bind": {"path": "path"}}
    bad = [
        ({"id": "a", "kind": "deny", "trigger": trigger}, "policy.deny_without_condition"),
        (
            {"id": "a", "kind": "deny", "trigger": trigger, "condition": {"ends_with": [{"bound": "path"}, "x"]}},
            "policy.unknown_expression",
        ),
        (
            {
                "id": "a",
                "kind": "deny",
                "trigger": trigger,
                "condition": {"kind": "ref", "ref": {"kind": "node_output", "node": "n", "field": "f"}},
            },
            "policy.node_output_ref",
        ),
    ]
    for p, code in bad:
        cfg = {"policies": [p]}
        assert [d.code for d in policy.validate(cfg)] == [code]
        with pytest.raises(policy.PolicyConfigError) as e:
            policy.activate(cfg)
        assert isinstance(e.value, nemo_flow.ConfigError)
        assert [d.code for d in e.value.diagnostics] == [code]
        assert not policy.deactivate(), "nothing was registered"
