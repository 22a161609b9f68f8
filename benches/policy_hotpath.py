"""Cost of the policy component on a managed tool call from Python: ``tools.execute_sync``
and ``tools.execute`` with no guardrail, with the 20-policy component of
crates/nemo-flow-policy/benches/twenty_policies.json active, and with one path check.
Median of 9 batches, ns per call (build with ``maturin develop --release`` first).

    .venv/bin/python benches/policy_hotpath.py
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nemo_flow import policy, tools

ROOT = Path(__file__).resolve().parent.parent
TWENTY = json.loads((ROOT / "crates/nemo-flow-policy/benches/twenty_policies.json").read_text())
TWENTY.pop("_comment")
ARGS = {"command": "git status", "cwd": "/safe/repo"}


def per_call(run: Callable[[int], Any], n: int = 20000, repeats: int = 9) -> float:
    run(n // 10)
    samples = []
    for _ in range(repeats):
        gc.disable()
        t = time.perf_counter_ns()
        run(n)
        samples.append((time.perf_counter_ns() - t) / n)
        gc.enable()
    return statistics.median(samples)


def sync_calls(tool: str, args: dict[str, Any]) -> Callable[[int], None]:
    def run(n: int) -> None:
        for _ in range(n):
            tools.execute_sync(tool, args, lambda a: a)

    return run


def async_calls(tool: str, args: dict[str, Any]) -> Callable[[int], None]:
    async def body(n: int) -> None:
        for _ in range(n):
            await tools.execute(tool, args, lambda a: a)

    return lambda n: asyncio.run(body(n))


def main() -> None:
    rows = []
    for label, make in [("execute_sync", sync_calls), ("execute", async_calls)]:
        base = per_call(make("run_shell", ARGS))
        policy.activate(TWENTY)
        active = per_call(make("run_shell", ARGS))
        policy.deactivate()
        rows.append((f"tools.{label}", base, active))
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp).resolve() / "workspace"
        (ws / "src").mkdir(parents=True)
        cfg = {
            "tools": {"read_file": {"capability": "fs.read"}},
            "inputs": {"workspace": {"type": "path", "value": str(ws)}},
            "policies": [
                {
                    "id": "read-in-workspace",
                    "kind": "deny",
                    "trigger": {"capability": "fs.read", "bind": {"path": "path"}},
                    "condition": {"not": {"path_within": [{"bound": "path"}, {"input": "workspace"}]}},
                }
            ],
        }
        read = {"path": "src/../src/main.py"}
        base = per_call(sync_calls("read_file", read))
        policy.activate(cfg)
        active = per_call(sync_calls("read_file", read))
        policy.deactivate()
        rows.append(("tools.execute_sync + path check", base, active))
    print(f"{'case':36} {'no policy':>10} {'policy':>10} {'on top':>10}  (ns/call)")
    for name, base, active in rows:
        print(f"{name:36} {base:10.0f} {active:10.0f} {active - base:10.0f}")


if __name__ == "__main__":
    main()
