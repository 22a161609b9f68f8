"""``@llm.call_model`` and ``@llm.stream_model``: a function that calls the provider itself
becomes a managed LLM call (plain or streaming) through ``llm.execute`` / ``llm.stream_execute``
and their sync twins.

The function takes the :class:`~nemo_flow.LLMRequest` as its first parameter (after
``self``/``cls`` for methods); the request that comes out of the request intercepts is the one
it receives. Its other arguments are passed through as given.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast, overload

from . import llm
from ._decorating import check_function, check_name, is_decoratee, is_method, kind_of, signature_of

if TYPE_CHECKING:
    from .codecs import StreamCollector

P = ParamSpec("P")
R = TypeVar("R")


class ChunkList:
    """The default stream collector: the response recorded is the list of chunks."""

    __slots__ = ("chunks",)

    def __init__(self) -> None:
        self.chunks: list[Any] = []

    def collect(self, chunk: Any) -> None:
        self.chunks.append(chunk)

    def finalize(self) -> list[Any]:
        return self.chunks


def _request_position(func: Callable[..., Any], api: str) -> tuple[int, str]:
    """Where the request is among the positional arguments, and its parameter name."""
    sig = signature_of(func, api)
    params = list(sig.parameters.values())
    i = 1 if is_method(sig) else 0
    if len(params) <= i or params[i].kind not in (params[i].POSITIONAL_ONLY, params[i].POSITIONAL_OR_KEYWORD):
        raise TypeError(f"{api}: {func.__qualname__} must take the LLMRequest as its first parameter")
    return i, params[i].name


def _splitter(func: Callable[..., Any], api: str) -> Callable[[tuple[Any, ...], dict[str, Any]], tuple[Any, Any]]:
    """``(args, kwargs) -> (request, fn)`` where ``fn(request)`` calls ``func`` with the
    (possibly intercepted) request in its place and the other arguments unchanged."""
    i, pname = _request_position(func, api)

    def split(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any]:
        if len(args) > i:
            before, after = args[:i], args[i + 1 :]
            return args[i], lambda req: func(*before, req, *after, **kwargs)
        if pname in kwargs:
            rest = {k: v for k, v in kwargs.items() if k != pname}
            return kwargs[pname], lambda req: func(*args, **{pname: req}, **rest)
        raise TypeError(f"{func.__qualname__}() missing its LLMRequest argument {pname!r}")

    return split


def _parse(name: Any, api: str, codec: Any, response_codec: Any, model_name: Any) -> None:
    check_name(name, api)
    if model_name is not None and not isinstance(model_name, str):
        raise TypeError(f"{api}: model_name: expected a str or None, got {type(model_name).__name__}")
    if codec is not None and not callable(getattr(codec, "decode", None)):
        raise TypeError(f"{api}: codec: expected an LLM codec with decode(), got {type(codec).__name__}")
    if response_codec is not None and not callable(getattr(response_codec, "decode_response", None)):
        raise TypeError(
            f"{api}: response_codec: expected an LLM codec with decode_response(), got {type(response_codec).__name__}"
        )


@overload
def call_model(name: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def call_model(
    name: str | None = None,
    *,
    codec: Any = None,
    response_codec: Any = None,
    model_name: str | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def call_model(
    name: Any = None,
    *,
    codec: Any = None,
    response_codec: Any = None,
    model_name: str | None = None,
) -> Any:
    """Decorator for a function ``(request: LLMRequest, ...) -> response`` (sync or async)
    that calls the provider itself: each call is a managed LLM call named ``name`` (default:
    the function's ``__name__``) through :func:`nemo_flow.llm.execute`, with ``codec``,
    ``response_codec`` and ``model_name`` as there. The function receives the request as left
    by the request intercepts; its response (JSON, or an SDK object with ``model_dump``) is
    what the caller gets back. Signature, docstring and exceptions are kept.
    """
    if is_decoratee(name):
        return _call_model(name, None, None, None, None)
    _parse(name, "llm.call_model", codec, response_codec, model_name)

    def decorator(func: Callable[P, R]) -> Callable[P, R]:
        return _call_model(func, name, codec, response_codec, model_name)

    return decorator


def _call_model(func: Callable[P, R], name: str | None, codec: Any, response_codec: Any, model: Any) -> Callable[P, R]:
    api = "llm.call_model"
    check_function(func, api)
    kind = kind_of(func)
    if kind in ("generator", "async_generator"):
        raise TypeError(f"{api}: {func.__qualname__} is a generator function; decorate it with llm.stream_model")
    split = _splitter(func, api)
    call_name = name or func.__name__
    options = {"codec": codec, "response_codec": response_codec, "model_name": model}

    if kind == "coroutine":

        async def model_call(*args: Any, **kwargs: Any) -> Any:
            request, fn = split(args, kwargs)
            return await llm.execute(call_name, request, fn, **options)

        return cast("Callable[P, R]", functools.wraps(func)(model_call))

    def model_call_sync(*args: Any, **kwargs: Any) -> Any:
        request, fn = split(args, kwargs)
        return llm.execute_sync(call_name, request, fn, **options)

    return cast("Callable[P, R]", functools.wraps(func)(model_call_sync))


@overload
def stream_model(name: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def stream_model(
    name: str | None = None,
    *,
    collector: Callable[[], StreamCollector] = ChunkList,
    codec: Any = None,
    response_codec: Any = None,
    model_name: str | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def stream_model(
    name: Any = None,
    *,
    collector: Callable[[], StreamCollector] = ChunkList,
    codec: Any = None,
    response_codec: Any = None,
    model_name: str | None = None,
) -> Any:
    """Decorator for a generator or async generator function ``(request: LLMRequest, ...)``
    that yields the provider's stream chunks: each call is a managed streaming LLM call
    (:func:`nemo_flow.llm.stream_execute`) and the decorated function still returns a
    generator (async or not) of the same chunks.

    ``collector`` is called once per call for an object with ``collect(chunk)`` and
    ``finalize()`` (e.g. ``OpenAIChatStreamCollector``); the default records the list of
    chunks as the response. Each chunk emits one ``llm.chunk`` mark as the consumer receives
    it, and the call ends exactly once: when the stream ends, fails or is closed.
    """
    if is_decoratee(name):
        return _stream_model(name, None, ChunkList, None, None, None)
    _parse(name, "llm.stream_model", codec, response_codec, model_name)
    if not callable(collector):
        raise TypeError(
            f"llm.stream_model: collector: expected a callable returning a collector "
            f"(e.g. a collector class), got {type(collector).__name__}"
        )

    def decorator(func: Callable[P, R]) -> Callable[P, R]:
        return _stream_model(func, name, collector, codec, response_codec, model_name)

    return decorator


def _new_collector(factory: Callable[[], Any]) -> Any:
    c = factory()
    if not (callable(getattr(c, "collect", None)) and callable(getattr(c, "finalize", None))):
        raise TypeError(
            f"llm.stream_model: collector() returned a {type(c).__name__}, which lacks collect(chunk) and finalize()"
        )
    return c


def _stream_model(
    func: Callable[P, R], name: str | None, factory: Any, codec: Any, response_codec: Any, model: Any
) -> Callable[P, R]:
    api = "llm.stream_model"
    check_function(func, api)
    kind = kind_of(func)
    if kind not in ("generator", "async_generator"):
        raise TypeError(f"{api}: {func.__qualname__} must be a generator or async generator function yielding chunks")
    split = _splitter(func, api)
    call_name = name or func.__name__
    options = {"codec": codec, "response_codec": response_codec, "model_name": model}

    if kind == "async_generator":

        async def model_stream(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            request, fn = split(args, kwargs)
            c = _new_collector(factory)
            stream = await llm.stream_execute(call_name, request, fn, c.collect, c.finalize, **options)
            try:
                while True:  # not `async for`: its iterator would close the stream on its own
                    try:
                        chunk = await stream.__anext__()
                    except StopAsyncIteration:
                        break
                    yield chunk
            finally:
                await stream.aclose()  # a no-op when it already finished

        return cast("Callable[P, R]", functools.wraps(func)(model_stream))

    def model_stream_sync(*args: Any, **kwargs: Any) -> Iterator[Any]:
        request, fn = split(args, kwargs)
        c = _new_collector(factory)
        stream = llm.stream_execute_sync(call_name, request, fn, c.collect, c.finalize, **options)
        try:
            yield from stream
        finally:
            stream.close()

    return cast("Callable[P, R]", functools.wraps(func)(model_stream_sync))
