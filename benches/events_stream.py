"""Cost an open ``nemo_flow.events.stream`` adds to the emitting call: a mark emitted with no
subscriber, with a no-op subscriber, and with a stream (all events; and one filtered to
another run's root, which drops every event). Medians of rounds; prints a small table.

    python benches/events_stream.py [--events 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import nemo_flow
from nemo_flow import ScopeType, events, scope


def _emit_us(n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        scope.event("e")
    return (time.perf_counter() - start) / n * 1e6


async def _with_stream(n: int, root: object) -> float:
    async with events.stream(root=root, maxsize=n + 1) as _stream:  # type: ignore[arg-type]
        return _emit_us(n)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    other = scope.start_detached("other-run", ScopeType.Agent)
    rows: dict[str, list[float]] = {"no subscriber": [], "no-op subscriber": [], "stream": [], "stream, filtered": []}
    for _ in range(args.rounds):
        rows["no subscriber"].append(_emit_us(args.events))
        nemo_flow.subscribers.register("noop", lambda e: None)
        rows["no-op subscriber"].append(_emit_us(args.events))
        nemo_flow.subscribers.deregister("noop")
        rows["stream"].append(asyncio.run(_with_stream(args.events, None)))
        rows["stream, filtered"].append(asyncio.run(_with_stream(args.events, other)))
    for name, values in rows.items():
        print(f"{name:<20}{statistics.median(values):>8.2f} us/event")


if __name__ == "__main__":
    main()
