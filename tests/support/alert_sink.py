"""A recording HTTP endpoint for the failure notifier's tests: a real server on 127.0.0.1 in a thread that
keeps every POST's path, headers and JSON body and answers with a chosen status."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class AlertSink:
    """What the server received, and the Airflow connection that points at it."""

    port: int
    status: int = 200
    posts: list[dict] = field(default_factory=list)

    def connection_json(self) -> str:
        """An ``http`` connection to the sink, for ``AIRFLOW_CONN_<ID>``."""
        return json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": self.port, "schema": "http"})


@contextlib.contextmanager
def alert_sink(status: int = 200) -> Iterator[AlertSink]:
    """Serve on a free port of 127.0.0.1 until the context exits."""
    sink = AlertSink(port=0, status=status)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the http.server name)
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            kind = self.headers.get("Content-Type")
            sink.posts.append({"path": self.path, "content_type": kind, "json": body})
            self.send_response(sink.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base's name)
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    sink.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
