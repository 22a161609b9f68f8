"""What exporters see is what the sanitize guardrails left: a secret redacted by a sanitizer
appears in no span, trajectory, file or log, while the real callables still receive it."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from otlp_receivers import OtlpHttpReceiver

from nemo_flow import (
    AtifExporter,
    AtofExporter,
    AtofExporterConfig,
    LLMRequest,
    OpenInferenceConfig,
    OpenInferenceSubscriber,
    OpenTelemetryConfig,
    OpenTelemetrySubscriber,
    ScopeType,
    guardrails,
    llm,
    scope,
    tools,
)

CANARY = "sk-CANARY-1234567890"


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, str):
        return value.replace(CANARY, "[REDACTED]")
    return value


def test_canary_secret_reaches_no_exporter(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    seen_by_callables: list[str] = []
    guardrails.register_tool_sanitize_request("scrub", 1, lambda name, args: _scrub(args))
    guardrails.register_tool_sanitize_response("scrub", 1, lambda name, result: _scrub(result))
    guardrails.register_llm_sanitize_request(
        "scrub", 1, lambda req: LLMRequest(_scrub(req.headers), _scrub(req.content))
    )
    guardrails.register_llm_sanitize_response("scrub", 1, lambda resp: _scrub(resp))

    receiver = OtlpHttpReceiver()
    otel_cfg, oi_cfg = OpenTelemetryConfig(), OpenInferenceConfig()
    otel_cfg.endpoint = oi_cfg.endpoint = receiver.url
    otel, oi = OpenTelemetrySubscriber(otel_cfg), OpenInferenceSubscriber(oi_cfg)
    atof = AtofExporter(AtofExporterConfig(output_directory=str(tmp_path), filename="events.jsonl"))
    atif = AtifExporter("s", "agent", "1")
    for name, exporter in [("otel", otel), ("oi", oi), ("atof", atof), ("atif", atif)]:
        exporter.register(name)
    try:

        def tool(args: Any) -> Any:
            seen_by_callables.append(args["api_key"])
            return {"echo": args["api_key"]}

        def model(req: LLMRequest) -> Any:
            seen_by_callables.append(req.headers["Authorization"])
            return {"choices": [{"message": {"role": "assistant", "content": f"key is {CANARY}"}}]}

        with scope.scope("agent", ScopeType.Agent):
            tools.execute_sync("search", {"query": "q", "api_key": CANARY}, tool)
            request = LLMRequest(
                {"Authorization": f"Bearer {CANARY}"},
                {"messages": [{"role": "user", "content": f"my key {CANARY}"}]},
            )
            llm.execute_sync("openai", request, model)
        assert otel.force_flush() and oi.force_flush() and atof.force_flush()
    finally:
        for name, exporter in [("otel", otel), ("oi", oi), ("atof", atof), ("atif", atif)]:
            exporter.deregister(name)
        otel.shutdown()
        oi.shutdown()
        atof.shutdown()
        receiver.stop()

    # The callables got the real secret.
    assert seen_by_callables == [CANARY, f"Bearer {CANARY}"]
    bodies = [body for _, _, body, _ in receiver.bodies()]
    assert len(bodies) == 2
    assert all(b"[REDACTED]" in body and CANARY.encode() not in body for body in bodies)
    trajectory = atif.export_json()
    assert "[REDACTED]" in trajectory and CANARY not in trajectory
    lines = Path(atof.path).read_text()
    assert "[REDACTED]" in lines and CANARY not in lines
    assert all(json.loads(line) for line in lines.splitlines())
    assert CANARY not in caplog.text
