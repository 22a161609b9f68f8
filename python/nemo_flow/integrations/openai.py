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

from collections.abc import Iterator
from contextlib import contextmanager

from ..codecs import OpenAIChatCodec, OpenAIChatStreamCollector, OpenAIResponsesCodec, OpenAIResponsesStreamCollector
from ._stainless import Endpoint, Stainless

__all__ = ["instrument", "instrumented", "is_instrumented", "uninstrument"]

_INTEGRATION = Stainless(
    "openai",
    {
        "/chat/completions": Endpoint("openai.chat.completions", OpenAIChatCodec(), OpenAIChatStreamCollector),
        "/responses": Endpoint("openai.responses", OpenAIResponsesCodec(), OpenAIResponsesStreamCollector),
    },
)


def instrument(*, name: str | None = None) -> None:
    """Manage every OpenAI chat-completions and Responses call from now on. Idempotent;
    ``name`` replaces the default event names."""
    _INTEGRATION.switch.instrument(name)


def uninstrument() -> None:
    """Put the SDK back exactly as it was (or, if another library wrapped on top of ours since,
    leave ours in place switched off so theirs keeps working)."""
    _INTEGRATION.switch.uninstrument()


def is_instrumented() -> bool:
    """Whether OpenAI calls are being managed."""
    return _INTEGRATION.switch.enabled


@contextmanager
def instrumented(*, name: str | None = None) -> Iterator[None]:
    """Instrument for the duration of a ``with`` block (restored after, unless it was
    already instrumented before)."""
    with _INTEGRATION.switch.instrumented(name):
        yield
