"""Camera frames for the kiosk's scan tests: a QR drawn with segno onto an OpenCV image."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import segno

from tests.conftest import IN_CI
from tests.kiosk.conftest import CHROMIUM, CHROMIUM_FLAGS


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


def write_y4m(path: Path, frame: np.ndarray, *, count: int = 15) -> Path:
    """A fake camera's video for Chromium (--use-file-for-fake-video-capture): `count` copies
    of a 640×480 BGR frame, 4:2:0 planes as YUV4MPEG2 wants them."""
    planes = cv2.cvtColor(cv2.resize(frame, (640, 480)), cv2.COLOR_BGR2YUV_I420).tobytes()
    with path.open("wb") as out:
        out.write(b"YUV4MPEG2 W640 H480 F15:1 Ip A1:1 C420jpeg\n")
        for _ in range(count):
            out.write(b"FRAME\n" + planes)
    return path


@pytest.fixture(scope="module")
def camera_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the fake camera's video is; a test writes what the camera sees before it opens."""
    path = tmp_path_factory.mktemp("camera") / "camera.y4m"
    write_y4m(path, np.full((480, 640, 3), 120, np.uint8))
    return path


@pytest.fixture(scope="module")
def camera_browser(camera_video: Path) -> Iterator[Any]:
    """Chromium as the conftest launches it, with a fake camera showing `camera_video`."""
    if not os.path.exists(CHROMIUM):
        reason = f"{CHROMIUM} is missing: apt-get install chromium chromium-driver"
        if IN_CI:
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    flags = [
        *CHROMIUM_FLAGS,
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={camera_video}",
    ]
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=flags)
        yield chromium
        chromium.close()
