"""LLM call lifecycle: managed execution, streaming (async and sync), manual start/end, and
the individual pipeline steps.

Example:
    >>> import asyncio
    >>> from nemo_flow import LLMRequest, llm
    >>> async def call_model(request):
    ...     return {"choices": [{"message": {"role": "assistant", "content": "hi"}}]}
    >>> request = LLMRequest({}, {"messages": [{"role": "user", "content": "hello"}]})
    >>> asyncio.run(llm.execute("demo-model", request, call_model))["choices"][0]["message"]["content"]
    'hi'
    >>> async def open_stream(request):
    ...     async def chunks():
    ...         for word in ("a", "b"):
    ...             yield {"delta": word}
    ...     return chunks()
    >>> collected = []
    >>> async def consume():
    ...     finalize = lambda: len(collected)
    ...     stream = await llm.stream_execute("demo-model", request, open_stream, collected.append, finalize)
    ...     return [chunk["delta"] async for chunk in stream]
    >>> asyncio.run(consume())
    ['a', 'b']
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from inspect import isawaitable
from typing import Any

from . import _drive
from ._model_decorator import call_model, stream_model
from ._native import LlmCall as _LlmCall
from ._native import LLMHandle, LLMRequest
from ._native import llm_call as call
from ._native import llm_call_end as call_end
from ._native import llm_conditional_execution as conditional_execution
from ._native import llm_request_intercepts as request_intercepts

__all__ = [
    "LLMHandle",
    "LLMRequest",
    "LlmStream",
    "LlmStreamSync",
    "call",
    "call_end",
    "call_model",
    "conditional_execution",
    "execute",
    "execute_sync",
    "request_intercepts",
    "stream_execute",
    "stream_execute_sync",
    "stream_model",
]


def execute(
    name: str,
    request: LLMRequest,
    func: Callable[[LLMRequest], Any],
    *,
    handle: Any = None,
    attributes: Any = None,
    data: Any = None,
    metadata: Any = None,
    model_name: str | None = None,
    codec: Any = None,
    response_codec: Any = None,
) -> Awaitable[Any]:
    """Run ``func(request)`` as a managed LLM call; returns an awaitable of its raw result.

    With ``codec``, request intercepts receive the decoded annotation and the start event
    records it; with ``response_codec`` the end event records the annotated response.
    """
    _drive.check_func(func)
    c = _LlmCall(name, request, handle, attributes, data, metadata, model_name, codec, response_codec)
    return _drive.run_async(c, func, name)


def execute_sync(
    name: str,
    request: LLMRequest,
    func: Callable[[LLMRequest], Any],
    *,
    handle: Any = None,
    attributes: Any = None,
    data: Any = None,
    metadata: Any = None,
    model_name: str | None = None,
    codec: Any = None,
    response_codec: Any = None,
) -> Any:
    """Synchronous twin of :func:`execute` for synchronous provider clients."""
    _drive.check_func(func)
    c = _LlmCall(name, request, handle, attributes, data, metadata, model_name, codec, response_codec)
    return _drive.run_sync(c, func, "llm.execute_sync", name)


class _StreamState:
    """What both stream flavours share: chunk marks, the collector, and finishing once."""

    __slots__ = ("_call", "_collector", "_done", "_finalizer", "_it", "result")

    def __init__(self, call: Any, it: Any, collector: Callable[[Any], Any], finalizer: Callable[[], Any]) -> None:
        self._call = call
        self._it = it
        self._collector = collector
        self._finalizer = finalizer
        self._done = False
        self.result: Any = None

    def on_chunk(self, chunk: Any) -> Any:
        self._call.chunk(chunk)
        try:
            self._collector(chunk)
        except BaseException as exc:
            self.finish(exc)
            raise
        return chunk

    def finish(self, exc: BaseException | None) -> None:
        if self._done:
            return
        self._done = True
        # The core stream driver runs the finalizer exactly once, records the stream's error
        # (else the finalizer's) on the end event, logs a finalizer Exception and re-raises
        # any other BaseException after the end event.
        self.result = self._call.finish(exc, self._finalizer)


class LlmStream:
    """The consumer's view of a managed LLM stream: async-iterable, and awaitable for the
    finalized response.

    Each chunk emits one ``llm.chunk`` mark when the consumer receives it. The stream
    finishes exactly once: at its end, on an error, on ``aclose()``, as soon as an
    ``async for`` over it is left early with ``break``, or when neither the stream nor an
    iterator over it is reachable any more (an iterator keeps its stream alive).
    """

    __slots__ = ("__weakref__", "_state")

    def __init__(self, state: _StreamState) -> None:
        self._state = state

    def __aiter__(self) -> AsyncIterator[Any]:
        # A fresh iterator owned only by the loop: leaving the loop early drops it, and its
        # finalizer finishes the stream at once. It holds the stream, so a stream iterated
        # without being held (`async for c in await stream_execute(...)`) stays alive.
        return _StreamIterator(self)

    async def __anext__(self) -> Any:
        return await _next(self._state)

    async def aclose(self) -> None:
        """Stop consuming: finish the stream now and close the upstream iterator."""
        st = self._state
        st.finish(None)
        close = getattr(st._it, "aclose", None)
        if close is not None:
            await close()

    def __await__(self) -> Any:
        return self._drain().__await__()

    async def _drain(self) -> Any:
        st = self._state
        while not st._done:
            try:
                await _next(st)
            except StopAsyncIteration:
                break
        return st.result

    @property
    def done(self) -> bool:
        """Whether the stream has finished."""
        return self._state._done

    def __del__(self) -> None:
        _abandon(self._state)


async def _next(st: _StreamState) -> Any:
    if st._done:
        raise StopAsyncIteration
    try:
        chunk = await st._it.__anext__()
    except StopAsyncIteration:
        st.finish(None)
        raise
    except BaseException as exc:
        st.finish(exc)
        raise
    return st.on_chunk(chunk)


def _abandon(st: _StreamState) -> None:
    if st._done:
        return
    st.finish(None)
    close = getattr(st._it, "aclose", None)
    if close is None:
        return
    try:
        asyncio.get_running_loop().create_task(close())
    except RuntimeError:
        pass  # no loop: the generator's own finalizer closes it


class _StreamIterator:
    __slots__ = ("_state", "_stream")

    def __init__(self, stream: LlmStream) -> None:
        self._stream = stream
        self._state = stream._state

    def __aiter__(self) -> _StreamIterator:
        return self

    def __anext__(self) -> Awaitable[Any]:
        return _next(self._state)

    def __del__(self) -> None:
        _abandon(self._state)


def stream_execute(
    name: str,
    request: LLMRequest,
    func: Callable[[LLMRequest], Any],
    collector: Callable[[Any], Any],
    finalizer: Callable[[], Any],
    *,
    handle: Any = None,
    attributes: Any = None,
    data: Any = None,
    metadata: Any = None,
    model_name: str | None = None,
    codec: Any = None,
    response_codec: Any = None,
) -> Awaitable[LlmStream]:
    """Open a managed streaming LLM call.

    ``func(request)`` returns an async iterable of JSON chunks (or an awaitable of one).
    ``collector(chunk)`` is called once per chunk as the consumer receives it;
    ``finalizer()`` is called once when the stream finishes and returns the full response
    recorded on the end event. The ``STREAMING`` attribute is set automatically.
    """
    _drive.check_func(func)
    _check_callable(collector, "collector")
    _check_callable(finalizer, "finalizer")
    c = _LlmCall(name, request, handle, attributes, data, metadata, model_name, codec, response_codec, True)
    return _open(c, func, collector, finalizer)


async def _open(c: Any, func: Callable[..., Any], collector: Any, finalizer: Any) -> LlmStream:
    req, intercepts = c.begin()
    try:
        if intercepts:
            it = await _drive.chain(c, intercepts, (), req, func)
        else:
            it = func(req)
            if isawaitable(it):
                it = await it
        upstream = _aiter(it)
    except BaseException as exc:
        c.fail(exc)
        raise
    return LlmStream(_StreamState(c, upstream, collector, finalizer))


def _aiter(it: Any) -> Any:
    if not hasattr(it, "__aiter__"):
        raise TypeError(f"llm.stream_execute: func must return an async iterable of chunks, got {type(it).__name__}")
    return it.__aiter__()


class LlmStreamSync:
    """Synchronous twin of :class:`LlmStream` (iterable; finishes exactly once, with the same
    rules: an iterator keeps its stream alive)."""

    __slots__ = ("__weakref__", "_state")

    def __init__(self, state: _StreamState) -> None:
        self._state = state

    def __iter__(self) -> Iterator[Any]:
        # Holds the stream: see LlmStream.__aiter__.
        return _SyncStreamIterator(self)

    def __next__(self) -> Any:
        return _next_sync(self._state)

    def close(self) -> None:
        """Stop consuming: finish the stream now and close the upstream iterator."""
        _abandon_sync(self._state)

    def result(self) -> Any:
        """Consume the rest of the stream and return the finalized response."""
        for _ in _SyncStreamIterator(self):
            pass
        return self._state.result

    @property
    def done(self) -> bool:
        """Whether the stream has finished."""
        return self._state._done

    def __del__(self) -> None:
        _abandon_sync(self._state)


def _next_sync(st: _StreamState) -> Any:
    if st._done:
        raise StopIteration
    try:
        chunk = next(st._it)
    except StopIteration:
        st.finish(None)
        raise
    except BaseException as exc:
        st.finish(exc)
        raise
    return st.on_chunk(chunk)


def _abandon_sync(st: _StreamState) -> None:
    if st._done:
        return
    st.finish(None)
    close = getattr(st._it, "close", None)
    if close is not None:
        close()


class _SyncStreamIterator:
    __slots__ = ("_state", "_stream")

    def __init__(self, stream: LlmStreamSync) -> None:
        self._stream = stream
        self._state = stream._state

    def __iter__(self) -> _SyncStreamIterator:
        return self

    def __next__(self) -> Any:
        return _next_sync(self._state)

    def __del__(self) -> None:
        _abandon_sync(self._state)


def stream_execute_sync(
    name: str,
    request: LLMRequest,
    func: Callable[[LLMRequest], Any],
    collector: Callable[[Any], Any],
    finalizer: Callable[[], Any],
    *,
    handle: Any = None,
    attributes: Any = None,
    data: Any = None,
    metadata: Any = None,
    model_name: str | None = None,
    codec: Any = None,
    response_codec: Any = None,
) -> LlmStreamSync:
    """Synchronous twin of :func:`stream_execute`: ``func(request)`` returns an iterable of
    chunks; stream execution intercepts must be synchronous."""
    _drive.check_func(func)
    _check_callable(collector, "collector")
    _check_callable(finalizer, "finalizer")
    c = _LlmCall(name, request, handle, attributes, data, metadata, model_name, codec, response_codec, True)
    req, intercepts = c.begin()
    try:
        if intercepts:
            it = _drive.chain_sync(c, intercepts, (), req, func, "llm.stream_execute_sync")
        else:
            it = func(req)
        if not hasattr(it, "__iter__") or isinstance(it, (str, bytes, dict)):
            raise TypeError(f"llm.stream_execute_sync: func must return an iterable of chunks, got {type(it).__name__}")
        upstream = iter(it)
    except BaseException as exc:
        c.fail(exc)
        raise
    return LlmStreamSync(_StreamState(c, upstream, collector, finalizer))


def _check_callable(f: Any, arg: str) -> None:
    if not callable(f):
        raise TypeError(f"{arg}: expected a callable, got {type(f).__name__}")
