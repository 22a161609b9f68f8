"""Ctrl-C, sys.exit and cancellation raised inside a conditional guardrail or a request
intercept interrupt the call: the caller gets the very exception, never a MiddlewareError,
and the callable does not run."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from nemo_flow import LLMRequest, guardrails, intercepts, llm, tools

INTERRUPTS: list[type[BaseException]] = [KeyboardInterrupt, SystemExit, asyncio.CancelledError]


def _raiser(exc: BaseException) -> Callable[..., Any]:
    def callback(*args: Any) -> Any:
        raise exc

    return callback


def _register(kind: str, exc: BaseException) -> None:
    cb = _raiser(exc)
    if kind == "tool_conditional":
        guardrails.register_tool_conditional_execution("stop", 1, cb)
    elif kind == "tool_request":
        intercepts.register_tool_request("stop", 1, False, cb)
    elif kind == "llm_conditional":
        guardrails.register_llm_conditional_execution("stop", 1, cb)
    else:
        intercepts.register_llm_request("stop", 1, False, cb)


KINDS = ["tool_conditional", "tool_request", "llm_conditional", "llm_request"]


def _call(kind: str, ran: list[Any], mode: str) -> None:
    def func(arg: Any) -> Any:
        ran.append(arg)
        return {}

    if kind.startswith("tool"):
        if mode == "sync":
            tools.execute_sync("t", {"a": 1}, func)
        else:
            asyncio.run(tools.execute("t", {"a": 1}, func))  # type: ignore[arg-type]
    else:
        request = LLMRequest({}, {"messages": []})
        if mode == "sync":
            llm.execute_sync("m", request, func)
        else:

            async def main() -> None:
                await llm.execute("m", request, func)

            asyncio.run(main())


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("exc_type", INTERRUPTS, ids=lambda t: t.__name__)
def test_interrupt_in_guardrail_or_request_intercept_propagates_unchanged(
    kind: str, mode: str, exc_type: type[BaseException], events: list[Any]
) -> None:
    exc = exc_type("stop now")
    _register(kind, exc)
    ran: list[Any] = []
    with pytest.raises(exc_type) as raised:
        _call(kind, ran, mode)
    assert raised.value is exc
    assert ran == []
    # No call span was opened, so none is left without its end event.
    starts = [e for e in events if e.scope_category == "start" and e.category in ("tool", "llm")]
    assert starts == []
