# URL format: a device path — /dev/ttyUSB0, /dev/serial/by-id/usb-…, a pty such as /dev/pts/4 —
#   or a pyserial URL: socket://HOST:PORT, rfc2217://HOST:PORT, loop://, each with pyserial's own
#   options after `?` (e.g. socket://10.0.0.5:4001?logging=debug). A device path takes no options;
#   the baud rate (8N1) comes from the station's `baud`.
"""The serial backend: a port opened with pyserial's `serial_for_url` and read in chunks.

Where the port has a file descriptor (real ports, ptys, socket://) the reader waits on it with
select and then takes everything that has arrived in one call; pyserial's own `readline()`
would cost a system call per byte. Modem-control lines are never needed: a pty has none.
"""

from __future__ import annotations

import contextlib
import io
import os
import select
import urllib.parse

import serial

from devices.codec import DEFAULT_BAUD, DEVICE_TYPES
from devices.errors import DeviceError, DeviceReadError, DeviceTimeout, DeviceUnavailable
from devices.source import DeviceSource, scheme_of

URL_FORMAT = (
    "a device path (/dev/ttyUSB0, /dev/pts/4) without options, "
    "or socket://HOST:PORT, rfc2217://HOST:PORT, loop:// with pyserial's ?options"
)
# pyserial's own options per scheme. Checked here because pyserial 3.5's socket:// and loop://
# handlers fail while formatting their message for an unknown one (a str.format template
# containing "{debug|info|…}"), which surfaces as a bare KeyError or a misleading open error.
OPTIONS = {
    "socket": {"logging"},
    "loop": {"logging"},
    "rfc2217": {"logging", "ign_set_control", "poll_modem", "timeout"},
}
CHUNK = 65536
# How pyserial words a port that went away (it keeps only the text of the OS error).
_GONE = ("disconnected", "returned no data", "Errno 5]", "Errno 6]", "Errno 19]", "Errno 104]")


def _lost(url: str, exc: Exception) -> DeviceError:
    if isinstance(exc, serial.SerialTimeoutException):
        return DeviceTimeout(f"{url}: {exc}")
    text = str(exc)
    if any(sign in text for sign in _GONE) or isinstance(exc, serial.PortNotOpenError):
        return DeviceUnavailable(f"{url}: {text}")
    return DeviceReadError(f"{url}: {text}")


class SerialSource(DeviceSource):
    """A station's serial link (`poll_interval` bounds a read on ports without a descriptor)."""

    def __init__(
        self,
        url: str,
        *,
        baudrate: int = DEFAULT_BAUD,
        poll_interval: float = 0.1,
        write_timeout: float = 1.0,
        accept: frozenset[str] = DEVICE_TYPES,
    ) -> None:
        super().__init__(url, accept=accept)
        scheme = scheme_of(url)
        is_path = scheme == ""
        if is_path and "?" in url:
            raise DeviceError(f"{url}: a device path takes no options; URL format: {URL_FORMAT}")
        unknown = set(urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)) - OPTIONS.get(
            scheme, set()
        )
        if scheme in OPTIONS and unknown:
            raise DeviceError(
                f"{url}: unknown option {', '.join(sorted(unknown))}; URL format: {URL_FORMAT}"
            )
        extra = {"exclusive": True} if is_path else {}  # two gateways must not share a port
        try:
            port = serial.serial_for_url(
                url,
                baudrate=baudrate,
                timeout=poll_interval,
                write_timeout=write_timeout,
                do_not_open=True,
                **extra,
            )
            port.open()
        except ValueError as exc:  # an unknown scheme, a baud rate pyserial refuses
            raise DeviceError(f"{url}: {exc}; URL format: {URL_FORMAT}") from exc
        except serial.SerialException as exc:
            if "expected a string in the form" in str(exc):  # pyserial's own option check
                raise DeviceError(f"{url}: {exc}; URL format: {URL_FORMAT}") from exc
            raise DeviceUnavailable(f"{url}: {exc}") from exc
        except OSError as exc:
            raise DeviceUnavailable(f"{url}: {exc}") from exc
        self.port = port
        self._fd: int | None
        try:
            self._fd = port.fileno()
        except (AttributeError, OSError, io.UnsupportedOperation):
            self._fd = None  # loop://, rfc2217://: pyserial's timed read is the only wait
        if self._fd is not None:
            port.timeout = 0  # after select: take what is there, never wait for more

    def fileno(self) -> int | None:
        return self._fd

    def _read_internal(self, timeout: float | None) -> bytes:
        if self._fd is not None:
            # The descriptor is known ready: one os.read takes what has arrived (pyserial's
            # read would add a select and its timeout bookkeeping to every call).
            if timeout != 0:  # with 0 the caller has seen it ready, or wants no wait at all
                ready, _, _ = select.select([self._fd], [], [], timeout)
                if not ready:
                    return b""
            try:
                data = os.read(self._fd, CHUNK)
            except BlockingIOError:
                return b""
            except OSError as exc:
                raise DeviceUnavailable(f"{self.url}: {exc}") from exc
            if not data:
                raise DeviceUnavailable(f"{self.url}: the far end closed the line")
            return data
        port = self.port
        try:
            first: bytes = port.read(1)
            waiting = port.in_waiting if first else 0
            return first + port.read(waiting) if waiting else first
        except (serial.SerialException, OSError) as exc:
            raise _lost(self.url, exc) from exc

    def _write_internal(self, data: bytes) -> None:
        sent = self._write_now(data)
        if sent < len(data):  # the line is busy: let pyserial wait, up to write_timeout
            try:
                self.port.write(data[sent:])
            except (serial.SerialException, OSError) as exc:
                raise _lost(self.url, exc) from exc

    def _try_write_internal(self, data: bytes) -> bool:
        if self._fd is None:
            self._write_internal(data)
            return True
        return self._write_now(data) == len(data)

    def _write_now(self, data: bytes) -> int:
        """What the port takes at once, without waiting (its descriptor is non-blocking)."""
        if self._fd is None:
            return 0
        try:
            return os.write(self._fd, data)
        except BlockingIOError:
            return 0
        except OSError as exc:
            raise DeviceUnavailable(f"{self.url}: {exc}") from exc

    def _close_internal(self) -> None:
        with contextlib.suppress(serial.SerialException, OSError):
            self.port.close()  # a port that has gone: nothing left to release
