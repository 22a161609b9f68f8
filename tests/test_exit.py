"""Interpreter exit while daemon threads run managed calls whose callbacks enter Python:
the process exits cleanly (before the fix, CPython ended those threads inside the
extension's frames and the process aborted with exit code 134 in most runs)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

REPRODUCER = textwrap.dedent(
    """
    import sys
    import threading

    import nemo_flow
    from nemo_flow import guardrails, tools

    if sys.argv[1] == "subscriber":
        nemo_flow.subscribers.register("count", lambda event: None)
    else:
        guardrails.register_tool_conditional_execution("allow", 1, lambda name, args: None)
    started = threading.Barrier(3)


    def loop() -> None:
        started.wait()
        while True:
            tools.execute_sync("t", {"a": 1}, lambda args: args)


    for _ in range(2):
        threading.Thread(target=loop, daemon=True).start()
    started.wait()
    sys.exit(0)
    """
)


@pytest.mark.parametrize("callback", ["subscriber", "conditional_guardrail"])
def test_sys_exit_with_daemon_threads_in_calls_exits_zero(callback: str) -> None:
    codes = [
        subprocess.run(
            [sys.executable, "-c", REPRODUCER, callback], capture_output=True, timeout=60, check=False
        ).returncode
        for _ in range(20)
    ]
    assert codes == [0] * 20
