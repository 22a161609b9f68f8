"""Checked by mypy --strict (scripts/typecheck.sh), never run: the decorators keep the
decorated function's type. Each `type: ignore[...]` marks a call that must stay an error;
mypy's warn_unused_ignores fails the gate if one of them stops being an error."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, assert_type

from nemo_flow import LLMRequest, ScopeHandle, ScopeType, llm, scope, tools, typed
from nemo_flow.codecs import OpenAIChatStreamCollector


@scope.traced
def plain(a: int, b: str = "x") -> list[str]:
    return [b] * a


@scope.traced("named", ScopeType.Agent, capture_output=False)
async def coro(a: int) -> dict[str, int]:
    return {"a": a}


@scope.traced
def gen(n: int) -> Iterator[int]:
    yield from range(n)


@scope.traced(capture_input=False)
async def agen(n: int) -> AsyncIterator[int]:
    yield n


@tools.tool
async def search(query: str, limit: int = 3) -> list[str]:
    return [query] * limit


@tools.tool("lookup", args_codec=typed.BestEffortAnyCodec(), result_codec=typed.JsonPassthrough())
def lookup(key: bytes) -> str:
    return key.decode()


@llm.call_model(model_name="gpt-4o")
async def chat(request: LLMRequest, temperature: float = 0.0) -> dict[str, Any]:
    return {}


@llm.stream_model(collector=OpenAIChatStreamCollector)
async def chat_stream(request: LLMRequest) -> AsyncIterator[dict[str, Any]]:
    yield {}


class Agent:
    @scope.traced
    def plan(self, goal: str) -> str:
        return goal

    @tools.tool
    async def act(self, step: int) -> int:
        return step


async def uses() -> None:
    keeps_defaults: Callable[[int], list[str]] = plain
    keeps_names: Callable[..., list[str]] = plain
    assert_type(keeps_defaults(1) + keeps_names(a=1, b="y"), list[str])
    assert_type(plain(1), list[str])
    pending = assert_type(coro(1), Coroutine[Any, Any, dict[str, int]])
    pending.close()
    assert_type(await coro(1), dict[str, int])
    assert_type(gen(2), Iterator[int])
    assert_type(agen(2), AsyncIterator[int])
    assert_type(await search("q"), list[str])
    assert_type(lookup(b"k"), str)
    assert_type(await chat(LLMRequest({}, {}), temperature=0.5), dict[str, Any])
    assert_type(chat_stream(LLMRequest({}, {})), AsyncIterator[dict[str, Any]])
    assert_type(Agent().plan("g"), str)
    assert_type(await Agent().act(1), int)
    assert_type(scope.current(), ScopeHandle)
    async with scope.scope("s", ScopeType.Agent) as h:
        assert_type(h, ScopeHandle)
    with scope.scope("s", ScopeType.Agent) as h2:
        assert_type(h2, ScopeHandle)

    # Wrong calls stay wrong.
    plain("1")  # type: ignore[arg-type]
    plain(1, c=2)  # type: ignore[call-arg]
    await search(limit=2)  # type: ignore[call-arg]
    await search("q", lim=2)  # type: ignore[call-arg]
    Agent().plan(3)  # type: ignore[arg-type]
    scope.scope("s", ScopeType.Agent, bogus=1)  # type: ignore[call-arg]
