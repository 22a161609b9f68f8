"""Work under an ended scope is refused with ScopeError: an explicit stale handle, a mark on
it, and a pooled thread still holding a propagated stack whose scope has ended. Nothing is
emitted and the callable does not run."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import nemo_flow
from nemo_flow import LLMRequest, ScopeError, ScopeType, llm, scope, tools


def _ended_handle() -> Any:
    with scope.scope("request", ScopeType.Agent) as handle:
        pass
    return handle


def test_execute_under_an_ended_handle_is_refused(events: list[Any]) -> None:
    handle = _ended_handle()
    events.clear()
    ran: list[Any] = []
    with pytest.raises(ScopeError, match=r"scope 'request' \(.*\) has ended; a tool call cannot be placed under it"):
        tools.execute_sync("t", {}, ran.append, handle=handle)
    with pytest.raises(ScopeError, match="an LLM call cannot be placed under it"):
        llm.execute_sync("m", LLMRequest({}, {}), ran.append, handle=handle)
    with pytest.raises(ScopeError, match="a tool call cannot be placed under it"):
        tools.call("t", {}, handle=handle)
    assert ran == [] and events == []


def test_mark_under_an_ended_handle_is_refused_observed_or_not(events: list[Any]) -> None:
    handle = _ended_handle()
    events.clear()
    with pytest.raises(ScopeError, match="a mark cannot be placed under it"):
        scope.event("late", handle=handle, data={"x": 1})
    nemo_flow.subscribers.deregister("test-events")
    with pytest.raises(ScopeError, match="a mark cannot be placed under it"):
        scope.event("late", handle=handle)
    assert events == []


def test_pooled_thread_with_a_stale_propagated_stack_is_refused(events: list[Any]) -> None:
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        with scope.scope("request", ScopeType.Agent):
            stack = nemo_flow.propagate_scope_to_thread()
            pool.submit(nemo_flow.set_thread_scope_stack, stack).result()
            assert pool.submit(tools.execute_sync, "t", {"n": 1}, lambda a: a).result() == {"n": 1}
        # The request is over; the worker thread still holds its stack.
        with pytest.raises(ScopeError, match=r"scope 'request' .* has ended"):
            pool.submit(tools.execute_sync, "t", {"n": 2}, lambda a: a).result()
        # Given a fresh stack, the same worker works again.
        pool.submit(nemo_flow.set_thread_scope_stack, nemo_flow.create_scope_stack()).result()
        assert pool.submit(tools.execute_sync, "t", {"n": 3}, lambda a: a).result() == {"n": 3}
    finally:
        pool.shutdown()
    starts = [e.data for e in events if e.category == "tool" and e.scope_category == "start"]
    assert starts == [{"n": 1}, {"n": 3}]
    assert threading.active_count() >= 1
