"""``@scope.traced``: run a function inside a scope of its own.

The scope is started detached (``start_detached`` under the scope current when the function
runs) and made current only while the function's own code runs: for generators that is each
step of the iteration, so the consumer's code between two items never runs inside it, and a
generator consumed from another task or context still nests its children correctly. The end
carries the output, or the exception, exactly once.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any, ParamSpec, TypeVar, overload

from ._decorating import check_function, check_name, is_decoratee, is_method, kind_of, signature_of
from ._native import ScopeContext as _NativeScopeContext
from ._native import ScopeHandle, ScopeType, end_detached, start_detached
from ._native import _scope_var as _current
from ._types import Json

P = ParamSpec("P")
R = TypeVar("R")

_API = "scope.traced"
_MAX_DEPTH = 32
_MAX_REPR = 1000
_INT_RANGE = range(-(1 << 63), 1 << 64)


def project(value: Any, depth: int = 0) -> Json:
    """The JSON recorded for a captured value: JSON values as they are (tuples as lists);
    pydantic models as ``model_dump(mode="json")``; dataclasses as an object of their fields;
    anything else (bytes, sets, NaN and infinities, integers beyond 64 bits, other objects,
    dict keys that are not strings, anything nested deeper than 32 levels) as its ``repr()``,
    cut at 1000 characters."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int(value) if value in _INT_RANGE else _repr(value)
    if isinstance(value, float):
        return float(value) if value - value == 0 else _repr(value)  # inf - inf and nan are nan
    if depth >= _MAX_DEPTH:
        return _repr(value)
    if isinstance(value, (list, tuple)):
        return [project(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {k if isinstance(k, str) else _repr(k): project(v, depth + 1) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: project(getattr(value, f.name), depth + 1) for f in dataclasses.fields(value)}
    dump = getattr(value, "model_dump", None)
    if callable(dump) and not isinstance(value, type):
        try:
            return project(dump(mode="json"), depth + 1)
        except Exception:
            pass
    return _repr(value)


def _repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"
    return text if len(text) <= _MAX_REPR else text[:_MAX_REPR] + "…"


class _Tracer:
    """One decorated function's scope settings; opens and closes its scopes."""

    __slots__ = ("capture_input", "capture_output", "name", "scope_type", "sig", "skip_self")

    def __init__(
        self,
        func: Callable[..., Any],
        name: str,
        scope_type: ScopeType | str,
        capture_input: bool,
        capture_output: bool,
    ) -> None:
        self.name = name
        self.scope_type = scope_type
        self.capture_input = capture_input
        self.capture_output = capture_output
        self.sig = signature_of(func, _API) if capture_input else None
        self.skip_self = self.sig is not None and is_method(self.sig)

    def open(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> ScopeHandle:
        data = self.input(args, kwargs) if self.capture_input else None
        return start_detached(self.name, self.scope_type, input=data)

    def input(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Json:
        """The bound arguments (defaults applied, ``self``/``cls`` left out). Arguments that
        do not bind are recorded as given; the call itself then raises as usual."""
        assert self.sig is not None
        try:
            bound = self.sig.bind(*args, **kwargs)
        except TypeError:
            return {"args": project(args), "kwargs": project(kwargs)}
        bound.apply_defaults()
        items = iter(bound.arguments.items())
        if self.skip_self:
            next(items, None)
        return {k: project(v) for k, v in items}

    def end(self, handle: ScopeHandle, output: Any) -> None:
        end_detached(handle, output=project(output) if self.capture_output else None)

    def end_json(self, handle: ScopeHandle, output: Json) -> None:
        end_detached(handle, output=output if self.capture_output else None)

    def fail(self, handle: ScopeHandle, exc: BaseException) -> None:
        end_detached(handle, error=exc)


@overload
def traced(name: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def traced(
    name: str | None = None,
    scope_type: ScopeType | str = ScopeType.Function,
    *,
    capture_input: bool = True,
    capture_output: bool = True,
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def traced(
    name: Any = None,
    scope_type: ScopeType | str = ScopeType.Function,
    *,
    capture_input: bool = True,
    capture_output: bool = True,
) -> Any:
    """Decorator: every call of the function runs inside a scope of its own.

    Works on functions, coroutine functions, generator and async generator functions, and
    methods (``@traced`` or ``@traced(...)``; ``self``/``cls`` are not recorded). ``name``
    defaults to the function's ``__qualname__``. The start event records the bound arguments
    as ``input`` (``capture_input``), the end event the return value, or for generators the
    list of yielded items, as ``output`` (``capture_output``). Values that are not JSON are
    recorded as: pydantic models as ``model_dump(mode="json")``, dataclasses as an object of
    their fields, anything else (bytes, sets, NaN, integers beyond 64 bits, other objects,
    non-string keys, nesting deeper than 32 levels) as its ``repr()``, cut at 1000
    characters. For generators the scope opens when iteration starts
    and closes exactly once: on exhaustion, on an error, or when the generator is closed
    (``break``, ``close()``, ``aclose()``). An exception is recorded on the end event and
    propagates unchanged. The wrapper keeps the function's name, docstring and signature.
    """
    if is_decoratee(name):
        return _decorate(name, None, ScopeType.Function, True, True)
    check_name(name, _API)
    _NativeScopeContext("scope", scope_type)  # checks scope_type now; enters nothing
    for flag, arg in ((capture_input, "capture_input"), (capture_output, "capture_output")):
        if not isinstance(flag, bool):
            raise TypeError(f"{_API}: {arg}: expected a bool, got {type(flag).__name__}")

    def decorator(func: Callable[P, R]) -> Callable[P, R]:
        return _decorate(func, name, scope_type, capture_input, capture_output)

    return decorator


def _decorate(
    func: Callable[P, R], name: str | None, scope_type: ScopeType | str, capture_input: bool, capture_output: bool
) -> Callable[P, R]:
    check_function(func, _API)
    qualname = getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or type(func).__name__
    t = _Tracer(func, name or qualname, scope_type, capture_input, capture_output)
    wrapper = _WRAPPERS[kind_of(func)](func, t)
    return functools.wraps(func)(wrapper)


def _sync(func: Callable[..., Any], t: _Tracer) -> Callable[..., Any]:
    def traced_call(*args: Any, **kwargs: Any) -> Any:
        h = t.open(args, kwargs)
        token = _current.set(h)
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            t.fail(h, exc)
            raise
        finally:
            _current.reset(token)
        t.end(h, result)
        return result

    return traced_call


def _coroutine(func: Callable[..., Any], t: _Tracer) -> Callable[..., Any]:
    async def traced_call(*args: Any, **kwargs: Any) -> Any:
        h = t.open(args, kwargs)
        token = _current.set(h)
        try:
            result = await func(*args, **kwargs)
        except BaseException as exc:
            t.fail(h, exc)
            raise
        finally:
            _current.reset(token)
        t.end(h, result)
        return result

    return traced_call


def _generator(func: Callable[..., Any], t: _Tracer) -> Callable[..., Any]:
    # The delegation of `yield from`, written out so that each step runs with the scope
    # current and the consumer's code between steps does not.
    def traced_iteration(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        h = t.open(args, kwargs)
        items: list[Any] = []
        try:
            gen = func(*args, **kwargs)  # runs none of its code yet
            sent: Any = None
            thrown: BaseException | None = None
            while True:
                try:
                    item = _run_in(h, gen.send, sent) if thrown is None else _run_in(h, gen.throw, thrown)
                except StopIteration as stop:
                    result = stop.value
                    break
                finally:
                    thrown = None
                if t.capture_output:
                    items.append(project(item))
                try:
                    sent = yield item
                except GeneratorExit:
                    _run_in(h, gen.close)
                    raise
                except BaseException as exc:
                    thrown = exc
        except GeneratorExit:
            t.end_json(h, items)  # closed early (`break`, `close()`): a normal end
            raise
        except BaseException as exc:
            t.fail(h, exc)
            raise
        t.end_json(h, items)
        return result

    return traced_iteration


def _run_in(h: ScopeHandle, step: Callable[..., Any], *args: Any) -> Any:
    """One synchronous step of the wrapped generator, with its scope current."""
    token = _current.set(h)
    try:
        return step(*args)
    finally:
        _current.reset(token)


def _async_generator(func: Callable[..., Any], t: _Tracer) -> Callable[..., Any]:
    async def traced_iteration(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        h = t.open(args, kwargs)
        items: list[Any] = []
        try:
            agen = func(*args, **kwargs)  # runs none of its code yet
            sent: Any = None
            thrown: BaseException | None = None
            while True:
                token = _current.set(h)
                try:  # the step runs while awaited: the scope is current around the await
                    item = await (agen.asend(sent) if thrown is None else agen.athrow(thrown))
                except StopAsyncIteration:
                    break
                finally:
                    _current.reset(token)
                    thrown = None
                if t.capture_output:
                    items.append(project(item))
                try:
                    sent = yield item
                except GeneratorExit:
                    token = _current.set(h)
                    try:
                        await agen.aclose()
                    finally:
                        _current.reset(token)
                    raise
                except BaseException as exc:
                    thrown = exc
        except GeneratorExit:
            t.end_json(h, items)
            raise
        except BaseException as exc:
            t.fail(h, exc)
            raise
        t.end_json(h, items)

    return traced_iteration


_WRAPPERS = {"sync": _sync, "coroutine": _coroutine, "generator": _generator, "async_generator": _async_generator}
