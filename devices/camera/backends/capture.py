"""What the camera, stream and video-file backends share: one cv2.VideoCapture, read and
released with OpenCV's errors turned into a missing frame."""

from __future__ import annotations

import contextlib
import math

import cv2
from cv2.typing import MatLike

from devices.camera.sources import FrameSource


class CaptureSource(FrameSource):
    """A source read through one cv2.VideoCapture (`_capture`, None while closed)."""

    _capture: cv2.VideoCapture | None = None

    def _opened(self, capture: cv2.VideoCapture) -> bool:
        """Keep `capture` if it opened (and take its frame rate, when it reports one)."""
        if not capture.isOpened():
            capture.release()
            return False
        fps = capture.get(cv2.CAP_PROP_FPS)
        if fps > 0 and math.isfinite(fps):  # a source that does not say keeps the default
            self._fps = fps
        self._capture = capture
        return True

    def _read_internal(self) -> MatLike | None:
        if self._capture is None:
            return None
        try:
            ok, frame = self._capture.read()
        except cv2.error:
            return None  # a damaged file's tail, a stream cut mid-frame: no frame
        return frame if ok else None

    def _close_internal(self) -> None:
        if self._capture is not None:
            with contextlib.suppress(cv2.error):
                self._capture.release()
            self._capture = None
