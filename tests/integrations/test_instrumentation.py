"""instrument / uninstrument: idempotent, exact restore of the SDKs, coexistence with another
instrumentor wrapping on top, the context manager, and instrument_all's lazy hooks."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING, Any

import anthropic
import openai
import pytest
import wrapt
from conftest import llm_events
from integration_payloads import completion

from nemo_flow import integrations
from nemo_flow.integrations import anthropic as nf_anthropic
from nemo_flow.integrations import openai as nf_openai
from nemo_flow.integrations._common import subclasses

if TYPE_CHECKING:
    from provider_stub import ProviderStub

MESSAGES = [{"role": "user", "content": "hi"}]


def sdk_state(sdk: Any) -> dict[type, dict[str, Any]]:
    """Every attribute of every client class of the SDK, as stored (not as inherited)."""
    base = sys.modules[f"{sdk.__name__}._base_client"]
    return {cls: dict(vars(cls)) for cls in subclasses(base.BaseClient)}


def call(stub: ProviderStub) -> None:
    stub.reply_json(completion())
    openai.OpenAI(base_url=stub.url + "/v1", api_key="k", max_retries=0).chat.completions.create(
        model="m", messages=MESSAGES
    )


@pytest.mark.parametrize(("sdk", "integration"), [(openai, nf_openai), (anthropic, nf_anthropic)])
def test_round_trips_leave_the_sdk_exactly_as_before(sdk: Any, integration: Any) -> None:
    before = sdk_state(sdk)
    for _ in range(3):
        integration.instrument()
        integration.instrument()
        assert integration.is_instrumented()
        assert sdk_state(sdk) != before
        integration.uninstrument()
        assert not integration.is_instrumented()
        assert sdk_state(sdk) == before
    integration.uninstrument()  # uninstrumenting twice is harmless
    assert sdk_state(sdk) == before


def test_instrument_twice_gives_one_event_per_call(stub: ProviderStub, events: list[Any]) -> None:
    nf_openai.instrument()
    nf_openai.instrument(name="renamed")
    call(stub)
    assert [e.name for e in llm_events(events)] == ["renamed", "renamed"]


def test_instrumented_context_manager(stub: ProviderStub, events: list[Any]) -> None:
    before = sdk_state(openai)
    with nf_openai.instrumented():
        call(stub)
    assert sdk_state(openai) == before
    call(stub)
    assert len(llm_events(events, "end")) == 1
    nf_openai.instrument()
    with nf_openai.instrumented():
        pass
    assert nf_openai.is_instrumented()  # it was on before the block, so it stays on


def test_shadow_left_by_another_tool_is_covered_and_restored(stub: ProviderStub, events: list[Any]) -> None:
    base = sys.modules["openai._base_client"]
    # What OpenInference's uninstrument leaves: a class attribute on OpenAI shadowing the base.
    openai.OpenAI.request = base.SyncAPIClient.request  # type: ignore[method-assign]
    try:
        before = sdk_state(openai)
        nf_openai.instrument()
        call(stub)
        assert len(llm_events(events, "end")) == 1
        nf_openai.uninstrument()
        assert sdk_state(openai) == before
    finally:
        del openai.OpenAI.request


def test_another_wrapper_on_top_keeps_working_after_uninstrument(stub: ProviderStub, events: list[Any]) -> None:
    before = sdk_state(openai)
    seen: list[str] = []

    def theirs(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        seen.append(args[1].url)
        return wrapped(*args, **kwargs)

    nf_openai.instrument()
    wrapt.wrap_function_wrapper("openai._base_client", "SyncAPIClient.request", theirs)
    base = sys.modules["openai._base_client"]
    nf_openai.uninstrument()
    call(stub)
    assert seen == ["/chat/completions"] and llm_events(events) == []  # ours is off, theirs runs
    nf_openai.instrument()  # re-enables the buried wrapper instead of stacking another
    call(stub)
    assert len(llm_events(events, "end")) == 1 and len(seen) == 2
    base.SyncAPIClient.request = base.SyncAPIClient.request.__wrapped__  # they restore theirs
    nf_openai.uninstrument()
    assert sdk_state(openai) == before


def test_openinference_on_top_and_underneath(stub: ProviderStub, events: list[Any]) -> None:
    oi = pytest.importorskip("openinference.instrumentation.openai")
    sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
    export = pytest.importorskip("opentelemetry.sdk.trace.export.in_memory_span_exporter")
    spans = export.InMemorySpanExporter()
    provider = sdk_trace.TracerProvider()
    provider.add_span_processor(pytest.importorskip("opentelemetry.sdk.trace.export").SimpleSpanProcessor(spans))
    inst = oi.OpenAIInstrumentor()
    for ours_first in (True, False):
        if ours_first:
            nf_openai.instrument()
        inst.instrument(tracer_provider=provider)
        if not ours_first:
            nf_openai.instrument()
        call(stub)
        inst.uninstrument()
        nf_openai.uninstrument()
    assert len(llm_events(events, "end")) == 2
    assert len(spans.get_finished_spans()) == 2
    call(stub)  # OpenInference's leftover shadow does not resurrect anything
    assert len(llm_events(events, "end")) == 2
    del openai.OpenAI.request, openai.AsyncOpenAI.request


def test_bad_name_is_refused_and_changes_nothing() -> None:
    before = sdk_state(openai)
    with pytest.raises(TypeError, match="name: expected a non-empty str"):
        nf_openai.instrument(name=5)  # type: ignore[arg-type]
    assert not nf_openai.is_instrumented() and sdk_state(openai) == before


def test_instrument_all_refuses_unknown_names() -> None:
    with pytest.raises(ValueError, match=r"only: unknown integration\(s\) \['nope'\]"):
        integrations.instrument_all(only=["openai", "nope"])
    assert not nf_openai.is_instrumented()


def test_instrument_all_and_uninstrument_all() -> None:
    done = integrations.instrument_all(only=["openai", "anthropic"])
    assert done == ["openai", "anthropic"]
    assert nf_openai.is_instrumented() and nf_anthropic.is_instrumented()
    integrations.uninstrument_all()
    assert not nf_openai.is_instrumented() and not nf_anthropic.is_instrumented()


def test_instrument_all_hooks_sdks_imported_later_without_importing_them() -> None:
    script = textwrap.dedent(
        """
        import sys
        import nemo_flow.integrations as nfi
        done = nfi.instrument_all(only=["openai", "anthropic"])
        assert done == ["openai", "anthropic"], done
        assert "openai" not in sys.modules and "anthropic" not in sys.modules
        import openai
        from nemo_flow.integrations import anthropic as a, openai as o
        assert o.is_instrumented() and not a.is_instrumented()
        nfi.uninstrument_all()
        import anthropic
        assert not a.is_instrumented(), "uninstrument_all cancels pending hooks"
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
