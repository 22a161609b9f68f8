"""Subscribers: registration, synchronous in-order delivery, scope-local subscribers, failure
isolation, re-entrant registration and flush."""

from __future__ import annotations

import logging
import random
import threading
from typing import Any

import pytest

import nemo_flow
from nemo_flow import NemoFlowError, RegistrationError, ScopeError, ScopeType, scope, scope_local, subscribers


def _names(events: list[Any]) -> list[tuple[str, str]]:
    return [(e.name, getattr(e, "scope_category", "mark")) for e in events]


def test_register_and_deregister() -> None:
    got: list[Any] = []
    subscribers.register("s", got.append)
    scope.event("one")
    assert subscribers.deregister("s") is True
    scope.event("two")
    assert [e.name for e in got] == ["one"]
    assert subscribers.deregister("s") is False
    # The name is free again.
    subscribers.register("s", got.append)
    scope.event("three")
    assert [e.name for e in got] == ["one", "three"]


def test_duplicate_name_raises_registration_error_and_keeps_the_first() -> None:
    first: list[Any] = []
    second: list[Any] = []
    subscribers.register("dup", first.append)
    with pytest.raises(RegistrationError, match="dup") as info:
        subscribers.register("dup", second.append)
    assert isinstance(info.value, NemoFlowError)
    assert isinstance(info.value, RuntimeError)
    assert issubclass(RegistrationError, NemoFlowError)
    assert issubclass(NemoFlowError, RuntimeError)
    scope.event("e")
    assert len(first) == 1
    assert second == []


def test_delivery_is_synchronous() -> None:
    got: list[Any] = []
    subscribers.register("s", got.append)
    h = scope.push("a", ScopeType.Agent)
    assert _names(got) == [("a", "start")]
    scope.event("m")
    assert _names(got) == [("a", "start"), ("m", "mark")]
    nemo_flow.tools.execute_sync("t", {}, lambda a: a)
    assert _names(got)[-2:] == [("t", "start"), ("t", "end")]
    scope.pop(h)
    assert _names(got)[-1] == ("a", "end")


def test_delivery_runs_on_the_emitting_thread() -> None:
    threads: list[int] = []
    subscribers.register("s", lambda e: threads.append(threading.get_ident()))
    scope.event("here")
    th = threading.Thread(target=lambda: scope.event("there"))
    th.start()
    th.join()
    assert threads == [threading.get_ident(), th.ident]


def test_many_subscribers_run_in_registration_order() -> None:
    order: list[str] = []
    names = [f"sub-{i:03d}" for i in range(64)]
    random.Random(7).shuffle(names)  # registration order is neither sorted nor hash order

    def make(n: str) -> Any:
        return lambda e: order.append(n)

    for n in names:
        subscribers.register(n, make(n))
    scope.event("e1")
    assert order == names
    order.clear()
    # Re-registering a removed name puts it at the end.
    subscribers.deregister(names[0])
    subscribers.register(names[0], make(names[0]))
    scope.event("e2")
    assert order == names[1:] + names[:1]


def test_events_delivered_in_emission_order(events: list[Any]) -> None:
    with scope.scope("a", ScopeType.Agent):
        scope.event("m1")
        with scope.scope("b", ScopeType.Function):
            scope.event("m2")
    assert _names(events) == [
        ("a", "start"),
        ("m1", "mark"),
        ("b", "start"),
        ("m2", "mark"),
        ("b", "end"),
        ("a", "end"),
    ]


# --- scope-local subscribers --------------------------------------------------------------


def test_scope_local_order_global_then_outer_then_inner() -> None:
    calls: list[tuple[str, str]] = []

    def rec(tag: str) -> Any:
        return lambda e: calls.append((tag, e.name))

    subscribers.register("g1", rec("g1"))
    with scope.scope("outer", ScopeType.Agent) as outer:
        scope_local.register_subscriber(outer, "o", rec("o"))
        with scope.scope("inner", ScopeType.Function) as inner:
            scope_local.register_subscriber(inner, "i", rec("i"))
            # A global registered later still runs before every scope-local one.
            subscribers.register("g2", rec("g2"))
            calls.clear()
            scope.event("deep")
    deep = [tag for tag, name in calls if name == "deep"]
    assert deep == ["g1", "g2", "o", "i"]


def test_scope_local_sees_inside_and_own_end_not_start_and_vanishes() -> None:
    local: list[Any] = []
    with scope.scope("s", ScopeType.Agent) as s:
        scope_local.register_subscriber(s, "local", local.append)
        scope.event("inside")
        with scope.scope("child", ScopeType.Function):
            nemo_flow.tools.execute_sync("t", {}, lambda a: a)
    assert _names(local) == [
        ("inside", "mark"),
        ("child", "start"),
        ("t", "start"),
        ("t", "end"),
        ("child", "end"),
        ("s", "end"),
    ]
    # Gone once the scope closed.
    scope.event("after")
    with scope.scope("s2", ScopeType.Agent):
        pass
    assert _names(local)[-1] == ("s", "end")
    assert scope_local.deregister_subscriber(s, "local") is False
    with pytest.raises(ScopeError, match="ended"):
        scope_local.register_subscriber(s, "late", local.append)


def test_scope_local_subscriber_does_not_see_sibling_scopes() -> None:
    local: list[Any] = []
    with scope.scope("outer", ScopeType.Agent):
        with scope.scope("a", ScopeType.Function) as a:
            scope_local.register_subscriber(a, "a-only", local.append)
            scope.event("in-a")
        with scope.scope("b", ScopeType.Function):
            scope.event("in-b")
        scope.event("in-outer")
    assert _names(local) == [("in-a", "mark"), ("a", "end")]


def test_scope_local_deregister_and_duplicate() -> None:
    local: list[Any] = []
    with scope.scope("s", ScopeType.Agent) as s:
        scope_local.register_subscriber(s, "x", local.append)
        with pytest.raises(RegistrationError):
            scope_local.register_subscriber(s, "x", local.append)
        # The same name may exist globally and locally.
        glob: list[Any] = []
        subscribers.register("x", glob.append)
        scope.event("both")
        assert scope_local.deregister_subscriber(s, "x") is True
        assert scope_local.deregister_subscriber(s, "x") is False
        scope.event("global-only")
    assert [e.name for e in local] == ["both"]
    assert [e.name for e in glob] == ["both", "global-only", "s"]


async def test_scope_local_subscriber_sees_events_from_child_tasks() -> None:
    import asyncio

    local: list[Any] = []

    async def child(i: int) -> None:
        await nemo_flow.tools.execute(f"t{i}", {}, lambda a: a)

    with scope.scope("s", ScopeType.Agent) as s:
        scope_local.register_subscriber(s, "local", local.append)
        await asyncio.gather(child(1), child(2))
    assert sorted(e.name for e in local if e.category == "tool") == ["t1", "t1", "t2", "t2"]


# --- failing subscribers ------------------------------------------------------------------


def test_raising_subscriber_is_logged_counted_and_isolated(caplog: pytest.LogCaptureFixture) -> None:
    before: list[Any] = []
    after: list[Any] = []

    def bad(e: Any) -> None:
        raise ValueError(f"subscriber exploded on {e.name}")

    subscribers.register("before", before.append)
    subscribers.register("bad", bad)
    subscribers.register("after", after.append)
    count0 = subscribers.error_count()
    with caplog.at_level(logging.ERROR, logger="nemo_flow"):
        result = nemo_flow.tools.execute_sync("t", {"q": 1}, lambda a: {"echo": a["q"]})
        scope.event("m")
    assert result == {"echo": 1}
    assert subscribers.error_count() == count0 + 3
    assert _names(before) == [("t", "start"), ("t", "end"), ("m", "mark")]
    assert _names(after) == _names(before)
    records = [r for r in caplog.records if r.name == "nemo_flow"]
    assert len(records) == 3
    assert all(r.levelno == logging.ERROR for r in records)
    text = "\n".join(r.getMessage() for r in records)
    assert "bad" in text
    assert "subscriber exploded on m" in text
    # The original exception rides along as exc_info.
    assert any(r.exc_info and isinstance(r.exc_info[1], ValueError) for r in records)


def test_raising_subscriber_does_not_break_scopes(caplog: pytest.LogCaptureFixture, events: list[Any]) -> None:
    subscribers.register("bad", lambda e: 1 / 0)
    with caplog.at_level(logging.ERROR, logger="nemo_flow"), scope.scope("s", ScopeType.Agent) as s:
        assert scope.get_handle() == s
    assert scope.get_handle().name == "root"
    assert _names(events) == [("s", "start"), ("s", "end")]
    assert any("ZeroDivisionError" in r.getMessage() or r.exc_info for r in caplog.records)


def test_raising_scope_local_subscriber_is_isolated(caplog: pytest.LogCaptureFixture, events: list[Any]) -> None:
    count0 = subscribers.error_count()
    with caplog.at_level(logging.ERROR, logger="nemo_flow"), scope.scope("s", ScopeType.Agent) as s:
        scope_local.register_subscriber(s, "bad-local", lambda e: (_ for _ in ()).throw(KeyError("k")))
        scope.event("m")
    assert subscribers.error_count() == count0 + 2  # the mark and the scope's end
    assert _names(events) == [("s", "start"), ("m", "mark"), ("s", "end")]


# --- re-entrancy --------------------------------------------------------------------------


def test_subscriber_may_register_and_deregister_from_its_callback() -> None:
    late: list[Any] = []
    log: list[str] = []
    done = threading.Event()

    def reentrant(e: Any) -> None:
        log.append(e.name)
        if e.name == "first":
            subscribers.register("late", late.append)
            nemo_flow.intercepts.register_tool_request("added", 1, False, lambda n, a: {**a, "added": True})
            nemo_flow.guardrails.register_tool_sanitize_request("g", 1, lambda n, a: a)
            subscribers.deregister("reentrant")
            nemo_flow.guardrails.deregister_tool_sanitize_request("g")

    def run() -> None:
        subscribers.register("reentrant", reentrant)
        scope.event("first")
        scope.event("second")
        nemo_flow.tools.execute_sync("t", {}, lambda a: a)
        done.set()

    # A deadlock would leave the worker blocked; the generous bound only guards the suite.
    th = threading.Thread(target=run, daemon=True)
    th.start()
    th.join(60)
    assert done.is_set(), "registering from inside a subscriber deadlocked"
    assert log == ["first"]
    # Registered during "first": sees everything after it, not "first" itself.
    assert [e.name for e in late][:1] == ["second"]
    tool_end = [e for e in late if e.name == "t"][-1]
    assert tool_end.data == {"added": True}


def test_subscriber_may_push_and_pop_scopes_from_its_callback(events: list[Any]) -> None:
    done = threading.Event()

    def pusher(e: Any) -> None:
        if e.name == "trigger":
            with scope.scope("from-subscriber", ScopeType.Function):
                pass

    def run() -> None:
        subscribers.register("pusher", pusher)
        scope.event("trigger")
        done.set()

    th = threading.Thread(target=run, daemon=True)
    th.start()
    th.join(60)
    assert done.is_set(), "pushing a scope from inside a subscriber deadlocked"
    assert ("from-subscriber", "start") in _names(events)
    assert ("from-subscriber", "end") in _names(events)


def test_flush_returns_true() -> None:
    got: list[Any] = []
    subscribers.register("s", got.append)
    scope.event("m")
    assert subscribers.flush() is True
    assert subscribers.flush(0.5) is True
    assert len(got) == 1


def test_error_count_is_monotonic_and_int() -> None:
    n = subscribers.error_count()
    assert isinstance(n, int) and n >= 0
    subscribers.register("bad", lambda e: 1 / 0)
    logging.getLogger("nemo_flow").disabled = True
    try:
        scope.event("x")
    finally:
        logging.getLogger("nemo_flow").disabled = False
    assert subscribers.error_count() == n + 1
