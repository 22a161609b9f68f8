"""Helpers for mixing synchronous and asynchronous code.

Example:
    >>> from nemo_flow.utils import run_sync
    >>> async def answer():
    ...     return 42
    >>> run_sync(answer())
    42
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["run_sync"]

T = TypeVar("T")
_pool: ThreadPoolExecutor | None = None


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from synchronous code.

    With no event loop running in this thread it uses ``asyncio.run``. Inside a running loop
    (where blocking on it would deadlock) it runs the coroutine on a worker thread with a copy
    of the caller's context, so the work nests under the caller's current scope.
    """
    if not asyncio.iscoroutine(coro):
        raise TypeError(f"coro: expected a coroutine, got {type(coro).__name__}")
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="nemo-flow-run-sync")
    ctx = contextvars.copy_context()
    return _pool.submit(ctx.run, asyncio.run, coro).result()
