"""A loopback stand-in for a provider's HTTP API: a stdlib server on 127.0.0.1 (a free
port) in a daemon thread that records each request and answers with the next queued reply,
JSON or server-sent events. Replies are written whole, so nothing waits on timing."""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: Any


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # many concurrent clients connect at once in the parallel tests


class ProviderStub:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._replies: deque[tuple[int, str, bytes, dict[str, str]]] = deque()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(n)
                stub.requests.append(
                    Recorded(self.path, {k.lower(): v for k, v in self.headers.items()}, json.loads(raw))
                )
                status, ctype, body, extra = (
                    stub._replies.popleft() if stub._replies else (500, "application/json", b"{}", {})
                )
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def reply_json(self, obj: Any) -> None:
        self._replies.append((200, "application/json", json.dumps(obj).encode(), {}))

    def reply_status(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        """Answer the next request with ``status`` and a JSON body (an error, say)."""
        self._replies.append((status, "application/json", json.dumps(obj).encode(), dict(headers or {})))

    def reply_sse(self, events: list[Any], *, done: bool = True, crlf: bool = False) -> None:
        nl = "\r\n" if crlf else "\n"
        frames = []
        for e in events:
            kind = e.get("type") if isinstance(e, dict) else None
            head = f"event: {kind}{nl}" if kind and not str(kind).startswith("response.") else ""
            frames.append(f"{head}data: {json.dumps(e)}{nl}{nl}")
        if done:
            frames.append(f"data: [DONE]{nl}{nl}")
        self._replies.append((200, "text/event-stream", "".join(frames).encode(), {}))

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def stub() -> Iterator[ProviderStub]:
    s = ProviderStub()
    try:
        yield s
    finally:
        s.close()
