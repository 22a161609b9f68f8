"""Drop-in Anthropic integration: ``nemo_flow.integrations.anthropic.instrument()``.

Every ``POST /v1/messages`` made by any ``anthropic.Anthropic`` / ``AsyncAnthropic`` client
(also ``client.beta.messages``, and clients created before ``instrument()``) becomes a managed
LLM call: ``messages.create``, ``messages.parse``, ``messages.stream`` (with its
``text_stream`` and ``get_final_message()``) and ``with_raw_response``, sync and async.
``count_tokens``, models, batches and files pass through.

Event name: ``anthropic.messages`` (or ``instrument(name=...)``).
Needs ``pip install nemo-flow[anthropic]``; the SDK is imported only by ``instrument()``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..codecs import AnthropicMessagesCodec, AnthropicMessagesStreamCollector
from ._stainless import Endpoint, Stainless

__all__ = ["instrument", "instrumented", "is_instrumented", "uninstrument"]

_INTEGRATION = Stainless(
    "anthropic",
    {"/v1/messages": Endpoint("anthropic.messages", AnthropicMessagesCodec(), AnthropicMessagesStreamCollector)},
    prepare=True,
)


def instrument(*, name: str | None = None) -> None:
    """Manage every Anthropic Messages call from now on. Idempotent; ``name`` replaces the
    default event name."""
    _INTEGRATION.switch.instrument(name)


def uninstrument() -> None:
    """Put the SDK back exactly as it was (or, if another library wrapped on top of ours since,
    leave ours in place switched off so theirs keeps working)."""
    _INTEGRATION.switch.uninstrument()


def is_instrumented() -> bool:
    """Whether Anthropic calls are being managed."""
    return _INTEGRATION.switch.enabled


@contextmanager
def instrumented(*, name: str | None = None) -> Iterator[None]:
    """Instrument for the duration of a ``with`` block (restored after, unless it was
    already instrumented before)."""
    with _INTEGRATION.switch.instrumented(name):
        yield
