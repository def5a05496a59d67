"""A tiny fault-injecting HTTP proxy for the provider's retry tests.

It listens on 127.0.0.1 in a background thread and forwards GET requests to the real API, except for the
requests it was told to break. Faults are queued per path and consumed one per request (``None`` = pass
through); a fault set with :meth:`FaultProxy.always` applies to every request of its path.

Faults: ``"500"``/``"503"`` (JSON error), ``"429"`` or ``"429:<seconds>"`` (with ``Retry-After``), ``"reset"``
(TCP reset before any response), ``"stall"`` (no answer until the proxy closes, at most ``stall_seconds``,
then reset), ``"stall_body"`` (headers and half the body, then the same silence), ``"truncate"`` (half the
body, then reset), ``"drop_total"`` and ``"total+1"`` (rewrite the JSON ``total``), ``"401"``/``"400"``
(credentials/request refused), and, to make data "appear" later, ``"empty"`` (``/ratings`` answers an empty
page) and ``"no_newest"`` (``/health`` answers no newest rating, so every window looks open).
"""

from __future__ import annotations

import collections
import contextlib
import json
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import requests


@dataclass(frozen=True)
class Seen:
    """One request the proxy received."""

    path: str
    query: dict[str, list[str]]
    fault: str | None
    client: tuple[str, int]
    at: float = field(default_factory=time.time)  # when it arrived (epoch seconds)


class FaultProxy:
    """See the module docstring. Use as a context manager."""

    def __init__(self, upstream: str, *, stall_seconds: float = 120.0) -> None:
        self.upstream = upstream.rstrip("/")
        # A stall outlasts any client timeout (no race between the two on a loaded machine) and ends when
        # the proxy closes.
        self.stall_seconds = stall_seconds
        self._released = threading.Event()
        self.seen: list[Seen] = []
        self._queued: dict[str, collections.deque[str | None]] = collections.defaultdict(collections.deque)
        self._always: dict[str, str] = {}
        self._lock = threading.Lock()
        self._upstream = threading.local()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self._server.handle_error = lambda request, client_address: None  # resets are the point
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def inject(self, path: str, *faults: str | None) -> None:
        """Queue faults for the next requests to ``path`` (one per request; ``None`` passes through)."""
        with self._lock:
            self._queued[path].extend(faults)

    def always(self, path: str, fault: str | None) -> None:
        """Apply ``fault`` to every request to ``path`` once its queue is empty (``None`` to stop)."""
        with self._lock:
            if fault is None:
                self._always.pop(path, None)
            else:
                self._always[path] = fault

    def requests_to(self, path: str) -> list[Seen]:
        with self._lock:
            return [seen for seen in self.seen if seen.path == path]

    def _take(self, path: str, query: dict[str, list[str]], client: tuple[str, int]) -> str | None:
        with self._lock:
            queue = self._queued[path]
            fault = queue.popleft() if queue else self._always.get(path)
            self.seen.append(Seen(path, query, fault, client))
            return fault

    def _forward(self, path_and_query: str, headers: dict[str, str]) -> requests.Response:
        session = getattr(self._upstream, "session", None)
        if session is None:
            session = self._upstream.session = requests.Session()
        return session.get(self.upstream + path_and_query, headers=headers, timeout=30)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _make_handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, so "one session" is observable per client port

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            fault = proxy._take(parts.path, parse_qs(parts.query), self.client_address)
            if fault in ("reset", "stall"):
                if fault == "stall":
                    proxy._released.wait(proxy.stall_seconds)
                self._reset()
            elif fault in ("500", "503", "401", "400"):
                self._send(int(fault), {"error": f"injected {fault}"})
            elif fault is not None and fault.startswith("429"):
                seconds = fault.partition(":")[2] or "1"
                self._send(429, {"error": "injected 429"}, {"Retry-After": seconds})
            else:
                self._forward(fault)

        def _forward(self, fault: str | None) -> None:
            auth = self.headers.get("Authorization")
            upstream = proxy._forward(self.path, {"Authorization": auth} if auth else {})
            body = upstream.content
            if fault in ("drop_total", "total+1", "empty", "no_newest"):
                payload = json.loads(body)
                if fault == "drop_total":
                    payload.pop("total", None)
                elif fault == "total+1":
                    payload["total"] += 1
                elif fault == "empty":
                    payload.update(result=[], total=0)
                else:
                    payload["last_rating_timestamp"] = None
                body = json.dumps(payload).encode()
            extra = {k: v for k, v in upstream.headers.items() if k.lower() == "www-authenticate"}
            if fault in ("truncate", "stall_body"):
                self._head(upstream.status_code, len(body), extra)
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                if fault == "stall_body":
                    proxy._released.wait(proxy.stall_seconds)
                self._reset()
            else:
                self._head(upstream.status_code, len(body), extra)
                self.wfile.write(body)

        def _send(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
            body = json.dumps(payload).encode()
            self._head(status, len(body), headers or {})
            self.wfile.write(body)

        def _head(self, status: int, length: int, headers: dict[str, str]) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(length))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()

        def _reset(self) -> None:
            """Abort the TCP connection with a RST (SO_LINGER 0), as a crashed server or middlebox would."""
            with contextlib.suppress(OSError):
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            self.close_connection = True

    return Handler
