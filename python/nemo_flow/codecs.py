"""Codecs between provider payloads and the provider-neutral annotated views.

A request codec decodes a provider request into an :class:`AnnotatedLLMRequest` (what request
intercepts see and start events record) and encodes an edited annotation back; a response
codec decodes provider responses for end events. Pass one as ``codec=`` / ``response_codec=``
to ``llm.execute`` and friends.

Built in (native, run without a Python call): :class:`OpenAIChatCodec`,
:class:`OpenAIResponsesCodec`, :class:`AnthropicMessagesCodec`, each both a request and a
response codec. Any other object with ``decode``/``encode`` (or ``decode_response``) works
through the same parameters.

Streaming: :class:`OpenAIChatStreamCollector`, :class:`OpenAIResponsesStreamCollector` and
:class:`AnthropicMessagesStreamCollector` rebuild a provider's complete response from its
stream chunks; pass ``c.collect`` and ``c.finalize`` as the collector and finalizer of
``llm.stream_execute``. :class:`SseDecoder` turns raw server-sent-event bytes into the JSON
chunks those collectors take.

Example:
    >>> from nemo_flow import LLMRequest
    >>> from nemo_flow.codecs import OpenAIChatCodec
    >>> request = LLMRequest({}, {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
    >>> annotated = OpenAIChatCodec().decode(request)
    >>> annotated.model, annotated.last_user_message()
    ('gpt-4o', 'hi')
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from ._native import (
    AnnotatedLLMRequest,
    AnnotatedLLMResponse,
    AnthropicMessagesCodec,
    AnthropicMessagesStreamCollector,
    LLMRequest,
    OpenAIChatCodec,
    OpenAIChatStreamCollector,
    OpenAIResponsesCodec,
    OpenAIResponsesStreamCollector,
    SseDecoder,
)

__all__ = [
    "AnnotatedLLMRequest",
    "AnnotatedLLMResponse",
    "AnthropicMessagesCodec",
    "AnthropicMessagesStreamCollector",
    "LlmCodec",
    "LlmResponseCodec",
    "OpenAIChatCodec",
    "OpenAIChatStreamCollector",
    "OpenAIResponsesCodec",
    "OpenAIResponsesStreamCollector",
    "SseDecoder",
    "StreamCollector",
]


@runtime_checkable
class LlmCodec(Protocol):
    """Translates between provider requests and the annotated view."""

    def decode(self, request: LLMRequest) -> AnnotatedLLMRequest:
        """Return the provider-neutral view of ``request``."""

    def encode(self, annotated: AnnotatedLLMRequest, original: LLMRequest) -> LLMRequest:
        """Return ``original`` rewritten to carry what intercepts changed in ``annotated``."""


@runtime_checkable
class LlmResponseCodec(Protocol):
    """Decodes provider responses into the annotated view."""

    def decode_response(self, response: Any) -> AnnotatedLLMResponse:
        """Return the provider-neutral view of ``response``."""


@runtime_checkable
class StreamCollector(Protocol):
    """Accumulates stream chunks (``collect``) into one complete response (``finalize``)."""

    def collect(self, chunk: Any) -> None:
        """Accumulate one stream chunk."""

    def finalize(self) -> Any:
        """Return the complete response assembled from the collected chunks."""
