"""Drop-in LiteLLM integration: ``nemo_flow.integrations.litellm.instrument()``.

``litellm.completion`` / ``acompletion`` (OpenAI chat shape), ``litellm.responses`` /
``aresponses`` (Responses shape) and ``litellm.anthropic_interface.messages.create`` /
``acreate`` (Anthropic Messages shape) become managed LLM calls, streaming included. The
request is the call's keyword arguments minus credentials and transport settings (``api_key``,
``api_base``, ``timeout``, clients, ...), which still reach LiteLLM; headers passed as
``extra_headers`` / ``headers`` are recorded without credentials. ``model_name`` is LiteLLM's
model string (``"openai/gpt-4o"``).

When LiteLLM calls the OpenAI or Anthropic SDK underneath, those integrations see the shared
"inside a managed call" flag and pass through: one event per call.

Not covered: ``from litellm import completion`` executed *before* ``instrument()`` keeps the
original function (for OpenAI-compatible providers the OpenAI integration still catches the
call underneath); ``text_completion``, embeddings and images pass through; streamed calls of
the Anthropic interface pass through. Needs ``pip install nemo-flow[litellm]``.

A ``litellm.completion`` seen by a request intercept while instrumented (LiteLLM's own
``mock_response`` answers, so the example runs offline):

    >>> import os
    >>> _ = os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download at import
    >>> import litellm
    >>> from nemo_flow import intercepts
    >>> from nemo_flow.integrations import litellm as nf_litellm
    >>> seen = []
    >>> def note(name, request, annotated):
    ...     seen.append(name)
    ...     return request, annotated
    >>> intercepts.register_llm_request("doc-note", 0, False, note)
    >>> with nf_litellm.instrumented():
    ...     out = litellm.completion(model="openai/gpt-4o-mini", mock_response="Hello!",
    ...                              messages=[{"role": "user", "content": "Hi"}])
    >>> out.choices[0].message.content, seen
    ('Hello!', ['litellm.completion'])
    >>> nf_litellm.is_instrumented()
    False
    >>> intercepts.deregister_llm_request("doc-note")
    True
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
from collections.abc import Callable
from typing import Any, NamedTuple

import wrapt

from .. import llm
from .._native import LLMRequest
from ..codecs import (
    AnthropicMessagesCodec,
    AnthropicMessagesStreamCollector,
    OpenAIChatCodec,
    OpenAIChatStreamCollector,
    OpenAIResponsesCodec,
    OpenAIResponsesStreamCollector,
)
from ._common import IN_MANAGED_CALL, Patches, Switch, split_headers, surface, untouched

__all__ = ["instrument", "instrumented", "is_instrumented", "uninstrument"]

# Keyword arguments that configure the transport or carry credentials: passed on, never recorded.
_TRANSPORT = frozenset(
    {
        "api_key",
        "api_base",
        "base_url",
        "api_version",
        "organization",
        "timeout",
        "max_retries",
        "client",
        "litellm_logging_obj",
        "custom_llm_provider",
        "azure_ad_token_provider",
        "aws_region_name",
        "vertex_project",
        "vertex_location",
    }
)
_HEADER_KEYS = ("extra_headers", "headers")
_JSONISH = (str, int, float, bool, type(None), list, dict, tuple)


class _Fn(NamedTuple):
    module: str
    attr: str
    name: str
    codec: Any
    collector: Callable[[], Any]
    result_type: str  # dotted path of the class a replaced result is rebuilt as ("" = keep JSON)
    chunk_type: str
    streams: bool  # whether stream=True calls are managed


_CHAT = OpenAIChatCodec()
_RESPONSES = OpenAIResponsesCodec()
_ANTHROPIC = AnthropicMessagesCodec()


def _pair(
    module: str, sync: str, name: str, codec: Any, collector: Any, result: str, chunk: str, streams: bool
) -> tuple[_Fn, _Fn]:
    """The sync function and its ``a``-prefixed async twin, managed alike."""
    return (
        _Fn(module, sync, name, codec, collector, result, chunk, streams),
        _Fn(module, "a" + sync, name, codec, collector, result, chunk, streams),
    )


_FUNCS: tuple[_Fn, ...] = (
    *_pair(
        "litellm",
        "completion",
        "litellm.completion",
        _CHAT,
        OpenAIChatStreamCollector,
        "litellm.ModelResponse",
        "litellm.ModelResponseStream",
        True,
    ),
    *_pair(
        "litellm",
        "responses",
        "litellm.responses",
        _RESPONSES,
        OpenAIResponsesStreamCollector,
        "litellm.types.llms.openai.ResponsesAPIResponse",
        "",
        True,
    ),
)
# The Anthropic interface names its async twin ``acreate``; its streams pass through.
_FUNCS += (
    _Fn(
        "litellm.anthropic_interface.messages",
        "create",
        "litellm.anthropic_messages",
        _ANTHROPIC,
        AnthropicMessagesStreamCollector,
        "",
        "",
        False,
    ),
    _Fn(
        "litellm.anthropic_interface.messages",
        "acreate",
        "litellm.anthropic_messages",
        _ANTHROPIC,
        AnthropicMessagesStreamCollector,
        "",
        "",
        False,
    ),
)


def _install(patches: Patches) -> None:
    for fn in _FUNCS:
        module = importlib.import_module(fn.module)
        make = _async_wrapper if fn.attr.startswith("a") else _sync_wrapper
        patches.replace(module, fn.attr, functools.partial(make, fn))


_SWITCH = Switch("litellm", _install)


def _secret(key: str) -> bool:
    return (
        key in _TRANSPORT
        or key.endswith(("_key", "_token", "_secret"))
        or any(w in key for w in ("secret", "password", "credential"))
    )


def _as_kwargs(orig: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    if not args:
        return kwargs
    names = [
        p.name
        for p in inspect.signature(orig).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(args) > len(names):
        raise TypeError(f"{orig.__name__}() takes {len(names)} positional arguments but {len(args)} were given")
    return {**dict(zip(names, args, strict=False)), **kwargs}


def _dump(obj: Any) -> Any:
    if isinstance(obj, dict):
        return obj
    dump = getattr(obj, "model_dump", None)
    return dump(mode="json") if dump is not None else obj


def _jsonable(obj: Any) -> Any:
    """LiteLLM accepts SDK/pydantic objects inside ``messages`` (a previous reply, say); the
    recorded request holds their JSON."""
    return json.loads(json.dumps(obj, default=lambda o: _dump(o) if hasattr(o, "model_dump") else str(o)))


def _resolve(path: str) -> Any:
    module, _, attr = path.rpartition(".")
    return getattr(importlib.import_module(module), attr)


class _Call:
    """One managed LiteLLM call."""

    __slots__ = ("entered", "fn", "header_key", "hidden", "opaque", "recorded", "request", "result", "tap")

    def __init__(self, fn: _Fn, kwargs: dict[str, Any]) -> None:
        self.fn = fn
        content: dict[str, Any] = {}
        opaque: dict[str, Any] = {}
        self.header_key = "extra_headers"
        headers: Any = None
        for k, v in kwargs.items():
            if k in _HEADER_KEYS and isinstance(v, dict):
                self.header_key, headers = k, v
            elif _secret(k) or not isinstance(v, _JSONISH):
                opaque[k] = v
            else:
                content[k] = v
        self.opaque = opaque
        self.recorded, self.hidden = split_headers(headers)
        self.request = LLMRequest(self.recorded, content)
        self.entered = False
        self.result: Any = None
        self.tap: Any = None

    def pipeline(self) -> dict[str, Any]:
        model = self.request.content.get("model")
        provider = model.partition("/")[0] if isinstance(model, str) and "/" in model else None
        return {
            "model_name": model if isinstance(model, str) else None,
            "codec": self.fn.codec,
            "response_codec": self.fn.codec,
            "metadata": {"integration": "litellm", "provider": provider},
        }

    def name(self) -> str:
        return _SWITCH.name or self.fn.name

    def call_kwargs(self, req: LLMRequest) -> dict[str, Any]:
        self.entered = True
        kw = {**self.opaque, **req.content}
        headers = req.headers
        if headers or self.hidden:
            kw[self.header_key] = {**self.hidden, **headers}
        return kw

    def normalized(self, exc: BaseException) -> bool:
        if self.entered or not isinstance(exc, (TypeError, ValueError)) or not str(exc).startswith("request.content"):
            return False
        self.request = LLMRequest(self.recorded, _jsonable(self.request.content))
        return True

    def keep(self, result: Any) -> Any:
        self.result = result
        return _dump(result)

    def give_back(self, out: Any) -> Any:
        result = self.result
        if self.entered and result is not None and _dump(result) == out:
            return result  # a fresh dump: an intercept may have edited the dict in place
        if isinstance(out, dict):
            if result is not None and not isinstance(result, dict):
                return type(result)(**out)
            if self.fn.result_type:
                return _resolve(self.fn.result_type)(**out)
        return out

    def rebuild_chunk(self, chunk: Any) -> Any:
        if not isinstance(chunk, dict):
            return chunk
        last = getattr(self.tap, "last_obj", None)
        if last is not None and not isinstance(last, dict):
            return type(last)(**chunk)
        if self.fn.chunk_type:
            return _resolve(self.fn.chunk_type)(**chunk)
        return chunk


def _run(call: Any, *args: Any) -> Any:
    """``call(*args)``, retried once with a JSON-normalized request after a refusal of a body
    that is not plain JSON."""
    c: _Call = args[1]
    try:
        return call(*args)
    except Exception as exc:
        if not c.normalized(exc):
            raise
        return call(*args)


async def _arun(call: Any, *args: Any) -> Any:
    """Async twin of :func:`_run`."""
    c: _Call = args[1]
    try:
        return await call(*args)
    except Exception as exc:
        if not c.normalized(exc):
            raise
        return await call(*args)


def _sync_wrapper(fn: _Fn, orig: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(orig)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not _SWITCH.enabled or IN_MANAGED_CALL.get():
            return orig(*args, **kwargs)
        kw = _as_kwargs(orig, args, kwargs)
        streaming = bool(kw.get("stream"))
        if streaming and not fn.streams:
            return orig(*args, **kwargs)
        c = _Call(fn, kw)

        def provider(req: LLMRequest) -> Any:
            token = IN_MANAGED_CALL.set(True)
            try:
                result = orig(**c.call_kwargs(req))
            finally:
                IN_MANAGED_CALL.reset(token)
            if streaming:
                c.result = result
                c.tap = _Tap(iter(result))
                return c.tap
            return c.keep(result)

        if not streaming:
            return c.give_back(_run(_execute_sync, provider, c))
        collector = fn.collector()
        managed = _run(_stream_sync, provider, c, collector)
        return _SyncStream(c.result if c.result is not None else managed, managed, c)

    return wrapper


def _async_wrapper(fn: _Fn, orig: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(orig)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not _SWITCH.enabled or IN_MANAGED_CALL.get():
            return await orig(*args, **kwargs)
        kw = _as_kwargs(orig, args, kwargs)
        streaming = bool(kw.get("stream"))
        if streaming and not fn.streams:
            return await orig(*args, **kwargs)
        c = _Call(fn, kw)

        async def provider(req: LLMRequest) -> Any:
            token = IN_MANAGED_CALL.set(True)
            try:
                result = await orig(**c.call_kwargs(req))
            finally:
                IN_MANAGED_CALL.reset(token)
            if streaming:
                c.result = result
                c.tap = _AsyncTap(result.__aiter__())
                return c.tap
            return c.keep(result)

        if not streaming:
            return c.give_back(await _arun(_execute_async, provider, c))
        collector = fn.collector()
        managed = await _arun(_stream_async, provider, c, collector)
        return _AsyncStream(c.result if c.result is not None else managed, managed, c)

    return wrapper


def _execute_sync(provider: Any, c: _Call) -> Any:
    return llm.execute_sync(c.name(), c.request, provider, **c.pipeline())


async def _execute_async(provider: Any, c: _Call) -> Any:
    return await llm.execute(c.name(), c.request, provider, **c.pipeline())


def _stream_sync(provider: Any, c: _Call, collector: Any) -> Any:
    return llm.stream_execute_sync(c.name(), c.request, provider, collector.collect, collector.finalize, **c.pipeline())


async def _stream_async(provider: Any, c: _Call, collector: Any) -> Any:
    return await llm.stream_execute(
        c.name(), c.request, provider, collector.collect, collector.finalize, **c.pipeline()
    )


class _Tap:
    """Pulls LiteLLM's chunk objects, yields their JSON, remembers the pair."""

    __slots__ = ("_it", "last_data", "last_obj")

    def __init__(self, it: Any) -> None:
        self._it = it
        self.last_obj: Any = None
        self.last_data: Any = None

    def _record(self, obj: Any) -> Any:
        self.last_obj = obj
        self.last_data = data = _dump(obj)
        return data

    def __iter__(self) -> _Tap:
        return self

    def __next__(self) -> Any:
        return self._record(next(self._it))


class _AsyncTap(_Tap):
    __slots__ = ()

    def __aiter__(self) -> _AsyncTap:
        return self

    async def __anext__(self) -> Any:
        return self._record(await self._it.__anext__())


class _Stream(wrapt.ObjectProxy):  # type: ignore[type-arg]
    """LiteLLM's own stream object (``isinstance`` holds) whose iteration is the managed stream."""

    def __init__(self, wrapped: Any, managed: Any, call: _Call) -> None:
        super().__init__(wrapped)
        self._self_managed = managed
        self._self_call = call
        self._self_direct = call.tap is not None and untouched(managed, call.tap)

    def _self_pick(self, chunk: Any) -> Any:
        tap = self._self_call.tap
        if self._self_direct and chunk is tap.last_data:
            return tap.last_obj
        return self._self_call.rebuild_chunk(chunk)


class _SyncStream(_Stream):
    def __iter__(self) -> Any:
        return self

    def __next__(self) -> Any:
        return self._self_pick(self._self_managed.__next__())

    def close(self) -> None:
        """Stop consuming: the managed call ends now with what was received."""
        self._self_managed.close()


class _AsyncStream(_Stream):
    def __aiter__(self) -> Any:
        return self

    async def __anext__(self) -> Any:
        return self._self_pick(await self._self_managed.__anext__())

    async def aclose(self) -> None:
        """Stop consuming: the managed call ends now with what was received."""
        await self._self_managed.aclose()


instrument, uninstrument, is_instrumented, instrumented = surface(
    _SWITCH, "LiteLLM completion, Responses and Anthropic-interface"
)
