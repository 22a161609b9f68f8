"""LangGraph and create_agent under the LangChain integration: the run tree as scopes."""

from __future__ import annotations

import asyncio
import operator
from collections.abc import Iterator
from typing import Annotated, Any, TypedDict

import pytest

pytest.importorskip("langgraph")

from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

import nemo_flow
from nemo_flow.integrations import _langchain_calls
from nemo_flow.integrations import langchain as nlc


@pytest.fixture
def on() -> Iterator[None]:
    with nlc.instrumented():
        yield
    assert _langchain_calls.SETTINGS.runs.open_runs == 0


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


class ToolCallingFake(FakeMessagesListChatModel):
    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


def agent_model() -> ToolCallingFake:
    return ToolCallingFake(
        responses=[
            AIMessage("", tool_calls=[{"name": "add", "args": {"a": 1, "b": 2}, "id": "call-1"}]),
            AIMessage("the sum is 3"),
        ]
    )


def by_uuid(events: list[Any]) -> dict[str, Any]:
    return {e.uuid: e for e in events if e.kind == "scope" and e.scope_category == "start"}


def of(events: list[Any], category: str, phase: str = "start") -> list[Any]:
    return [e for e in events if e.kind == "scope" and e.category == category and e.scope_category == phase]


class Fan(TypedDict):
    out: Annotated[list[str], operator.add]


def fan_out_graph(model: Any) -> Any:
    def branch(name: str) -> Any:
        async def node(state: Fan) -> dict[str, list[str]]:
            reply = await model.ainvoke(f"from {name}")
            await add.ainvoke({"a": len(name), "b": 1})
            return {"out": [f"{name}:{reply.content}"]}

        return node

    g = StateGraph(Fan)
    for name in ("left", "middle", "right"):
        g.add_node(name, branch(name))
        g.add_edge(START, name)
        g.add_edge(name, END)
    return g.compile()


async def test_parallel_branches_nest_under_their_own_branch(on: None, events: list[Any]) -> None:
    model = FakeMessagesListChatModel(responses=[AIMessage("ok")])
    app = fan_out_graph(model)
    for _ in range(20):
        events.clear()
        with nemo_flow.scope.scope("caller", nemo_flow.ScopeType.Agent) as caller:
            result = await app.ainvoke({"out": []})
        assert sorted(result["out"]) == ["left:ok", "middle:ok", "right:ok"]
        starts = by_uuid(events)
        (graph,) = of(events, "agent")[1:]  # [0] is the caller's own scope
        assert graph.parent_uuid == caller.uuid
        branches = {e.name: e for e in of(events, "function")}
        assert set(branches) == {"left", "middle", "right"}
        assert all(b.parent_uuid == graph.uuid for b in branches.values())
        calls = of(events, "llm") + of(events, "tool")
        assert len(calls) == 6
        for call in calls:
            branch = starts[call.parent_uuid]
            origin = call.data["content"]["messages"][0]["content"] if call.category == "llm" else call.data
            expected = f"from {branch.name}" if call.category == "llm" else {"a": len(branch.name), "b": 1}
            assert origin == expected
        ends = [e for e in events if e.kind == "scope" and e.scope_category == "end"]
        assert len(ends) == len(starts)
        assert ends[-1].uuid == caller.uuid
    assert nemo_flow.scope.get_handle().name == "root"


def test_create_agent_tool_loop_with_tool_args_intercept(on: None, events: list[Any]) -> None:
    create_agent = pytest.importorskip("langchain.agents").create_agent
    nemo_flow.intercepts.register_tool_request("bump", 10, False, lambda name, args: {**args, "b": 40})
    agent = create_agent(agent_model(), [add], name="adder")
    result = agent.invoke({"messages": [("user", "add 1 and 2")]})
    tool_msg = next(m for m in result["messages"] if isinstance(m, ToolMessage))
    assert tool_msg.content == "41" and tool_msg.tool_call_id == "call-1"
    starts = by_uuid(events)
    (agent_scope,) = of(events, "agent")
    assert agent_scope.name == "adder"
    nodes = of(events, "function")
    assert [n.name for n in nodes] == ["model", "tools", "model"]
    assert all(n.parent_uuid == agent_scope.uuid for n in nodes)
    llms = of(events, "llm")
    assert [starts[e.parent_uuid].name for e in llms] == ["model", "model"]
    (tool_call,) = of(events, "tool")
    assert starts[tool_call.parent_uuid].name == "tools"
    assert tool_call.data == {"a": 1, "b": 40}
    assert tool_call.metadata["tool_call_id"] == "call-1"
    # The second model call saw the tool result in OpenAI shape.
    second = llms[1].data["content"]["messages"]
    assert second[-1] == {"role": "tool", "tool_call_id": "call-1", "content": "41", "name": "add"}
    assert second[-2]["tool_calls"][0]["function"]["name"] == "add"


async def test_create_agent_async(on: None, events: list[Any]) -> None:
    create_agent = pytest.importorskip("langchain.agents").create_agent
    agent = create_agent(agent_model(), [add])
    result = await agent.ainvoke({"messages": [("user", "add")]})
    assert result["messages"][-1].content == "the sum is 3"
    assert len(of(events, "llm")) == 2 and len(of(events, "tool")) == 1
    assert len(of(events, "llm", "end")) == 2


def test_graph_streaming_messages_mode_is_one_managed_call_per_model_call(on: None, events: list[Any]) -> None:
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel

    model = GenericFakeChatModel(messages=iter([AIMessage("streamed reply")]))

    def call(state: dict[str, Any]) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    from langgraph.graph import MessagesState

    g = StateGraph(MessagesState)
    g.add_node("call", call)
    g.add_edge(START, "call")
    app = g.compile()
    tokens = [chunk.content for chunk, _meta in app.stream({"messages": [("user", "hi")]}, stream_mode="messages")]
    assert "".join(str(t) for t in tokens) == "streamed reply"
    (start,) = of(events, "llm")
    (node,) = of(events, "function")
    assert start.parent_uuid == node.uuid


def test_interrupt_and_resume_are_marks(on: None, events: list[Any]) -> None:
    class S(TypedDict):
        answer: str

    def ask(state: S) -> dict[str, str]:
        return {"answer": interrupt({"question": "proceed?"})}

    g = StateGraph(S)
    g.add_node("ask", ask)
    g.add_edge(START, "ask")
    app = g.compile(checkpointer=InMemorySaver())
    config: Any = {"configurable": {"thread_id": "t1"}}
    app.invoke({"answer": ""}, config)
    assert app.invoke(Command(resume="yes"), config)["answer"] == "yes"
    marks = [e for e in events if e.kind == "mark" and e.name.startswith("langgraph.")]
    assert [m.name for m in marks] == ["langgraph.interrupt", "langgraph.resume"]
    assert marks[0].data["interrupts"] == [{"question": "proceed?"}]
    graphs = {e.uuid for e in of(events, "agent")}
    assert all(m.parent_uuid in graphs for m in marks)


def test_threads_running_graphs_concurrently_stay_apart(on: None, events: list[Any]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    model = FakeMessagesListChatModel(responses=[AIMessage("ok")])
    app = fan_out_graph(model)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: asyncio.run(app.ainvoke({"out": []})), range(4)))
    assert all(len(r["out"]) == 3 for r in results)
    starts = by_uuid(events)
    for call in of(events, "llm"):
        branch = starts[call.parent_uuid]
        assert call.data["content"]["messages"][0]["content"] == f"from {branch.name}"
    assert len(of(events, "agent")) == 4


def test_middleware_manages_create_agent_without_patching(events: list[Any]) -> None:
    create_agent = pytest.importorskip("langchain.agents").create_agent
    assert not nlc.is_instrumented()

    def remind(name: str, request: Any, annotated: Any) -> Any:
        request.content["messages"].append({"role": "user", "content": "be precise"})
        return request, annotated

    nemo_flow.intercepts.register_llm_request("remind", 10, False, remind)
    nemo_flow.intercepts.register_tool_request("bump", 10, False, lambda name, args: {**args, "b": 5})
    agent = create_agent(agent_model(), [add], middleware=[nlc.NemoFlowMiddleware()])
    result = agent.invoke({"messages": [("user", "add")]})
    tool_msg = next(m for m in result["messages"] if isinstance(m, ToolMessage))
    assert tool_msg.content == "6"
    llms = of(events, "llm")
    assert len(llms) == 2
    assert llms[0].data["content"]["messages"][-1] == {"role": "user", "content": "be precise"}
    assert llms[0].data["content"]["tools"][0]["function"]["name"] == "add"
    assert [e.data for e in of(events, "tool")] == [{"a": 1, "b": 5}]
    assert of(events, "tool", "end")[0].data["content"] == "6"
    # With instrument() on as well, the middleware steps aside: still one event per call.
    events.clear()
    with nlc.instrumented():
        create_agent(agent_model(), [add], middleware=[nlc.NemoFlowMiddleware()]).invoke({"messages": [("user", "a")]})
    assert len(of(events, "llm")) == 2 and len(of(events, "tool")) == 1


def test_callback_handler_with_instrument_on_records_each_interrupt_once(on: None, events: list[Any]) -> None:
    class S(TypedDict):
        answer: str

    g = StateGraph(S)
    g.add_node("ask", lambda state: {"answer": interrupt("ok?")})
    g.add_edge(START, "ask")
    app = g.compile(checkpointer=InMemorySaver())
    config: Any = {"configurable": {"thread_id": "t2"}, "callbacks": [nlc.NemoFlowCallbackHandler()]}
    app.invoke({"answer": ""}, config)
    marks = [e.name for e in events if e.kind == "mark" and e.name.startswith("langgraph.")]
    assert marks == ["langgraph.interrupt"]
    assert len(of(events, "agent")) == 1 and len(of(events, "function")) == 1
