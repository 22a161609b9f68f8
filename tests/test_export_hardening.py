"""Exporters under hostile conditions: fork, bursts, outages, configs that could only fail
later, and the footguns of registering one exporter twice or writing outside its directory.
Every test checks the accounting: emitted == exported + spooled + dropped + failed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from otlp_receivers import OtlpGrpcReceiver, OtlpHttpReceiver, Reply, blackhole_url, otel_subscriber, wait_for

import nemo_flow
from nemo_flow import (
    AtofExporter,
    AtofExporterConfig,
    OpenTelemetryConfig,
    OpenTelemetrySubscriber,
    RegistrationError,
    scope,
    tools,
)

HERE = Path(__file__).parent


_otel = otel_subscriber


def _accounted(sub: OpenTelemetrySubscriber) -> bool:
    return sub.emitted_events == sub.exported_events + sub.spooled_events + sub.dropped_events + sub.failed_events


def _run(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        timeout=120,
        cwd=HERE,
        capture_output=True,
        text=True,
    )


# -- lossless export ---------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["http_binary", "grpc"])
def test_a_tight_loop_burst_arrives_whole_with_default_settings(transport: str) -> None:
    receiver: OtlpHttpReceiver | OtlpGrpcReceiver = (
        OtlpHttpReceiver() if transport == "http_binary" else OtlpGrpcReceiver()
    )
    try:
        sub = _otel(receiver.url, transport=transport)
        sub.register("otlp")
        for i in range(50_000):  # 100,000 events
            tools.execute_sync("t", {"i": i}, lambda a: a)
        assert sub.force_flush(timeout_millis=120_000) is True
        assert (sub.emitted_events, sub.dropped_events, sub.failed_events) == (100_000, 0, 0)
        assert sub.exported_events == 100_000
        assert len(receiver.spans()) == 50_000
        sub.shutdown()
        sub.deregister("otlp")
    finally:
        receiver.stop()


def test_block_policy_waits_for_room_instead_of_dropping(receiver: OtlpHttpReceiver) -> None:
    receiver.default = Reply(delay=0.002)
    sub = _otel(
        receiver.url,
        max_queue_size=16,
        max_export_batch_size=8,
        max_concurrent_exports=1,
        overflow_policy="block",
        overflow_block_millis=30_000,
    )
    sub.register("otlp")
    for i in range(1000):
        tools.execute_sync("t", {"i": i}, lambda a: a)
    assert sub.shutdown(timeout_millis=60_000) is True
    assert (sub.emitted_events, sub.exported_events, sub.dropped_events) == (2000, 2000, 0)
    assert len(receiver.spans()) == 1000
    sub.deregister("otlp")


def test_spool_keeps_what_an_outage_would_lose_and_replays_it(receiver: OtlpHttpReceiver, tmp_path: Path) -> None:
    receiver.default = Reply(503)
    spool = tmp_path / "spool.otlp"
    sub = _otel(receiver.url, overflow_policy="spool", spool_path=str(spool), timeout_millis=200)
    sub.register("otlp")
    for i in range(10):
        scope.event("during-outage", data={"i": i})
    # Not delivered yet: the flush says so, and the events wait in the spool, not lost.
    assert sub.force_flush(timeout_millis=10_000) is False
    assert (sub.spooled_events, sub.failed_events, sub.dropped_events) == (10, 0, 0)
    assert sub.spool_path == spool
    assert spool.stat().st_size > 0
    assert "503" in (sub.last_error or "")
    assert _accounted(sub)

    receiver.default = Reply(200)
    scope.event("after-recovery")
    assert sub.force_flush(timeout_millis=10_000) is True
    names = sorted(s.name for s in receiver.spans())
    assert names == ["mark:after-recovery"] + ["mark:during-outage"] * 10
    assert (sub.exported_events, sub.spooled_events) == (11, 0)
    assert spool.stat().st_size == 0
    assert _accounted(sub)
    sub.shutdown()
    sub.deregister("otlp")


def test_a_full_spool_drops_and_counts(receiver: OtlpHttpReceiver, tmp_path: Path) -> None:
    receiver.default = Reply(503)
    sub = _otel(
        receiver.url,
        overflow_policy="spool",
        spool_path=str(tmp_path / "small.otlp"),
        spool_max_bytes=600,
        max_export_batch_size=1,
        timeout_millis=100,
    )
    sub.register("otlp")
    for i in range(20):
        scope.event("m", data={"i": i})
    assert sub.force_flush(timeout_millis=30_000) is False
    assert sub.spooled_events > 0
    assert sub.dropped_events > 0
    assert sub.spooled_events + sub.dropped_events == 20
    assert (tmp_path / "small.otlp").stat().st_size <= 600
    sub.deregister("otlp")


def test_a_spool_left_by_an_earlier_process_is_delivered(receiver: OtlpHttpReceiver, tmp_path: Path) -> None:
    spool = tmp_path / "carried.otlp"
    receiver.default = Reply(503)
    first = _run(
        f"""
        import nemo_flow
        c = nemo_flow.OpenTelemetryConfig()
        c.endpoint = {receiver.url!r}
        c.overflow_policy = "spool"
        c.spool_path = {str(spool)!r}
        c.timeout_millis = 100
        sub = nemo_flow.OpenTelemetrySubscriber(c)
        sub.register("otlp")
        for i in range(5):
            nemo_flow.scope.event("from-the-first-run", data={{"i": i}})
        assert sub.shutdown(timeout_millis=10_000) is False
        assert sub.spooled_events == 5, sub
        """
    )
    assert first.returncode == 0, first.stderr
    receiver.default = Reply(200)
    sub = _otel(receiver.url, overflow_policy="spool", spool_path=str(spool))
    assert wait_for(lambda: len(receiver.spans()) == 5, timeout=30)
    assert sub.force_flush() is True
    assert {s.name for s in receiver.spans()} == {"mark:from-the-first-run"}
    assert (sub.emitted_events, sub.exported_events, sub.spooled_events) == (5, 5, 0)
    sub.shutdown()


# -- fork --------------------------------------------------------------------------------


def test_a_forked_child_exports_its_own_events_and_exits_promptly(receiver: OtlpHttpReceiver) -> None:
    done = _run(
        f"""
        import os, sys
        import nemo_flow
        c = nemo_flow.OpenTelemetryConfig()
        c.endpoint = {receiver.url!r}
        c.schedule_delay_millis = 60_000   # nothing leaves the parent's queue before the fork
        sub = nemo_flow.OpenTelemetrySubscriber(c)
        sub.register("otlp")
        for i in range(3):
            nemo_flow.scope.event("parent-before-fork")
        pid = os.fork()
        if pid == 0:
            nemo_flow.scope.event("child")
            # Success means delivered: a worker that did not survive the fork could not say so.
            ok = sub.force_flush(timeout_millis=10_000)
            counts = (sub.emitted_events, sub.exported_events)
            os._exit(0 if ok and counts == (1, 1) else 3)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        assert sub.force_flush(timeout_millis=10_000) is True
        assert (sub.emitted_events, sub.exported_events) == (3, 3)
        """
    )
    assert done.returncode == 0, done.stderr
    names = sorted(s.name for s in receiver.spans())
    # The parent's queued events were sent once, by the parent; the child sent only its own.
    assert names == ["mark:child"] + ["mark:parent-before-fork"] * 3


def test_a_multiprocessing_fork_pool_loses_nothing(receiver: OtlpHttpReceiver, tmp_path: Path) -> None:
    done = _run(
        f"""
        import multiprocessing as mp
        import nemo_flow
        c = nemo_flow.OpenTelemetryConfig()
        c.endpoint = {receiver.url!r}
        sub = nemo_flow.OpenTelemetrySubscriber(c)
        sub.register("otlp")
        atof_config = nemo_flow.AtofExporterConfig(output_directory={str(tmp_path)!r}, filename="run.jsonl")
        atof = nemo_flow.AtofExporter(atof_config)
        atof.register("atof")

        def work(i):
            nemo_flow.tools.execute_sync("work", {{"i": i}}, lambda a: a)
            return sub.force_flush(timeout_millis=10_000) and atof.force_flush(timeout_millis=10_000)

        if __name__ == "__main__":
            with mp.get_context("fork").Pool(2) as pool:
                assert all(pool.map(work, range(8)))
            assert sub.shutdown() is True and atof.shutdown() is True
        """
    )
    assert done.returncode == 0, done.stderr
    assert sorted(s.name for s in receiver.spans()) == ["execute_tool work"] * 8
    lines = (tmp_path / "run.jsonl").read_text().splitlines()
    assert len(lines) == 16  # start + end of each call, none torn or duplicated
    assert all(line.startswith("{") and line.endswith("}") for line in lines)


# -- last_error, config, footguns --------------------------------------------------------


def test_last_error_is_set_on_the_first_failed_attempt() -> None:
    with blackhole_url() as url:
        sub = _otel(url, timeout_millis=1000, schedule_delay_millis=10, export_timeout_millis=60_000)
        sub.register("otlp")
        scope.event("m")
        # The first attempt times out after 1 s; two more attempts follow. The error is visible
        # while the batch is still being retried, not only once it has failed for good.
        assert wait_for(lambda: sub.last_error is not None, timeout=30)
        assert "timed out" in (sub.last_error or "") or "127.0.0.1" in (sub.last_error or "")
        sub.deregister("otlp")


@pytest.mark.parametrize(
    "endpoint",
    ["http://[::1", "http://localhost:99999/v1/traces", "http://localhost:0", "ftp://h:1", "http://", "http:// h"],
)
def test_endpoints_that_can_only_fail_later_are_refused_at_once(endpoint: str) -> None:
    c = OpenTelemetryConfig()
    with pytest.raises(ValueError, match="endpoint"):
        c.endpoint = endpoint
    assert c.endpoint is None


@pytest.mark.parametrize(
    ("name", "value"), [("a\nb", "v"), ("a:b", "v"), ("", "v"), ("x-key", "v\r\nInjected: 1"), ("x-key", "a\x00b")]
)
def test_headers_that_can_only_fail_later_are_refused_at_once(name: str, value: str) -> None:
    c = OpenTelemetryConfig()
    with pytest.raises(ValueError, match="header"):
        c.set_header(name, value)
    with pytest.raises(ValueError, match="header"):
        c.headers = {"ok": "fine", name: value}
    assert c.headers == {}


def test_bad_headers_from_the_environment_are_refused_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "bad name=1")
    c = OpenTelemetryConfig()
    c.endpoint = "http://127.0.0.1:9/v1/traces"
    with pytest.raises(ValueError, match="bad name"):
        OpenTelemetrySubscriber(c)


def test_headers_and_resource_attributes_are_assignable_as_a_whole(receiver: OtlpHttpReceiver) -> None:
    c = OpenTelemetryConfig()
    c.endpoint = receiver.url
    c.headers = {"x-team": "agents", "x-env": "test"}
    c.resource_attributes = {"deployment.environment": "ci"}
    assert c.headers == {"x-team": "agents", "x-env": "test"}
    with pytest.raises(ValueError, match="resource_attributes"):
        c.resource_attributes = {"": "x"}
    sub = OpenTelemetrySubscriber(c)
    sub.register("otlp")
    scope.event("m")
    assert sub.force_flush() is True
    ((_, headers, _, _),) = receiver.bodies()
    assert headers["x-team"] == "agents"
    assert receiver.spans()[0].resource["deployment.environment"] == "ci"
    sub.shutdown()
    sub.deregister("otlp")


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("overflow_policy", "sometimes", ValueError),
        ("max_concurrent_exports", 0, ValueError),
        ("max_concurrent_exports", 65, ValueError),
        ("spool_max_bytes", 0, ValueError),
        ("overflow_block_millis", 0, ValueError),
    ],
)
def test_bad_overflow_settings_name_the_field(field: str, value: object, error: type[Exception]) -> None:
    c = OpenTelemetryConfig()
    before = getattr(c, field)
    with pytest.raises(error, match=field):
        setattr(c, field, value)
    assert getattr(c, field) == before


def test_one_exporter_cannot_be_registered_under_two_names(tmp_path: Path, receiver: OtlpHttpReceiver) -> None:
    atof = AtofExporter(AtofExporterConfig(output_directory=str(tmp_path), filename="one.jsonl"))
    atof.register("first")
    with pytest.raises(RegistrationError, match="already registered as 'first'"):
        atof.register("second")
    scope.event("m")
    atof.force_flush()
    assert len((tmp_path / "one.jsonl").read_text().splitlines()) == 1  # not duplicated
    # After deregistering, a new name is fine.
    assert atof.deregister("first") is True
    atof.register("second")
    assert "registered_as='second'" in repr(atof)
    atof.deregister("second")
    atof.shutdown()

    sub = _otel(receiver.url)
    sub.register("otlp")
    with pytest.raises(RegistrationError, match="already registered"):
        sub.register("otlp-again")
    sub.deregister("otlp")
    sub.shutdown()


@pytest.mark.parametrize("filename", ["../x.jsonl", "/tmp/abs.jsonl", "sub/x.jsonl", "..", "", "a\x00b"])
def test_an_atof_filename_cannot_leave_the_output_directory(tmp_path: Path, filename: str) -> None:
    with pytest.raises(ValueError, match="filename"):
        AtofExporterConfig(output_directory=str(tmp_path), filename=filename)
    c = AtofExporterConfig(output_directory=str(tmp_path), filename="ok.jsonl")
    with pytest.raises(ValueError, match="filename"):
        c.filename = filename
    assert c.filename == "ok.jsonl"


@pytest.mark.parametrize("capacity", [-1, 0, 2**70, True, 1.5, "8"])
def test_atof_queue_capacity_errors_name_the_argument(capacity: object) -> None:
    with pytest.raises((TypeError, ValueError), match="queue_capacity"):
        AtofExporterConfig(queue_capacity=capacity)  # type: ignore[arg-type]


def test_reprs_are_readable(tmp_path: Path, receiver: OtlpHttpReceiver) -> None:
    c = OpenTelemetryConfig()
    c.endpoint = receiver.url
    assert repr(c).startswith("OpenTelemetryConfig(transport='http_binary'") or "OpenTelemetryConfig(" in repr(c)
    assert receiver.url in repr(c)
    sub = OpenTelemetrySubscriber(c)
    assert "registered_as=None" in repr(sub)
    assert "emitted=0" in repr(sub)
    sub.shutdown()
    ac = AtofExporterConfig(output_directory=str(tmp_path), filename="r.jsonl")
    assert "r.jsonl" in repr(ac)
    assert nemo_flow.observability.shutdown_all is not None
