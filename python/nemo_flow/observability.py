"""Exporters: ATOF JSONL files, ATIF trajectories, OpenTelemetry and OpenInference spans.

Every exporter is a native subscriber. Its callback only puts the event in a bounded queue;
a background thread converts and writes, so a slow or dead backend never slows the caller.
When the queue is full, events are dropped and counted (``dropped_events``). Pending data is
flushed when the interpreter exits; call ``force_flush()`` or ``shutdown()`` for an explicit,
bounded drain.
"""

from __future__ import annotations

import atexit
import os

from ._native import (
    AtifExporter,
    AtofExporter,
    AtofExporterConfig,
    AtofExporterMode,
    OpenInferenceConfig,
    OpenInferenceSubscriber,
    OpenTelemetryConfig,
    OpenTelemetrySubscriber,
    _restart_exporters_after_fork,
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
# A forked child (os.fork, multiprocessing's fork start method) has none of the parent's
# threads: give each exporter a fresh worker there, with an empty queue and zeroed counters.
os.register_at_fork(after_in_child=_restart_exporters_after_fork)
