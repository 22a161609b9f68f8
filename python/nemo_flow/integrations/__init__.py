"""Drop-in integrations: pure Python over the public API, each behind an optional extra.

One line turns existing SDK call sites into managed calls::

    import nemo_flow.integrations
    nemo_flow.integrations.instrument_all()        # or: nemo_flow.integrations.openai.instrument()

Every integration module (``openai``, ``anthropic``, ``litellm``, ``langchain``) has the same
surface: ``instrument(*, name=None)``, ``uninstrument()``, ``is_instrumented()`` and the
``instrumented()`` context manager. Importing this package imports no SDK; each integration
imports its SDK only when instrumented, and :func:`instrument_all` hooks SDKs that are
installed but not imported yet, instrumenting each when (and if) the application imports it.

    >>> import openai  # imported: instrumented at once (else when the application imports it)
    >>> import nemo_flow.integrations
    >>> from nemo_flow.integrations import openai as nf_openai
    >>> sorted(nemo_flow.integrations.AVAILABLE)
    ['anthropic', 'langchain', 'litellm', 'openai']
    >>> nemo_flow.integrations.instrument_all(only=["openai"])
    ['openai']
    >>> nf_openai.is_instrumented()
    True
    >>> nemo_flow.integrations.uninstrument_all()
    >>> nf_openai.is_instrumented()
    False
"""

from __future__ import annotations

import importlib
import threading
from importlib.util import find_spec
from types import ModuleType
from typing import Any

__all__ = ["AVAILABLE", "instrument_all", "uninstrument_all"]

AVAILABLE: dict[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "litellm": "litellm",
    "langchain": "langchain_core",
}
"""Integration name -> the SDK module whose presence enables it."""

_lock = threading.Lock()
_pending: dict[str, str | None] = {}  # hooked, waiting for the SDK's import -> the name to pass
_hooked: set[str] = set()  # post-import hook registered (hooks cannot be removed; they check _pending)


def _integration(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ImportError:
        return None  # this build or environment has no such integration


def _sdk_installed(module: str) -> bool:
    try:
        return find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def instrument_all(*, name: str | None = None, only: list[str] | None = None) -> list[str]:
    """Instrument every integration whose SDK is installed; return their names.

    An SDK already imported is instrumented now; one installed but not imported yet is
    instrumented when the application first imports it (``import litellm`` alone costs
    seconds, so it is never imported here). ``only`` restricts the set (names as in
    :data:`AVAILABLE`); ``name`` is passed to each ``instrument()``.
    """
    import sys

    import wrapt

    names = list(AVAILABLE) if only is None else list(only)
    unknown = [n for n in names if n not in AVAILABLE]
    if unknown:
        raise ValueError(f"only: unknown integration(s) {unknown}; expected names from {sorted(AVAILABLE)}")
    done = []
    for n in names:
        sdk = AVAILABLE[n]
        if sdk not in sys.modules and not _sdk_installed(sdk):
            continue
        mod = _integration(n)
        if mod is None:
            continue
        done.append(n)
        if sdk in sys.modules:
            mod.instrument(name=name)
            continue
        with _lock:
            _pending[n] = name
            if n in _hooked:
                continue
            _hooked.add(n)
        wrapt.register_post_import_hook(_on_import(n), sdk)
    return done


def _on_import(n: str) -> Any:
    def hook(_module: ModuleType) -> None:
        with _lock:
            if n not in _pending:
                return
            name = _pending.pop(n)
        mod = _integration(n)
        if mod is not None:
            mod.instrument(name=name)

    return hook


def uninstrument_all() -> None:
    """Undo :func:`instrument_all` (and any single ``instrument()``): every integration loaded
    is uninstrumented, and SDKs not imported yet will no longer be instrumented on import."""
    import sys

    with _lock:
        _pending.clear()
    for n in AVAILABLE:
        mod = sys.modules.get(f"{__name__}.{n}")
        if mod is not None:
            mod.uninstrument()
