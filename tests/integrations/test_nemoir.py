"""NemoIR integration: a real nemoir-runtime 0.11 workflow with fake model adapters.

CI installs the runtime with ``pip install --no-deps nemoir-runtime==0.11.1`` (scripts/dev-env.sh).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

nir = pytest.importorskip("nemoir_runtime")

import nemo_flow  # noqa: E402
from nemo_flow.integrations import nemoir as nnir  # noqa: E402

E = nir.ExprSpec
R = nir.RefSpec


@dataclass
class Written:
    written: bool


@nir.tool(capability="fs.read", description="Read a file in the workspace")
async def read_file(path: Path, ctx: Any) -> str:
    return (Path(ctx.inputs["workspace"]) / path).read_text()


@nir.tool(capability="os.shell", description="Run a shell command")
async def run_shell(command: str, ctx: Any) -> str:
    if command == "explode":
        raise RuntimeError("boom")
    return f"ran {command}"


@nir.tool(capability="fs.write", description="Write a file")
async def write_file(path: Path, content: str, ctx: Any) -> Written:
    Path(path).write_text(content)
    return Written(written=True)


@nir.tool(capability="user.confirm", description="Ask the user")
async def confirm(message: str, ctx: Any) -> bool:
    return True


def manifest() -> Any:
    deny_outside = nir.PolicySpec(
        id="read-in-workspace",
        kind="deny",
        trigger=nir.TriggerSpec(capability="fs.read", bind={"path": "path"}),
        condition=E(
            kind="not",
            expr=E(
                kind="method_call",
                receiver=E(kind="ref", ref=R(kind="input", name="workspace")),
                method="contains",
                args=(E(kind="ref", ref=R(kind="bound", name="path")),),
            ),
        ),
    )
    confirm_write = nir.PolicySpec(
        id="confirm-write",
        kind="before",
        trigger=nir.TriggerSpec(capability="fs.write", bind={"path": "path"}),
        requires=(nir.RequiredCapabilitySpec(capability="user.confirm", args={}),),
    )
    plan = nir.StageSpec(
        id="Plan",
        prompt="Summarize the notes.",
        reads=(nir.ReadSpec(ref=R(kind="input", name="task"), optional=False),),
        writes=(nir.WriteSpec(name="summary", type="string", optional=False),),
        requires=frozenset({"fs.read", "os.shell"}),
        transitions=(nir.TransitionSpec(to="Save", priority=0, reason="always", guard=nir.GuardSpec(kind="always")),),
    )
    save = nir.StageSpec(
        id="Save",
        prompt="",
        reads=(nir.ReadSpec(ref=R(kind="node_output", node="Plan", field="summary"), optional=False),),
        writes=(nir.WriteSpec(name="written", type="bool", optional=False),),
        requires=frozenset({"fs.write"}),
        transitions=(),
        execution=nir.StageExecutionSpec(
            kind="tool",
            capability="fs.write",
            args={
                "path": E(kind="ref", ref=R(kind="input", name="target")),
                "content": E(kind="ref", ref=R(kind="node_output", node="Plan", field="summary")),
            },
        ),
    )
    return nir.WorkflowManifest(
        workflow_id="demo",
        entry_stage_id="Plan",
        exit_stage_ids=frozenset({"Save"}),
        inputs=(
            nir.InputSpec(name="task", type="string"),
            nir.InputSpec(name="workspace", type="path"),
            nir.InputSpec(name="target", type="path"),
        ),
        capabilities=frozenset({"fs.read", "os.shell", "fs.write", "user.confirm"}),
        policies=(deny_outside, confirm_write),
        stages=(plan, save),
    )


def registry() -> Any:
    return nir.ToolRegistry([read_file, run_shell, write_file, confirm])


def call(name: str, n: int, **args: Any) -> Any:
    return nir.ModelResponse(tool_calls=(nir.ModelToolCall(id=f"c{n}", name=name, arguments=args),))


def script() -> list[Any]:
    return [
        call("read_file", 1, path="notes.txt"),
        call("read_file", 2, path="a/../../etc/passwd"),
        call("run_shell", 3, command="curl http://example.invalid"),
        call("run_shell", 4, command="explode"),
        nir.ModelResponse(content=json.dumps({"summary": "all done"}), reasoning="secret chain of thought"),
    ]


class FakeAdapter:
    reasoning = "none"
    name = "fake/model"

    def __init__(self, responses: list[Any]) -> None:
        self.responses = list(responses)
        self.requests: list[Any] = []

    async def complete(self, request: Any) -> Any:
        self.requests.append(request)
        return self.responses.pop(0)


class FakeStreamingAdapter(FakeAdapter):
    async def stream(self, request: Any) -> AsyncIterator[Any]:
        self.requests.append(request)
        response = self.responses.pop(0)
        if response.reasoning:
            yield nir.ModelStreamChunk(kind="delta", channel="reasoning", text=response.reasoning)
        for word in (response.content or "").split(" "):
            yield nir.ModelStreamChunk(kind="delta", channel="assistant", text=word)
        yield nir.ModelStreamChunk(kind="completed", response=response)


def no_network(name: str, args: Any) -> str | None:
    if isinstance(args, dict) and "curl" in str(args.get("command", "")):
        return "network commands are not allowed"
    return None


@pytest.fixture
def workspace(tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "notes.txt").write_text("hello from notes")
    return {"task": "summarize", "workspace": str(tmp_path), "target": str(tmp_path / "out.txt")}


def tool_results(adapter: FakeAdapter) -> list[str]:
    last = adapter.requests[-1].messages
    return [m["content"] for m in last if m.get("role") == "tool"]


def starts(events: list[Any]) -> dict[str, Any]:
    return {e.uuid: e for e in events if e.kind == "scope" and e.scope_category == "start"}


def of(events: list[Any], category: str) -> list[Any]:
    return [e for e in events if e.kind == "scope" and e.category == category and e.scope_category == "start"]


@pytest.mark.parametrize("streaming", [False, True])
async def test_run_is_agent_scope_with_stage_children(
    events: list[Any], workspace: dict[str, Any], streaming: bool
) -> None:
    nemo_flow.guardrails.register_tool_conditional_execution("no-network", 10, no_network)
    adapter = (FakeStreamingAdapter if streaming else FakeAdapter)(script())
    runtime = nnir.instrument(manifest=manifest(), tools=registry(), model=adapter)
    if streaming:
        seen = [e async for e in runtime.stream(workspace)]
        assert seen[-1].kind == "run_completed"
        output = seen[-1].result.output
    else:
        output = (await runtime.run(workspace)).output
    assert output == {"written": True}
    assert Path(workspace["target"]).read_text() == "all done"

    by_uuid = starts(events)
    (agent,) = of(events, "agent")
    assert agent.name == "demo"
    stages = {e.name: e for e in of(events, "function")}
    assert set(stages) == {"Plan", "Save"} and all(s.parent_uuid == agent.uuid for s in stages.values())
    llms = of(events, "llm")
    assert len(llms) == 5 and all(by_uuid[e.parent_uuid].name == "Plan" for e in llms)
    assert ("streaming" in [a.lower() for a in llms[0].attributes]) is streaming
    tool_parents = [(e.name, by_uuid[e.parent_uuid].name) for e in of(events, "tool")]
    assert tool_parents == [("read_file", "Plan"), ("run_shell", "Plan"), ("confirm", "Save"), ("write_file", "Save")]
    assert of(events, "tool")[0].data == {"path": "notes.txt"}

    # What the model received: the policy denial, the nemo_flow rejection and the tool error.
    results = tool_results(adapter)
    assert results[0] == "hello from notes"
    assert "Policy 'read-in-workspace' denied" in results[1]
    assert "guardrail rejected: network commands are not allowed" in results[2]
    assert json.loads(results[2])["retryable"] is True
    assert "failed: boom" in results[3]

    # NemoIR policy decisions as guardrail scope pairs plus a rejection mark.
    guards = [e for e in events if e.kind == "scope" and e.category == "guardrail" and e.name.startswith("nemoir.")]
    ends = [g for g in guards if g.scope_category == "end"]
    assert [g.data["allowed"] for g in ends] == [True, False, True]
    assert ends[2].data["required_capabilities"] == ["user.confirm"]
    denied = [e for e in events if e.kind == "mark" and e.name == "fs.read"]
    assert denied[0].data["rejected"] is True and "read-in-workspace" in denied[0].data["rejection_reason"]
    marks = [e.name for e in events if e.kind == "mark"]
    assert "nemoir.transition_selected" in marks and marks.count("nemoir.model_retry") == 3
    # Reasoning stays out of every event.
    assert all("secret chain of thought" not in json.dumps(e.to_dict()) for e in events)


async def test_callers_event_sink_still_gets_every_event(workspace: dict[str, Any]) -> None:
    kinds: list[str] = []

    async def sink(event: Any) -> None:
        kinds.append(event.kind)

    await nnir.instrument(manifest=manifest(), tools=registry(), model=FakeAdapter(script())).run(
        workspace, event_sink=sink
    )
    assert kinds[0] == "run_started" and kinds[-1] == "run_completed"
    assert kinds.count("stage_started") == 2 and kinds.count("policy_denied") == 1


async def test_reasoning_recorded_when_asked(events: list[Any], workspace: dict[str, Any]) -> None:
    runtime = nnir.instrument(
        manifest=manifest(), tools=registry(), model=FakeAdapter(script()[4:]), capture_reasoning=True
    )
    await runtime.run(workspace)
    (end,) = [e for e in events if e.kind == "scope" and e.category == "llm" and e.scope_category == "end"]
    assert end.data["choices"][0]["message"]["reasoning_content"] == "secret chain of thought"


async def test_llm_request_intercept_edit_reaches_adapter(workspace: dict[str, Any]) -> None:
    def note(name: str, request: Any, annotated: Any) -> Any:
        request.content["messages"].append({"role": "user", "content": "added by nemo_flow"})
        return request, annotated

    nemo_flow.intercepts.register_llm_request("note", 10, False, note)
    adapter = FakeAdapter(script()[4:])
    await nnir.instrument(manifest=manifest(), tools=registry(), model=adapter).run(workspace)
    assert adapter.requests[0].messages[-1] == {"role": "user", "content": "added by nemo_flow"}


async def test_tool_args_intercept_reaches_the_handler_with_its_types(
    workspace: dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / "other.txt").write_text("the other file")
    nemo_flow.intercepts.register_tool_request(
        "redirect", 10, False, lambda name, args: {**args, "path": "other.txt"} if name == "read_file" else args
    )
    adapter = FakeAdapter([call("read_file", 1, path="notes.txt"), *script()[4:]])
    await nnir.instrument(manifest=manifest(), tools=registry(), model=adapter).run(workspace)
    assert tool_results(adapter) == ["the other file"]


async def test_tool_gets_and_returns_real_python_objects(events: list[Any], workspace: dict[str, Any]) -> None:
    registry_ = nnir.ManagedToolRegistry(registry())
    ctx = nir.ToolContext(workflow_id="w", stage_id="s", inputs=workspace)
    result = await registry_.call("fs.write", {"path": Path(workspace["target"]), "content": "x"}, ctx)
    assert type(result) is Written and result.written is True
    (start,) = of(events, "tool")
    assert start.data == {"path": workspace["target"], "content": "x"}
    assert start.metadata["nemoir.capability"] == "fs.write"


async def test_tool_error_type_preserved(workspace: dict[str, Any]) -> None:
    registry_ = nnir.ManagedToolRegistry(registry())
    ctx = nir.ToolContext(workflow_id="w", stage_id="s", inputs=workspace)
    with pytest.raises(nir.ToolInvocationError, match="boom"):
        await registry_.call("os.shell", {"command": "explode"}, ctx)
    nemo_flow.guardrails.register_tool_conditional_execution("no-network", 10, no_network)
    with pytest.raises(nir.PolicyDeniedError, match="network commands"):
        await registry_.call("os.shell", {"command": "curl x"}, ctx)


async def test_bridge_failure_never_aborts_run(
    events: list[Any], workspace: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("event recording broke")

    monkeypatch.setattr(nnir.scope, "event", broken)
    seen: list[Any] = []

    async def downstream(event: Any) -> None:
        seen.append(event.kind)

    bridge = nnir.EventBridge(downstream)
    await bridge(nir.WorkflowEvent(kind="model_retry", run_id="r", sequence=1, timestamp=None, stage_id="s"))
    assert bridge.errors == 1 and seen == ["model_retry"]
    result = await nnir.instrument(manifest=manifest(), tools=registry(), model=FakeAdapter(script())).run(workspace)
    assert result.output == {"written": True}


async def test_concurrent_runs_are_isolated(events: list[Any], tmp_path: Path) -> None:
    def inputs(n: int) -> dict[str, Any]:
        ws = tmp_path / f"ws{n}"
        ws.mkdir()
        (ws / "notes.txt").write_text(f"notes {n}")
        return {"task": f"task {n}", "workspace": str(ws), "target": str(ws / "out.txt")}

    runtimes = [
        nnir.instrument(
            manifest=manifest(), tools=registry(), model=FakeAdapter(script()[:1] + script()[4:]), agent_name=f"run{n}"
        )
        for n in range(2)
    ]
    await asyncio.gather(*(r.run(inputs(n)) for n, r in enumerate(runtimes)))
    by_uuid = starts(events)

    def agent_of(event: Any) -> str:
        while event.category != "agent":
            event = by_uuid[event.parent_uuid]
        return str(event.name)

    for e in of(events, "tool") + of(events, "llm"):
        data = json.dumps(e.data)
        expected = agent_of(e)
        if "ws0" in data or "task 0" in data:
            assert expected == "run0"
        if "ws1" in data or "task 1" in data:
            assert expected == "run1"
    assert {agent_of(e) for e in of(events, "llm")} == {"run0", "run1"}


async def test_policy_evaluation_error_fails_run_and_closes_scopes(
    events: list[Any], workspace: dict[str, Any]
) -> None:
    bad = nir.PolicySpec(
        id="bad",
        kind="deny",
        trigger=nir.TriggerSpec(capability="fs.read", bind={"path": "nope"}),
        condition=E(kind="literal", value=True),
    )
    m = manifest()
    m = nir.WorkflowManifest(**{**m.__dict__, "policies": (bad,)})
    runtime = nnir.instrument(manifest=m, tools=registry(), model=FakeAdapter(script()))
    with pytest.raises(nir.PolicyEvaluationError):
        await runtime.run(workspace)
    opened = [e.uuid for e in events if e.kind == "scope" and e.scope_category == "start"]
    closed = [e.uuid for e in events if e.kind == "scope" and e.scope_category == "end"]
    assert sorted(opened) == sorted(closed)
    (agent_end,) = [e for e in events if e.kind == "scope" and e.category == "agent" and e.scope_category == "end"]
    assert agent_end.data["error"]["type"] == "PolicyEvaluationError"
    assert nemo_flow.scope.get_handle().name == "root"


async def test_stream_consumer_break_cancels_and_pops(events: list[Any], workspace: dict[str, Any]) -> None:
    runtime = nnir.instrument(manifest=manifest(), tools=registry(), model=FakeStreamingAdapter(script()))
    stream = runtime.stream(workspace)
    async for event in stream:
        if event.kind == "tool_call_started":
            break
    await stream.aclose()  # type: ignore[attr-defined]
    opened = [e.uuid for e in events if e.kind == "scope" and e.scope_category == "start"]
    closed = [e.uuid for e in events if e.kind == "scope" and e.scope_category == "end"]
    assert sorted(opened) == sorted(closed)


async def test_router_per_stage_models_are_each_managed(events: list[Any], workspace: dict[str, Any]) -> None:
    planner = FakeAdapter(script()[4:])
    planner.name = "planner/model"
    router = nir.ModelRouter(default=FakeAdapter([]), stages={"Plan": planner})
    wrapped = nnir.wrap_model(router)
    assert isinstance(wrapped.stages["Plan"], nnir.ManagedModelAdapter)
    await nnir.instrument(manifest=manifest(), tools=registry(), model=router).run(workspace)
    assert [e.name for e in of(events, "llm")] == ["planner/model"]


def test_streaming_only_when_the_inner_adapter_streams() -> None:
    plain = nnir.ManagedModelAdapter(FakeAdapter([]))
    streaming = nnir.ManagedModelAdapter(FakeStreamingAdapter([]))
    assert not nir.supports_streaming(plain)
    assert isinstance(streaming, nnir.ManagedStreamingModelAdapter) and nir.supports_streaming(streaming)
    assert plain.reasoning == "none" and streaming.model_name == "fake/model"


def test_bad_input_is_refused() -> None:
    with pytest.raises(TypeError, match="inner"):
        nnir.ManagedToolRegistry(object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="inner"):
        nnir.ManagedModelAdapter(object())
    with pytest.raises(ValueError, match="policy_events"):
        nnir.EventBridge(policy_events="loud")  # type: ignore[arg-type]
