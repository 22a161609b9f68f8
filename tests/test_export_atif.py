"""ATIF v1.6 exporter: every trajectory validates against the official models
(``nvidia-nat-atif==1.6.0``); tool calls land on the LLM step that requested them, structured
results are strings, streaming leaves no chunk noise, nested agents and marks are kept, token
metrics add up."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from nat.atif import Trajectory

from nemo_flow import AtifExporter, LLMRequest, ScopeType, llm, scope, tools


def _validated(exporter: AtifExporter) -> dict[str, Any]:
    doc = exporter.export()
    Trajectory.model_validate(doc)
    # Harbor's stricter rules on top of NVIDIA's copy.
    assert doc["schema_version"] == "ATIF-v1.6"
    assert doc["session_id"]
    assert all("message" in s for s in doc["steps"])
    assert json.loads(exporter.export_json()) == doc
    return doc


@pytest.fixture
def atif() -> Iterator[AtifExporter]:
    e = AtifExporter("sess-1", "demo-agent", "1.0", model_name="gpt-x", tool_definitions=[{"name": "search"}])
    e.register("atif")
    yield e
    e.deregister("atif")


def _request(text: str, *history: dict[str, Any]) -> LLMRequest:
    return LLMRequest({"h": "v"}, {"model": "gpt-x", "messages": [*history, {"role": "user", "content": text}]})


def _tool_call_response(*calls: tuple[str, str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": "r1",
        "model": "gpt-x",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": cid, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
                        for cid, name, args in calls
                    ],
                },
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def _text_response(text: str, prompt: int = 20, completion: int = 2) -> dict[str, Any]:
    return {
        "id": "r2",
        "model": "gpt-x",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "prompt_tokens_details": {"cached_tokens": 4},
        },
    }


def _agent_run() -> None:
    with scope.scope("demo-agent", ScopeType.Agent):
        llm.execute_sync(
            "openai",
            _request("find x"),
            lambda r: _tool_call_response(("call_1", "search", {"query": "x"}), ("call_2", "lookup", {"id": 7})),
        )
        # Managed tools carry no call id: correlated by name with the requesting step.
        tools.execute_sync("lookup", {"id": 7}, lambda a: "plain text")
        tools.execute_sync("search", {"query": "x"}, lambda a: {"results": ["a", "b"]})
        llm.execute_sync("openai", _request("thanks"), lambda r: _text_response("done"))


def test_tool_calls_are_correlated_to_the_requesting_llm_step(atif: AtifExporter) -> None:
    _agent_run()
    doc = _validated(atif)
    sources = [s["source"] for s in doc["steps"]]
    assert sources == ["user", "agent", "user", "agent"]
    agent = doc["steps"][1]
    assert [c["tool_call_id"] for c in agent["tool_calls"]] == ["call_1", "call_2"]
    assert agent["tool_calls"][0]["arguments"] == {"query": "x"}
    results = {r["source_call_id"]: r["content"] for r in agent["observation"]["results"]}
    # Structured output is JSON text; text output is kept as is.
    assert json.loads(results["call_1"]) == {"results": ["a", "b"]}
    assert results["call_2"] == "plain text"
    assert doc["steps"][0]["message"] == "find x"
    assert doc["steps"][3]["message"] == "done"
    assert agent["model_name"] == "gpt-x"
    assert agent["extra"]["invocation"]["status"] == "completed"


def test_token_metrics_and_final_metrics(atif: AtifExporter) -> None:
    _agent_run()
    doc = _validated(atif)
    first, second = doc["steps"][1]["metrics"], doc["steps"][3]["metrics"]
    assert (first["prompt_tokens"], first["completion_tokens"]) == (10, 5)
    assert first["extra"]["total_tokens"] == 15
    assert (second["prompt_tokens"], second["cached_tokens"]) == (20, 4)
    fm = doc["final_metrics"]
    assert fm == {
        "total_prompt_tokens": 30,
        "total_completion_tokens": 7,
        "total_cached_tokens": 4,
        "total_steps": 4,
    }
    assert doc["agent"] == {
        "name": "demo-agent",
        "version": "1.0",
        "model_name": "gpt-x",
        "tool_definitions": [{"name": "search"}],
    }


def test_manual_tool_call_ids_match_exactly(atif: AtifExporter) -> None:
    with scope.scope("a", ScopeType.Agent):
        llm.execute_sync(
            "openai",
            _request("go"),
            lambda r: _tool_call_response(("c-a", "search", {"q": 1}), ("c-b", "search", {"q": 2})),
        )
        second = tools.call("search", {"q": 2}, tool_call_id="c-b")
        first = tools.call("search", {"q": 1}, tool_call_id="c-a")
        tools.call_end(second, {"n": 2})
        tools.call_end(first, {"n": 1})
    doc = _validated(atif)
    results = doc["steps"][1]["observation"]["results"]
    assert [(r["source_call_id"], json.loads(r["content"])) for r in results] == [("c-b", {"n": 2}), ("c-a", {"n": 1})]


def test_unrequested_tool_and_tool_error_become_system_steps(atif: AtifExporter) -> None:
    def boom(args: Any) -> Any:
        raise ValueError("no such thing")

    with scope.scope("a", ScopeType.Agent):
        tools.execute_sync("search", {"q": 1}, lambda a: [1, 2])
        with pytest.raises(ValueError):
            tools.execute_sync("fetch", {"u": "x"}, boom)
    doc = _validated(atif)
    steps = doc["steps"]
    assert [s["source"] for s in steps] == ["system", "system"]
    assert steps[0]["observation"]["results"] == [{"content": "[1,2]"}]
    assert steps[1]["observation"]["results"] == [{"content": "ValueError: no such thing"}]
    assert steps[1]["extra"]["tool_name"] == "fetch"


def test_failed_llm_call_is_an_agent_step_marked_error(atif: AtifExporter) -> None:
    def fail(r: Any) -> Any:
        raise RuntimeError("provider down")

    with scope.scope("a", ScopeType.Agent), pytest.raises(RuntimeError):
        llm.execute_sync("openai", _request("hi"), fail)
    doc = _validated(atif)
    agent = doc["steps"][1]
    assert agent["message"] == ""
    assert agent["extra"]["invocation"]["status"] == "error"
    assert agent["extra"]["error"] == {"type": "RuntimeError", "message": "provider down"}


def test_streaming_run_has_no_chunk_noise(atif: AtifExporter) -> None:
    chunks = [{"delta": "hel"}, {"delta": "lo"}, {"delta": "!"}]
    got: list[str] = []

    async def source(request: Any) -> AsyncIterator[Any]:
        for c in chunks:
            yield c

    async def run() -> None:
        with scope.scope("a", ScopeType.Agent):
            stream = await llm.stream_execute(
                "openai",
                _request("stream please"),
                source,
                lambda c: got.append(c["delta"]),
                lambda: {"content": "".join(got), "usage": {"input_tokens": 3, "output_tokens": 3}},
            )
            async for _ in stream:
                pass

    asyncio.run(run())
    doc = _validated(atif)
    assert [s["source"] for s in doc["steps"]] == ["user", "agent"]
    assert doc["steps"][1]["message"] == "hello!"
    assert doc["steps"][1]["metrics"]["prompt_tokens"] == 3


def test_nested_agents_and_marks(atif: AtifExporter) -> None:
    with scope.scope("outer", ScopeType.Agent):
        scope.event("checkpoint", data={"step": 1}, metadata={"hook_event_name": "PreToolUse"})
        with scope.scope("inner", ScopeType.Agent):
            llm.execute_sync("openai", _request("sub task"), lambda r: _text_response("sub done"))
        llm.execute_sync("openai", _request("wrap up"), lambda r: _text_response("all done"))
    doc = _validated(atif)
    steps = doc["steps"]
    assert [s["source"] for s in steps] == ["system", "user", "agent", "user", "agent"]
    mark = steps[0]
    assert mark["message"] == "checkpoint"
    assert mark["extra"]["hook_event_name"] == "PreToolUse"
    assert mark["extra"]["event_payload"] == {"step": 1}
    assert steps[2]["extra"]["agent_path"] == ["outer", "inner"]
    assert steps[2]["extra"]["ancestry"]["function_name"] == "inner"
    assert steps[2]["extra"]["ancestry"]["parent_name"] == "outer"
    assert steps[4]["extra"]["agent_path"] == ["outer"]
    assert [s["step_id"] for s in steps] == [1, 2, 3, 4, 5]


def test_empty_run_and_clear(atif: AtifExporter) -> None:
    doc = _validated(atif)
    assert doc["steps"] == []
    assert doc["final_metrics"] == {"total_steps": 0}
    _agent_run()
    assert _validated(atif)["steps"]
    atif.clear()
    assert _validated(atif)["steps"] == []


def test_parallel_runs_in_threads_each_validate() -> None:
    from concurrent.futures import ThreadPoolExecutor

    e = AtifExporter("s", "a", "1")
    e.register("atif-par")
    try:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda _: _agent_run(), range(8)))
        doc = _validated(e)
        assert len(doc["steps"]) == 32
        # Every tool result found the agent step that asked for it.
        assert sum(len(s.get("observation", {}).get("results", [])) for s in doc["steps"]) == 16
        assert all(s["source"] != "system" for s in doc["steps"])
    finally:
        e.deregister("atif-par")


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="session_id"):
        AtifExporter("", "a", "1")
    with pytest.raises(TypeError, match="tool_definitions"):
        AtifExporter("s", "a", "1", tool_definitions=["x"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="extra"):
        AtifExporter("s", "a", "1", extra=[1])
    e = AtifExporter("s", "a", "1", extra={"k": 1})
    assert e.export()["agent"]["extra"] == {"k": 1}
