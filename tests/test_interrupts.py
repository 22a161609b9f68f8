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


def _stop_on(exc: BaseException, category: str) -> Callable[[Any], None]:
    def subscriber(event: Any) -> None:
        if event.category == "tool" and event.scope_category == category:
            raise exc

    return subscriber


def _run_tool(mode: str, ran: list[Any]) -> None:
    def func(args: Any) -> Any:
        ran.append(args)
        return {"ok": True}

    if mode == "sync":
        tools.execute_sync("t", {"a": 1}, func)
    else:
        asyncio.run(tools.execute("t", {"a": 1}, func))  # type: ignore[arg-type]


def _tool_ends(events: list[Any]) -> list[Any]:
    return [e for e in events if e.category == "tool" and e.scope_category == "end"]


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("exc_type", INTERRUPTS, ids=lambda t: t.__name__)
@pytest.mark.parametrize("where", ["subscriber_start", "subscriber_end", "sanitize_request", "sanitize_response"])
def test_interrupt_in_subscriber_or_sanitizer_propagates_after_one_end_event(
    where: str, mode: str, exc_type: type[BaseException], events: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    from nemo_flow import subscribers

    exc = exc_type("stop now")
    if where == "subscriber_start":
        subscribers.register("stop", _stop_on(exc, "start"))
    elif where == "subscriber_end":
        subscribers.register("stop", _stop_on(exc, "end"))
    elif where == "sanitize_request":
        guardrails.register_tool_sanitize_request("stop", 1, _raiser(exc))
    else:
        guardrails.register_tool_sanitize_response("stop", 1, _raiser(exc))
    ran: list[Any] = []
    with pytest.raises(exc_type) as raised:
        _run_tool(mode, ran)
    assert raised.value is exc
    [end] = _tool_ends(events)
    if where in ("subscriber_start", "sanitize_request"):
        # Interrupted before the callable ran: the end event records the interrupt.
        assert ran == []
        assert end.error == {"type": exc_type.__name__, "message": "stop now"}
    else:
        assert ran == [{"a": 1}]
    assert "stop now" not in caplog.text
    # Nothing is left pending: the next call on this thread runs normally.
    events.clear()
    subscribers.deregister("stop")
    guardrails.deregister_tool_sanitize_request("stop")
    guardrails.deregister_tool_sanitize_response("stop")
    assert tools.execute_sync("t", {"a": 2}, lambda args: args) == {"a": 2}
    assert len(_tool_ends(events)) == 1
