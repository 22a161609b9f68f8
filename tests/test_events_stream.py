"""nemo_flow.events.stream: an async event stream over the subscribers API."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

import nemo_flow
from nemo_flow import ScopeType, events, scope


async def next_event(stream: events.EventStream) -> Any:
    return await asyncio.wait_for(stream.__anext__(), timeout=10)


def names(evts: list[Any]) -> list[tuple[str, str]]:
    return [(e.name, getattr(e, "scope_category", "mark")) for e in evts]


async def test_events_arrive_in_emission_order() -> None:
    async with events.stream() as stream:
        with scope.scope("a", ScopeType.Agent):
            scope.event("m1")
            await nemo_flow.tools.execute("t", {"x": 1}, lambda args: args)
        got = [await next_event(stream) for _ in range(5)]
    assert names(got) == [("a", "start"), ("m1", "mark"), ("t", "start"), ("t", "end"), ("a", "end")]


async def test_root_keeps_one_run_apart_from_another() -> None:
    first = scope.start_detached("first", ScopeType.Agent)
    second = scope.start_detached("second", ScopeType.Agent)
    async with events.stream(root=first) as stream:
        inner = scope.start_detached("inner", ScopeType.Function, parent=first)
        scope.event("noise", handle=second)
        scope.event("deep", handle=inner)
        scope.end_detached(inner)
        scope.end_detached(second)
        scope.end_detached(first)
        got = [await next_event(stream) for _ in range(4)]
    assert names(got) == [("inner", "start"), ("deep", "mark"), ("inner", "end"), ("first", "end")]


async def test_root_by_uuid_string_and_run_root_uuid() -> None:
    with scope.scope("run", ScopeType.Agent) as run:
        root_uuid = run.parent_uuid
        assert root_uuid is not None
        async with events.stream(root=root_uuid, kinds={"mark"}) as stream:
            scope.event("in-run")
            got = await next_event(stream)
    assert got.name == "in-run"


async def test_kinds_filter_by_kind_and_category() -> None:
    async with events.stream(kinds={"tool"}) as tools_only, events.stream(kinds=["mark"]) as marks_only:
        with scope.scope("a", ScopeType.Agent):
            scope.event("m")
            await nemo_flow.tools.execute("t", {}, lambda args: 1)
        assert names([await next_event(tools_only), await next_event(tools_only)]) == [("t", "start"), ("t", "end")]
        assert names([await next_event(marks_only)]) == [("m", "mark")]


async def test_multiple_consumers_each_get_every_event() -> None:
    async with events.stream() as one, events.stream() as two:

        async def collect(s: events.EventStream) -> list[str]:
            return [(await next_event(s)).name for _ in range(3)]

        consumers = [asyncio.create_task(collect(one)), asyncio.create_task(collect(two))]
        await asyncio.sleep(0)
        for n in ("x", "y", "z"):
            scope.event(n)
        assert await asyncio.gather(*consumers) == [["x", "y", "z"], ["x", "y", "z"]]


async def test_slow_consumer_loses_the_oldest_and_says_how_many() -> None:
    async with events.stream(maxsize=3) as stream:
        for i in range(10):
            scope.event(f"e{i}")  # the emitting call never waits for the consumer
        assert stream.dropped == 7
        got = [await next_event(stream) for _ in range(3)]
    assert [e.name for e in got] == ["e7", "e8", "e9"]


async def test_events_from_another_thread_wake_the_consumer() -> None:
    async with events.stream() as stream:
        pending = asyncio.create_task(next_event(stream))
        await asyncio.sleep(0)
        worker = threading.Thread(target=lambda: [scope.event(f"thread-{i}") for i in range(50)])
        worker.start()
        first = await pending
        rest = [await next_event(stream) for _ in range(49)]
        worker.join()
    assert [e.name for e in [first, *rest]] == [f"thread-{i}" for i in range(50)]


async def test_cancelled_consumer_leaves_the_stream_usable_and_exit_deregisters() -> None:
    async with events.stream() as stream:
        waiting = asyncio.create_task(stream.__anext__())
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        scope.event("after-cancel")
        assert (await next_event(stream)).name == "after-cancel"
        name = stream._name
    assert nemo_flow.subscribers.deregister(name) is False  # already gone
    scope.event("after-close")
    assert [e async for e in stream] == []


async def test_closing_ends_a_waiting_iteration() -> None:
    async with events.stream() as stream:

        async def drain() -> list[Any]:
            return [e async for e in stream]

        task = asyncio.create_task(drain())
        await asyncio.sleep(0)
        scope.event("last")
        await asyncio.sleep(0)
        stream.close()
        assert [e.name for e in await asyncio.wait_for(task, 10)] == ["last"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"root": 5}, "root"),
        ({"kinds": "llm"}, "kinds"),
        ({"kinds": []}, "kinds"),
        ({"kinds": [1]}, "kinds"),
        ({"maxsize": 0}, "maxsize"),
        ({"maxsize": True}, "maxsize"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises((TypeError, ValueError), match=match):
        events.stream(**kwargs)


async def test_iterating_outside_async_with_is_refused() -> None:
    with pytest.raises(RuntimeError, match="async with"):
        await events.stream().__anext__()
