"""pyserial URL handler `crossloop://NAME?end=device|gateway`: two of pyserial's own loop://
ports with their queues crossed, so that what one end writes the other end reads.

pyserial's loop:// reads back what it wrote itself; the shared transport suite needs two
ends. This is pyserial's loop class unchanged except for which queue a write goes to.
"""

from __future__ import annotations

import queue
import threading
import urllib.parse
from typing import Any

from serial.serialutil import PortNotOpenError, SerialException, iterbytes, to_bytes
from serial.urlhandler import protocol_loop

FORMAT = '"crossloop://NAME?end=device|gateway"'
_queues: dict[tuple[str, str], queue.Queue[Any]] = {}
_lock = threading.Lock()


def _queue(name: str, end: str) -> queue.Queue[Any]:
    with _lock:
        return _queues.setdefault((name, end), queue.Queue())


class Serial(protocol_loop.Serial):  # type: ignore[misc]
    def open(self) -> None:
        super().open()  # applies from_url below
        name, end = self._pair
        self.queue = _queue(name, end)
        self._peer_queue = _queue(name, "gateway" if end == "device" else "device")

    def from_url(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        end = urllib.parse.parse_qs(parts.query).get("end", [""])[0]
        if parts.scheme != "crossloop" or not parts.netloc or end not in ("device", "gateway"):
            raise SerialException(f"expected a string in the form {FORMAT}: {url!r}")
        self._pair = (parts.netloc, end)

    def write(self, data: Any) -> int:
        if not self.is_open:
            raise PortNotOpenError()
        data = to_bytes(data)
        for byte in iterbytes(data):
            self._peer_queue.put(byte)
        return len(data)
