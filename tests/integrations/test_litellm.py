"""The LiteLLM integration: real LiteLLM calling the real OpenAI SDK against the loopback stub
(and ``mock_response`` for the Anthropic interface). One event per call, never two."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import pytest
from conftest import chunk_marks, llm_events
from integration_payloads import chat_stream, completion, response

from nemo_flow import GuardrailRejected, LLMRequest, guardrails, intercepts
from nemo_flow.integrations import litellm as nf_litellm
from nemo_flow.integrations import openai as nf_openai

# LiteLLM fetches a model price map over the network at import unless told not to.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
litellm = pytest.importorskip("litellm")

if TYPE_CHECKING:
    from provider_stub import ProviderStub

MESSAGES = [{"role": "user", "content": "Say hello"}]


def kw(stub: ProviderStub) -> dict[str, Any]:
    return {"api_base": stub.url + "/v1", "api_key": "sk-lite-secret", "max_retries": 0}


def only_call(events: list[Any]) -> tuple[Any, Any]:
    starts, ends = llm_events(events, "start"), llm_events(events, "end")
    assert len(starts) == 1 and len(ends) == 1, [e.name for e in llm_events(events)]
    return starts[0], ends[0]


def test_completion_is_one_event_even_with_the_openai_integration(stub: ProviderStub, events: list[Any]) -> None:
    stub.reply_json(completion("lite hello", model="m"))
    nf_litellm.instrument()
    nf_openai.instrument()
    out = litellm.completion("openai/m", MESSAGES, temperature=0.5, **kw(stub))  # positional, as often written
    assert type(out) is litellm.ModelResponse and out.choices[0].message.content == "lite hello"
    start, end = only_call(events)
    assert start.name == "litellm.completion"
    assert start.data["content"] == {"model": "openai/m", "messages": MESSAGES, "temperature": 0.5}
    assert start.category_profile["model_name"] == "openai/m"
    assert end.metadata == {"integration": "litellm", "provider": "openai"}
    assert end.annotated_response.response_text() == "lite hello"
    assert stub.requests[0].body["model"] == "m"
    assert "sk-lite-secret" not in repr([e.to_dict() for e in events])


async def test_acompletion_and_async_stream(stub: ProviderStub, events: list[Any]) -> None:
    stub.reply_json(completion("async lite", model="m"))
    stub.reply_sse(chat_stream(["as", "ync"], model="m"))
    nf_litellm.instrument()
    out = await litellm.acompletion(model="openai/m", messages=MESSAGES, **kw(stub))
    assert out.choices[0].message.content == "async lite"
    stream = await litellm.acompletion(model="openai/m", messages=MESSAGES, stream=True, **kw(stub))
    assert isinstance(stream, litellm.CustomStreamWrapper)
    text = "".join([c.choices[0].delta.content or "" async for c in stream])
    assert text == "async"
    ends = llm_events(events, "end")
    assert [e.annotated_response.response_text() for e in ends] == ["async lite", "async"]


def test_sync_stream(stub: ProviderStub, events: list[Any]) -> None:
    stub.reply_sse(chat_stream(["li", "te"], model="m"))
    nf_litellm.instrument()
    nf_openai.instrument()
    stream = litellm.completion(model="openai/m", messages=MESSAGES, stream=True, **kw(stub))
    assert isinstance(stream, litellm.CustomStreamWrapper)
    chunks = list(stream)
    assert all(isinstance(c, litellm.ModelResponseStream) for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "lite"
    _, end = only_call(events)
    assert end.annotated_response.response_text() == "lite"
    assert len(chunk_marks(events)) == len(chunks)


def test_responses(stub: ProviderStub, events: list[Any]) -> None:
    stub.reply_json(response("lite responses"))
    nf_litellm.instrument()
    out = litellm.responses(model="openai/gpt-4o-mini", input="hi", **kw(stub))
    assert out.output[0].content[0].text == "lite responses"
    start, end = only_call(events)
    assert start.name == "litellm.responses" and start.data["content"]["input"] == "hi"
    assert end.annotated_response.response_text() == "lite responses"


async def test_anthropic_interface(events: list[Any]) -> None:
    nf_litellm.instrument()
    from litellm.anthropic_interface import messages

    out = messages.create(model="anthropic/claude-x", messages=MESSAGES, max_tokens=5, mock_response="yo")
    assert out["content"][0]["text"] == "yo"
    out2 = await messages.acreate(model="anthropic/claude-x", messages=MESSAGES, max_tokens=5, mock_response="ho")
    assert out2["content"][0]["text"] == "ho"
    ends = llm_events(events, "end")
    assert [e.name for e in ends] == ["litellm.anthropic_messages"] * 2
    assert [e.annotated_response.response_text() for e in ends] == ["yo", "ho"]


def test_intercepts_and_guardrails(stub: ProviderStub, events: list[Any]) -> None:
    def edit(name: str, req: LLMRequest, annotated: Any) -> tuple[LLMRequest, Any]:
        req.content["temperature"] = 0.0
        return req, None

    intercepts.register_llm_request("edit", 0, False, edit)
    guardrails.register_llm_conditional_execution(
        "block", 0, lambda req: "blocked" if "gpt-4" in req.content["model"] else None
    )
    stub.reply_json(completion("x", model="m"))
    nf_litellm.instrument()
    litellm.completion(model="openai/m", messages=MESSAGES, **kw(stub))
    assert stub.requests[0].body["temperature"] == 0.0
    with pytest.raises(GuardrailRejected, match="blocked"):
        litellm.completion(model="openai/gpt-4", messages=MESSAGES, **kw(stub))
    assert len(stub.requests) == 1
    intercepts.register_llm_execution("cache", 0, lambda name, req, next: completion("cached", model="m"))
    out = litellm.completion(model="openai/m", messages=MESSAGES, **kw(stub))
    assert type(out) is litellm.ModelResponse and out.choices[0].message.content == "cached"
    assert len(stub.requests) == 1


def test_round_trip_restores_the_module_functions() -> None:
    import litellm.anthropic_interface.messages as am

    before = {m: dict(vars(m)) for m in (litellm, am)}
    for _ in range(2):
        nf_litellm.instrument()
        nf_litellm.instrument()
        assert litellm.completion is not before[litellm]["completion"]
        nf_litellm.uninstrument()
        assert {m: dict(vars(m)) for m in (litellm, am)} == before
    assert "nemo_flow.integrations.litellm" in sys.modules
