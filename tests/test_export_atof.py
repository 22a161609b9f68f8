"""ATOF JSONL exporter: one canonical JSON event per line, parsed back into the same events;
directory creation, append/overwrite, write errors surfaced, bounded queue accounting."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import nemo_flow
from nemo_flow import AtofExporter, AtofExporterConfig, AtofExporterMode, ScopeType, scope, subscribers, tools


def _exporter(directory: Path, filename: str = "events.jsonl", **kw: Any) -> AtofExporter:
    return AtofExporter(AtofExporterConfig(output_directory=str(directory), filename=filename, **kw))


def _lines(path: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def test_lines_parse_back_into_the_emitted_events(tmp_path: Path, events: list[Any]) -> None:
    exporter = _exporter(tmp_path / "new" / "dir")
    exporter.register("atof")
    with scope.scope("agent", ScopeType.Agent, input={"q": "hi"}):
        tools.execute_sync("search", {"query": "x"}, lambda a: {"hits": [1, 2]})
        scope.event("checkpoint", data={"step": 1})
    assert exporter.force_flush() is True
    written = _lines(exporter.path)
    assert written == [e.to_dict() for e in events]
    # Canonical text: the line is exactly the event's JSON.
    raw = Path(exporter.path).read_text().splitlines()
    assert raw == [e.to_json() for e in events]
    assert exporter.exported_events == len(events) == 5
    assert exporter.shutdown() is True


def test_directory_is_created_and_default_name_is_dated(tmp_path: Path) -> None:
    config = AtofExporterConfig(output_directory=str(tmp_path / "a" / "b"))
    assert config.filename.startswith("nemo-flow-events-") and config.filename.endswith(".jsonl")
    exporter = AtofExporter(config)
    assert Path(exporter.path).parent.is_dir()
    assert exporter.path == config.path
    exporter.shutdown()


def test_append_keeps_and_overwrite_truncates(tmp_path: Path) -> None:
    for _ in range(2):
        e = _exporter(tmp_path)
        e.register("atof")
        scope.event("m")
        e.shutdown()
        e.deregister("atof")
    assert len(_lines(str(tmp_path / "events.jsonl"))) == 2
    e = _exporter(tmp_path, mode=AtofExporterMode.Overwrite)
    e.register("atof")
    scope.event("only")
    e.shutdown()
    assert [line["name"] for line in _lines(e.path)] == ["only"]


def test_write_error_is_surfaced_by_flush_and_shutdown() -> None:
    full = Path("/dev/full")
    if not full.exists():
        pytest.skip("needs /dev/full")
    e = AtofExporter(AtofExporterConfig(output_directory="/dev", filename="full"))
    e.register("atof")
    scope.event("lost")
    with pytest.raises(OSError, match="ATOF write failed"):
        e.force_flush()
    scope.event("also lost")
    with pytest.raises(OSError, match="ATOF write failed"):
        e.shutdown()
    assert e.exported_events == 0
    assert e.failed_events == 2


def test_unwritable_location_fails_at_construction(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError):
        _exporter(blocker / "sub")


def test_burst_accounting_exported_plus_dropped_equals_emitted(tmp_path: Path) -> None:
    e = _exporter(tmp_path, queue_capacity=8)
    e.register("atof")
    for i in range(5000):
        scope.event("burst", data={"i": i})
    # Everything queued is written; the drops make the report False (success means delivered).
    assert e.shutdown(timeout_millis=30_000) is (e.dropped_events == 0)
    lines = _lines(e.path)
    assert e.emitted_events == 5000
    assert e.exported_events + e.dropped_events == 5000
    assert len(lines) == e.exported_events
    assert e.failed_events == 0


def test_after_shutdown_events_are_dropped_and_counted(tmp_path: Path) -> None:
    e = _exporter(tmp_path)
    e.register("atof")
    scope.event("kept")
    assert e.shutdown() is True
    assert e.shutdown() is True  # idempotent
    scope.event("late")
    assert e.force_flush() is False  # the late event was dropped
    assert [line["name"] for line in _lines(e.path)] == ["kept"]
    assert e.dropped_events == 1


def test_subscribers_flush_drains_the_exporter(tmp_path: Path) -> None:
    e = AtofExporter(AtofExporterConfig(output_directory=str(tmp_path), filename="f.jsonl"))
    e.register("atof")
    scope.event("m")
    assert subscribers.flush(5.0) is True
    assert len(_lines(e.path)) == 1
    assert e.deregister("atof") is True
    assert e.deregister("atof") is False
    e.shutdown()


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="queue_capacity"):
        AtofExporterConfig(queue_capacity=0)
    e = _exporter(tmp_path)
    with pytest.raises(ValueError, match="timeout_millis"):
        e.force_flush(-1)
    with pytest.raises(TypeError, match="timeout_millis"):
        e.force_flush(True)  # type: ignore[arg-type]
    e.shutdown()
    assert nemo_flow.AtofExporterMode.Append != nemo_flow.AtofExporterMode.Overwrite
