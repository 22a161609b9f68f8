"""`scope.scope(...)` under `async with`, and `scope.current()`."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from nemo_flow import ScopeError, ScopeHandle, ScopeType, scope, tools


def scope_events(events: list[Any], name: str) -> list[Any]:
    return [e for e in events if e.kind == "scope" and e.name == name]


async def test_async_with_pushes_and_pops_like_with(events: list[Any]) -> None:
    root = scope.current()
    async with scope.scope("agent", ScopeType.Agent, input={"goal": "g"}, data={"d": 1}) as h:
        assert isinstance(h, ScopeHandle)
        assert scope.current() == h
        assert h.parent_uuid == root.uuid
        await tools.execute("t", {}, lambda _a: 1)
    assert scope.current() == root
    assert h.ended
    start, end = scope_events(events, "agent")
    assert (start.scope_category, end.scope_category) == ("start", "end")
    assert start.data == {"goal": "g"} and start.category == "agent"
    assert end.error is None
    (tool_start,) = [e for e in scope_events(events, "t") if e.scope_category == "start"]
    assert tool_start.parent_uuid == h.uuid


async def test_async_with_records_the_exception_and_lets_it_through(events: list[Any]) -> None:
    boom = KeyError("k")
    with pytest.raises(KeyError) as info:
        async with scope.scope("failing", ScopeType.Function):
            raise boom
    assert info.value is boom
    _, end = scope_events(events, "failing")
    assert end.error == {"type": "KeyError", "message": "'k'"}
    assert scope.current().name == "root"


async def test_sync_and_async_with_nest_under_each_other(events: list[Any]) -> None:
    async with scope.scope("outer", ScopeType.Agent) as outer:
        with scope.scope("middle", ScopeType.Function) as middle:
            async with scope.scope("inner", ScopeType.Tool) as inner:
                assert scope.current() == inner
            assert scope.current() == middle
        assert scope.current() == outer
    assert middle.parent_uuid == outer.uuid and inner.parent_uuid == middle.uuid
    assert [(e.name, e.scope_category) for e in events] == [
        ("outer", "start"),
        ("middle", "start"),
        ("inner", "start"),
        ("inner", "end"),
        ("middle", "end"),
        ("outer", "end"),
    ]


async def test_concurrent_tasks_each_nest_under_their_own_async_with(events: list[Any]) -> None:
    async def task(i: int) -> tuple[str, str]:
        async with scope.scope(f"task-{i}", ScopeType.Agent) as h:
            await asyncio.sleep(0)  # interleave the tasks inside their scopes
            async with scope.scope(f"child-{i}", ScopeType.Function) as c:
                await asyncio.sleep(0)
                assert scope.current() == c
            return h.uuid, c.parent_uuid or ""

    async with scope.scope("parent", ScopeType.Agent) as parent:
        pairs = await asyncio.gather(*(task(i) for i in range(20)))
    assert all(h == c for h, c in pairs)
    starts = {e.name: e for e in events if e.kind == "scope" and e.scope_category == "start"}
    assert all(starts[f"task-{i}"].parent_uuid == parent.uuid for i in range(20))


async def test_a_scope_context_is_entered_once() -> None:
    cm = scope.scope("once", ScopeType.Function)
    async with cm:
        pass
    with pytest.raises(ScopeError, match="entered only once"):
        async with cm:
            pass


def test_bad_arguments_fail_at_construction_for_async_use_too() -> None:
    with pytest.raises(ValueError, match="scope_type"):
        scope.scope("s", "robot")
    with pytest.raises(TypeError, match="name"):
        scope.scope(3, ScopeType.Agent)  # type: ignore[arg-type]


def test_current_is_the_root_outside_any_scope_and_the_innermost_inside() -> None:
    root = scope.current()
    assert root.name == "root" and root.parent_uuid is None
    assert scope.current() == root == scope.get_handle()
    with scope.scope("a", ScopeType.Agent) as a:
        assert scope.current() == a
        h = scope.push("b", ScopeType.Function)
        assert scope.current() == h
        scope.pop(h)
        assert scope.current() == a
    assert scope.current() == root
