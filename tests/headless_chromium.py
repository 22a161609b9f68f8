"""A small Chrome DevTools Protocol driver for Debian's headless ``chromium``: open a page,
evaluate JavaScript, click at an element's centre with real mouse events, take a screenshot.
Nothing is downloaded; the browser talks to us over a loopback WebSocket."""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    def __init__(self, width: int = 1400, height: int = 900) -> None:
        if CHROMIUM is None:
            raise RuntimeError("chromium is not installed (scripts/apt-packages.txt)")
        self._profile = tempfile.TemporaryDirectory(prefix="nemo-flow-chromium-")
        self._proc = subprocess.Popen(
            [
                CHROMIUM,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-extensions",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                f"--user-data-dir={self._profile.name}",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._ids = itertools.count(1)
        self._ws = self._connect()
        target = self._call("Target.createTarget", url="about:blank")["targetId"]
        self._session = self._call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.send("Page.enable")
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)

    def _connect(self) -> ClientConnection:
        assert self._proc.stderr is not None
        for line in self._proc.stderr:  # chromium prints the endpoint once it listens
            if line.startswith("DevTools listening on "):
                stderr = self._proc.stderr  # keep draining so chromium never blocks on a full pipe
                self._drain = threading.Thread(target=stderr.read, daemon=True)
                self._drain.start()
                return connect(line.split(" ", 3)[3].strip(), max_size=None, open_timeout=30, proxy=None, legacy=True)
        raise RuntimeError(f"chromium exited before listening (status {self._proc.wait()})")

    def _call(self, method: str, session: str | None = None, **params: Any) -> Any:
        msg_id = next(self._ids)
        msg: dict[str, Any] = {"id": msg_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        self._ws.send(json.dumps(msg))
        while True:
            reply = json.loads(self._ws.recv(timeout=60))
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self._last_event = reply

    def send(self, method: str, **params: Any) -> Any:
        return self._call(method, self._session, **params)

    def open(self, path: Path) -> None:
        """Navigate and wait until the page's load event has fired."""
        url = path.resolve().as_uri()
        self.send("Page.navigate", url=url)
        # Page.navigate may return while the previous document is still current.
        self.wait_for(f"location.href === {json.dumps(url)} && document.readyState === 'complete'")

    def eval(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"JavaScript failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, condition: str) -> None:
        """Wait (on the page's own animation frames, up to 30 s) until ``condition`` is true."""
        ok = self.eval(
            "new Promise((resolve) => { const t0 = performance.now(); const tick = () => {"
            f" if ({condition}) resolve(true); else if (performance.now() - t0 > 30000) resolve(false);"
            " else requestAnimationFrame(tick); }; tick(); })"
        )
        if not ok:
            raise TimeoutError(f"page never satisfied: {condition}")

    def click(self, selector: str) -> None:
        """A real left click at the centre of the first element matching ``selector``."""
        box = self.eval(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect();"
            " return [r.left + r.width / 2, r.top + r.height / 2]; })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def screenshot(self, path: Path) -> bytes:
        data = base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"])
        path.write_bytes(data)
        return data

    def close(self) -> None:
        try:
            self._ws.close()
        finally:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            # The drain thread ends at EOF once chromium is gone; then the pipe can be closed.
            drain = getattr(self, "_drain", None)
            if drain is not None:
                drain.join(timeout=10)
            if self._proc.stderr is not None:
                self._proc.stderr.close()
            self._profile.cleanup()
