"""Video files made from generated frames, for tests, benchmarks and demo recordings.

The opencv-python-headless wheel here writes `.avi` with Motion-JPEG (`MJPG`: every frame on
its own, so a frame's content survives the same way in each) and `.mp4` with MPEG-4 Part 2
(`mp4v`); its FFmpeg has no H.264 encoder (`avc1` fails to open). Both read back with
cv2.VideoCapture, frame count and frame rate intact.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import cv2
from cv2.typing import MatLike

CODECS = {".avi": "MJPG", ".mp4": "mp4v"}
"""File suffix → the FourCC written for it."""


def write_video(path: str | Path, frames: Iterable[MatLike], fps: float = 30) -> int:
    """Write `frames` (BGR uint8, all one size, set by the first) to `path` (.avi or .mp4) at
    `fps`; the number of frames written."""
    path = Path(path)
    codec = CODECS.get(path.suffix.lower())
    if codec is None:
        raise ValueError(f"{path}: 应为 .avi 或 .mp4 / expected a .avi or .mp4 file")
    writer: cv2.VideoWriter | None = None
    count = 0
    try:
        for frame in frames:
            if writer is None:
                height, width = frame.shape[:2]
                writer = cv2.VideoWriter(
                    str(path), cv2.VideoWriter.fourcc(*codec), float(fps), (width, height)
                )
                if not writer.isOpened():
                    raise OSError(f"{path}: 无法写入视频 / OpenCV cannot write {codec} video")
            writer.write(frame)
            count += 1
    finally:
        if writer is not None:
            writer.release()
    return count
