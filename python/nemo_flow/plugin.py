"""Plugin configuration: install middleware, subscribers and exporters from a versioned
document instead of hand-written registration.

A configuration is ``{version: 1, components: [{kind, enabled, config}], policy}``. Each
component's ``kind`` names a registered plugin (built in: ``observability``; your own with
:func:`register`). :func:`validate` checks a configuration without side effects;
:func:`initialize` activates it as a transaction: every component registers, or none does, and
a failed re-initialization restores the configuration that was active before.

Names registered through a :class:`PluginContext` are prefixed with the component's namespace
``__nemo_flow_plugin__<kind>__`` (``__nemo_flow_plugin__<kind>__<ordinal>__`` when the kind
appears several times), so two copies of one plugin never collide.

Setting ``NEMO_FLOW_PLUGINS=<path to .toml/.json>`` activates that file when ``nemo_flow`` is
imported. A bad file is logged on the ``nemo_flow`` logger and otherwise ignored, unless
``NEMO_FLOW_PLUGINS_STRICT=1``, in which case the import raises.

A plugin that tags every tool call's arguments, activated for one block:

    >>> from nemo_flow import plugin, tools
    >>> class Tagger:
    ...     def register(self, config, context):
    ...         def tag(name, args):
    ...             return {**args, config["tag"]: True}
    ...         context.register_tool_request_intercept("tag", 0, False, tag)
    >>> plugin.register("tagger", Tagger())
    >>> doc = {"version": 1, "components": [{"kind": "tagger", "config": {"tag": "seen"}}]}
    >>> with plugin.configured_sync(doc) as report:
    ...     print(report["components"][0]["status"], report["components"][0]["registrations"][0]["name"])
    ...     print(tools.execute_sync("echo", {"q": 1}, lambda args: args))
    active __nemo_flow_plugin__tagger__tag
    {'q': 1, 'seen': True}
    >>> tools.execute_sync("echo", {"q": 1}, lambda args: args)  # restored on leaving the block
    {'q': 1}
    >>> plugin.deregister("tagger")
    True
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
import tomllib
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, NotRequired, Protocol, TypeAlias, TypedDict, runtime_checkable

from . import _native
from ._native import ConfigError, PluginContext
from ._types import JsonObject, JsonValue, UnsupportedBehavior

__all__ = [
    "ComponentLike",
    "ComponentReport",
    "ComponentSpec",
    "ConfigDiagnostic",
    "ConfigError",
    "ConfigPolicy",
    "ConfigReport",
    "ConfigSource",
    "Plugin",
    "PluginConfig",
    "PluginContext",
    "RegistrationRecord",
    "activate_from_environment",
    "clear",
    "configured",
    "configured_sync",
    "deregister",
    "initialize",
    "initialize_sync",
    "list_kinds",
    "load",
    "register",
    "report",
    "validate",
]

_log = logging.getLogger("nemo_flow")
_BEHAVIORS = ("ignore", "warn", "error")


class ConfigDiagnostic(TypedDict):
    """One finding about a configuration."""

    level: Literal["warning", "error"]
    code: str
    message: str
    component: NotRequired[str]
    field: NotRequired[str]


class RegistrationRecord(TypedDict):
    """One thing a component installed: a middleware family, ``subscriber``, ``flush_hook``
    or ``cleanup``; its full namespaced name; its priority (middleware only)."""

    family: str
    name: str
    priority: int | None


class ComponentReport(TypedDict):
    """What became of one component."""

    kind: str
    ordinal: int
    enabled: bool
    status: Literal["active", "disabled", "skipped", "failed", "rolled_back"]
    registrations: list[RegistrationRecord]
    error: NotRequired[str]


class ConfigReport(TypedDict):
    """Diagnostics, plus (after activation) each component's outcome."""

    diagnostics: list[ConfigDiagnostic]
    components: NotRequired[list[ComponentReport]]


@runtime_checkable
class ComponentLike(Protocol):
    """Anything that serialises to a component entry (``{kind, enabled, config}``), such as
    ``nemo_flow.observability.ComponentSpec``."""

    def to_dict(self) -> JsonObject:
        """Return the component entry as plain JSON."""
        ...


class Plugin(Protocol):
    """A component kind. ``register(config, context)`` installs the component through
    ``context`` and must be synchronous. An optional ``validate(config)`` returns ``None`` or a
    list of :class:`ConfigDiagnostic`; it must not have side effects."""

    def register(self, config: dict[str, Any], context: PluginContext) -> None:
        """Install the component: register its middleware and subscribers through ``context``
        (``config`` is the entry's ``config`` object). Raising rolls the whole configuration
        back."""
        ...


def _type(value: object) -> str:
    return type(value).__name__


def _need(owner: str, field: str, ok: bool, expected: str, value: object) -> None:
    if not ok:
        raise TypeError(f"{owner}.{field}: expected {expected}, got {_type(value)}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _behavior(owner: str, field: str, value: object) -> None:
    _need(owner, field, isinstance(value, str), "a str", value)
    if value not in _BEHAVIORS:
        raise ValueError(f"{owner}.{field}: expected one of 'ignore', 'warn', 'error', got {value!r}")


def to_json(value: object, path: str = "config") -> JsonValue:
    """``value`` as plain JSON: objects with ``to_dict()`` and dataclasses are expanded,
    mappings need str keys, tuples become lists, paths become strings."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)  # type: ignore[no-any-return]
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_json(to_dict(), path)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return to_json(fields, path)
    if isinstance(value, Mapping):
        out: dict[str, JsonValue] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{path}: keys must be str, got {_type(k)}")
            out[k] = to_json(v, f"{path}.{k}")
        return out
    if isinstance(value, list | tuple):
        return [to_json(v, f"{path}[{i}]") for i, v in enumerate(value)]
    raise TypeError(f"{path}: value of type {_type(value)} is not JSON-serializable")


@dataclasses.dataclass
class ConfigPolicy:
    """How strict validation is: each of ``"ignore"``, ``"warn"`` or ``"error"``."""

    unknown_component: UnsupportedBehavior = "warn"
    unknown_field: UnsupportedBehavior = "warn"
    unsupported_value: UnsupportedBehavior = "error"

    def __post_init__(self) -> None:
        for f in ("unknown_component", "unknown_field", "unsupported_value"):
            _behavior("ConfigPolicy", f, getattr(self, f))

    def to_dict(self) -> JsonObject:
        """The policy as JSON."""
        return {
            "unknown_component": self.unknown_component,
            "unknown_field": self.unknown_field,
            "unsupported_value": self.unsupported_value,
        }


@dataclasses.dataclass
class ComponentSpec:
    """One component: its ``kind``, whether it is ``enabled``, and its ``config`` (a mapping;
    dataclasses nested anywhere in it are normalised to JSON)."""

    kind: str
    enabled: bool = True
    config: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        _need("ComponentSpec", "kind", isinstance(self.kind, str) and bool(self.kind), "a non-empty str", self.kind)
        _need("ComponentSpec", "enabled", isinstance(self.enabled, bool), "a bool", self.enabled)
        ok = isinstance(self.config, Mapping) or isinstance(self.config, ComponentLike)
        ok = ok or (dataclasses.is_dataclass(self.config) and not isinstance(self.config, type))
        _need("ComponentSpec", "config", ok, "a mapping or a config dataclass", self.config)

    def to_dict(self) -> JsonObject:
        """The component entry as JSON."""
        config = to_json(self.config, f"components[{self.kind}].config")
        return {"kind": self.kind, "enabled": self.enabled, "config": config}


@dataclasses.dataclass
class PluginConfig:
    """A plugin configuration document."""

    version: int = 1
    components: Sequence[ComponentSpec | ComponentLike | Mapping[str, Any]] = dataclasses.field(default_factory=list)
    policy: ConfigPolicy = dataclasses.field(default_factory=ConfigPolicy)

    def __post_init__(self) -> None:
        _need("PluginConfig", "version", _is_int(self.version), "an int", self.version)
        ok = isinstance(self.components, Sequence) and not isinstance(self.components, str)
        _need("PluginConfig", "components", ok, "a list of components", self.components)
        for i, c in enumerate(self.components):
            ok = isinstance(c, ComponentSpec | Mapping) or isinstance(c, ComponentLike)
            _need("PluginConfig", f"components[{i}]", ok, "a ComponentSpec or a mapping", c)
        _need("PluginConfig", "policy", isinstance(self.policy, ConfigPolicy), "a ConfigPolicy", self.policy)

    def to_dict(self) -> JsonObject:
        """The document as JSON."""
        comps = [to_json(c, f"components[{i}]") for i, c in enumerate(self.components)]
        return {"version": self.version, "components": comps, "policy": self.policy.to_dict()}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> PluginConfig:
        """Builds a ``PluginConfig`` from a parsed document (``TypeError``/``ValueError`` name the
        offending field). Unknown top-level keys are dropped: use :func:`validate` on the raw
        document to hear about them."""
        _need("PluginConfig", "<document>", isinstance(doc, Mapping), "a mapping", doc)
        policy = doc.get("policy") or {}
        _need("PluginConfig", "policy", isinstance(policy, Mapping), "a mapping", policy)
        comps = doc.get("components") or []
        _need("PluginConfig", "components", isinstance(comps, list), "a list", comps)
        specs = []
        for i, c in enumerate(comps):
            _need("PluginConfig", f"components[{i}]", isinstance(c, Mapping), "a mapping", c)
            specs.append(ComponentSpec(c.get("kind"), c.get("enabled", True), c.get("config") or {}))
        return cls(doc.get("version", 1), specs, ConfigPolicy(**policy))


ConfigSource: TypeAlias = PluginConfig | Mapping[str, Any] | str | os.PathLike[str]
"""What the configuration functions accept: a ``PluginConfig``, a dict, a JSON string, or the
path of a ``.toml`` / ``.json`` file."""

_WHERE = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


def _read_file(path: str | os.PathLike[str]) -> Any:
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise ConfigError(f"{p}: expected a .toml or .json plugin configuration file")
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{p}: cannot read the plugin configuration: {e.strerror or e}") from e
    try:
        return tomllib.loads(text) if suffix == ".toml" else json.loads(text)
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        m = _WHERE.search(msg)
        where = f"line {m.group(1)}, column {m.group(2)}" if m else "?"
        raise ConfigError(f"{p}: {where}: invalid TOML: {_WHERE.sub('', msg)}") from e
    except json.JSONDecodeError as e:
        raise ConfigError(f"{p}: line {e.lineno}, column {e.colno}: invalid JSON: {e.msg}") from e


def load(path: str | os.PathLike[str]) -> PluginConfig:
    """Reads a ``.toml`` or ``.json`` configuration file into a :class:`PluginConfig`. A file
    that does not parse raises ``ConfigError`` naming the file and the line."""
    doc = _read_file(path)
    try:
        return PluginConfig.from_dict(doc)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{path}: {e}") from e


def _document(config: ConfigSource) -> Any:
    if isinstance(config, PluginConfig):
        return config.to_dict()
    if isinstance(config, Mapping):
        return to_json(config, "config")
    if isinstance(config, str) and config.lstrip().startswith(("{", "[")):
        try:
            return json.loads(config)
        except json.JSONDecodeError as e:
            raise ConfigError(f"config: line {e.lineno}, column {e.colno}: invalid JSON: {e.msg}") from e
    if isinstance(config, str | os.PathLike):
        return _read_file(config)
    raise TypeError(
        f"config: expected a PluginConfig, a dict, a JSON string or the path of a .toml/.json file, got {_type(config)}"
    )


def validate(config: ConfigSource) -> ConfigReport:
    """Checks ``config`` without side effects. Disabled components are validated too."""
    return _native.plugin_validate(_document(config))  # type: ignore[return-value]


def initialize_sync(config: ConfigSource) -> ConfigReport:
    """Activates ``config``, replacing the active configuration; returns the activation report.

    Raises ``ConfigError`` when the configuration is invalid or a component fails to register;
    nothing of it stays registered, the previous configuration is active again, the failed
    attempt's report is the exception's ``report`` attribute, and a plugin's own exception is
    its ``__cause__``.
    """
    return _native.plugin_initialize(_document(config))  # type: ignore[return-value]


async def initialize(config: ConfigSource) -> ConfigReport:
    """Async form of :func:`initialize_sync` (plugins register synchronously)."""
    return initialize_sync(config)


def clear() -> None:
    """Removes the active configuration: every registration is undone, components in reverse
    order, and exporters are flushed and shut down."""
    _native.plugin_clear()


def report() -> ConfigReport | None:
    """The active configuration's report (including problems components reported since
    activation, such as a trajectory file that could not be written), or ``None``."""
    return _native.plugin_report()  # type: ignore[return-value]


def list_kinds() -> list[str]:
    """Every registered component kind, sorted."""
    return _native.plugin_list_kinds()


def register(kind: str, plugin: Plugin) -> None:
    """Registers ``plugin`` as component kind ``kind``; an existing kind raises
    ``RegistrationError``."""
    _native.plugin_register(kind, plugin)


def deregister(kind: str) -> bool:
    """Removes a kind registered with :func:`register`; returns whether it existed. Built-in
    kinds raise ``RegistrationError``. Active components of the kind stay until the next
    :func:`initialize` or :func:`clear`."""
    return _native.plugin_deregister(kind)


def _restore(previous: JsonObject | None) -> None:
    if previous is None:
        clear()
    else:
        _native.plugin_initialize(previous)


@contextlib.contextmanager
def configured_sync(config: ConfigSource) -> Iterator[ConfigReport]:
    """Activates ``config`` for the block, then restores what was active before."""
    previous = _native.plugin_active_config()
    result = initialize_sync(config)
    try:
        yield result
    finally:
        _restore(previous)


@contextlib.asynccontextmanager
async def configured(config: ConfigSource) -> AsyncIterator[ConfigReport]:
    """Async form of :func:`configured_sync`."""
    previous = _native.plugin_active_config()
    result = await initialize(config)
    try:
        yield result
    finally:
        _restore(previous)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def activate_from_environment() -> ConfigReport | None:
    """Activates the file named by ``NEMO_FLOW_PLUGINS``, if set (called on import). Failures
    are logged with the report; they raise only when ``NEMO_FLOW_PLUGINS_STRICT=1``."""
    path = os.environ.get("NEMO_FLOW_PLUGINS", "").strip()
    if not path:
        return None
    try:
        result = initialize_sync(Path(path))
    except (ConfigError, TypeError, ValueError) as e:
        _log.error("NEMO_FLOW_PLUGINS=%s was not activated: %s; report: %s", path, e, getattr(e, "report", None))
        if _truthy(os.environ.get("NEMO_FLOW_PLUGINS_STRICT")):
            raise
        return None
    for d in result["diagnostics"]:
        _log.warning("NEMO_FLOW_PLUGINS=%s: %s (%s)", path, d["message"], d["code"])
    return result
