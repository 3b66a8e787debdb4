"""A regulator's push endpoint on 127.0.0.1 that can be told to fail, hang, refuse and recover.

It does what the docs ask of a receiver: verifies every request's detached signature against
the base's JWKS and remembers what it accepted by Idempotency-Key, answering 200 again for a
key it already has.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from server.certificates import signing
from server.outbox.deliver import PUSH_TYP, SIGNATURE_HEADER, attach

# What to do with a request: answer 200, 500, 400 or 429, hang past the client's timeout.
MODES = ("ok", "fail", "reject", "slow_down", "hang")


@dataclass
class Arrival:
    key: str | None
    body: bytes
    signature: str | None
    mode: str
    verified: bool
    error: str | None = None

    @property
    def event(self) -> dict[str, Any]:
        value = json.loads(self.body)
        assert isinstance(value, dict)
        return value


@dataclass
class Receiver:
    jwks: Mapping[str, Any]
    mode: str = "ok"
    script: deque[str] = field(default_factory=deque)  # modes for the next requests, in turn
    delay: float = 0.0  # seconds each request takes before it is answered
    hang_seconds: float = 10.0
    retry_after: str = "0"
    arrivals: list[Arrival] = field(default_factory=list)
    accepted: dict[str, bytes] = field(default_factory=dict)  # first accepted body per key
    in_flight: int = 0
    most_in_flight: int = 0
    port: int = 0
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _release: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/push"

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver._handle(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._release.clear()
        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def release(self) -> None:
        """Let every hanging request end (without an answer)."""
        self._release.set()

    def stop(self) -> None:
        """Close the port: from now on connections are refused."""
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    # --- what arrived ----------------------------------------------------------------------

    def keys(self) -> list[str | None]:
        with self._lock:
            return [a.key for a in self.arrivals]

    def accepted_keys(self) -> list[str]:
        with self._lock:
            return list(self.accepted)

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; arrived: {self.keys()}")
            time.sleep(0.01)

    # --- handling --------------------------------------------------------------------------

    def _verify(self, body: bytes, signature: str | None) -> str | None:
        if not signature:
            return "no signature"
        try:
            verified = signing.verify_document(attach(signature, body), self.jwks, typ=PUSH_TYP)
        except signing.VerificationError as exc:
            return exc.code
        if verified.payload != json.loads(body):
            return "signed content differs from the body"
        return None

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length", "0"))
        body = request.rfile.read(length)
        key = request.headers.get("Idempotency-Key")
        signature = request.headers.get(SIGNATURE_HEADER)
        with self._lock:
            mode = self.script.popleft() if self.script else self.mode
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        error = self._verify(body, signature)
        arrival = Arrival(key, body, signature, mode, error is None, error)
        with self._lock:
            self.arrivals.append(arrival)
        try:
            if self.delay:
                time.sleep(self.delay)
            if mode == "hang":
                self._release.wait(self.hang_seconds)
                request.close_connection = True
                return
            if error is not None:
                self._answer(request, 401, {"error": error})
            elif mode == "fail":
                self._answer(request, 500, {"error": "down for maintenance"})
            elif mode == "reject":
                self._answer(request, 400, {"error": "unknown curriculum"})
            elif mode == "slow_down":
                self._answer(
                    request, 429, {"error": "slow down"}, {"Retry-After": self.retry_after}
                )
            else:
                assert key is not None
                with self._lock:
                    duplicate = key in self.accepted
                    self.accepted.setdefault(key, body)
                self._answer(request, 200, {"ok": True, "duplicate": duplicate})
        finally:
            with self._lock:
                self.in_flight -= 1

    @staticmethod
    def _answer(
        request: BaseHTTPRequestHandler,
        status: int,
        body: dict[str, Any],
        headers: Mapping[str, str] | None = None,
    ) -> None:
        data = json.dumps(body).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(data)
