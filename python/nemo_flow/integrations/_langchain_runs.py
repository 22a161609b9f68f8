"""LangChain's run tree as nemo_flow scopes.

Each run is keyed by its ``run_id``. Runs that matter to a reader (the top-level run, LangGraph
nodes, retrievers) become *detached* scopes started under an explicit parent; every other run
(LCEL sequences, lambdas, tools, model runs) just inherits its parent's scope. Managed LLM and
tool calls look their parent up by ``parent_run_id``. Nothing is pushed on the ambient scope
stack, so parallel branches, threads and out-of-order ends cannot corrupt it.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from .. import scope
from .._native import ScopeHandle, ScopeType
from ._langchain_convert import to_json

_log = logging.getLogger("nemo_flow")

try:  # LangGraph sends interrupt/resume only to GraphCallbackHandler instances.
    from langgraph.callbacks import GraphCallbackHandler as _Base
except ImportError:  # pragma: no cover - langchain without langgraph
    _Base = BaseCallbackHandler  # type: ignore[assignment,misc]


def _is_graph_node(name: str | None, tags: list[str] | None, metadata: dict[str, Any] | None) -> bool:
    # A node's own run carries its name as `langgraph_node` and a `graph:step:N` tag; runs inside
    # the node inherit the metadata but have other names.
    return bool(
        metadata
        and name
        and metadata.get("langgraph_node") == name
        and any(t.startswith("graph:step:") for t in tags or ())
    )


class RunTree(_Base):
    """Scopes for LangChain runs, keyed by run id (thread-safe: single dict operations)."""

    run_inline = True
    raise_error = False
    # Model runs need no callback here (managed calls take their parent from the run manager);
    # skipping them saves LangChain a dispatch per model call.
    ignore_llm = True
    ignore_chat_model = True

    def __init__(self) -> None:
        super().__init__()
        self._scope_of: dict[UUID, ScopeHandle | None] = {}  # run -> the scope its children nest under
        self._own: dict[UUID, ScopeHandle] = {}  # runs that are scopes themselves

    # Queries used by the managed calls.

    def scope_for(self, run_id: UUID | None) -> ScopeHandle | None:
        """The scope a child of ``run_id`` nests under; ``None``: the ambient current scope."""
        if run_id is None:
            return None
        return self._scope_of.get(run_id)

    @property
    def open_runs(self) -> int:
        """How many runs are being tracked (0 when every run has ended)."""
        return len(self._scope_of)

    # Tracking.

    def _parent(self, parent_run_id: UUID | None) -> ScopeHandle | None:
        if parent_run_id is not None:
            found = self._scope_of.get(parent_run_id)
            if found is not None:
                return found
        return scope.get_handle()

    def _start(
        self, run_id: UUID, parent_run_id: UUID | None, name: str | None, kind: ScopeType | None, inputs: Any
    ) -> None:
        try:
            parent = self._parent(parent_run_id)
            if kind is None:
                self._scope_of[run_id] = parent
                return
            handle = scope.start_detached(
                name or "run",
                kind,
                parent=parent,
                input=to_json(inputs),
                metadata={"langchain_run_id": str(run_id)},
            )
            self._own[run_id] = handle
            self._scope_of[run_id] = handle
        except Exception:
            _log.exception("nemo_flow: could not start a scope for LangChain run %s", run_id)

    def _end(self, run_id: UUID, output: Any = None, error: BaseException | None = None) -> None:
        self._scope_of.pop(run_id, None)
        handle = self._own.pop(run_id, None)
        if handle is None:
            return
        try:
            scope.end_detached(handle, output=None if error is not None else to_json(output), error=error)
        except Exception:
            _log.exception("nemo_flow: could not end the scope of LangChain run %s", run_id)

    # Chains (graphs, nodes, LCEL).

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Start a scope for a chain run: an Agent scope for a top-level run, a Function scope
        for a LangGraph node; other chains only pass their parent on."""
        name = kwargs.get("name") or (serialized or {}).get("name")
        if parent_run_id is None or parent_run_id not in self._scope_of:
            kind: ScopeType | None = ScopeType.Agent
        elif _is_graph_node(name, tags, metadata):
            kind = ScopeType.Function
        else:
            kind = None
        self._start(run_id, parent_run_id, name, kind, inputs)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """End the chain run's scope with its outputs."""
        self._end(run_id, outputs)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """End the chain run's scope with the error."""
        self._end(run_id, error=error)

    # Tools: parents of whatever they run, not scopes (the managed tool call records them).

    def on_tool_start(
        self,
        serialized: dict[str, Any] | None,
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Track the tool run as the parent of what it runs (the managed tool call records the
        tool itself)."""
        self._start(run_id, parent_run_id, None, None, None)

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Stop tracking the tool run."""
        self._end(run_id)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Stop tracking the tool run."""
        self._end(run_id)

    # Retrievers.

    def on_retriever_start(
        self,
        serialized: dict[str, Any] | None,
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Start a Retriever scope with the query as input."""
        name = kwargs.get("name") or (serialized or {}).get("name") or "retriever"
        self._start(run_id, parent_run_id, name, ScopeType.Retriever, {"query": query})

    def on_retriever_end(self, documents: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """End the Retriever scope with the documents found."""
        self._end(run_id, [{"page_content": d.page_content, "metadata": to_json(d.metadata)} for d in documents])

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """End the Retriever scope with the error."""
        self._end(run_id, error=error)

    # LangGraph interrupt / resume.

    def on_interrupt(self, event: Any) -> None:
        """Emit a ``langgraph.interrupt`` mark with the interrupt values."""
        self._mark("langgraph.interrupt", event, interrupts=[to_json(i.value) for i in event.interrupts])

    def on_resume(self, event: Any) -> None:
        """Emit a ``langgraph.resume`` mark."""
        self._mark("langgraph.resume", event)

    def _mark(self, name: str, event: Any, **extra: Any) -> None:
        try:
            data = {
                "status": event.status,
                "checkpoint_id": event.checkpoint_id,
                "checkpoint_ns": list(event.checkpoint_ns),
                **extra,
            }
            scope.event(name, handle=self.scope_for(event.run_id) or scope.get_handle(), data=data)
        except Exception:
            _log.exception("nemo_flow: could not record %s", name)
