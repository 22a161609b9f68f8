"""``scope.scope(...)``: one context manager for ``with`` and ``async with``.

The native context manager does the work (push on enter, pop on exit, an exception leaving
the block recorded on the end event); this class only adds the asynchronous protocol. Both
protocols run the same synchronous steps, in the task that enters the block.
"""

from __future__ import annotations

from datetime import datetime
from operator import attrgetter
from types import TracebackType
from typing import TYPE_CHECKING, Literal

from ._native import ScopeAttributes, ScopeHandle, ScopeType
from ._native import ScopeContext as _NativeScopeContext
from ._types import Json


class ScopeContext:
    """Context manager returned by ``scope.scope()``: pushes a child scope on enter (the
    handle is the ``as`` target) and pops it on exit. Works with ``with`` and ``async with``.

    Options (keyword-only, as for ``scope.push``): ``handle`` (the parent, default the current
    scope), ``attributes``, ``data``, ``metadata``, ``input``, ``timestamp`` and
    ``end_timestamp``. An exception leaving the block is recorded on the scope's end event and
    propagates. The arguments are checked at construction; a context manager can be entered
    once.
    """

    __slots__ = ("_cm",)
    _cm: _NativeScopeContext

    if TYPE_CHECKING:

        def __init__(
            self,
            name: str,
            scope_type: ScopeType | str,
            *,
            handle: ScopeHandle | None = None,
            attributes: ScopeAttributes | int | None = None,
            data: Json | None = None,
            metadata: Json | None = None,
            input: Json | None = None,
            timestamp: datetime | None = None,
            end_timestamp: datetime | None = None,
        ) -> None: ...

        def __enter__(self) -> ScopeHandle: ...

        def __exit__(
            self,
            exc_type: type[BaseException] | None,
            exc_value: BaseException | None,
            traceback: TracebackType | None,
        ) -> Literal[False]: ...

    else:
        # `with` is the hot path: the options pass through untouched (naming each one here
        # costs more than the push itself), and enter/exit resolve straight to the native
        # methods through C-level getters, with no Python frame of their own.

        def __init__(self, name, scope_type, **options):
            self._cm = _NativeScopeContext(name, scope_type, **options)

        __enter__ = property(attrgetter("_cm.__enter__"))
        __exit__ = property(attrgetter("_cm.__exit__"))

    async def __aenter__(self) -> ScopeHandle:
        return self._cm.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> Literal[False]:
        return self._cm.__exit__(exc_type, exc_value, traceback)
