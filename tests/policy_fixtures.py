"""Shared policy test helpers: the design's workspace fixture and configs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from nemo_flow import GuardrailRejected, tools


def make_workspace(tmp: Path) -> Path:
    """``ws`` with notes.txt, sub/, link_out → outside, link_in → notes.txt and
    dangling_out → outside/missing; ``ws_evil/x`` and ``outside/secret`` beside it."""
    tmp = Path(os.path.realpath(tmp))
    ws, outside = tmp / "ws", tmp / "outside"
    (ws / "sub").mkdir(parents=True)
    outside.mkdir()
    (tmp / "ws_evil").mkdir()
    (ws / "notes.txt").write_text("n")
    (outside / "secret").write_text("s")
    (ws / "link_out").symlink_to(outside)
    (ws / "link_in").symlink_to(ws / "notes.txt")
    (ws / "dangling_out").symlink_to(outside / "missing")
    return ws


def read_in_workspace(ws: Path, **extra: Any) -> dict[str, Any]:
    return {
        "tools": {"read_file": {"capability": "fs.read"}},
        "inputs": {"workspace": {"type": "path", "value": str(ws)}},
        "policies": [
            {
                "id": "read-in-workspace",
                "kind": "deny",
                "trigger": {"capability": "fs.read", "bind": {"path": "path"}},
                "condition": {"not": {"path_within": [{"bound": "path"}, {"input": "workspace"}]}},
                "message": "reads must stay inside the workspace",
            }
        ],
        **extra,
    }


SHELL_ALLOWLIST: dict[str, Any] = {
    "tools": {"run_shell": {"capability": "os.shell"}, "exec_cmd": {"capability": "os.shell"}},
    "policies": [
        {
            "id": "shell-allowlist",
            "kind": "deny",
            "trigger": {"capability": "os.shell", "bind": {"command": "command"}},
            "condition": {
                "not": {
                    "or": [
                        {"eq": [{"bound": "command"}, "python run.py"]},
                        {"starts_with": [{"bound": "command"}, "git commit -m "]},
                    ]
                }
            },
        }
    ],
}


async def ran(tool: str, args: dict[str, Any]) -> bool:
    """Whether a managed tool call ran (False: a guardrail rejected it)."""
    try:
        await tools.execute(tool, args, lambda a: "ran")
    except GuardrailRejected:
        return False
    return True
