"""Camera frames chosen by URL: the base every frame source shares, and the registry of backends.

As with the serial links (devices/source.py), the URL's scheme picks the backend and its module
(devices/camera/backends/) is imported only when a URL of that scheme is opened. The base class
writes the public methods once (`read`, `close`, the context manager, the reconnecting reader
thread of a live camera); a backend implements `_open_internal`, `_read_internal` and
`_close_internal`.

    CameraError                      (a DeviceError) anything a frame source can go wrong with
     ├── BadSourceUrl                (also a ValueError) the URL or one of its options is wrong
     ├── CameraUnavailable           (also a DeviceUnavailable) the file or folder cannot be read
     └── SourceEnded                 a finite source (a video file, a folder) has no more frames

Two kinds of source: a *finite* one (a video file, a folder, a simulated camera) is read in the
caller's thread and ends; a *live* one (a camera, a network stream) is read by its own thread,
which reopens it with backoff whenever it fails and never raises to the caller.
"""

from __future__ import annotations

import importlib
import threading
import time
import urllib.parse
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self

from cv2.typing import MatLike

from devices.backoff import Backoff
from devices.errors import DeviceError, DeviceUnavailable


class CameraError(DeviceError):
    """Base of every error raised by a frame source."""


class BadSourceUrl(CameraError, ValueError):
    """The URL names no backend, or has an option that is unknown or has a bad value."""


class CameraUnavailable(CameraError, DeviceUnavailable):
    """A video file or folder that does not exist or cannot be decoded."""


class SourceEnded(CameraError):
    """A finite source has delivered its last frame."""


@dataclass(frozen=True)
class Captured:
    frame: MatLike  # BGR uint8
    at: float  # time.time() when the frame was taken
    index: int  # 0, 1, 2 … frames delivered by this source since it was opened


_FILE = ("devices.camera.backends.file", "VideoFileSource")
_FOLDER = ("devices.camera.backends.folder", "FolderSource")
_STREAM = ("devices.camera.backends.stream", "StreamSource")

BACKENDS: dict[str, tuple[str, str]] = {
    "cam": ("devices.camera.backends.cam", "CameraIndexSource"),
    "file": _FILE,
    "dir": _FOLDER,
    "rtsp": _STREAM,
    "rtsps": _STREAM,
    "http": _STREAM,
    "https": _STREAM,
    "sim": ("devices.camera.backends.sim", "SimSource"),
}
"""URL scheme → (module, class). A path without `scheme://` is a video file, or a folder of
images when it names a directory."""

Converter = Callable[[str], Any]
"""Turns an option's text into its value; ValueError (with a reason) if it cannot."""

_OPEN: weakref.WeakSet[FrameSource] = weakref.WeakSet()


def scheme_of(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


def register_backend(scheme: str, module: str, name: str) -> None:
    """Let URLs of `scheme://` open with `module.name` (imported when first used)."""
    BACKENDS[scheme.lower()] = (module, name)


def open_source(url: str, **options: Any) -> FrameSource:
    """Open the frame source at `url` with the backend its scheme names.

    Keyword options are the URL's own (`open_source("demo.mp4", loop=True)` is
    `demo.mp4?loop=1`) and are checked the same way.
    """
    scheme = scheme_of(url)
    if scheme == "":
        path = url.split("?", 1)[0]
        module_name, class_name = _FOLDER if Path(path).is_dir() else _FILE
    else:
        try:
            module_name, class_name = BACKENDS[scheme]
        except KeyError:
            known = ", ".join(f"{s}://" for s in sorted(BACKENDS))
            raise BadSourceUrl(
                f"{redacted(url)}: 没有 {scheme}:// 的摄像头后端 / no camera backend for {scheme}:// "
                f"(可用 / known: a file or folder path, {known})"
            ) from None
    backend: type[FrameSource] = getattr(importlib.import_module(module_name), class_name)
    return backend(url, **options)


def open_sources() -> list[FrameSource]:
    """Every source opened in this process and not yet closed (for leak checks in tests)."""
    return list(_OPEN)


# --- options ----------------------------------------------------------------------------------


def split_url(url: str) -> tuple[str, dict[str, str]]:
    """The URL without its `?query`, and the query's options (an option given twice is refused)."""
    base, _, query = url.partition("?")
    options: dict[str, str] = {}
    for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if name in options:
            raise BadSourceUrl(f"{redacted(url)}: 选项 {name} 重复 / option {name} is given twice")
        options[name] = value
    return base, options


def redacted(url: str) -> str:
    """`url` with the password of its `user:password@` part replaced by ***."""
    scheme, sep, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    userinfo, at, host = authority.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return url
    return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{host}{slash}{path}"


def as_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"应为 1 或 0 / expected 1 or 0, got {value!r}")


def as_positive(value: str) -> float:
    number = float(value)
    if not number > 0 or number == float("inf"):
        raise ValueError(f"应为正数 / expected a positive number, got {value!r}")
    return number


def as_count(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(f"应为正整数 / expected a positive whole number, got {value!r}")
    return number


def parse_options(
    url: str,
    given: Mapping[str, object],
    known: Mapping[str, Converter],
    url_format: str,
) -> dict[str, Any]:
    """`given` converted by `known`'s converters; an unknown name or a bad value is refused with
    a message that names it and quotes `url_format`."""
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise BadSourceUrl(
            f"{url}: 未知选项 / unknown option {', '.join(unknown)}; "
            f"URL 格式 / URL format: {url_format}"
        )
    parsed: dict[str, Any] = {}
    for name, value in given.items():
        text = ("1" if value else "0") if isinstance(value, bool) else str(value)
        try:
            parsed[name] = known[name](text)
        except ValueError as exc:
            raise BadSourceUrl(
                f"{url}: 选项 {name}={text} 无效 / bad option {name}={text} ({exc}); "
                f"URL 格式 / URL format: {url_format}"
            ) from None
    return parsed


# --- the base class ---------------------------------------------------------------------------


class FrameSource(ABC):
    """One open source of camera frames.

    `read()` returns the next frame as a Captured. A finite source raises SourceEnded after its
    last frame. A live source never raises for a camera that fails: its state goes to
    "reconnecting", `read()` returns None, and `problem` says why until frames flow again. A
    live source hands out the newest frame: frames the caller was too slow to take are dropped
    (counted in `dropped`).
    """

    live: ClassVar[bool] = False
    """Read by a thread of its own and reopened when it fails (a camera, a stream)."""

    URL_FORMAT: ClassVar[str] = ""
    OPTIONS: ClassVar[Mapping[str, Converter]] = {}
    LIVE_OPTIONS: ClassVar[Mapping[str, Converter]] = {
        "retry": as_positive,  # first delay before reopening, seconds
        "retry_max": as_positive,  # longest delay between attempts, seconds
    }

    def __init__(self, url: str, **options: Any) -> None:
        self.url = url
        self.name = redacted(url)
        """The URL as messages show it: a stream's password replaced by ***."""
        self.state = "connecting"
        self.problem: str | None = None
        """Why a live source is not delivering frames (Chinese / English), None while live."""
        self.dropped = 0
        self._fps = 30.0
        self._index = 0
        self._closed = False
        self._lock = threading.Condition()
        # A finite source paces itself at `_interval` seconds a frame (0: as fast as read).
        self._interval = 0.0
        self._due = 0.0
        # A live source's reader thread leaves the newest frame here.
        self._latest: tuple[MatLike, float] | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        target, from_url = self._split(url)
        self.target = target
        """What the backend opens: the URL without this module's options."""
        known = {**self.OPTIONS, **(self.LIVE_OPTIONS if self.live else {})}
        self.options = parse_options(self.name, {**from_url, **options}, known, self.URL_FORMAT)
        self._configure(self.options)
        if self.live:
            self._backoff = Backoff(
                initial=min(self.options.get("retry", 0.5), self.options.get("retry_max", 10.0)),
                cap=self.options.get("retry_max", 10.0),
            )
            _OPEN.add(self)
            self._thread = threading.Thread(
                target=self._run, name=f"camera {self.name}", daemon=True
            )
            self._thread.start()
        else:
            self._open_internal()
            self.state = "live"
            _OPEN.add(self)

    def _split(self, url: str) -> tuple[str, dict[str, str]]:
        """The URL's target and its options; a backend whose query is not its own overrides."""
        return split_url(url)

    # --- the public methods, written once ----------------------------------------------------

    def read(self, timeout: float = 1.0) -> Captured | None:
        """The next frame; None if none came within `timeout` (a live source reconnecting).
        Raises SourceEnded when a finite source (a video file, a folder) has no more frames."""
        if self.live:
            return self._read_live(timeout)
        if self._closed:
            raise CameraError(f"{self.name}: 已关闭 / closed")
        if self.state == "ended":
            raise SourceEnded(f"{self.name}: 没有更多画面 / no more frames")
        if self._interval:
            wait = self._due - time.monotonic()
            if wait > timeout:
                time.sleep(max(timeout, 0.0))
                return None
            if wait > 0:
                time.sleep(wait)
        frame = self._read_internal()
        if frame is None:
            self.state = "ended"
            raise SourceEnded(f"{self.name}: 没有更多画面 / no more frames")
        if self._interval:
            self._due = max(self._due, time.monotonic()) + self._interval
        captured = Captured(frame, time.time(), self._index)
        self._index += 1
        return captured

    def close(self) -> None:
        """Release the camera, file or stream; safe to call more than once."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._stop.set()
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join()  # it releases the capture itself, between two reads
        else:
            self._close_internal()
        self.state = "closed"
        _OPEN.discard(self)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def fps(self) -> float:
        """Nominal frames per second."""
        return self._fps

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.state}>"

    # --- a live source: its reader thread ----------------------------------------------------

    def _read_live(self, timeout: float) -> Captured | None:
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._latest is None or self._closed:
                if self._closed:
                    raise CameraError(f"{self.name}: 已关闭 / closed")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._lock.wait(remaining)
            frame, at = self._latest
            self._latest = None
            captured = Captured(frame, at, self._index)
            self._index += 1
            return captured

    def _run(self) -> None:
        is_open = False
        try:
            while not self._stop.is_set():
                if not is_open:
                    try:
                        self._open_internal()
                    except CameraError as exc:
                        self._failed(str(exc))
                        continue
                    is_open = True
                try:
                    frame = self._read_internal()
                except Exception as exc:  # a reader thread that died would leave a camera dark
                    frame, why = None, f"{self.name}: {exc}"
                else:
                    why = f"{self.name}: 画面中断 / the camera stopped delivering frames"
                if frame is None:
                    self._close_internal()
                    is_open = False
                    self._failed(why)
                    continue
                at = time.time()
                with self._lock:
                    if self._latest is not None:
                        self.dropped += 1
                    self._latest = (frame, at)
                    self.state = "live"
                    self.problem = None
                    self._lock.notify_all()
                self._backoff.reset()
        finally:
            if is_open:
                self._close_internal()

    def _failed(self, problem: str) -> None:
        with self._lock:
            if self.state != "connecting":
                self.state = "reconnecting"
            self.problem = problem
        self._stop.wait(self._backoff.next_delay())

    # --- what a backend implements -----------------------------------------------------------

    def _configure(self, options: Mapping[str, Any]) -> None:  # noqa: B027 - optional hook
        """Take the checked options (before anything is opened)."""

    @abstractmethod
    def _open_internal(self) -> None:
        """Open the camera, file or stream; CameraError (with a message for the installer) if
        it cannot be opened."""

    @abstractmethod
    def _read_internal(self) -> MatLike | None:
        """The next BGR frame; None at the end of a finite source, or when a live one failed."""

    @abstractmethod
    def _close_internal(self) -> None:
        """Release what `_open_internal` opened (never raises)."""
