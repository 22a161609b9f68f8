"""OpenAIResponsesCodec: instructions/input normalization and round trips, requests written
by the openai SDK and responses built with its own types, stream reassembly."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import openai
import pytest
from openai.types.responses import Response
from provider_payloads import WEATHER_ARGS, responses_events

from nemo_flow import LLMRequest, intercepts, llm
from nemo_flow.codecs import OpenAIResponsesCodec, OpenAIResponsesStreamCollector

if TYPE_CHECKING:
    from provider_stub import ProviderStub


CODEC = OpenAIResponsesCodec()

BODY: dict[str, Any] = {
    "model": "gpt-5",
    "instructions": "You are a travel assistant.",
    "input": [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "Plan a day in "},
                {"type": "input_image", "image_url": "https://example.com/paris.jpg", "detail": "auto"},
            ],
        },
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAA"},
        {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "weather", "arguments": WEATHER_ARGS},
        {"type": "function_call_output", "call_id": "call_1", "output": '{"temp": 21}'},
        {"role": "assistant", "content": [{"type": "output_text", "text": "It is sunny.", "annotations": []}]},
        {"role": "user", "content": "Great, and tomorrow?"},
    ],
    "tools": [
        {
            "type": "function",
            "name": "weather",
            "description": "Current weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            "strict": True,
        },
        {"type": "web_search"},
    ],
    "tool_choice": {"type": "function", "name": "weather"},
    "max_output_tokens": 800,
    "max_tool_calls": 3,
    "reasoning": {"effort": "high", "summary": "auto"},
    "include": ["reasoning.encrypted_content"],
    "store": False,
    "previous_response_id": "resp_prev",
    "truncation": "auto",
    "parallel_tool_calls": True,
    "service_tier": "flex",
    "metadata": {"session": "s1"},
    "text": {"format": {"type": "text"}, "verbosity": "low"},
}


def request(body: dict[str, Any] | None = None) -> LLMRequest:
    return LLMRequest({}, copy.deepcopy(body if body is not None else BODY))


def test_decode_normalizes_instructions_input_and_request_options() -> None:
    a = CODEC.decode(request())
    assert a.system_prompt() == "You are a travel assistant."
    assert a.last_user_message() == "Great, and tomorrow?"
    assert a.messages[1] == {
        "role": "user",
        "content": [
            {"type": "text", "text": "Plan a day in "},
            {"type": "image_url", "image_url": {"url": "https://example.com/paris.jpg", "detail": "auto"}},
        ],
    }
    assert a.messages[2]["type"] == "reasoning"  # no message equivalent: kept verbatim
    assert a.messages[3] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": WEATHER_ARGS}}
        ],
    }
    assert a.messages[4] == {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 21}'}
    assert a.messages[5] == {"role": "assistant", "content": [{"type": "text", "text": "It is sunny."}]}
    assert a.tools is not None and a.tools[0]["function"]["name"] == "weather" and a.tools[1] == {"type": "web_search"}
    assert a.tool_choice == {"type": "function", "function": {"name": "weather"}}
    assert a.params == {"max_tokens": 800}
    assert (a.max_output_tokens, a.max_tool_calls) == (800, 3)
    assert a.reasoning == {"effort": "high", "summary": "auto"}
    assert a.include == ["reasoning.encrypted_content"]
    assert (a.store, a.previous_response_id, a.truncation) == (False, "resp_prev", "auto")
    assert (a.parallel_tool_calls, a.service_tier, a.metadata) == (True, "flex", {"session": "s1"})
    assert a.extra == {"text": {"format": {"type": "text"}, "verbosity": "low"}}


def test_round_trip_keeps_everything_but_item_ids() -> None:
    original = request()
    a = CODEC.decode(original)
    out = CODEC.encode(a, original).content
    expected = copy.deepcopy(BODY)
    del expected["input"][2]["id"]  # a function_call item id has no normalized slot
    assert out == expected
    assert CODEC.decode(LLMRequest({}, out)) == a


def test_edits_move_back_to_instructions_input_and_max_output_tokens() -> None:
    original = request()
    a = CODEC.decode(original)
    a.messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    a.params = {"max_tokens": 100, "temperature": 0.5}
    a.previous_response_id = None
    a.include = None
    out = CODEC.encode(a, original).content
    assert out["instructions"] == "Be brief."
    assert out["input"] == [{"role": "user", "content": "Hi"}]
    assert out["max_output_tokens"] == 100 and out["temperature"] == 0.5
    assert "previous_response_id" not in out and "include" not in out


@pytest.mark.parametrize("choice", ["auto", "none", "required"])
def test_string_tool_choices_pass_through(choice: str) -> None:
    a = CODEC.decode(request({**BODY, "tool_choice": choice}))
    assert a.tool_choice == choice


def test_string_input_stays_a_string() -> None:
    original = request({"model": "gpt-5", "input": "Hello"})
    a = CODEC.decode(original)
    assert a.messages == [{"role": "user", "content": "Hello"}]
    a.messages = [{"role": "user", "content": "Hello there"}]
    assert CODEC.encode(a, original).content == {"model": "gpt-5", "input": "Hello there"}


def sdk_response(**overrides: Any) -> Response:
    body = {
        "id": "resp_1",
        "object": "response",
        "created_at": 1700000000,
        "model": "gpt-5-2025-08-07",
        "status": "completed",
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "output": [
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {
                "type": "message",
                "id": "msg_1",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": "Sunny, 21°C.", "annotations": []}],
            },
            {
                "type": "function_call",
                "id": "fc_1",
                "call_id": "call_2",
                "name": "weather",
                "arguments": WEATHER_ARGS,
                "status": "completed",
            },
        ],
        "usage": {
            "input_tokens": 100,
            "output_tokens": 20,
            "total_tokens": 120,
            "input_tokens_details": {"cached_tokens": 64, "cache_write_tokens": 16},
            "output_tokens_details": {"reasoning_tokens": 8},
        },
    }
    body.update(overrides)
    return Response.model_validate(body)


def test_decode_response_of_an_sdk_response() -> None:
    r = CODEC.decode_response(sdk_response().model_dump(mode="json"))
    assert r.id == "resp_1" and r.model == "gpt-5-2025-08-07"
    assert r.response_text() == "Sunny, 21°C."
    assert r.tool_calls == [{"id": "call_2", "name": "weather", "arguments": {"city": "Paris", "unit": "celsius"}}]
    assert r.finish_reason == "complete"
    assert r.usage == {
        "prompt_tokens": 100,
        "completion_tokens": 20,
        "total_tokens": 120,
        "cache_read_tokens": 64,
        "cache_write_tokens": 16,
    }
    api = r.api_specific
    assert api is not None and api["api"] == "openai_responses" and api["status"] == "completed"
    assert api["output_tokens_details"] == {"reasoning_tokens": 8}
    assert [i["type"] for i in api["output_items"]] == ["reasoning", "message", "function_call"]


@pytest.mark.parametrize(
    ("reason", "normalized"),
    [("max_output_tokens", "length"), ("content_filter", "content_filter"), ("max_messages", "max_messages")],
)
def test_incomplete_reasons_normalize_and_unknown_ones_are_kept(reason: str, normalized: str) -> None:
    body = sdk_response(status="incomplete", incomplete_details={"reason": reason}).model_dump(mode="json")
    assert CODEC.decode_response(body).finish_reason == normalized


def test_stream_events_reassemble() -> None:
    c = OpenAIResponsesStreamCollector()
    for e in responses_events():
        c.collect(e)
    full = c.finalize()
    r = CODEC.decode_response(full)
    assert r.response_text() == "Checking the weather"
    assert r.tool_calls == [{"id": "call_w", "name": "weather", "arguments": {"city": "Paris", "unit": "celsius"}}]
    assert r.finish_reason == "length"
    assert r.usage is not None and r.usage["cache_read_tokens"] == 2
    # The collector starts over after finalize.
    assert c.finalize()["output"] == []


async def test_sdk_request_and_stream_through_the_runtime(stub: ProviderStub, events: list[Any]) -> None:
    stub.reply_sse(responses_events(), done=False)
    client = openai.AsyncOpenAI(api_key="sk-test", base_url=f"{stub.url}/v1", max_retries=0, timeout=10)

    def tighten(name: str, req: LLMRequest, ann: Any) -> Any:
        ann.max_output_tokens = 64
        ann.params = {**(ann.params or {}), "max_tokens": 64}
        return req, ann

    intercepts.register_llm_request("tighten", 1, False, tighten)

    async def stream(req: LLMRequest) -> Any:
        s = await client.responses.create(**req.content)
        async for event in s:
            yield event.model_dump(mode="json")

    c = OpenAIResponsesStreamCollector()
    body = {
        "model": "gpt-5",
        "instructions": "Be brief.",
        "input": "Weather?",
        "stream": True,
        "max_output_tokens": 500,
    }
    st = await llm.stream_execute(
        "resp", request(body), stream, c.collect, c.finalize, codec=CODEC, response_codec=CODEC
    )
    full = await st
    assert full["status"] == "incomplete" and [i["type"] for i in full["output"]] == ["message", "function_call"]
    sent = stub.requests[0]
    assert sent.path == "/v1/responses"
    assert sent.body["max_output_tokens"] == 64 and sent.body["instructions"] == "Be brief."
    assert sent.body["input"] == "Weather?"
    start, end = [e for e in events if e.kind == "scope" and e.name == "resp"]
    assert start.annotated_request.system_prompt() == "Be brief."
    r = end.annotated_response
    assert r.finish_reason == "length" and r.response_text() == "Checking the weather"
    marks = [e for e in events if e.kind == "mark"]
    assert {m.data["provider"] for m in marks} == {"openai_responses"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"input": 5}, "input: expected a string or a list of input items, got number"),
        ({"instructions": ["x"]}, "instructions: expected a string, got list"),
        ({"input": [{"type": "function_call_output", "output": "x"}]}, "input[0].call_id"),
        ({"input": [{"role": "user", "content": [{"text": "x"}]}]}, "input[0].content[0].type"),
        ({"input": [], "tools": [{"type": "function"}]}, "tools[0].name"),
        ({"input": [], "include": [1]}, "include[0]: expected a string"),
        ({"input": [], "reasoning": "high"}, "reasoning: expected an object"),
    ],
)
def test_malformed_requests_name_codec_and_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=r"^OpenAIResponsesCodec: ") as info:
        CODEC.decode(LLMRequest({}, body))
    assert field in str(info.value)


def test_malformed_response_names_codec_and_field() -> None:
    with pytest.raises(ValueError, match=r"^OpenAIResponsesCodec: response\.output\[0\]\.name"):
        CODEC.decode_response({"output": [{"type": "function_call", "call_id": "c"}]})
