"""`@tools.tool`: each call a managed tool call through the tools.execute pipeline."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from collections.abc import Iterator
from typing import Any

import pytest

from nemo_flow import (
    GuardrailRejected,
    LLMRequest,
    MiddlewareError,
    ScopeType,
    ToolAttributes,
    guardrails,
    intercepts,
    llm,
    scope,
    tools,
    typed,
)


def pair(events: list[Any], name: str) -> tuple[Any, Any]:
    evs = [e for e in events if e.kind == "scope" and e.name == name]
    assert [e.scope_category for e in evs] == ["start", "end"], [e.to_json() for e in evs]
    return evs[0], evs[1]


@tools.tool
async def search(query: str, limit: int = 3) -> dict[str, Any]:
    """Search the web."""
    return {"query": query, "limit": limit, "parent": scope.current().name}


@tools.tool("lookup-sync")
def lookup(key: str, *, default: str = "-") -> str:
    return {"a": "alpha"}.get(key, default)


async def test_async_tool_is_a_managed_call_with_bound_args(events: list[Any]) -> None:
    async with scope.scope("agent", ScopeType.Agent) as agent:
        assert await search("paris") == {"query": "paris", "limit": 3, "parent": "agent"}
        assert await search("rome", 5) == {"query": "rome", "limit": 5, "parent": "agent"}
        assert await search(limit=1, query="oslo") == {"query": "oslo", "limit": 1, "parent": "agent"}
    starts = [e for e in events if e.name == "search" and e.scope_category == "start"]
    assert [s.data for s in starts] == [
        {"query": "paris", "limit": 3},
        {"query": "rome", "limit": 5},
        {"query": "oslo", "limit": 1},
    ]
    assert all(s.category == "tool" and s.parent_uuid == agent.uuid for s in starts)
    ends = [e for e in events if e.name == "search" and e.scope_category == "end"]
    assert [e.data["query"] for e in ends] == ["paris", "rome", "oslo"]


def test_sync_tool_runs_without_an_event_loop(events: list[Any]) -> None:
    assert lookup("a") == "alpha"
    assert lookup("z", default="?") == "?"
    starts = [e.data for e in events if e.name == "lookup-sync" and e.scope_category == "start"]
    assert starts == [{"key": "a", "default": "-"}, {"key": "z", "default": "?"}]


def test_a_wrong_call_raises_type_error_before_anything_starts(events: list[Any]) -> None:
    with pytest.raises(TypeError, match="missing a required argument: 'key'"):
        lookup()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'nope'"):
        lookup("a", nope=1)  # type: ignore[call-arg]
    assert events == []


async def test_intercept_edits_reach_the_function_as_keyword_arguments(events: list[Any]) -> None:
    received: list[tuple[str, int]] = []

    @tools.tool("fetch")
    async def fetch(url: str, retries: int = 0) -> str:
        received.append((url, retries))
        return url

    def force_https(name: str, args: Any) -> Any:
        return {**args, "url": args["url"].replace("http://", "https://"), "retries": 2}

    async def twice(name: str, args: Any, nxt: Any) -> Any:
        first = await nxt(args)
        return [first, await nxt({**args, "retries": 9})]

    intercepts.register_tool_request("https", 1, False, force_https)
    intercepts.register_tool_execution("twice", 1, twice)
    assert await fetch("http://x") == ["https://x", "https://x"]
    assert received == [("https://x", 2), ("https://x", 9)]
    start, end = pair(events, "fetch")
    assert start.data == {"url": "https://x", "retries": 2}
    assert end.data == ["https://x", "https://x"]


async def test_guardrail_rejection_stops_the_call(events: list[Any]) -> None:
    called: list[bool] = []

    @tools.tool("rm")
    async def rm(path: str) -> None:
        called.append(True)

    guardrails.register_tool_conditional_execution(
        "no-root", 1, lambda name, args: "refusing /" if args["path"] == "/" else None
    )
    with pytest.raises(GuardrailRejected, match="refusing /"):
        await rm("/")
    assert called == []
    await rm("/tmp/x")
    assert called == [True]


@pytest.mark.parametrize("is_async", [False, True])
async def test_the_functions_exceptions_reach_the_caller_unchanged(events: list[Any], is_async: bool) -> None:
    boom = LookupError("no such key")

    def fail_sync(key: str) -> None:
        raise boom

    async def fail_async(key: str) -> None:
        raise boom

    f: Any = tools.tool("failing")(fail_async if is_async else fail_sync)
    with pytest.raises(LookupError) as info:
        if is_async:
            await f("k")
        else:
            f("k")
    assert info.value is boom
    assert not getattr(info.value, "__notes__", None)
    _, end = pair(events, "failing")
    assert end.error == {"type": "LookupError", "message": "no such key"}


async def test_an_intercept_failure_is_a_middleware_error(events: list[Any]) -> None:
    def broken(name: str, args: Any) -> Any:
        raise RuntimeError("intercept bug")

    intercepts.register_tool_request("broken", 1, False, broken)
    with pytest.raises(MiddlewareError) as info:
        await search("q")
    assert isinstance(info.value.__cause__, RuntimeError)


async def test_two_hundred_tasks_each_under_their_own_scope(events: list[Any]) -> None:
    @tools.tool("work")
    async def work(i: int) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"i": i, "scope": scope.current().name}

    async def task(i: int) -> tuple[str, dict[str, Any]]:
        async with scope.scope(f"task-{i}", ScopeType.Agent) as h:
            await asyncio.sleep(0)
            return h.uuid, await work(i)

    root = scope.current().uuid  # installs this run's root, which the tasks inherit
    results = await asyncio.gather(*(task(i) for i in range(200)))
    assert [r["i"] for _, r in results] == list(range(200))
    assert all(r["scope"] == f"task-{i}" for i, (_, r) in enumerate(results))
    scope_of = {i: uuid for i, (uuid, _) in enumerate(results)}
    tool_events = [e for e in events if e.name == "work"]
    assert len(tool_events) == 400
    for e in tool_events:
        i = e.data["i"]
        assert e.parent_uuid == scope_of[i], (i, e.scope_category)
    task_starts = [e for e in events if e.name.startswith("task-") and e.scope_category == "start"]
    assert len(task_starts) == 200 and all(e.parent_uuid == root for e in task_starts)


# --- methods ---------------------------------------------------------------------------------


class Toolbox:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    @tools.tool
    async def tag(self, text: str) -> str:
        return self.prefix + text

    @tools.tool("toolbox.count")
    def count(self, text: str) -> int:
        return len(text)

    @classmethod
    @tools.tool
    def build(cls, prefix: str) -> str:
        return cls(prefix).prefix

    @staticmethod
    @tools.tool
    def double(x: int) -> int:
        return 2 * x


async def test_methods_leave_self_out_of_the_args(events: list[Any]) -> None:
    box = Toolbox("#")
    assert await box.tag("a") == "#a"
    assert box.count("abc") == 3
    assert Toolbox.build("$") == "$"
    assert Toolbox.double(4) == 8
    assert pair(events, "tag")[0].data == {"text": "a"}
    assert pair(events, "toolbox.count")[0].data == {"text": "abc"}
    assert pair(events, "build")[0].data == {"prefix": "$"}
    assert pair(events, "double")[0].data == {"x": 4}


async def test_unusual_signatures_round_trip_through_the_args_dict(events: list[Any]) -> None:
    seen: list[Any] = []

    @tools.tool("shapes")
    def shapes(a: int, /, b: int, *rest: int, c: int = 0, **extra: int) -> int:
        seen.append((a, b, rest, c, extra))
        return a + b + sum(rest) + c + sum(extra.values())

    def bump(name: str, args: Any) -> Any:
        return {**args, "rest": [*args["rest"], 100], "extra": {**args["extra"], "z": 1000}}

    assert shapes(1, 2, 3, c=4, y=5) == 15
    intercepts.register_tool_request("bump", 1, False, bump)
    assert shapes(1, 2) == 1103
    assert seen == [(1, 2, (3,), 4, {"y": 5}), (1, 2, (100,), 0, {"z": 1000})]
    starts = [e.data for e in events if e.name == "shapes" and e.scope_category == "start"]
    assert starts[0] == {"a": 1, "b": 2, "rest": [3], "c": 4, "extra": {"y": 5}}


def test_attributes_are_recorded(events: list[Any]) -> None:
    @tools.tool("remote", attributes=ToolAttributes.REMOTE)
    def remote() -> int:
        return 1

    assert remote() == 1
    start, _ = pair(events, "remote")
    assert start.attributes == ["remote"]


# --- codecs ----------------------------------------------------------------------------------


@dataclasses.dataclass
class Query:
    text: str
    k: int = 3


@dataclasses.dataclass
class Answer:
    hits: list[str]


async def test_codecs_convert_typed_arguments_and_results(events: list[Any]) -> None:
    got: list[Any] = []

    @tools.tool("find", args_codec={"q": typed.DataclassCodec(Query)}, result_codec=typed.DataclassCodec(Answer))
    async def find(q: Query, page: int = 0) -> Answer:
        got.append((q, page))
        return Answer([f"{q.text}:{q.k}:{page}"])

    def widen(name: str, args: Any) -> Any:
        assert args == {"q": {"text": "paris", "k": 3}, "page": 0}  # middleware sees JSON only
        return {**args, "q": {**args["q"], "k": 10}}

    intercepts.register_tool_request("widen", 1, False, widen)
    answer = await find(Query("paris"))
    assert answer == Answer(["paris:10:0"])
    assert got == [(Query("paris", 10), 0)]
    start, end = pair(events, "find")
    assert start.data == {"q": {"text": "paris", "k": 10}, "page": 0}
    assert end.data == {"hits": ["paris:10:0"]}


def test_one_codec_for_every_argument_and_sync_functions(events: list[Any]) -> None:
    codec = typed.BestEffortAnyCodec()

    @tools.tool("pack", args_codec=codec, result_codec=codec)
    def pack(blob: bytes, n: int) -> bytes:
        return blob * n

    assert pack(b"ab", 2) == b"abab"
    start, end = pair(events, "pack")
    assert set(start.data["blob"]) == {"__nv_pickle__", "data", "signature"}
    assert start.data["n"] == 2
    assert "__nv_pickle__" in end.data


async def test_a_non_json_argument_without_a_codec_is_refused_with_a_hint(events: list[Any]) -> None:
    called: list[bool] = []

    @tools.tool("raw")
    async def raw(blob: Any) -> None:
        called.append(True)

    with pytest.raises(TypeError, match=r'args\["blob"\].*bytes') as info:
        await raw(b"\x00")
    assert any("args_codec" in note for note in getattr(info.value, "__notes__", []))
    with pytest.raises(ValueError, match="NaN"):
        await raw(float("nan"))
    assert called == []
    assert [e for e in events if e.name == "raw"] == []


def test_an_error_of_the_function_gets_no_codec_hint(events: list[Any]) -> None:
    @tools.tool("picky")
    def picky(x: int) -> None:
        raise TypeError('args["x"] looks odd')

    with pytest.raises(TypeError) as info:
        picky(1)
    assert not getattr(info.value, "__notes__", None)


# --- signature and bad use -------------------------------------------------------------------


def test_wrapper_keeps_name_doc_signature_and_inspect_behaviour() -> None:
    assert search.__name__ == "search" and search.__doc__ == "Search the web."
    assert str(inspect.signature(search)) == "(query: 'str', limit: 'int' = 3) -> 'dict[str, Any]'"
    assert inspect.iscoroutinefunction(search) and not inspect.iscoroutinefunction(lookup)
    assert inspect.signature(Toolbox.tag).parameters.keys() == {"self", "text"}


def test_bad_use_is_refused_at_decoration_time() -> None:
    def gen() -> Iterator[int]:
        yield 1

    def f(a: int) -> int:
        return a

    with pytest.raises(TypeError, match=r"tools\.tool: expected a function to decorate, got str"):
        tools.tool()("search")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="generator function"):
        tools.tool(gen)
    with pytest.raises(TypeError, match="name: expected a non-empty str"):
        tools.tool(3)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="args_codec: expected a codec"):
        tools.tool("t", args_codec=object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"args_codec\['a'\]: expected a codec"):
        tools.tool("t", args_codec={"a": 1})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="result_codec: expected a codec"):
        tools.tool("t", result_codec=len)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"args_codec names \['b'\]"):
        tools.tool("t", args_codec={"b": typed.JsonPassthrough()})(f)
    with pytest.raises(TypeError):
        tools.tool("t", attributes="remote")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="under @staticmethod"):
        tools.tool(staticmethod(f))  # type: ignore[call-overload]


async def test_decorators_nest_under_each_other_and_under_async_with(events: list[Any]) -> None:
    @llm.call_model("model")
    async def model(req: LLMRequest) -> dict[str, Any]:
        return {"text": "ok"}

    @tools.tool("ask")
    async def ask(question: str) -> str:
        reply = await model(LLMRequest({}, {"messages": [{"role": "user", "content": question}]}))
        return str(reply["text"])

    @scope.traced("step")
    async def step(question: str) -> str:
        return await ask(question)

    @scope.traced("run")
    async def run() -> list[str]:
        return list(await asyncio.gather(step("a"), step("b")))

    async with scope.scope("agent", ScopeType.Agent) as agent:
        assert await run() == ["ok", "ok"]
    starts = {}
    for e in events:
        if e.kind == "scope" and e.scope_category == "start":
            starts.setdefault(e.name, []).append(e)
    (run_start,) = starts["run"]
    assert run_start.parent_uuid == agent.uuid
    step_uuids = {s.uuid for s in starts["step"]}
    assert len(step_uuids) == 2 and all(s.parent_uuid == run_start.uuid for s in starts["step"])
    # A tool call is not a scope: the model call inside the tool nests under the step too.
    assert sorted(t.parent_uuid for t in starts["ask"]) == sorted(step_uuids)
    assert sorted(m.parent_uuid for m in starts["model"]) == sorted(step_uuids)


async def test_a_method_with_codecs_gets_self_and_decoded_arguments(events: list[Any]) -> None:
    class Index:
        def __init__(self) -> None:
            self.seen: list[Query] = []

        @tools.tool("index.find", args_codec={"q": typed.DataclassCodec(Query)}, result_codec=typed.JsonPassthrough())
        async def find(self, q: Query) -> list[str]:
            self.seen.append(q)
            return [q.text] * q.k

    index = Index()
    assert await index.find(Query("x", 2)) == ["x", "x"]
    assert index.seen == [Query("x", 2)]
    assert pair(events, "index.find")[0].data == {"q": {"text": "x", "k": 2}}
