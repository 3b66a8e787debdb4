"""Bytes in, frames out: a line reader with the shape of `serial.threaded.LineReader`.

Whatever arrives is split at newlines by the reader itself, chunk by chunk (pyserial's own
`readline()` costs a system call per byte). A bad line — garbage, truncated, too long, bad CRC,
bad JSON, an unknown type — is counted with its reason and handed to `frame_rejected`; the
reader never raises and resynchronises at the next newline.
"""

from __future__ import annotations

from collections import Counter, deque

from devices.codec import DEVICE_TYPES, MAX_LINE, Frame, decode
from devices.errors import MalformedFrame


class FrameReader:
    """Feed it chunks with `data_received`; override `frame_received` and `frame_rejected`.

    Empty lines (a bare CR LF) are skipped without being counted: terminals and some
    firmware send them as padding.
    """

    def __init__(self, accept: frozenset[str] = DEVICE_TYPES) -> None:
        self.accept = accept
        self.frames_ok = 0
        self.frames_bad = 0
        self.reasons: Counter[str] = Counter()
        self._partial = b""
        self._discarding = False  # inside a line already counted as too long

    def data_received(self, data: bytes) -> None:
        if self._partial:
            data = self._partial + data
            self._partial = b""
        lines = data.split(b"\n")
        tail = lines.pop()
        for line in lines:
            if self._discarding:
                self._discarding = False
                continue
            if line.endswith(b"\r"):
                line = line[:-1]
            if line:
                self._handle_line(line)
        if self._discarding:
            return
        if len(tail) > MAX_LINE + 1:  # + 1: a CR whose LF has not arrived yet
            self._reject(MalformedFrame("too_long", line=tail[:64]))
            self._discarding = True
        else:
            self._partial = tail

    def connection_lost(self) -> None:
        """Forget a partial line: after a reconnect the next bytes start a new one."""
        self._partial = b""
        self._discarding = False

    def _handle_line(self, line: bytes) -> None:
        try:
            frame = decode(line, self.accept)
        except MalformedFrame as exc:
            self._reject(exc)
            return
        self.frames_ok += 1
        self.frame_received(frame)

    def _reject(self, error: MalformedFrame) -> None:
        self.frames_bad += 1
        self.reasons[error.reason] += 1
        self.frame_rejected(error)

    def frame_received(self, frame: Frame) -> None:
        """Called with every well-formed frame."""

    def frame_rejected(self, error: MalformedFrame) -> None:
        """Called with every rejected line (already counted)."""


class QueuedFrameReader(FrameReader):
    """A FrameReader that keeps what it read, in order, for a caller to take one at a time."""

    def __init__(self, accept: frozenset[str] = DEVICE_TYPES) -> None:
        super().__init__(accept)
        self.queue: deque[Frame | MalformedFrame] = deque()

    def frame_received(self, frame: Frame) -> None:
        self.queue.append(frame)

    def frame_rejected(self, error: MalformedFrame) -> None:
        self.queue.append(error)
