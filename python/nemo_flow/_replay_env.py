"""Imported by ``nemo_flow/__init__``: starts a replay or recording when the environment asks
for one (``nemo-flow replay RUN.jsonl -- cmd`` sets it). Costs one environment lookup otherwise."""

from __future__ import annotations

import os

ACTIVE: object = None
"""The replay or recording the environment started, if any."""

if os.environ.get("NEMO_FLOW_REPLAY") or os.environ.get("NEMO_FLOW_RECORD"):
    from .replay import _from_environment

    ACTIVE = _from_environment()
