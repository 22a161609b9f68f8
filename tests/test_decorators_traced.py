"""`@scope.traced` on functions, coroutines, generators, async generators and methods."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from typing import Any

import pytest

from nemo_flow import ScopeType, scope, tools


def scopes(events: list[Any], name: str) -> list[Any]:
    return [e for e in events if e.kind == "scope" and e.name == name]


def pair(events: list[Any], name: str) -> tuple[Any, Any]:
    evs = scopes(events, name)
    assert [e.scope_category for e in evs] == ["start", "end"], [e.to_json() for e in evs]
    assert evs[0].uuid == evs[1].uuid
    return evs[0], evs[1]


# --- plain functions and coroutines ---------------------------------------------------------


def test_sync_function_runs_in_its_scope_with_input_and_output(events: list[Any]) -> None:
    inside: list[Any] = []

    @scope.traced("adder", ScopeType.Tool)
    def add(a: int, b: int = 10, *rest: int, scale: int = 1) -> dict[str, int]:
        inside.append(scope.current())
        scope.event("thinking")
        return {"sum": (a + b + sum(rest)) * scale}

    with scope.scope("agent", ScopeType.Agent) as agent:
        assert add(1, 2, 3, scale=2) == {"sum": 12}
    start, end = pair(events, "adder")
    assert start.parent_uuid == agent.uuid
    assert start.category == "tool"
    assert start.data == {"a": 1, "b": 2, "rest": [3], "scale": 2}
    assert end.data == {"sum": 12} and end.error is None
    assert inside[0].uuid == start.uuid and inside[0].name == "adder"
    (mark,) = [e for e in events if e.kind == "mark"]
    assert mark.parent_uuid == start.uuid
    assert scope.current().name == "root"


def test_defaults_are_recorded_and_the_default_name_is_the_qualname(events: list[Any]) -> None:
    @scope.traced
    def greet(who: str = "world") -> str:
        return f"hello {who}"

    assert greet() == "hello world"
    start, end = pair(events, greet.__qualname__)
    assert start.category == "function"
    assert start.data == {"who": "world"} and end.data == "hello world"


async def test_coroutine_children_nest_and_concurrent_calls_are_siblings(events: list[Any]) -> None:
    @scope.traced("step")
    async def step(i: int) -> int:
        await asyncio.sleep(0)
        await tools.execute(f"tool-{i}", {"i": i}, lambda a: a["i"])
        await asyncio.sleep(0)
        return i * 2

    async with scope.scope("agent", ScopeType.Agent) as agent:
        assert await asyncio.gather(step(1), step(2), step(3)) == [2, 4, 6]
    steps = [e for e in scopes(events, "step") if e.scope_category == "start"]
    assert len(steps) == 3 and all(s.parent_uuid == agent.uuid for s in steps)
    by_input = {s.data["i"]: s.uuid for s in steps}
    for i in (1, 2, 3):
        tool_start, _ = pair(events, f"tool-{i}")
        assert tool_start.parent_uuid == by_input[i]
    outputs = sorted(e.data for e in scopes(events, "step") if e.scope_category == "end")
    assert outputs == [2, 4, 6]


async def test_nesting_of_traced_functions_under_async_with(events: list[Any]) -> None:
    @scope.traced
    async def outer() -> str:
        return await middle()

    @scope.traced
    async def middle() -> str:
        return inner()

    @scope.traced
    def inner() -> str:
        return scope.current().name

    async with scope.scope("agent", ScopeType.Agent) as agent:
        assert await outer() == inner.__qualname__
    o, _ = pair(events, outer.__qualname__)
    m, _ = pair(events, middle.__qualname__)
    i, _ = pair(events, inner.__qualname__)
    assert (o.parent_uuid, m.parent_uuid, i.parent_uuid) == (agent.uuid, o.uuid, m.uuid)


@pytest.mark.parametrize("is_async", [False, True])
async def test_exceptions_propagate_unchanged_and_are_recorded(events: list[Any], is_async: bool) -> None:
    boom = ValueError("bad value")

    def fail_sync() -> None:
        raise boom

    async def fail_async() -> None:
        raise boom

    f = scope.traced("failing")(fail_async if is_async else fail_sync)
    with pytest.raises(ValueError) as info:
        if is_async:
            await f()
        else:
            f()
    assert info.value is boom
    assert info.value.__cause__ is None and info.value.__context__ is None
    _, end = pair(events, "failing")
    assert end.error == {"type": "ValueError", "message": "bad value"}
    assert end.data is None
    assert scope.current().name == "root"


async def test_cancellation_is_recorded_and_propagates(events: list[Any]) -> None:
    started = asyncio.Event()

    @scope.traced("slow")
    async def slow() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(slow())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    _, end = pair(events, "slow")
    assert end.error is not None and end.error["type"] == "CancelledError"


def test_capture_flags_leave_input_and_output_out(events: list[Any]) -> None:
    @scope.traced("quiet", capture_input=False, capture_output=False)
    def quiet(secret: str) -> str:
        return secret * 2

    assert quiet("s3cret") == "s3cret" * 2
    start, end = pair(events, "quiet")
    assert start.data is None and end.data is None
    assert "s3cret" not in start.to_json() + end.to_json()


# --- generators ------------------------------------------------------------------------------


def test_generator_scope_spans_the_iteration_and_only_its_own_steps(events: list[Any]) -> None:
    seen_inside: list[str] = []
    seen_outside: list[str] = []

    @scope.traced("numbers")
    def numbers(n: int) -> Iterator[int]:
        for i in range(n):
            seen_inside.append(scope.current().name)
            scope.event(f"item-{i}")
            yield i

    with scope.scope("consumer", ScopeType.Agent) as consumer:
        gen = numbers(3)
        assert not scopes(events, "numbers")  # opens when iteration starts
        for _ in gen:
            seen_outside.append(scope.current().name)
    start, end = pair(events, "numbers")
    assert start.parent_uuid == consumer.uuid
    assert start.data == {"n": 3} and end.data == [0, 1, 2]
    assert seen_inside == ["numbers"] * 3 and seen_outside == ["consumer"] * 3
    marks = [e for e in events if e.kind == "mark"]
    assert [m.parent_uuid for m in marks] == [start.uuid] * 3


def test_generator_break_and_close_end_the_scope_once_at_once(events: list[Any]) -> None:
    closed: list[bool] = []

    @scope.traced("endless")
    def endless() -> Iterator[int]:
        i = 0
        try:
            while True:
                yield i
                i += 1
        finally:
            closed.append(scope.current().name == "endless")

    for i in endless():
        if i == 2:
            break
    _, end = pair(events, "endless")
    assert end.data == [0, 1, 2] and end.error is None
    assert closed == [True]  # the generator's own cleanup ran inside its scope

    events.clear()
    gen = endless()
    assert next(gen) == 0
    gen.close()
    gen.close()
    _, end = pair(events, "endless")
    assert end.data == [0]


def test_generator_error_send_throw_and_return_value(events: list[Any]) -> None:
    @scope.traced("echo")
    def echo() -> Iterator[Any]:
        got = yield "ready"
        try:
            yield f"got {got}"
        except KeyError:
            yield "recovered"
        return "done"

    def drive() -> Iterator[Any]:
        result = yield from echo()
        yield result

    gen = echo()
    assert next(gen) == "ready"
    assert gen.send("x") == "got x"
    assert gen.throw(KeyError("k")) == "recovered"
    with pytest.raises(StopIteration) as stop:
        next(gen)
    assert stop.value.value == "done"
    _, end = pair(events, "echo")
    assert end.data == ["ready", "got x", "recovered"]
    assert list(drive()) == ["ready", "got None", "done"]

    events.clear()
    boom = RuntimeError("mid-stream")

    @scope.traced("broken")
    def broken() -> Iterator[int]:
        yield 1
        raise boom

    with pytest.raises(RuntimeError) as info:
        list(broken())
    assert info.value is boom
    _, end = pair(events, "broken")
    assert end.error == {"type": "RuntimeError", "message": "mid-stream"}


async def test_async_generator_exhaustion_children_and_consumer_outside(events: list[Any]) -> None:
    @scope.traced("tokens")
    async def tokens(prompt: str) -> AsyncIterator[str]:
        for word in prompt.split():
            await asyncio.sleep(0)
            await tools.execute("lookup", {"w": word}, lambda a: a["w"])
            yield word

    outside: list[str] = []
    async with scope.scope("agent", ScopeType.Agent) as agent:
        async for _w in tokens("a b"):
            outside.append(scope.current().name)
    start, end = pair(events, "tokens")
    assert start.parent_uuid == agent.uuid
    assert start.data == {"prompt": "a b"} and end.data == ["a", "b"]
    assert outside == ["agent", "agent"]
    lookups = [e for e in scopes(events, "lookup") if e.scope_category == "start"]
    assert [e.parent_uuid for e in lookups] == [start.uuid, start.uuid]


async def test_async_generator_aclose_asend_athrow_and_error(events: list[Any]) -> None:
    @scope.traced("chat")
    async def chat() -> AsyncIterator[str]:
        msg = yield "hi"
        try:
            yield f"you said {msg}"
        except KeyError:
            yield "recovered"
        yield "more"

    async with aclosing(chat()) as agen:
        assert await agen.__anext__() == "hi"
        assert await agen.asend("x") == "you said x"
        assert await agen.athrow(KeyError("k")) == "recovered"
    _, end = pair(events, "chat")
    assert end.data == ["hi", "you said x", "recovered"] and end.error is None

    events.clear()
    boom = OSError("stream lost")

    @scope.traced("lossy")
    async def lossy() -> AsyncIterator[int]:
        yield 1
        raise boom

    with pytest.raises(OSError) as info:
        async for _ in lossy():
            pass
    assert info.value is boom
    _, end = pair(events, "lossy")
    assert end.error == {"type": "OSError", "message": "stream lost"}


async def test_async_generator_left_with_break_ends_once_when_the_loop_closes_it(events: list[Any]) -> None:
    closed = asyncio.Event()

    @scope.traced("ticks")
    async def ticks() -> AsyncIterator[int]:
        i = 0
        try:
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    async for i in ticks():
        if i == 1:
            break
    # The event loop closes an abandoned async generator in a task of its own (Python's
    # rule; `contextlib.aclosing` closes it at once); the scope ends in that same step.
    await closed.wait()
    _, end = pair(events, "ticks")
    assert end.data == [0, 1] and end.error is None


# --- methods ---------------------------------------------------------------------------------


class Agent:
    def __init__(self, name: str) -> None:
        self.name = name

    @scope.traced
    def plan(self, goal: str) -> str:
        return f"{self.name}: {goal}"

    @scope.traced("agent.act")
    async def act(self, n: int) -> int:
        return n + 1

    @scope.traced
    def steps(self, n: int) -> Iterator[int]:
        yield from range(n)

    @classmethod
    @scope.traced
    def make(cls, name: str) -> Agent:
        return cls(name)

    @staticmethod
    @scope.traced
    def helper(x: int) -> int:
        return -x


async def test_methods_leave_self_and_cls_out_of_the_input(events: list[Any]) -> None:
    a = Agent.make("bond")
    assert a.plan("win") == "bond: win"
    assert await a.act(1) == 2
    assert list(a.steps(2)) == [0, 1]
    assert Agent.helper(3) == -3
    assert pair(events, "Agent.make")[0].data == {"name": "bond"}
    assert pair(events, "Agent.plan")[0].data == {"goal": "win"}
    assert pair(events, "agent.act")[0].data == {"n": 1}
    assert pair(events, "Agent.steps")[1].data == [0, 1]
    assert pair(events, "Agent.helper")[0].data == {"x": 3}


def test_wrapper_keeps_name_doc_signature_and_inspect_behaviour() -> None:
    def f(a: int, *, b: str = "x") -> str:
        """Docs of f."""
        return b * a

    async def c(a: int) -> int:
        return a

    def g() -> Iterator[int]:
        yield 1

    async def ag() -> AsyncIterator[int]:
        yield 1

    tf, tc, tg, tag = (scope.traced(fn) for fn in (f, c, g, ag))
    assert tf.__name__ == "f" and tf.__doc__ == "Docs of f." and tf.__wrapped__ is f  # type: ignore[attr-defined]
    assert inspect.signature(tf) == inspect.signature(f)
    assert inspect.iscoroutinefunction(tc) and not inspect.iscoroutinefunction(tf)
    assert inspect.isgeneratorfunction(tg) and inspect.isasyncgenfunction(tag)
    assert Agent.plan.__qualname__ == "Agent.plan"


# --- what non-JSON values become --------------------------------------------------------------


@dataclasses.dataclass
class Point:
    x: int
    y: float


class Opaque:
    def __repr__(self) -> str:
        return "<Opaque>"


class Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def test_non_json_values_are_projected_as_documented(events: list[Any]) -> None:
    @scope.traced("projection")
    def take(*values: Any) -> Any:
        return {"b": b"\x00", "pt": Point(1, 2.5)}

    cyclic: list[Any] = []
    cyclic.append(cyclic)
    take(
        b"raw",
        frozenset(),
        float("nan"),
        Opaque(),
        Point(1, 2.5),
        (1, [2, (3,)]),
        {1: "int key", "s": "str key"},
        2**80,
        "x" * 5000,
        Unprintable(),
        cyclic,
    )
    start, end = pair(events, "projection")
    (values,) = start.data.values()
    assert values[:8] == [
        "b'raw'",
        "frozenset()",
        "nan",
        "<Opaque>",
        {"x": 1, "y": 2.5},
        [1, [2, [3]]],
        {"1": "int key", "s": "str key"},
        repr(2**80),
    ]
    assert values[8] == "x" * 5000  # strings are JSON: never cut
    assert values[9] == "<unrepresentable Unprintable>"
    depth, node = 0, values[10]
    while isinstance(node, list):
        node, depth = node[0], depth + 1
    assert depth == 31 and node == "[[...]]"  # 32 levels below the `*values` tuple
    assert end.data == {"b": "b'\\x00'", "pt": {"x": 1, "y": 2.5}}


def test_pydantic_models_are_recorded_as_their_json_dump(events: list[Any]) -> None:
    pydantic = pytest.importorskip("pydantic")

    class Query(pydantic.BaseModel):  # type: ignore[misc, name-defined]
        text: str
        k: int = 3

    @scope.traced("search")
    def search(q: Query) -> Query:
        return q

    search(Query(text="paris"))
    start, end = pair(events, "search")
    assert start.data == {"q": {"text": "paris", "k": 3}} and end.data == {"text": "paris", "k": 3}


def test_long_reprs_are_cut(events: list[Any]) -> None:
    @scope.traced("long")
    def long(v: Any) -> None:
        return None

    long(b"y" * 5000)
    (v,) = pair(events, "long")[0].data.values()
    assert len(v) == 1001 and v.endswith("…") and v.startswith("b'yyy")


def test_arguments_that_do_not_bind_are_recorded_as_given_and_the_call_raises(events: list[Any]) -> None:
    @scope.traced("strict")
    def strict(a: int) -> int:
        return a

    with pytest.raises(TypeError, match="unexpected keyword argument"):
        strict(1, b=2)  # type: ignore[call-arg]
    start, end = pair(events, "strict")
    assert start.data == {"args": [1], "kwargs": {"b": 2}}
    assert end.error is not None and end.error["type"] == "TypeError"


# --- bad use ---------------------------------------------------------------------------------


def test_bad_use_is_refused_at_decoration_time(events: list[Any]) -> None:
    with pytest.raises(TypeError, match=r"scope.traced: expected a function to decorate, got int"):
        scope.traced()(42)  # type: ignore[call-overload, type-var]
    with pytest.raises(TypeError, match="name: expected a non-empty str"):
        scope.traced(name="")
    with pytest.raises(TypeError, match="name: expected a non-empty str"):
        scope.traced(5)  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="robot"):
        scope.traced("x", "robot")
    with pytest.raises(TypeError, match="scope_type"):
        scope.traced("x", 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="capture_input: expected a bool"):
        scope.traced("x", capture_input="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"under @classmethod"):
        scope.traced(classmethod(lambda cls: None))  # type: ignore[call-overload]
    assert events == []
    assert scope.current().name == "root"
