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

from ..codecs import AnthropicMessagesCodec, AnthropicMessagesStreamCollector
from ._common import surface
from ._stainless import Endpoint, Stainless

__all__ = ["instrument", "instrumented", "is_instrumented", "uninstrument"]

_INTEGRATION = Stainless(
    "anthropic",
    {"/v1/messages": Endpoint("anthropic.messages", AnthropicMessagesCodec(), AnthropicMessagesStreamCollector)},
    prepare=True,
)


instrument, uninstrument, is_instrumented, instrumented = surface(_INTEGRATION.switch, "Anthropic Messages")
