"""LangChain's ChatOpenAI against a loopback provider stub: edits reach the wire, the SDK call
runs inside the managed call (IN_MANAGED_CALL), and with the OpenAI integration also on there
is one LLM event per call."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

pytest.importorskip("langchain_openai")

from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

import nemo_flow
from nemo_flow.integrations import _common
from nemo_flow.integrations import langchain as nlc

if TYPE_CHECKING:
    from provider_stub import ProviderStub

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@pytest.fixture
def on() -> Iterator[None]:
    with nlc.instrumented():
        yield


@tool
def lookup(city: str) -> str:
    """Look up the weather in a city."""
    return f"sunny in {city}"


def completion(text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-test",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }


def model(stub: ProviderStub) -> ChatOpenAI:
    return ChatOpenAI(model="gpt-test", base_url=stub.url + "/v1", api_key="k", max_retries=0)  # type: ignore[arg-type]


def llm_starts(events: list[Any]) -> list[Any]:
    return [e for e in events if e.kind == "scope" and e.category == "llm" and e.scope_category == "start"]


def test_request_intercept_edit_reaches_the_wire(on: None, events: list[Any], stub: ProviderStub) -> None:
    def edit(name: str, request: Any, annotated: Any) -> Any:
        request.content["messages"][-1]["content"] = "edited on the way"
        request.content["tools"][0]["function"]["description"] = "edited tool"
        return request, annotated

    nemo_flow.intercepts.register_llm_request("edit", 10, False, edit)
    stub.reply_json(completion("done"))
    out = model(stub).bind_tools([lookup]).invoke("original text")
    assert out.content == "done"
    (wire,) = stub.requests
    assert wire.body["messages"][-1]["content"] == "edited on the way"
    assert wire.body["tools"][0]["function"]["description"] == "edited tool"
    (start,) = llm_starts(events)
    assert start.data["content"]["model"] == "gpt-test"
    assert start.annotated_request.tools[0]["function"]["name"] == "lookup"
    (end,) = [e for e in events if e.kind == "scope" and e.category == "llm" and e.scope_category == "end"]
    assert end.annotated_response.usage["total_tokens"] == 5


def test_sdk_request_runs_inside_the_managed_call(
    on: None, stub: ProviderStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openai._base_client import SyncAPIClient

    flags: list[bool] = []
    original = SyncAPIClient.request

    def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        flags.append(_common.IN_MANAGED_CALL.get())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SyncAPIClient, "request", spy)
    stub.reply_json(completion("a"))
    model(stub).invoke("x")
    assert flags == [True]


def test_sdk_stream_under_a_managed_langchain_stream(on: None, events: list[Any], stub: ProviderStub) -> None:
    def chunk(text: str, finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "c1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-test",
            "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}],
        }

    stub.reply_sse([chunk("hel"), chunk("lo"), chunk("", "stop")])
    text = "".join(str(c.content) for c in model(stub).stream("hi"))
    assert text == "hello"
    assert len(llm_starts(events)) == 1
    (end,) = [e for e in events if e.kind == "scope" and e.category == "llm" and e.scope_category == "end"]
    assert end.annotated_response.response_text() == "hello"


def test_prefer_sdk_defers_to_an_instrumented_sdk_integration(
    events: list[Any], stub: ProviderStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stand-in for the provider integration's module: only its is_instrumented() is consulted.
    fake = types.ModuleType("nemo_flow.integrations.openai")
    fake.is_instrumented = lambda: True  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "nemo_flow.integrations.openai", fake)
    stub.reply_json(completion("a"))
    stub.reply_json(completion("b"))
    with nlc.instrumented(prefer="sdk"):
        model(stub).invoke("x")
    assert llm_starts(events) == []  # left to the (here absent) SDK integration
    with nlc.instrumented():
        model(stub).invoke("y")
    assert len(llm_starts(events)) == 1


def test_one_event_with_the_openai_integration_also_on(events: list[Any], stub: ProviderStub) -> None:
    openai_integration = pytest.importorskip("nemo_flow.integrations.openai")
    openai_integration.instrument()
    try:
        stub.reply_json(completion("a"))
        stub.reply_json(completion("b"))
        stub.reply_json(completion("c"))
        with nlc.instrumented():
            model(stub).invoke("via langchain")
        starts = llm_starts(events)
        assert len(starts) == 1
        assert starts[0].data["content"]["messages"][-1]["content"] == "via langchain"
        events.clear()
        with nlc.instrumented(prefer="sdk"):
            model(stub).invoke("exact body")
        (start,) = llm_starts(events)
        assert start.name != "ChatOpenAI"  # recorded by the SDK layer, with the exact wire body
        assert start.data["content"]["messages"][-1]["content"] == "exact body"
        events.clear()
        model(stub).invoke("sdk only")
        assert len(llm_starts(events)) == 1
    finally:
        openai_integration.uninstrument()
