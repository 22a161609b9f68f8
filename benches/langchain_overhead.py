"""Overhead of the LangChain integration per chat-model call, with a fake chat model (no
network): plain LangChain against ``nemo_flow.integrations.langchain.instrument()``, with no
subscriber and with one, sync ``invoke``, async ``ainvoke``, a tool ``invoke`` and a 3-chunk
``stream``. Medians of interleaved rounds; prints a small table.

    python benches/langchain_overhead.py [--calls 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from typing import Any

from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import tool

import nemo_flow
from nemo_flow.integrations import langchain as nlc


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def _per_call_us(fn: Callable[[], Any], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


def _cases() -> dict[str, Callable[[], Any]]:
    model = FakeMessagesListChatModel(responses=[AIMessage("pong")])
    messages = [HumanMessage("ping")]
    loop = asyncio.new_event_loop()

    def stream() -> None:
        for _ in GenericFakeChatModel(messages=iter([AIMessage("a b")])).stream(messages):
            pass

    return {
        "invoke": lambda: model.invoke(messages),
        "ainvoke": lambda: loop.run_until_complete(model.ainvoke(messages)),
        "tool.invoke": lambda: add.invoke({"a": 1, "b": 2}),
        "stream (3 chunks)": stream,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    cases = _cases()
    modes = ("plain", "instrumented", "instrumented+subscriber")
    results: dict[tuple[str, str], list[float]] = {(c, m): [] for c in cases for m in modes}
    for fn in cases.values():  # warm-up
        _per_call_us(fn, 200)
    for _ in range(args.rounds):
        for mode in modes:
            if mode != "plain":
                nlc.instrument()
            if mode == "instrumented+subscriber":
                nemo_flow.subscribers.register("bench", lambda e: None)
            for case, fn in cases.items():
                results[(case, mode)].append(_per_call_us(fn, args.calls))
            nlc.uninstrument()
            nemo_flow.subscribers.deregister("bench")
    print(f"{'case':<20}{'plain us':>10}{'instr. us':>11}{'+sub us':>10}{'overhead':>10}{'+sub ovh':>10}")
    for case in cases:
        plain, inst, sub = (statistics.median(results[(case, m)]) for m in modes)
        print(f"{case:<20}{plain:>10.1f}{inst:>11.1f}{sub:>10.1f}{inst - plain:>10.1f}{sub - plain:>10.1f}")


if __name__ == "__main__":
    main()
