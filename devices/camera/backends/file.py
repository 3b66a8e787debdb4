# URL format: a video file's path (/srv/demo/rig3.mp4) or file:///srv/demo/rig3.mp4, with
#   options ?loop=1 (start again at the end, for demos) and ?realtime=1 (deliver at the file's
#   own frame rate; by default frames come as fast as the caller reads them).
"""The video-file backend: a file decoded with OpenCV's FFmpeg backend, read to its end."""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import cv2
from cv2.typing import MatLike

from devices.camera.backends.capture import CaptureSource
from devices.camera.sources import (
    BadSourceUrl,
    CameraUnavailable,
    Converter,
    as_bool,
    scheme_of,
    split_url,
)

URL_FORMAT = "PATH or file:///PATH, options ?loop=1 ?realtime=1"


def local_path(url: str, scheme: str, url_format: str) -> tuple[Path, dict[str, str]]:
    """The path a `PATH?…` or `scheme:///PATH?…` URL names, and its options."""
    if scheme_of(url) == "":
        base, options = split_url(url)
        return Path(base), options
    parts = urllib.parse.urlsplit(url)
    if parts.netloc not in ("", "localhost") or not parts.path:
        raise BadSourceUrl(
            f"{url}: {scheme}:// 后应为绝对路径 / {scheme}:// takes an absolute path "
            f"({scheme}:///srv/…); URL 格式 / URL format: {url_format}"
        )
    _, options = split_url(url)
    return Path(urllib.parse.unquote(parts.path)), options


class VideoFileSource(CaptureSource):
    """A video file, read once (or round and round with loop=1)."""

    URL_FORMAT = URL_FORMAT
    OPTIONS: ClassVar[Mapping[str, Converter]] = {"loop": as_bool, "realtime": as_bool}

    def _split(self, url: str) -> tuple[str, dict[str, str]]:
        path, options = local_path(url, "file", URL_FORMAT)
        return str(path), options

    def _configure(self, options: Mapping[str, Any]) -> None:
        self.path = Path(self.target)
        self.loop: bool = options.get("loop", False)
        self.realtime: bool = options.get("realtime", False)
        if not self.path.is_file():
            raise CameraUnavailable(
                f"{self.name}: 找不到视频文件 / no such video file: {self.path}"
            )

    def _open_internal(self) -> None:
        if not self._opened(cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)):
            raise CameraUnavailable(
                f"{self.name}: 无法解码此视频文件 / OpenCV cannot decode this video file: {self.path}"
            )
        if self.realtime:
            self._interval = 1.0 / self._fps

    def _read_internal(self) -> MatLike | None:
        frame = super()._read_internal()
        if frame is None and self.loop and self._index > 0:
            # Reopened rather than seeking back: seeking is exact only in some containers.
            self._close_internal()
            self._open_internal()
            frame = super()._read_internal()
        return frame
