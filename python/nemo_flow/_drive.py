"""Drives managed calls from the caller's own event loop (or thread, for the sync variants).

The native call object runs guardrails, intercepts and events; this module only awaits the
user's callable and composes the execution intercepts around it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from inspect import isawaitable
from typing import Any

from ._native import MiddlewareError


def check_func(func: Any) -> None:
    """Refuse a non-callable ``func`` before anything starts."""
    if not callable(func):
        raise TypeError(f"func: expected a callable, got {type(func).__name__}")


def _wrapped(exc: Exception, passthrough: list[BaseException], family: str, name: str) -> MiddlewareError:
    """An execution intercept's own exception as a MiddlewareError, recorded so the outer
    intercepts pass it through unchanged."""
    wrapped = MiddlewareError(f"{family} '{name}' failed: {type(exc).__name__}: {exc}")
    passthrough.append(wrapped)
    return wrapped


async def run_async(call: Any, func: Callable[..., Any], family: str, *lead: Any) -> Any:
    """Begin ``call``, run ``func`` through its execution intercepts, end the call."""
    value, intercepts = call.begin()
    try:
        if intercepts:
            result = await chain(intercepts, lead, value, func, family)
        else:
            result = func(value)
            if isawaitable(result):
                result = await result
    except BaseException as exc:
        call.fail(exc)
        raise
    call.end(result)
    return result


async def chain(
    intercepts: tuple[tuple[str, Callable[..., Any]], ...],
    lead: tuple[Any, ...],
    value: Any,
    func: Callable[..., Any],
    family: str,
) -> Any:
    # Each intercept is called as ``fn(*lead, value, next)``. Exceptions of the callable (and
    # ones already wrapped further in) pass through every intercept unchanged; an intercept's
    # own exception becomes a MiddlewareError.
    passthrough: list[BaseException] = []

    async def call_func(v: Any) -> Any:
        try:
            r = func(v)
            if isawaitable(r):
                r = await r
            return r
        except BaseException as exc:
            passthrough.append(exc)
            raise

    def layer(i: int) -> Callable[[Any], Awaitable[Any]]:
        if i == len(intercepts):
            return call_func
        name, fn = intercepts[i]
        inner = layer(i + 1)

        async def run(v: Any) -> Any:
            try:
                r = fn(*lead, v, inner)
                if isawaitable(r):
                    r = await r
                return r
            except Exception as exc:
                if any(exc is p for p in passthrough):
                    raise  # the callable's own exception, or one already wrapped further in
                raise _wrapped(exc, passthrough, family, name) from exc

        return run

    return await layer(0)(value)


def run_sync(call: Any, func: Callable[..., Any], family: str, api: str, *lead: Any) -> Any:
    """The synchronous twin of :func:`run_async`: no event loop, no thread hop."""
    value, intercepts = call.begin()
    try:
        if intercepts:
            result = chain_sync(intercepts, lead, value, func, family, api)
        else:
            result = func(value)
            _refuse_awaitable(result, api)
    except BaseException as exc:
        call.fail(exc)
        raise
    call.end(result)
    return result


def _refuse_awaitable(result: Any, api: str) -> None:
    if isawaitable(result):
        close = getattr(result, "close", None)
        if close is not None:
            close()
        raise TypeError(f"{api}: func returned an awaitable; use the async variant for async callables")


def chain_sync(
    intercepts: tuple[tuple[str, Callable[..., Any]], ...],
    lead: tuple[Any, ...],
    value: Any,
    func: Callable[..., Any],
    family: str,
    api: str,
) -> Any:
    passthrough: list[BaseException] = []

    def call_func(v: Any) -> Any:
        try:
            r = func(v)
            _refuse_awaitable(r, api)
            return r
        except BaseException as exc:
            passthrough.append(exc)
            raise

    def layer(i: int) -> Callable[[Any], Any]:
        if i == len(intercepts):
            return call_func
        name, fn = intercepts[i]
        inner = layer(i + 1)

        def run(v: Any) -> Any:
            try:
                r = fn(*lead, v, inner)
                _refuse_awaitable(r, api)
                return r
            except Exception as exc:
                if any(exc is p for p in passthrough):
                    raise  # the callable's own exception, or one already wrapped further in
                raise _wrapped(exc, passthrough, family, name) from exc

        return run

    return layer(0)(value)
