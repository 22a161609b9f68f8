"""Execution intercepts written in Rust (`Execution::Native`) under the Python driver: they run
in priority order with Python intercepts, for tools and LLM calls, sync and async; `next` may
be called, skipped or repeated; errors keep the pipeline's wrapping rules. The Rust intercepts
come from the test-only hook `_native._register_test_intercept`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from nemo_flow import LLMRequest, MiddlewareError, intercepts, llm, tools
from nemo_flow._native import _register_test_intercept


def tool_ends(events: list[Any]) -> list[Any]:
    return [e for e in events if e.kind == "scope" and e.scope_category == "end" and e.name == "t"]


def python_tagger(tag: str, seen: list[Any]) -> Callable[..., Any]:
    """A Python tool execution intercept that records what it sees and tags the result."""

    async def intercept(name: str, args: Any, nxt: Callable[[Any], Any]) -> Any:
        seen.append((tag, dict(args)))
        return {tag: await nxt({**args, tag: True})}

    return intercept


async def echo(args: Any) -> Any:
    return {"echo": args}


def echo_sync(args: Any) -> Any:
    return {"echo": args}


async def test_native_tool_intercept_wraps_the_call(events: list[Any]) -> None:
    _register_test_intercept("tool_execution", "n1", 0, "wrap")
    out = await tools.execute("t", {"q": 1}, echo)
    assert out == {"wrapped_by": "n1", "inner": {"echo": {"q": 1, "native": "n1"}}}
    (end,) = tool_ends(events)
    assert end.data == out and end.error is None


def test_native_tool_intercept_under_the_sync_driver(events: list[Any]) -> None:
    _register_test_intercept("tool_execution", "n1", 0, "wrap")
    out = tools.execute_sync("t", {"q": 1}, echo_sync)
    assert out == {"wrapped_by": "n1", "inner": {"echo": {"q": 1, "native": "n1"}}}
    assert tool_ends(events)[0].data == out


async def test_native_and_python_intercepts_run_in_priority_order() -> None:
    seen: list[Any] = []
    intercepts.register_tool_execution("outer", 0, python_tagger("outer", seen))
    _register_test_intercept("tool_execution", "middle", 1, "wrap")
    intercepts.register_tool_execution("inner", 2, python_tagger("inner", seen))
    out = await tools.execute("t", {"q": 1}, echo)
    assert seen == [("outer", {"q": 1}), ("inner", {"q": 1, "outer": True, "native": "middle"})]
    assert out == {
        "outer": {
            "wrapped_by": "middle",
            "inner": {"inner": {"echo": {"q": 1, "outer": True, "native": "middle", "inner": True}}},
        }
    }


def test_sync_order_with_a_native_intercept_outermost() -> None:
    seen: list[Any] = []

    def inner(name: str, args: Any, nxt: Callable[[Any], Any]) -> Any:
        seen.append(dict(args))
        return nxt(args)

    _register_test_intercept("tool_execution", "outer", -5, "wrap")
    intercepts.register_tool_execution("inner", 5, inner)
    out = tools.execute_sync("t", {"q": 1}, echo_sync)
    assert seen == [{"q": 1, "native": "outer"}]
    assert out["wrapped_by"] == "outer"


async def test_a_passing_native_intercept_hands_back_the_original_object() -> None:
    _register_test_intercept("tool_execution", "pass", 0, "pass")
    result = {"deep": [1, 2]}

    async def func(args: Any) -> Any:
        return result

    assert await tools.execute("t", {}, func) is result


async def test_a_native_intercept_may_skip_next(events: list[Any]) -> None:
    _register_test_intercept("tool_execution", "cache", 0, "short")
    called: list[Any] = []

    async def func(args: Any) -> Any:
        called.append(args)
        return 1

    assert await tools.execute("t", {}, func) == {"short_circuit": "cache"}
    assert called == []
    assert tool_ends(events)[0].data == {"short_circuit": "cache"}


@pytest.mark.parametrize("sync", [False, True])
async def test_a_native_intercepts_own_error_is_a_middleware_error_passed_through_python_ones(
    sync: bool, events: list[Any]
) -> None:
    seen: list[BaseException] = []

    def outer(name: str, args: Any, nxt: Callable[[Any], Any]) -> Any:
        try:
            return nxt(args)
        except BaseException as exc:
            seen.append(exc)
            raise

    async def outer_async(name: str, args: Any, nxt: Callable[[Any], Any]) -> Any:
        try:
            return await nxt(args)
        except BaseException as exc:
            seen.append(exc)
            raise

    intercepts.register_tool_execution("outer", 0, outer if sync else outer_async)
    _register_test_intercept("tool_execution", "policy", 1, "fail")
    with pytest.raises(MiddlewareError) as info:
        if sync:
            tools.execute_sync("t", {}, echo_sync)
        else:
            await tools.execute("t", {}, echo)
    assert str(info.value) == "tool execution intercept 'policy' failed: PolicyDenied: blocked by policy"
    assert seen == [info.value]
    (end,) = tool_ends(events)
    assert end.error is not None and end.error["type"] == "MiddlewareError"


@pytest.mark.parametrize("sync", [False, True])
async def test_the_callables_error_passes_through_a_native_intercept_unchanged(sync: bool) -> None:
    _register_test_intercept("tool_execution", "n", 0, "wrap")
    err = ConnectionError("down")

    def func(args: Any) -> Any:
        raise err

    with pytest.raises(ConnectionError) as info:
        if sync:
            tools.execute_sync("t", {}, func)
        else:
            await tools.execute("t", {}, func)
    assert info.value is err


async def test_a_native_intercept_may_call_next_again_after_an_error() -> None:
    _register_test_intercept("tool_execution", "retry", 0, "retry")
    attempts: list[int] = []

    async def flaky(args: Any) -> Any:
        attempts.append(1)
        if len(attempts) == 1:
            raise TimeoutError("first")
        return "ok"

    assert await tools.execute("t", {}, flaky) == "ok"
    assert len(attempts) == 2


def test_a_native_intercept_may_call_next_twice() -> None:
    _register_test_intercept("tool_execution", "twice", 0, "twice")
    calls: list[Any] = []

    def func(args: Any) -> Any:
        calls.append(args)
        return len(calls)

    assert tools.execute_sync("t", {"a": 1}, func) == [1, 2]
    assert calls == [{"a": 1}, {"a": 1}]


async def test_a_native_intercept_woken_from_another_thread_async() -> None:
    _register_test_intercept("tool_execution", "waits", 0, "wait")
    assert await tools.execute("t", {"a": 1}, echo) == {"echo": {"a": 1}}


def test_a_native_intercept_woken_from_another_thread_sync() -> None:
    _register_test_intercept("tool_execution", "waits", 0, "wait")
    assert tools.execute_sync("t", {"a": 1}, echo_sync) == {"echo": {"a": 1}}


def request() -> LLMRequest:
    return LLMRequest({"h": "1"}, {"messages": []})


async def test_native_llm_intercept_edits_the_request_and_wraps_the_response(events: list[Any]) -> None:
    _register_test_intercept("llm_execution", "n1", 0, "wrap")
    seen: list[Any] = []

    async def call(req: LLMRequest) -> Any:
        seen.append(dict(req.headers))
        return {"text": "hi"}

    out = await llm.execute("m", request(), call)
    assert seen == [{"h": "1", "x-native": "n1"}]
    assert out == {"wrapped_by": "n1", "inner": {"text": "hi"}}
    (end,) = [e for e in events if e.kind == "scope" and e.scope_category == "end" and e.name == "m"]
    assert end.data == out


def test_native_llm_intercepts_with_python_ones_sync() -> None:
    order: list[str] = []

    def py_outer(name: str, req: LLMRequest, nxt: Callable[[LLMRequest], Any]) -> Any:
        order.append("python")
        return nxt(req)

    intercepts.register_llm_execution("py", 0, py_outer)
    _register_test_intercept("llm_execution", "short", 1, "short")
    out = llm.execute_sync("m", request(), lambda r: order.append("func"))
    assert out == {"short_circuit": "short"}
    assert order == ["python"]


def test_the_test_hook_refuses_bad_input_and_registers_nothing() -> None:
    with pytest.raises(ValueError, match="unknown test mode"):
        _register_test_intercept("tool_execution", "x", 0, "nope")
    with pytest.raises(ValueError, match="unknown test mode"):
        _register_test_intercept("tool_sanitize_request", "x", 0, "wrap")
    assert tools.execute_sync("t", {"a": 1}, echo_sync) == {"echo": {"a": 1}}
