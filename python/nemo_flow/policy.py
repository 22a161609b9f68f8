"""Declarative policies over tool and LLM calls: deny, before (approval), rate-limit and
LLM policies with NemoIR's expression semantics, compiled once in Rust and enforced as
conditional-execution guardrails; every decision is a ``policy.decision`` mark.

The recommended way to install a component is the plugin system's ``policy`` kind
(:data:`POLICY_PLUGIN_KIND`, e.g. ``plugin.initialize_sync({"components": [{"kind": "policy",
"config": ...}]})``): validated by ``plugin.validate``, listed in the activation report and undone
by ``plugin.clear()``. ``activate``/``deactivate`` install one directly, outside any plugin
configuration. See docs/policy.md for the config schema.

Deny shell commands that mention ``rm -rf``; check a call offline, then enforce the policy:

    >>> from nemo_flow import GuardrailRejected, policy, tools
    >>> config = {
    ...     "policies": [
    ...         {
    ...             "id": "no-rm",
    ...             "kind": "deny",
    ...             "trigger": {"tool": "sh", "bind": {"c": "command"}},
    ...             "condition": {"contains": [{"bound": "c"}, "rm -rf"]},
    ...             "message": "no recursive deletes",
    ...         }
    ...     ]
    ... }
    >>> policy.validate(config)
    []
    >>> decision = policy.evaluate(config, "sh", {"command": "rm -rf /"})
    >>> decision.allowed, decision.reason
    (False, 'no recursive deletes')
    >>> policy.activate(config)["registered"]["tool_conditional_execution"]
    'nemo_flow.policy:policy'
    >>> tools.execute_sync("sh", {"command": "ls"}, lambda args: "listed")
    'listed'
    >>> try:
    ...     tools.execute_sync("sh", {"command": "rm -rf /"}, lambda args: "deleted")
    ... except GuardrailRejected:
    ...     print("rejected")
    rejected
    >>> policy.deactivate()
    True
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import dataclasses
import enum
import inspect
import os
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import _native
from ._native import ConfigError

__all__ = [
    "POLICY_PLUGIN_KIND",
    "BacktestFinding",
    "BacktestReport",
    "Decision",
    "Diagnostic",
    "NemoirImport",
    "PolicyConfigError",
    "PolicyDecision",
    "activate",
    "backtest",
    "deactivate",
    "deregister_approver",
    "evaluate",
    "evaluate_llm",
    "from_nemoir",
    "register_approver",
    "validate",
]

POLICY_PLUGIN_KIND = "policy"
"""The plugin component kind that installs a policy component from a plugin configuration."""

Approver = Callable[[str, dict[str, Any]], "bool | Awaitable[bool]"]


@dataclass(frozen=True)
class Diagnostic:
    """One finding about a config: ``level`` is ``"error"`` or ``"warning"``."""

    level: str
    code: str
    message: str
    component: str
    field: str


class PolicyConfigError(ConfigError):
    """The config has errors; ``diagnostics`` lists every finding. Nothing was registered."""

    def __init__(self, diagnostics: tuple[Diagnostic, ...]) -> None:
        self.diagnostics = diagnostics
        errors = [d for d in diagnostics if d.level == "error"]
        lines = "; ".join(f"{d.field or '<config>'}: {d.message} [{d.code}]" for d in errors)
        super().__init__(f"invalid policy config: {lines}")


@dataclass(frozen=True)
class PolicyDecision:
    """What one policy decided: ``decision`` is allowed, denied, would_deny, error or rate_limited."""

    policy_id: str
    kind: str
    decision: str
    capability: str | None
    tool: str
    reason: str | None
    retry_after: float | None


@dataclass(frozen=True)
class Decision:
    """The component's verdict on one call, with every policy decision taken."""

    allowed: bool
    reason: str | None
    decisions: tuple[PolicyDecision, ...]


@dataclass(frozen=True)
class BacktestFinding:
    """A recorded call some policy did not simply allow."""

    line: int
    uuid: str
    call: str
    name: str
    timestamp: str
    allowed: bool
    reason: str | None
    decisions: tuple[PolicyDecision, ...]


@dataclass(frozen=True)
class BacktestReport:
    """What replaying a recorded run through a config found."""

    tool_calls: int
    llm_calls: int
    rejected: int
    by_policy: dict[str, dict[str, int]]
    findings: tuple[BacktestFinding, ...]
    skipped_lines: int


@dataclass(frozen=True)
class NemoirImport:
    """A component config imported from a NemoIR manifest, and how it differs from NemoIR."""

    config: dict[str, Any]
    diagnostics: tuple[Diagnostic, ...]


def _diagnostics(raw: list[dict[str, Any]]) -> tuple[Diagnostic, ...]:
    return tuple(Diagnostic(**d) for d in raw)


def _checked(result: dict[str, Any]) -> dict[str, Any]:
    if "diagnostics" in result:
        raise PolicyConfigError(_diagnostics(result["diagnostics"]))
    return result


def _decision(d: dict[str, Any]) -> PolicyDecision:
    return PolicyDecision(**d)


def _verdict(v: dict[str, Any]) -> Decision:
    return Decision(v["allowed"], v["reason"], tuple(_decision(d) for d in v["decisions"]))


def _config(config: Any) -> Any:
    if not isinstance(config, Mapping):
        raise TypeError(f"config: expected a mapping (the component config), got {type(config).__name__}")
    return config


def validate(config: Mapping[str, Any], *, unknown_field: str = "error") -> list[Diagnostic]:
    """Every diagnostic of ``config`` (empty when valid). ``unknown_field``: error, warn or ignore."""
    return list(_diagnostics(_native.policy_validate(_config(config), unknown_field)))


def evaluate(
    config: Mapping[str, Any], tool: str, args: Mapping[str, Any], *, capability: str | None = None
) -> Decision:
    """Check one tool call against ``config`` without a run (approvers are asked; rate limits
    start full on every call). Raises :class:`PolicyConfigError` for an invalid config."""
    if not isinstance(tool, str) or not tool:
        raise TypeError(f"tool: expected a non-empty string, got {tool!r}")
    if not isinstance(args, Mapping):
        raise TypeError(f"args: expected a mapping of argument name to value, got {type(args).__name__}")
    return _verdict(_checked(_native.policy_evaluate(_config(config), "tool", tool, dict(args), capability))["verdict"])


def evaluate_llm(config: Mapping[str, Any], name: str, request: Any) -> Decision:
    """Check one LLM call whose annotated request is ``request`` (an ``AnnotatedLLMRequest``
    or its dict form) against the LLM policies of ``config``."""
    if not isinstance(name, str):
        raise TypeError(f"name: expected a string, got {type(name).__name__}")
    if hasattr(request, "to_dict"):
        request = request.to_dict()
    if not isinstance(request, Mapping):
        raise TypeError(f"request: expected an AnnotatedLLMRequest or a mapping, got {type(request).__name__}")
    return _verdict(_checked(_native.policy_evaluate(_config(config), "llm", name, dict(request)))["verdict"])


def backtest(config: Mapping[str, Any], atof_path: str | os.PathLike[str]) -> BacktestReport:
    """Replay the tool and LLM calls recorded in an ATOF JSONL file through ``config`` and
    report which would have been rejected and why (approvers are not asked)."""
    if not isinstance(atof_path, (str, os.PathLike)):
        raise TypeError(f"atof_path: expected a path, got {type(atof_path).__name__}")
    r = _checked(_native.policy_backtest(_config(config), os.fspath(atof_path)))["report"]
    findings = tuple(
        BacktestFinding(**{**f, "decisions": tuple(_decision(d) for d in f["decisions"])}) for f in r["findings"]
    )
    return BacktestReport(r["tool_calls"], r["llm_calls"], r["rejected"], r["by_policy"], findings, r["skipped_lines"])


# -- approvers ---------------------------------------------------------------------------
# The guardrail step is synchronous and runs on the caller's thread (often the event loop's),
# so an approver cannot be awaited there. Sync approvers run on a worker thread and async
# ones on a dedicated background event loop; the caller's thread blocks (GIL released) until
# the answer or the timeout. An approver must therefore not wait for the caller's own loop.

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_pool: concurrent.futures.ThreadPoolExecutor | None = None


def _background() -> tuple[asyncio.AbstractEventLoop, concurrent.futures.ThreadPoolExecutor]:
    global _loop, _pool
    with _lock:
        if _loop is None or _pool is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="nemo_flow-approvers", daemon=True).start()
            _pool = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="nemo_flow-approver")
        return _loop, _pool


async def _awaited(aw: Awaitable[Any]) -> Any:
    return await aw


def _await_answer(aw: Awaitable[Any], timeout: float) -> Any:
    loop, _ = _background()
    fut = asyncio.run_coroutine_threadsafe(_awaited(aw), loop)
    try:
        return fut.result(timeout)
    except concurrent.futures.TimeoutError:
        fut.cancel()
        raise TimeoutError("approver timed out") from None


def _runner(fn: Approver, timeout: float) -> Callable[[str, dict[str, Any]], Any]:
    def run(message: str, context: dict[str, Any]) -> Any:
        deadline = time.monotonic() + timeout
        if inspect.iscoroutinefunction(fn):
            return _await_answer(fn(message, context), timeout)
        _, pool = _background()
        fut = pool.submit(contextvars.copy_context().run, fn, message, context)
        try:
            answer = fut.result(timeout)
        except concurrent.futures.TimeoutError:
            raise TimeoutError("approver timed out") from None
        if inspect.isawaitable(answer):
            return _await_answer(answer, max(0.0, deadline - time.monotonic()))
        return answer

    return run


def register_approver(name: str, fn: Approver, *, timeout: float = 30.0) -> None:
    """Register ``fn(message, context) -> bool`` (sync or async) as the approver ``name`` for
    ``before`` policies. ``context`` holds ``tool``, ``capability`` and ``policy_id``. Only
    ``True`` approves; ``False`` or no answer within ``timeout`` seconds denies; any other
    answer, or an exception, is an evaluation error (denied unless ``on_error: allow``).
    Registering a taken name replaces that approver."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"name: expected a non-empty string, got {name!r}")
    if not callable(fn):
        raise TypeError(f"fn: expected a callable (message, context) -> bool, got {type(fn).__name__}")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout: expected a positive number of seconds, got {timeout!r}")
    _native.policy_register_approver(name, _runner(fn, float(timeout)))


def deregister_approver(name: str) -> bool:
    """Remove an approver; return whether it existed."""
    return _native.policy_deregister_approver(name)


# -- activation ----------------------------------------------------------------------------


def activate(config: Mapping[str, Any], *, name: str = "policy") -> dict[str, Any]:
    """Install a policy component from ``config`` under ``name`` (its guardrails are named
    ``nemo_flow.policy:<name>`` and ``…:<name>.llm``). All or nothing: on any diagnostic
    error, or an approver that is not registered, raises :class:`PolicyConfigError` and
    registers nothing. Returns what was registered and the warnings. Prefer a plugin
    component of kind :data:`POLICY_PLUGIN_KIND`, which the plugin report lists and
    ``plugin.clear()`` undoes."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"name: expected a non-empty string, got {name!r}")
    report = _checked(_native.policy_activate(_config(config), name))
    report["warnings"] = list(_diagnostics(report["warnings"]))
    return report


def deactivate(name: str = "policy") -> bool:
    """Uninstall the component activated under ``name``; return whether one was active."""
    return _native.policy_deactivate(name)


# -- NemoIR --------------------------------------------------------------------------------


def _plain(v: Any) -> Any:
    """A manifest (frozen dataclasses, tuples, frozensets, Paths) as JSON-able data."""
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {f.name: _plain(getattr(v, f.name)) for f in dataclasses.fields(v) if getattr(v, f.name) is not None}
    if isinstance(v, Mapping):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (frozenset, set)):
        return sorted(_plain(x) for x in v)
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, enum.Enum):
        return _plain(v.value)
    if isinstance(v, os.PathLike):
        return os.fspath(v)
    return v


def from_nemoir(manifest: Any, inputs: Mapping[str, Any] | None = None) -> NemoirImport:
    """Build a component config from a NemoIR ``WorkflowManifest``'s policies (expressions
    kept in NemoIR's native spelling) with ``inputs`` as the workflow input values. Every
    place our semantics differ from NemoIR's is a ``policy.nemoir_semantics_differ``
    diagnostic."""
    if not (dataclasses.is_dataclass(manifest) or isinstance(manifest, Mapping)):
        raise TypeError(f"manifest: expected a WorkflowManifest or its dict form, got {type(manifest).__name__}")
    if inputs is not None and not isinstance(inputs, Mapping):
        raise TypeError(f"inputs: expected a mapping of input name to value, got {type(inputs).__name__}")
    plain = _plain(manifest)
    data = {"policies": plain.get("policies", []), "inputs": plain.get("inputs", [])}
    config, diagnostics = _native.policy_from_nemoir(data, _plain(dict(inputs or {})))
    return NemoirImport(config, _diagnostics(diagnostics))
