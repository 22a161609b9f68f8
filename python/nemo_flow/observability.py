"""Exporters: ATOF JSONL files, ATIF trajectories, OpenTelemetry and OpenInference spans, and
the built-in ``observability`` plugin component that installs them from configuration.

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
import dataclasses
import os
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

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
from ._types import JsonObject
from .plugin import ConfigPolicy, _is_int, _need, to_json

__all__ = [
    "EXIT_FLUSH_TIMEOUT_SECONDS",
    "OBSERVABILITY_PLUGIN_KIND",
    "AtifConfig",
    "AtifExporter",
    "AtofConfig",
    "AtofExporter",
    "AtofExporterConfig",
    "AtofExporterMode",
    "ComponentSpec",
    "ConfigPolicy",
    "ObservabilityConfig",
    "OpenInferenceConfig",
    "OpenInferenceSubscriber",
    "OpenTelemetryConfig",
    "OpenTelemetrySubscriber",
    "OtlpConfig",
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


OBSERVABILITY_PLUGIN_KIND = "observability"
"""The kind of the built-in observability component."""

_Path = str | os.PathLike[str] | None


def _opt(owner: str, field: str, value: object, kind: type, expected: str) -> None:
    _need(owner, field, value is None or isinstance(value, kind), expected, value)


def _str_map(owner: str, field: str, value: object) -> None:
    ok = isinstance(value, Mapping) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    _need(owner, field, ok, "a dict of str to str", value)


def _dict(obj: Any) -> JsonObject:
    out = to_json({f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)})
    assert isinstance(out, dict)
    return out


@dataclasses.dataclass
class AtofConfig:
    """ATOF section: one JSONL exporter. ``output_directory`` defaults to the current directory,
    ``filename`` to ``nemo-flow-events-<UTC timestamp>.jsonl``."""

    enabled: bool = False
    output_directory: _Path = None
    filename: str | None = None
    mode: Literal["append", "overwrite"] = "append"

    def __post_init__(self) -> None:
        _need("AtofConfig", "enabled", isinstance(self.enabled, bool), "a bool", self.enabled)
        _opt("AtofConfig", "output_directory", self.output_directory, str | os.PathLike, "a path or None")  # type: ignore[arg-type]
        _opt("AtofConfig", "filename", self.filename, str, "a str or None")
        _need("AtofConfig", "mode", isinstance(self.mode, str), "a str", self.mode)
        if self.mode not in ("append", "overwrite"):
            raise ValueError(f"AtofConfig.mode: expected 'append' or 'overwrite', got {self.mode!r}")

    def to_dict(self) -> JsonObject:
        """The section as JSON."""
        return _dict(self)


@dataclasses.dataclass
class AtifConfig:
    """ATIF section: one trajectory file per top-level agent run (an Agent scope whose parent
    is the root of its stack), written when that scope ends as
    ``<output_directory>/<filename_template>`` with ``{session_id}`` = the agent scope's uuid.
    Nested agents stay in their parent's file; runs still open are written on ``clear()``.
    ``agent_version`` defaults to the runtime's version."""

    enabled: bool = False
    agent_name: str = "NeMo Flow"
    agent_version: str | None = None
    model_name: str = "unknown"
    tool_definitions: list[dict[str, Any]] | None = None
    extra: dict[str, Any] | None = None
    output_directory: _Path = None
    filename_template: str = "nemo-flow-atif-{session_id}.json"

    def __post_init__(self) -> None:
        o = "AtifConfig"
        _need(o, "enabled", isinstance(self.enabled, bool), "a bool", self.enabled)
        _need(o, "agent_name", isinstance(self.agent_name, str), "a str", self.agent_name)
        _opt(o, "agent_version", self.agent_version, str, "a str or None")
        _need(o, "model_name", isinstance(self.model_name, str), "a str", self.model_name)
        tools = self.tool_definitions
        ok = tools is None or (isinstance(tools, list) and all(isinstance(t, Mapping) for t in tools))
        _need(o, "tool_definitions", ok, "a list of dicts or None", tools)
        _opt(o, "extra", self.extra, Mapping, "a dict or None")
        _opt(o, "output_directory", self.output_directory, str | os.PathLike, "a path or None")  # type: ignore[arg-type]
        _need(o, "filename_template", isinstance(self.filename_template, str), "a str", self.filename_template)
        if "{session_id}" not in self.filename_template:
            raise ValueError(
                f"AtifConfig.filename_template: must contain {{session_id}}, got {self.filename_template!r}"
            )

    def to_dict(self) -> JsonObject:
        """The section as JSON."""
        return _dict(self)


@dataclasses.dataclass
class OtlpConfig:
    """OpenTelemetry / OpenInference section: one subscriber exporting spans over OTLP. Fields
    left ``None`` follow the standard ``OTEL_*`` variables, then the defaults: transport
    ``http_binary``, endpoint ``http://localhost:4318/v1/traces`` (gRPC: ``:4317``), service
    name ``nemo-flow``, timeout 3000 ms. ``headers`` and ``resource_attributes`` are merged
    over ``OTEL_EXPORTER_OTLP_HEADERS`` and ``OTEL_RESOURCE_ATTRIBUTES``."""

    enabled: bool = False
    transport: Literal["http_binary", "grpc"] | None = None
    endpoint: str | None = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    resource_attributes: dict[str, str] = dataclasses.field(default_factory=dict)
    service_name: str | None = None
    service_namespace: str | None = None
    service_version: str | None = None
    instrumentation_scope: str | None = None
    timeout_millis: int | None = None

    def __post_init__(self) -> None:
        o = "OtlpConfig"
        _need(o, "enabled", isinstance(self.enabled, bool), "a bool", self.enabled)
        _opt(o, "transport", self.transport, str, "a str or None")
        if self.transport not in (None, "http_binary", "grpc"):
            raise ValueError(f"OtlpConfig.transport: expected 'http_binary' or 'grpc', got {self.transport!r}")
        for f in ("endpoint", "service_name", "service_namespace", "service_version", "instrumentation_scope"):
            _opt(o, f, getattr(self, f), str, "a str or None")
        _str_map(o, "headers", self.headers)
        _str_map(o, "resource_attributes", self.resource_attributes)
        t = self.timeout_millis
        _need(o, "timeout_millis", t is None or _is_int(t), "an int or None", t)
        if t is not None and t <= 0:
            raise ValueError(f"OtlpConfig.timeout_millis: expected a positive int, got {t}")

    def to_dict(self) -> JsonObject:
        """The section as JSON."""
        return _dict(self)


@dataclasses.dataclass
class ObservabilityConfig:
    """Config of the ``observability`` component. A section that is disabled does nothing.
    ``policy`` (optional) overrides the plugin configuration's policy for this component."""

    version: int = 1
    atof: AtofConfig = dataclasses.field(default_factory=AtofConfig)
    atif: AtifConfig = dataclasses.field(default_factory=AtifConfig)
    opentelemetry: OtlpConfig = dataclasses.field(default_factory=OtlpConfig)
    openinference: OtlpConfig = dataclasses.field(default_factory=OtlpConfig)
    policy: ConfigPolicy | None = None

    def __post_init__(self) -> None:
        o = "ObservabilityConfig"
        _need(o, "version", _is_int(self.version), "an int", self.version)
        _need(o, "atof", isinstance(self.atof, AtofConfig), "an AtofConfig", self.atof)
        _need(o, "atif", isinstance(self.atif, AtifConfig), "an AtifConfig", self.atif)
        for f in ("opentelemetry", "openinference"):
            _need(o, f, isinstance(getattr(self, f), OtlpConfig), "an OtlpConfig", getattr(self, f))
        _opt(o, "policy", self.policy, ConfigPolicy, "a ConfigPolicy or None")

    def to_dict(self) -> JsonObject:
        """The config as JSON (``policy`` omitted when ``None``)."""
        out = _dict(self)
        if self.policy is None:
            del out["policy"]
        return out


@dataclasses.dataclass
class ComponentSpec:
    """An ``observability`` component entry for ``PluginConfig.components``."""

    config: ObservabilityConfig = dataclasses.field(default_factory=ObservabilityConfig)
    enabled: bool = True
    kind: ClassVar[str] = OBSERVABILITY_PLUGIN_KIND

    def __post_init__(self) -> None:
        ok = isinstance(self.config, ObservabilityConfig)
        _need("ComponentSpec", "config", ok, "an ObservabilityConfig", self.config)
        _need("ComponentSpec", "enabled", isinstance(self.enabled, bool), "a bool", self.enabled)

    def to_dict(self) -> JsonObject:
        """The component entry as JSON."""
        return {"kind": self.kind, "enabled": self.enabled, "config": self.config.to_dict()}
