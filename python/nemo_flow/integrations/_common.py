"""What every integration shares.

``IN_MANAGED_CALL`` is set only around the provider callback of a managed call, so an SDK
reached from inside another integration's managed call (LiteLLM calling the OpenAI SDK,
LangChain calling either) passes straight through: one event per logical call.
"""

from __future__ import annotations

from contextvars import ContextVar

IN_MANAGED_CALL: ContextVar[bool] = ContextVar("nemo_flow_in_managed_call", default=False)
"""True while an integration's managed call is running the provider's own code."""
