# URL format: cam://INDEX (cam://0, the first camera OpenCV finds) or cam:///dev/v4l/by-id/…
#   (a Linux camera by its stable name: indexes change when cameras are replugged), with
#   options ?width=1280&height=720&fps=30 (asked of the camera; it may give something else),
#   ?retry=0.5 (first delay before reopening a camera that is missing or went away, seconds,
#   doubling each time) and ?retry_max=10 (the longest delay).
"""The local-camera backend: a USB or built-in camera through cv2.VideoCapture, reopened with
backoff when it is missing or unplugged."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import cv2

from devices.camera.backends.capture import CaptureSource
from devices.camera.sources import BadSourceUrl, CameraError, Converter, as_count, as_positive

URL_FORMAT = (
    "cam://INDEX or cam:///dev/v4l/by-id/NAME, "
    "options ?width=1280&height=720&fps=30&retry=0.5&retry_max=10"
)


class CameraIndexSource(CaptureSource):
    """A camera attached to this computer, read by a thread of its own."""

    live = True
    URL_FORMAT = URL_FORMAT
    OPTIONS: ClassVar[Mapping[str, Converter]] = {
        "width": as_count,
        "height": as_count,
        "fps": as_positive,
    }

    def _configure(self, options: Mapping[str, Any]) -> None:
        where = self.target.split("://", 1)[1]
        self.device: int | str
        if where.isdigit():
            self.device = int(where)
        elif where.startswith("/"):
            self.device = where
        else:
            raise BadSourceUrl(
                f"{self.name}: 应为摄像头编号或设备路径 / expected a camera index or a device "
                f"path; URL 格式 / URL format: {URL_FORMAT}"
            )
        self.asked = options
        if "fps" in options:
            self._fps = options["fps"]

    def _open_internal(self) -> None:
        if isinstance(self.device, int):
            capture = cv2.VideoCapture(self.device)
        else:
            capture = cv2.VideoCapture(self.device, cv2.CAP_V4L2)
        if capture.isOpened():
            for name, prop in (
                ("width", cv2.CAP_PROP_FRAME_WIDTH),
                ("height", cv2.CAP_PROP_FRAME_HEIGHT),
                ("fps", cv2.CAP_PROP_FPS),
            ):
                if name in self.asked:
                    capture.set(prop, float(self.asked[name]))
        if not self._opened(capture):
            raise CameraError(
                f"{self.name}: 没有摄像头 {self.device} / no camera {self.device} "
                "(未连接或被其他程序占用 / not plugged in, or in use by another program)"
            )
