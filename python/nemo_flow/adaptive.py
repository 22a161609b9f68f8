"""Adaptive component configuration helpers and the cache governor.

The ``adaptive`` plugin component learns from observed runs (latency hints, tool
parallelism) and governs provider prompt caches (ACG). This module holds its configuration
dataclasses and validation, and ``CacheGovernor``: the cache governor with its cache ledger,
usable directly on request dicts. The engine is the Rust crate ``nemo-flow-adaptive``; this
module only builds dicts and re-exports.

Sections of ``AdaptiveConfig`` left as ``None`` are disabled; ``telemetry`` and ``acg`` need
``state``.

Example:
    >>> from nemo_flow.adaptive import AdaptiveConfig, BackendSpec, StateConfig, validate_config
    >>> validate_config(AdaptiveConfig(state=StateConfig(BackendSpec.in_memory())))
    {'diagnostics': []}
    >>> from nemo_flow.adaptive import canonical_json  # RFC 8785: sorted keys, shortest numbers
    >>> canonical_json({"b": 1, "a": [1.0, "é", 1e21]})
    '{"a":[1,"é",1e+21],"b":1}'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias, TypedDict

from ._native import CacheGovernor, adaptive_validate_config, canonical_json
from ._types import JsonValue, UnsupportedBehavior

__all__ = [
    "ADAPTIVE_PLUGIN_KIND",
    "AcgConfig",
    "AcgStabilityThresholds",
    "AdaptiveConfig",
    "AdaptiveHintsConfig",
    "BackendSpec",
    "CacheGovernor",
    "ComponentSpec",
    "ConfigDiagnostic",
    "ConfigPolicy",
    "ConfigReport",
    "StateConfig",
    "TelemetryConfig",
    "ToolParallelismConfig",
    "canonical_json",
    "validate_config",
]

ADAPTIVE_PLUGIN_KIND = "adaptive"

Learner: TypeAlias = Literal["latency_sensitivity", "tool_parallelism", "acg"]
ParallelismMode: TypeAlias = Literal["observe_only", "inject_hints", "schedule"]
AcgProvider: TypeAlias = Literal["anthropic", "openai", "passthrough"]


class _ConfigDiagnosticRequired(TypedDict):
    level: Literal["warning", "error"]
    code: str
    message: str


class ConfigDiagnostic(_ConfigDiagnosticRequired, total=False):
    """One finding: ``{level, code, message, component?, field?}``."""

    component: str
    field: str


class ConfigReport(TypedDict):
    """``{diagnostics: [...]}``."""

    diagnostics: list[ConfigDiagnostic]


@dataclass
class ConfigPolicy:
    """How strict validation is: unknown backends, unknown fields, unsupported values."""

    unknown_component: UnsupportedBehavior = "warn"
    unknown_field: UnsupportedBehavior = "warn"
    unsupported_value: UnsupportedBehavior = "error"

    def to_dict(self) -> dict[str, JsonValue]:
        """The config dict."""
        return {
            "unknown_component": self.unknown_component,
            "unknown_field": self.unknown_field,
            "unsupported_value": self.unsupported_value,
        }


@dataclass
class BackendSpec:
    """A state backend: ``in_memory`` (process-local) or ``redis`` (shared by workers)."""

    kind: str
    config: dict[str, JsonValue] = field(default_factory=dict)

    @classmethod
    def in_memory(cls) -> BackendSpec:
        """Process-local state."""
        return cls("in_memory")

    @classmethod
    def redis(cls, url: str, key_prefix: str = "nemo_flow:") -> BackendSpec:
        """State in the Redis server at ``url``, every key prefixed by ``key_prefix``."""
        return cls("redis", {"url": url, "key_prefix": key_prefix})

    def to_dict(self) -> dict[str, JsonValue]:
        """The config dict."""
        return {"kind": self.kind, "config": dict(self.config)}


@dataclass
class StateConfig:
    """Where learned state lives."""

    backend: BackendSpec = field(default_factory=BackendSpec.in_memory)

    def to_dict(self) -> dict[str, JsonValue]:
        """The config dict."""
        return {"backend": self.backend.to_dict()}


@dataclass
class TelemetryConfig:
    """The learning subscriber: its name (default ``adaptive_<runtime uuid>_subscriber``)
    and the learners it feeds."""

    subscriber_name: str | None = None
    learners: list[Learner] = field(default_factory=list)

    def to_dict(self) -> dict[str, JsonValue]:
        """The config dict."""
        return {"subscriber_name": self.subscriber_name, "learners": list(self.learners)}


@dataclass
class AdaptiveHintsConfig:
    """The LLM request intercept that adds learned hints (header and/or body path)."""

    priority: int = 100
    break_chain: bool = False
    inject_header: bool = True
    inject_body_path: str = "nvext.agent_hints"

    def to_dict(self) -> dict[str, JsonValue]:
        """The config dict."""
        return {
            "priority": self.priority,
            "break_chain": self.break_chain,
            "inject_header": self.inject_header,
            "inject_body_path": self.inject_body_path,
        }


@dataclass
class ToolParallelismConfig:
    """Tool parallelism: learn only, add parallel-group hints to LLM requests, or gate
    followers behind the primer for up to ``cohort_wait_ms``."""

    priority: int = 100
    mode: ParallelismMode = "observe_only"
    cohort_wait_ms: int = 150

    def to_dict(self) -> dict[str, JsonValue]:
        """The config dict."""
        return {"priority": self.priority, "mode": self.mode, "cohort_wait_ms": self.cohort_wait_ms}


@dataclass
class AcgStabilityThresholds:
    """Score thresholds of the ``Stable`` / ``SemiStable`` classes and the observations at
    which confidence is full."""

    stable_threshold: float = 0.95
    semi_stable_threshold: float = 0.5
    min_observations_for_full_confidence: int = 20

    def to_dict(self) -> dict[str, JsonValue]:
        """The config dict."""
        return {
            "stable_threshold": self.stable_threshold,
            "semi_stable_threshold": self.semi_stable_threshold,
            "min_observations_for_full_confidence": self.min_observations_for_full_confidence,
        }


@dataclass
class AcgConfig:
    """The adaptive cache governor: provider planner, observations kept per learning key,
    intercept priority, stability thresholds."""

    provider: AcgProvider = "passthrough"
    observation_window: int = 100
    priority: int = 50
    stability_thresholds: AcgStabilityThresholds = field(default_factory=AcgStabilityThresholds)

    def to_dict(self) -> dict[str, JsonValue]:
        """The config dict."""
        return {
            "provider": self.provider,
            "observation_window": self.observation_window,
            "priority": self.priority,
            "stability_thresholds": self.stability_thresholds.to_dict(),
        }


@dataclass
class AdaptiveConfig:
    """The ``adaptive`` component's config; ``None`` sections are disabled."""

    version: int = 1
    agent_id: str | None = None
    state: StateConfig | None = None
    telemetry: TelemetryConfig | None = None
    adaptive_hints: AdaptiveHintsConfig | None = None
    tool_parallelism: ToolParallelismConfig | None = None
    acg: AcgConfig | None = None
    policy: ConfigPolicy = field(default_factory=ConfigPolicy)

    def to_dict(self) -> dict[str, JsonValue]:
        """The config dict (disabled sections omitted)."""
        out: dict[str, JsonValue] = {"version": self.version}
        if self.agent_id is not None:
            out["agent_id"] = self.agent_id
        sections = (
            ("state", self.state),
            ("telemetry", self.telemetry),
            ("adaptive_hints", self.adaptive_hints),
            ("tool_parallelism", self.tool_parallelism),
            ("acg", self.acg),
        )
        for name, section in sections:
            if section is not None:
                out[name] = section.to_dict()
        out["policy"] = self.policy.to_dict()
        return out


@dataclass
class ComponentSpec:
    """An ``adaptive`` entry of a plugin configuration's ``components``."""

    config: AdaptiveConfig
    enabled: bool = True

    def to_dict(self) -> dict[str, JsonValue]:
        """``{kind: "adaptive", enabled, config}``."""
        return {"kind": ADAPTIVE_PLUGIN_KIND, "enabled": self.enabled, "config": self.config.to_dict()}


def validate_config(cfg: AdaptiveConfig | Mapping[str, Any]) -> ConfigReport:
    """Validates an ``adaptive`` config (pure): every problem as a diagnostic, never raised.

    Raises ``TypeError`` only when ``cfg`` is neither an ``AdaptiveConfig`` nor a mapping.
    """
    if isinstance(cfg, AdaptiveConfig):
        doc: Mapping[str, Any] = cfg.to_dict()
    elif isinstance(cfg, Mapping):
        doc = cfg
    else:
        raise TypeError(f"cfg: expected an AdaptiveConfig or a dict, got {type(cfg).__name__}")
    diagnostics: list[Any] = adaptive_validate_config(doc)
    return {"diagnostics": diagnostics}
