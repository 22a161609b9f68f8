"""Drop-in Anthropic integration: ``nemo_flow.integrations.anthropic.instrument()``.

Every ``POST /v1/messages`` made by any ``anthropic.Anthropic`` / ``AsyncAnthropic`` client
(also ``client.beta.messages``, and clients created before ``instrument()``) becomes a managed
LLM call: ``messages.create``, ``messages.parse``, ``messages.stream`` (with its
``text_stream`` and ``get_final_message()``) and ``with_raw_response``, sync and async.
``count_tokens``, models, batches and files pass through.

Event name: ``anthropic.messages`` (or ``instrument(name=...)``).
Needs ``pip install nemo-flow[anthropic]``; the SDK is imported only by ``instrument()``.

A guardrail refusing a Messages call before it leaves the process (``httpx2.MockTransport``,
the SDK's HTTP client, stands in for the server, so the example runs offline):

    >>> import anthropic, httpx2
    >>> from nemo_flow import GuardrailRejected, guardrails
    >>> from nemo_flow.integrations import anthropic as nf_anthropic
    >>> sent = []
    >>> def server(request):
    ...     sent.append(request.url.path)
    ...     return httpx2.Response(500)
    >>> client = anthropic.Anthropic(api_key="sk-test", base_url="http://127.0.0.1:9", max_retries=0,
    ...                              http_client=httpx2.Client(transport=httpx2.MockTransport(server)))
    >>> guardrails.register_llm_conditional_execution("doc-block", 0, lambda request: "no model calls here")
    >>> nf_anthropic.instrument()
    >>> nf_anthropic.is_instrumented()
    True
    >>> try:
    ...     client.messages.create(model="claude-x", max_tokens=5, messages=[{"role": "user", "content": "Hi"}])
    ... except GuardrailRejected:
    ...     print("blocked, requests sent:", sent)
    blocked, requests sent: []
    >>> nf_anthropic.uninstrument()
    >>> guardrails.deregister_llm_conditional_execution("doc-block")
    True
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
