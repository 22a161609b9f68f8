"""NemoIR parity: the same expression trees through our evaluator and through NemoIR's own
(``nemoir_runtime.runtime._eval_policy_expr``, installed with ``--no-deps``), and the
importer over a real ``WorkflowManifest``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from policy_fixtures import make_workspace

from nemo_flow import policy

nemoir = pytest.importorskip("nemoir_runtime")
runtime = pytest.importorskip("nemoir_runtime.runtime")
from nemoir_runtime import (  # noqa: E402
    ExprSpec,
    InputSpec,
    PolicySpec,
    RefSpec,
    RequiredCapabilitySpec,
    TriggerSpec,
    WorkflowManifest,
)


def bound(name: str) -> ExprSpec:
    return ExprSpec(kind="ref", ref=RefSpec(kind="bound", name=name))


def lit(v: Any) -> ExprSpec:
    return ExprSpec(kind="literal", type="string", value=v)


def call(method: str, receiver: ExprSpec, arg: ExprSpec) -> ExprSpec:
    return ExprSpec(kind="method_call", receiver=receiver, method=method, args=(arg,))


WORKSPACE = ExprSpec(kind="ref", ref=RefSpec(kind="input", name="workspace"))
SHELL = ExprSpec(
    kind="not",
    expr=ExprSpec(
        kind="or",
        exprs=(
            call("eq", bound("command"), lit("python run.py")),
            call("starts_with", bound("command"), lit("git commit -m ")),
        ),
    ),
)
CONTAIN = ExprSpec(kind="not", expr=call("contains", WORKSPACE, bound("path")))


def nemoir_outcome(expr: ExprSpec, capability: str, args: dict[str, Any], ws: Path) -> str:
    """NemoIR's verdict: denied, allowed or error (anything it raises)."""
    bind = {"command": "command"} if "command" in args else {"path": "path"}
    trigger = TriggerSpec(capability=capability, bind=bind)
    try:
        bound_args = runtime.WorkflowRuntime._bind_trigger_args(trigger, args, policy_id="p", capability=capability)
        v = runtime._eval_policy_expr(expr, {"workspace": ws}, bound_args, policy_id="p", capability=capability)
    except Exception:
        return "error"
    return "denied" if v else "allowed"


def our_outcome(expr: ExprSpec, capability: str, args: dict[str, Any], ws: Path) -> str:
    bind = {"command": "command"} if "command" in args else {"path": "path"}
    cfg = {
        "inputs": {"workspace": {"type": "path", "value": str(ws)}},
        "policies": [
            {"id": "p", "kind": "deny", "trigger": {"tool": "t", "bind": bind}, "condition": policy._plain(expr)}
        ],
    }
    d = policy.evaluate(cfg, "t", args, capability=capability)
    return d.decisions[0].decision


def cases(ws: Path) -> list[tuple[ExprSpec, str, dict[str, Any]]]:
    paths = [
        "a/../../etc/passwd",
        "/etc/passwd",
        f"{ws}_evil/x",
        "sub/../notes.txt",
        "link_out/secret",
        "dangling_out",
        "link_in",
        str(ws / "sub" / "deep" / "new"),
        "bad\0byte",
    ]
    commands = ["git commit -m 'x'", "rm -rf /", "git commit -m x; rm -rf /", "python run.py"]
    num = ExprSpec(kind="ref", ref=RefSpec(kind="bound", name="path"))
    out: list[tuple[ExprSpec, str, dict[str, Any]]] = []
    out += [(SHELL, "os.shell", {"command": c}) for c in commands]
    out += [(CONTAIN, "fs.read", {"path": p}) for p in paths]
    out += [
        # starts_with on a path argument: a type error in NemoIR and here.
        (call("starts_with", bound("path"), lit("/etc")), "fs.read", {"path": "/etc/x"}),
        (call("starts_with", bound("path"), lit("/etc")), "custom.read", {"path": "/etc/x"}),
        # eq on numbers raises; eq on paths is path-aware.
        (call("eq", num, ExprSpec(kind="literal", value=30)), "custom.op", {"path": 30}),
        (call("eq", bound("path"), lit("sub/../notes.txt")), "fs.read", {"path": "notes.txt"}),
        (call("eq", bound("path"), lit(str(ws / "link_in"))), "fs.read", {"path": str(ws / "notes.txt")}),
        # string receiver with a path argument is an error; a literal "no" is truthy.
        (call("contains", lit("abc"), bound("path")), "fs.read", {"path": "b"}),
        (call("contains", lit("abc"), bound("path")), "custom.op", {"path": "b"}),
        (
            ExprSpec(kind="and", exprs=(lit(""), call("starts_with", bound("path"), lit("/")))),
            "fs.read",
            {"path": "/x"},
        ),
        (
            ExprSpec(kind="or", exprs=(lit("no"), call("starts_with", bound("path"), lit("/")))),
            "fs.read",
            {"path": "/x"},
        ),
        (ExprSpec(kind="and", exprs=()), "fs.read", {"path": "/x"}),
        (ExprSpec(kind="or", exprs=()), "fs.read", {"path": "/x"}),
        (
            ExprSpec(
                kind="compare", op="gt", left=ExprSpec(kind="binop", op="mul", left=num, right=lit(2)), right=lit(50)
            ),
            "custom.op",
            {"path": 30},
        ),
        (ExprSpec(kind="compare", op="lt", left=num, right=lit(50)), "custom.op", {"path": None}),
        (ExprSpec(kind="compare", op="lt", left=num, right=lit(50)), "custom.op", {"path": "x"}),
    ]
    return out


def test_differential_against_nemoir_evaluator(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    (ws / "sub" / "deep").mkdir()
    compared = 0
    all_cases = cases(ws)
    for expr, capability, args in all_cases:
        theirs = nemoir_outcome(expr, capability, args, ws)
        ours = our_outcome(expr, capability, args, ws)
        assert ours == theirs, f"{expr} with {args!r} ({capability}): ours {ours}, NemoIR {theirs}"
        compared += 1
    assert compared == len(all_cases) == 27


def manifest(ws: Path) -> WorkflowManifest:
    shell = PolicySpec(
        id="shell-allowlist", kind="deny", trigger=TriggerSpec("os.shell", {"command": "command"}), condition=SHELL
    )
    contain = PolicySpec(
        id="read-in-workspace", kind="deny", trigger=TriggerSpec("fs.read", {"path": "path"}), condition=CONTAIN
    )
    noop = PolicySpec(id="no-condition", kind="deny", trigger=TriggerSpec("fs.read", {"path": "path"}))
    confirm = PolicySpec(
        id="confirm-write",
        kind="before",
        trigger=TriggerSpec("fs.write", {"path": "path"}),
        requires=(RequiredCapabilitySpec("user.confirm", {"message": RefSpec(kind="bound", name="path")}),),
        condition=call("starts_with", lit("a"), ExprSpec(kind="literal", type="path", value="a")),
    )
    return WorkflowManifest(
        workflow_id="demo",
        entry_stage_id="s",
        exit_stage_ids=frozenset({"s"}),
        inputs=(InputSpec("workspace", "path"),),
        capabilities=frozenset({"fs.read", "fs.write", "os.shell"}),
        policies=(shell, contain, noop, confirm),
        stages=(),
    )


def test_from_nemoir_imports_equivalent_policies_and_reports_differences(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    imported = policy.from_nemoir(manifest(ws), inputs={"workspace": ws})
    assert [p["id"] for p in imported.config["policies"]] == ["shell-allowlist", "read-in-workspace", "confirm-write"]
    fields = [(d.level, d.code, d.field) for d in imported.diagnostics]
    assert ("warning", "policy.nemoir_semantics_differ", "policies[2]") in fields, "the condition-less deny is skipped"
    assert ("warning", "policy.nemoir_semantics_differ", "policies[3].condition") in fields, (
        "the before's condition dropped"
    )
    assert all(d.level == "warning" for d in imported.diagnostics)
    assert policy.validate(imported.config) == []
    # The imported component decides as NemoIR does on the design's cases.
    cfg = {**imported.config, "tools": {"read_file": {"capability": "fs.read"}, "sh": {"capability": "os.shell"}}}
    for p in ["a/../../etc/passwd", "link_out/secret", "sub/../notes.txt", "link_in"]:
        ours = "allowed" if policy.evaluate(cfg, "read_file", {"path": p}).allowed else "denied"
        assert ours == nemoir_outcome(CONTAIN, "fs.read", {"path": p}, ws), p
    for c in ["git commit -m 'x'", "rm -rf /"]:
        ours = "allowed" if policy.evaluate(cfg, "sh", {"command": c}).allowed else "denied"
        assert ours == nemoir_outcome(SHELL, "os.shell", {"command": c}, ws), c


def test_from_nemoir_rejects_bad_arguments_and_unsupported_requirements(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="manifest: expected a WorkflowManifest"):
        policy.from_nemoir("manifest")
    with pytest.raises(TypeError, match="inputs: expected a mapping"):
        policy.from_nemoir({"policies": []}, inputs=[1])  # type: ignore[arg-type]
    shell_first = PolicySpec(
        id="needs-shell",
        kind="before",
        trigger=TriggerSpec("fs.write", {"path": "path"}),
        requires=(RequiredCapabilitySpec("os.shell", {"command": RefSpec(kind="bound", name="path")}),),
    )
    imported = policy.from_nemoir({"policies": [shell_first]})
    assert ("error", "policy.unsupported_requirement") in [(d.level, d.code) for d in imported.diagnostics]
