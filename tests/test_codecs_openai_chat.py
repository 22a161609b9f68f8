"""OpenAIChatCodec: request round trips, responses built with the openai SDK's own types, and
one AsyncOpenAI client driven against a loopback stub inside llm.execute / stream_execute."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from provider_payloads import WEATHER_ARGS, chat_chunks

from nemo_flow import (
    AnnotatedLLMRequest,
    AnnotatedLLMResponse,
    LLMRequest,
    MiddlewareError,
    guardrails,
    intercepts,
    llm,
    scope,
)
from nemo_flow.codecs import LlmCodec, LlmResponseCodec, OpenAIChatCodec, OpenAIChatStreamCollector

if TYPE_CHECKING:
    from provider_stub import ProviderStub


CODEC = OpenAIChatCodec()

BODY: dict[str, Any] = {
    "model": "gpt-4o",
    "messages": [
        {"role": "system", "content": "You are a weather bot."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is the weather where this photo was taken?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": WEATHER_ARGS}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 21}'},
    ],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "weather",
                "description": "Current weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
                "strict": True,
            },
        }
    ],
    "tool_choice": "auto",
    "temperature": 0.3,
    "max_completion_tokens": 256,
    "reasoning_effort": "medium",
    "response_format": {"type": "json_object"},
    "seed": 11,
}


def request(body: dict[str, Any] | None = None) -> LLMRequest:
    return LLMRequest({"x-req": "1"}, copy.deepcopy(body if body is not None else BODY))


def test_native_codecs_satisfy_the_protocols() -> None:
    assert isinstance(CODEC, LlmCodec)
    assert isinstance(CODEC, LlmResponseCodec)


def test_decode_maps_every_modelled_field_and_keeps_the_rest() -> None:
    a = CODEC.decode(request())
    assert a.model == "gpt-4o"
    assert a.system_prompt() == "You are a weather bot."
    assert a.last_user_message() == "What is the weather where this photo was taken?"
    assert a.messages == BODY["messages"]
    assert a.params == {"temperature": 0.3, "max_tokens": 256}
    assert a.tools == BODY["tools"]
    assert a.tool_choice == "auto"
    assert a.reasoning == {"effort": "medium"}
    assert a.extra == {"response_format": {"type": "json_object"}, "seed": 11}
    assert a.stream is None and a.store is None


def test_encode_of_unchanged_annotation_reproduces_the_request() -> None:
    original = request()
    out = CODEC.encode(CODEC.decode(original), original)
    assert out.content == BODY
    assert out.headers == {"x-req": "1"}


def test_encode_applies_annotation_edits() -> None:
    original = request()
    a = CODEC.decode(original)
    a.messages = [{"role": "system", "content": "Answer in French."}, *a.messages[1:]]
    a.params = {"temperature": 0.0, "max_tokens": 64, "stop": ["\n\n"]}
    a.tool_choice = {"type": "function", "function": {"name": "weather"}}
    a.reasoning = {"effort": "high"}
    a.extra = {"seed": 12}
    a.user = "u-42"
    a.parallel_tool_calls = False
    out = CODEC.encode(a, original).content
    assert out["messages"][0] == {"role": "system", "content": "Answer in French."}
    assert out["temperature"] == 0.0 and out["max_completion_tokens"] == 64 and out["stop"] == ["\n\n"]
    assert out["tool_choice"] == {"type": "function", "function": {"name": "weather"}}
    assert out["reasoning_effort"] == "high"
    assert out["seed"] == 12 and "response_format" not in out
    assert out["user"] == "u-42" and out["parallel_tool_calls"] is False
    assert CODEC.decode(LLMRequest({}, out)) == a


@pytest.mark.parametrize(
    ("tokens", "expected"),
    [
        ({"max_tokens": 100}, {"max_tokens": 100}),
        ({"max_completion_tokens": 200}, {"max_completion_tokens": 200}),
        ({"max_tokens": 100, "max_completion_tokens": 200}, {"max_tokens": 100, "max_completion_tokens": 200}),
    ],
)
def test_max_completion_tokens_wins_and_each_key_goes_back_where_it_was(
    tokens: dict[str, int], expected: dict[str, int]
) -> None:
    original = request({"model": "m", "messages": [], **tokens})
    a = CODEC.decode(original)
    assert a.params == {"max_tokens": tokens.get("max_completion_tokens", tokens.get("max_tokens"))}
    a.params = {"max_tokens": 7}
    out = CODEC.encode(a, original).content
    key = "max_completion_tokens" if "max_completion_tokens" in tokens else "max_tokens"
    assert out[key] == 7
    assert {k: v for k, v in out.items() if k.startswith("max_") and k != key} == {
        k: v for k, v in expected.items() if k != key
    }


@pytest.mark.parametrize("choice", ["auto", "none", "required", {"type": "function", "function": {"name": "weather"}}])
def test_tool_choice_variants_round_trip(choice: Any) -> None:
    original = request({**BODY, "tool_choice": choice})
    a = CODEC.decode(original)
    assert a.tool_choice == choice
    a.model = "gpt-4o-mini"
    out = CODEC.encode(a, original).content
    assert out["tool_choice"] == choice and out["model"] == "gpt-4o-mini"


def test_streaming_encode_forces_usage_in_the_stream() -> None:
    original = request({"model": "m", "messages": [], "stream": True})
    a = CODEC.decode(original)
    assert a.stream is True
    a.model = "m2"
    out = CODEC.encode(a, original).content
    assert out["stream_options"] == {"include_usage": True}


# --- responses built with the SDK's own types ----------------------------------------------------


def sdk_completion() -> ChatCompletion:
    return ChatCompletion.model_validate(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1700000000,
            "model": "gpt-4o-2024-08-06",
            "system_fingerprint": "fp_abc",
            "service_tier": "default",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "tool_calls",
                    "logprobs": None,
                    "message": {
                        "role": "assistant",
                        "content": "Checking the weather.",
                        "tool_calls": [
                            {
                                "id": "call_9",
                                "type": "function",
                                "function": {"name": "weather", "arguments": WEATHER_ARGS},
                            }
                        ],
                    },
                }
            ],
            "usage": {
                "prompt_tokens": 50,
                "completion_tokens": 12,
                "total_tokens": 62,
                "prompt_tokens_details": {"cached_tokens": 32},
            },
        }
    )


def test_decode_response_of_an_sdk_completion() -> None:
    r = CODEC.decode_response(sdk_completion().model_dump())
    assert r.id == "chatcmpl-1" and r.model == "gpt-4o-2024-08-06"
    assert r.response_text() == "Checking the weather."
    assert r.finish_reason == "tool_use"
    assert r.has_tool_calls()
    assert r.tool_calls == [{"id": "call_9", "name": "weather", "arguments": {"city": "Paris", "unit": "celsius"}}]
    assert r.usage == {"prompt_tokens": 50, "completion_tokens": 12, "total_tokens": 62, "cache_read_tokens": 32}
    assert r.api_specific == {
        "api": "openai_chat",
        "logprobs": None,
        "system_fingerprint": "fp_abc",
        "service_tier": "default",
    }


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("stop", "complete"),
        ("length", "length"),
        ("tool_calls", "tool_use"),
        ("function_call", "tool_use"),
        ("content_filter", "content_filter"),
        ("eos_token", "eos_token"),
    ],
)
def test_finish_reasons_normalize_and_unknown_ones_are_kept(raw: str, normalized: str) -> None:
    body = sdk_completion().model_dump()
    body["choices"][0]["finish_reason"] = raw
    assert CODEC.decode_response(body).finish_reason == normalized


def test_streamed_sdk_chunks_reassemble_into_the_same_annotation() -> None:
    collector = OpenAIChatStreamCollector()
    for raw in chat_chunks():
        collector.collect(ChatCompletionChunk.model_validate(raw))  # an SDK object: dumped by the collector
    r = CODEC.decode_response(collector.finalize())
    assert r.response_text() == "Let me check."
    assert r.tool_calls == [
        {"id": "call_a", "name": "weather", "arguments": {"city": "Paris", "unit": "celsius"}},
        {"id": "call_b", "name": "time", "arguments": {"tz": "CET"}},
    ]
    assert r.finish_reason == "tool_use"
    assert r.usage == {"prompt_tokens": 31, "completion_tokens": 24, "total_tokens": 55, "cache_read_tokens": 16}
    assert r.api_specific is not None and r.api_specific["system_fingerprint"] == "fp_1"


# --- a real client against a loopback stub ---------------------------------------------------------


def client(stub: ProviderStub) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key="sk-test", base_url=f"{stub.url}/v1", max_retries=0, timeout=10)


async def test_async_openai_chat_inside_llm_execute(stub: ProviderStub, events: list[Any]) -> None:
    stub.reply_json(sdk_completion().model_dump(mode="json"))
    seen: list[str | None] = []

    def steer(name: str, req: LLMRequest, ann: AnnotatedLLMRequest | None) -> Any:
        assert ann is not None
        seen.append(ann.system_prompt())
        ann.messages = [{"role": "system", "content": "Be terse."}, *ann.messages[1:]]
        req.headers["x-team"] = "weather"
        req.content["metadata"] = {"trace": "t-1"}  # a raw content edit survives the codec
        return req, ann

    intercepts.register_llm_request("steer", 1, False, steer)
    guardrails.register_llm_sanitize_request(
        "redact-image",
        1,
        lambda r: LLMRequest(r.headers, {**r.content, "messages": r.content["messages"][:1]}),
    )
    c = client(stub)

    async def call(req: LLMRequest) -> Any:
        completion = await c.chat.completions.create(**req.content, extra_headers=req.headers)
        return completion.model_dump(mode="json")

    with scope.scope("agent", "agent"):
        out = await llm.execute("openai", request(), call, codec=CODEC, response_codec=CODEC, model_name="gpt-4o")
    assert out["choices"][0]["message"]["content"] == "Checking the weather."
    assert seen == ["You are a weather bot."]
    sent = stub.requests[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["x-team"] == "weather" and sent.headers["x-req"] == "1"
    assert sent.body["messages"][0] == {"role": "system", "content": "Be terse."}
    assert sent.body["messages"][1:] == BODY["messages"][1:]
    assert sent.body["metadata"] == {"trace": "t-1"}
    assert sent.body["max_completion_tokens"] == 256 and sent.body["seed"] == 11

    start, end = [e for e in events if e.name == "openai"]
    ann = start.annotated_request
    assert isinstance(ann, AnnotatedLLMRequest)
    # Derived from the sanitized request: the sanitizer kept only the system message.
    assert ann.messages == [{"role": "system", "content": "Be terse."}]
    assert ann.metadata == {"trace": "t-1"}
    resp = end.annotated_response
    assert isinstance(resp, AnnotatedLLMResponse)
    assert resp.finish_reason == "tool_use" and resp.usage is not None and resp.usage["cache_read_tokens"] == 32


async def test_async_openai_chat_stream_inside_llm_stream_execute(stub: ProviderStub, events: list[Any]) -> None:
    stub.reply_sse(chat_chunks())

    def cooler(name: str, req: LLMRequest, ann: AnnotatedLLMRequest | None) -> Any:
        assert ann is not None
        ann.params = {**(ann.params or {}), "temperature": 0.0}
        return req, ann

    intercepts.register_llm_request("cooler", 1, False, cooler)
    c = client(stub)

    async def stream(req: LLMRequest) -> Any:
        s = await c.chat.completions.create(**req.content)
        async for chunk in s:
            yield chunk.model_dump(mode="json")

    collector = OpenAIChatStreamCollector()
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Weather in Paris?"}], "stream": True}
    st = await llm.stream_execute(
        "openai-stream",
        request(body),
        stream,
        collector.collect,
        collector.finalize,
        codec=CODEC,
        response_codec=CODEC,
    )
    received = [chunk async for chunk in st]
    assert len(received) == len(chat_chunks())
    # The re-encoded request asked for usage in the stream.
    assert stub.requests[0].body["stream_options"] == {"include_usage": True}
    assert stub.requests[0].body["temperature"] == 0.0
    start, end = [e for e in events if e.kind == "scope" and e.name == "openai-stream"]
    marks = [e for e in events if e.kind == "mark" and e.name == "llm.chunk"]
    assert len(marks) == len(received)
    assert marks[-1].data["usage"]["total_tokens"] == 55
    assert start.annotated_request.stream is True
    r = end.annotated_response
    assert r.response_text() == "Let me check."
    assert [t["arguments"] for t in r.tool_calls] == [{"city": "Paris", "unit": "celsius"}, {"tz": "CET"}]
    assert r.usage["total_tokens"] == 55 and r.finish_reason == "tool_use"
    assert end.data["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] == WEATHER_ARGS


async def test_request_written_by_the_sdk_decodes(stub: ProviderStub) -> None:
    stub.reply_json(sdk_completion().model_dump(mode="json"))
    c = client(stub)
    await c.chat.completions.create(
        model="gpt-4o",
        messages=[
            {"role": "developer", "content": "Use metric units."},
            {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
        ],
        tools=[{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}],
        tool_choice="required",
        max_tokens=50,
        store=True,
        top_logprobs=2,
        logprobs=True,
    )
    a = CODEC.decode(LLMRequest({}, stub.requests[0].body))
    assert a.system_prompt() == "Use metric units."
    assert a.last_user_message() == "Weather?"
    assert a.tool_choice == "required" and a.store is True and a.top_logprobs == 2
    assert a.params == {"max_tokens": 50}
    assert a.extra == {"logprobs": True}


# --- bad input --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"messages": "hi"}, "messages: expected a list"),
        ({"messages": [{"content": "x"}]}, "messages[0].role: expected a string, but it is missing"),
        (
            {"messages": [{"role": "user", "content": {"text": "x"}}]},
            "messages[0].content: expected a string or a list",
        ),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
        ({"messages": [], "tools": [{"type": "function", "function": {}}]}, "tools[0].function.name"),
        ({"messages": [], "tool_choice": 3}, "tool_choice: expected a string or an object, got number"),
        ({"messages": [], "max_tokens": -1}, "max_tokens: expected a non-negative integer"),
        ({"messages": [], "stream": "yes"}, "stream: expected a bool, got string"),
    ],
)
def test_malformed_requests_name_codec_and_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=r"^OpenAIChatCodec: ") as info:
        CODEC.decode(LLMRequest({}, body))
    assert field in str(info.value)


def test_malformed_responses_name_codec_and_field() -> None:
    with pytest.raises(ValueError, match=r"^OpenAIChatCodec: response\.choices: expected a list of choices"):
        CODEC.decode_response({"error": {"message": "rate limited"}})
    with pytest.raises(ValueError, match=r"response\.choices\[0\]\.message: expected an object, got string"):
        CODEC.decode_response({"choices": [{"message": "hi"}]})


async def test_malformed_request_in_a_managed_call_fails_before_start(events: list[Any]) -> None:
    called: list[Any] = []
    outer = scope.get_handle()
    with pytest.raises(MiddlewareError, match=r"OpenAIChatCodec.*messages\[0\]\.content") as info:
        await llm.execute(
            "bad", LLMRequest({}, {"messages": [{"role": "user", "content": 5}]}), called.append, codec=CODEC
        )
    assert isinstance(info.value.__cause__, ValueError)
    assert called == []
    assert events == []  # no start event, so no half-open call
    assert scope.get_handle().uuid == outer.uuid
    # The runtime is intact: the next call goes through.
    assert await llm.execute("ok", request(), lambda r: {"choices": []}, codec=CODEC) == {"choices": []}
    assert [e.scope_category for e in events if e.name == "ok"] == ["start", "end"]


async def test_malformed_response_on_a_managed_call_keeps_the_result(events: list[Any]) -> None:
    out = await llm.execute("m", request(), lambda r: {"choices": "nope"}, response_codec=CODEC)
    assert out == {"choices": "nope"}
    _, end = [e for e in events if e.name == "m"]
    assert end.annotated_response is None and end.error is None


def test_manual_call_end_raises_the_response_codec_error_after_the_end_event(events: list[Any]) -> None:
    h = llm.call("manual", request())
    with pytest.raises(MiddlewareError, match=r"OpenAIChatCodec: response\.choices"):
        llm.call_end(h, {"oops": 1}, response_codec=CODEC)
    assert [e.scope_category for e in events if e.name == "manual"] == ["start", "end"]
