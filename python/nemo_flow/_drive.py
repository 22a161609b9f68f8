"""Drives managed calls from the caller's own event loop (or thread, for the sync variants).

The native call object runs guardrails, intercepts and events; this module only awaits the
user's callable and composes the execution intercepts around it.
"""

from __future__ import annotations

from collections.abc import Callable
from inspect import isawaitable
from typing import Any

from ._native import NativeIntercept, NativeStep

# NativeStep.poll() states (see crates/nemo-flow-py/src/chain.rs).
_DONE, _NEXT = 0, 1

Intercepts = tuple[tuple[str, Callable[..., Any] | NativeIntercept], ...]


def check_func(func: Any) -> None:
    """Refuse a non-callable ``func`` before anything starts."""
    if not callable(func):
        raise TypeError(f"func: expected a callable, got {type(func).__name__}")


async def run_async(call: Any, func: Callable[..., Any], *lead: Any) -> Any:
    """Begin ``call``, run ``func`` through its execution intercepts, end the call."""
    value, intercepts = call.begin()
    try:
        if intercepts:
            result = await chain(call, intercepts, lead, value, func)
        else:
            result = func(value)
            if isawaitable(result):
                result = await result
    except BaseException as exc:
        call.fail(exc)
        raise
    call.end(result)
    return result


def run_sync(call: Any, func: Callable[..., Any], api: str, *lead: Any) -> Any:
    """The synchronous twin of :func:`run_async`: no event loop, no thread hop."""
    value, intercepts = call.begin()
    try:
        if intercepts:
            result = chain_sync(call, intercepts, lead, value, func, api)
        else:
            result = func(value)
            _refuse_awaitable(result, api)
    except BaseException as exc:
        call.fail(exc)
        raise
    call.end(result)
    return result


class _Chain:
    """One call's execution-intercept chain. Intercept ``i`` is called as
    ``fn(*lead, value, next)``; ``next`` runs the rest of the chain and may be called any
    number of times. The callable's exceptions (and ones already wrapped further in) pass
    through every intercept unchanged; an intercept's own exception becomes a MiddlewareError.
    A Rust intercept (``NativeIntercept``) is polled: when it awaits its ``next``, the rest of
    the chain runs here and its outcome is handed back.
    """

    __slots__ = ("api", "call", "func", "intercepts", "lead", "passthrough")

    def __init__(
        self, call: Any, intercepts: Intercepts, lead: tuple[Any, ...], func: Callable[..., Any], api: str
    ) -> None:
        self.intercepts = intercepts
        self.lead = lead
        self.func = func
        self.call = call
        self.api = api
        self.passthrough: list[BaseException] = []

    def failure(self, exc: Exception, i: int) -> BaseException:
        """What intercept ``i`` raising ``exc`` becomes. An exception marked as the call's own
        outcome (replay re-raising a recorded failure) passes unchanged, like the callable's."""
        if any(exc is p for p in self.passthrough) or getattr(exc, "_nemo_flow_call_outcome", False):
            self.passthrough.append(exc)
            return exc
        wrapped: BaseException = self.call.intercept_error(self.intercepts[i][0], exc)
        self.passthrough.append(wrapped)
        return wrapped

    async def step(self, i: int, value: Any) -> Any:
        if i == len(self.intercepts):
            try:
                r = self.func(value)
                return (await r) if isawaitable(r) else r
            except BaseException as exc:
                self.passthrough.append(exc)
                raise
        fn = self.intercepts[i][1]
        if type(fn) is NativeIntercept:
            return await self.native(fn, i, value)
        try:
            r = fn(*self.lead, value, _Next(self, i + 1))
            return (await r) if isawaitable(r) else r
        except Exception as exc:
            failure = self.failure(exc, i)
            if failure is exc:
                raise
            raise failure from exc

    def step_sync(self, i: int, value: Any) -> Any:
        if i == len(self.intercepts):
            try:
                r = self.func(value)
                _refuse_awaitable(r, self.api)
                return r
            except BaseException as exc:
                self.passthrough.append(exc)
                raise
        fn = self.intercepts[i][1]
        if type(fn) is NativeIntercept:
            return self.native_sync(fn, i, value)
        try:
            r = fn(*self.lead, value, _NextSync(self, i + 1))
            _refuse_awaitable(r, self.api)
            return r
        except Exception as exc:
            failure = self.failure(exc, i)
            if failure is exc:
                raise
            raise failure from exc

    async def native(self, fn: NativeIntercept, i: int, value: Any) -> Any:
        run = fn.start(self.lead[0], value)  # tool and LLM chains lead with the call name
        while True:
            state, payload = self.poll(run)
            if state == _DONE:
                return payload
            if state == _NEXT:
                try:
                    run.answer(await self.step(i + 1, payload))
                except BaseException as exc:
                    run.answer_error(exc)
            else:
                await run.wait()

    def native_sync(self, fn: NativeIntercept, i: int, value: Any) -> Any:
        run = fn.start(self.lead[0], value)  # tool and LLM chains lead with the call name
        while True:
            state, payload = self.poll(run)
            if state == _DONE:
                return payload
            if state == _NEXT:
                try:
                    run.answer(self.step_sync(i + 1, payload))
                except BaseException as exc:
                    run.answer_error(exc)
            else:
                run.block()

    def poll(self, run: NativeStep) -> tuple[int, Any]:
        # What a native step raises is final: an error from further in passes through as is,
        # and the intercept's own error comes already wrapped by the core.
        try:
            return run.poll()
        except BaseException as exc:
            self.passthrough.append(exc)
            raise


class _Next:
    """The ``next`` an async execution intercept receives: returns an awaitable."""

    __slots__ = ("_chain", "_i")

    def __init__(self, chain: _Chain, i: int) -> None:
        self._chain = chain
        self._i = i

    def __call__(self, value: Any) -> Any:
        return self._chain.step(self._i, value)


class _NextSync(_Next):
    """The ``next`` a synchronous execution intercept receives: returns the result."""

    __slots__ = ()

    def __call__(self, value: Any) -> Any:
        return self._chain.step_sync(self._i, value)


def chain(call: Any, intercepts: Intercepts, lead: tuple[Any, ...], value: Any, func: Callable[..., Any]) -> Any:
    """Runs ``func(value)`` inside ``intercepts`` (outermost first); returns an awaitable."""
    return _Chain(call, intercepts, lead, func, "").step(0, value)


def chain_sync(
    call: Any, intercepts: Intercepts, lead: tuple[Any, ...], value: Any, func: Callable[..., Any], api: str
) -> Any:
    """Synchronous :func:`chain`: every intercept and ``func`` must be synchronous."""
    return _Chain(call, intercepts, lead, func, api).step_sync(0, value)


def _refuse_awaitable(result: Any, api: str) -> None:
    if isawaitable(result):
        close = getattr(result, "close", None)
        if close is not None:
            close()
        raise TypeError(f"{api}: func returned an awaitable; use the async variant for async callables")
