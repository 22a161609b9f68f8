"""Drop-in OpenAI integration: ``nemo_flow.integrations.openai.instrument()``.

Every ``POST /chat/completions`` and ``POST /responses`` made by any ``openai.OpenAI`` /
``AsyncOpenAI`` client (including Azure and OpenAI-compatible servers such as vLLM or NIM, and
clients created before ``instrument()``) becomes a managed LLM call: guardrails can block it,
request intercepts rewrite what goes on the wire, execution intercepts wrap or replace it, and
events carry the codecs' annotations. ``create``, ``parse``, the ``.stream()`` helpers,
``with_raw_response`` and ``with_streaming_response`` are all covered; other endpoints
(embeddings, files, audio, images, batches, ...) pass through untouched.

Event names: ``openai.chat.completions`` and ``openai.responses`` (or ``instrument(name=...)``).
Needs ``pip install nemo-flow[openai]``; the SDK is imported only by ``instrument()``.
"""

from __future__ import annotations

from ..codecs import OpenAIChatCodec, OpenAIChatStreamCollector, OpenAIResponsesCodec, OpenAIResponsesStreamCollector
from ._common import surface
from ._stainless import Endpoint, Stainless

__all__ = ["instrument", "instrumented", "is_instrumented", "uninstrument"]

_INTEGRATION = Stainless(
    "openai",
    {
        "/chat/completions": Endpoint("openai.chat.completions", OpenAIChatCodec(), OpenAIChatStreamCollector),
        "/responses": Endpoint("openai.responses", OpenAIResponsesCodec(), OpenAIResponsesStreamCollector),
    },
)


instrument, uninstrument, is_instrumented, instrumented = surface(
    _INTEGRATION.switch, "OpenAI chat-completions and Responses"
)
