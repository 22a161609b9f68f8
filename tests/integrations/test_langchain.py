"""LangChain integration: real langchain-core with fake chat models and real tools."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("langchain_core")

from langchain_core.language_models.fake_chat_models import (
    FakeMessagesListChatModel,
    GenericFakeChatModel,
    ParrotFakeChatModel,
)
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.tools import BaseTool, tool

import nemo_flow
from nemo_flow.integrations import _common
from nemo_flow.integrations import langchain as nlc


@pytest.fixture
def on() -> Iterator[None]:
    with nlc.instrumented():
        yield


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool
def explode(reason: str) -> str:
    """Always fails."""
    raise LookupError(reason)


SEEN: list[dict[str, Any]] = []


class Recording(FakeMessagesListChatModel):
    """A fake chat model that records what reached it."""

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Any:
        SEEN.append({"messages": messages, "stop": stop, "kwargs": kwargs, "flag": _common.IN_MANAGED_CALL.get()})
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)


def llm_events(events: list[Any], phase: str = "start") -> list[Any]:
    return [e for e in events if e.kind == "scope" and e.category == "llm" and e.scope_category == phase]


def tool_events(events: list[Any], phase: str = "start") -> list[Any]:
    return [e for e in events if e.kind == "scope" and e.category == "tool" and e.scope_category == phase]


def scope_starts(events: list[Any]) -> list[Any]:
    return [
        e for e in events if e.kind == "scope" and e.scope_category == "start" and e.category not in ("llm", "tool")
    ]


def test_invoke_is_one_managed_call_with_openai_shaped_request(on: None, events: list[Any]) -> None:
    model = FakeMessagesListChatModel(responses=[AIMessage("pong")])
    with nemo_flow.scope.scope("caller", nemo_flow.ScopeType.Agent) as caller:
        out = model.invoke([HumanMessage("ping")], stop=["\n"], temperature=0.5)
    assert out.content == "pong"
    (start,) = llm_events(events)
    (end,) = llm_events(events, "end")
    assert start.parent_uuid == caller.uuid
    content = start.data["content"]
    assert content["messages"] == [{"role": "user", "content": "ping"}]
    assert content["stop"] == ["\n"]
    assert content["temperature"] == 0.5
    # The built-in codec read it: the annotated view exists and the model name is never None.
    assert start.annotated_request.last_user_message() == "ping"
    assert start.name == "FakeMessagesListChatModel"
    assert end.annotated_response.response_text() == "pong"
    assert end.data["choices"][0]["message"] == {"role": "assistant", "content": "pong"}


def test_model_name_from_the_model_and_falls_back_to_class_name(on: None, events: list[Any]) -> None:
    class Named(FakeMessagesListChatModel):
        model_name: str = "named-model-1"

    Named(responses=[AIMessage("a")]).invoke("x")
    FakeMessagesListChatModel(responses=[AIMessage("b")]).invoke("x")
    names = [e.data["content"]["model"] for e in llm_events(events)]
    assert names == ["named-model-1", "FakeMessagesListChatModel"]
    assert all(e.category_profile is None or e.category_profile.get("model_name") in names for e in llm_events(events))


def test_batch_and_async_invoke_are_managed(on: None, events: list[Any]) -> None:
    import asyncio

    model = FakeMessagesListChatModel(responses=[AIMessage("r")])
    assert [m.content for m in model.batch(["a", "b", "c"])] == ["r", "r", "r"]
    assert asyncio.run(model.ainvoke("d")).content == "r"
    sent = sorted(e.data["content"]["messages"][0]["content"] for e in llm_events(events))
    assert sent == ["a", "b", "c", "d"]
    assert len(llm_events(events, "end")) == 4


def test_lcel_chain_is_an_agent_scope_around_the_call(on: None, events: list[Any]) -> None:
    chain = ChatPromptTemplate.from_messages([("system", "be brief"), ("user", "{q}")]) | ParrotFakeChatModel()
    assert chain.invoke({"q": "hello"}).content == "hello"
    (run,) = scope_starts(events)
    assert (run.name, run.category) == ("RunnableSequence", "agent")
    (start,) = llm_events(events)
    assert start.parent_uuid == run.uuid
    assert [m["role"] for m in start.data["content"]["messages"]] == ["system", "user"]


def test_request_intercept_edits_messages(on: None, events: list[Any]) -> None:
    def shout(name: str, request: Any, annotated: Any) -> Any:
        request.content["messages"][-1]["content"] = request.content["messages"][-1]["content"].upper()
        request.content["messages"].insert(0, {"role": "system", "content": "added by intercept"})
        return request, annotated

    nemo_flow.intercepts.register_llm_request("shout", 10, False, shout)
    model = Recording(responses=[AIMessage("ok")])
    SEEN.clear()
    assert model.invoke("quiet please").content == "ok"
    (seen,) = SEEN
    assert [(type(m).__name__, m.content) for m in seen["messages"]] == [
        ("SystemMessage", "added by intercept"),
        ("HumanMessage", "QUIET PLEASE"),
    ]
    # ParrotFakeChatModel echoes what it received: the edit reached the model.
    assert ParrotFakeChatModel().invoke("echo me").content == "ECHO ME"


def test_request_intercept_edits_tools_and_params(on: None, events: list[Any]) -> None:
    lookup = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}

    def drop_tools(name: str, request: Any, annotated: Any) -> Any:
        assert request.content["tools"][0]["function"]["name"] == "lookup"
        request.content["tools"] = [{**lookup, "function": {**lookup["function"], "name": "renamed"}}]
        request.content["tool_choice"] = "none"
        return request, annotated

    nemo_flow.intercepts.register_llm_request("tools", 10, False, drop_tools)
    SEEN.clear()
    Recording(responses=[AIMessage("ok")]).invoke("x", tools=[lookup], tool_choice="auto", seed=7)
    (seen,) = SEEN
    assert seen["kwargs"]["tools"][0]["function"]["name"] == "renamed"
    assert seen["kwargs"]["tool_choice"] == "none"
    assert seen["kwargs"]["seed"] == 7
    (start,) = llm_events(events)
    assert start.annotated_request.tools[0]["function"]["name"] == "renamed"


def test_unchanged_request_keeps_langchain_objects(on: None) -> None:
    SEEN.clear()
    original = HumanMessage("keep me", id="msg-1", additional_kwargs={"x": 1})
    Recording(responses=[AIMessage("ok")]).invoke([original])
    assert SEEN[0]["messages"][0] is original


def test_execution_intercept_can_replace_the_response(on: None) -> None:
    async def canned(name: str, request: Any, call_next: Any) -> Any:
        return {"choices": [{"index": 0, "message": {"role": "assistant", "content": "from cache"}}]}

    nemo_flow.intercepts.register_llm_execution("cache", 10, canned)
    import asyncio

    SEEN.clear()
    out = asyncio.run(Recording(responses=[AIMessage("live")]).ainvoke("q"))
    assert out.content == "from cache"
    assert SEEN == []


def test_provider_callback_runs_with_in_managed_call_set(on: None, events: list[Any]) -> None:
    SEEN.clear()
    Recording(responses=[AIMessage("ok")]).invoke("x")
    assert SEEN[0]["flag"] is True
    assert _common.IN_MANAGED_CALL.get() is False
    # Inside another integration's managed call, LangChain passes straight through: no event.
    token = _common.IN_MANAGED_CALL.set(True)
    try:
        Recording(responses=[AIMessage("ok")]).invoke("y")
    finally:
        _common.IN_MANAGED_CALL.reset(token)
    assert len(llm_events(events)) == 1


def test_model_calling_a_model_is_one_event(on: None, events: list[Any]) -> None:
    inner = FakeMessagesListChatModel(responses=[AIMessage("inner")])

    class Outer(FakeMessagesListChatModel):
        def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Any:
            inner.invoke(messages)
            return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)

    Outer(responses=[AIMessage("outer")]).invoke("x")
    assert [e.name for e in llm_events(events)] == ["Outer"]


def test_sync_stream_is_one_managed_streaming_call(on: None, events: list[Any]) -> None:
    model = GenericFakeChatModel(messages=iter([AIMessage("alpha beta gamma")]))
    chunks = list(model.stream("go"))
    assert "".join(str(c.content) for c in chunks) == "alpha beta gamma"
    (start,) = llm_events(events)
    (end,) = llm_events(events, "end")
    assert "streaming" in [a.lower() for a in start.attributes]
    marks = [e for e in events if e.kind == "mark" and e.name == "llm.chunk"]
    assert len(marks) == len(chunks)
    assert end.annotated_response.response_text() == "alpha beta gamma"


async def test_astream_with_a_chunk_editing_stream_intercept(on: None, events: list[Any]) -> None:
    async def upper(request: Any, call_next: Any) -> Any:
        upstream = await call_next(request)

        async def edited() -> Any:
            async for chunk in upstream:
                for choice in chunk["choices"]:
                    choice["delta"]["content"] = choice["delta"]["content"].upper()
                yield chunk

        return edited()

    nemo_flow.intercepts.register_llm_stream_execution("upper", 10, upper)
    model = GenericFakeChatModel(messages=iter([AIMessage("quiet words")]))
    text = "".join([str(c.content) async for c in model.astream("go")])
    assert text == "QUIET WORDS"
    (end,) = llm_events(events, "end")
    assert end.annotated_response.response_text() == "QUIET WORDS"


def test_stream_left_early_ends_the_call_once(on: None, events: list[Any]) -> None:
    model = GenericFakeChatModel(messages=iter([AIMessage("one two three four")]))
    for _chunk in model.stream("go"):
        break
    assert len(llm_events(events, "end")) == 1


def test_tool_run_is_a_managed_tool_call(on: None, events: list[Any]) -> None:
    with nemo_flow.scope.scope("caller", nemo_flow.ScopeType.Agent) as caller:
        assert add.invoke({"a": 2, "b": 3}) == 5
        msg = add.invoke({"name": "add", "args": {"a": 1, "b": 1}, "id": "call-7", "type": "tool_call"})
    assert isinstance(msg, ToolMessage) and msg.content == "2" and msg.tool_call_id == "call-7"
    starts = tool_events(events)
    assert [(e.name, e.data, e.parent_uuid) for e in starts] == [
        ("add", {"a": 2, "b": 3}, caller.uuid),
        ("add", {"a": 1, "b": 1}, caller.uuid),
    ]
    assert starts[1].metadata["tool_call_id"] == "call-7"
    ends = tool_events(events, "end")
    assert ends[1].data == {"content": "2", "tool_call_id": "call-7", "status": "success", "artifact": None}


def test_tool_args_intercept_is_validated_and_reaches_the_tool(on: None, events: list[Any]) -> None:
    nemo_flow.intercepts.register_tool_request("ten", 10, False, lambda name, args: {**args, "b": 10})
    assert add.invoke({"a": 1, "b": 2}) == 11
    nemo_flow.intercepts.deregister_tool_request("ten")
    nemo_flow.intercepts.register_tool_request("bad", 10, False, lambda name, args: {**args, "b": "not a number"})
    with pytest.raises(Exception, match="b"):
        add.invoke({"a": 1, "b": 2})


async def test_tool_error_keeps_its_type_and_is_recorded(on: None, events: list[Any]) -> None:
    with pytest.raises(LookupError, match="gone"):
        await explode.ainvoke({"reason": "gone"})
    (end,) = tool_events(events, "end")
    assert end.error["type"] == "LookupError"


def test_tool_execution_intercept_result_becomes_a_tool_message(on: None) -> None:
    nemo_flow.intercepts.register_tool_execution("cached", 10, lambda name, args, call_next: 42)
    msg = add.invoke({"name": "add", "args": {"a": 1, "b": 1}, "id": "c1", "type": "tool_call"})
    assert isinstance(msg, ToolMessage) and msg.content == "42" and msg.tool_call_id == "c1"


def test_instrument_is_idempotent_and_uninstrument_restores_exactly() -> None:
    from langchain_core.language_models.chat_models import BaseChatModel

    before = {a: BaseChatModel.__dict__.get(a) for a in ("_generate_with_cache", "stream")}
    tool_before = {a: BaseTool.__dict__.get(a) for a in ("run", "arun")}
    nlc.instrument()
    nlc.instrument()
    assert nlc.is_instrumented()
    patched = BaseChatModel.__dict__["stream"]
    nlc.uninstrument()
    assert not nlc.is_instrumented()
    assert {a: BaseChatModel.__dict__.get(a) for a in before} == before
    assert {a: BaseTool.__dict__.get(a) for a in tool_before} == tool_before
    assert patched is not before["stream"]
    from langchain_core.tracers.context import _configure_hooks

    assert not any(h[0] is nlc._SLOT for h in _configure_hooks)


def test_wrapped_over_then_uninstrumented_passes_through(events: list[Any]) -> None:
    from langchain_core.language_models.chat_models import BaseChatModel

    original = BaseChatModel.__dict__["_generate_with_cache"]
    nlc.instrument()
    ours = BaseChatModel.__dict__["_generate_with_cache"]

    def theirs(self: Any, *a: Any, **k: Any) -> Any:
        return ours(self, *a, **k)

    BaseChatModel._generate_with_cache = theirs  # type: ignore[method-assign]
    try:
        nlc.uninstrument()
        assert BaseChatModel.__dict__["_generate_with_cache"] is theirs
        FakeMessagesListChatModel(responses=[AIMessage("a")]).invoke("x")
        assert llm_events(events) == []
        nlc.instrument()  # ours is still in the chain: not wrapped a second time
        FakeMessagesListChatModel(responses=[AIMessage("a")]).invoke("x")
        assert len(llm_events(events)) == 1
    finally:
        nlc.uninstrument()
        BaseChatModel._generate_with_cache = original  # type: ignore[method-assign]
        nlc._installed.pop((BaseChatModel, "_generate_with_cache"), None)


@pytest.mark.parametrize(("kwargs", "match"), [({"prefer": "http"}, "prefer"), ({"name": ""}, "name")])
def test_bad_instrument_arguments_change_nothing(kwargs: dict[str, Any], match: str) -> None:
    from langchain_core.language_models.chat_models import BaseChatModel

    before = BaseChatModel.__dict__.get("_generate_with_cache")
    with pytest.raises((TypeError, ValueError), match=match):
        nlc.instrument(**kwargs)
    assert not nlc.is_instrumented()
    assert BaseChatModel.__dict__.get("_generate_with_cache") is before


def test_callback_handler_observes_without_patching(events: list[Any]) -> None:
    handler = nlc.NemoFlowCallbackHandler()
    chain = ChatPromptTemplate.from_messages([("user", "{q}")]) | FakeMessagesListChatModel(
        responses=[AIMessage("seen")]
    )
    chain.invoke({"q": "hi"}, config={"callbacks": [handler]})
    add.invoke({"a": 1, "b": 2}, config={"callbacks": [handler]})
    (run,) = scope_starts(events)
    (start,) = llm_events(events)
    (end,) = llm_events(events, "end")
    assert start.parent_uuid == run.uuid
    assert start.data["content"]["messages"] == [{"role": "user", "content": "hi"}]
    assert end.data["choices"][0]["message"]["content"] == "seen"
    assert [e.data for e in tool_events(events)] == [{"a": 1, "b": 2}]
    assert tool_events(events, "end")[0].data == 3
    assert handler.open_runs == 0


def test_callback_handler_is_silent_while_instrumented(on: None, events: list[Any]) -> None:
    FakeMessagesListChatModel(responses=[AIMessage("x")]).invoke(
        "q", config={"callbacks": [nlc.NemoFlowCallbackHandler()]}
    )
    assert len(llm_events(events)) == 1


async def test_sync_invoke_inside_a_running_loop(on: None, events: list[Any]) -> None:
    assert FakeMessagesListChatModel(responses=[AIMessage("sync")]).invoke("x").content == "sync"
    assert len(llm_events(events, "end")) == 1


def test_model_error_keeps_its_type_and_is_recorded(on: None, events: list[Any]) -> None:
    class Failing(FakeMessagesListChatModel):
        def _generate(self, *args: Any, **kwargs: Any) -> Any:
            raise ConnectionResetError("provider went away")

    with pytest.raises(ConnectionResetError, match="went away"):
        Failing(responses=[AIMessage("never")]).invoke("x")
    (end,) = llm_events(events, "end")
    assert end.error["type"] == "ConnectionResetError"
