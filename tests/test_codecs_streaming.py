"""Streaming helpers: the SSE decoder on raw bytes, the per-provider collectors on recorded
chunk sequences, and llm.stream_execute over a raw provider byte stream with no
hand-written collector."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from provider_payloads import WEATHER_ARGS, anthropic_events, chat_chunks, responses_events

from nemo_flow import AnnotatedLLMResponse, LLMRequest, llm
from nemo_flow.codecs import (
    AnthropicMessagesCodec,
    AnthropicMessagesStreamCollector,
    OpenAIChatCodec,
    OpenAIChatStreamCollector,
    OpenAIResponsesCodec,
    OpenAIResponsesStreamCollector,
    SseDecoder,
    StreamCollector,
)

if TYPE_CHECKING:
    from provider_stub import ProviderStub


# --- SseDecoder ----------------------------------------------------------------------------------


def sse_bytes(events: list[Any], *, crlf: bool = False) -> bytes:
    nl = "\r\n" if crlf else "\n"
    text = "".join(f"event: x{nl}data: {json.dumps(e)}{nl}{nl}" for e in events)
    return (f": stream opened{nl}{nl}{text}data: [DONE]{nl}{nl}").encode()


@pytest.mark.parametrize("crlf", [False, True])
@pytest.mark.parametrize("piece", [1, 7, 64, 100000])
def test_sse_decoder_reassembles_events_from_any_split(crlf: bool, piece: int) -> None:
    events = chat_chunks()
    raw = sse_bytes(events, crlf=crlf)
    d = SseDecoder()
    got: list[Any] = []
    for i in range(0, len(raw), piece):
        got += d.feed(raw[i : i + piece])
    got += d.finish()
    assert got == events


def test_sse_decoder_multiline_data_comments_ids_and_str_input() -> None:
    d = SseDecoder()
    text = 'id: 1\nretry: 3000\n: comment\ndata: {"a":\ndata: [1,\ndata: 2]}\n\nevent: ping\n\ndata: [DONE]\n\n'
    assert d.feed(text) == [{"a": [1, 2]}]
    assert d.feed(bytearray(b'data: {"b": "\xc3\xa9"}\n\n')) == [{"b": "é"}]
    assert d.feed(b'data: {"c": 1}') == []
    assert d.finish() == [{"c": 1}]


def test_sse_decoder_bad_input() -> None:
    with pytest.raises(ValueError, match=r"^SseDecoder: frame 0: data is not valid JSON"):
        SseDecoder().feed(b"data: {not json}\n\n")
    with pytest.raises(ValueError, match="not valid UTF-8"):
        SseDecoder().feed(b"data: \xff\n\n")
    with pytest.raises(TypeError, match=r"^data: expected bytes or str, got int"):
        SseDecoder().feed(3)  # type: ignore[arg-type]


# --- collectors on recorded sequences -------------------------------------------------------------


CASES = [
    (OpenAIChatStreamCollector, OpenAIChatCodec, chat_chunks, "Let me check."),
    (OpenAIResponsesStreamCollector, OpenAIResponsesCodec, responses_events, "Checking the weather"),
    (AnthropicMessagesStreamCollector, AnthropicMessagesCodec, anthropic_events, "Looking it up."),
]


@pytest.mark.parametrize(("collector_cls", "codec_cls", "events", "text"), CASES)
def test_collectors_rebuild_a_response_their_codec_decodes(
    collector_cls: Any, codec_cls: Any, events: Any, text: str
) -> None:
    c = collector_cls()
    assert isinstance(c, StreamCollector)
    for e in events():
        c.collect(e)
    r = codec_cls().decode_response(c.finalize())
    assert r.response_text() == text
    assert r.tool_calls[0]["arguments"] == json.loads(WEATHER_ARGS)
    assert r.usage["total_tokens"] > 0


def test_chat_collector_keeps_choices_apart_and_takes_usage_from_the_last_chunk() -> None:
    def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "object": "chat.completion.chunk",
            "choices": [{"index": index, "delta": delta, "finish_reason": finish}],
        }

    c = OpenAIChatStreamCollector()
    for ch in [
        chunk(0, {"content": "A"}),
        chunk(1, {"content": "B"}),
        chunk(0, {"content": "a"}),
        chunk(1, {}, "length"),
    ]:
        c.collect(ch)
    c.collect({"object": "chat.completion.chunk", "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2}})
    full = c.finalize()
    assert [ch["message"]["content"] for ch in full["choices"]] == ["Aa", "B"]
    assert [ch["finish_reason"] for ch in full["choices"]] == [None, "length"]
    assert full["usage"] == {"prompt_tokens": 1, "completion_tokens": 2}


@pytest.mark.parametrize(
    ("collector", "chunk", "message"),
    [
        (OpenAIChatStreamCollector, [1], r"^OpenAIChatStreamCollector: chunk\[0\]: expected an object, got list"),
        (
            OpenAIChatStreamCollector,
            {"choices": [{"delta": {"tool_calls": [{"function": {"arguments": 5}}]}}]},
            r"chunk\[0\]\.choices\[0\]\.delta\.tool_calls\[0\]\.function\.arguments: expected a string",
        ),
        (
            OpenAIResponsesStreamCollector,
            {"type": "response.output_text.delta"},
            r"event\[0\]\.delta: expected a string",
        ),
        (
            AnthropicMessagesStreamCollector,
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta"}},
            r"^AnthropicMessagesStreamCollector: event\[0\]\.delta\.text",
        ),
    ],
)
def test_malformed_chunks_name_collector_and_field(collector: Any, chunk: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        collector().collect(chunk)


# --- a raw provider byte stream through the runtime -----------------------------------------------


async def test_raw_anthropic_sse_stream_through_stream_execute(stub: ProviderStub, events: list[Any]) -> None:
    stub.reply_sse(anthropic_events(), done=False, crlf=True)

    async def stream(req: LLMRequest) -> Any:
        async with httpx.AsyncClient(timeout=10) as http:
            async with http.stream("POST", f"{stub.url}/v1/messages", json=req.content, headers=req.headers) as resp:
                decoder = SseDecoder()
                async for piece in resp.aiter_bytes():
                    for event in decoder.feed(piece):
                        yield event
                for event in decoder.finish():
                    yield event

    codec = AnthropicMessagesCodec()
    collector = AnthropicMessagesStreamCollector()
    body = {"model": "claude", "max_tokens": 64, "stream": True, "messages": [{"role": "user", "content": "Weather?"}]}
    st = await llm.stream_execute(
        "claude", LLMRequest({}, body), stream, collector.collect, collector.finalize, codec=codec, response_codec=codec
    )
    n = 0
    async for _ in st:
        n += 1
    assert n == len(anthropic_events())
    start, end = [e for e in events if e.kind == "scope"]
    assert start.annotated_request.last_user_message() == "Weather?"
    r = end.annotated_response
    assert isinstance(r, AnnotatedLLMResponse)
    assert r.finish_reason == "tool_use" and r.usage["cache_read_tokens"] == 100
    marks = [e for e in events if e.kind == "mark"]
    assert marks[-2].data["stop_reason"] == "tool_use"


async def test_a_malformed_chunk_ends_the_stream_with_the_error(events: list[Any]) -> None:
    async def stream(req: LLMRequest) -> Any:
        yield chat_chunks()[0]
        yield {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": 7}}]}
        yield chat_chunks()[1]

    c = OpenAIChatStreamCollector()
    st = await llm.stream_execute("m", LLMRequest({}, {"messages": []}), stream, c.collect, c.finalize)
    got: list[Any] = []
    with pytest.raises(ValueError, match=r"chunk\[1\]\.choices\[0\]\.delta\.content"):
        async for chunk in st:
            got.append(chunk)
    assert len(got) == 1 and st.done
    _start, end = [e for e in events if e.kind == "scope"]
    assert end.error is not None and end.error["type"] == "ValueError"


def test_custom_response_codec_can_build_its_own_annotation(events: list[Any]) -> None:
    class Custom:
        def decode_response(self, response: Any) -> AnnotatedLLMResponse:
            return AnnotatedLLMResponse(
                id=response["rid"],
                model="in-house",
                message=response["out"],
                tool_calls=[{"id": "1", "name": "f", "arguments": {}}],
                finish_reason="stopped_by_policy",
                usage={"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3, "cache_write_tokens": 4},
                api_specific={"api": "custom", "api_name": "in-house", "data": {"k": 1}},
                extra={"latency_ms": 5},
            )

    llm.execute_sync("own", LLMRequest({}, {}), lambda r: {"rid": "r", "out": "done"}, response_codec=Custom())
    end = events[-1]
    r = end.annotated_response
    assert r.finish_reason == "stopped_by_policy"  # kept, not None
    assert r.response_text() == "done" and r.has_tool_calls()
    assert r.extra == {"latency_ms": 5} and r.api_specific["api"] == "custom"
    assert end.category_profile["annotated_response"]["usage"]["cache_write_tokens"] == 4
