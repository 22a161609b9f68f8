"""LangChain and LangGraph: every chat-model call a managed LLM call, every tool run a managed
tool call, the run tree as scopes.

``instrument()`` patches ``BaseChatModel`` (``_generate_with_cache``, ``_agenerate_with_cache``,
``stream``, ``astream``) and ``BaseTool`` (``run``, ``arun``), and adds one callback handler to
every LangChain run through ``register_configure_hook``. Requests are OpenAI-chat shaped
(messages, tools, tool_choice, stop, call parameters) so the built-in ``OpenAIChatCodec``
applies and intercepts can edit messages and tools. The top-level run becomes an Agent scope,
LangGraph nodes Function scopes and retrievers Retriever scopes, each started with an explicit
parent and never pushed on the ambient stack; interrupts and resumes become marks.

Two explicit, patch-free options: :class:`NemoFlowCallbackHandler` (observe only) and
``NemoFlowMiddleware`` (an ``AgentMiddleware`` for ``create_agent``).

A chat model and a tool, both managed while instrumented (a fake chat model, so the example
runs offline):

    >>> from langchain_core.language_models import GenericFakeChatModel
    >>> from langchain_core.messages import AIMessage
    >>> from langchain_core.tools import tool
    >>> from nemo_flow import intercepts
    >>> from nemo_flow.integrations import langchain as nf_langchain
    >>> @tool
    ... def add(a: int, b: int) -> int:
    ...     'Add two numbers.'
    ...     return a + b
    >>> def double_b(name, args):
    ...     return {**args, "b": args["b"] * 2}
    >>> intercepts.register_tool_request("doc-double", 0, False, double_b)
    >>> model = GenericFakeChatModel(messages=iter([AIMessage("Paris")]))
    >>> with nf_langchain.instrumented():
    ...     print(nf_langchain.is_instrumented(), model.invoke("Capital of France?").content)
    ...     print(add.invoke({"a": 1, "b": 2}))  # the intercept doubled b
    True Paris
    5
    >>> add.invoke({"a": 1, "b": 2}), nf_langchain.is_instrumented()
    (3, False)
    >>> intercepts.deregister_tool_request("doc-double")
    True
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.tools import BaseTool

from .. import llm, tools
from .._native import LLMHandle, LLMRequest, ToolHandle
from . import _langchain_calls as calls
from . import _langchain_convert as cv
from ._langchain_runs import RunTree

if TYPE_CHECKING:
    from ._langchain_middleware import NemoFlowMiddleware

__all__ = [
    "NemoFlowCallbackHandler",
    "NemoFlowMiddleware",
    "instrument",
    "instrumented",
    "is_instrumented",
    "uninstrument",
]

_log = logging.getLogger("nemo_flow")
_MISSING = object()
_WRAPPED = "__nemo_flow_langchain__"

_PATCHES: tuple[tuple[type, str, Callable[[Any], Any]], ...] = (
    (BaseChatModel, "_generate_with_cache", calls.patched_generate),
    (BaseChatModel, "_agenerate_with_cache", calls.patched_agenerate),
    (BaseChatModel, "stream", calls.patched_stream),
    (BaseChatModel, "astream", calls.patched_astream),
    (BaseTool, "run", calls.patched_run),
    (BaseTool, "arun", calls.patched_arun),
)
# (owner, attr) -> (our wrapper, what owner.__dict__ held before)
_installed: dict[tuple[type, str], tuple[Any, Any]] = {}


class _HandlerSlot:
    """Stands in for the ContextVar ``register_configure_hook`` expects: LangChain asks it for a
    handler on every run, from every thread, and it answers only while instrumented."""

    def get(self) -> RunTree | None:
        return calls.SETTINGS.runs if calls.SETTINGS.enabled else None


_SLOT = _HandlerSlot()
_HOOK: Any = (_SLOT, True, None, None)


def instrument(*, name: str | None = None, prefer: Literal["langchain", "sdk"] = "langchain") -> None:
    """Manage every LangChain chat-model call and tool run from now on (idempotent).

    ``name``: the LLM call name recorded on events (default: the chat model's class name).
    ``prefer="sdk"``: for chat models whose SDK has its own nemo_flow integration turned on
    (``ChatOpenAI``, ``ChatAnthropic``, ...), let that integration record the exact provider
    body instead; by default the LangChain layer records the call and the SDK layer below it
    passes through, so each call is one LLM event either way.
    """
    if name is not None and (not isinstance(name, str) or not name):
        raise TypeError(f"name: expected a non-empty str or None, got {name!r}")
    if prefer not in ("langchain", "sdk"):
        raise ValueError(f"prefer: expected 'langchain' or 'sdk', got {prefer!r}")
    settings = calls.SETTINGS
    settings.name = name
    settings.prefer = prefer
    if settings.runs is None:
        settings.runs = RunTree()
    for owner, attr, factory in _PATCHES:
        if (owner, attr) in _installed:
            continue  # still in place (possibly under someone else's wrapper)
        prior = owner.__dict__.get(attr, _MISSING)
        wrapper = factory(getattr(owner, attr))
        setattr(wrapper, _WRAPPED, True)
        wrapper.__name__ = attr
        wrapper.__qualname__ = f"{owner.__name__}.{attr}"
        setattr(owner, attr, wrapper)
        _installed[(owner, attr)] = (wrapper, prior)
    from langchain_core.tracers.context import _configure_hooks, register_configure_hook

    if _HOOK not in _configure_hooks:
        register_configure_hook(_SLOT, True)  # type: ignore[arg-type]
    _hook_graph_callbacks()
    settings.enabled = True


def uninstrument() -> None:
    """Undo :func:`instrument`: restore each patched attribute exactly; one that someone else
    wrapped on top of ours stays in place and passes straight through."""
    settings = calls.SETTINGS
    settings.enabled = False
    for key, (wrapper, prior) in list(_installed.items()):
        owner, attr = key
        if owner.__dict__.get(attr) is not wrapper:
            continue  # wrapped over: leave it, disabled
        if prior is _MISSING:
            delattr(owner, attr)
        else:
            setattr(owner, attr, prior)
        del _installed[key]
    from langchain_core.tracers.context import _configure_hooks

    while _HOOK in _configure_hooks:
        _configure_hooks.remove(_HOOK)
    _unhook_graph_callbacks()


def is_instrumented() -> bool:
    """Whether :func:`instrument` is in effect."""
    return calls.SETTINGS.enabled


@contextmanager
def instrumented(*, name: str | None = None, prefer: Literal["langchain", "sdk"] = "langchain") -> Iterator[None]:
    """``instrument()`` for the duration of a ``with`` block (restores the previous state)."""
    was = is_instrumented()
    instrument(name=name, prefer=prefer)
    try:
        yield
    finally:
        if not was:
            uninstrument()


# LangGraph hands interrupt/resume events only to handlers in the graph's own config, which
# the configure hook does not reach: add the run tree to those managers too.
_graph_originals: dict[str, Any] = {}


def _hook_graph_callbacks() -> None:
    try:
        from langgraph.pregel import main as pregel_main
    except ImportError:
        return
    for fname in ("get_sync_graph_callback_manager_for_config", "get_async_graph_callback_manager_for_config"):
        current = getattr(pregel_main, fname, None)
        if current is None or fname in _graph_originals:
            continue
        _graph_originals[fname] = current

        def with_run_tree(config: Any, *args: Any, _orig: Any = current, **kwargs: Any) -> Any:
            manager = _orig(config, *args, **kwargs)
            runs = _SLOT.get()
            if runs is not None and not any(h is runs for h in manager.handlers):
                manager.add_handler(runs, True)
            return manager

        setattr(pregel_main, fname, with_run_tree)


def _unhook_graph_callbacks() -> None:
    try:
        from langgraph.pregel import main as pregel_main
    except ImportError:
        return
    for fname, original in list(_graph_originals.items()):
        setattr(pregel_main, fname, original)
        del _graph_originals[fname]


class NemoFlowCallbackHandler(RunTree):
    """Observe-only alternative to :func:`instrument` for code that cannot be patched: pass it
    in ``config={"callbacks": [NemoFlowCallbackHandler()]}``.

    Records the run tree as scopes, chat-model runs as LLM start/end events and tool runs as
    tool start/end events. It observes, so middleware cannot change requests or results; use
    :func:`instrument` for that. While :func:`instrument` is on, it does nothing (no double
    events).
    """

    ignore_llm = False
    ignore_chat_model = False

    def __init__(self) -> None:
        super().__init__()
        self._llm: dict[UUID, LLMHandle] = {}
        self._tool: dict[UUID, ToolHandle] = {}

    def _active(self) -> bool:
        return not calls.SETTINGS.enabled

    # While instrument() is on, its own run tree records everything: stay silent.

    def _start(self, *args: Any) -> None:
        if self._active():
            super()._start(*args)

    def _mark(self, name: str, event: Any, **extra: Any) -> None:
        if self._active():
            super()._mark(name, event, **extra)

    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Start an LLM call for the chat-model run ``run_id`` (OpenAI-chat shaped request),
        under the scope of ``parent_run_id``."""
        if not self._active():
            return
        try:
            params = kwargs.get("invocation_params") or {}
            model = params.get("model") or params.get("model_name") or kwargs.get("name") or params.get("_type")
            model_name = str(model or (serialized or {}).get("name") or "chat_model")
            content = cv.request_content(model_name, messages[0] if messages else [], params.get("stop"), {})
            if params.get("tools"):
                content["tools"] = [t for t in params["tools"] if cv.is_json(t)]
            self._llm[run_id] = llm.call(
                calls.SETTINGS.name or (serialized or {}).get("name") or model_name,
                LLMRequest({}, content),
                handle=self._parent(parent_run_id),
                model_name=model_name,
                metadata={"framework": "langchain"},
            )
        except Exception:
            _log.exception("nemo_flow: could not record a LangChain chat-model start")

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """End the LLM call of ``run_id`` with the model's response."""
        handle = self._llm.pop(run_id, None)
        if handle is None:
            return
        try:
            from langchain_core.outputs import ChatResult

            gens = [g for g in (response.generations[0] if response.generations else []) if hasattr(g, "message")]
            body = cv.result_json(handle.name, ChatResult(generations=gens))
            llm.call_end(handle, body, response_codec=calls._CODEC)
        except Exception:
            _log.exception("nemo_flow: could not record a LangChain chat-model end")

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """End the LLM call of ``run_id`` with the error as its output."""
        handle = self._llm.pop(run_id, None)
        if handle is not None:
            llm.call_end(handle, {"error": {"type": type(error).__name__, "message": str(error)}})

    def on_tool_start(self, serialized: dict[str, Any] | None, input_str: str, **kwargs: Any) -> None:
        """Start a tool call for the tool run (arguments from ``inputs``, else ``input_str``)."""
        if not self._active():
            return
        super().on_tool_start(serialized, input_str, **kwargs)
        try:
            inputs = kwargs.get("inputs")
            args = cv.split_tool_input(inputs)[0] if inputs is not None else input_str
            self._tool[kwargs["run_id"]] = tools.call(
                kwargs.get("name") or (serialized or {}).get("name") or "tool",
                args,
                handle=self._parent(kwargs.get("parent_run_id")),
                tool_call_id=kwargs.get("tool_call_id"),
                metadata={"framework": "langchain"},
            )
        except Exception:
            _log.exception("nemo_flow: could not record a LangChain tool start")

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """End the tool call of ``run_id`` with the tool's output."""
        super().on_tool_end(output, run_id=run_id, **kwargs)
        handle = self._tool.pop(run_id, None)
        if handle is not None:
            tools.call_end(handle, cv.tool_result_json(output))

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """End the tool call of ``run_id`` with the error as its output."""
        super().on_tool_error(error, run_id=run_id, **kwargs)
        handle = self._tool.pop(run_id, None)
        if handle is not None:
            tools.call_end(handle, {"error": {"type": type(error).__name__, "message": str(error)}})


def __getattr__(name: str) -> Any:
    # NemoFlowMiddleware needs `langchain` (create_agent), not only langchain-core.
    if name == "NemoFlowMiddleware":
        from ._langchain_middleware import NemoFlowMiddleware

        return NemoFlowMiddleware
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
