"""Scopes: push/pop, the scope() context manager, marks, the implicit root, attributes,
timestamps, detached scopes, pop misuse, and the ScopeStack helpers of seed 000."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import nemo_flow
import nemo_flow.utils
from nemo_flow import (
    LLMAttributes,
    NemoFlowError,
    ScopeAttributes,
    ScopeError,
    ScopeHandle,
    ScopeType,
    ToolAttributes,
    scope,
)

UTC = dt.UTC

ALL_SCOPE_TYPES = [
    (ScopeType.Agent, "agent"),
    (ScopeType.Function, "function"),
    (ScopeType.Tool, "tool"),
    (ScopeType.Llm, "llm"),
    (ScopeType.Retriever, "retriever"),
    (ScopeType.Embedder, "embedder"),
    (ScopeType.Reranker, "reranker"),
    (ScopeType.Guardrail, "guardrail"),
    (ScopeType.Evaluator, "evaluator"),
    (ScopeType.Custom, "custom"),
    (ScopeType.Unknown, "unknown"),
]


def summary(events: list[Any]) -> list[tuple[str, str]]:
    return [(e.name, getattr(e, "scope_category", "mark")) for e in events]


# --- the implicit root -------------------------------------------------------------------


def test_root_handle_is_implicit_and_never_emits(events: list[Any]) -> None:
    root = scope.get_handle()
    assert isinstance(root, ScopeHandle)
    assert root.name == "root"
    assert root.scope_type == ScopeType.Agent
    assert root.parent_uuid is None
    assert root.root_uuid == root.uuid
    assert events == []
    # Asking again gives the same root, not a fresh one.
    assert scope.get_handle().uuid == root.uuid


def test_top_level_scope_is_parented_to_the_root(events: list[Any]) -> None:
    root = scope.get_handle()
    h = scope.push("top", ScopeType.Agent)
    assert h.parent_uuid == root.uuid
    scope.pop(h)
    assert summary(events) == [("top", "start"), ("top", "end")]
    assert all(e.parent_uuid == root.uuid for e in events)
    # The root itself never appears as an event.
    assert root.uuid not in {e.uuid for e in events}
    assert scope.get_handle().uuid == root.uuid


# --- push / pop / get_handle -------------------------------------------------------------


def test_push_pop_nesting_and_get_handle(events: list[Any]) -> None:
    a = scope.push("a", ScopeType.Agent)
    assert scope.get_handle() == a
    b = scope.push("b", ScopeType.Function)
    assert scope.get_handle() == b
    assert b.parent_uuid == a.uuid
    assert b.root_uuid == a.root_uuid
    scope.pop(b)
    assert scope.get_handle() == a
    assert b.ended and not a.ended
    scope.pop(a)
    assert scope.get_handle().name == "root"
    assert summary(events) == [("a", "start"), ("b", "start"), ("b", "end"), ("a", "end")]
    assert events[1].parent_uuid == a.uuid
    assert events[0].uuid == events[3].uuid == a.uuid


def test_handle_properties(events: list[Any]) -> None:
    h = scope.push(
        "props",
        ScopeType.Retriever,
        attributes=ScopeAttributes.PARALLEL,
        data={"kept": True},
        metadata={"m": 1},
    )
    try:
        assert h.name == "props"
        assert h.scope_type == ScopeType.Retriever
        assert h.attributes == ScopeAttributes(ScopeAttributes.PARALLEL)
        assert h.attributes.is_parallel and not h.attributes.is_relocatable
        assert h.data == {"kept": True}
        assert h.metadata == {"m": 1}
        assert h.uuid != h.parent_uuid
    finally:
        scope.pop(h)


def test_handle_data_is_a_copy() -> None:
    h = scope.push("copy", ScopeType.Agent, data={"k": [1]})
    h.data["k"].append(2)
    assert h.data == {"k": [1]}
    scope.pop(h)


@pytest.mark.parametrize(("scope_type", "category"), ALL_SCOPE_TYPES)
def test_every_scope_type_maps_to_its_category(events: list[Any], scope_type: ScopeType, category: str) -> None:
    with scope.scope(f"s-{category}", scope_type) as h:
        assert h.scope_type == scope_type
    assert [e.category for e in events] == [category, category]
    assert [e.scope_category for e in events] == ["start", "end"]


def test_all_eleven_scope_types_exist_and_are_distinct() -> None:
    members = {t for t, _ in ALL_SCOPE_TYPES}
    assert len(members) == 11


@pytest.mark.parametrize("name", ["agent", "Agent", "LLM", "retriever"])
def test_scope_type_accepts_its_name(events: list[Any], name: str) -> None:
    h = scope.push("named", name)
    scope.pop(h)
    assert events[0].category == name.lower()


def test_push_input_data_metadata_and_pop_output(events: list[Any]) -> None:
    h = scope.push(
        "agent1",
        ScopeType.Agent,
        data={"on_handle": 1},
        input={"in": 1},
        metadata={"m": 1},
    )
    assert h.data == {"on_handle": 1}
    scope.pop(h, output={"o": 1})
    start, end = events
    # input is the start event's data; data stays on the handle and is never emitted.
    assert start.data == {"in": 1}
    assert end.data == {"o": 1}
    assert start.metadata == {"m": 1}
    assert end.metadata == {"m": 1}
    for e in events:
        assert e.to_dict()["data"] != {"on_handle": 1}


def test_push_without_payloads_emits_nulls(events: list[Any]) -> None:
    h = scope.push("bare", ScopeType.Function)
    scope.pop(h)
    for e in events:
        assert e.data is None
        assert e.metadata is None
        assert e.attributes == []
        assert e.category_profile is None


# --- attributes ---------------------------------------------------------------------------


def test_scope_attributes_flags_and_operators() -> None:
    assert ScopeAttributes.PARALLEL == 1
    assert ScopeAttributes.RELOCATABLE == 2
    both = ScopeAttributes(ScopeAttributes.PARALLEL) | ScopeAttributes.RELOCATABLE
    assert both.value == 3
    assert both.is_parallel and both.is_relocatable
    only = both & ScopeAttributes(ScopeAttributes.RELOCATABLE)
    assert only.value == 2
    assert not only.is_parallel and only.is_relocatable
    assert ScopeAttributes().value == 0
    assert not ScopeAttributes().is_parallel
    assert ScopeAttributes(3) == both
    assert int(both) == 3


def test_tool_and_llm_attributes() -> None:
    assert ToolAttributes.REMOTE == 1
    assert ToolAttributes(ToolAttributes.REMOTE).is_remote
    assert not ToolAttributes().is_remote
    assert LLMAttributes.STATEFUL == 1
    assert LLMAttributes.STREAMING == 2
    a = LLMAttributes(LLMAttributes.STATEFUL) | LLMAttributes.STREAMING
    assert a.value == 3 and a.is_stateful and a.is_streaming
    b = a & LLMAttributes.STREAMING
    assert b.value == 2 and not b.is_stateful and b.is_streaming


def test_attribute_labels_in_events_are_sorted(events: list[Any]) -> None:
    attrs = ScopeAttributes(ScopeAttributes.RELOCATABLE) | ScopeAttributes.PARALLEL
    with scope.scope("flags", ScopeType.Agent, attributes=attrs):
        pass
    assert [e.attributes for e in events] == [["parallel", "relocatable"]] * 2
    # An int mask is accepted too.
    events.clear()
    with scope.scope("flags", ScopeType.Agent, attributes=2):
        pass
    assert events[0].attributes == ["relocatable"]


def test_tool_and_llm_attribute_labels(events: list[Any]) -> None:
    th = nemo_flow.tools.call("t", {}, attributes=ToolAttributes(ToolAttributes.REMOTE))
    nemo_flow.tools.call_end(th, {"ok": True})
    req = nemo_flow.LLMRequest({}, {"messages": []})
    lh = nemo_flow.llm.call("m", req, attributes=LLMAttributes(LLMAttributes.STREAMING) | LLMAttributes.STATEFUL)
    nemo_flow.llm.call_end(lh, {"ok": True})
    assert [e.attributes for e in events] == [
        ["remote"],
        ["remote"],
        ["stateful", "streaming"],
        ["stateful", "streaming"],
    ]


# --- scope() context manager --------------------------------------------------------------


def test_scope_context_manager_pushes_and_pops(events: list[Any]) -> None:
    with scope.scope("cm", ScopeType.Agent, input={"i": 1}, metadata={"m": 2}) as h:
        assert scope.get_handle() == h
        scope.event("inside")
    assert scope.get_handle().name == "root"
    assert summary(events) == [("cm", "start"), ("inside", "mark"), ("cm", "end")]
    assert events[0].data == {"i": 1}
    assert events[2].data is None
    assert events[0].metadata == events[2].metadata == {"m": 2}
    assert events[1].parent_uuid == h.uuid
    assert events[2].error is None


class _Boom(Exception):
    pass


def test_exception_leaving_scope_is_recorded_and_reraised_unchanged(events: list[Any]) -> None:
    original = _Boom("it broke")
    with pytest.raises(_Boom) as info, scope.scope("failing", ScopeType.Agent):
        raise original
    assert info.value is original
    assert summary(events) == [("failing", "start"), ("failing", "end")]
    assert events[0].error is None
    assert events[1].error == {"type": "_Boom", "message": "it broke"}
    assert events[1].to_dict()["error"] == {"type": "_Boom", "message": "it broke"}
    assert scope.get_handle().name == "root"


def test_scope_context_manager_cannot_be_entered_twice() -> None:
    cm = scope.scope("once", ScopeType.Agent)
    with cm:
        pass
    with pytest.raises(ScopeError), cm:
        pass


def test_scope_exit_with_inner_scope_left_open_raises(events: list[Any]) -> None:
    with pytest.raises(ScopeError, match="not at the top"), scope.scope("outer", ScopeType.Agent):
        inner = scope.push("inner", ScopeType.Function)
    # Nothing was closed; the inner scope is still current and can be unwound in order.
    assert scope.get_handle() == inner
    scope.pop(inner)
    outer = scope.get_handle()
    assert outer.name == "outer"
    scope.pop(outer)
    assert summary(events) == [("outer", "start"), ("inner", "start"), ("inner", "end"), ("outer", "end")]


# --- explicit timestamps ------------------------------------------------------------------


def test_explicit_timestamps_are_recorded_in_utc(events: list[Any]) -> None:
    plus_two = dt.timezone(dt.timedelta(hours=2))
    h = scope.push("ts", ScopeType.Agent, timestamp=dt.datetime(2020, 1, 1, 2, 0, 1, tzinfo=plus_two))
    scope.event("m", timestamp=dt.datetime(2020, 1, 1, 0, 0, 1, 500000, tzinfo=UTC))
    scope.pop(h, timestamp=dt.datetime(2020, 1, 1, 0, 0, 2, 250, tzinfo=UTC))
    assert [e.timestamp for e in events] == [
        "2020-01-01T00:00:01+00:00",
        "2020-01-01T00:00:01.500+00:00",
        "2020-01-01T00:00:02.000250+00:00",
    ]


def test_scope_context_manager_timestamps(events: list[Any]) -> None:
    start = dt.datetime(2021, 6, 1, 12, 0, 0, tzinfo=UTC)
    end = dt.datetime(2021, 6, 1, 12, 0, 5, tzinfo=UTC)
    with scope.scope("cm-ts", ScopeType.Agent, timestamp=start, end_timestamp=end):
        pass
    assert [e.timestamp for e in events] == ["2021-06-01T12:00:00+00:00", "2021-06-01T12:00:05+00:00"]


def test_end_is_strictly_after_start(events: list[Any]) -> None:
    h = scope.push("t", ScopeType.Agent, timestamp=dt.datetime(2020, 1, 1, 0, 0, 1, tzinfo=UTC))
    # An end before the start is moved to start + 1 µs.
    scope.pop(h, timestamp=dt.datetime(2019, 1, 1, tzinfo=UTC))
    assert events[1].timestamp == "2020-01-01T00:00:01.000001+00:00"
    # An end equal to the start, too.
    events.clear()
    same = dt.datetime(2020, 1, 1, 0, 0, 1, tzinfo=UTC)
    h = scope.push("t", ScopeType.Agent, timestamp=same)
    scope.pop(h, timestamp=same)
    assert events[1].timestamp == "2020-01-01T00:00:01.000001+00:00"
    # A start in the future and an implicit end.
    events.clear()
    h = scope.push("t", ScopeType.Agent, timestamp=dt.datetime(2200, 1, 1, tzinfo=UTC))
    scope.pop(h)
    assert events[1].timestamp == "2200-01-01T00:00:00.000001+00:00"


def test_naive_timestamp_is_refused_and_nothing_is_pushed(events: list[Any]) -> None:
    before = scope.get_handle()
    with pytest.raises(ValueError, match=r"timestamp.*timezone-aware"):
        scope.push("naive", ScopeType.Agent, timestamp=dt.datetime(2020, 1, 1))
    with pytest.raises(TypeError, match="timestamp"):
        scope.push("str", ScopeType.Agent, timestamp="2020-01-01T00:00:00Z")
    with pytest.raises(TypeError, match="timestamp"):
        scope.event("m", timestamp=1577836800)
    assert scope.get_handle() == before
    assert events == []


def test_timestamp_out_of_range_is_refused(events: list[Any]) -> None:
    with pytest.raises(ValueError, match="timestamp"):
        scope.push("far", ScopeType.Agent, timestamp=dt.datetime(2999, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="timestamp"):
        scope.event("old", timestamp=dt.datetime(1, 1, 1, tzinfo=UTC))
    assert events == []
    assert scope.get_handle().name == "root"


def test_pop_with_bad_timestamp_leaves_scope_open(events: list[Any]) -> None:
    h = scope.push("s", ScopeType.Agent)
    with pytest.raises(ValueError, match="timezone-aware"):
        scope.pop(h, timestamp=dt.datetime(2020, 1, 1))
    assert scope.get_handle() == h and not h.ended
    scope.pop(h)
    assert summary(events) == [("s", "start"), ("s", "end")]


# --- handle= overrides the parent ---------------------------------------------------------


def test_push_handle_overrides_parent_but_stays_on_current_stack(events: list[Any]) -> None:
    a = scope.push("a", ScopeType.Agent)
    b = scope.push("b", ScopeType.Function)
    c = scope.push("c", ScopeType.Function, handle=a)
    assert c.parent_uuid == a.uuid
    assert scope.get_handle() == c
    # b is not the top while c is pushed.
    with pytest.raises(ScopeError, match="not at the top"):
        scope.pop(b)
    scope.pop(c)
    assert scope.get_handle() == b
    scope.pop(b)
    scope.pop(a)
    c_start = next(e for e in events if e.name == "c")
    assert c_start.parent_uuid == a.uuid
    assert summary(events) == [
        ("a", "start"),
        ("b", "start"),
        ("c", "start"),
        ("c", "end"),
        ("b", "end"),
        ("a", "end"),
    ]


def test_scope_cm_handle_overrides_parent(events: list[Any]) -> None:
    a = scope.push("a", ScopeType.Agent)
    b = scope.push("b", ScopeType.Function)
    with scope.scope("c", ScopeType.Tool, handle=a) as c:
        assert c.parent_uuid == a.uuid
        assert scope.get_handle() == c
    assert scope.get_handle() == b
    scope.pop(b)
    scope.pop(a)


def test_push_under_an_ended_parent_is_refused(events: list[Any]) -> None:
    a = scope.push("a", ScopeType.Agent)
    scope.pop(a)
    with pytest.raises(ScopeError, match="ended"):
        scope.push("late", ScopeType.Agent, handle=a)
    assert scope.get_handle().name == "root"
    assert summary(events) == [("a", "start"), ("a", "end")]


# --- marks --------------------------------------------------------------------------------


def test_event_marks_under_current_scope_or_handle(events: list[Any]) -> None:
    outer = scope.push("outer", ScopeType.Agent)
    inner = scope.push("inner", ScopeType.Function)
    scope.event("here", data={"x": 1}, metadata={"y": 2})
    scope.event("there", handle=outer)
    scope.pop(inner)
    scope.pop(outer)
    here = next(e for e in events if e.name == "here")
    there = next(e for e in events if e.name == "there")
    assert here.kind == "mark" and there.kind == "mark"
    assert here.parent_uuid == inner.uuid
    assert here.data == {"x": 1} and here.metadata == {"y": 2}
    assert there.parent_uuid == outer.uuid
    assert there.data is None and there.metadata is None


def test_mark_at_top_level_is_parented_to_root(events: list[Any]) -> None:
    root = scope.get_handle()
    scope.event("top-mark")
    assert events[0].parent_uuid == root.uuid
    assert events[0].root_uuid == root.uuid


# --- detached scopes ----------------------------------------------------------------------


def test_detached_scopes_end_in_any_order_and_never_touch_current(events: list[Any]) -> None:
    with scope.scope("agent", ScopeType.Agent) as agent:
        d1 = scope.start_detached("cb1", ScopeType.Function, input={"n": 1})
        d2 = scope.start_detached("cb2", ScopeType.Function)
        d3 = scope.start_detached("cb3", ScopeType.Tool, parent=d1)
        assert scope.get_handle() == agent
        assert d1.parent_uuid == agent.uuid
        assert d2.parent_uuid == agent.uuid
        assert d3.parent_uuid == d1.uuid
        # Non-LIFO: the first started ends first, then its child after it.
        scope.end_detached(d1, output={"r": 1})
        scope.end_detached(d3)
        scope.end_detached(d2, error=ValueError("callback failed"))
        assert scope.get_handle() == agent
    assert summary(events) == [
        ("agent", "start"),
        ("cb1", "start"),
        ("cb2", "start"),
        ("cb3", "start"),
        ("cb1", "end"),
        ("cb3", "end"),
        ("cb2", "end"),
        ("agent", "end"),
    ]
    by = {(e.name, e.scope_category): e for e in events}
    assert by["cb1", "start"].data == {"n": 1}
    assert by["cb1", "end"].data == {"r": 1}
    assert by["cb2", "end"].error == {"type": "ValueError", "message": "callback failed"}
    assert by["cb1", "end"].error is None


def test_detached_misuse(events: list[Any]) -> None:
    d = scope.start_detached("d", ScopeType.Function)
    with pytest.raises(ScopeError, match="end_detached"):
        scope.pop(d)
    scope.end_detached(d)
    with pytest.raises(ScopeError, match="already ended"):
        scope.end_detached(d)
    p = scope.push("p", ScopeType.Agent)
    with pytest.raises(ScopeError, match="pop"):
        scope.end_detached(p)
    scope.pop(p)
    with pytest.raises(ScopeError, match="ended"):
        scope.start_detached("late", ScopeType.Function, parent=d)
    assert summary(events) == [("d", "start"), ("d", "end"), ("p", "start"), ("p", "end")]


# --- pop misuse ---------------------------------------------------------------------------


def _assert_runtime_intact(events: list[Any], expected_top: ScopeHandle) -> None:
    assert scope.get_handle() == expected_top
    events.clear()
    with scope.scope("after", ScopeType.Function) as h:
        scope.event("still-works")
    assert summary(events) == [("after", "start"), ("still-works", "mark"), ("after", "end")]
    assert events[0].parent_uuid == expected_top.uuid
    assert events[1].parent_uuid == h.uuid
    assert scope.get_handle() == expected_top


def test_pop_not_on_top_is_refused(events: list[Any]) -> None:
    a = scope.push("a", ScopeType.Agent)
    b = scope.push("b", ScopeType.Function)
    with pytest.raises(ScopeError, match="not at the top") as info:
        scope.pop(a)
    assert isinstance(info.value, NemoFlowError) and isinstance(info.value, RuntimeError)
    assert not a.ended and not b.ended
    assert summary(events) == [("a", "start"), ("b", "start")]
    _assert_runtime_intact(events, b)
    events.clear()
    scope.pop(b)
    scope.pop(a)
    assert summary(events) == [("b", "end"), ("a", "end")]


def test_pop_twice_is_refused(events: list[Any]) -> None:
    a = scope.push("a", ScopeType.Agent)
    scope.pop(a)
    with pytest.raises(ScopeError, match="already ended"):
        scope.pop(a)
    assert summary(events) == [("a", "start"), ("a", "end")]
    _assert_runtime_intact(events, scope.get_handle())
    assert scope.get_handle().name == "root"


def test_pop_root_is_refused(events: list[Any]) -> None:
    root = scope.get_handle()
    with pytest.raises(ScopeError, match="root"):
        scope.pop(root)
    assert events == []
    _assert_runtime_intact(events, root)


async def test_pop_scope_of_another_task_is_refused(events: list[Any]) -> None:
    pushed = asyncio.Event()
    release = asyncio.Event()
    holder: dict[str, ScopeHandle] = {}

    async def owner() -> None:
        holder["h"] = scope.push("owned", ScopeType.Function)
        pushed.set()
        await release.wait()
        scope.pop(holder["h"])

    with scope.scope("parent", ScopeType.Agent) as parent:
        task = asyncio.create_task(owner())
        await pushed.wait()
        with pytest.raises(ScopeError, match="another task"):
            scope.pop(holder["h"])
        assert not holder["h"].ended
        assert scope.get_handle() == parent
        release.set()
        await task
    assert summary(events) == [("parent", "start"), ("owned", "start"), ("owned", "end"), ("parent", "end")]
    assert events[1].parent_uuid == parent.uuid


# --- ScopeStack helpers -------------------------------------------------------------------


def test_scope_stack_active_seed_example() -> None:
    assert nemo_flow.scope_stack_active() is False
    stack = nemo_flow.get_scope_stack()
    assert stack is not None
    assert isinstance(stack, nemo_flow.ScopeStack)
    assert nemo_flow.scope_stack_active() is True


def test_get_scope_stack_is_stable_within_a_context() -> None:
    first = nemo_flow.get_scope_stack()
    second = nemo_flow.get_scope_stack()
    assert first.root_uuid == second.root_uuid == scope.get_handle().uuid
    with scope.scope("inner", ScopeType.Agent):
        assert nemo_flow.get_scope_stack().root_uuid == first.root_uuid


def test_scope_stack_active_is_true_after_push() -> None:
    assert nemo_flow.scope_stack_active() is False
    with scope.scope("s", ScopeType.Agent):
        assert nemo_flow.scope_stack_active() is True


def test_create_scope_stack_is_isolated_and_not_installed(events: list[Any]) -> None:
    assert nemo_flow.scope_stack_active() is False
    s1 = nemo_flow.create_scope_stack()
    s2 = nemo_flow.create_scope_stack()
    assert nemo_flow.scope_stack_active() is False
    assert s1.root_uuid != s2.root_uuid
    nemo_flow.set_thread_scope_stack(s1)
    assert nemo_flow.scope_stack_active() is True
    assert scope.get_handle().uuid == s1.root_uuid
    with scope.scope("in-s1", ScopeType.Agent):
        pass
    nemo_flow.set_thread_scope_stack(s2)
    with scope.scope("in-s2", ScopeType.Agent):
        pass
    assert [e.root_uuid for e in events] == [s1.root_uuid] * 2 + [s2.root_uuid] * 2
    assert events[0].parent_uuid == s1.root_uuid
    assert events[2].parent_uuid == s2.root_uuid


def test_propagate_scope_to_thread_without_stack_raises() -> None:
    with pytest.raises(ScopeError) as info:
        nemo_flow.propagate_scope_to_thread()
    assert isinstance(info.value, RuntimeError)
    # The failed call did not create a stack.
    assert nemo_flow.scope_stack_active() is False


def test_propagate_after_get_scope_stack_returns_same_run() -> None:
    stack = nemo_flow.get_scope_stack()
    assert nemo_flow.propagate_scope_to_thread().root_uuid == stack.root_uuid


def test_seed_thread_example_with_thread_pool(events: list[Any]) -> None:
    seen: dict[str, Any] = {}
    with nemo_flow.scope.scope("parent", nemo_flow.ScopeType.Agent) as handle:
        stack = nemo_flow.propagate_scope_to_thread()

        def worker() -> None:
            nemo_flow.set_thread_scope_stack(stack)
            nemo_flow.scope.event(
                "worker-ran",
                handle=handle,
                data={"source": "thread"},
                metadata={"thread": "pool-1"},
            )
            seen["top"] = nemo_flow.scope.get_handle().uuid
            seen["thread"] = threading.get_ident()

        with ThreadPoolExecutor() as pool:
            pool.submit(worker).result()
    assert seen["thread"] != threading.get_ident()
    assert seen["top"] == handle.uuid
    assert summary(events) == [("parent", "start"), ("worker-ran", "mark"), ("parent", "end")]
    mark = events[1]
    assert mark.parent_uuid == handle.uuid
    assert mark.data == {"source": "thread"}
    assert mark.metadata == {"thread": "pool-1"}
    assert mark.root_uuid == handle.root_uuid


def test_worker_thread_pushes_nest_under_parent_and_do_not_leak(events: list[Any]) -> None:
    with scope.scope("parent", ScopeType.Agent) as parent:
        stack = nemo_flow.propagate_scope_to_thread()

        def worker() -> str:
            nemo_flow.set_thread_scope_stack(stack)
            with scope.scope("in-thread", ScopeType.Function) as h:
                nemo_flow.tools.execute_sync("t", {"x": 1}, lambda a: a)
                return h.uuid

        t = threading.Thread(target=lambda: out.append(worker()))
        out: list[str] = []
        t.start()
        t.join()
        # The worker's push never became the parent thread's current scope.
        assert scope.get_handle() == parent
    in_thread = out[0]
    by = {(e.name, e.scope_category): e for e in events}
    assert by["in-thread", "start"].parent_uuid == parent.uuid
    assert by["t", "start"].parent_uuid == in_thread
    assert by["t", "end"].parent_uuid == in_thread


def test_set_thread_scope_stack_rejects_non_stack() -> None:
    with pytest.raises(TypeError, match="stack"):
        nemo_flow.set_thread_scope_stack(scope.get_handle())
    with pytest.raises(TypeError, match="stack"):
        nemo_flow.set_thread_scope_stack(None)


# --- utils.run_sync -----------------------------------------------------------------------


def test_run_sync_without_loop_nests_under_caller(events: list[Any]) -> None:
    async def work() -> str:
        await nemo_flow.tools.execute("t", {"a": 1}, lambda a: {"r": a["a"]})
        return scope.get_handle().uuid

    with scope.scope("caller", ScopeType.Agent) as caller:
        seen = nemo_flow.utils.run_sync(work())
    assert seen == caller.uuid
    tool_events = [e for e in events if e.name == "t"]
    assert [e.scope_category for e in tool_events] == ["start", "end"]
    assert all(e.parent_uuid == caller.uuid for e in tool_events)
    assert tool_events[1].data == {"r": 1}


async def test_run_sync_inside_running_loop_nests_under_caller(events: list[Any]) -> None:
    async def work() -> tuple[str, int]:
        with scope.scope("nested", ScopeType.Function) as h:
            await nemo_flow.tools.execute("t", {}, lambda a: "ok")
        return h.parent_uuid, threading.get_ident()

    with scope.scope("caller", ScopeType.Agent) as caller:
        parent_uuid, thread = nemo_flow.utils.run_sync(work())
        assert scope.get_handle() == caller
    assert thread != threading.get_ident()
    assert parent_uuid == caller.uuid
    by = {(e.name, e.scope_category): e for e in events}
    assert by["nested", "start"].parent_uuid == caller.uuid
    assert by["t", "start"].parent_uuid == by["nested", "start"].uuid
    assert by["caller", "end"] is events[-1]


def test_run_sync_rejects_non_coroutine() -> None:
    with pytest.raises(TypeError, match="coro"):
        nemo_flow.utils.run_sync(lambda: 1)  # type: ignore[arg-type]
