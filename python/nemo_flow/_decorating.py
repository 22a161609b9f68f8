"""What the decorators (``scope.traced``, ``tools.tool``, ``llm.call_model``,
``llm.stream_model``) share: checking what they are applied to, telling the four kinds of
function apart, and recognising methods."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Literal


def check_function(func: Any, api: str) -> None:
    """Refuse what cannot be decorated, at decoration time, saying what to do instead."""
    if isinstance(func, (classmethod, staticmethod)):
        raise TypeError(
            f"{api}: apply @{api} to the function itself, under @{type(func).__name__} "
            f"(@{type(func).__name__} must be the outermost decorator)"
        )
    if not callable(func):
        raise TypeError(f"{api}: expected a function to decorate, got {type(func).__name__}")


def is_decoratee(name: Any) -> bool:
    """Whether a decorator factory's first argument is the function (bare ``@decorator``)."""
    return isinstance(name, (classmethod, staticmethod)) or (callable(name) and not isinstance(name, str))


def check_name(name: Any, api: str) -> None:
    if name is not None and (not isinstance(name, str) or not name):
        raise TypeError(f"{api}: name: expected a non-empty str or None, got {name!r}")


def kind_of(func: Callable[..., Any]) -> Literal["sync", "coroutine", "generator", "async_generator"]:
    """Which wrapper ``func`` needs; decided once, when it is decorated."""
    if inspect.isasyncgenfunction(func):
        return "async_generator"
    if inspect.isgeneratorfunction(func):
        return "generator"
    if inspect.iscoroutinefunction(func):
        return "coroutine"
    return "sync"


def signature_of(func: Callable[..., Any], api: str) -> inspect.Signature:
    try:
        return inspect.signature(func)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{api}: cannot read the signature of {func!r}: {exc}") from exc


def is_method(sig: inspect.Signature) -> bool:
    """A function defined in a class body to be called on an instance or class: its first
    parameter is named ``self`` or ``cls``. That parameter is never recorded."""
    params = list(sig.parameters.values())
    return bool(params) and params[0].name in ("self", "cls") and params[0].kind in _POSITIONAL


_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
