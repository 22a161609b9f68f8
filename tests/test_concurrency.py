"""Concurrency: asyncio tasks and threads each nest their work under the scope that was current
where they started, never under each other; no event is lost or misparented."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from typing import Any

import pytest

import nemo_flow
from nemo_flow import ScopeHandle, ScopeType, scope


def _by_key(events: list[Any]) -> dict[tuple[str, str], Any]:
    return {(e.name, getattr(e, "scope_category", "mark")): e for e in events}


class _Sequencer:
    """Forces task A to push first and to pop first while task B is still open (non-LIFO)."""

    def __init__(self) -> None:
        self.a_pushed = asyncio.Event()
        self.b_pushed = asyncio.Event()
        self.a_done = asyncio.Event()

    async def task_a(self) -> ScopeHandle:
        with scope.scope("a", ScopeType.Function) as h:
            self.a_pushed.set()
            await self.b_pushed.wait()
            await nemo_flow.tools.execute("tool-a", {}, _async_echo)
        self.a_done.set()
        return h

    async def task_b(self) -> ScopeHandle:
        await self.a_pushed.wait()
        with scope.scope("b", ScopeType.Function) as h:
            self.b_pushed.set()
            await self.a_done.wait()
            await nemo_flow.tools.execute("tool-b", {}, _async_echo)
        return h


async def _async_echo(args: Any) -> Any:
    await asyncio.sleep(0)
    return args


def _check_sibling_nesting(events: list[Any], outer: ScopeHandle, a: ScopeHandle, b: ScopeHandle) -> None:
    by = _by_key(events)
    assert a.parent_uuid == outer.uuid
    assert b.parent_uuid == outer.uuid
    assert by["a", "start"].parent_uuid == outer.uuid
    assert by["b", "start"].parent_uuid == outer.uuid
    assert by["tool-a", "start"].parent_uuid == a.uuid
    assert by["tool-a", "end"].parent_uuid == a.uuid
    assert by["tool-b", "start"].parent_uuid == b.uuid
    assert by["tool-b", "end"].parent_uuid == b.uuid
    order = [(e.name, e.scope_category) for e in events]
    # Non-LIFO: a ended while b (pushed after a) was still open.
    assert order.index(("b", "start")) < order.index(("a", "end")) < order.index(("b", "end"))
    assert order[-1] == ("outer", "end")
    assert all(e.error is None for e in events)


async def test_gather_siblings_nest_under_parent_not_each_other(events: list[Any]) -> None:
    seq = _Sequencer()
    with scope.scope("outer", ScopeType.Agent) as outer:
        a, b = await asyncio.gather(seq.task_a(), seq.task_b())
        assert scope.get_handle() == outer
    _check_sibling_nesting(events, outer, a, b)


async def test_create_task_siblings_nest_under_parent(events: list[Any]) -> None:
    seq = _Sequencer()
    with scope.scope("outer", ScopeType.Agent) as outer:
        ta = asyncio.create_task(seq.task_a())
        tb = asyncio.create_task(seq.task_b())
        a = await ta
        b = await tb
        assert scope.get_handle() == outer
    _check_sibling_nesting(events, outer, a, b)


async def test_task_group_siblings_nest_under_parent(events: list[Any]) -> None:
    seq = _Sequencer()
    with scope.scope("outer", ScopeType.Agent) as outer:
        async with asyncio.TaskGroup() as tg:
            ta = tg.create_task(seq.task_a())
            tb = tg.create_task(seq.task_b())
        assert scope.get_handle() == outer
    _check_sibling_nesting(events, outer, ta.result(), tb.result())


async def test_task_pushes_do_not_change_the_creators_current_scope(events: list[Any]) -> None:
    pushed = asyncio.Event()
    release = asyncio.Event()

    async def child() -> None:
        with scope.scope("child", ScopeType.Function):
            pushed.set()
            await release.wait()

    with scope.scope("outer", ScopeType.Agent) as outer:
        task = asyncio.create_task(child())
        await pushed.wait()
        # The child's scope is open, but the creator still sees its own scope.
        assert scope.get_handle() == outer
        scope.event("from-creator")
        release.set()
        await task
    assert _by_key(events)["from-creator", "mark"].parent_uuid == outer.uuid


async def test_tool_call_parent_is_captured_when_execute_is_called(events: list[Any]) -> None:
    with scope.scope("outer", ScopeType.Agent) as outer:
        pending = nemo_flow.tools.execute("t", {}, _async_echo)
        with scope.scope("inner", ScopeType.Function):
            pass
    # Awaited after the scope closed; the parent is still where it was created.
    await pending
    by = _by_key(events)
    assert by["t", "start"].parent_uuid == outer.uuid


async def test_thousand_tasks_no_lost_events_no_wrong_parents() -> None:
    n_tasks = 1000
    tools_per_task = 3
    seen: list[Any] = []
    nemo_flow.subscribers.register("collector", seen.append)
    task_scopes: dict[int, str] = {}

    async def tool(args: Any) -> Any:
        await asyncio.sleep(0)
        return {"i": args["i"], "k": args["k"]}

    async def worker(i: int) -> None:
        with scope.scope(f"task-{i}", ScopeType.Function) as h:
            task_scopes[i] = h.uuid
            for k in range(tools_per_task):
                result = await nemo_flow.tools.execute(f"tool-{i}", {"i": i, "k": k}, tool)
                assert result == {"i": i, "k": k}

    with scope.scope("outer", ScopeType.Agent) as outer:
        await asyncio.gather(*(worker(i) for i in range(n_tasks)))

    tool_events = [e for e in seen if e.category == "tool"]
    task_events = [e for e in seen if e.name.startswith("task-")]
    assert len(tool_events) == n_tasks * tools_per_task * 2
    assert len(task_events) == n_tasks * 2
    assert len(seen) == len(tool_events) + len(task_events) + 2
    wrong = [e for e in tool_events if e.parent_uuid != task_scopes[e.data["i"]]]
    assert wrong == []
    assert all(e.name == f"tool-{e.data['i']}" for e in tool_events)
    assert all(e.parent_uuid == outer.uuid for e in task_events)
    # Every tool span has exactly one start and one end.
    counts = Counter((e.uuid, e.scope_category) for e in tool_events)
    assert set(counts.values()) == {1}
    assert len({e.uuid for e in tool_events}) == n_tasks * tools_per_task
    assert len({e.root_uuid for e in seen}) == 1
    assert all(e.error is None for e in seen)


def test_sixteen_threads_with_propagated_stack_see_parent_scope() -> None:
    n_threads = 16
    per_thread = 5
    seen: list[Any] = []
    lock = threading.Lock()

    def collect(e: Any) -> None:
        with lock:
            seen.append(e)

    nemo_flow.subscribers.register("collector", collect)
    barrier = threading.Barrier(n_threads)
    tops: dict[int, str] = {}
    errors: list[BaseException] = []

    with scope.scope("parent", ScopeType.Agent) as parent:
        stack = nemo_flow.propagate_scope_to_thread()

        def worker(t: int) -> None:
            try:
                nemo_flow.set_thread_scope_stack(stack)
                tops[t] = scope.get_handle().uuid
                barrier.wait()

                async def run() -> None:
                    for k in range(per_thread):
                        await nemo_flow.tools.execute("async-tool", {"t": t, "k": k}, _async_echo)

                asyncio.run(run())
                for k in range(per_thread):
                    nemo_flow.tools.execute_sync("sync-tool", {"t": t, "k": k}, lambda a: a)
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert scope.get_handle() == parent

    assert errors == []
    assert tops == dict.fromkeys(range(n_threads), parent.uuid)
    tool_events = [e for e in seen if e.category == "tool"]
    assert len(tool_events) == n_threads * per_thread * 2 * 2
    assert all(e.parent_uuid == parent.uuid for e in tool_events)
    assert all(e.root_uuid == parent.root_uuid for e in seen)
    got = Counter((e.name, e.data["t"], e.data["k"], e.scope_category) for e in tool_events)
    expected = Counter(
        (name, t, k, cat)
        for name in ("async-tool", "sync-tool")
        for t in range(n_threads)
        for k in range(per_thread)
        for cat in ("start", "end")
    )
    assert got == expected


def test_root_uuid_is_per_run() -> None:
    seen: list[Any] = []
    lock = threading.Lock()

    def collect(e: Any) -> None:
        with lock:
            seen.append(e)

    nemo_flow.subscribers.register("collector", collect)
    stacks = [nemo_flow.create_scope_stack() for _ in range(4)]
    assert len({s.root_uuid for s in stacks}) == 4

    def worker(i: int) -> None:
        nemo_flow.set_thread_scope_stack(stacks[i])
        with scope.scope(f"run-{i}", ScopeType.Agent):
            nemo_flow.tools.execute_sync(f"tool-{i}", {}, lambda a: a)
            scope.event(f"mark-{i}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(seen) == 4 * 5
    for i, s in enumerate(stacks):
        mine = [e for e in seen if e.name.endswith(f"-{i}")]
        assert len(mine) == 5
        assert {e.root_uuid for e in mine} == {s.root_uuid}
        run_start = next(e for e in mine if e.name == f"run-{i}")
        assert run_start.parent_uuid == s.root_uuid


def test_threads_without_propagation_get_their_own_run() -> None:
    seen: list[Any] = []
    nemo_flow.subscribers.register("collector", seen.append)
    with scope.scope("main", ScopeType.Agent) as main:

        def worker() -> None:
            with scope.scope("unrelated", ScopeType.Agent):
                pass

        th = threading.Thread(target=worker)
        th.start()
        th.join()
    unrelated = next(e for e in seen if e.name == "unrelated")
    assert unrelated.parent_uuid != main.uuid
    assert unrelated.root_uuid != main.root_uuid


async def test_fork_asyncio_context_nests_tasks_under_current_scope(events: list[Any]) -> None:
    loop = asyncio.get_running_loop()

    async def child(i: int) -> str:
        with scope.scope(f"child-{i}", ScopeType.Function) as h:
            await nemo_flow.tools.execute(f"tool-{i}", {}, _async_echo)
        return h.parent_uuid

    with scope.scope("outer", ScopeType.Agent) as outer:
        ctx = nemo_flow.fork_asyncio_context()
        t1 = loop.create_task(child(1), context=ctx)
        t2 = loop.create_task(child(2), context=nemo_flow.fork_asyncio_context())
        assert await t1 == outer.uuid
        assert await t2 == outer.uuid
        assert scope.get_handle() == outer
    by = _by_key(events)
    assert by["tool-1", "start"].parent_uuid == by["child-1", "start"].uuid
    assert by["tool-2", "start"].parent_uuid == by["child-2", "start"].uuid


async def test_fork_asyncio_context_gives_tasks_one_shared_run(events: list[Any]) -> None:
    # With no scope yet, forking installs the run's root first so every task shares it.
    assert nemo_flow.scope_stack_active() is False
    ctx = nemo_flow.fork_asyncio_context()
    assert nemo_flow.scope_stack_active() is True
    root = scope.get_handle()
    loop = asyncio.get_running_loop()

    async def child(i: int) -> None:
        with scope.scope(f"c{i}", ScopeType.Function):
            await asyncio.sleep(0)

    await asyncio.gather(
        loop.create_task(child(1), context=ctx),
        loop.create_task(child(2), context=nemo_flow.fork_asyncio_context()),
    )
    assert {e.root_uuid for e in events} == {root.uuid}
    assert {e.parent_uuid for e in events} == {root.uuid}


@pytest.mark.parametrize("n", [2, 8])
async def test_nested_tasks_inherit_innermost_scope(events: list[Any], n: int) -> None:
    async def leaf(i: int) -> None:
        await nemo_flow.tools.execute(f"leaf-{i}", {}, _async_echo)

    async def middle() -> str:
        with scope.scope("middle", ScopeType.Function) as m:
            await asyncio.gather(*(leaf(i) for i in range(n)))
        return m.uuid

    with scope.scope("outer", ScopeType.Agent):
        middle_uuid = await asyncio.create_task(middle())
    leaves = [e for e in events if e.name.startswith("leaf-")]
    assert len(leaves) == 2 * n
    assert all(e.parent_uuid == middle_uuid for e in leaves)
