"""Tool call lifecycle: managed (async and sync), manual start/end and the single pipeline steps."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import nemo_flow
from nemo_flow import GuardrailRejected, ScopeError, ScopeType, ToolAttributes, guardrails, intercepts, scope, tools


def named(events: list[Any], name: str) -> list[Any]:
    return [e for e in events if e.name == name]


def start_end(events: list[Any], name: str) -> tuple[Any, Any]:
    evs = [e for e in named(events, name) if e.kind == "scope"]
    assert [e.scope_category for e in evs] == ["start", "end"], [e.to_json() for e in evs]
    return evs[0], evs[1]


# --- tools.execute -----------------------------------------------------------------------------


async def test_execute_sync_callable_returns_raw_result_and_emits_pair(events: list[Any]) -> None:
    seen: list[Any] = []

    def impl(args: Any) -> Any:
        seen.append(args)
        return {"echo": args["q"], "n": [1, 2]}

    result = await tools.execute("search", {"q": "hello"}, impl, metadata={"m": 1})
    assert result == {"echo": "hello", "n": [1, 2]}
    assert seen == [{"q": "hello"}]
    start, end = start_end(events, "search")
    assert start.category == "tool" and end.category == "tool"
    assert start.uuid == end.uuid
    assert start.data == {"q": "hello"}
    assert end.data == {"echo": "hello", "n": [1, 2]}
    assert start.category_profile == {} and end.category_profile == {}
    assert start.metadata == {"m": 1} and end.metadata == {"m": 1}
    assert end.error is None
    assert start.parent_uuid == scope.get_handle().uuid


async def test_execute_async_callable(events: list[Any]) -> None:
    async def impl(args: Any) -> Any:
        await asyncio.sleep(0)
        return {"doubled": args["x"] * 2}

    assert await tools.execute("double", {"x": 21}, impl) == {"doubled": 42}
    _, end = start_end(events, "double")
    assert end.data == {"doubled": 42}


async def test_execute_returns_the_same_object_not_a_copy() -> None:
    marker = {"k": [1]}
    assert await tools.execute("same", {}, lambda _a: marker) is marker


async def test_execute_parent_is_captured_when_called_not_when_awaited(events: list[Any]) -> None:
    with scope.scope("A", ScopeType.Agent) as a:
        pending = tools.execute("late", {"x": 1}, lambda args: args)
    with scope.scope("B", ScopeType.Agent) as b:
        assert await pending == {"x": 1}
    start, end = start_end(events, "late")
    assert start.parent_uuid == a.uuid
    assert end.parent_uuid == a.uuid
    assert start.parent_uuid != b.uuid


async def test_execute_inside_scope_nests_under_it(events: list[Any]) -> None:
    with scope.scope("agent", ScopeType.Agent) as a:
        await tools.execute("t", {}, lambda _a: 1)
    start, _ = start_end(events, "t")
    assert start.parent_uuid == a.uuid
    assert start.root_uuid == a.root_uuid


async def test_execute_handle_parameter_sets_parent(events: list[Any]) -> None:
    with scope.scope("outer", ScopeType.Agent) as outer, scope.scope("inner", ScopeType.Function):
        await tools.execute("t", {}, lambda _a: 1, handle=outer)
    start, end = start_end(events, "t")
    assert start.parent_uuid == outer.uuid == end.parent_uuid


async def test_execute_attributes_are_recorded(events: list[Any]) -> None:
    await tools.execute("remote", {}, lambda _a: 1, attributes=ToolAttributes(ToolAttributes.REMOTE))
    start, end = start_end(events, "remote")
    assert start.attributes == ["remote"] and end.attributes == ["remote"]
    await tools.execute("local", {}, lambda _a: 1)
    start, _ = start_end(events, "local")
    assert start.attributes == []


async def test_execute_data_used_when_result_is_none(events: list[Any]) -> None:
    assert await tools.execute("t", {}, lambda _a: None, data={"app": 1}) is None
    _, end = start_end(events, "t")
    assert end.data == {"app": 1}


async def test_execute_callable_exception_keeps_type_and_end_event_records_it(events: list[Any]) -> None:
    err = ValueError("bad input")

    async def impl(_args: Any) -> Any:
        raise err

    with pytest.raises(ValueError) as info:
        await tools.execute("boom", {"a": 1}, impl, data={"app": 2})
    assert info.value is err
    _, end = start_end(events, "boom")
    assert end.error == {"type": "ValueError", "message": "bad input"}
    assert end.data == {"app": 2}


async def test_execute_result_that_is_not_json_is_returned_and_noted(events: list[Any]) -> None:
    obj = object()
    assert await tools.execute("opaque", {}, lambda _a: obj) is obj
    _, end = start_end(events, "opaque")
    assert isinstance(end.data, str)
    assert end.data.startswith("[not recorded: ")
    assert end.error is None


async def test_execute_without_subscribers_still_runs() -> None:
    assert await tools.execute("quiet", {"v": 1}, lambda a: a["v"] + 1) == 2


async def test_execute_non_json_args_rejected_before_the_call() -> None:
    called: list[Any] = []
    with pytest.raises((TypeError, ValueError)):
        await tools.execute("bad", {"x": object()}, called.append)
    assert called == []


async def test_execute_passes_callers_args_object_when_nothing_rewrites_it() -> None:
    args = {"a": [1]}
    received: list[Any] = []
    await tools.execute("t", args, received.append)
    assert received[0] is args


async def test_events_are_snapshots_unaffected_by_later_mutation(events: list[Any]) -> None:
    args = {"items": [1]}
    result = {"out": [1]}

    def impl(a: Any) -> Any:
        a["items"].append(2)  # the callable mutates its arguments in place
        return result

    await tools.execute("t", args, impl)
    result["out"].append(2)
    args["items"].append(3)
    start, end = start_end(events, "t")
    assert start.data == {"items": [1]}
    assert end.data == {"out": [1]}
    start.data["items"].append(99)  # a subscriber mutating its view does not change the event
    assert '"items":[1]' in start.to_json()


# --- tools.execute_sync --------------------------------------------------------------------------


def test_execute_sync_runs_without_event_loop(events: list[Any]) -> None:
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()
    assert tools.execute_sync("s", {"a": 1}, lambda a: {"got": a["a"]}) == {"got": 1}
    start, end = start_end(events, "s")
    assert start.data == {"a": 1}
    assert end.data == {"got": 1}


def test_execute_sync_async_callable_is_type_error_with_end_event(events: list[Any]) -> None:
    ran: list[int] = []

    async def impl(_args: Any) -> Any:
        ran.append(1)
        return 1

    with pytest.raises(TypeError):
        tools.execute_sync("s", {}, impl)
    assert ran == []  # the coroutine was closed, never run
    _, end = start_end(events, "s")
    assert end.error is not None
    assert end.error["type"] == "TypeError"


def test_execute_sync_exception_passes_through(events: list[Any]) -> None:
    class Custom(Exception):
        pass

    def impl(_args: Any) -> Any:
        raise Custom("x")

    with pytest.raises(Custom):
        tools.execute_sync("s", {}, impl)
    _, end = start_end(events, "s")
    assert end.error == {"type": "Custom", "message": "x"}


def test_execute_sync_runs_execution_intercepts() -> None:
    log: list[str] = []

    def wrap(name: str, args: Any, nxt: Any) -> Any:
        log.append(f"before {name}")
        r = nxt({**args, "extra": True})
        log.append("after")
        return r

    intercepts.register_tool_execution("wrap", 1, wrap)
    assert tools.execute_sync("s", {"a": 1}, lambda a: a) == {"a": 1, "extra": True}
    assert log == ["before s", "after"]


# --- manual tools.call / call_end ---------------------------------------------------------------


def test_manual_call_records_tool_call_id_and_merges_metadata(events: list[Any]) -> None:
    h = tools.call("manual", {"a": 1}, tool_call_id="call_1", metadata={"x": 1, "y": 2}, data={"app": 0})
    assert isinstance(h, nemo_flow.ToolHandle)
    assert h.name == "manual"
    tools.call_end(h, {"ok": True}, metadata={"y": 3, "z": 4})
    start, end = start_end(events, "manual")
    assert start.uuid == h.uuid == end.uuid
    assert start.category_profile == {"tool_call_id": "call_1"}
    assert end.category_profile == {"tool_call_id": "call_1"}
    assert start.data == {"a": 1}
    assert end.data == {"ok": True}
    assert start.metadata == {"x": 1, "y": 2}
    assert end.metadata == {"x": 1, "y": 3, "z": 4}


def test_manual_call_end_uses_data_when_result_is_none(events: list[Any]) -> None:
    h = tools.call("manual", {})
    tools.call_end(h, None, data={"fallback": 1})
    _, end = start_end(events, "manual")
    assert end.data == {"fallback": 1}


def test_manual_call_end_result_wins_over_data(events: list[Any]) -> None:
    h = tools.call("manual", {})
    tools.call_end(h, {"r": 1}, data={"fallback": 1})
    _, end = start_end(events, "manual")
    assert end.data == {"r": 1}


def test_manual_call_ending_twice_is_scope_error(events: list[Any]) -> None:
    h = tools.call("manual", {})
    tools.call_end(h, 1)
    with pytest.raises(ScopeError):
        tools.call_end(h, 2)
    assert len([e for e in named(events, "manual") if e.scope_category == "end"]) == 1


def test_manual_call_runs_only_sanitizers(events: list[Any]) -> None:
    log: list[str] = []
    guardrails.register_tool_conditional_execution("deny", 1, lambda n, a: log.append("cond") or "no")
    intercepts.register_tool_request("req", 1, False, lambda n, a: log.append("req") or a)
    guardrails.register_tool_sanitize_request("sreq", 1, lambda n, a: {**a, "secret": "***"})
    guardrails.register_tool_sanitize_response("sresp", 1, lambda n, r: {"sanitized": True})
    h = tools.call("manual", {"secret": "s3cr3t"})
    tools.call_end(h, {"raw": 1})
    assert log == []
    start, end = start_end(events, "manual")
    assert start.data == {"secret": "***"}
    assert end.data == {"sanitized": True}
    assert [e.category for e in events] == ["tool", "tool"]


def test_manual_call_handle_parameter_sets_parent(events: list[Any]) -> None:
    with scope.scope("outer", ScopeType.Agent) as outer, scope.scope("inner", ScopeType.Agent):
        h = tools.call("manual", {}, handle=outer)
        tools.call_end(h, 1)
    start, _ = start_end(events, "manual")
    assert start.parent_uuid == outer.uuid


def test_manual_call_end_rejects_wrong_handle_type() -> None:
    with pytest.raises(TypeError):
        tools.call_end("not a handle", 1)


# --- single pipeline steps ----------------------------------------------------------------------


def test_request_intercepts_runs_chain_and_emits_nothing(events: list[Any]) -> None:
    intercepts.register_tool_request("a", 1, False, lambda n, args: {**args, "a": n})
    intercepts.register_tool_request("b", 2, False, lambda n, args: {**args, "b": args["a"] + "!"})
    guardrails.register_tool_conditional_execution("never", 1, lambda n, a: "rejected")
    assert tools.request_intercepts("t", {"x": 1}) == {"x": 1, "a": "t", "b": "t!"}
    assert events == []


def test_request_intercepts_include_visible_scope_local(events: list[Any]) -> None:
    intercepts.register_tool_request("g", 5, False, lambda n, args: {**args, "trail": [*args["trail"], "g"]})
    with scope.scope("s", ScopeType.Agent) as s:
        nemo_flow.scope_local.register_tool_request(
            s, "l", 1, False, lambda n, args: {**args, "trail": [*args["trail"], "l"]}
        )
        assert tools.request_intercepts("t", {"trail": []}) == {"trail": ["l", "g"]}
    assert tools.request_intercepts("t", {"trail": []}) == {"trail": ["g"]}
    assert [e for e in events if e.name == "t"] == []


def test_request_intercept_error_in_single_step_is_middleware_error() -> None:
    err = ValueError("x")

    def broken(n: str, a: Any) -> Any:
        raise err

    intercepts.register_tool_request("broken", 1, False, broken)
    with pytest.raises(nemo_flow.MiddlewareError) as info:
        tools.request_intercepts("t", {})
    assert info.value.__cause__ is err


def test_request_intercepts_without_registrations_returns_args() -> None:
    assert tools.request_intercepts("t", {"x": 1}) == {"x": 1}


def test_conditional_execution_allowed_emits_guardrail_pair_only(events: list[Any]) -> None:
    guardrails.register_tool_conditional_execution("ok", 1, lambda n, a: None)
    assert tools.conditional_execution("t", {"x": 1}) is None
    assert [(e.kind, e.name, e.scope_category) for e in events] == [
        ("scope", "ok", "start"),
        ("scope", "ok", "end"),
    ]
    assert events[0].category == "guardrail"
    assert events[0].data == {"kind": "tool_conditional_execution", "target_name": "t"}
    assert events[1].data == {"allowed": True, "rejected": False}


def test_conditional_execution_rejection_raises_without_mark(events: list[Any]) -> None:
    guardrails.register_tool_conditional_execution("deny", 1, lambda n, a: "bad query")
    with pytest.raises(GuardrailRejected) as info:
        tools.conditional_execution("t", {"x": 1})
    assert str(info.value).startswith("guardrail rejected: ")
    assert "bad query" in str(info.value)
    assert [e.kind for e in events] == ["scope", "scope"]
    assert events[1].data == {"allowed": False, "rejected": True, "rejection_reason": "bad query"}
    assert not any(e.kind == "mark" for e in events)


def test_conditional_execution_no_guardrails_is_silent(events: list[Any]) -> None:
    tools.conditional_execution("t", {})
    assert events == []
