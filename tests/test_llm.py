"""LLM call lifecycle: managed (async and sync), codecs, manual start/end and single steps."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from nemo_flow import (
    AnnotatedLLMRequest,
    AnnotatedLLMResponse,
    GuardrailRejected,
    LLMAttributes,
    LLMHandle,
    LLMRequest,
    MiddlewareError,
    ScopeError,
    ScopeType,
    guardrails,
    intercepts,
    llm,
    scope,
)


def start_end(events: list[Any], name: str) -> tuple[Any, Any]:
    evs = [e for e in events if e.name == name and e.kind == "scope"]
    assert [e.scope_category for e in evs] == ["start", "end"], [e.to_json() for e in evs]
    return evs[0], evs[1]


def chat_request(**extra: Any) -> LLMRequest:
    return LLMRequest({"h": "v"}, {"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}], **extra})


class RecordingCodec:
    """A custom Python codec: messages and model in the annotation, the rest kept from the
    request it encodes onto."""

    def __init__(self) -> None:
        self.log: list[tuple[str, Any]] = []

    def decode(self, request: LLMRequest) -> AnnotatedLLMRequest:
        self.log.append(("decode", request.to_dict()))
        c = request.content
        return AnnotatedLLMRequest(c["messages"], model=c.get("model"))

    def encode(self, annotated: AnnotatedLLMRequest, original: LLMRequest) -> LLMRequest:
        self.log.append(("encode", original.to_dict()))
        content = dict(original.content)
        content["messages"] = annotated.messages
        if annotated.model is not None:
            content["model"] = annotated.model
        return LLMRequest(original.headers, content)


class TextResponseCodec:
    """Any object with decode_response is a response codec."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def decode_response(self, response: Any) -> AnnotatedLLMResponse:
        self.seen.append(response)
        return AnnotatedLLMResponse(id=response.get("id"), message=response.get("text"), finish_reason="complete")


# --- llm.execute ---------------------------------------------------------------------------------


async def test_execute_async_returns_raw_response_and_events(events: list[Any]) -> None:
    received: list[Any] = []

    async def impl(request: LLMRequest) -> Any:
        received.append(request)
        await asyncio.sleep(0)
        return {"text": "hello"}

    req = chat_request()
    out = await llm.execute("openai", req, impl, model_name="gpt-x", metadata={"m": 1})
    assert out == {"text": "hello"}
    assert received[0] is req  # nothing rewrote the request: the caller's object is passed on
    start, end = start_end(events, "openai")
    assert start.category == "llm" == end.category
    assert start.data == {"headers": {"h": "v"}, "content": req.content}
    assert set(start.data) == {"headers", "content"}
    assert start.category_profile == {"model_name": "gpt-x"}
    assert end.category_profile == {"model_name": "gpt-x"}
    assert end.data == {"text": "hello"}
    assert start.metadata == {"m": 1} == end.metadata
    assert start.attributes == [] and end.error is None


async def test_execute_sync_callable_in_async_api(events: list[Any]) -> None:
    assert await llm.execute("m", chat_request(), lambda r: {"n": len(r.content["messages"])}) == {"n": 1}
    _, end = start_end(events, "m")
    assert end.data == {"n": 1}


async def test_execute_without_model_name_has_empty_profile(events: list[Any]) -> None:
    await llm.execute("m", chat_request(), lambda r: {})
    start, _ = start_end(events, "m")
    assert start.category_profile == {}


async def test_execute_exception_keeps_type_and_is_recorded(events: list[Any]) -> None:
    class ProviderDown(Exception):
        pass

    async def impl(_r: LLMRequest) -> Any:
        raise ProviderDown("503")

    with pytest.raises(ProviderDown):
        await llm.execute("m", chat_request(), impl, data={"app": 1})
    _, end = start_end(events, "m")
    assert end.error == {"type": "ProviderDown", "message": "503"}
    assert end.data == {"app": 1}


async def test_execute_parent_captured_at_call_and_handle(events: list[Any]) -> None:
    with scope.scope("A", ScopeType.Agent) as a:
        pending = llm.execute("late", chat_request(), lambda r: 1)
    assert await pending == 1
    start, _ = start_end(events, "late")
    assert start.parent_uuid == a.uuid
    with scope.scope("outer", ScopeType.Agent) as outer, scope.scope("inner", ScopeType.Agent):
        await llm.execute("h", chat_request(), lambda r: 1, handle=outer)
    start, _ = start_end(events, "h")
    assert start.parent_uuid == outer.uuid


async def test_execute_attributes(events: list[Any]) -> None:
    await llm.execute("m", chat_request(), lambda r: 1, attributes=LLMAttributes(LLMAttributes.STATEFUL))
    start, end = start_end(events, "m")
    assert start.attributes == ["stateful"] == end.attributes


async def test_execute_result_not_json_is_returned_and_noted(events: list[Any]) -> None:
    obj = object()
    assert await llm.execute("m", chat_request(), lambda r: obj) is obj
    _, end = start_end(events, "m")
    assert isinstance(end.data, str) and end.data.startswith("[not recorded: ")


def test_execute_sync_runs_on_calling_thread(events: list[Any]) -> None:
    out = llm.execute_sync("m", chat_request(), lambda r: {"echo": r.content["messages"]}, model_name="gpt-x")
    assert out == {"echo": [{"role": "user", "content": "hi"}]}
    start, end = start_end(events, "m")
    assert start.category_profile == {"model_name": "gpt-x"}
    assert end.data == out


def test_execute_sync_refuses_async_callable(events: list[Any]) -> None:
    async def impl(_r: LLMRequest) -> Any:
        return 1

    with pytest.raises(TypeError):
        llm.execute_sync("m", chat_request(), impl)
    _, end = start_end(events, "m")
    assert end.error is not None and end.error["type"] == "TypeError"


def test_execute_requires_llm_request() -> None:
    with pytest.raises(TypeError):
        llm.execute_sync("m", {"headers": {}, "content": {}}, lambda r: 1)


# --- codecs --------------------------------------------------------------------------------------


async def test_codec_intercepts_see_annotation_and_edits_reach_callable(events: list[Any]) -> None:
    codec = RecordingCodec()
    seen: list[Any] = []

    def intercept(name: str, request: LLMRequest, annotated: AnnotatedLLMRequest | None) -> Any:
        assert isinstance(annotated, AnnotatedLLMRequest)
        seen.append((name, annotated.to_dict()))
        annotated.messages = [{"role": "system", "content": "be brief"}, *annotated.messages]
        request.content["raw_edit"] = True  # DESIGN difference 4: survives the codec
        request.headers["X-Trace"] = "t1"
        return request, annotated

    intercepts.register_llm_request("edit", 1, False, intercept)
    received: list[dict[str, Any]] = []

    def impl(request: LLMRequest) -> Any:
        received.append(request.to_dict())
        return {"ok": 1}

    original = chat_request()
    await llm.execute("m", original, impl, codec=codec)
    assert seen[0][0] == "m"
    assert seen[0][1] == {"messages": [{"role": "user", "content": "hi"}], "model": "gpt-x"}
    sent = received[0]
    assert sent["content"]["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]
    assert sent["content"]["raw_edit"] is True
    assert sent["content"]["model"] == "gpt-x"
    assert sent["headers"] == {"h": "v", "X-Trace": "t1"}
    assert [step for step, _ in codec.log][:2] == ["decode", "encode"]
    # the caller's request object is not modified by the pipeline
    assert original.to_dict() == chat_request().to_dict()
    start, _ = start_end(events, "m")
    assert start.data == sent
    assert start.category_profile["annotated_request"]["messages"] == sent["content"]["messages"]
    ann = start.annotated_request
    assert isinstance(ann, AnnotatedLLMRequest)
    assert ann.system_prompt() == "be brief"


async def test_codec_without_intercepts_still_annotates_start_event(events: list[Any]) -> None:
    codec = RecordingCodec()
    await llm.execute("m", chat_request(), lambda r: 1, codec=codec, model_name="gpt-x")
    start, _ = start_end(events, "m")
    assert start.category_profile == {
        "model_name": "gpt-x",
        "annotated_request": {"messages": [{"role": "user", "content": "hi"}], "model": "gpt-x"},
    }
    assert start.annotated_request.last_user_message() == "hi"


async def test_without_codec_intercepts_get_none_annotation() -> None:
    anns: list[Any] = []
    intercepts.register_llm_request("i", 1, False, lambda n, r, a: anns.append(a) or (r, a))
    await llm.execute("m", chat_request(), lambda r: 1)
    assert anns == [None]


async def test_codec_encode_failure_is_middleware_error_before_start(events: list[Any]) -> None:
    err = RuntimeError("encode failed")

    class BadEncode(RecordingCodec):
        def encode(self, annotated: AnnotatedLLMRequest, original: LLMRequest) -> LLMRequest:
            raise err

    def edit(name: str, r: LLMRequest, a: Any) -> Any:
        a.model = "other"
        return r, a

    intercepts.register_llm_request("edit", 1, False, edit)
    called: list[int] = []
    with pytest.raises(MiddlewareError) as info:
        await llm.execute("m", chat_request(), lambda r: called.append(1), codec=BadEncode())
    assert info.value.__cause__ is err
    assert called == []
    assert events == []


async def test_codec_unchanged_annotation_is_not_reencoded() -> None:
    codec = RecordingCodec()
    intercepts.register_llm_request("noop", 1, False, lambda n, r, a: (r, a))
    await llm.execute("m", chat_request(), lambda r: 1, codec=codec)
    assert [step for step, _ in codec.log] == ["decode"]


async def test_response_codec_produces_annotated_response(events: list[Any]) -> None:
    rc = TextResponseCodec()
    out = await llm.execute("m", chat_request(), lambda r: {"id": "r1", "text": "hello"}, response_codec=rc)
    assert out == {"id": "r1", "text": "hello"}
    assert rc.seen == [{"id": "r1", "text": "hello"}]
    _, end = start_end(events, "m")
    assert end.category_profile["annotated_response"] == {"id": "r1", "message": "hello", "finish_reason": "complete"}
    assert end.annotated_response.response_text() == "hello"


async def test_failing_response_codec_does_not_fail_call(events: list[Any]) -> None:
    class Broken:
        def decode_response(self, response: Any) -> Any:
            raise RuntimeError("cannot decode")

    assert await llm.execute("m", chat_request(), lambda r: {"x": 1}, response_codec=Broken()) == {"x": 1}
    _, end = start_end(events, "m")
    assert "annotated_response" not in end.category_profile
    assert end.error is None


def test_codec_arguments_are_type_checked() -> None:
    with pytest.raises(TypeError):
        llm.execute_sync("m", chat_request(), lambda r: 1, codec=object())
    with pytest.raises(TypeError):
        llm.execute_sync("m", chat_request(), lambda r: 1, response_codec=object())


# --- manual llm.call / call_end -----------------------------------------------------------------


def test_manual_call_start_and_end(events: list[Any]) -> None:
    h = llm.call("manual", chat_request(), model_name="gpt-x", metadata={"a": 1, "b": 2}, data={"app": 1})
    assert isinstance(h, LLMHandle)
    llm.call_end(h, {"text": "r"}, metadata={"b": 3})
    start, end = start_end(events, "manual")
    assert start.uuid == end.uuid == h.uuid
    assert start.data == {"headers": {"h": "v"}, "content": chat_request().content}
    assert start.category_profile == {"model_name": "gpt-x"}
    assert end.category_profile == {"model_name": "gpt-x"}
    assert end.data == {"text": "r"}
    assert end.metadata == {"a": 1, "b": 3}


def test_manual_call_end_data_when_response_none(events: list[Any]) -> None:
    h = llm.call("manual", chat_request())
    llm.call_end(h, None, data={"fallback": True})
    _, end = start_end(events, "manual")
    assert end.data == {"fallback": True}


@pytest.mark.parametrize(
    "given",
    [
        AnnotatedLLMResponse(id="r9", message="given"),
        {"id": "r9", "message": "given"},
    ],
    ids=["object", "dict"],
)
def test_manual_call_end_annotated_response(events: list[Any], given: Any) -> None:
    h = llm.call("manual", chat_request())
    llm.call_end(h, {"raw": 1}, annotated_response=given)
    _, end = start_end(events, "manual")
    assert end.category_profile["annotated_response"] == {"id": "r9", "message": "given"}
    assert end.annotated_response.id == "r9"


def test_manual_call_end_invalid_annotated_response_dict() -> None:
    h = llm.call("manual", chat_request())
    with pytest.raises((ValueError, TypeError)):
        llm.call_end(h, {"raw": 1}, annotated_response={"tool_calls": "not a list"})


def test_manual_call_end_response_codec_and_precedence(events: list[Any]) -> None:
    rc = TextResponseCodec()
    h = llm.call("a", chat_request())
    llm.call_end(h, {"id": "x", "text": "from codec"}, response_codec=rc)
    _, end = start_end(events, "a")
    assert end.category_profile["annotated_response"]["message"] == "from codec"

    rc2 = TextResponseCodec()
    h = llm.call("b", chat_request())
    llm.call_end(h, {"id": "x", "text": "from codec"}, response_codec=rc2, annotated_response={"message": "given"})
    _, end = start_end(events, "b")
    assert end.category_profile["annotated_response"] == {"message": "given"}
    assert rc2.seen == []


def test_manual_call_end_response_codec_failure_raised_after_end_event(events: list[Any]) -> None:
    err = ValueError("cannot decode")

    class Broken:
        def decode_response(self, response: Any) -> Any:
            raise err

    h = llm.call("manual", chat_request())
    with pytest.raises(MiddlewareError) as info:
        llm.call_end(h, {"raw": 1}, response_codec=Broken())
    assert info.value.__cause__ is err
    _, end = start_end(events, "manual")  # the end event was emitted, without an annotation
    assert end.data == {"raw": 1}
    assert "annotated_response" not in end.category_profile
    with pytest.raises(ScopeError):  # and the call is over
        llm.call_end(h, {})


def test_manual_call_runs_only_sanitizers(events: list[Any]) -> None:
    log: list[str] = []
    guardrails.register_llm_conditional_execution("c", 1, lambda r: log.append("cond") or "no")
    intercepts.register_llm_request("i", 1, False, lambda n, r, a: log.append("req") or (r, a))

    def sanitize(r: LLMRequest) -> LLMRequest:
        r.headers["h"] = "***"
        return r

    guardrails.register_llm_sanitize_request("s", 1, sanitize)
    guardrails.register_llm_sanitize_response("sr", 1, lambda resp: {"redacted": True})
    h = llm.call("manual", chat_request())
    llm.call_end(h, {"text": "secret"})
    assert log == []
    start, end = start_end(events, "manual")
    assert start.data["headers"] == {"h": "***"}
    assert end.data == {"redacted": True}


def test_manual_call_end_twice_is_scope_error() -> None:
    h = llm.call("manual", chat_request())
    llm.call_end(h, {})
    with pytest.raises(ScopeError):
        llm.call_end(h, {})


# --- single steps -------------------------------------------------------------------------------


def test_request_intercepts_chain_no_codec_no_events(events: list[Any]) -> None:
    anns: list[Any] = []

    def a(name: str, r: LLMRequest, ann: Any) -> Any:
        anns.append(ann)
        r.headers["a"] = name
        return r, ann

    def b(name: str, r: LLMRequest, ann: Any) -> Any:
        r.content["b"] = r.headers["a"]
        return r, ann

    intercepts.register_llm_request("a", 1, False, a)
    intercepts.register_llm_request("b", 2, False, b)
    out = llm.request_intercepts("model", chat_request())
    assert isinstance(out, LLMRequest)
    assert out.headers == {"h": "v", "a": "model"}
    assert out.content["b"] == "model"
    assert anns == [None]
    assert events == []


def test_conditional_execution_llm(events: list[Any]) -> None:
    guardrails.register_llm_conditional_execution("ok", 1, lambda r: None)
    llm.conditional_execution(chat_request())
    assert [(e.name, e.scope_category) for e in events] == [("ok", "start"), ("ok", "end")]
    assert events[0].data == {"kind": "llm_conditional_execution"}
    assert events[1].data == {"allowed": True, "rejected": False}
    events.clear()
    guardrails.register_llm_conditional_execution("deny", 2, lambda r: "too long")
    with pytest.raises(GuardrailRejected, match=r"^guardrail rejected: .*too long"):
        llm.conditional_execution(chat_request())
    assert not any(e.kind == "mark" for e in events)
    assert events[-1].data == {"allowed": False, "rejected": True, "rejection_reason": "too long"}


async def test_llm_rejection_in_execute_emits_mark_and_no_llm_events(events: list[Any]) -> None:
    guardrails.register_llm_conditional_execution("deny", 1, lambda r: "nope")
    called: list[int] = []
    with pytest.raises(GuardrailRejected):
        await llm.execute("model-x", chat_request(), lambda r: called.append(1), metadata={"cm": 1})
    assert called == []
    assert not any(e.kind == "scope" and e.category == "llm" for e in events)
    mark = events[-1]
    assert mark.kind == "mark" and mark.name == "model-x"
    assert mark.data == {"rejected": True, "rejection_reason": "nope"}
    assert mark.metadata == {"cm": 1}
