"""Stream lifetime: every way a user iterates a managed stream yields every chunk, whether or
not the stream object itself is held; a stream is finished as abandoned only when neither it
nor an iterator over it is reachable; a finalizer that raises still ends the call once."""

from __future__ import annotations

import contextlib
import gc
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from nemo_flow import LLMRequest, llm

N = 4
EXPECTED = [{"i": i} for i in range(N)]


def request() -> LLMRequest:
    return LLMRequest({}, {"messages": [{"role": "user", "content": "hi"}], "stream": True})


class Probe:
    """Upstream generators, collector and finalizer that record what happened to them."""

    def __init__(self) -> None:
        self.collected: list[Any] = []
        self.finalized = 0
        self.closed = 0

    def collect(self, chunk: Any) -> None:
        self.collected.append(chunk)

    def finalize(self) -> Any:
        self.finalized += 1
        return {"n": len(self.collected)}

    async def agen(self, _request: LLMRequest) -> AsyncIterator[Any]:
        try:
            for i in range(N):
                yield {"i": i}
        finally:
            self.closed += 1

    def gen(self, _request: LLMRequest) -> Iterator[Any]:
        try:
            for i in range(N):
                yield {"i": i}
        finally:
            self.closed += 1

    def stream(self) -> Awaitable[llm.LlmStream]:
        return llm.stream_execute("m", request(), self.agen, self.collect, self.finalize)

    def stream_sync(self) -> llm.LlmStreamSync:
        return llm.stream_execute_sync("m", request(), self.gen, self.collect, self.finalize)


def ends(events: list[Any]) -> list[Any]:
    return [e for e in events if e.kind == "scope" and e.name == "m" and e.scope_category == "end"]


def assert_complete(p: Probe, events: list[Any], got: list[Any]) -> None:
    assert got == EXPECTED
    assert p.collected == EXPECTED
    assert p.finalized == 1
    (end,) = ends(events)
    assert end.error is None
    assert end.data == {"n": N}
    assert len([e for e in events if e.name == "llm.chunk"]) == N


# --- async: every chunk, held or not -------------------------------------------------------------


async def _async_for_unheld(p: Probe) -> list[Any]:
    return [c async for c in await p.stream()]


async def _async_for_loop_unheld(p: Probe) -> list[Any]:
    got = []
    async for c in await p.stream():
        got.append(c)
    return got


async def _async_for_held(p: Probe) -> list[Any]:
    s = await p.stream()
    return [c async for c in s]


async def _aiter_anext_unheld(p: Probe) -> list[Any]:
    it = aiter(await p.stream())
    got = [await anext(it) for _ in range(N)]
    with pytest.raises(StopAsyncIteration):
        await anext(it)
    return got


async def _anext_on_stream(p: Probe) -> list[Any]:
    s = await p.stream()
    got = [await anext(s) for _ in range(N)]
    assert await anext(s, "exhausted") == "exhausted"
    return got


async def _aclosing_unheld(p: Probe) -> list[Any]:
    async with contextlib.aclosing(await p.stream()) as s:
        return [c async for c in s]


async def _await_unheld(p: Probe) -> list[Any]:
    assert await (await p.stream()) == {"n": N}
    return list(p.collected)


async def _async_for_in_helper(p: Probe) -> list[Any]:
    async def consume(chunks: AsyncIterator[Any]) -> list[Any]:
        return [c async for c in chunks]

    return await consume(aiter(await p.stream()))


ASYNC_WAYS: dict[str, Callable[[Probe], Awaitable[list[Any]]]] = {
    "async-for-comprehension-unheld": _async_for_unheld,
    "async-for-loop-unheld": _async_for_loop_unheld,
    "async-for-held": _async_for_held,
    "aiter-anext-unheld": _aiter_anext_unheld,
    "anext-on-stream": _anext_on_stream,
    "aclosing-unheld": _aclosing_unheld,
    "await-unheld": _await_unheld,
    "iterator-passed-on": _async_for_in_helper,
}


@pytest.mark.parametrize("way", list(ASYNC_WAYS))
async def test_async_stream_yields_every_chunk_however_iterated(way: str, events: list[Any]) -> None:
    p = Probe()
    got = await ASYNC_WAYS[way](p)
    assert_complete(p, events, got)
    assert p.closed == 1


# --- sync: every chunk, held or not -------------------------------------------------------------


def _for_unheld(p: Probe) -> list[Any]:
    got = []
    for c in p.stream_sync():
        got.append(c)
    return got


def _iter_next_unheld(p: Probe) -> list[Any]:
    it = iter(p.stream_sync())
    got = [next(it) for _ in range(N)]
    assert next(it, "exhausted") == "exhausted"
    return got


def _next_on_stream(p: Probe) -> list[Any]:
    s = p.stream_sync()
    got = [next(s) for _ in range(N)]
    with pytest.raises(StopIteration):
        next(s)
    return got


def _enumerate_unheld(p: Probe) -> list[Any]:
    return [c for _i, c in enumerate(p.stream_sync())]


def _zip_unheld(p: Probe) -> list[Any]:
    return [c for c, _ in zip(p.stream_sync(), itertools.count(), strict=False)]


def _closing_unheld(p: Probe) -> list[Any]:
    with contextlib.closing(p.stream_sync()) as s:
        return list(s)


def _result_unheld(p: Probe) -> list[Any]:
    assert p.stream_sync().result() == {"n": N}
    return list(p.collected)


SYNC_WAYS: dict[str, Callable[[Probe], list[Any]]] = {
    "list-unheld": lambda p: list(p.stream_sync()),
    "for-loop-unheld": _for_unheld,
    "comprehension-unheld": lambda p: [c for c in p.stream_sync()],
    "generator-expression-unheld": lambda p: list(c for c in p.stream_sync()),
    "iter-next-unheld": _iter_next_unheld,
    "next-on-stream": _next_on_stream,
    "enumerate-unheld": _enumerate_unheld,
    "zip-unheld": _zip_unheld,
    "closing-unheld": _closing_unheld,
    "result-unheld": _result_unheld,
    "tuple-unpacking-unheld": lambda p: [*p.stream_sync()],
}


@pytest.mark.parametrize("way", list(SYNC_WAYS))
def test_sync_stream_yields_every_chunk_however_iterated(way: str, events: list[Any]) -> None:
    p = Probe()
    got = SYNC_WAYS[way](p)
    assert_complete(p, events, got)
    assert p.closed == 1


# --- abandoned only when nothing reaches it -----------------------------------------------------


async def test_async_stream_abandoned_when_its_last_iterator_goes(events: list[Any]) -> None:
    p = Probe()
    it = aiter(await p.stream())
    assert await anext(it) == {"i": 0}
    gc.collect()  # the stream is reachable only through the iterator: not finished
    assert p.finalized == 0 and ends(events) == []
    del it
    gc.collect()
    assert p.finalized == 1
    (end,) = ends(events)
    assert end.error is None and end.data == {"n": 1}


async def test_async_stream_in_a_reference_cycle_is_finished_once_collected(events: list[Any]) -> None:
    p = Probe()
    holder: dict[str, Any] = {"stream": await p.stream()}
    holder["self"] = holder
    assert await anext(holder["stream"]) == {"i": 0}
    del holder
    gc.collect()
    assert p.finalized == 1
    assert len(ends(events)) == 1


def test_sync_stream_abandoned_when_its_last_iterator_goes(events: list[Any]) -> None:
    p = Probe()
    first_two = list(itertools.islice(p.stream_sync(), 2))
    gc.collect()
    assert first_two == EXPECTED[:2]
    assert p.finalized == 1
    assert p.closed == 1
    (end,) = ends(events)
    assert end.error is None and end.data == {"n": 2}


def test_sync_iterator_keeps_stream_alive_until_dropped(events: list[Any]) -> None:
    p = Probe()
    it = iter(p.stream_sync())
    assert next(it) == {"i": 0}
    gc.collect()
    assert p.finalized == 0 and ends(events) == []
    assert next(it) == {"i": 1}
    del it
    gc.collect()
    assert p.finalized == 1 and p.closed == 1
    assert len(ends(events)) == 1


# --- a finalizer that raises still ends the call once --------------------------------------------


class Halt(BaseException):
    """A BaseException that is not an Exception (like KeyboardInterrupt or SystemExit)."""


def _raising_finalizer(exc: BaseException, calls: list[int]) -> Callable[[], Any]:
    def finalize() -> Any:
        calls.append(1)
        raise exc

    return finalize


@pytest.mark.parametrize("exc_type", [Halt, KeyboardInterrupt, SystemExit])
async def test_async_finalizer_base_exception_propagates_after_the_end_event(
    exc_type: type[BaseException], events: list[Any]
) -> None:
    p = Probe()
    calls: list[int] = []
    err = exc_type("stop")
    s = await llm.stream_execute("m", request(), p.agen, p.collect, _raising_finalizer(err, calls))
    got = []
    with pytest.raises(exc_type) as info:
        async for c in s:
            got.append(c)
    assert info.value is err
    assert got == EXPECTED
    (end,) = ends(events)
    assert end.error is not None and end.error["type"] == exc_type.__name__
    assert s.done and calls == [1]
    assert await anext(s, "exhausted") == "exhausted"
    assert calls == [1] and len(ends(events)) == 1


async def test_async_finalizer_base_exception_on_aclose(events: list[Any]) -> None:
    p = Probe()
    calls: list[int] = []
    s = await llm.stream_execute("m", request(), p.agen, p.collect, _raising_finalizer(Halt(), calls))
    assert await anext(s) == {"i": 0}
    with pytest.raises(Halt):
        await s.aclose()
    (end,) = ends(events)
    assert end.error is not None and end.error["type"] == "Halt"
    await s.aclose()
    assert calls == [1] and len(ends(events)) == 1


@pytest.mark.parametrize("exc_type", [Halt, KeyboardInterrupt, SystemExit])
def test_sync_finalizer_base_exception_propagates_after_the_end_event(
    exc_type: type[BaseException], events: list[Any]
) -> None:
    p = Probe()
    calls: list[int] = []
    err = exc_type("stop")
    s = llm.stream_execute_sync("m", request(), p.gen, p.collect, _raising_finalizer(err, calls))
    with pytest.raises(exc_type) as info:
        s.result()
    assert info.value is err
    (end,) = ends(events)
    assert end.error is not None and end.error["type"] == exc_type.__name__
    assert list(s) == [] and calls == [1] and len(ends(events)) == 1


def test_sync_finalizer_base_exception_when_abandoned(events: list[Any]) -> None:
    p = Probe()
    calls: list[int] = []
    unraisable: list[Any] = []
    s = llm.stream_execute_sync("m", request(), p.gen, p.collect, _raising_finalizer(Halt(), calls))
    assert next(s) == {"i": 0}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("sys.unraisablehook", unraisable.append)
        del s
        gc.collect()
    (end,) = ends(events)
    assert end.error is not None and end.error["type"] == "Halt"
    assert calls == [1]
    assert [type(u.exc_value) for u in unraisable] == [Halt]


async def test_finalizer_exception_is_recorded_on_the_end_event(
    events: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    p = Probe()
    s = await llm.stream_execute("m", request(), p.agen, p.collect, _raising_finalizer(RuntimeError("no"), []))
    assert await s is None
    (end,) = ends(events)
    assert end.error == {"type": "RuntimeError", "message": "no"}
    assert "stream finalizer failed" in caplog.text


async def test_finalizer_error_after_an_upstream_error_keeps_the_upstream_error(events: list[Any]) -> None:
    async def failing(_r: LLMRequest) -> AsyncIterator[Any]:
        yield {"i": 0}
        raise ConnectionError("upstream")

    s = await llm.stream_execute("m", request(), failing, lambda c: None, _raising_finalizer(RuntimeError("f"), []))
    with pytest.raises(ConnectionError):
        await s
    (end,) = ends(events)
    assert end.error is not None and end.error["type"] == "ConnectionError"
