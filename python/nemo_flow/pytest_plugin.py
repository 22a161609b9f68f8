"""pytest fixtures for offline, deterministic agent tests (loaded automatically through the
``pytest11`` entry point when nemo_flow is installed; otherwise add
``pytest_plugins = ["nemo_flow.pytest_plugin"]`` to your ``conftest.py``).

    def test_agent(nemo_flow_replay):
        nemo_flow_replay("tests/runs/happy_path.jsonl")   # strict by default
        assert run_agent("...") == "..."

Record the file once with ``nemo_flow_record(path)`` (or ``nemo-flow record``); both stop at
the end of the test.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from .replay import Mode, Recording, Replay, record, replay


@pytest.fixture
def nemo_flow_replay() -> Iterator[Callable[..., Replay]]:
    """A function ``(path, mode="strict") -> Replay``; the replay stops when the test ends."""
    active: list[Replay] = []

    def start(path: str | os.PathLike[str], mode: Mode = "strict") -> Replay:
        r = replay(path, mode)
        active.append(r)
        return r

    yield start
    for r in reversed(active):
        r.stop()


@pytest.fixture
def nemo_flow_record() -> Iterator[Callable[..., Recording]]:
    """A function ``(path) -> Recording``; the recording is written out when the test ends."""
    active: list[Recording] = []

    def start(path: str | os.PathLike[str], *, stream_chunks: bool = True) -> Recording:
        r = record(path, stream_chunks=stream_chunks)
        active.append(r)
        return r

    yield start
    for r in reversed(active):
        r.stop()
