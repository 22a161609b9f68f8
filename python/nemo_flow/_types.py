"""JSON and callback type aliases used across the public API (documentation only; the
runtime checks values itself)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Literal, TypeAlias, Union

from ._native import AnnotatedLLMRequest, LLMRequest, MarkEvent, ScopeEvent

JsonPrimitive: TypeAlias = str | int | float | bool | None
"""A JSON scalar."""
JsonValue: TypeAlias = JsonPrimitive | list["JsonValue"] | dict[str, "JsonValue"]
"""Any JSON value: a scalar, a list of values or an object with string keys."""
JsonObject: TypeAlias = dict[str, JsonValue]
"""A JSON object: a dict with string keys and JSON values."""
Json: TypeAlias = JsonValue
"""Any JSON value (the payloads of calls, events and middleware)."""
UnsupportedBehavior: TypeAlias = Literal["ignore", "warn", "error"]
"""What to do with an unsupported input: ignore it, warn, or raise."""
Event: TypeAlias = Union[ScopeEvent, MarkEvent]  # noqa: UP007
"""What subscribers receive: a scope lifecycle event or a mark."""

EventSubscriber: TypeAlias = Callable[[Event], Any]
"""``(event) -> None``: called synchronously with every event."""
ToolSanitizeGuardrail: TypeAlias = Callable[[str, Json], Json]
"""``(tool_name, payload) -> payload``: rewrites what a tool event records."""
ToolConditionalExecutionGuardrail: TypeAlias = Callable[[str, Json], str | None]
"""``(tool_name, args) -> None | reason``: a reason rejects the call."""
LlmSanitizeRequestGuardrail: TypeAlias = Callable[[LLMRequest], LLMRequest]
"""``(request) -> request``: rewrites what an LLM start event records."""
LlmSanitizeResponseGuardrail: TypeAlias = Callable[[JsonObject], JsonObject]
"""``(response) -> response``: rewrites what an LLM end event records."""
LlmConditionalExecutionGuardrail: TypeAlias = Callable[[LLMRequest], str | None]
"""``(request) -> None | reason``: a reason rejects the call."""
ToolRequestIntercept: TypeAlias = Callable[[str, Json], Json]
"""``(tool_name, args) -> args``: rewrites the arguments the tool receives."""
ToolExecutionIntercept: TypeAlias = Callable[[str, Json, Callable[[Json], Awaitable[Json]]], Json | Awaitable[Json]]
"""``(tool_name, args, next) -> result``: wraps the tool call; ``await next(args)`` runs it."""
LlmRequestIntercept: TypeAlias = Callable[
    [str, LLMRequest, AnnotatedLLMRequest | None], tuple[LLMRequest, AnnotatedLLMRequest | None]
]
"""``(name, request, annotated) -> (request, annotated)``: rewrites the request the model receives."""
LlmExecutionIntercept: TypeAlias = Callable[
    [str, LLMRequest, Callable[[LLMRequest], Awaitable[Json]]], Json | Awaitable[Json]
]
"""``(name, request, next) -> response``: wraps the LLM call; ``await next(request)`` runs it."""
LlmStreamExecutionIntercept: TypeAlias = Callable[
    [LLMRequest, Callable[[LLMRequest], Awaitable[AsyncIterator[Json]]]],
    AsyncIterator[Json] | Awaitable[AsyncIterator[Json]],
]
"""``(request, next) -> chunks``: wraps a streaming LLM call; ``await next(request)`` opens it."""
