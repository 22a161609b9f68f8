"""`@llm.call_model` and `@llm.stream_model`: a function that calls the provider itself as a
managed LLM call, plain or streaming."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from typing import Any

import pytest
from provider_payloads import chat_chunks

from nemo_flow import GuardrailRejected, LLMRequest, ScopeType, guardrails, intercepts, llm, scope
from nemo_flow.codecs import OpenAIChatCodec, OpenAIChatStreamCollector

REPLY = {"choices": [{"message": {"role": "assistant", "content": "bonjour"}, "finish_reason": "stop"}]}


def request(text: str = "hi") -> LLMRequest:
    return LLMRequest({"x-id": "1"}, {"model": "gpt-4o", "messages": [{"role": "user", "content": text}]})


def llm_events(events: list[Any], name: str) -> list[Any]:
    return [e for e in events if e.kind == "scope" and e.name == name]


def marks(events: list[Any]) -> list[Any]:
    return [e for e in events if e.kind == "mark" and e.name == "llm.chunk"]


# --- call_model ------------------------------------------------------------------------------


async def test_async_call_model_gets_the_intercepted_request_and_extra_args(events: list[Any]) -> None:
    seen: list[tuple[Any, float]] = []

    @llm.call_model("chat", model_name="gpt-4o")
    async def chat(req: LLMRequest, temperature: float = 0.0) -> dict[str, Any]:
        seen.append((req.content["messages"][-1]["content"], temperature))
        return REPLY

    def shout(name: str, req: LLMRequest, annotated: Any) -> Any:
        req.content["messages"][-1]["content"] = "HI"
        return req, annotated

    intercepts.register_llm_request("shout", 1, False, shout)
    async with scope.scope("agent", ScopeType.Agent) as agent:
        assert await chat(request(), temperature=0.5) == REPLY
        assert await chat(req=request()) == REPLY
    assert seen == [("HI", 0.5), ("HI", 0.0)]
    evs = llm_events(events, "chat")
    assert [e.scope_category for e in evs] == ["start", "end"] * 2
    assert all(e.parent_uuid == agent.uuid and e.category == "llm" for e in evs)
    assert evs[0].category_profile["model_name"] == "gpt-4o"
    assert evs[0].data["content"]["messages"][-1]["content"] == "HI"
    assert evs[1].data == REPLY


def test_sync_call_model_with_codecs_records_the_annotations(events: list[Any]) -> None:
    chat_codec = OpenAIChatCodec()

    @llm.call_model(codec=chat_codec, response_codec=chat_codec)
    def complete(req: LLMRequest) -> dict[str, Any]:
        return REPLY

    assert complete(request("salut")) == REPLY
    start, end = llm_events(events, "complete")
    assert start.annotated_request.messages[-1]["content"] == "salut"
    assert end.annotated_response.response_text() == "bonjour"


class Provider:
    def __init__(self) -> None:
        self.calls = 0

    @llm.call_model("provider.complete")
    async def complete(self, req: LLMRequest) -> dict[str, Any]:
        self.calls += 1
        return REPLY

    @llm.stream_model("provider.stream")
    def stream(self, req: LLMRequest) -> Iterator[dict[str, Any]]:
        self.calls += 1
        yield {"i": 0}


async def test_methods_take_the_request_after_self(events: list[Any]) -> None:
    p = Provider()
    assert await p.complete(request()) == REPLY
    assert list(p.stream(request())) == [{"i": 0}]
    assert p.calls == 2
    assert [e.scope_category for e in llm_events(events, "provider.complete")] == ["start", "end"]
    assert llm_events(events, "provider.stream")[1].data == [{"i": 0}]


async def test_guardrail_rejection_and_exceptions(events: list[Any]) -> None:
    boom = ConnectionError("provider down")

    @llm.call_model
    async def flaky(req: LLMRequest) -> Any:
        raise boom

    guardrails.register_llm_conditional_execution(
        "no-secrets", 1, lambda req: "secret" if "secret" in str(req.content) else None
    )
    with pytest.raises(GuardrailRejected, match="secret"):
        await flaky(request("my secret"))
    with pytest.raises(ConnectionError) as info:
        await flaky(request())
    assert info.value is boom
    end = llm_events(events, "flaky")[-1]
    assert end.error == {"type": "ConnectionError", "message": "provider down"}


async def test_a_call_without_a_request_is_refused(events: list[Any]) -> None:
    @llm.call_model
    async def chat(req: LLMRequest) -> Any:
        return REPLY

    with pytest.raises(TypeError, match="missing its LLMRequest argument 'req'"):
        await chat()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="request"):
        await chat({"messages": []})  # type: ignore[arg-type]
    assert llm_events(events, "chat") == []


# --- stream_model ----------------------------------------------------------------------------


async def test_async_stream_model_yields_chunks_marks_and_records_the_collected_response(events: list[Any]) -> None:
    chat_codec = OpenAIChatCodec()

    @llm.stream_model("chat-stream", collector=OpenAIChatStreamCollector, codec=chat_codec, response_codec=chat_codec)
    async def stream(req: LLMRequest) -> AsyncIterator[dict[str, Any]]:
        for c in chat_chunks():
            yield c

    async with scope.scope("agent", ScopeType.Agent) as agent:
        got = [c async for c in stream(request())]
    assert got == chat_chunks()
    start, end = llm_events(events, "chat-stream")
    assert start.parent_uuid == agent.uuid and "streaming" in start.attributes
    assert len(marks(events)) == len(got)
    assert end.annotated_response.response_text() == "Let me check."
    assert end.error is None


async def test_stream_model_ends_once_on_close_and_on_error(events: list[Any]) -> None:
    @llm.stream_model
    async def endless(req: LLMRequest) -> AsyncIterator[dict[str, int]]:
        i = 0
        while True:
            yield {"i": i}
            i += 1

    async with aclosing(endless(request())) as chunks:
        async for c in chunks:
            if c["i"] == 1:
                break
    _, end = llm_events(events, "endless")
    assert end.data == [{"i": 0}, {"i": 1}] and end.error is None
    assert len(marks(events)) == 2

    events.clear()
    boom = TimeoutError("read timeout")

    @llm.stream_model
    async def broken(req: LLMRequest) -> AsyncIterator[dict[str, int]]:
        yield {"i": 0}
        raise boom

    with pytest.raises(TimeoutError) as info:
        async for _ in broken(request()):
            pass
    assert info.value is boom
    _, end = llm_events(events, "broken")
    assert end.error == {"type": "TimeoutError", "message": "read timeout"}


def test_sync_stream_model_break_finishes_at_once(events: list[Any]) -> None:
    closed: list[bool] = []

    @llm.stream_model("sync-stream")
    def stream(req: LLMRequest) -> Iterator[dict[str, int]]:
        try:
            for i in range(10):
                yield {"i": i}
        finally:
            closed.append(True)

    for c in stream(request()):
        if c["i"] == 2:
            break
    assert closed == [True]
    _, end = llm_events(events, "sync-stream")
    assert end.data == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert [m.data["chunk_index"] for m in marks(events)] == [0, 1, 2]


async def test_stream_execution_intercepts_wrap_the_decorated_stream(events: list[Any]) -> None:
    @llm.stream_model
    async def stream(req: LLMRequest) -> AsyncIterator[dict[str, int]]:
        yield {"i": 0}

    async def double(req: LLMRequest, nxt: Any) -> Any:
        inner = await nxt(req)

        async def twice() -> AsyncIterator[Any]:
            async for c in inner:
                yield c
                yield c

        return twice()

    intercepts.register_llm_stream_execution("double", 1, double)
    assert [c async for c in stream(request())] == [{"i": 0}, {"i": 0}]


# --- signature and bad use -------------------------------------------------------------------


def test_wrappers_keep_signature_and_inspect_behaviour() -> None:
    async def chat(req: LLMRequest, k: int = 1) -> dict[str, Any]:
        """Chat docs."""
        return REPLY

    async def agen(req: LLMRequest) -> AsyncIterator[int]:
        yield 1

    def gen(req: LLMRequest) -> Iterator[int]:
        yield 1

    c, a, g = llm.call_model(chat), llm.stream_model(agen), llm.stream_model(gen)
    assert c.__doc__ == "Chat docs." and inspect.signature(c) == inspect.signature(chat)
    assert inspect.iscoroutinefunction(c)
    assert inspect.isasyncgenfunction(a) and inspect.isgeneratorfunction(g)


def test_bad_use_is_refused_at_decoration_time() -> None:
    async def no_params() -> None:
        return None

    async def chat(req: LLMRequest) -> Any:
        return None

    def gen(req: LLMRequest) -> Iterator[int]:
        yield 1

    with pytest.raises(TypeError, match="must take the LLMRequest as its first parameter"):
        llm.call_model(no_params)
    with pytest.raises(TypeError, match=r"decorate it with llm\.stream_model"):
        llm.call_model(gen)
    with pytest.raises(TypeError, match="must be a generator or async generator function"):
        llm.stream_model(chat)
    with pytest.raises(TypeError, match=r"llm\.call_model: expected a function to decorate, got int"):
        llm.call_model()(1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="model_name: expected a str"):
        llm.call_model(model_name=4)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="codec: expected an LLM codec"):
        llm.call_model(codec="openai")
    with pytest.raises(TypeError, match="response_codec: expected an LLM codec"):
        llm.stream_model(response_codec=object())
    with pytest.raises(TypeError, match="collector: expected a callable"):
        llm.stream_model(collector=OpenAIChatStreamCollector())  # type: ignore[arg-type]


def test_a_collector_factory_returning_junk_is_refused_at_call_time(events: list[Any]) -> None:
    @llm.stream_model(collector=lambda: 42)  # type: ignore[arg-type, return-value]
    def gen(req: LLMRequest) -> Iterator[int]:
        yield 1

    with pytest.raises(TypeError, match="collector\\(\\) returned a int, which lacks collect"):
        list(gen(request()))
    assert llm_events(events, "gen") == []
