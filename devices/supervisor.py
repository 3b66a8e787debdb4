"""Drives every station of a hall from one thread: waits on all their ports at once, reads
what has arrived, puts the frames to spool into one commit, acks them, reopens lost ports.

One thread rather than one per station: at a hall's rates (a hundred devices, a thousand
frames a second) a thread per port spends most of its CPU handing the interpreter lock back
and forth, and a frame's ack waits behind those hand-overs. Here a loop iteration reads every
ready port, and for `gather` seconds (1 ms) what else arrives, commits it all in one
transaction (the spool's group commit) and writes the acks: a commit costs about the same for
one frame as for twenty, so that millisecond halves the gateway's CPU. Opening a port may block (a TCP device server that is off takes seconds to time
out), so opens run in a small pool; a port without a descriptor to wait on (loop://,
rfc2217://) gets a reader thread that hands its frames to the loop.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import os
import queue
import selectors
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from devices.codec import Frame
from devices.connection import DeviceConnection
from devices.errors import DeviceError, MalformedFrame
from devices.source import DeviceSource, open_source
from devices.spool import Spool, SpoolError, SpoolItem, utc_now

log = logging.getLogger("devices.gateway")

Posted = Callable[[float, list[tuple[DeviceConnection, Frame, float]]], None]


class Supervisor:
    """Runs `connections` (their ports, their protocol) until `stop()`."""

    def __init__(
        self,
        connections: Sequence[DeviceConnection],
        spool: Spool,
        *,
        poll_interval: float = 0.2,
        openers: int = 4,
        gather: float = 0.001,
    ) -> None:
        self.connections = list(connections)
        self._spool = spool
        self._poll = poll_interval
        self._openers = openers
        self._gather = gather
        self._posted: queue.SimpleQueue[Posted] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._readers: dict[DeviceConnection, threading.Thread] = {}

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("already started")
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._thread = threading.Thread(target=self._run, name="supervisor", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop, close every port, end every helper thread; safe to call twice."""
        if self._thread is None or self._stopping.is_set():
            return
        self._stopping.set()
        self._wake()
        self._thread.join(timeout)
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"!")

    def _post(self, fn: Posted) -> None:
        """Run `fn` in the loop's thread (from an opener or reader thread)."""
        self._posted.put(fn)
        self._wake()

    # --- the loop -----------------------------------------------------------------------------

    def _run(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._pool = ThreadPoolExecutor(self._openers, thread_name_prefix="open port")
        self._timers: list[tuple[float, int, DeviceConnection]] = []
        self._order = itertools.count()
        try:
            now = time.monotonic()
            for connection in self.connections:
                self._open_later(connection, now, 0.0)
            next_tick = now + self._poll
            while not self._stopping.is_set():
                try:
                    next_tick = self._iterate(next_tick)
                except Exception:  # a bug must not leave the whole hall without acks
                    log.exception("supervisor: a loop iteration failed")
                    self._stopping.wait(self._poll)
        finally:
            for connection in self.connections:
                if connection.source is not None:
                    self._close(connection, None)
            self._pool.shutdown(wait=True, cancel_futures=True)
            while True:  # ports an opener opened after the loop ended
                try:
                    self._posted.get_nowait()(time.monotonic(), [])
                except queue.Empty:
                    break
            self._selector.close()

    def _iterate(self, next_tick: float) -> float:
        """Wait, read what is ready, commit it, ack it; open what is due; tick if it is time."""
        wait = min(next_tick, self._timers[0][0] if self._timers else next_tick)
        ready = self._selector.select(max(0.0, wait - time.monotonic()))
        now = time.monotonic()
        to_spool: list[tuple[DeviceConnection, Frame, float]] = []
        gather_until = now + self._gather
        while True:
            for key, _ in ready:
                if key.data is None:
                    with contextlib.suppress(BlockingIOError):
                        os.read(self._wake_r, 4096)
                else:
                    self._read(key.data, time.monotonic(), to_spool)
            left = gather_until - time.monotonic()
            if not to_spool or left <= 0:
                break
            ready = self._selector.select(left)  # a commit is coming: later arrivals share it
        while True:
            try:
                posted = self._posted.get_nowait()
            except queue.Empty:
                break
            try:
                posted(now, to_spool)
            except Exception:
                log.exception("supervisor: a handed-over step failed")
        self._spool_and_ack(to_spool)
        while self._timers and self._timers[0][0] <= now:
            _, _, connection = heapq.heappop(self._timers)
            self._pool.submit(self._open, connection)
        if now < next_tick:
            return next_tick
        for connection in self.connections:
            self._guard(connection, partial(connection.tick, now))
        return now + self._poll

    def _guard(self, connection: DeviceConnection, step: Callable[[], None]) -> None:
        """Run one step of a connection's protocol; a port that fails in it is closed and
        opened again later (so is one whose step hit a bug: one station must not stop all)."""
        if connection.source is None:
            return
        try:
            step()
        except DeviceError as exc:
            self._lost(connection, exc)
        except Exception as exc:
            log.exception("%s: protocol step failed", connection.station.code)
            self._lost(connection, DeviceError(f"internal error: {exc!r}"))

    def _lost(self, connection: DeviceConnection, error: DeviceError) -> None:
        self._close(connection, error)
        self._open_later(connection, time.monotonic(), connection.next_delay())

    def _read(
        self,
        connection: DeviceConnection,
        now: float,
        to_spool: list[tuple[DeviceConnection, Frame, float]],
    ) -> None:
        source = connection.source
        if source is not None:
            self._guard(connection, partial(self._take, connection, source, now, to_spool))

    @staticmethod
    def _take(
        connection: DeviceConnection,
        source: DeviceSource,
        now: float,
        to_spool: list[tuple[DeviceConnection, Frame, float]],
    ) -> None:
        connection.receive(source.take(0.0), now, to_spool)

    def _spool_and_ack(self, to_spool: list[tuple[DeviceConnection, Frame, float]]) -> None:
        if not to_spool:
            return
        received_at = utc_now()
        items = [
            SpoolItem(c.station.code, frame, "serial", received_at) for c, frame, _ in to_spool
        ]
        try:
            fresh = self._spool.store_many(items)
        except SpoolError as exc:
            for connection, frame, _ in to_spool:
                self._guard(connection, partial(connection.store_failed, frame, exc))
            return
        for (connection, frame, read_at), new in zip(to_spool, fresh, strict=True):
            self._guard(connection, partial(connection.stored, frame, new, read_at))

    # --- ports opening and closing -------------------------------------------------------------

    def _open_later(self, connection: DeviceConnection, now: float, delay: float) -> None:
        if not self._stopping.is_set():
            heapq.heappush(self._timers, (now + delay, next(self._order), connection))

    def _open(self, connection: DeviceConnection) -> None:
        """In an opener thread: open the port, hand the outcome to the loop."""
        try:
            source = open_source(connection.station.url, **connection.source_options)
        except DeviceError as exc:
            self._post(partial(self._open_failed, connection, exc))
            return
        self._post(partial(self._opened, connection, source))

    def _open_failed(
        self, connection: DeviceConnection, error: DeviceError, now: float, _: object
    ) -> None:
        connection.open_failed(error)
        self._open_later(connection, now, connection.next_delay())

    def _opened(
        self, connection: DeviceConnection, source: DeviceSource, now: float, _: object
    ) -> None:
        if self._stopping.is_set():
            source.close()
            return
        fd = source.fileno()
        if fd is not None:
            self._selector.register(fd, selectors.EVENT_READ, connection)
        else:
            reader = threading.Thread(
                target=self._read_without_descriptor,
                args=(connection, source),
                name=f"read {connection.station.code}",
                daemon=True,
            )
            self._readers[connection] = reader
            reader.start()
        connection.source = source
        self._guard(connection, partial(connection.link_opened, source, now))

    def _read_without_descriptor(self, connection: DeviceConnection, source: DeviceSource) -> None:
        """A port select() cannot wait on: block in its own read, pass the frames on."""
        while not self._stopping.is_set() and not source.closed:
            try:
                items = source.take(self._poll)
            except DeviceError as exc:
                if not source.closed:
                    self._post(partial(self._lost_if_current, connection, source, exc))
                return
            if items:
                self._post(partial(self._received, connection, source, items))

    def _received(
        self,
        connection: DeviceConnection,
        source: DeviceSource,
        items: list[Frame | MalformedFrame],
        now: float,
        to_spool: list[tuple[DeviceConnection, Frame, float]],
    ) -> None:
        if connection.source is source:
            self._guard(connection, partial(connection.receive, items, now, to_spool))

    def _lost_if_current(
        self,
        connection: DeviceConnection,
        source: DeviceSource,
        error: DeviceError,
        now: float,
        _: object,
    ) -> None:
        if connection.source is source:
            self._lost(connection, error)

    def _close(self, connection: DeviceConnection, error: DeviceError | None) -> None:
        source = connection.source
        if source is None:
            return
        fd = source.fileno()
        if fd is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(fd)
        source.close()
        reader = self._readers.pop(connection, None)
        if reader is not None and reader is not threading.current_thread():
            reader.join(self._poll * 5)
        connection.link_lost(error)
