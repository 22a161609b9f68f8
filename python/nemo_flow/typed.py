"""Typed wrappers over the JSON APIs: application values (dataclasses, pydantic models, any
object) are converted to JSON by a :class:`Codec` before the runtime sees them and back
after, so middleware and events only ever see JSON.

``BestEffortAnyCodec`` falls back to pickle for values JSON cannot hold; it only ever
unpickles payloads it produced and signed in this process (HMAC-SHA256 with a per-process
random key), so a payload from elsewhere, or one edited on the way, is refused.

Example:
    >>> from dataclasses import dataclass
    >>> from nemo_flow import typed
    >>> @dataclass
    ... class Query:
    ...     text: str
    >>> @dataclass
    ... class Hits:
    ...     items: list[str]
    >>> def search(query):
    ...     return Hits([query.text])
    >>> typed.tool_execute_sync("search", Query("q"), search, typed.DataclassCodec(Query), typed.DataclassCodec(Hits))
    Hits(items=['q'])
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import itertools
import json
import os
import pickle
import sys
import types
import typing
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from inspect import isawaitable
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from . import llm, tools
from ._native import LLMRequest
from ._types import Json

__all__ = [
    "BestEffortAnyCodec",
    "Codec",
    "DataclassCodec",
    "JsonPassthrough",
    "PydanticCodec",
    "llm_execute",
    "llm_execute_sync",
    "llm_stream_execute",
    "llm_stream_execute_sync",
    "tool_execute",
    "tool_execute_sync",
]

T = TypeVar("T")
TArgs = TypeVar("TArgs")
TResult = TypeVar("TResult")
TChunk = TypeVar("TChunk")
TResponse = TypeVar("TResponse")


@runtime_checkable
class Codec(Protocol[T]):
    """Converts application values of type ``T`` to JSON and back."""

    def to_json(self, value: T) -> Json:
        """Return ``value`` as JSON."""

    def from_json(self, data: Json) -> T:
        """Return the value that ``data`` encodes."""


class JsonPassthrough:
    """The identity codec for values that already are JSON."""

    def to_json(self, value: Json) -> Json:
        """Return ``value`` unchanged."""
        return value

    def from_json(self, data: Json) -> Json:
        """Return ``data`` unchanged."""
        return data


class PydanticCodec(Generic[T]):
    """A pydantic model class: ``model_dump(mode="json")`` out, ``model_validate`` in."""

    def __init__(self, cls: type[T]) -> None:
        if not (isinstance(cls, type) and hasattr(cls, "model_validate") and hasattr(cls, "model_dump")):
            raise TypeError(f"cls: expected a pydantic model class, got {cls!r}")
        self.cls = cls

    def to_json(self, value: T) -> Json:
        """Return the model dumped in JSON mode; ``TypeError`` for anything but an instance of ``cls``."""
        if not isinstance(value, self.cls):
            raise TypeError(
                f"PydanticCodec({self.cls.__name__}): expected a {self.cls.__name__}, got {type(value).__name__}"
            )
        return typing.cast(Json, value.model_dump(mode="json"))  # type: ignore[attr-defined]

    def from_json(self, data: Json) -> T:
        """Return a validated instance of ``cls`` built from ``data``."""
        return typing.cast(T, self.cls.model_validate(data))  # type: ignore[attr-defined]


class DataclassCodec(Generic[T]):
    """A dataclass: its fields as a JSON object (``None`` fields left out); nested dataclasses
    (also in lists and optional fields) are rebuilt from their annotations."""

    def __init__(self, cls: type[T]) -> None:
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
            raise TypeError(f"cls: expected a dataclass type, got {cls!r}")
        self.cls = cls

    def to_json(self, value: T) -> Json:
        """Return the dataclass's fields as a JSON object; ``TypeError`` for anything but an instance of ``cls``."""
        if not isinstance(value, self.cls):
            raise TypeError(
                f"DataclassCodec({self.cls.__name__}): expected a {self.cls.__name__}, got {type(value).__name__}"
            )
        return _dataclass_json(value)

    def from_json(self, data: Json) -> T:
        """Return an instance of ``cls`` (nested dataclasses rebuilt) from ``data``."""
        return typing.cast(T, _build(self.cls, data))


def _dataclass_json(value: Any) -> Json:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _dataclass_json(v) for f in dataclasses.fields(value) if (v := getattr(value, f.name)) is not None
        }
    if isinstance(value, (list, tuple)):
        return [_dataclass_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _dataclass_json(v) for k, v in value.items()}
    return typing.cast(Json, value)


def _build(tp: Any, data: Any) -> Any:
    """Rebuilds ``data`` as type ``tp`` where ``tp`` names dataclasses; other values as is."""
    if data is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (list, tuple, set, frozenset) and isinstance(data, list):
        args = typing.get_args(tp)
        items = [_build(args[0] if args else Any, v) for v in data]
        return items if origin is list else origin(items)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            if arg is not type(None) and dataclasses.is_dataclass(arg) and isinstance(data, dict):
                return _build(arg, data)
        return data
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(data, dict):
            raise TypeError(f"DataclassCodec: expected a JSON object for {tp.__name__}, got {type(data).__name__}")
        hints = typing.get_type_hints(tp)
        known = {f.name for f in dataclasses.fields(tp) if f.init}
        unknown = set(data) - known
        if unknown:
            raise TypeError(f"DataclassCodec: {tp.__name__} has no field(s) {sorted(unknown)}")
        return tp(**{k: _build(hints.get(k, Any), v) for k, v in data.items()})
    return data


# --- BestEffortAnyCodec ----------------------------------------------------------------------------

_SIGNING_KEY = os.urandom(32)  # per process: nothing signed elsewhere verifies here
_tokens = itertools.count()
_type_by_token: weakref.WeakValueDictionary[str, type] = weakref.WeakValueDictionary()
_token_by_type: weakref.WeakKeyDictionary[type, str] = weakref.WeakKeyDictionary()


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _token(cls: type) -> str:
    tok = _token_by_type.get(cls)
    if tok is None:
        tok = f"{os.getpid()}-{next(_tokens)}"
        _token_by_type[cls] = tok
        _type_by_token[tok] = cls
    return tok


def _resolve(qualname: Any, token: Any) -> type:
    """The class a tagged payload names: this process's own registry first, then a module
    that is already imported (never imports anything new)."""
    if isinstance(token, str) and (cls := _type_by_token.get(token)) is not None:
        return cls
    if isinstance(qualname, str):
        module, _, rest = qualname.rpartition(".")
        while module:
            mod = sys.modules.get(module)
            if mod is not None:
                obj: Any = mod
                for part in rest.split("."):
                    obj = getattr(obj, part, None)
                if isinstance(obj, type):
                    return obj
                break
            module, _, head = module.rpartition(".")
            rest = f"{head}.{rest}"
    raise ValueError(
        f"BestEffortAnyCodec: cannot resolve type {qualname!r} (not registered in this process or imported)"
    )


def _sign(blob: bytes) -> str:
    return hmac.new(_SIGNING_KEY, blob, hashlib.sha256).hexdigest()


def _is_plain_json(value: Any) -> bool:
    try:
        return bool(json.loads(json.dumps(value, allow_nan=False)) == value)
    except (TypeError, ValueError, RecursionError):
        return False


class BestEffortAnyCodec:
    """Any value: pydantic models and dataclasses tagged with their type, plain JSON as is,
    anything else pickled (signed) or, failing that, recorded as its ``str``.

    ``from_json`` rebuilds tagged types from this process's type registry or from modules
    already imported; it unpickles only payloads signed by this process, and raises
    ``ValueError`` for any other (forged, foreign or tampered) pickle payload.
    """

    def to_json(self, value: Any) -> Json:
        """Return ``value`` as JSON: tagged pydantic model or dataclass, plain JSON, signed pickle, or its ``str``."""
        cls = type(value)
        if hasattr(cls, "model_validate") and hasattr(value, "model_dump"):
            data = value.model_dump(mode="json")
            return {"__nv_pydantic__": _qualname(cls), "__nv_runtime_type__": _token(cls), "data": data}
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            fields = {f.name: self.to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
            return {"__nv_dataclass__": _qualname(cls), "__nv_runtime_type__": _token(cls), "data": fields}
        if _is_plain_json(value):
            return typing.cast(Json, value)
        try:
            blob = pickle.dumps(value)
        except Exception:
            return {"__nv_fallback_str__": _qualname(cls), "data": str(value)}
        return {
            "__nv_pickle__": _qualname(cls),
            "data": base64.b64encode(blob).decode("ascii"),
            "signature": _sign(blob),
        }

    def from_json(self, data: Json) -> Any:
        """Return the value ``data`` encodes; ``ValueError`` for a pickle this process did not sign."""
        if not isinstance(data, dict):
            return data
        if "__nv_pydantic__" in data:
            cls: Any = _resolve(data["__nv_pydantic__"], data.get("__nv_runtime_type__"))
            if not hasattr(cls, "model_validate"):
                raise ValueError(f"BestEffortAnyCodec: {data['__nv_pydantic__']!r} is not a pydantic model")
            return cls.model_validate(data.get("data"))
        if "__nv_dataclass__" in data:
            cls = _resolve(data["__nv_dataclass__"], data.get("__nv_runtime_type__"))
            fields = data.get("data")
            if not (dataclasses.is_dataclass(cls) and isinstance(fields, dict)):
                raise ValueError(f"BestEffortAnyCodec: {data['__nv_dataclass__']!r} is not a dataclass payload")
            build = typing.cast(Callable[..., Any], cls)
            return build(**{k: self.from_json(v) for k, v in fields.items()})
        if "__nv_pickle__" in data:
            return _unpickle(data)
        if "__nv_fallback_str__" in data:
            return data.get("data")
        return data


def _unpickle(data: dict[str, Json]) -> Any:
    blob_b64, signature = data.get("data"), data.get("signature")
    if not isinstance(blob_b64, str) or not isinstance(signature, str):
        raise ValueError("BestEffortAnyCodec: refusing to unpickle an unsigned payload")
    try:
        blob = base64.b64decode(blob_b64, validate=True)
    except ValueError as exc:
        raise ValueError("BestEffortAnyCodec: pickle payload is not valid base64") from exc
    if not hmac.compare_digest(_sign(blob), signature):
        raise ValueError(
            "BestEffortAnyCodec: refusing to unpickle a payload this process did not sign "
            "(forged, tampered with, or produced by another process)"
        )
    return pickle.loads(blob)  # signed by this process: checked above


# --- typed managed calls ---------------------------------------------------------------------------


async def _await_if_needed(value: Any) -> Any:
    return await value if isawaitable(value) else value


def _check_codec(codec: Any, arg: str) -> None:
    if not (callable(getattr(codec, "to_json", None)) and callable(getattr(codec, "from_json", None))):
        raise TypeError(f"{arg}: expected a codec with to_json() and from_json(), got {type(codec).__name__}")


async def tool_execute(
    name: str,
    args: TArgs,
    func: Callable[[TArgs], TResult | Awaitable[TResult]],
    args_codec: Codec[TArgs],
    result_codec: Codec[TResult],
    *,
    handle: Any = None,
    attributes: Any = None,
    data: Any = None,
    metadata: Any = None,
) -> TResult:
    """:func:`nemo_flow.tools.execute` over typed values: ``args`` go through ``args_codec``
    to JSON (what guardrails, intercepts and events see) and back to ``func``; its result goes
    through ``result_codec`` the same way. ``func`` may be sync or async."""
    _check_codec(args_codec, "args_codec")
    _check_codec(result_codec, "result_codec")

    async def json_func(json_args: Json) -> Json:
        result = await _await_if_needed(func(args_codec.from_json(json_args)))
        return result_codec.to_json(result)

    raw = await tools.execute(
        name, args_codec.to_json(args), json_func, handle=handle, attributes=attributes, data=data, metadata=metadata
    )
    return result_codec.from_json(raw)


def tool_execute_sync(
    name: str,
    args: TArgs,
    func: Callable[[TArgs], TResult],
    args_codec: Codec[TArgs],
    result_codec: Codec[TResult],
    *,
    handle: Any = None,
    attributes: Any = None,
    data: Any = None,
    metadata: Any = None,
) -> TResult:
    """Synchronous twin of :func:`tool_execute`."""
    _check_codec(args_codec, "args_codec")
    _check_codec(result_codec, "result_codec")

    def json_func(json_args: Json) -> Json:
        return result_codec.to_json(func(args_codec.from_json(json_args)))

    raw = tools.execute_sync(
        name, args_codec.to_json(args), json_func, handle=handle, attributes=attributes, data=data, metadata=metadata
    )
    return result_codec.from_json(raw)


async def llm_execute(
    name: str,
    request: LLMRequest,
    func: Callable[[LLMRequest], TResponse | Awaitable[TResponse]],
    response_json_codec: Codec[TResponse],
    *,
    handle: Any = None,
    attributes: Any = None,
    data: Any = None,
    metadata: Any = None,
    model_name: str | None = None,
    codec: Any = None,
    response_codec: Any = None,
) -> TResponse:
    """:func:`nemo_flow.llm.execute` with a typed response: ``func`` (sync or async) returns
    an application value that ``response_json_codec`` turns into the JSON the runtime records
    (and ``response_codec`` decodes); the caller gets it back typed."""
    _check_codec(response_json_codec, "response_json_codec")

    async def json_func(req: LLMRequest) -> Json:
        return response_json_codec.to_json(await _await_if_needed(func(req)))

    raw = await llm.execute(
        name,
        request,
        json_func,
        handle=handle,
        attributes=attributes,
        data=data,
        metadata=metadata,
        model_name=model_name,
        codec=codec,
        response_codec=response_codec,
    )
    return response_json_codec.from_json(raw)


def llm_execute_sync(
    name: str,
    request: LLMRequest,
    func: Callable[[LLMRequest], TResponse],
    response_json_codec: Codec[TResponse],
    *,
    handle: Any = None,
    attributes: Any = None,
    data: Any = None,
    metadata: Any = None,
    model_name: str | None = None,
    codec: Any = None,
    response_codec: Any = None,
) -> TResponse:
    """Synchronous twin of :func:`llm_execute`."""
    _check_codec(response_json_codec, "response_json_codec")

    def json_func(req: LLMRequest) -> Json:
        return response_json_codec.to_json(func(req))

    raw = llm.execute_sync(
        name,
        request,
        json_func,
        handle=handle,
        attributes=attributes,
        data=data,
        metadata=metadata,
        model_name=model_name,
        codec=codec,
        response_codec=response_codec,
    )
    return response_json_codec.from_json(raw)


async def llm_stream_execute(
    name: str,
    request: LLMRequest,
    func: Callable[[LLMRequest], Any],
    collector: Callable[[TChunk], Any],
    finalizer: Callable[[], TResponse],
    chunk_json_codec: Codec[TChunk],
    response_json_codec: Codec[TResponse],
    *,
    handle: Any = None,
    attributes: Any = None,
    data: Any = None,
    metadata: Any = None,
    model_name: str | None = None,
    codec: Any = None,
    response_codec: Any = None,
) -> llm.LlmStream:
    """:func:`nemo_flow.llm.stream_execute` over typed chunks: ``func`` returns an async
    iterable (or an awaitable of one) of application chunks, each converted to JSON by
    ``chunk_json_codec``; ``collector`` receives typed chunks and ``finalizer`` returns a
    typed response, recorded through ``response_json_codec``. The returned stream yields the
    JSON chunks."""
    _check_codec(chunk_json_codec, "chunk_json_codec")
    _check_codec(response_json_codec, "response_json_codec")

    async def json_stream(req: LLMRequest) -> AsyncIterator[Json]:
        source = await _await_if_needed(func(req))
        async for chunk in source:
            yield chunk_json_codec.to_json(chunk)

    return await llm.stream_execute(
        name,
        request,
        json_stream,
        lambda c: collector(chunk_json_codec.from_json(c)),
        lambda: response_json_codec.to_json(finalizer()),
        handle=handle,
        attributes=attributes,
        data=data,
        metadata=metadata,
        model_name=model_name,
        codec=codec,
        response_codec=response_codec,
    )


def llm_stream_execute_sync(
    name: str,
    request: LLMRequest,
    func: Callable[[LLMRequest], Any],
    collector: Callable[[TChunk], Any],
    finalizer: Callable[[], TResponse],
    chunk_json_codec: Codec[TChunk],
    response_json_codec: Codec[TResponse],
    *,
    handle: Any = None,
    attributes: Any = None,
    data: Any = None,
    metadata: Any = None,
    model_name: str | None = None,
    codec: Any = None,
    response_codec: Any = None,
) -> llm.LlmStreamSync:
    """Synchronous twin of :func:`llm_stream_execute` (``func`` returns an iterable)."""
    _check_codec(chunk_json_codec, "chunk_json_codec")
    _check_codec(response_json_codec, "response_json_codec")

    def json_stream(req: LLMRequest) -> Iterator[Json]:
        for chunk in func(req):
            yield chunk_json_codec.to_json(chunk)

    return llm.stream_execute_sync(
        name,
        request,
        json_stream,
        lambda c: collector(chunk_json_codec.from_json(c)),
        lambda: response_json_codec.to_json(finalizer()),
        handle=handle,
        attributes=attributes,
        data=data,
        metadata=metadata,
        model_name=model_name,
        codec=codec,
        response_codec=response_codec,
    )
