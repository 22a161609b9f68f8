"""OpenTelemetry and OpenInference subscribers against a loopback OTLP/HTTP receiver (and a
gRPC one): span tree, conventions, errors, configuration and the standard environment."""

from __future__ import annotations

import json
from typing import Any

import pytest
from otlp_receivers import OtlpGrpcReceiver, OtlpHttpReceiver, Reply, Span, otel_subscriber

from nemo_flow import (
    LLMRequest,
    OpenInferenceConfig,
    OpenInferenceSubscriber,
    OpenTelemetryConfig,
    OpenTelemetrySubscriber,
    ScopeType,
    llm,
    scope,
    tools,
)

SPAN_KIND_INTERNAL, SPAN_KIND_CLIENT = 1, 3
STATUS_ERROR = 2


_otel = otel_subscriber


def _oi(endpoint: str) -> OpenInferenceSubscriber:
    c = OpenInferenceConfig()
    c.endpoint = endpoint
    return OpenInferenceSubscriber(c)


def _response() -> dict[str, Any]:
    return {
        "id": "resp-1",
        "model": "gpt-x-2026",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": "let me search",
                    "tool_calls": [
                        {"id": "call_1", "type": "function", "function": {"name": "search", "arguments": '{"q": "x"}'}}
                    ],
                },
            }
        ],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
    }


def _workload() -> None:
    def broken(args: Any) -> Any:
        raise KeyError("missing")

    with scope.scope("planner", ScopeType.Agent, input={"goal": "find x"}):
        request = LLMRequest(
            {"x-h": "1"},
            {
                "model": "gpt-x",
                "temperature": 0.5,
                "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "find x"}],
            },
        )
        llm.execute_sync("openai", request, lambda r: _response(), model_name="gpt-x")
        tools.execute_sync("search", {"q": "x"}, lambda a: {"content": "found x"})
        scope.event("checkpoint", data={"n": 1})
        with pytest.raises(KeyError):
            tools.execute_sync("fetch", {"u": 1}, broken)


def _by_name(spans: list[Span]) -> dict[str, Span]:
    return {s.name: s for s in spans}


def _run(sub: Any, receiver: OtlpHttpReceiver) -> list[Span]:
    sub.register("otlp")
    try:
        _workload()
        assert sub.force_flush() is True
    finally:
        sub.deregister("otlp")
        sub.shutdown()
    return receiver.spans()


def test_opentelemetry_spans_nest_and_carry_genai_conventions(receiver: OtlpHttpReceiver) -> None:
    spans = _by_name(_run(_otel(receiver.url), receiver))
    assert set(spans) == {"invoke_agent planner", "chat gpt-x", "execute_tool search", "execute_tool fetch"}
    agent, chat, search, fetch = (
        spans["invoke_agent planner"],
        spans["chat gpt-x"],
        spans["execute_tool search"],
        spans["execute_tool fetch"],
    )
    # One trace; children point at the agent span; the agent is a root.
    assert len({s.trace_id for s in spans.values()}) == 1
    assert agent.parent_span_id == ""
    assert {chat.parent_span_id, search.parent_span_id, fetch.parent_span_id} == {agent.span_id}
    assert (chat.kind, search.kind, agent.kind) == (SPAN_KIND_CLIENT, SPAN_KIND_INTERNAL, SPAN_KIND_INTERNAL)
    a = chat.attributes
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == "gpt-x"
    assert a["gen_ai.request.temperature"] == 0.5
    assert a["gen_ai.response.model"] == "gpt-x-2026"
    assert a["gen_ai.response.id"] == "resp-1"
    assert a["gen_ai.response.finish_reasons"] == ["tool_calls"]
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (11, 7)
    assert a["nemo_flow.model_name"] == "gpt-x"
    assert json.loads(a["nemo_flow.start.data_json"])["content"]["model"] == "gpt-x"
    assert json.loads(a["nemo_flow.end.data_json"])["id"] == "resp-1"
    s = search.attributes
    assert (s["gen_ai.operation.name"], s["gen_ai.tool.name"]) == ("execute_tool", "search")
    assert agent.attributes["gen_ai.agent.name"] == "planner"
    assert agent.attributes["nemo_flow.scope_type"] == "agent"
    assert agent.start < chat.start <= chat.end < search.start <= search.end <= agent.end
    # The mark is an event on the agent span.
    names = [n for n, _ in agent.events]
    assert names == ["checkpoint"]
    assert json.loads(agent.events[0][1]["nemo_flow.mark.data_json"]) == {"n": 1}
    # Failures: status ERROR, error.type, the exception recorded.
    assert fetch.status_code == STATUS_ERROR
    assert "missing" in fetch.status_message
    assert fetch.attributes["error.type"] == "KeyError"
    assert ("exception", {"exception.type": "KeyError", "exception.message": "'missing'"}) in fetch.events
    assert search.status_code == 0
    assert chat.scope == "nemo-flow-otel"


def test_openinference_spans_carry_openinference_conventions(receiver: OtlpHttpReceiver) -> None:
    spans = _by_name(_run(_oi(receiver.url), receiver))
    assert set(spans) == {"planner", "openai", "search", "fetch"}
    kinds = {n: s.attributes["openinference.span.kind"] for n, s in spans.items()}
    assert kinds == {"planner": "AGENT", "openai": "LLM", "search": "TOOL", "fetch": "TOOL"}
    a = spans["openai"].attributes
    assert a["input.value"] == "be brief\n\nfind x"
    assert a["input.mime_type"] == "text/plain"
    assert a["output.value"] == "let me search"
    assert (a["llm.token_count.prompt"], a["llm.token_count.completion"], a["llm.token_count.total"]) == (11, 7, 18)
    assert a["llm.model_name"] == "gpt-x"
    assert a["llm.input_messages.0.message.role"] == "system"
    assert a["llm.input_messages.1.message.content"] == "find x"
    assert a["llm.output_messages.0.message.role"] == "assistant"
    assert a["llm.output_messages.0.message.tool_calls.0.tool_call.function.name"] == "search"
    assert json.loads(a["llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments"]) == {"q": "x"}
    assert a["llm.output_messages.0.message.tool_calls.0.tool_call.id"] == "call_1"
    assert json.loads(a["llm.invocation_parameters"]) == {"model": "gpt-x", "temperature": 0.5}
    t = spans["search"].attributes
    assert t["tool.name"] == "search"
    assert json.loads(t["input.value"]) == {"q": "x"}
    assert t["output.value"] == "found x"
    assert spans["planner"].attributes["agent.name"] == "planner"
    assert spans["fetch"].status_code == STATUS_ERROR
    assert {s.parent_span_id for n, s in spans.items() if n != "planner"} == {spans["planner"].span_id}
    assert spans["openai"].scope == "nemo-flow-openinference"


def test_service_identity_resource_attributes_and_headers(receiver: OtlpHttpReceiver) -> None:
    c = OpenTelemetryConfig()
    c.endpoint = receiver.url
    c.service_name = "my-agent"
    c.service_namespace = "team"
    c.service_version = "2.0"
    c.instrumentation_scope = "custom-scope"
    c.set_header("authorization", "Bearer t0k")
    c.set_resource_attribute("deployment.environment", "test")
    assert c.headers == {"authorization": "Bearer t0k"}
    assert c.resource_attributes == {"deployment.environment": "test"}
    sub = OpenTelemetrySubscriber(c)
    sub.register("otlp")
    scope.event("orphan-mark")
    assert sub.force_flush() is True
    sub.shutdown()
    (path, headers, _, _), *_ = receiver.bodies()
    assert path == "/v1/traces"
    assert headers["authorization"] == "Bearer t0k"
    assert headers["content-type"] == "application/x-protobuf"
    (span,) = receiver.spans()
    assert span.name == "mark:orphan-mark"
    assert span.attributes["nemo_flow.mark.orphan"] is True
    assert span.scope == "custom-scope"
    r = span.resource
    assert (r["service.name"], r["service.namespace"], r["service.version"]) == ("my-agent", "team", "2.0")
    assert r["deployment.environment"] == "test"


def test_standard_environment_variables(receiver: OtlpHttpReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.base_url)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "team=obs,region=eu%2Dwest")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=k1")
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "100")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "garbage")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "250")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1500")
    c = OpenTelemetryConfig()
    assert (c.service_name, c.max_queue_size, c.max_export_batch_size) == ("from-env", 100, 100)
    assert (c.schedule_delay_millis, c.timeout_millis) == (250, 1500)
    sub = OpenTelemetrySubscriber(c)
    assert sub.endpoint == receiver.url
    sub.register("otlp")
    scope.event("m")
    assert sub.force_flush() is True
    sub.shutdown()
    (span,) = receiver.spans()
    assert span.resource["service.name"] == "from-env"
    assert (span.resource["team"], span.resource["region"]) == ("obs", "eu-west")
    assert receiver.bodies()[0][1]["x-api-key"] == "k1"


def test_sdk_disabled_exports_nothing(receiver: OtlpHttpReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    c = OpenTelemetryConfig()
    c.endpoint = receiver.url
    assert c.disabled is True
    sub = OpenTelemetrySubscriber(c)
    sub.register("otlp")
    scope.event("m")
    assert sub.force_flush() is True
    assert sub.emitted_events == 0
    sub.shutdown()
    assert receiver.bodies() == []


def test_scheduled_export_without_flush(receiver: OtlpHttpReceiver) -> None:
    from otlp_receivers import wait_for

    sub = _otel(receiver.url, schedule_delay_millis=50)
    sub.register("otlp")
    scope.event("m")
    assert wait_for(lambda: len(receiver.spans()) == 1)
    sub.shutdown()


def test_retry_policy(receiver: OtlpHttpReceiver) -> None:
    receiver.script = [Reply(503), Reply(200)]
    sub = _otel(receiver.url)
    sub.register("otlp")
    scope.event("m")
    assert sub.force_flush() is True
    assert [status for *_, status in receiver.bodies()] == [503, 200]
    assert len(receiver.spans()) == 1
    receiver.script = [Reply(400)]
    scope.event("m2")
    assert sub.force_flush() is False
    assert "HTTP 400" in (sub.last_error or "")
    assert [status for *_, status in receiver.bodies()] == [503, 200, 400]
    assert sub.failed_events == 1
    sub.shutdown()


def test_open_spans_are_closed_at_shutdown(receiver: OtlpHttpReceiver) -> None:
    sub = _otel(receiver.url)
    sub.register("otlp")
    handle = scope.push("left-open", ScopeType.Function)
    assert sub.shutdown() is True
    scope.pop(handle)
    (span,) = receiver.spans()
    assert span.name == "left-open"
    assert span.attributes["nemo_flow.incomplete"] is True
    assert sub.dropped_events == 1  # the end event came after shutdown


def test_bad_configuration_is_refused() -> None:
    c = OpenTelemetryConfig()
    with pytest.raises(ValueError, match="transport"):
        c.transport = "carrier-pigeon"
    with pytest.raises(ValueError, match="max_queue_size"):
        c.max_queue_size = 0
    with pytest.raises(ValueError, match="endpoint"):
        c.endpoint = "not a url"
    c.endpoint = "http://127.0.0.1:9/v1/traces"
    c.max_queue_size = 4
    c.max_export_batch_size = 5
    with pytest.raises(ValueError, match="max_export_batch_size"):
        OpenTelemetrySubscriber(c)


def test_grpc_transport() -> None:
    grpc_receiver = OtlpGrpcReceiver()
    try:
        c = OpenInferenceConfig()
        c.transport = "grpc"
        c.endpoint = grpc_receiver.url
        c.set_header("x-tenant", "t1")
        sub = OpenInferenceSubscriber(c)
        sub.register("otlp")
        _workload()
        assert sub.force_flush() is True
        sub.shutdown()
        spans = _by_name(grpc_receiver.spans())
        assert set(spans) == {"planner", "openai", "search", "fetch"}
        assert spans["openai"].parent_span_id == spans["planner"].span_id
        assert spans["openai"].attributes["llm.token_count.total"] == 18
        assert grpc_receiver.requests[0][0]["x-tenant"] == "t1"
    finally:
        grpc_receiver.stop()


def test_tool_call_ids_and_streaming_attributes(receiver: OtlpHttpReceiver) -> None:
    import asyncio

    sub = _otel(receiver.url)
    sub.register("otlp")

    async def chunks(request: Any) -> Any:
        for c in ["a", "b"]:
            yield {"delta": c}

    async def stream() -> None:
        got: list[str] = []
        s = await llm.stream_execute(
            "anthropic",
            LLMRequest({}, {"model": "claude-x", "messages": [{"role": "user", "content": "hi"}]}),
            chunks,
            lambda c: got.append(c["delta"]),
            lambda: {"content": "".join(got), "usage": {"input_tokens": 4, "output_tokens": 2}},
        )
        async for _ in s:
            pass

    try:
        handle = tools.call("search", {"q": 1}, tool_call_id="call_9")
        tools.call_end(handle, {"ok": True})
        asyncio.run(stream())
        assert sub.force_flush() is True
    finally:
        sub.deregister("otlp")
        sub.shutdown()
    spans = _by_name(receiver.spans())
    tool = spans["execute_tool search"].attributes
    assert (tool["gen_ai.tool.call.id"], tool["nemo_flow.tool_call_id"]) == ("call_9", "call_9")
    chat = spans["chat claude-x"]
    assert chat.attributes["gen_ai.provider.name"] == "anthropic"
    assert chat.attributes["gen_ai.request.stream"] is True
    assert (chat.attributes["gen_ai.usage.input_tokens"], chat.attributes["gen_ai.usage.output_tokens"]) == (4, 2)
    # Chunk marks are span events on the LLM span, not spans of their own.
    assert len(spans) == 2
    assert [name for name, _ in chat.events] == ["llm.chunk", "llm.chunk"]


def test_huge_attribute_values_are_capped_with_a_marker(receiver: OtlpHttpReceiver) -> None:
    sub = _otel(receiver.url)
    sub.register("otlp")
    big = "x" * 300_000
    seen: list[int] = []
    try:
        tools.execute_sync("t", {"blob": big}, lambda a: seen.append(len(a["blob"])))
        assert sub.force_flush() is True
    finally:
        sub.deregister("otlp")
        sub.shutdown()
    assert seen == [300_000]  # the tool got the real value
    (span,) = receiver.spans()
    value = span.attributes["nemo_flow.start.data_json"]
    assert value.endswith("…[truncated]")
    assert len(value) <= 64 * 1024 + len("…[truncated]")


def test_grpc_dead_backend_reports_failure() -> None:
    from otlp_receivers import refused_url

    c = OpenTelemetryConfig()
    c.transport = "grpc"
    c.endpoint = refused_url().removesuffix("/v1/traces")
    c.timeout_millis = 300
    sub = OpenTelemetrySubscriber(c)
    sub.register("otlp")
    try:
        scope.event("m")
        assert sub.force_flush(timeout_millis=5000) is False
        assert "gRPC" in (sub.last_error or "")
        assert sub.failed_events == 1
    finally:
        sub.deregister("otlp")
        sub.shutdown()
