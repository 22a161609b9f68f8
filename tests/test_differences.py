"""One test (or a few) per DESIGN.md "Where we deliberately differ from the original", items 1-8."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

import nemo_flow
from nemo_flow import (
    AnnotatedLLMRequest,
    AnnotatedLLMResponse,
    ConfigError,
    GuardrailRejected,
    LLMRequest,
    MiddlewareError,
    NemoFlowError,
    RegistrationError,
    ScopeError,
    ScopeType,
    guardrails,
    intercepts,
    llm,
    scope,
    scope_local,
    subscribers,
    tools,
)

SECRET = "sk-SUPER-SECRET-123"


def llm_request() -> LLMRequest:
    return LLMRequest({"Authorization": SECRET}, {"messages": [{"role": "user", "content": SECRET}]})


class MessagesCodec:
    def decode(self, request: LLMRequest) -> AnnotatedLLMRequest:
        return AnnotatedLLMRequest(request.content.get("messages", []))

    def encode(self, annotated: AnnotatedLLMRequest, original: LLMRequest) -> LLMRequest:
        return LLMRequest(original.headers, {**original.content, "messages": annotated.messages})


class EchoResponseCodec:
    def decode_response(self, response: Any) -> AnnotatedLLMResponse:
        return AnnotatedLLMResponse(message=response.get("text"))


# --- 1. exceptions keep their type --------------------------------------------------------------


async def test_1_callable_exceptions_keep_their_type() -> None:
    err = ValueError("x")

    def tool(_args: Any) -> Any:
        raise err

    with pytest.raises(ValueError) as info:
        await tools.execute("t", {}, tool)
    assert info.value is err
    assert not isinstance(info.value, NemoFlowError)

    async def model(_r: LLMRequest) -> Any:
        raise err

    with pytest.raises(ValueError) as info:
        await llm.execute("m", llm_request(), model)
    assert info.value is err
    with pytest.raises(ValueError) as info:
        tools.execute_sync("t", {}, tool)
    assert info.value is err


def test_1_runtime_error_hierarchy() -> None:
    for cls in (GuardrailRejected, ScopeError, RegistrationError, ConfigError, MiddlewareError):
        assert issubclass(cls, NemoFlowError), cls
        assert issubclass(cls, RuntimeError), cls
    assert issubclass(NemoFlowError, RuntimeError)
    assert nemo_flow.NemoFlowError is NemoFlowError


async def test_1_runtime_errors_raised_are_nemo_flow_errors() -> None:
    raised: list[BaseException] = []
    guardrails.register_tool_conditional_execution("deny", 1, lambda n, a: "because")
    try:
        await tools.execute("t", {}, lambda a: 1)
    except RuntimeError as e:  # `except RuntimeError` still works
        raised.append(e)
    guardrails.deregister_tool_conditional_execution("deny")
    try:
        intercepts.register_tool_request("dup", 1, False, lambda n, a: a)
        intercepts.register_tool_request("dup", 1, False, lambda n, a: a)
    except RuntimeError as e:
        raised.append(e)
    h = tools.call("manual", {})
    tools.call_end(h, 1)
    try:
        tools.call_end(h, 1)
    except RuntimeError as e:
        raised.append(e)
    intercepts.register_tool_execution("broken", 1, lambda n, a, nxt: 1 / 0)
    try:
        await tools.execute("t", {}, lambda a: 1)
    except RuntimeError as e:
        raised.append(e)
    assert [type(e) for e in raised] == [GuardrailRejected, RegistrationError, ScopeError, MiddlewareError]
    assert all(isinstance(e, NemoFlowError) for e in raised)
    assert str(raised[0]).startswith("guardrail rejected: ")
    assert isinstance(raised[3].__cause__, ZeroDivisionError)


# --- 2. failed calls say so ---------------------------------------------------------------------


async def test_2_failed_tool_llm_and_stream_end_events_carry_error(events: list[Any]) -> None:
    async def bad_tool(_a: Any) -> Any:
        raise PermissionError("denied")

    async def bad_model(_r: LLMRequest) -> Any:
        raise TimeoutError("slow")

    async def bad_stream(_r: LLMRequest) -> AsyncIterator[Any]:
        yield {"x": 1}
        raise ConnectionError("cut")

    with pytest.raises(PermissionError):
        await tools.execute("tool", {}, bad_tool)
    with pytest.raises(TimeoutError):
        await llm.execute("model", llm_request(), bad_model)
    stream = await llm.stream_execute("stream", llm_request(), bad_stream, lambda c: None, lambda: None)
    with pytest.raises(ConnectionError):
        await stream
    ends = {e.name: e for e in events if e.kind == "scope" and e.scope_category == "end"}
    assert ends["tool"].error == {"type": "PermissionError", "message": "denied"}
    assert ends["model"].error == {"type": "TimeoutError", "message": "slow"}
    assert ends["stream"].error == {"type": "ConnectionError", "message": "cut"}
    assert ends["tool"].to_dict()["error"] == {"type": "PermissionError", "message": "denied"}


async def test_2_successful_calls_have_no_error(events: list[Any]) -> None:
    await tools.execute("tool", {}, lambda a: None)
    assert all(e.error is None for e in events)


# --- 3. sanitizers fail closed; annotations come from sanitized data ----------------------------


async def test_3_tool_sanitizer_that_raises_redacts(events: list[Any], caplog: pytest.LogCaptureFixture) -> None:
    def broken(name: str, value: Any) -> Any:
        raise RuntimeError("sanitizer bug")

    guardrails.register_tool_sanitize_request("req-guard", 1, broken)
    guardrails.register_tool_sanitize_response("resp-guard", 1, broken)
    with caplog.at_level(logging.ERROR, logger="nemo_flow"):
        result = await tools.execute("t", {"key": SECRET}, lambda a: {"echo": a["key"]})
    assert result == {"echo": SECRET}  # the call itself succeeds with the real values
    start, end = events
    assert isinstance(start.data, str) and start.data.startswith("[redacted")
    assert "req-guard" in start.data
    assert isinstance(end.data, str) and end.data.startswith("[redacted")
    for e in events:
        assert SECRET not in e.to_json()
    # Logged by name and type; its message (which may quote the payload) is withheld.
    assert "tool sanitize-request guardrail 'req-guard' failed: RuntimeError" in caplog.text
    assert "sanitizer bug" not in caplog.text


async def test_3_llm_sanitizer_that_raises_redacts_request_and_annotation(events: list[Any]) -> None:
    def broken(_r: Any) -> Any:
        raise ValueError("oops")

    guardrails.register_llm_sanitize_request("req-guard", 1, broken)
    guardrails.register_llm_sanitize_response("resp-guard", 1, broken)
    out = await llm.execute(
        "m",
        llm_request(),
        lambda r: {"text": SECRET},
        codec=MessagesCodec(),
        response_codec=EchoResponseCodec(),
    )
    assert out == {"text": SECRET}
    start, end = events
    assert isinstance(start.data, str) and start.data.startswith("[redacted")
    assert isinstance(end.data, str) and end.data.startswith("[redacted")
    for e in events:
        assert SECRET not in e.to_json()
    assert start.annotated_request is None
    assert end.annotated_response is None


async def test_3_sanitizer_returning_bad_value_fails_closed(events: list[Any]) -> None:
    guardrails.register_tool_sanitize_request("not-json", 1, lambda n, a: object())
    guardrails.register_llm_sanitize_request("not-a-request", 1, lambda r: {"headers": {}, "content": {}})
    assert await tools.execute("t", {"key": SECRET}, lambda a: 1) == 1
    assert await llm.execute("m", llm_request(), lambda r: 2) == 2
    starts = [e for e in events if e.scope_category == "start"]
    assert len(starts) == 2
    for e in starts:
        assert isinstance(e.data, str) and e.data.startswith("[redacted")
        assert SECRET not in e.to_json()


async def test_3_annotations_are_derived_from_sanitized_data(events: list[Any]) -> None:
    def redact_request(r: LLMRequest) -> LLMRequest:
        r.headers["Authorization"] = "***"
        r.content["messages"] = [{"role": "user", "content": "***"}]
        return r

    guardrails.register_llm_sanitize_request("redact", 1, redact_request)
    guardrails.register_llm_sanitize_response("redact", 1, lambda resp: {**resp, "text": "***"})
    seen: list[Any] = []

    def model(r: LLMRequest) -> Any:
        seen.append(r.to_dict())
        return {"text": SECRET}

    out = await llm.execute("m", llm_request(), model, codec=MessagesCodec(), response_codec=EchoResponseCodec())
    assert out == {"text": SECRET}
    assert seen[0]["content"]["messages"][0]["content"] == SECRET  # the provider gets the real request
    start, end = events
    assert start.annotated_request.messages == [{"role": "user", "content": "***"}]
    assert end.annotated_response.message == "***"
    for e in events:
        assert SECRET not in e.to_json()

    events.clear()
    h = llm.call("manual", llm_request())
    llm.call_end(h, {"text": SECRET}, response_codec=EchoResponseCodec())
    for e in events:
        assert SECRET not in e.to_json()


async def test_3_stream_end_annotation_from_sanitized(events: list[Any]) -> None:
    guardrails.register_llm_sanitize_response("redact", 1, lambda resp: {"text": "***"})

    async def gen(_r: LLMRequest) -> AsyncIterator[Any]:
        yield {"delta": SECRET}

    stream = await llm.stream_execute(
        "m", llm_request(), gen, lambda c: None, lambda: {"text": SECRET}, response_codec=EchoResponseCodec()
    )
    assert await stream == {"text": SECRET}
    end = events[-1]
    assert end.data == {"text": "***"}
    assert end.annotated_response.message == "***"


# --- 4. raw content edits survive a codec -------------------------------------------------------


async def test_4_request_intercept_content_edits_survive_codec(events: list[Any]) -> None:
    def intercept(name: str, r: LLMRequest, ann: AnnotatedLLMRequest | None) -> Any:
        assert ann is not None
        r.content["nvext"] = {"agent_hints": {"priority": 1}}
        ann.messages = [*ann.messages, {"role": "user", "content": "appended"}]
        return r, ann

    intercepts.register_llm_request("hints", 1, False, intercept)
    seen: list[Any] = []
    await llm.execute(
        "m", LLMRequest({}, {"messages": [{"role": "user", "content": "q"}]}), seen.append, codec=MessagesCodec()
    )
    sent = seen[0].content
    assert sent["nvext"] == {"agent_hints": {"priority": 1}}
    assert sent["messages"] == [{"role": "user", "content": "q"}, {"role": "user", "content": "appended"}]
    assert events[0].data["content"] == sent


async def test_4_content_edit_only_survives_codec() -> None:
    def intercept(name: str, r: LLMRequest, ann: AnnotatedLLMRequest | None) -> Any:
        r.content["temperature"] = 0
        return r, ann

    intercepts.register_llm_request("temp", 1, False, intercept)
    seen: list[Any] = []
    await llm.execute("m", LLMRequest({}, {"messages": []}), seen.append, codec=MessagesCodec())
    assert seen[0].content["temperature"] == 0


# --- 5. LLMRequest headers/content are real mutable dicts --------------------------------------


def test_5_llm_request_fields_are_mutable_dicts() -> None:
    r = LLMRequest({"a": "1"}, {"messages": []})
    assert type(r.headers) is dict and type(r.content) is dict
    r.headers["Authorization"] = "Bearer x"
    r.content["messages"].append({"role": "user", "content": "hi"})
    r.content["model"] = "m"
    assert r.headers == {"a": "1", "Authorization": "Bearer x"}
    assert r.content == {"messages": [{"role": "user", "content": "hi"}], "model": "m"}
    assert r.to_dict() == {"headers": r.headers, "content": r.content}


async def test_5_seed_example_in_place_header_mutation(events: list[Any]) -> None:
    def add_header(name: str, request: LLMRequest, annotated: Any) -> Any:
        request.headers["Authorization"] = "Bearer test-token"
        return request, annotated

    intercepts.register_llm_request("auth", 10, False, add_header)
    seen: list[Any] = []

    async def llm_impl(request: LLMRequest) -> Any:
        seen.append(dict(request.headers))
        return {"messages": request.content["messages"], "ok": True}

    out = await llm.execute("demo-model", LLMRequest({}, {"messages": [{"role": "user", "content": "hi"}]}), llm_impl)
    assert out == {"messages": [{"role": "user", "content": "hi"}], "ok": True}
    assert seen == [{"Authorization": "Bearer test-token"}]
    assert events[0].data["headers"] == {"Authorization": "Bearer test-token"}


async def test_5_sanitizer_in_place_mutation_affects_only_the_event(events: list[Any]) -> None:
    def redact(r: LLMRequest) -> LLMRequest:
        r.headers["Authorization"] = "***"
        return r

    guardrails.register_llm_sanitize_request("redact", 1, redact)
    seen: list[Any] = []
    await llm.execute("m", llm_request(), lambda r: seen.append(dict(r.headers)))
    assert seen == [{"Authorization": SECRET}]
    assert events[0].data["headers"] == {"Authorization": "***"}


# --- 6. subscribers: registration order, failures logged and counted ----------------------------


async def test_6_subscribers_called_in_registration_order() -> None:
    order: list[str] = []
    names = ["s7", "s0", "s3", "s6", "s5", "s1", "s4", "s2", "zz", "aa"]
    for n in names:
        subscribers.register(n, lambda ev, n=n: order.append(n))
    await tools.execute("t", {}, lambda a: 1)
    assert order == names + names  # start and end, each in registration order


async def test_6_global_then_scope_local_outer_to_inner() -> None:
    order: list[tuple[str, str]] = []

    def sub(tag: str) -> Any:
        return lambda ev: order.append((tag, ev.name))

    subscribers.register("z-global", sub("global"))
    with scope.scope("outer", ScopeType.Agent) as outer:
        scope_local.register_subscriber(outer, "b-outer", sub("outer"))
        with scope.scope("inner", ScopeType.Agent) as inner:
            scope_local.register_subscriber(inner, "a-inner", sub("inner"))
            order.clear()
            await tools.execute("t", {}, lambda a: 1)
            assert order == [
                ("global", "t"),
                ("outer", "t"),
                ("inner", "t"),
                ("global", "t"),
                ("outer", "t"),
                ("inner", "t"),
            ]
            order.clear()
        # the inner scope's own end event reached its local subscriber
        assert order == [("global", "inner"), ("outer", "inner"), ("inner", "inner")]


async def test_6_raising_subscriber_is_logged_counted_and_isolated(
    events: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    after: list[str] = []

    def bad(ev: Any) -> None:
        raise RuntimeError("subscriber bug")

    subscribers.register("bad", bad)
    subscribers.register("after", lambda ev: after.append(ev.name))
    before = subscribers.error_count()
    with caplog.at_level(logging.ERROR, logger="nemo_flow"):
        assert await tools.execute("t", {}, lambda a: {"ok": 1}) == {"ok": 1}
    assert subscribers.error_count() == before + 2
    assert after == ["t", "t"]
    assert len(events) == 2  # the fixture's subscriber, registered first, saw both
    assert "subscriber bug" in caplog.text
    assert any(r.name == "nemo_flow" for r in caplog.records)


def test_6_flush_exists_and_returns_true() -> None:
    assert subscribers.flush() is True
    assert subscribers.flush(0.5) is True


# --- 7. every event carries root_uuid -----------------------------------------------------------


async def test_7_root_uuid_on_every_event(events: list[Any]) -> None:
    root = nemo_flow.get_scope_stack().root_uuid
    guardrails.register_tool_conditional_execution("ok", 1, lambda n, a: None)

    async def gen(_r: LLMRequest) -> AsyncIterator[Any]:
        yield {"c": 1}

    with scope.scope("agent", ScopeType.Agent) as agent:
        scope.event("mark", data={"x": 1})
        await tools.execute("tool", {}, lambda a: 1)
        await llm.execute("model", llm_request(), lambda r: {})
        await (await llm.stream_execute("stream", llm_request(), gen, lambda c: None, lambda: None))
        h = tools.call("manual", {})
        tools.call_end(h, None)
    kinds = {(e.kind, e.category) for e in events}
    assert ("mark", None) in kinds and ("scope", "guardrail") in kinds and ("scope", "llm") in kinds
    assert len(events) >= 14
    assert agent.root_uuid == root
    for e in events:
        assert e.root_uuid == root, e.to_json()
        assert e.to_dict()["root_uuid"] == root
        assert f'"root_uuid":"{root}"' in e.to_json()


async def test_7_root_uuid_differs_per_run(events: list[Any]) -> None:
    async def run() -> str:
        nemo_flow._native._scope_var.set(None)  # a fresh run in this task
        with scope.scope("agent", ScopeType.Agent):
            await tools.execute("t", {}, lambda a: 1)
        return nemo_flow.get_scope_stack().root_uuid

    r1 = await asyncio.create_task(run())
    r2 = await asyncio.create_task(run())
    assert r1 != r2
    assert {e.root_uuid for e in events} == {r1, r2}


# --- 8. streaming: no read-ahead; break finalizes at once --------------------------------------


async def test_8_stream_no_read_ahead_and_break_finalizes_at_once(events: list[Any]) -> None:
    produced: list[int] = []
    finalized: list[int] = []

    async def gen(_r: LLMRequest) -> AsyncIterator[Any]:
        for i in range(100):
            produced.append(i)
            yield {"i": i}

    stream = await llm.stream_execute("m", llm_request(), gen, lambda c: None, lambda: finalized.append(1))
    async for chunk in stream:
        marks = [e for e in events if e.name == "llm.chunk"]
        assert len(marks) == chunk["i"] + 1
        assert produced[-1] == chunk["i"]
        if chunk["i"] == 2:
            break
    assert finalized == [1]
    assert produced == [0, 1, 2]
    end = events[-1]
    assert end.kind == "scope" and end.scope_category == "end" and end.name == "m"
    await asyncio.sleep(0)
    assert finalized == [1]
    assert len([e for e in events if e.name == "m"]) == 2
