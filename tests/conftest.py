"""Shared fixtures: every test starts with no global registrations and no current scope."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from otlp_receivers import OtlpHttpReceiver

import nemo_flow
from nemo_flow import _native

# The loopback provider stub fixture (`stub`), registered here so that it is a plugin before
# any test module imports it.
pytest_plugins = ["provider_stub"]


@pytest.fixture(autouse=True)
def _isolated_runtime() -> Iterator[None]:
    token = _native._scope_var.set(None)
    try:
        yield
    finally:
        _native.clear_global()
        _native._scope_var.reset(token)


@pytest.fixture
def events() -> list[Any]:
    """Every event emitted during the test, in delivery order."""
    seen: list[Any] = []
    nemo_flow.subscribers.register("test-events", seen.append)
    return seen


@pytest.fixture
def receiver() -> Iterator[OtlpHttpReceiver]:
    """A loopback OTLP/HTTP receiver, stopped after the test."""
    r = OtlpHttpReceiver()
    yield r
    r.stop()
