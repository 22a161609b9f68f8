"""AnthropicMessagesCodec: system blocks and cache_control, tool use/results, images,
thinking, requests written by the anthropic SDK, responses built with its own types, and
stream reassembly."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import anthropic
import pytest
from anthropic.types import Message, RawMessageStreamEvent
from provider_payloads import anthropic_events
from pydantic import TypeAdapter

from nemo_flow import LLMRequest, MiddlewareError, llm
from nemo_flow.codecs import AnthropicMessagesCodec, AnthropicMessagesStreamCollector

if TYPE_CHECKING:
    from provider_stub import ProviderStub


CODEC = AnthropicMessagesCodec()

BODY: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 2048,
    "system": [
        {"type": "text", "text": "You are a careful analyst.", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "Cite sources."},
    ],
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Summarize this chart.", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/chart2.png"}},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "Need the data.", "signature": "sig"},
                {"type": "text", "text": "Let me fetch the data."},
                {"type": "tool_use", "id": "toolu_1", "name": "fetch", "input": {"url": "https://example.com/d.csv"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "a,b\n1,2", "is_error": False},
                {"type": "text", "text": "Go on."},
            ],
        },
    ],
    "tools": [
        {
            "name": "fetch",
            "description": "Fetch a URL",
            "input_schema": {"type": "object", "properties": {"url": {"type": "string"}}, "required": ["url"]},
            "cache_control": {"type": "ephemeral"},
        },
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 2},
    ],
    "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
    "thinking": {"type": "enabled", "budget_tokens": 1024},
    "stop_sequences": ["</answer>"],
    "temperature": 1,
    "metadata": {"user_id": "u-1"},
    "top_k": 40,
}


def request(body: dict[str, Any] | None = None) -> LLMRequest:
    return LLMRequest({"anthropic-version": "2023-06-01"}, copy.deepcopy(body if body is not None else BODY))


def test_decode_normalizes_system_blocks_images_tools_and_thinking() -> None:
    a = CODEC.decode(request())
    assert a.system_prompt() == "You are a careful analyst.Cite sources."
    assert a.messages[0]["content"][0]["cache_control"] == {"type": "ephemeral"}
    user = a.messages[1]["content"]
    assert user[0] == {
        "type": "text",
        "text": "Summarize this chart.",
        "cache_control": {"type": "ephemeral", "ttl": "1h"},
    }
    assert user[1] == {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    assert user[2] == {"type": "image_url", "image_url": {"url": "https://example.com/chart2.png"}}
    assistant = a.messages[2]
    assert assistant["content"][0]["type"] == "thinking"
    assert assistant["tool_calls"] == [
        {
            "id": "toolu_1",
            "type": "function",
            "function": {"name": "fetch", "arguments": '{"url":"https://example.com/d.csv"}'},
        }
    ]
    assert a.messages[3] == {"role": "tool", "tool_call_id": "toolu_1", "content": "a,b\n1,2", "is_error": False}
    assert a.last_user_message() == "Go on."
    assert a.tools is not None
    assert a.tools[0] == {
        "type": "function",
        "function": {"name": "fetch", "description": "Fetch a URL", "parameters": BODY["tools"][0]["input_schema"]},
        "cache_control": {"type": "ephemeral"},
    }
    assert a.tools[1] == BODY["tools"][1]
    assert a.tool_choice == "auto" and a.parallel_tool_calls is False
    assert a.reasoning == {"type": "enabled", "budget_tokens": 1024}
    assert a.params == {"temperature": 1, "max_tokens": 2048, "stop": ["</answer>"]}
    assert a.metadata == {"user_id": "u-1"}
    assert a.extra == {"top_k": 40}


def test_round_trip_reproduces_the_request() -> None:
    original = request()
    a = CODEC.decode(original)
    out = CODEC.encode(a, original)
    assert out.content == BODY
    assert out.headers == {"anthropic-version": "2023-06-01"}


def test_edits_restore_the_anthropic_shapes() -> None:
    original = request()
    a = CODEC.decode(original)
    a.messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": "t1", "type": "function", "function": {"name": "fetch", "arguments": '{"url": "u"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "t1", "content": "ok"},
        {"role": "tool", "tool_call_id": "t2", "content": "ok too"},
    ]
    a.tools = [{"type": "function", "function": {"name": "calc", "parameters": {"type": "object"}}}]
    a.tool_choice = {"type": "function", "function": {"name": "calc"}}
    a.parallel_tool_calls = None
    a.params = {"max_tokens": 10}
    out = CODEC.encode(a, original).content
    assert out["system"] == "Be brief."
    assert out["messages"] == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "fetch", "input": {"url": "u"}}]},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "ok"},
                {"type": "tool_result", "tool_use_id": "t2", "content": "ok too"},
            ],
        },
    ]
    assert out["tools"] == [{"name": "calc", "input_schema": {"type": "object"}}]
    assert out["tool_choice"] == {"type": "tool", "name": "calc"}
    assert out["max_tokens"] == 10
    assert "temperature" not in out and "stop_sequences" not in out


@pytest.mark.parametrize(
    ("given", "normalized"),
    [
        ({"type": "auto"}, "auto"),
        ({"type": "any"}, "required"),
        ({"type": "none"}, "none"),
        ({"type": "tool", "name": "fetch"}, {"type": "function", "function": {"name": "fetch"}}),
    ],
)
def test_tool_choice_variants(given: dict[str, Any], normalized: Any) -> None:
    original = request({**BODY, "tool_choice": given})
    a = CODEC.decode(original)
    assert a.tool_choice == normalized and a.parallel_tool_calls is None
    a.model = "claude-opus-4-1"
    assert CODEC.encode(a, original).content["tool_choice"] == given


@pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")
def test_request_written_by_the_sdk_decodes(stub: ProviderStub) -> None:
    stub.reply_json(sdk_message().model_dump(mode="json"))
    client = anthropic.Anthropic(api_key="test", base_url=stub.url, max_retries=0, timeout=10)
    client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=300,
        system=[{"type": "text", "text": "Be exact.", "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": "What is 2+2?"}],
        tools=[{"name": "calc", "input_schema": {"type": "object"}}],
        tool_choice={"type": "any"},
    )
    sent = stub.requests[0]
    assert sent.path == "/v1/messages"
    a = CODEC.decode(LLMRequest({}, sent.body))
    assert a.system_prompt() == "Be exact." and a.last_user_message() == "What is 2+2?"
    assert a.tool_choice == "required" and a.params == {"max_tokens": 300}
    assert CODEC.encode(a, LLMRequest({}, sent.body)).content == sent.body


def sdk_message(**overrides: Any) -> Message:
    body: dict[str, Any] = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [
            {"type": "thinking", "thinking": "Compute.", "signature": "s"},
            {"type": "text", "text": "The answer is "},
            {"type": "text", "text": "4."},
            {"type": "tool_use", "id": "toolu_9", "name": "calc", "input": {"expr": "2+2"}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 30,
            "output_tokens": 9,
            "cache_read_input_tokens": 20,
            "cache_creation_input_tokens": 5,
            "service_tier": "standard",
        },
    }
    body.update(overrides)
    return Message.model_validate(body)


def test_decode_response_of_an_sdk_message() -> None:
    r = CODEC.decode_response(sdk_message().model_dump(mode="json"))
    assert r.id == "msg_1" and r.model == "claude-sonnet-4-5-20250929"
    assert r.response_text() == "The answer is 4."
    assert r.tool_calls == [{"id": "toolu_9", "name": "calc", "arguments": {"expr": "2+2"}}]
    assert r.finish_reason == "tool_use"
    assert r.usage == {
        "prompt_tokens": 30,
        "completion_tokens": 9,
        "total_tokens": 39,
        "cache_read_tokens": 20,
        "cache_write_tokens": 5,
    }
    api = r.api_specific
    assert api is not None and api["api"] == "anthropic_messages" and api["object_type"] == "message"
    assert api["stop_reason"] == "tool_use" and api["service_tier"] == "standard"
    assert [b["type"] for b in api["content_blocks"]] == ["thinking", "text", "text", "tool_use"]


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("end_turn", "complete"),
        ("stop_sequence", "complete"),
        ("max_tokens", "length"),
        ("tool_use", "tool_use"),
        ("refusal", "content_filter"),
        ("pause_turn", "pause_turn"),
    ],
)
def test_stop_reasons_normalize_and_unknown_ones_are_kept(raw: str, normalized: str) -> None:
    body = sdk_message(stop_reason=raw).model_dump(mode="json")
    assert CODEC.decode_response(body).finish_reason == normalized


def test_sdk_stream_events_reassemble() -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)
    c = AnthropicMessagesStreamCollector()
    for e in anthropic_events():
        # SDK event objects (the SDK has no type for keep-alive pings; those stay dicts)
        c.collect(e if e["type"] == "ping" else adapter.validate_python(e))
    full = c.finalize()
    assert full["content"][0] == {"type": "thinking", "thinking": "User wants weather.", "signature": "sig=="}
    r = CODEC.decode_response(full)
    assert r.response_text() == "Looking it up."
    assert r.tool_calls == [{"id": "toolu_1", "name": "weather", "arguments": {"city": "Paris", "unit": "celsius"}}]
    assert r.finish_reason == "tool_use"
    assert r.usage == {
        "prompt_tokens": 120,
        "completion_tokens": 57,
        "total_tokens": 177,
        "cache_read_tokens": 100,
        "cache_write_tokens": 0,
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"messages": [], "system": 3}, "system: expected a string or a list of text blocks, got number"),
        ({"messages": [{"role": "user"}]}, "messages[0].content: expected a string or a list of content blocks"),
        ({"messages": [{"role": "assistant", "content": [{"type": "tool_use", "name": "f"}]}]}, "content[0].id"),
        ({"messages": [], "tool_choice": {"type": "tool"}}, "tool_choice.name"),
        ({"messages": [], "tools": [{"input_schema": {}}]}, "tools[0].name"),
        ({"messages": [], "max_tokens": "lots"}, "max_tokens: expected a non-negative integer, got string"),
    ],
)
def test_malformed_requests_name_codec_and_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=r"^AnthropicMessagesCodec: ") as info:
        CODEC.decode(LLMRequest({}, body))
    assert field in str(info.value)


async def test_malformed_request_with_only_a_subscriber_fails_before_start(events: list[Any]) -> None:
    # No intercept is registered: the start event's annotation is what needs the decode.
    with pytest.raises(MiddlewareError, match=r"AnthropicMessagesCodec: messages\[0\]\.role"):
        await llm.execute("a", LLMRequest({}, {"messages": [{"content": "x"}]}), lambda r: {}, codec=CODEC)
    assert events == []


def test_malformed_response_names_codec_and_field() -> None:
    with pytest.raises(ValueError, match=r"^AnthropicMessagesCodec: response\.content\[0\]\.text"):
        CODEC.decode_response({"content": [{"type": "text"}]})
    with pytest.raises(ValueError, match=r"^AnthropicMessagesCodec: response\.content: expected a list"):
        CODEC.decode_response({"type": "error", "error": {"type": "overloaded_error"}})
