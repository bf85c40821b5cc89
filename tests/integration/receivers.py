"""Notification receivers on 127.0.0.1 for the operator to post to, as a team's own endpoint would be.

`Webhook` records every request and checks its signature the way a receiver should, before it trusts the
body: a post signed with another key gets 401. `unanswered_port` and `closed_port` stand for receivers
that are down: one accepts connections and never answers, the other refuses them.
"""

from __future__ import annotations

import collections.abc
import contextlib
import dataclasses
import http.server
import json
import socket
import threading
from typing import Any

from releaseguard.notify import payloads


@dataclasses.dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    """What the receiver answered."""

    def json(self) -> Any:
        return json.loads(self.body)


class Webhook:
    """A threaded HTTP server that answers 204 to posts signed with `key` and 401 to any other."""

    def __init__(self, *, key: bytes) -> None:
        self.key = key
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        port: int = self._server.server_address[1]
        return port

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def received(self) -> list[Request]:
        with self._lock:
            return list(self.requests)

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                signature = self.headers.get(payloads.SIGNATURE_HEADER) or ""
                status = 204 if payloads.verify(body, key=receiver.key, header=signature) else 401
                with receiver._lock:
                    receiver.requests.append(
                        Request(path=self.path, headers=dict(self.headers.items()), body=body, status=status)
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # pytest shows what matters through assertions, not a request log on stderr

        return Handler

    def __enter__(self) -> Webhook:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


@contextlib.contextmanager
def unanswered_port() -> collections.abc.Iterator[int]:
    """A port whose connections the kernel completes (listen backlog) but nobody ever reads or answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        port: int = sock.getsockname()[1]
        yield port


def closed_port() -> int:
    """A port nothing listens on: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
