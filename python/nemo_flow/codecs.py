"""Codec protocols. A request codec decodes a provider request into an
:class:`AnnotatedLLMRequest` (what request intercepts see and events record) and encodes an
edited annotation back; a response codec decodes provider responses for end events."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from ._native import AnnotatedLLMRequest, AnnotatedLLMResponse, LLMRequest

__all__ = ["AnnotatedLLMRequest", "AnnotatedLLMResponse", "LlmCodec", "LlmResponseCodec"]


@runtime_checkable
class LlmCodec(Protocol):
    """Translates between provider requests and the annotated view."""

    def decode(self, request: LLMRequest) -> AnnotatedLLMRequest: ...

    def encode(self, annotated: AnnotatedLLMRequest, original: LLMRequest) -> LLMRequest: ...


@runtime_checkable
class LlmResponseCodec(Protocol):
    """Decodes provider responses into the annotated view."""

    def decode_response(self, response: Any) -> AnnotatedLLMResponse: ...
