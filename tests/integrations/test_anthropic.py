"""The Anthropic integration against the real SDK and a loopback stub."""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING, Any

import anthropic
import pydantic
import pytest
from anthropic.types import Message
from conftest import chunk_marks, llm_events
from integration_payloads import message, message_stream

from nemo_flow import GuardrailRejected, LLMRequest, guardrails, intercepts
from nemo_flow.integrations import anthropic as nf_anthropic

if TYPE_CHECKING:
    from provider_stub import ProviderStub

MESSAGES = [{"role": "user", "content": "Say hello"}]


def client(stub: ProviderStub) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=stub.url, api_key="sk-ant-secret", max_retries=0)


def aclient(stub: ProviderStub) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=stub.url, api_key="sk-ant-secret", max_retries=0)


def only_call(events: list[Any]) -> tuple[Any, Any]:
    starts, ends = llm_events(events, "start"), llm_events(events, "end")
    assert len(starts) == 1 and len(ends) == 1, [e.name for e in llm_events(events)]
    return starts[0], ends[0]


def test_create_records_the_prepared_wire_body(stub: ProviderStub, events: list[Any]) -> None:
    stub.reply_json(message("Hello"))
    nf_anthropic.instrument()
    out = client(stub).messages.create(
        model="claude-x",
        max_tokens=64,
        messages=MESSAGES,
        extra_body={"top_k": 3},
        extra_headers={"X-Trace": "t", "x-api-key": "other"},
    )
    assert type(out) is Message and out.content[0].text == "Hello"
    start, end = only_call(events)
    wire = stub.requests[0]
    assert wire.path == "/v1/messages"
    assert wire.body == {"model": "claude-x", "max_tokens": 64, "messages": MESSAGES, "top_k": 3}
    assert start.data["content"] == wire.body
    assert start.data["headers"] == {"X-Trace": "t"} and wire.headers["x-api-key"] == "other"
    assert start.name == "anthropic.messages" and start.category_profile["model_name"] == "claude-x"
    assert end.annotated_response.response_text() == "Hello"
    assert end.annotated_response.usage is not None
    assert "sk-ant-secret" not in repr([e.to_dict() for e in events])


async def test_async_create_and_raw_response(stub: ProviderStub, events: list[Any]) -> None:
    stub.reply_json(message("one"))
    stub.reply_json(message("two"))
    nf_anthropic.instrument()
    c = aclient(stub)
    out = await c.messages.create(model="claude-x", max_tokens=8, messages=MESSAGES)
    assert out.content[0].text == "one"
    raw = await c.messages.with_raw_response.create(model="claude-x", max_tokens=8, messages=MESSAGES)
    assert (await raw.parse()).content[0].text == "two"
    assert [e.annotated_response.response_text() for e in llm_events(events, "end")] == ["one", "two"]


def test_sync_raw_response_and_beta_messages(stub: ProviderStub, events: list[Any]) -> None:
    stub.reply_json(message("raw"))
    stub.reply_json(message("beta"))
    nf_anthropic.instrument()
    c = client(stub)
    raw = c.messages.with_raw_response.create(model="claude-x", max_tokens=8, messages=MESSAGES)
    assert raw.parse().content[0].text == "raw"
    beta = c.beta.messages.create(model="claude-x", max_tokens=8, messages=MESSAGES)
    assert beta.content[0].text == "beta"
    assert stub.requests[1].path == "/v1/messages?beta=true"
    assert len(llm_events(events, "end")) == 2


def test_parse_returns_parsed_output(stub: ProviderStub, events: list[Any]) -> None:
    class Word(pydantic.BaseModel):
        word: str

    stub.reply_json(message('{"word": "hey"}'))
    nf_anthropic.instrument()
    out = client(stub).messages.parse(model="claude-x", max_tokens=8, messages=MESSAGES, output_format=Word)
    assert out.parsed_output == Word(word="hey")
    only_call(events)


def test_stream_helper_text_stream_and_final_message(stub: ProviderStub, events: list[Any]) -> None:
    stub.reply_sse(message_stream(["Hel", "lo"]), done=False)
    nf_anthropic.instrument()
    with client(stub).messages.stream(model="claude-x", max_tokens=8, messages=MESSAGES) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == "Hello" and final.content[0].text == "Hello"
    _, end = only_call(events)
    assert end.annotated_response.response_text() == "Hello"
    assert len(chunk_marks(events)) == 7


async def test_async_raw_stream(stub: ProviderStub, events: list[Any]) -> None:
    stub.reply_sse(message_stream(["a", "b"]), done=False)
    nf_anthropic.instrument()
    stream = await aclient(stub).messages.create(model="claude-x", max_tokens=8, messages=MESSAGES, stream=True)
    assert type(stream) is anthropic.AsyncStream
    kinds = [e.type async for e in stream]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    _, end = only_call(events)
    assert end.annotated_response.response_text() == "ab"


async def test_async_stream_helper(stub: ProviderStub, events: list[Any]) -> None:
    stub.reply_sse(message_stream(["x", "y"]), done=False)
    nf_anthropic.instrument()
    async with aclient(stub).messages.stream(model="claude-x", max_tokens=8, messages=MESSAGES) as s:
        text = "".join([t async for t in s.text_stream])
    assert text == "xy"
    only_call(events)


def test_stream_dropped_unread_is_finalized(stub: ProviderStub, events: list[Any]) -> None:
    stub.reply_sse(message_stream(["z"]), done=False)
    nf_anthropic.instrument()
    s = client(stub).messages.create(model="claude-x", max_tokens=8, messages=MESSAGES, stream=True)
    del s
    gc.collect()
    only_call(events)


def test_request_intercept_and_guardrail(stub: ProviderStub, events: list[Any]) -> None:
    def system(name: str, req: LLMRequest, annotated: Any) -> tuple[LLMRequest, Any]:
        req.content["system"] = "Be terse."
        return req, None

    intercepts.register_llm_request("system", 0, False, system)
    guardrails.register_llm_conditional_execution(
        "max-tokens", 0, lambda req: "too many tokens" if req.content["max_tokens"] > 1000 else None
    )
    stub.reply_json(message())
    nf_anthropic.instrument()
    c = client(stub)
    c.messages.create(model="claude-x", max_tokens=8, messages=MESSAGES)
    assert stub.requests[0].body["system"] == "Be terse."
    with pytest.raises(GuardrailRejected, match="too many tokens"):
        c.messages.create(model="claude-x", max_tokens=4096, messages=MESSAGES)
    assert len(stub.requests) == 1


def test_execution_intercept_replaces_the_message(stub: ProviderStub) -> None:
    intercepts.register_llm_execution("canned", 0, lambda name, req, next: message("canned"))
    nf_anthropic.instrument()
    out = client(stub).messages.create(model="claude-x", max_tokens=8, messages=MESSAGES)
    assert type(out) is Message and out.content[0].text == "canned" and stub.requests == []


def test_errors_keep_their_type_and_count_tokens_passes_through(stub: ProviderStub, events: list[Any]) -> None:
    stub.reply_status(529, {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}})
    stub.reply_json({"input_tokens": 7})
    nf_anthropic.instrument()
    c = client(stub)
    with pytest.raises(anthropic.APIStatusError, match="busy") as info:
        c.messages.create(model="claude-x", max_tokens=8, messages=MESSAGES)
    assert info.value.status_code == 529
    _, end = only_call(events)
    assert end.error is not None
    assert c.messages.count_tokens(model="claude-x", messages=MESSAGES).input_tokens == 7
    assert len(llm_events(events)) == 2
