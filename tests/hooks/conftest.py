"""Fixtures shared by the hook tests: a real local HTTP server that answers from a script.

``scripted_server`` binds 127.0.0.1 on an ephemeral port and records every request it gets
(method, path, query, headers, body). Each answer comes from the queue given to ``.reply(...)``
(first in, first out; the last one repeats) or from a function given to ``.route(...)``. An answer
can be delayed (a hang, for client timeouts) or dropped (the socket closed with no answer).
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from orderflow.hooks._http import RateLimiter


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None

    def json(self) -> Any:
        return json.loads(self.body)

    def multipart(self) -> dict[str, tuple[str, str]]:
        """Form parts as ``{name: (content type, text)}``."""
        ctype = self.header("Content-Type") or ""
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + self.body
        )
        parts: dict[str, tuple[str, str]] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            parts[str(name)] = (part.get_content_type(), part.get_payload(decode=True).decode())
        return parts


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list -> JSON; str/bytes as is; None -> empty
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (a hang, when longer than the client's timeout)
    drop: bool = False  # close the connection without any answer

    def encoded(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        if isinstance(self.body, dict | list):
            headers.setdefault("Content-Type", "application/json")
            return json.dumps(self.body).encode(), headers
        if isinstance(self.body, str):
            headers.setdefault("Content-Type", "application/json")
            return self.body.encode(), headers
        return self.body or b"", headers


class ScriptedServer:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._replies: list[Reply] = [Reply(200, {})]
        self._router: Callable[[Recorded], Reply] | None = None
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                recorded = Recorded(
                    self.command,
                    parts.path,
                    parse_qs(parts.query, keep_blank_values=True),
                    {k: v for k, v in self.headers.items()},
                    body,
                )
                reply = outer._next(recorded)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.drop:
                    self.close_connection = True
                    return
                payload, headers = reply.encoded()
                self.send_response(reply.status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_PUT = do_POST = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False  # a hung handler must not block the test's teardown
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def _next(self, recorded: Recorded) -> Reply:
        with self._lock:
            self.requests.append(recorded)
            if self._router is not None:
                return self._router(recorded)
            return self._replies.pop(0) if len(self._replies) > 1 else self._replies[0]

    def reply(self, *replies: Reply) -> ScriptedServer:
        """Answer the next requests with ``replies`` in order; the last one repeats."""
        with self._lock:
            self._replies = list(replies)
            self._router = None
        return self

    def route(self, router: Callable[[Recorded], Reply]) -> ScriptedServer:
        with self._lock:
            self._router = router
        return self

    @property
    def last(self) -> Recorded:
        return self.requests[-1]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def scripted_server() -> Iterator[ScriptedServer]:
    server = ScriptedServer()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def _fresh_rate_limiters() -> Iterator[None]:
    """Rate limiters are process-wide by design; tests must not inherit each other's windows."""
    RateLimiter.reset_all()
    yield
    RateLimiter.reset_all()
