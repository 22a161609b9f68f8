"""The OpenAI integration against the real SDK and a loopback stub: every call path becomes one
managed LLM call whose events carry the wire body, and intercepts reach the wire and the caller."""

from __future__ import annotations

import asyncio
import gc
from typing import TYPE_CHECKING, Any

import openai
import pydantic
import pytest
from conftest import chunk_marks, llm_events
from integration_payloads import chat_stream, completion, response, responses_stream
from openai.types.chat import ChatCompletion, ChatCompletionChunk

import nemo_flow
from nemo_flow import GuardrailRejected, LLMRequest, ScopeType, guardrails, intercepts, scope
from nemo_flow.integrations import openai as nf_openai

if TYPE_CHECKING:
    from provider_stub import ProviderStub

MESSAGES = [{"role": "user", "content": "Say hello"}]


def client(stub: ProviderStub, **kw: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=stub.url + "/v1", api_key="sk-secret", max_retries=0, **kw)


def aclient(stub: ProviderStub, **kw: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=stub.url + "/v1", api_key="sk-secret", max_retries=0, **kw)


def only_call(events: list[Any]) -> tuple[Any, Any]:
    starts, ends = llm_events(events, "start"), llm_events(events, "end")
    assert len(starts) == 1 and len(ends) == 1, [e.name for e in llm_events(events)]
    return starts[0], ends[0]


# -- plain calls ------------------------------------------------------------------------------


def test_create_is_one_managed_call_recording_the_wire_body(stub: ProviderStub, events: list[Any]) -> None:
    stub.reply_json(completion("Hello there"))
    nf_openai.instrument()
    c = client(stub)
    out = c.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        temperature=0.2,
        extra_headers={"X-Trace": "t-1", "Authorization": "Bearer other"},
        extra_body={"vendor_flag": True},
    )
    assert type(out) is ChatCompletion and out.choices[0].message.content == "Hello there"
    start, end = only_call(events)
    wire = stub.requests[0]
    assert wire.body == {"model": "gpt-4o-mini", "messages": MESSAGES, "temperature": 0.2, "vendor_flag": True}
    assert start.data["content"] == wire.body
    # The caller's own header is recorded; credentials and SDK markers are not, yet reach the wire.
    assert start.data["headers"] == {"X-Trace": "t-1"}
    assert wire.headers["authorization"] == "Bearer other" and wire.headers["x-trace"] == "t-1"
    assert start.name == end.name == "openai.chat.completions"
    assert start.category_profile["model_name"] == "gpt-4o-mini"
    assert start.annotated_request.model == "gpt-4o-mini"
    assert end.annotated_response.response_text() == "Hello there"
    assert end.annotated_response.usage["total_tokens"] == 12
    assert end.metadata == {"integration": "openai", "base_url": stub.url + "/v1/"}
    assert "sk-secret" not in repr([e.to_dict() for e in events])


async def test_async_create(stub: ProviderStub, events: list[Any]) -> None:
    stub.reply_json(completion("async hi"))
    nf_openai.instrument()
    out = await aclient(stub).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert type(out) is ChatCompletion and out.choices[0].message.content == "async hi"
    start, end = only_call(events)
    assert start.data["content"] == stub.requests[0].body
    assert end.annotated_response.response_text() == "async hi"


def test_parse_returns_the_parsed_model(stub: ProviderStub, events: list[Any]) -> None:
    class Greeting(pydantic.BaseModel):
        word: str

    stub.reply_json(completion('{"word": "hi"}'))
    nf_openai.instrument()
    out = client(stub).chat.completions.parse(model="gpt-4o-mini", messages=MESSAGES, response_format=Greeting)
    assert out.choices[0].message.parsed == Greeting(word="hi")
    start, _ = only_call(events)
    assert start.data["content"]["response_format"]["type"] == "json_schema"


def test_responses_create_sync_and_async(stub: ProviderStub, events: list[Any]) -> None:
    stub.reply_json(response("one"))
    stub.reply_json(response("two"))
    nf_openai.instrument()
    out = client(stub).responses.create(model="gpt-4o-mini", input="hi")
    assert out.output_text == "one"
    out2 = asyncio.run(aclient(stub).responses.create(model="gpt-4o-mini", input="hi"))
    assert out2.output_text == "two"
    ends = llm_events(events, "end")
    assert [e.name for e in ends] == ["openai.responses", "openai.responses"]
    assert [e.annotated_response.response_text() for e in ends] == ["one", "two"]
    assert stub.requests[0].path == "/v1/responses"


def test_other_endpoints_pass_through(stub: ProviderStub, events: list[Any]) -> None:
    stub.reply_json({"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.5]}], "model": "e"})
    nf_openai.instrument()
    out = client(stub).embeddings.create(model="e", input="x", encoding_format="float")
    assert out.data[0].embedding == [0.5]
    assert llm_events(events) == []


def test_raw_and_streaming_responses(stub: ProviderStub, events: list[Any]) -> None:
    stub.reply_json(completion("raw"))
    stub.reply_json(completion("streamed raw"))
    nf_openai.instrument()
    c = client(stub)
    raw = c.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    assert raw.http_response.status_code == 200 and raw.parse().choices[0].message.content == "raw"
    with c.chat.completions.with_streaming_response.create(model="gpt-4o-mini", messages=MESSAGES) as resp:
        assert resp.parse().choices[0].message.content == "streamed raw"
    assert [e.annotated_response.response_text() for e in llm_events(events, "end")] == ["raw", "streamed raw"]


async def test_async_raw_response(stub: ProviderStub, events: list[Any]) -> None:
    stub.reply_json(completion("araw"))
    nf_openai.instrument()
    raw = await aclient(stub).chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    assert raw.parse().choices[0].message.content == "araw"
    assert len(llm_events(events, "end")) == 1


def test_clients_and_raw_accessors_made_before_instrument_are_managed(stub: ProviderStub, events: list[Any]) -> None:
    c = client(stub)
    raw_accessor = c.chat.completions.with_raw_response  # a cached_property bound before instrument()
    stub.reply_json(completion("a"))
    stub.reply_json(completion("b"))
    nf_openai.instrument()
    c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    raw_accessor.create(model="gpt-4o-mini", messages=MESSAGES)
    assert len(llm_events(events, "end")) == 2


def test_sync_client_inside_a_running_loop(stub: ProviderStub, events: list[Any]) -> None:
    stub.reply_json(completion("from a loop"))
    nf_openai.instrument()

    async def main() -> str | None:
        return client(stub).chat.completions.create(model="m", messages=MESSAGES).choices[0].message.content

    assert asyncio.run(main()) == "from a loop"
    assert len(llm_events(events, "end")) == 1


# -- streams ----------------------------------------------------------------------------------


def test_stream_stays_an_sdk_stream_and_finishes_once(stub: ProviderStub, events: list[Any]) -> None:
    stub.reply_sse(chat_stream(["Hel", "lo"], usage=True))
    nf_openai.instrument()
    stream = client(stub).chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    assert type(stream) is openai.Stream
    with stream as s:
        chunks = list(s)
    assert all(type(c) is ChatCompletionChunk for c in chunks) and len(chunks) == 5
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello"
    start, end = only_call(events)
    assert start.data["content"]["stream"] is True
    assert len(chunk_marks(events)) == 5
    assert end.annotated_response.response_text() == "Hello"
    assert end.annotated_response.usage["completion_tokens"] == 2


async def test_async_stream(stub: ProviderStub, events: list[Any]) -> None:
    stub.reply_sse(chat_stream(["a", "b", "c"]))
    nf_openai.instrument()
    stream = await aclient(stub).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    assert type(stream) is openai.AsyncStream
    text = "".join([c.choices[0].delta.content or "" async for c in stream])
    assert text == "abc"
    _, end = only_call(events)
    assert end.annotated_response.response_text() == "abc"


def test_chat_stream_helper(stub: ProviderStub, events: list[Any]) -> None:
    stub.reply_sse(chat_stream(["x", "y"]))
    nf_openai.instrument()
    with client(stub).chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES) as s:
        deltas = [e.delta for e in s if e.type == "content.delta" and e.delta]
        final = s.get_final_completion()
    assert deltas == ["x", "y"] and final.choices[0].message.content == "xy"
    _, end = only_call(events)
    assert end.annotated_response.response_text() == "xy"


async def test_async_chat_stream_helper_left_early_finishes_the_call(stub: ProviderStub, events: list[Any]) -> None:
    stub.reply_sse(chat_stream(["x", "y", "z"]))
    nf_openai.instrument()
    async with aclient(stub).chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES) as s:
        async for e in s:
            if e.type == "content.delta":
                break
    _, end = only_call(events)
    assert end.error is None


def test_responses_stream_helper_sync_and_raw_stream(stub: ProviderStub, events: list[Any]) -> None:
    stub.reply_sse(responses_stream(["Hi ", "there"]), done=False)
    stub.reply_sse(responses_stream(["raw"]), done=False)
    nf_openai.instrument()
    c = client(stub)
    with c.responses.stream(model="gpt-4o-mini", input="hi") as s:
        kinds = [e.type for e in s]
        final = s.get_final_response()
    assert "response.output_text.delta" in kinds and final.output_text == "Hi there"
    events_seen = [e.type for e in c.responses.create(model="gpt-4o-mini", input="hi", stream=True)]
    assert events_seen[-1] == "response.completed"
    ends = llm_events(events, "end")
    assert [e.annotated_response.response_text() for e in ends] == ["Hi there", "raw"]


async def test_async_streaming_response_of_a_stream(stub: ProviderStub, events: list[Any]) -> None:
    stub.reply_sse(chat_stream(["s", "r"]))
    nf_openai.instrument()
    c = aclient(stub)
    async with c.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True
    ) as resp:
        stream = await resp.parse()
        text = "".join([ch.choices[0].delta.content or "" async for ch in stream])
    assert text == "sr"
    _, end = only_call(events)
    assert end.annotated_response.response_text() == "sr"


def test_raw_response_of_a_stream(stub: ProviderStub, events: list[Any]) -> None:
    stub.reply_sse(chat_stream(["q"]))
    nf_openai.instrument()
    raw = client(stub).chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in raw.parse()) == "q"
    _, end = only_call(events)
    assert end.annotated_response.response_text() == "q"


def test_stream_closed_early_records_a_partial_end_once(stub: ProviderStub, events: list[Any]) -> None:
    stub.reply_sse(chat_stream(["1", "2", "3", "4"]))
    nf_openai.instrument()
    with client(stub).chat.completions.create(model="m", messages=MESSAGES, stream=True) as s:
        next(s)
        next(s)
    _, end = only_call(events)
    assert end.error is None and len(chunk_marks(events)) == 2


def test_stream_dropped_unread_is_finalized(stub: ProviderStub, events: list[Any]) -> None:
    stub.reply_sse(chat_stream(["never", "read"]))
    nf_openai.instrument()
    s = client(stub).chat.completions.create(model="m", messages=MESSAGES, stream=True)
    assert llm_events(events, "end") == []
    del s
    gc.collect()
    only_call(events)
    assert chunk_marks(events) == []


def test_error_mid_stream_keeps_the_sdk_type(stub: ProviderStub, events: list[Any]) -> None:
    chunks: list[Any] = [*chat_stream(["ok"])[:2], {"error": {"message": "overloaded", "type": "server_error"}}]
    stub.reply_sse(chunks)
    nf_openai.instrument()
    s = client(stub).chat.completions.create(model="m", messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIError, match="overloaded"):
        list(s)
    _, end = only_call(events)
    assert end.error is not None and "overloaded" in str(end.error)


# -- middleware -------------------------------------------------------------------------------


def test_request_intercept_edits_reach_the_wire(stub: ProviderStub, events: list[Any]) -> None:
    def edit(name: str, req: LLMRequest, annotated: Any) -> tuple[LLMRequest, Any]:
        req.content["model"] = "gpt-4o"
        req.content["messages"].append({"role": "user", "content": "Be brief."})
        req.headers["X-Tenant"] = "acme"
        return req, None

    intercepts.register_llm_request("edit", 0, False, edit)
    stub.reply_json(completion())
    stub.reply_sse(chat_stream(["s"]))
    nf_openai.instrument()
    c = client(stub)
    c.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    list(c.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True))
    for wire in stub.requests:
        assert wire.body["model"] == "gpt-4o"
        assert wire.body["messages"][-1] == {"role": "user", "content": "Be brief."}
        assert wire.headers["x-tenant"] == "acme"
        assert wire.headers["authorization"] == "Bearer sk-secret"


def test_execution_intercept_replaces_the_response_without_the_network(stub: ProviderStub, events: list[Any]) -> None:
    def cached(name: str, req: LLMRequest, next: Any) -> Any:
        return completion("from cache", model=req.content["model"])

    intercepts.register_llm_execution("cache", 0, cached)
    nf_openai.instrument()
    out = client(stub).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert type(out) is ChatCompletion and out.choices[0].message.content == "from cache"
    assert stub.requests == []
    _, end = only_call(events)
    assert end.annotated_response.response_text() == "from cache"


def test_execution_intercept_editing_the_result_in_place_is_seen(stub: ProviderStub) -> None:
    def redact(name: str, req: LLMRequest, next: Any) -> Any:
        out = next(req)
        out["choices"][0]["message"]["content"] = "[redacted]"
        return out

    intercepts.register_llm_execution("redact", 0, redact)
    stub.reply_json(completion("the secret"))
    stub.reply_json(completion("the secret"))
    nf_openai.instrument()
    c = client(stub)
    assert c.chat.completions.create(model="m", messages=MESSAGES).choices[0].message.content == "[redacted]"
    raw = c.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
    assert raw.parse().choices[0].message.content == "[redacted]"


async def test_async_execution_intercept_and_parse_post_parser(stub: ProviderStub) -> None:
    class Word(pydantic.BaseModel):
        word: str

    async def swap(name: str, req: LLMRequest, next: Any) -> Any:
        out = await next(req)
        return {**out, "choices": [{**out["choices"][0], "message": {"role": "assistant", "content": '{"word": "b"}'}}]}

    intercepts.register_llm_execution("swap", 0, swap)
    stub.reply_json(completion('{"word": "a"}'))
    nf_openai.instrument()
    out = await aclient(stub).chat.completions.parse(model="m", messages=MESSAGES, response_format=Word)
    assert out.choices[0].message.parsed == Word(word="b")


def test_stream_intercept_editing_chunks_in_place_is_seen(stub: ProviderStub, events: list[Any]) -> None:
    def upper(req: LLMRequest, next: Any) -> Any:
        for chunk in next(req):
            for choice in chunk["choices"]:
                if choice["delta"].get("content"):
                    choice["delta"]["content"] = choice["delta"]["content"].upper()
            yield chunk

    intercepts.register_llm_stream_execution("upper", 0, upper)
    stub.reply_sse(chat_stream(["ab", "cd"]))
    nf_openai.instrument()
    chunks = list(client(stub).chat.completions.create(model="m", messages=MESSAGES, stream=True))
    assert all(type(c) is ChatCompletionChunk for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "ABCD"
    _, end = only_call(events)
    assert end.annotated_response.response_text() == "ABCD"


def test_stream_intercept_serving_its_own_stream(stub: ProviderStub, events: list[Any]) -> None:
    def canned(req: LLMRequest, next: Any) -> Any:
        return iter(chat_stream(["can", "ned"]))

    intercepts.register_llm_stream_execution("canned", 0, canned)
    nf_openai.instrument()
    s = client(stub).chat.completions.create(model="m", messages=MESSAGES, stream=True)
    assert type(s) is openai.Stream
    assert "".join(c.choices[0].delta.content or "" for c in s) == "canned"
    assert stub.requests == []
    _, end = only_call(events)
    assert end.annotated_response.response_text() == "canned"


def test_guardrail_blocks_before_any_request(stub: ProviderStub, events: list[Any]) -> None:
    guardrails.register_llm_conditional_execution(
        "no-gpt4", 0, lambda req: "model not allowed" if req.content.get("model") == "gpt-4" else None
    )
    nf_openai.instrument()
    c = client(stub)
    with pytest.raises(GuardrailRejected, match="model not allowed"):
        c.chat.completions.create(model="gpt-4", messages=MESSAGES)
    with pytest.raises(GuardrailRejected):
        c.chat.completions.create(model="gpt-4", messages=MESSAGES, stream=True)
    assert stub.requests == []


def test_sdk_errors_keep_their_type_and_retries_stay_in_one_call(stub: ProviderStub, events: list[Any]) -> None:
    stub.reply_status(429, {"error": {"message": "slow down", "type": "rate_limit"}})
    nf_openai.instrument()
    with pytest.raises(openai.RateLimitError):
        client(stub).chat.completions.create(model="m", messages=MESSAGES)
    _, end = only_call(events)
    assert "RateLimitError" in str(end.error)
    events.clear()
    stub.reply_status(500, {"error": {"message": "boom"}}, {"retry-after-ms": "1"})
    stub.reply_json(completion("second try"))
    c = openai.OpenAI(base_url=stub.url + "/v1", api_key="k", max_retries=1)
    assert c.chat.completions.create(model="m", messages=MESSAGES).choices[0].message.content == "second try"
    assert len(stub.requests) == 3
    only_call(events)


def test_retry_on_429_with_an_execution_intercept(stub: ProviderStub, events: list[Any]) -> None:
    def retry(name: str, req: LLMRequest, next: Any) -> Any:
        try:
            return next(req)
        except openai.RateLimitError:
            return next(req)

    intercepts.register_llm_execution("retry-429", 0, retry)
    stub.reply_status(429, {"error": {"message": "slow down"}})
    stub.reply_json(completion("after retry"))
    nf_openai.instrument()
    out = client(stub).chat.completions.create(model="m", messages=MESSAGES)
    assert out.choices[0].message.content == "after retry" and len(stub.requests) == 2
    only_call(events)


async def test_parallel_calls_nest_under_their_own_scopes(stub: ProviderStub, events: list[Any]) -> None:
    for i in range(100):
        stub.reply_json(completion(f"r{i}"))
    nf_openai.instrument()
    c = aclient(stub)

    async def task(i: int) -> tuple[str, Any]:
        with scope.scope(f"agent-{i}", ScopeType.Agent) as h:
            await c.chat.completions.create(model="m", messages=[{"role": "user", "content": f"q{i}"}])
            return h.uuid, i

    scopes = dict(await asyncio.gather(*(task(i) for i in range(100))))
    starts = llm_events(events, "start")
    assert len(starts) == 100
    for e in starts:
        i = scopes[e.parent_uuid]
        assert e.data["content"]["messages"][0]["content"] == f"q{i}"


def test_calls_inside_another_managed_call_pass_through(stub: ProviderStub, events: list[Any]) -> None:
    stub.reply_json(completion())
    nf_openai.instrument()
    c = client(stub)

    def outer(req: LLMRequest) -> Any:
        from nemo_flow.integrations._common import IN_MANAGED_CALL

        token = IN_MANAGED_CALL.set(True)
        try:
            return c.chat.completions.create(model="m", messages=MESSAGES).to_dict()
        finally:
            IN_MANAGED_CALL.reset(token)

    nemo_flow.llm.execute_sync("outer", LLMRequest({}, {"model": "m"}), outer)
    assert [e.name for e in llm_events(events, "start")] == ["outer"]


def test_sanitized_values_reach_no_event_but_the_wire(stub: ProviderStub, events: list[Any]) -> None:
    def redact(req: LLMRequest) -> LLMRequest:
        req.content.pop("user", None)
        req.headers.pop("X-Customer-Token", None)
        return req

    guardrails.register_llm_sanitize_request("redact", 0, redact)
    stub.reply_json(completion())
    nf_openai.instrument()
    client(stub).chat.completions.create(
        model="m", messages=MESSAGES, user="alice@example.com", extra_headers={"X-Customer-Token": "tok-123"}
    )
    dumped = repr([e.to_dict() for e in events])
    assert "alice@example.com" not in dumped and "tok-123" not in dumped
    assert stub.requests[0].body["user"] == "alice@example.com"
    assert stub.requests[0].headers["x-customer-token"] == "tok-123"


def test_azure_client_is_managed(stub: ProviderStub, events: list[Any]) -> None:
    stub.reply_json(completion("azure"))
    nf_openai.instrument()
    az = openai.AzureOpenAI(
        azure_endpoint=stub.url, api_key="k", api_version="2024-10-21", azure_deployment="dep", max_retries=0
    )
    out = az.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert out.choices[0].message.content == "azure"
    assert stub.requests[0].path.startswith("/openai/deployments/dep/chat/completions")
    start, _ = only_call(events)
    assert start.data["content"]["model"] == "gpt-4o"


def test_otel_spans_carry_gen_ai_attributes(stub: ProviderStub) -> None:
    from otlp_receivers import OtlpHttpReceiver

    receiver = OtlpHttpReceiver()
    config = nemo_flow.OpenTelemetryConfig()
    config.endpoint = receiver.url
    sub = nemo_flow.OpenTelemetrySubscriber(config)
    sub.register("otlp")
    try:
        stub.reply_json(completion("span me"))
        nf_openai.instrument()
        client(stub).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, temperature=0.3)
        assert sub.force_flush() is True
    finally:
        sub.deregister("otlp")
        sub.shutdown()
        spans = receiver.spans()
        receiver.stop()
    (span,) = [s for s in spans if s.attributes.get("gen_ai.operation.name") == "chat"]
    a = span.attributes
    assert a["gen_ai.request.model"] == "gpt-4o-mini" and a["gen_ai.request.temperature"] == 0.3
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (9, 3)
    assert a["gen_ai.response.finish_reasons"] == ["complete"]  # the codec's normalized vocabulary


def test_body_values_that_are_not_plain_json_are_recorded_as_sent(stub: ProviderStub, events: list[Any]) -> None:
    import datetime

    stub.reply_json(completion())
    nf_openai.instrument()
    client(stub).chat.completions.create(
        model="m", messages=MESSAGES, extra_body={"as_of": datetime.datetime(2026, 1, 2, 3, 4), "tags": ("a", "b")}
    )
    start, _ = only_call(events)
    assert stub.requests[0].body["as_of"] == "2026-01-02T03:04:00"
    assert start.data["content"]["as_of"] == "2026-01-02T03:04:00" and start.data["content"]["tags"] == ["a", "b"]


async def test_async_responses_stream_helper(stub: ProviderStub, events: list[Any]) -> None:
    stub.reply_sse(responses_stream(["as", "ync"]), done=False)
    nf_openai.instrument()
    async with aclient(stub).responses.stream(model="gpt-4o-mini", input="hi") as s:
        deltas = [e.delta async for e in s if e.type == "response.output_text.delta"]
        final = await s.get_final_response()
    assert deltas == ["as", "ync"] and final.output_text == "async"
    _, end = only_call(events)
    assert end.annotated_response.response_text() == "async"


def test_sync_streaming_response_of_a_stream(stub: ProviderStub, events: list[Any]) -> None:
    stub.reply_sse(chat_stream(["w", "s"]))
    nf_openai.instrument()
    with client(stub).chat.completions.with_streaming_response.create(
        model="m", messages=MESSAGES, stream=True
    ) as resp:
        text = "".join(c.choices[0].delta.content or "" for c in resp.parse())
    assert text == "ws"
    _, end = only_call(events)
    assert end.annotated_response.response_text() == "ws"
