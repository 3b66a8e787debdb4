"""Camera frames for the kiosk's scan tests: a QR drawn with segno onto an OpenCV image."""

from __future__ import annotations

import io

import cv2
import numpy as np
import segno


def qr_image(text: str, *, size: tuple[int, int] = (640, 480)) -> np.ndarray:
    """A grey camera-like BGR frame with the QR of `text` in the middle."""
    buffer = io.BytesIO()
    segno.make(text, error="m").save(buffer, kind="png", scale=8, border=4)
    code = cv2.imdecode(np.frombuffer(buffer.getvalue(), np.uint8), cv2.IMREAD_COLOR)
    width, height = size
    frame = np.full((height, width, 3), 170, np.uint8)
    side = min(height - 40, code.shape[0])
    code = cv2.resize(code, (side, side), interpolation=cv2.INTER_NEAREST)
    top, left = (height - side) // 2, (width - side) // 2
    frame[top : top + side, left : left + side] = code
    return frame


def jpeg(frame: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return data.tobytes()


def blank_jpeg() -> bytes:
    return jpeg(np.full((480, 640, 3), 120, np.uint8))
