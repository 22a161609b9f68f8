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

A client call seen by a request intercept while instrumented (``httpx.MockTransport`` stands
in for the server, so the example runs offline):

    >>> import httpx, openai
    >>> from nemo_flow import intercepts
    >>> from nemo_flow.integrations import openai as nf_openai
    >>> reply = {"id": "c1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
    ...          "choices": [{"index": 0, "finish_reason": "stop",
    ...                       "message": {"role": "assistant", "content": "Hello!"}}]}
    >>> server = httpx.MockTransport(lambda request: httpx.Response(200, json=reply))
    >>> client = openai.OpenAI(api_key="sk-test", base_url="http://127.0.0.1:9/v1",
    ...                        http_client=httpx.Client(transport=server))
    >>> seen = []
    >>> def note(name, request, annotated):
    ...     seen.append((name, annotated.model))
    ...     return request, annotated
    >>> intercepts.register_llm_request("doc-note", 0, False, note)
    >>> with nf_openai.instrumented():
    ...     print(nf_openai.is_instrumented())
    ...     answer = client.chat.completions.create(
    ...         model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
    True
    >>> answer.choices[0].message.content, seen
    ('Hello!', [('openai.chat.completions', 'gpt-4o-mini')])
    >>> nf_openai.is_instrumented()
    False
    >>> intercepts.deregister_llm_request("doc-note")
    True
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
