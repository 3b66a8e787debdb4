"""A stand-in for the server's device API, speaking the gateway → server contract.

`POST /api/v1/device-results` answers each item `accepted` (a key not seen before),
`duplicate` (seen) or `rejected` (a key mismatch, or whatever `reject` says), in order; a
batch over 500 items, or not JSON, is refused as a whole with a 4xx. `GET
/api/v1/stations/bindings` answers `bindings`, or 404 while it is None; `PUT
/api/v1/gateways/status` (the gateway's report of its hall) is kept in `reports`. It can answer every
request with an error status, hang, be stopped and started again on the same port — what a
gateway must survive. Tests and the benchmark use it; an installer can point a gateway at it
(`safetrain sim server`) before the real server is set up.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_ITEMS = 500


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True  # server_close() joins every request thread

    def __init__(self, address: tuple[str, int], fake: FakeServer) -> None:
        self.fake = fake
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away mid-answer (the gateway timed out): nothing to report

    def drop_connections(self) -> None:
        with self.sockets_lock:
            for s in self.open_sockets:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


class FakeServer:
    """The contract's server side in a thread on `host:port` (0: a free port)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, token: str | None = None) -> None:
        self.host = host
        self.port = port
        self.token = token
        self.lock = threading.Lock()
        self.stored: dict[str, dict[str, Any]] = {}  # key → envelope, first accepted
        self.order: list[str] = []  # keys in the order they were accepted
        self.batches: list[list[str]] = []  # the keys of every batch answered
        self.answers: dict[str, list[str]] = {"accepted": [], "duplicate": [], "rejected": []}
        self.reject: Callable[[dict[str, Any]], str | None] = lambda envelope: None
        self.bindings: list[dict[str, Any]] | None = None  # None: the endpoint 404s
        self.reports: list[Any] = []  # the gateway's status reports, latest last
        self.fail_status: int | None = None  # answer every request with this status
        self.requests = 0
        self._released = threading.Event()
        self._released.set()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> FakeServer:
        httpd = _Server((self.host, self.port), self)
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake server"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Go down: refuse connections, cut the open ones, release hung requests."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._released.set()
        httpd.shutdown()
        httpd.drop_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join()

    def restart(self) -> None:
        self.stop()
        self.start()

    def hang(self, on: bool = True) -> None:
        """While on, requests wait without an answer (until `hang(False)` or `stop()`)."""
        if on:
            self._released.clear()
        else:
            self._released.set()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.hang(False)
        self.stop()

    # --- the contract ---------------------------------------------------------------------

    def answer_batch(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("items"), list):
            return 422, {"error": "invalid_input", "message": "expected {'items': [...]}"}
        items = body["items"]
        if len(items) > MAX_ITEMS:
            return 422, {"error": "batch_too_large", "message": f"at most {MAX_ITEMS} items"}
        results = []
        with self.lock:
            self.batches.append([str(i.get("key")) for i in items if isinstance(i, dict)])
            for item in items:
                key, status, reason = self._answer_item(item)
                self.answers[status].append(key)
                results.append({"key": key, "status": status, "reason": reason})
        return 200, {"results": results}

    def _answer_item(self, item: Any) -> tuple[str, str, str | None]:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            return "", "rejected", "bad_key"
        key, frame = item["key"], item.get("frame")
        if not isinstance(frame, dict):
            return key, "rejected", "missing_field:frame"
        if key != f"{frame.get('dev')}:{frame.get('boot')}:{frame.get('seq')}":
            return key, "rejected", "key_mismatch"
        if key in self.stored:
            return key, "duplicate", None
        reason = self.reject(item)
        if reason is not None:
            return key, "rejected", reason
        self.stored[key] = item
        self.order.append(key)
        return key, "accepted", None


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, as the real server behind uvicorn

    def _authorised(self) -> bool:
        token = self.server.fake.token
        return token is None or self.headers.get("Authorization") == f"Bearer {token}"

    def _common(self) -> bool:
        fake = self.server.fake
        with fake.lock:
            fake.requests += 1
        fake._released.wait(60)
        if fake.fail_status is not None:
            self._send(fake.fail_status, {"error": "server_error", "message": "simulated"})
            return False
        if not self._authorised():
            self._send(401, {"error": "not_authenticated", "message": "bad bearer token"})
            return False
        return True

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if not self._common():
            return
        if self.path != "/api/v1/device-results":
            self._send(404, {"error": "not_found", "message": self.path})
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._send(400, {"error": "invalid_json", "message": "not JSON"})
            return
        self._send(*self.server.fake.answer_batch(body))

    def do_PUT(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if not self._common():
            return
        if self.path != "/api/v1/gateways/status":
            self._send(404, {"error": "not_found", "message": self.path})
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._send(400, {"error": "invalid_json", "message": "not JSON"})
            return
        with self.server.fake.lock:
            self.server.fake.reports.append(body)
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        if not self._common():
            return
        bindings = self.server.fake.bindings
        if self.path != "/api/v1/stations/bindings" or bindings is None:
            self._send(404, {"error": "not_found", "message": self.path})
            return
        self._send(200, {"data": bindings})

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass
