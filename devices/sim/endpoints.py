"""The simulated device's side of the wire: a pseudo-terminal, a TCP port, or a pyserial URL.

Each reports whether a peer is there (`read` returns None when nobody is): a pty's master
reads EIO while no one has the slave open, a TCP port has no client, so the simulator, like a
device watching its carrier, sends `hello` when a gateway arrives. `hang_up` pulls the cable
(the pty or socket goes, as a USB serial adapter does) and `plug_in` puts it back.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import socket
import time
import tty
from abc import ABC, abstractmethod
from pathlib import Path

NO_PEER_POLL = 0.05  # how often a device without a peer looks again
WRITE_STALL = 1.0  # a write that cannot go on for this long is dropped, as on an open line


class Endpoint(ABC):
    """Where a simulated device is plugged in. `wake_fd` interrupts a waiting `read`."""

    def __init__(self, wake_fd: int) -> None:
        self._wake = wake_fd

    @property
    @abstractmethod
    def where(self) -> str:
        """What a person connects the gateway to (a /dev/pts path, socket://host:port …)."""

    @abstractmethod
    def read(self, timeout: float) -> bytes | None:
        """Bytes from the gateway (b"" if none within `timeout`); None while nobody is there."""

    @abstractmethod
    def write(self, data: bytes) -> bool:
        """Send bytes; False if nobody is there or the line stalled (the bytes are lost)."""

    @abstractmethod
    def hang_up(self) -> None:
        """Pull the cable: the gateway's port fails, and nothing more goes through."""

    @abstractmethod
    def plug_in(self) -> None:
        """Put the cable back (a pty comes back as a new pty; a symlink follows it)."""

    @abstractmethod
    def close(self) -> None:
        """Release everything; safe to call twice."""

    def _wait(self, fds: list[int], timeout: float) -> list[int]:
        ready, _, _ = select.select([*fds, self._wake], [], [], max(0.0, timeout))
        if self._wake in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(self._wake, 4096)
        return [fd for fd in ready if fd != self._wake]


class PtyEndpoint(Endpoint):
    """A real pseudo-terminal; the gateway opens its slave (`path`, or the `link` to it)."""

    def __init__(self, wake_fd: int, link: Path | None = None) -> None:
        super().__init__(wake_fd)
        self.link = link
        self.path = ""
        self._master: int | None = None
        self._peer = False
        self.plug_in()

    @property
    def where(self) -> str:
        return str(self.link) if self.link else self.path

    def plug_in(self) -> None:
        if self._master is not None:
            return
        master, slave = os.openpty()
        try:
            tty.setraw(slave)  # no echo, no CR/LF translation: bytes pass as sent
            self.path = os.ttyname(slave)
        finally:
            os.close(slave)  # the gateway opens the slave by its path
        os.set_blocking(master, False)
        self._master = master
        self._peer = False
        if self.link is not None:
            self.link.parent.mkdir(parents=True, exist_ok=True)
            staged = self.link.with_name(f".{self.link.name}.{os.getpid()}")
            with contextlib.suppress(FileNotFoundError):
                staged.unlink()
            staged.symlink_to(self.path)
            staged.replace(self.link)  # atomically: a gateway never sees the link missing

    def read(self, timeout: float) -> bytes | None:
        master = self._master
        if master is None:
            self._wait([], timeout)
            return None
        if not self._peer:
            data = self._take(master)
            if data is None:
                self._wait([], min(timeout, NO_PEER_POLL))
            return data
        if not self._wait([master], timeout):
            return b""
        return self._take(master)

    def _take(self, master: int) -> bytes | None:
        try:
            data = os.read(master, 65536)
        except BlockingIOError:
            self._peer = True  # the slave is open and quiet
            return b""
        except OSError as exc:
            if exc.errno != errno.EIO:
                raise
            self._peer = False  # nobody has the slave open
            return None
        self._peer = True
        return data

    def write(self, data: bytes) -> bool:
        master = self._master
        if master is None or not self._peer:
            return False
        view = memoryview(data)
        deadline = time.monotonic() + WRITE_STALL
        while view:
            try:
                sent = os.write(master, view)
            except BlockingIOError:
                sent = 0
            except OSError as exc:
                if exc.errno != errno.EIO:
                    raise
                self._peer = False
                return False
            view = view[sent:]
            if view:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                select.select([], [master], [], left)
        return True

    def hang_up(self) -> None:
        if self._master is not None:
            os.close(self._master)
            self._master = None
        self._peer = False
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()

    def close(self) -> None:
        self.hang_up()


class TcpEndpoint(Endpoint):
    """A TCP port the gateway connects to as `socket://host:port`; one client at a time."""

    def __init__(self, wake_fd: int, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(wake_fd)
        self.host = host
        self.port = port
        self._listener: socket.socket | None = None
        self._client: socket.socket | None = None
        self.plug_in()

    @property
    def where(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host  # noqa: S104
        return f"socket://{host}:{self.port}"

    def plug_in(self) -> None:
        if self._listener is not None:
            return
        listener = socket.create_server((self.host, self.port))
        listener.setblocking(False)
        self.port = listener.getsockname()[1]
        self._listener = listener

    def read(self, timeout: float) -> bytes | None:
        if self._listener is None:
            self._wait([], timeout)
            return None
        fds = [self._listener.fileno()]
        if self._client is not None:
            fds.append(self._client.fileno())
        ready = self._wait(fds, timeout)
        if self._listener.fileno() in ready:
            try:
                client, _ = self._listener.accept()
            except BlockingIOError:
                pass
            else:
                if self._client is not None:
                    self._client.close()  # a gateway that reconnects replaces its old link
                client.settimeout(WRITE_STALL)
                self._client = client
                return b""
        if self._client is None:
            return None
        if self._client.fileno() not in ready:
            return b""
        try:
            data = self._client.recv(65536)
        except (ConnectionError, TimeoutError, OSError):
            data = b""
        if not data:
            self._drop_client()
            return None
        return data

    def write(self, data: bytes) -> bool:
        if self._client is None:
            return False
        try:
            self._client.sendall(data)
        except (ConnectionError, TimeoutError, OSError):
            self._drop_client()
            return False
        return True

    def _drop_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def hang_up(self) -> None:
        self._drop_client()
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def close(self) -> None:
        self.hang_up()


class UrlEndpoint(Endpoint):
    """A port opened with pyserial (a real port wired to the gateway's with a null-modem
    cable, socket://, loop://). Without a way to see a peer, one is taken to be there."""

    def __init__(self, wake_fd: int, url: str, baudrate: int = 115200) -> None:
        super().__init__(wake_fd)
        import serial

        self._serial = serial
        self.url = url
        self.baudrate = baudrate
        self._port: serial.SerialBase | None = None
        self.plug_in()

    @property
    def where(self) -> str:
        return self.url

    def plug_in(self) -> None:
        if self._port is None:
            self._port = self._serial.serial_for_url(
                self.url, baudrate=self.baudrate, timeout=NO_PEER_POLL, write_timeout=WRITE_STALL
            )

    def read(self, timeout: float) -> bytes | None:
        port = self._port
        if port is None:
            self._wait([], timeout)
            return None
        if timeout <= 0:
            return b""
        try:
            data: bytes = port.read(1)
            waiting = port.in_waiting if data else 0
            return data + port.read(waiting) if waiting else data
        except (self._serial.SerialException, OSError):
            self.hang_up()
            return None

    def write(self, data: bytes) -> bool:
        if self._port is None:
            return False
        try:
            self._port.write(data)
        except (self._serial.SerialException, OSError):
            return False
        return True

    def hang_up(self) -> None:
        if self._port is not None:
            self._port.close()
            self._port = None

    def close(self) -> None:
        self.hang_up()
