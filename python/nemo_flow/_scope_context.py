"""``scope.scope(...)``: one context manager for ``with`` and ``async with``.

The native context manager does the work (push on enter, pop on exit, an exception leaving
the block recorded on the end event); this class only adds the asynchronous protocol. Both
protocols run the same synchronous steps, in the task that enters the block.
"""

from __future__ import annotations

from datetime import datetime
from types import TracebackType
from typing import Literal

from ._native import ScopeAttributes, ScopeHandle, ScopeType
from ._native import ScopeContext as _NativeScopeContext
from ._types import Json


class ScopeContext:
    """Context manager returned by ``scope.scope()``: pushes a child scope on enter (the
    handle is the ``as`` target) and pops it on exit. Works with ``with`` and ``async with``.

    An exception leaving the block is recorded on the scope's end event and propagates. The
    arguments are checked at construction; a context manager can be entered once.
    """

    __slots__ = ("_cm",)

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
    ) -> None:
        self._cm = _NativeScopeContext(
            name,
            scope_type,
            handle=handle,
            attributes=attributes,
            data=data,
            metadata=metadata,
            input=input,
            timestamp=timestamp,
            end_timestamp=end_timestamp,
        )

    def __enter__(self) -> ScopeHandle:
        return self._cm.__enter__()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> Literal[False]:
        return self._cm.__exit__(exc_type, exc_value, traceback)

    async def __aenter__(self) -> ScopeHandle:
        return self._cm.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> Literal[False]:
        return self._cm.__exit__(exc_type, exc_value, traceback)
