# URL format: rtsp://[USER:PASSWORD@]HOST[:PORT]/PATH, rtsps://…, http://…, https://… (an MJPEG
#   or other stream FFmpeg reads). The URL's ?query is the camera's own and is sent as it is;
#   this backend's options go after `#`: #timeout=5 (seconds to wait for the stream to open or
#   for a frame), #retry=0.5 (first delay before reopening a dropped stream, seconds, doubling
#   each time) and #retry_max=10 (the longest delay), joined with & (#timeout=3&retry=1).
"""The network-stream backend: an IP camera's RTSP or HTTP stream through OpenCV's FFmpeg,
reopened with backoff whenever it drops."""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any, ClassVar

import cv2

from devices.camera.backends.capture import CaptureSource
from devices.camera.sources import BadSourceUrl, CameraError, Converter, as_positive

URL_FORMAT = (
    "rtsp://HOST/PATH, http(s)://HOST/PATH (the ?query is the camera's), "
    "options after #: #timeout=5&retry=0.5&retry_max=10"
)


class StreamSource(CaptureSource):
    """A network camera's stream, read by a thread of its own."""

    live = True
    URL_FORMAT = URL_FORMAT
    OPTIONS: ClassVar[Mapping[str, Converter]] = {"timeout": as_positive}

    def _split(self, url: str) -> tuple[str, dict[str, str]]:
        target, _, fragment = url.partition("#")
        options: dict[str, str] = {}
        for name, value in urllib.parse.parse_qsl(fragment, keep_blank_values=True):
            if name in options:
                raise BadSourceUrl(f"{self.name}: 选项 {name} 重复 / option {name} is given twice")
            options[name] = value
        return target, options

    def _configure(self, options: Mapping[str, Any]) -> None:
        self.timeout: float = options.get("timeout", 5.0)

    def _open_internal(self) -> None:
        millis = int(self.timeout * 1000)
        capture = cv2.VideoCapture(
            self.target,
            cv2.CAP_FFMPEG,
            [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, millis, cv2.CAP_PROP_READ_TIMEOUT_MSEC, millis],
        )
        if not self._opened(capture):
            raise CameraError(f"{self.name}: 无法打开视频流 / cannot open the stream")
