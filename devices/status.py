"""The gateway's own status page: a small JSON endpoint on a local port (stdlib http.server).

`GET /status`: devices online/offline, last seen, frames ok/bad, spool depth, rejected count.
`GET /rejected`: the items the server rejected, kept aside for a person to look at.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("devices.gateway")

Pages = dict[str, Callable[[], Any]]


class StatusServer:
    """Serves each page (path → function giving a JSON-able value) until `stop()`."""

    def __init__(self, pages: Pages, host: str = "127.0.0.1", port: int = 0) -> None:
        handler = type("Handler", (_Handler,), {"pages": pages})
        self._httpd = ThreadingHTTPServer((host, port), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="status"
        )

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join()
        self._httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    pages: Pages

    def do_GET(self) -> None:
        page = self.pages.get(self.path.split("?", 1)[0].rstrip("/") or "/status")
        if page is None:
            self._send(404, {"error": "not_found", "pages": sorted(self.pages)})
            return
        try:
            body = page()
        except Exception as exc:  # a status page must answer even when a part is broken
            log.exception("status page %s failed", self.path)
            self._send(500, {"error": "status_failed", "message": str(exc)})
            return
        self._send(200, body)

    def _send(self, code: int, body: Any) -> None:
        data = json.dumps(body, ensure_ascii=False, indent=1).encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("status: " + format, *args)
