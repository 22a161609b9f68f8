"""Record and replay: a recorded agent run answered offline through the middleware pipeline,
matching by name and sanitized request in recorded order, strict and lenient modes."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import openai
import pytest
from provider_payloads import chat_chunks

import nemo_flow
from nemo_flow import LLMRequest, ScopeType, guardrails, intercepts, llm, scope, tools
from nemo_flow.replay import RecordedError, ReplayMismatch, record, replay

if TYPE_CHECKING:
    from provider_stub import ProviderStub


class Weather:
    """A "real" tool that counts how often it really ran."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, args: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        return {"city": args["city"], "temp_c": 21 if args["city"] == "Paris" else 9}


def _tool_call_reply(city: str, call_id: str) -> dict[str, Any]:
    call = {"id": call_id, "type": "function", "function": {"name": "weather", "arguments": json.dumps({"city": city})}}
    return {
        "id": f"chatcmpl-{call_id}",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": None, "tool_calls": [call]},
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 20, "completion_tokens": 8, "total_tokens": 28},
    }


def run_agent(client: openai.OpenAI, weather: Weather, question: str) -> dict[str, Any]:
    """Plan with the model, run the tools it asks for, then stream the final answer."""

    def chat(request: LLMRequest) -> Any:
        return client.chat.completions.create(**request.content).model_dump(exclude_unset=True)

    def chat_stream(request: LLMRequest) -> Any:
        for chunk in client.chat.completions.create(**request.content, stream=True):
            yield chunk.model_dump(exclude_unset=True)

    messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
    results = []
    with scope.scope("agent", ScopeType.Agent, input={"question": question}):
        for _ in range(2):
            req = LLMRequest({}, {"model": "gpt-4o-mini", "messages": messages})
            resp = llm.execute_sync("openai", req, chat, model_name="gpt-4o-mini")
            msg = resp["choices"][0]["message"]
            messages.append(msg)
            for tc in msg.get("tool_calls") or []:
                out = tools.execute_sync(tc["function"]["name"], json.loads(tc["function"]["arguments"]), weather)
                results.append(out)
                messages.append({"role": "tool", "tool_call_id": tc["id"], "content": json.dumps(out)})
        req = LLMRequest({}, {"model": "gpt-4o-mini", "messages": messages})
        text: list[str] = []
        stream = llm.stream_execute_sync(
            "openai",
            req,
            chat_stream,
            lambda c: text.extend(ch["delta"].get("content") or "" for ch in c.get("choices", [])),
            lambda: {"text": "".join(text)},
            model_name="gpt-4o-mini",
        )
        chunks = list(stream)
    return {"tool_results": results, "answer": "".join(text), "chunks": chunks}


def test_recorded_agent_run_replays_identically_with_the_provider_stub_shut_down(
    stub: ProviderStub, tmp_path: Path, events: list[Any]
) -> None:
    stub.reply_json(_tool_call_reply("Paris", "call_1"))
    stub.reply_json(_tool_call_reply("Oslo", "call_2"))
    stub.reply_sse(chat_chunks())
    client = openai.OpenAI(base_url=stub.url + "/v1", api_key="sk-test", max_retries=0)
    weather = Weather()
    path = tmp_path / "run.jsonl"
    with record(path):
        live = run_agent(client, weather, "Paris or Oslo?")
    assert len(stub.requests) == 3 and weather.calls == 2
    assert live["tool_results"] == [{"city": "Paris", "temp_c": 21}, {"city": "Oslo", "temp_c": 9}]
    assert live["answer"] == "Let me check." and len(live["chunks"]) == len(chat_chunks())
    live_events = [(e.kind, e.name, getattr(e, "scope_category", None)) for e in events]

    stub.close()
    events.clear()
    with replay(path) as r:
        again = run_agent(client, weather, "Paris or Oslo?")
    assert again == live
    assert weather.calls == 2  # the tool never ran again
    assert (r.replayed, r.called_through, r.unused()) == (5, 0, [])
    # The pipeline ran as before: the same calls, chunk marks included, in the same order.
    assert [(e.kind, e.name, getattr(e, "scope_category", None)) for e in events] == [
        x for x in live_events if x[1] != "nemo_flow.replay.stream"
    ]


async def test_repeated_requests_are_answered_in_recorded_order(tmp_path: Path) -> None:
    counter = iter(range(1, 100))
    path = tmp_path / "r.jsonl"
    with record(path):
        live = [await tools.execute("next_id", {}, lambda a: next(counter)) for _ in range(3)]
    with replay(path):
        replayed = [await tools.execute("next_id", {}, lambda a: pytest.fail("ran for real")) for _ in range(3)]
        with pytest.raises(nemo_flow.MiddlewareError) as exc:
            await tools.execute("next_id", {}, lambda a: 0)
    assert replayed == live == [1, 2, 3]
    assert isinstance(exc.value.__cause__, ReplayMismatch)
    expected = r"tool call 'next_id' with arguments \{\} \(request [0-9a-f]{16}\) was recorded 3 time"
    assert re.search(expected, str(exc.value))


async def test_concurrent_calls_each_get_their_own_answer(tmp_path: Path) -> None:
    async def lookup(args: dict[str, Any]) -> str:
        await asyncio.sleep(0)
        return f"result {args['n']}"

    async def fan_out(order: list[int], func: Any) -> list[Any]:
        with scope.scope("fan", ScopeType.Function):
            return list(await asyncio.gather(*(tools.execute("lookup", {"n": n}, func) for n in order)))

    path = tmp_path / "r.jsonl"
    with record(path):
        live = await fan_out([1, 2, 3, 4], lookup)
    with replay(path):
        replayed = await fan_out([4, 2, 3, 1], lambda a: pytest.fail("ran for real"))
    assert live == ["result 1", "result 2", "result 3", "result 4"]
    assert replayed == ["result 4", "result 2", "result 3", "result 1"]


def test_a_result_json_cannot_hold_is_not_replayed(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    marker = object()
    with record(path):
        assert tools.execute_sync("make", {}, lambda a: marker) is marker
    with replay(path), pytest.raises(nemo_flow.MiddlewareError, match="matched, but its result was not recorded"):
        tools.execute_sync("make", {}, lambda a: marker)
    with replay(path, mode="lenient") as r:
        assert tools.execute_sync("make", {}, lambda a: marker) is marker
    assert (r.replayed, r.called_through) == (0, 1)


async def test_strict_names_the_call_and_the_closest_recorded_one_and_lenient_calls_through(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    with record(path):
        await tools.execute("search", {"query": "weather in Paris", "limit": 3}, lambda a: ["p"])
        await tools.execute("fetch", {"url": "http://x"}, lambda a: "page")
    with replay(path):
        with pytest.raises(nemo_flow.MiddlewareError) as exc:
            await tools.execute("search", {"query": "weather in Oslo", "limit": 3}, lambda a: ["o"])
    message = str(exc.value.__cause__)
    assert "tool call 'search' with arguments" in message and "weather in Oslo" in message
    assert "closest recorded: tool 'search' (line" in message and "weather in Paris" in message
    assert message.endswith("differs at $.query")
    with replay(path, mode="lenient") as r:
        assert await tools.execute("search", {"query": "weather in Oslo", "limit": 3}, lambda a: ["o"]) == ["o"]
        assert await tools.execute("fetch", {"url": "http://x"}, lambda a: "live") == "page"
    assert (r.replayed, r.called_through) == (1, 1)
    assert [c.name for c in r.unused()] == ["search"]


class QuotaExceeded(Exception):
    pass


async def test_recorded_failures_are_raised_again_and_middleware_still_runs(tmp_path: Path, events: list[Any]) -> None:
    path = tmp_path / "r.jsonl"

    def quota(a: Any) -> Any:
        raise QuotaExceeded("no quota left")

    with record(path):
        with pytest.raises(ZeroDivisionError):
            await tools.execute("calc", {"expr": "1/0"}, lambda a: 1 / 0)
        with pytest.raises(QuotaExceeded):
            await tools.execute("quota", {}, quota)
        await tools.execute("echo", {"text": "HELLO"}, lambda a: a)

    seen: list[str] = []
    intercepts.register_tool_request("lower", 1, False, lambda n, a: {k: str(v).lower() for k, v in a.items()})

    async def outer(name: str, args: Any, nxt: Callable[[Any], Any]) -> Any:
        seen.append(name)
        return await nxt(args)

    intercepts.register_tool_execution("outer", 1, outer)
    guardrails.register_tool_conditional_execution("deny-echo", 1, lambda n, a: "no echo" if n == "echo" else None)
    events.clear()
    with replay(path):
        with pytest.raises(ZeroDivisionError, match="division by zero"):
            await tools.execute("calc", {"expr": "1/0"}, lambda a: 0)
        with pytest.raises(RecordedError) as exc:
            await tools.execute("quota", {}, lambda a: 0)
        with pytest.raises(nemo_flow.GuardrailRejected):
            await tools.execute("echo", {"text": "HELLO"}, lambda a: a)
    assert (exc.value.type_name, exc.value.message) == ("QuotaExceeded", "no quota left")
    assert seen == ["calc", "quota"]  # user execution intercepts wrap the replayed calls
    ends = [e for e in events if e.kind == "scope" and e.category == "tool" and e.scope_category == "end"]
    assert [e.error for e in ends] == [
        {"type": "ZeroDivisionError", "message": "division by zero"},
        {"type": "RecordedError", "message": "QuotaExceeded: no quota left"},
    ]


async def test_async_streams_replay_their_recorded_chunks(tmp_path: Path) -> None:
    async def upstream(request: LLMRequest) -> Any:
        for i in range(3):
            yield {"i": i, "text": "abc"[i]}

    async def consume(func: Any) -> tuple[list[Any], Any]:
        got: list[Any] = []
        s = await llm.stream_execute("m", LLMRequest({}, {"q": 1}), func, got.append, lambda: {"n": len(got)})
        chunks = [c async for c in s]
        return chunks, await s

    path = tmp_path / "r.jsonl"
    with record(path):
        live = await consume(upstream)
    with replay(path):
        replayed = await consume(lambda r: pytest.fail("ran for real"))
    assert replayed == live == ([{"i": i, "text": "abc"[i]} for i in range(3)], {"n": 3})

    bare = tmp_path / "bare.jsonl"
    with record(bare, stream_chunks=False):
        await consume(upstream)
    with replay(bare), pytest.raises(nemo_flow.MiddlewareError, match="was recorded without its chunks"):
        await consume(upstream)


def test_llm_requests_match_on_the_sanitized_body_not_headers(tmp_path: Path) -> None:
    guardrails.register_llm_sanitize_request(
        "mask", 1, lambda r: LLMRequest(r.headers, {**r.content, "user": "[masked]"})
    )
    path = tmp_path / "r.jsonl"
    with record(path):
        req = LLMRequest({"authorization": "Bearer one"}, {"messages": [], "user": "alice@example.com"})
        assert llm.execute_sync("m", req, lambda r: {"ok": 1}) == {"ok": 1}
    assert "alice@example.com" not in path.read_text()
    with replay(path):
        # Another user and another key: the sanitized bodies are equal, so it matches.
        req = LLMRequest({"authorization": "Bearer two"}, {"messages": [], "user": "bob@example.com"})
        assert llm.execute_sync("m", req, lambda r: pytest.fail("ran for real")) == {"ok": 1}


def test_bad_arguments_leave_nothing_registered(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="path: expected a recorded ATOF file path, got int"):
        replay(123)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mode: expected 'strict' or 'lenient', got 'loose'"):
        replay(tmp_path / "x.jsonl", mode="loose")  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        replay(tmp_path / "missing.jsonl")
    with pytest.raises(TypeError, match="path: expected a file path, got NoneType"):
        record(None)  # type: ignore[arg-type]
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OSError):
        record(blocker / "run.jsonl")
    path = tmp_path / "r.jsonl"
    with record(path):
        tools.execute_sync("t", {}, lambda a: "recorded")
    first = replay(path)
    with pytest.raises(nemo_flow.RegistrationError):
        replay(path)
    assert tools.execute_sync("t", {}, lambda a: "live") == "recorded"  # the first one still works
    first.stop()
    first.stop()
    assert tools.execute_sync("t", {}, lambda a: "live") == "live"


def _run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env={**os.environ, **(env or {})}, cwd=cwd, timeout=120
    )


def test_replay_command_runs_a_program_offline(tmp_path: Path) -> None:
    script = tmp_path / "agent.py"
    script.write_text(
        textwrap.dedent(
            """
            import random, sys
            import nemo_flow
            def roll(args):
                print("LIVE CALL", file=sys.stderr)
                return random.randint(1, 10**9)
            print(nemo_flow.tools.execute_sync("roll", {"sides": 6}, roll))
            """
        )
    )
    run = tmp_path / "run.jsonl"
    rec = _run("-m", "nemo_flow", "record", str(run), "--", sys.executable, str(script))
    assert rec.returncode == 0 and "LIVE CALL" in rec.stderr, rec.stderr
    rep = _run("-m", "nemo_flow", "replay", str(run), "--", sys.executable, str(script))
    assert rep.returncode == 0, rep.stderr
    assert rep.stdout == rec.stdout and "LIVE CALL" not in rep.stderr
    script.write_text(script.read_text().replace('"sides": 6', '"sides": 20'))
    rep = _run("-m", "nemo_flow", "replay", str(run), "--", sys.executable, str(script))
    assert rep.returncode != 0 and "ReplayMismatch" in rep.stderr and "closest recorded: tool 'roll'" in rep.stderr
    rep = _run("-m", "nemo_flow", "replay", str(run), "--lenient", "--", sys.executable, str(script))
    assert rep.returncode == 0 and "LIVE CALL" in rep.stderr
    missing = _run("-m", "nemo_flow", "replay", str(run))
    assert missing.returncode != 0 and "give the command to run after `--`" in missing.stderr


def test_pytest_fixture_replays_in_a_users_test_suite(tmp_path: Path) -> None:
    run = tmp_path / "run.jsonl"
    with record(run):
        tools.execute_sync("lookup", {"id": 7}, lambda a: {"name": "seven"})
    (tmp_path / "test_user_agent.py").write_text(
        textwrap.dedent(
            f"""
            import nemo_flow

            def test_offline(nemo_flow_replay):
                r = nemo_flow_replay({str(run)!r})
                assert nemo_flow.tools.execute_sync("lookup", {{"id": 7}}, lambda a: 1 / 0) == {{"name": "seven"}}
                assert r.replayed == 1

            def test_replay_ended_with_the_previous_test():
                assert nemo_flow.tools.execute_sync("lookup", {{"id": 7}}, lambda a: "live") == "live"
            """
        )
    )
    # Only our plugin: the environment's other plugins cost tens of seconds to load.
    env = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    r = _run("-m", "pytest", "-q", "-p", "nemo_flow.pytest_plugin", "-p", "no:cacheprovider", env=env, cwd=tmp_path)
    assert "2 passed" in r.stdout, r.stdout + r.stderr


def test_importing_nemo_flow_without_the_variables_loads_no_replay() -> None:
    code = "import sys, nemo_flow; print('nemo_flow.replay' in sys.modules, nemo_flow._replay_env.ACTIVE)"
    r = _run("-c", code, env={"NEMO_FLOW_REPLAY": "", "NEMO_FLOW_RECORD": ""})
    assert r.stdout.strip() == "False None", r.stderr
