"""Errors of the devices package; pyserial's are converted to these at the adapter boundary.

    DeviceError                      anything a device link can go wrong with
     ├── DeviceUnavailable           the port cannot be opened or has gone (cable pulled)
     ├── DeviceReadError             reading or writing the open port failed
     ├── DeviceTimeout               (also a TimeoutError) the port did not take a write in time
     └── MalformedFrame              one line was not a valid frame: `reason` says why

A `MalformedFrame` concerns one line only: the reader that raised it has already moved on to
the next newline and reads on.
"""

from __future__ import annotations


class DeviceError(Exception):
    """Base of every error raised by `devices`."""


class DeviceUnavailable(DeviceError):
    """The device's port cannot be opened, or it disappeared while open."""


class DeviceReadError(DeviceError):
    """The port is open but reading or writing it failed."""


class DeviceTimeout(DeviceError, TimeoutError):
    """The port did not accept a write (or answer) within the time allowed."""


class MalformedFrame(DeviceError):
    """A line that is not a valid v1 frame.

    `reason` is machine-readable (`bad_crc`, `missing_field:seq` …) and is what the gateway
    sends back as a `nak`'s `why`; `seq` is the rejected frame's seq when it could be read
    (a hint for the device, never trusted for anything else).
    """

    def __init__(self, reason: str, seq: int | None = None, line: bytes = b"") -> None:
        super().__init__(reason)
        self.reason = reason
        self.seq = seq
        self.line = line
