"""The run viewer in a real headless Chromium: screenshot, rows and nesting in the DOM, a click
showing the payload, filters, tabs, and a 20,000-event run kept to a window of rows."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from headless_chromium import CHROMIUM, Browser
from run_samples import write_run

from nemo_flow import cli

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (scripts/apt-packages.txt)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    b = Browser()
    try:
        yield b
    finally:
        b.close()


def _rows(b: Browser, selector: str = ".row") -> list[dict[str, str]]:
    js = (
        f"[...document.querySelectorAll({json.dumps(selector)})].map(r => ({{"
        " name: r.querySelector('.name').textContent, kind: r.dataset.kind, depth: r.dataset.depth,"
        " index: r.dataset.index, parent: r.dataset.parent,"
        " failed: r.classList.contains('failed')}))"
    )
    rows: list[dict[str, str]] = b.eval(js)
    return rows


def test_viewer_shows_the_run_as_a_nested_waterfall(browser: Browser, tmp_path: Path) -> None:
    run = write_run(tmp_path / "run.jsonl", ("weather in Paris", "second question"))
    page = tmp_path / "run.html"
    assert cli.main(["view", str(run), "-o", str(page)]) == 0
    browser.open(page)

    png = browser.screenshot(tmp_path / "viewer.png")
    width, height = struct.unpack(">II", png[16:24])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and (width, height) == (1400, 900) and len(png) > 20_000

    assert browser.eval("document.querySelectorAll('#tabs button').length") == 2
    rows = _rows(browser)
    assert [(r["kind"], r["name"], r["depth"], r["failed"]) for r in rows] == [
        ("agent", "planner", "0", False),
        ("llm", "openai", "1", False),
        ("function", "research", "1", False),
        ("guardrail", "no-rm", "2", False),
        ("tool", "search", "2", False),
        ("guardrail", "no-rm", "2", False),
        ("tool", "calc", "2", True),
        ("guardrail", "no-rm", "2", True),
        ("mark", "shell", "2", True),
        ("mark", "checkpoint", "1", False),
        ("llm", "openai", "1", False),
    ]
    research = rows[2]["index"]
    assert all(r["parent"] == research for r in rows[3:9])
    # Bars are drawn to scale: the tree's root spans the whole lane.
    root_bar = browser.eval("document.querySelector('.row .bar').style.width")
    assert root_bar == "100%"

    browser.click(".row[data-kind=llm] .name")
    detail = browser.eval("document.getElementById('detail').innerText")
    assert "model\tgpt-4o-mini" in detail and "prompt tokens\t12" in detail and "cache read tokens\t4" in detail
    assert '"content": "weather in Paris"' in detail and "[redacted]" in detail and "sk-test" not in detail
    assert '"content": "search it"' in detail
    assert browser.eval("document.querySelector('.row.selected .name').textContent") == "openai"

    browser.click(".row.failed[data-kind=tool] .name")
    detail = browser.eval("document.getElementById('detail').innerText")
    assert "ZeroDivisionError: division by zero" in detail and '"expr": "1/0"' in detail
    browser.screenshot(tmp_path / "viewer-detail.png")

    browser.click("input[data-kind=guardrail]")
    assert [r["kind"] for r in _rows(browser)].count("guardrail") == 0
    browser.click("input[data-kind=guardrail]")
    browser.eval("(() => { const s = document.getElementById('search'); s.value = 'calc';"
                 " s.dispatchEvent(new Event('input')); })()")  # fmt: skip
    assert [(r["name"], r["kind"]) for r in _rows(browser)] == [
        ("planner", "agent"),
        ("research", "function"),
        ("calc", "tool"),
    ]
    assert [r["name"] for r in _rows(browser, ".row.context")] == ["planner", "research"]

    browser.click("#tabs button:nth-child(2)")
    browser.click(".row[data-kind=agent] .name")
    assert '"q": "second question"' in browser.eval("document.getElementById('detail').innerText")


def _big_run(path: Path, tools: int) -> None:
    """An agent with ``tools`` tool calls spread over scopes: 2 events per call."""
    t = 1_700_000_000_000_000
    lines = []

    def ev(kind: str, uuid: str, name: str, parent: str, phase: str, **kw: object) -> None:
        nonlocal t
        t += 7
        e = {"kind": kind, "uuid": uuid, "name": name, "parent_uuid": parent, "root_uuid": "root", "timestamp": t}
        lines.append(json.dumps({**e, "scope_category": phase, **kw}))

    ev("scope", "agent", "agent", "root", "start", category="agent")
    for s in range(tools // 100):
        ev("scope", f"s{s}", f"step {s}", "agent", "start", category="function")
        for i in range(100):
            uuid = f"t{s}-{i}"
            ev("scope", uuid, f"tool_{i % 7}", f"s{s}", "start", category="tool", data={"i": i, "pad": "x" * 40})
            ev("scope", uuid, f"tool_{i % 7}", f"s{s}", "end", category="tool", data={"ok": i})
        ev("scope", f"s{s}", f"step {s}", "agent", "end", category="function")
    ev("scope", "agent", "agent", "root", "end", category="agent")
    path.write_text("\n".join(lines) + "\n")


def test_twenty_thousand_events_render_only_a_window_of_rows(browser: Browser, tmp_path: Path) -> None:
    run = tmp_path / "big.jsonl"
    _big_run(run, 10_000)
    assert len(run.read_text().splitlines()) >= 20_000
    page = tmp_path / "big.html"
    assert cli.main(["view", str(run), "-o", str(page)]) == 0
    browser.open(page)
    assert browser.eval("document.getElementById('count').textContent") == "10101 of 10101 rows"
    in_dom = browser.eval("document.querySelectorAll('.row').length")
    assert 0 < in_dom < 200
    browser.eval("document.getElementById('scroller').scrollTop = 1e9")
    browser.wait_for("document.querySelector('.row:last-child .name').textContent === 'tool_1'")
    assert browser.eval("document.querySelectorAll('.row').length") < 200
    browser.click("#collapse")
    assert [r["name"] for r in _rows(browser)] == ["agent"]
    browser.screenshot(tmp_path / "big.png")
