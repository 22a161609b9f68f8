"""Plugin benchmark: how long activating a 3-component configuration takes, and what a call
costs with middleware installed by a plugin versus the same middleware registered by hand
(they land in the same registries, so the two should match).

    python benches/plugin.py [--seconds 0.2] [--repeats 7] [--activations 200]

Build the extension with ``maturin develop --release`` first.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hotpath import ARGS, clear_middleware, register_middleware, time_batches, timed_async, tool

import nemo_flow as nf
from nemo_flow import observability as obs
from nemo_flow import plugin


class BenchMiddleware:
    """The hot-path benchmark's middleware set (sanitizer, conditional guardrail, request and
    execution intercepts), installed through a plugin context."""

    def register(self, config: dict[str, Any], ctx: plugin.PluginContext) -> None:
        ctx.register_tool_sanitize_request_guardrail("b-san", 1, lambda n, a: a)
        ctx.register_tool_conditional_execution_guardrail("b-cond", 1, lambda n, a: None)
        ctx.register_tool_request_intercept("b-req", 1, False, lambda n, a: a)
        ctx.register_tool_execution_intercept("b-exec", 1, lambda n, a, nxt: nxt(a))
        ctx.register_subscriber("b-sub", lambda e: None)


def three_components(directory: Path) -> plugin.PluginConfig:
    observability = obs.ComponentSpec(
        obs.ObservabilityConfig(
            atof=obs.AtofConfig(enabled=True, output_directory=directory, filename="bench.jsonl", mode="overwrite"),
            atif=obs.AtifConfig(enabled=True, output_directory=directory),
        )
    )
    return plugin.PluginConfig(
        components=[observability, plugin.ComponentSpec("bench-mw"), plugin.ComponentSpec("bench-mw")]
    )


def activation_ms(count: int) -> tuple[float, float]:
    """Median milliseconds of ``initialize_sync`` and of ``clear``."""
    with tempfile.TemporaryDirectory() as d:
        config = three_components(Path(d)).to_dict()
        up, down = [], []
        for _ in range(count):
            t0 = time.perf_counter_ns()
            plugin.initialize_sync(config)
            t1 = time.perf_counter_ns()
            plugin.clear()
            t2 = time.perf_counter_ns()
            up.append((t1 - t0) / 1e6)
            down.append((t2 - t1) / 1e6)
    return statistics.median(up), statistics.median(down)


def call_cases() -> dict[str, Any]:
    execute = nf.tools.execute

    async def calls(n: int) -> None:
        for _ in range(n):
            await execute("search", ARGS, tool)

    async def by_hand(n: int) -> None:
        register_middleware()
        nf.subscribers.register("b-sub", lambda e: None)
        try:
            await calls(n)
        finally:
            clear_middleware()
            nf.subscribers.deregister("b-sub")

    async def by_plugin(n: int) -> None:
        plugin.initialize_sync({"components": [{"kind": "bench-mw"}]})
        try:
            await calls(n)
        finally:
            plugin.clear()

    return {"tool_execute_mw_by_hand": timed_async(by_hand), "tool_execute_mw_by_plugin": timed_async(by_plugin)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=0.2, help="target duration of one batch")
    p.add_argument("--repeats", type=int, default=7, help="batches per case (median is reported)")
    p.add_argument("--activations", type=int, default=200, help="activations timed")
    a = p.parse_args()
    plugin.register("bench-mw", BenchMiddleware())
    up, down = activation_ms(a.activations)
    print(
        f"activation of 3 components (observability ATOF+ATIF, 2 middleware plugins): {up:.3f} ms; clear {down:.3f} ms"
    )
    # Interleave the two cases so drift affects both alike.
    results: dict[str, list[float]] = {}
    for _ in range(3):
        for name, run in call_cases().items():
            results.setdefault(name, []).append(time_batches(run, a.seconds, a.repeats))
    for name, samples in results.items():
        print(f"{name:<28}{statistics.median(samples):>10.0f} ns/op")
    return 0


if __name__ == "__main__":
    sys.exit(main())
