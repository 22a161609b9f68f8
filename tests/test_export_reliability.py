"""Exporters never block and never lose silently: a dead or slow backend does not hold the
caller, flush and shutdown report failure, drops are counted, pending data is flushed at
interpreter exit."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from otlp_receivers import OtlpHttpReceiver, Reply, blackhole_url, otel_subscriber, refused_url, wait_for

from nemo_flow import scope, tools

_sub = otel_subscriber


def test_blackhole_backend_never_holds_the_caller() -> None:
    # Every export waits on a backend that never answers, and the queue is tiny: if the
    # subscriber path waited on I/O or on queue space, this loop would not finish.
    with blackhole_url() as url:
        sub = _sub(url, max_queue_size=16, max_export_batch_size=4, timeout_millis=60_000)
        sub.register("otlp")
        for i in range(2000):
            tools.execute_sync("t", {"i": i}, lambda a: a)
        assert sub.emitted_events == 4000
        assert sub.dropped_events > 0
        # Flush reports failure within its own timeout, not the 60 s export timeout.
        assert sub.force_flush(timeout_millis=200) is False
        assert sub.shutdown(timeout_millis=200) is False
        sub.deregister("otlp")


def test_refused_backend_flush_reports_failure() -> None:
    # Batches of one span: the failed exports happen before the flush is asked for, and the
    # flush still reports them.
    sub = _sub(refused_url(), timeout_millis=500, max_export_batch_size=1)
    sub.register("otlp")
    for _ in range(3):
        tools.execute_sync("t", {}, lambda a: 1)
    assert sub.force_flush(timeout_millis=10_000) is False
    assert "127.0.0.1" in (sub.last_error or "")
    assert sub.failed_events == 6
    # Nothing is left to send, but six events never arrived: success means delivered.
    assert sub.shutdown() is False
    assert sub.force_flush() is False
    sub.deregister("otlp")


def test_burst_accounting_with_a_slow_backend(receiver: OtlpHttpReceiver) -> None:
    receiver.default = Reply(delay=0.05)
    sub = _sub(receiver.url, max_queue_size=64, max_export_batch_size=16)
    sub.register("otlp")
    for i in range(3000):
        tools.execute_sync("t", {"i": i}, lambda a: a)
    # Everything that was queued is delivered, but drops mean not everything was.
    assert sub.shutdown(timeout_millis=60_000) is False
    sub.deregister("otlp")
    emitted, dropped, exported = sub.emitted_events, sub.dropped_events, sub.exported_events
    assert emitted == 6000
    assert dropped > 0
    assert sub.failed_events == 0
    assert exported + dropped == emitted
    # Every event that was not dropped reached the receiver inside a span.
    spans = receiver.spans()
    complete = sum(
        1 for s in spans if "nemo_flow.end.data_json" in s.attributes and "nemo_flow.start.data_json" in s.attributes
    )
    assert 2 * complete + (len(spans) - complete) == exported


def test_recovery_after_an_outage(receiver: OtlpHttpReceiver) -> None:
    receiver.default = Reply(503)
    sub = _sub(receiver.url, timeout_millis=300)
    sub.register("otlp")
    scope.event("during-outage")
    assert sub.force_flush(timeout_millis=2000) is False
    receiver.default = Reply(200)
    scope.event("after-recovery")
    # The backend is back and the new event arrives, but the outage's event was lost for good
    # (the "spool" overflow policy keeps such events; see test_export_hardening.py).
    assert sub.force_flush() is False
    assert [s.name for s in receiver.spans()] == ["mark:after-recovery"]
    assert (sub.failed_events, sub.exported_events) == (1, 1)
    sub.shutdown()
    sub.deregister("otlp")


def test_lifecycle_calls_are_idempotent(receiver: OtlpHttpReceiver) -> None:
    sub = _sub(receiver.url)
    sub.register("otlp")
    scope.event("m")
    assert sub.shutdown() is True
    assert sub.shutdown() is True
    assert sub.force_flush() is True
    scope.event("after")
    assert sub.deregister("otlp") is True
    assert sub.deregister("otlp") is False
    assert len(receiver.spans()) == 1
    assert sub.dropped_events == 1
    # An event dropped after shutdown makes every later report say so.
    assert sub.force_flush() is False
    assert sub.shutdown() is False


@pytest.mark.parametrize("explicit_shutdown", [True, False])
def test_pending_spans_are_flushed_at_interpreter_exit(receiver: OtlpHttpReceiver, explicit_shutdown: bool) -> None:
    script = textwrap.dedent(
        f"""
        import nemo_flow
        c = nemo_flow.OpenTelemetryConfig()
        c.endpoint = {receiver.url!r}
        sub = nemo_flow.OpenTelemetrySubscriber(c)  # default 5 s schedule: nothing is sent before exit
        sub.register("otlp")
        for i in range(500):
            nemo_flow.tools.execute_sync("t", {{"i": i}}, lambda a: a)
        if {explicit_shutdown}:
            assert sub.shutdown()
        """
    )
    done = subprocess.run([sys.executable, "-c", script], timeout=60, cwd=Path(__file__).parent)
    assert done.returncode == 0
    assert wait_for(lambda: len(receiver.spans()) == 500, timeout=5)
