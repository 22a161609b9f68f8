"""Fixtures for the provider integrations: a loopback stub (real SDKs, real HTTP on 127.0.0.1),
LLM events split by phase, and every integration switched off again after each test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from nemo_flow import integrations

# LiteLLM fetches a model price map over the network when imported, unless told not to.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture(autouse=True)
def _uninstrumented() -> Iterator[None]:
    yield
    integrations.uninstrument_all()


def llm_events(events: list[Any], phase: str | None = None) -> list[Any]:
    """The LLM scope events (``phase``: ``"start"`` or ``"end"``), in order."""
    return [
        e for e in events if e.kind == "scope" and e.category == "llm" and (phase is None or e.scope_category == phase)
    ]


def chunk_marks(events: list[Any]) -> list[Any]:
    return [e for e in events if e.kind == "mark" and e.name.endswith("chunk")]
