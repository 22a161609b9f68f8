"""A sanitizer's promise covers error text: a value a request sanitizer removed, and well-known
secret shapes, reach no event, ATOF line, OTLP span or log record through an error message,
a rejection reason or a failing sanitizer's report, while the caller still gets its own
exception object unchanged."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from otlp_receivers import OtlpHttpReceiver

from nemo_flow import (
    AtofExporter,
    AtofExporterConfig,
    GuardrailRejected,
    LLMRequest,
    OpenTelemetryConfig,
    OpenTelemetrySubscriber,
    guardrails,
    llm,
    tools,
)

# No default secret shape matches it: only the sanitizer's redaction can scrub it.
SECRET = "Zq7hunter2plainvalue"


@pytest.fixture(autouse=True)
def _default_scrubbing() -> Iterator[None]:
    yield
    guardrails.configure_scrubbing()


def _redact_key(name: str, args: Any) -> Any:
    return {**args, "key": "[redacted]"}


def _failing_search(args: Any) -> Any:
    raise ConnectionError(f"GET https://api.example/v1/search failed for credential {args['key']}")


def _end_error(events: list[Any]) -> dict[str, str]:
    [end] = [e for e in events if e.scope_category == "end" and e.category == "tool"]
    assert end.error is not None
    return dict(end.error)


def test_sanitized_value_reaches_no_event_file_span_or_log(
    tmp_path: Path, receiver: OtlpHttpReceiver, events: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    guardrails.register_tool_sanitize_request("redact", 1, _redact_key)
    otel_cfg = OpenTelemetryConfig()
    otel_cfg.endpoint = receiver.url
    otel = OpenTelemetrySubscriber(otel_cfg)
    atof = AtofExporter(AtofExporterConfig(output_directory=str(tmp_path), filename="events.jsonl"))
    otel.register("otel")
    atof.register("atof")
    try:
        with pytest.raises(ConnectionError) as raised:
            tools.execute_sync("search", {"q": "weather", "key": SECRET}, _failing_search)
        assert otel.force_flush() and atof.force_flush()
    finally:
        otel.deregister("otel")
        atof.deregister("atof")
        otel.shutdown()
        atof.shutdown()

    # The caller's exception is its own, message untouched.
    assert type(raised.value) is ConnectionError
    assert SECRET in str(raised.value)
    error = _end_error(events)
    assert error == {
        "type": "ConnectionError",
        "message": "GET https://api.example/v1/search failed for credential [REDACTED]",
    }
    lines = Path(atof.path).read_text()
    assert "[REDACTED]" in lines and SECRET not in lines
    bodies = [body for _, _, body, _ in receiver.bodies()]
    assert bodies and all(SECRET.encode() not in body for body in bodies)
    assert any(b"[REDACTED]" in body for body in bodies)
    assert SECRET not in caplog.text


def test_sanitized_header_is_scrubbed_from_an_llm_error(events: list[Any]) -> None:
    guardrails.register_llm_sanitize_request(
        "redact", 1, lambda req: LLMRequest({**req.headers, "x-api-credential": "[redacted]"}, req.content)
    )

    def model(req: LLMRequest) -> Any:
        raise PermissionError(f"401 for credential {req.headers['x-api-credential']}")

    request = LLMRequest({"x-api-credential": SECRET}, {"messages": []})
    with pytest.raises(PermissionError, match=SECRET):
        llm.execute_sync("openai", request, model)
    [end] = [e for e in events if e.scope_category == "end" and e.category == "llm"]
    assert end.error == {"type": "PermissionError", "message": "401 for credential [REDACTED]"}


@pytest.mark.parametrize(
    ("message", "scrubbed"),
    [
        ("GET /v1?api_key=abc123def&page=2 failed", "GET /v1?api_key=[REDACTED]&page=2 failed"),
        ("GET /v1?key=abc123def failed", "GET /v1?key=[REDACTED] failed"),
        ("Authorization: Bearer abcdefgh12345678 refused", "Authorization: Bearer [REDACTED] refused"),
        ("bad key sk-ant-api03-ABCDEFGHIJKLMNOPQRST", "bad key [REDACTED]"),
        ("aws AKIAIOSFODNN7EXAMPLE denied", "aws [REDACTED] denied"),
        ("jwt eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.c2lnbmF0dXJl expired", "jwt [REDACTED] expired"),
        ("login password=hunter22 failed", "login password=[REDACTED] failed"),
        ("monkey=banana is fine", "monkey=banana is fine"),
    ],
)
def test_default_secret_shapes_are_scrubbed_without_a_sanitizer(events: list[Any], message: str, scrubbed: str) -> None:
    def tool(args: Any) -> Any:
        raise RuntimeError(message)

    with pytest.raises(RuntimeError) as raised:
        tools.execute_sync("t", {}, tool)
    assert str(raised.value) == message
    assert _end_error(events)["message"] == scrubbed


def test_patterns_are_overridable_and_scrubbing_can_be_turned_off(events: list[Any]) -> None:
    assert guardrails.scrubbing_patterns() == list(guardrails.DEFAULT_SCRUBBING_PATTERNS)
    guardrails.register_tool_sanitize_request("redact", 1, _redact_key)
    guardrails.configure_scrubbing(patterns=[r"internal-\d+"])
    assert guardrails.scrubbing_patterns() == [r"internal-\d+"]

    def tool(args: Any) -> Any:
        raise RuntimeError(f"{args['key']} internal-42 api_key=visible")

    with pytest.raises(RuntimeError):
        tools.execute_sync("t", {"key": SECRET}, tool)
    assert _end_error(events)["message"] == "[REDACTED] [REDACTED] api_key=visible"

    events.clear()
    guardrails.configure_scrubbing(patterns=[], sanitized_values=False)
    with pytest.raises(RuntimeError):
        tools.execute_sync("t", {"key": SECRET}, tool)
    assert _end_error(events)["message"] == f"{SECRET} internal-42 api_key=visible"


def test_bad_scrubbing_configuration_is_refused_and_changes_nothing() -> None:
    with pytest.raises(ValueError, match=r'patterns: pattern 1 \("\("\) is not a valid regular expression'):
        guardrails.configure_scrubbing(patterns=["ok", "("])
    with pytest.raises(
        TypeError, match="patterns: expected a sequence of regular expressions or None, got a single str"
    ):
        guardrails.configure_scrubbing(patterns="sk-.*")
    with pytest.raises(TypeError, match="patterns: expected a sequence of str or None, got int"):
        guardrails.configure_scrubbing(patterns=3)  # type: ignore[arg-type]
    assert guardrails.scrubbing_patterns() == list(guardrails.DEFAULT_SCRUBBING_PATTERNS)


def test_failing_sanitizer_log_does_not_echo_the_payload(events: list[Any], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    def broken(name: str, args: Any) -> Any:
        raise KeyError(f"cannot sanitize {args}")

    def tool(args: Any) -> Any:
        raise RuntimeError(f"upstream said {args['key']}")

    guardrails.register_tool_sanitize_request("broken", 1, broken)
    with pytest.raises(RuntimeError):
        tools.execute_sync("t", {"key": SECRET}, tool)
    assert "tool sanitize-request guardrail 'broken' failed: KeyError" in caplog.text
    assert SECRET not in caplog.text
    # Fail closed: nothing of the payload is recorded, not even through the error message.
    assert all(SECRET not in e.to_json() for e in events)
    assert _end_error(events)["message"] == "upstream said [REDACTED]"


def test_rejection_reason_is_scrubbed_in_events_but_not_for_the_caller(events: list[Any]) -> None:
    guardrails.register_tool_conditional_execution("deny", 1, lambda name, args: "refused token=abcd1234efgh")
    with pytest.raises(GuardrailRejected, match="token=abcd1234efgh"):
        tools.execute_sync("t", {}, lambda args: None)
    recorded = "".join(e.to_json() for e in events)
    assert "abcd1234efgh" not in recorded
    assert "token=[REDACTED]" in recorded
