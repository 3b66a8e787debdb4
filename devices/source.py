"""A device link chosen by URL: the base every backend shares, and the registry of backends.

Like pyserial's `serial_for_url` and python-can's `BACKENDS`, the URL's scheme picks the
backend and its module is imported only when a URL of that scheme is opened. The base class
writes the public methods once (`read`, `write`, `close`, the context manager); a backend
implements `_read_internal`, `_write_internal` and `_close_internal` for its transport.
"""

from __future__ import annotations

import importlib
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

from devices.codec import DEVICE_TYPES, Frame, encode
from devices.errors import DeviceError, DeviceUnavailable, MalformedFrame
from devices.framing import QueuedFrameReader

_SERIAL = ("devices.backends.serial", "SerialSource")

BACKENDS: dict[str, tuple[str, str]] = {
    "": _SERIAL,  # a device path: /dev/ttyUSB0, /dev/serial/by-id/…, a pty
    "socket": _SERIAL,
    "rfc2217": _SERIAL,
    "loop": _SERIAL,
    "spy": _SERIAL,
    "alt": _SERIAL,
    "hwgrep": _SERIAL,
}
"""URL scheme → (module, class). A path without `scheme://` is a local serial device."""


def scheme_of(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


def register_backend(scheme: str, module: str, name: str) -> None:
    """Let URLs of `scheme://` open with `module.name` (imported when first used)."""
    BACKENDS[scheme.lower()] = (module, name)


def open_source(url: str, **options: Any) -> DeviceSource:
    """Open the device link at `url` with the backend its scheme names."""
    scheme = scheme_of(url)
    try:
        module_name, class_name = BACKENDS[scheme]
    except KeyError:
        known = ", ".join(f"{s}://" for s in sorted(BACKENDS) if s)
        raise DeviceError(
            f"{url}: no device backend for {scheme}:// (known: a device path, {known})"
        ) from None
    backend: type[DeviceSource] = getattr(importlib.import_module(module_name), class_name)
    return backend(url, **options)


class DeviceSource(ABC):
    """One open device link that speaks the v1 line protocol.

    `read()` returns the next well-formed frame; a rejected line is raised as MalformedFrame
    (the source stays usable: the next `read()` goes on from the next newline). A link that
    has gone raises DeviceUnavailable; the caller closes it and may open the URL again.
    """

    def __init__(self, url: str, *, accept: frozenset[str] = DEVICE_TYPES) -> None:
        self.url = url
        self._reader = QueuedFrameReader(accept)
        self._write_lock = threading.Lock()
        self._closed = False

    # --- the public methods, written once ----------------------------------------------------

    def read(self, timeout: float | None = None) -> Frame | None:
        """The next frame, or None when `timeout` seconds pass first (None: wait for one)."""
        queue = self._reader.queue
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if queue:
                item = queue.popleft()
                if isinstance(item, MalformedFrame):
                    raise item
                return item
            if self._closed:
                raise DeviceUnavailable(f"{self.url}: closed")
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return None
            data = self._read_internal(remaining)
            if data:
                self._reader.data_received(data)

    def take(self, timeout: float | None = 0.0) -> list[Frame | MalformedFrame]:
        """Everything read so far and what arrives within `timeout` (0: only what is already
        there), in order: frames, and MalformedFrame for each rejected line. For a caller that
        waits on `fileno()` itself and must not stop at the first bad line."""
        queue = self._reader.queue
        if not queue:
            if self._closed:
                raise DeviceUnavailable(f"{self.url}: closed")
            data = self._read_internal(timeout)
            if data:
                self._reader.data_received(data)
        items = list(queue)
        queue.clear()
        return items

    def fileno(self) -> int | None:
        """A descriptor that select() reports readable when bytes arrive, or None (then only
        a blocking `read` or `take` with a timeout can wait)."""
        return None

    def write(self, frame: Frame) -> None:
        """Send one frame (thread-safe: acks and binds may come from different threads)."""
        self.write_bytes(encode(frame))

    def write_bytes(self, data: bytes) -> None:
        with self._write_lock:
            if self._closed:
                raise DeviceUnavailable(f"{self.url}: closed")
            self._write_internal(data)

    def try_write_bytes(self, data: bytes) -> bool:
        """Send without waiting for a busy line: False if it did not all go (the rest is
        dropped, as on a congested line). For threads that must never block on one device."""
        with self._write_lock:
            if self._closed:
                raise DeviceUnavailable(f"{self.url}: closed")
            return self._try_write_internal(data)

    def close(self) -> None:
        """Close the link; safe to call more than once."""
        with self._write_lock:
            if self._closed:
                return
            self._closed = True
        self._reader.connection_lost()
        self._close_internal()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def counts(self) -> Mapping[str, int]:
        """Lines read so far: `ok`, `bad`, and `bad:<reason>` for each reason seen."""
        reader = self._reader
        return {
            "ok": reader.frames_ok,
            "bad": reader.frames_bad,
            **{f"bad:{reason}": n for reason, n in reader.reasons.items()},
        }

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- what a backend implements -----------------------------------------------------------

    @abstractmethod
    def _read_internal(self, timeout: float | None) -> bytes:
        """Bytes that arrived (b"" if none within about `timeout`); DeviceError if gone."""

    @abstractmethod
    def _write_internal(self, data: bytes) -> None:
        """Send bytes; DeviceError if they cannot be sent."""

    def _try_write_internal(self, data: bytes) -> bool:
        """Send what can go at once; by default, a plain write."""
        self._write_internal(data)
        return True

    @abstractmethod
    def _close_internal(self) -> None:
        """Release the transport."""
