"""What `nemo-flow view` costs on a big run, and what record and replay add to one call.

- view: a run of about 20,000 events (10,000 tool calls and some LLM calls under nested
  scopes, recorded by the real runtime): time to read it and write the HTML, and the size.
- per call: ``tools.execute_sync`` and ``llm.execute_sync`` with nothing registered, while
  recording (ATOF exporter + call tracker), and answered by replay (the callable not run).

Each per-call figure is the median of several batches.

    python benches/view_replay.py [--events 20000] [--calls 4000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nemo_flow as nf
from nemo_flow import cli
from nemo_flow.replay import record, replay

ARGS = {"query": "weather in Paris", "limit": 5}
RESPONSE = {
    "id": "c1",
    "object": "chat.completion",
    "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "It is sunny."}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 40, "completion_tokens": 6, "total_tokens": 46},
}


def _request() -> nf.LLMRequest:
    return nf.LLMRequest({}, {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "weather?"}]})


def write_big_run(path: Path, events: int) -> int:
    """Record an agent with ``events`` events; return the number of lines written."""
    with record(path):
        with nf.scope.scope("agent", nf.ScopeType.Agent, input={"goal": "bench"}):
            n = 2
            step = 0
            while n < events:
                with nf.scope.scope(f"step {step}", nf.ScopeType.Function):
                    n += 2
                    for i in range(49):
                        nf.tools.execute_sync(f"tool_{i % 7}", {**ARGS, "i": i}, lambda a: {"hits": [a["i"]]})
                        n += 2
                    nf.llm.execute_sync("openai", _request(), lambda r: RESPONSE, model_name="gpt-4o-mini")
                    n += 2
                step += 1
    return len(path.read_text().splitlines())


def bench_view(path: Path, repeats: int) -> tuple[float, int]:
    out = path.with_suffix(".html")
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        cli.main(["view", str(path), "-o", str(out)])
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out.stat().st_size


def per_call(body: Callable[[], Any], calls: int, repeats: int) -> float:
    """Median microseconds per call over ``repeats`` batches of ``calls`` calls."""
    results = []
    for _ in range(repeats):
        gc.disable()
        t0 = time.perf_counter_ns()
        for _ in range(calls):
            body()
        dt = time.perf_counter_ns() - t0
        gc.enable()
        results.append(dt / calls / 1000)
    return statistics.median(results)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--calls", type=int, default=4_000)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "big.jsonl"
        lines = write_big_run(big, a.events)
        seconds, size = bench_view(big, a.repeats)
        print(f"view: {lines} events ({big.stat().st_size / 1e6:.1f} MB ATOF) -> HTML in {seconds:.2f} s, "
              f"{size / 1e6:.1f} MB")  # fmt: skip

        def tool() -> Any:
            return nf.tools.execute_sync("search", ARGS, lambda x: {"hits": [1]})

        def model() -> Any:
            return nf.llm.execute_sync("openai", _request(), lambda r: RESPONSE, model_name="gpt-4o-mini")

        rows = {}
        for name, body in (("tool", tool), ("llm", model)):
            plain = per_call(body, a.calls, a.repeats)
            rec_path = Path(tmp) / f"{name}.jsonl"
            with record(rec_path):
                recording = per_call(body, a.calls, a.repeats)
            with replay(rec_path, mode="strict"):
                replayed = per_call(body, a.calls, a.repeats)
            rows[name] = (plain, recording, replayed)
        print(f"{'per call (µs)':<14}{'plain':>8}{'record':>9}{'replay':>9}{'replay - plain':>16}")
        for name, (plain, recording, replayed) in rows.items():
            print(f"{name:<14}{plain:>8.2f}{recording:>9.2f}{replayed:>9.2f}{replayed - plain:>16.2f}")


if __name__ == "__main__":
    main()
