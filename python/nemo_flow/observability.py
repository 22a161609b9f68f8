"""Exporters: ATOF JSONL files, ATIF trajectories, OpenTelemetry and OpenInference spans.

Every exporter is a native subscriber. Its callback only puts the event in a bounded queue;
a background thread converts and writes, so a slow or dead backend never slows the caller.
When the queue is full, events are dropped and counted (``dropped_events``). Pending data is
flushed when the interpreter exits; call ``force_flush()`` or ``shutdown()`` for an explicit,
bounded drain.

Example:
    >>> import json, pathlib, tempfile
    >>> from nemo_flow import AtofExporter, AtofExporterConfig, ScopeType, scope
    >>> directory = tempfile.mkdtemp()
    >>> exporter = AtofExporter(AtofExporterConfig(output_directory=directory, filename="events.jsonl"))
    >>> exporter.register("atof")
    >>> with scope.scope("agent", ScopeType.Agent):
    ...     scope.event("checkpoint")
    >>> exporter.shutdown()
    True
    >>> [json.loads(line)["name"] for line in pathlib.Path(exporter.path).read_text().splitlines()]
    ['agent', 'checkpoint', 'agent']
"""

from __future__ import annotations

import atexit

from ._native import (
    AtifExporter,
    AtofExporter,
    AtofExporterConfig,
    AtofExporterMode,
    OpenInferenceConfig,
    OpenInferenceSubscriber,
    OpenTelemetryConfig,
    OpenTelemetrySubscriber,
    shutdown_exporters,
)

__all__ = [
    "EXIT_FLUSH_TIMEOUT_SECONDS",
    "AtifExporter",
    "AtofExporter",
    "AtofExporterConfig",
    "AtofExporterMode",
    "OpenInferenceConfig",
    "OpenInferenceSubscriber",
    "OpenTelemetryConfig",
    "OpenTelemetrySubscriber",
    "shutdown_all",
]

EXIT_FLUSH_TIMEOUT_SECONDS = 5.0
"""How long interpreter exit waits, in total, for exporters to drain."""


def shutdown_all(timeout: float = EXIT_FLUSH_TIMEOUT_SECONDS) -> bool:
    """Flush and stop every live exporter within ``timeout`` seconds in total; return whether
    all of them delivered everything."""
    return shutdown_exporters(timeout)


atexit.register(shutdown_all)
