"""AsyncTransport (the trigger's) against Transport (the hook's): same requests, same answers, same errors.

Both talk to a real local HTTP server that answers canned responses and records the headers it received.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from airflow_movielens.connection import HookSettings
from airflow_movielens.exceptions import (
    MovielensAuthError,
    MovielensError,
    MovielensRequestError,
    MovielensResponseError,
    MovielensUnavailableError,
)
from airflow_movielens.transport import AsyncTransport, Transport, build_session
from tests.support.live_api import free_port

AUTH = ("reader", "secret")

#: path -> (status, reason, body); "/stall" answers after STALL seconds.
ANSWERS = {
    "/ok": (200, "OK", '{"result": [], "total": 0}'),
    "/json-error": (400, "Bad Request", '{"error": "bad date"}'),
    "/json-no-error": (400, "Bad Request", '{"detail": "x"}'),
    "/long-text": (404, "Not Found", "  " + "e" * 400 + "  "),
    "/empty": (410, "Gone Fishing", ""),
    "/unauthorized": (401, "Unauthorized", '{"error": "no"}'),
    "/forbidden": (403, "Forbidden", ""),
    "/unavailable": (503, "Service Unavailable", '{"error": "loading"}'),
    "/too-many": (429, "Too Many Requests", '{"error": "slow down"}'),
    "/html": (200, "OK", "<html>"),
    "/list": (200, "OK", "[1, 2]"),
}
STALL = 2.0


class _Canned(BaseHTTPRequestHandler):
    seen: list[dict[str, str]] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        path = self.path.partition("?")[0]
        type(self).seen.append({name: self.headers.get(name, "") for name in ("Accept", "User-Agent")})
        type(self).seen[-1]["Authorization"] = self.headers.get("Authorization", "")
        if path == "/stall":
            time.sleep(STALL)
            path = "/ok"
        status, reason, body = ANSWERS[path]
        data = body.encode()
        self.send_response(status, reason)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Canned)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def settings(base_url: str, read_timeout: float = 5.0) -> HookSettings:
    return HookSettings(base_url, (2.0, read_timeout), 0, 0.0, 10)


def sync_get(url: str, read_timeout: float = 5.0) -> dict | MovielensError:
    transport = Transport(build_session(AUTH), "ml_unit", settings(url, read_timeout), 0.0, lambda _: None)
    try:
        return transport.get_json(url, {"limit": 1})
    except MovielensError as err:
        return err


def async_get(url: str, read_timeout: float = 5.0) -> dict | MovielensError:
    async def get() -> dict:
        async with AsyncTransport("ml_unit", settings(url, read_timeout), AUTH) as transport:
            return await transport.get_json(url, {"limit": 1})

    try:
        return asyncio.run(get())
    except MovielensError as err:
        return err


def fields(error: MovielensError) -> tuple:
    return type(error), error.message, error.status_code, error.url


def test_both_send_the_same_headers_and_auth_and_read_the_same_object(server):
    _Canned.seen.clear()
    assert sync_get(f"{server}/ok") == async_get(f"{server}/ok") == {"result": [], "total": 0}
    sync_headers, async_headers = _Canned.seen
    assert sync_headers == async_headers
    assert sync_headers["Accept"] == "application/json"
    assert sync_headers["User-Agent"] == "airflow-movielens"
    assert sync_headers["Authorization"].startswith("Basic ")


@pytest.mark.parametrize(
    ("path", "kind", "message"),
    [
        ("/json-error", MovielensRequestError, "HTTP 400 from {url}: bad date"),
        ("/json-no-error", MovielensRequestError, 'HTTP 400 from {url}: {{"detail": "x"}}'),
        ("/long-text", MovielensRequestError, "HTTP 404 from {url}: " + "e" * 300),
        ("/empty", MovielensRequestError, "HTTP 410 from {url}: Gone Fishing"),
        (
            "/unauthorized",
            MovielensAuthError,
            "authentication failed for connection 'ml_unit' (HTTP 401 from {url})",
        ),
        (
            "/forbidden",
            MovielensAuthError,
            "authentication failed for connection 'ml_unit' (HTTP 403 from {url})",
        ),
        ("/html", MovielensResponseError, "{url} answered HTTP 200 with a body that is not a JSON object"),
        ("/list", MovielensResponseError, "{url} answered HTTP 200 with a body that is not a JSON object"),
    ],
)
def test_a_rejected_request_or_a_broken_answer_is_the_same_error_sync_and_async(server, path, kind, message):
    sync_error, async_error = sync_get(f"{server}{path}"), async_get(f"{server}{path}")
    url = f"{server}{path}?limit=1"
    assert fields(sync_error) == fields(async_error)
    assert type(async_error) is kind
    assert async_error.message == message.format(url=url)
    assert async_error.url == url


@pytest.mark.parametrize(
    ("path", "status", "reason"), [("/unavailable", 503, "loading"), ("/too-many", 429, "slow down")]
)
def test_unavailable_is_the_same_type_status_and_reason_sync_and_async(server, path, status, reason):
    sync_error, async_error = sync_get(f"{server}{path}"), async_get(f"{server}{path}")
    assert type(sync_error) is type(async_error) is MovielensUnavailableError
    assert sync_error.status_code == async_error.status_code == status
    assert async_error.message == f"HTTP {status}: {reason}"
    assert sync_error.message.endswith(f"last error: HTTP {status}: {reason}")


def test_a_read_timeout_is_unavailable_sync_and_async(server):
    url = f"{server}/stall"
    sync_error, async_error = sync_get(url, read_timeout=0.3), async_get(url, read_timeout=0.3)
    assert type(sync_error) is type(async_error) is MovielensUnavailableError
    assert sync_error.status_code is async_error.status_code is None
    assert async_error.url == url


def test_a_refused_connection_is_unavailable_sync_and_async():
    url = f"http://127.0.0.1:{free_port()}/ratings"
    sync_error, async_error = sync_get(url), async_get(url)
    assert type(sync_error) is type(async_error) is MovielensUnavailableError
    assert async_error.message.startswith(f"GET {url}: ")


def test_async_transport_is_used_inside_async_with():
    transport = AsyncTransport("ml_unit", settings("http://127.0.0.1:1"), None)
    with pytest.raises(RuntimeError, match="outside 'async with'"):
        asyncio.run(transport.get_json("http://127.0.0.1:1/ok"))
