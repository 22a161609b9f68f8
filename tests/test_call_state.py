"""Call state the core owns: a managed call fails only while running, and an execution
intercept's own error is wrapped by the core (message and cause)."""

from __future__ import annotations

from typing import Any

import pytest

from nemo_flow import LLMRequest, MiddlewareError, ScopeError, intercepts, tools
from nemo_flow._native import LlmCall, ToolCall


def test_fail_on_a_call_that_is_not_running_is_an_error(events: list[Any]) -> None:
    c = ToolCall("t", {"a": 1})
    with pytest.raises(ScopeError, match="not running"):
        c.fail(ValueError("early"))
    c.begin()
    c.fail(ValueError("once"))
    with pytest.raises(ScopeError, match="not running"):
        c.fail(ValueError("twice"))
    ends = [e for e in events if e.kind == "scope" and e.scope_category == "end"]
    assert [e.error["message"] for e in ends] == ["once"]


def test_fail_on_an_llm_call_that_has_ended_is_an_error() -> None:
    c = LlmCall("m", LLMRequest({}, {}))
    c.begin()
    c.end({"ok": True})
    with pytest.raises(ScopeError, match="not running"):
        c.fail(RuntimeError("late"))


def test_intercept_error_is_the_cores_middleware_error_with_the_cause() -> None:
    cause = KeyError("k")
    err = ToolCall("t", {}).intercept_error("audit", cause)
    assert isinstance(err, MiddlewareError)
    assert str(err) == "tool execution intercept 'audit' failed: KeyError: 'k'"
    assert err.__cause__ is cause


def test_intercept_error_names_the_llm_family_of_the_call() -> None:
    plain = LlmCall("m", LLMRequest({}, {})).intercept_error("x", ValueError("v"))
    stream = LlmCall("m", LLMRequest({}, {}), streaming=True).intercept_error("x", ValueError("v"))
    assert str(plain) == "LLM execution intercept 'x' failed: ValueError: v"
    assert str(stream) == "LLM stream execution intercept 'x' failed: ValueError: v"


async def test_a_python_intercepts_own_error_is_wrapped_once(events: list[Any]) -> None:
    cause = LookupError("inner")

    async def broken(name: str, args: Any, nxt: Any) -> Any:
        raise cause

    async def outer(name: str, args: Any, nxt: Any) -> Any:
        return await nxt(args)

    intercepts.register_tool_execution("outer", 0, outer)
    intercepts.register_tool_execution("broken", 1, broken)

    async def func(args: Any) -> Any:
        return 1

    with pytest.raises(MiddlewareError) as info:
        await tools.execute("t", {}, func)
    assert str(info.value) == "tool execution intercept 'broken' failed: LookupError: inner"
    assert info.value.__cause__ is cause
