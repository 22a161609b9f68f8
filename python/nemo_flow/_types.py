"""JSON and callback type aliases used across the public API (documentation only; the
runtime checks values itself)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Literal, TypeAlias, Union

from ._native import AnnotatedLLMRequest, LLMRequest, MarkEvent, ScopeEvent

JsonPrimitive: TypeAlias = str | int | float | bool | None
JsonValue: TypeAlias = JsonPrimitive | list["JsonValue"] | dict[str, "JsonValue"]
JsonObject: TypeAlias = dict[str, JsonValue]
Json: TypeAlias = JsonValue
UnsupportedBehavior: TypeAlias = Literal["ignore", "warn", "error"]
Event: TypeAlias = Union[ScopeEvent, MarkEvent]  # noqa: UP007

EventSubscriber: TypeAlias = Callable[[Event], Any]
ToolSanitizeGuardrail: TypeAlias = Callable[[str, Json], Json]
ToolConditionalExecutionGuardrail: TypeAlias = Callable[[str, Json], str | None]
LlmSanitizeRequestGuardrail: TypeAlias = Callable[[LLMRequest], LLMRequest]
LlmSanitizeResponseGuardrail: TypeAlias = Callable[[JsonObject], JsonObject]
LlmConditionalExecutionGuardrail: TypeAlias = Callable[[LLMRequest], str | None]
ToolRequestIntercept: TypeAlias = Callable[[str, Json], Json]
ToolExecutionIntercept: TypeAlias = Callable[[str, Json, Callable[[Json], Awaitable[Json]]], Json | Awaitable[Json]]
LlmRequestIntercept: TypeAlias = Callable[
    [str, LLMRequest, AnnotatedLLMRequest | None], tuple[LLMRequest, AnnotatedLLMRequest | None]
]
LlmExecutionIntercept: TypeAlias = Callable[
    [str, LLMRequest, Callable[[LLMRequest], Awaitable[Json]]], Json | Awaitable[Json]
]
LlmStreamExecutionIntercept: TypeAlias = Callable[
    [LLMRequest, Callable[[LLMRequest], Awaitable[AsyncIterator[Json]]]],
    AsyncIterator[Json] | Awaitable[AsyncIterator[Json]],
]
