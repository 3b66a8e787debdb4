# URL format: a folder's path (/srv/demo/snapshots) or dir:///srv/demo/snapshots: its images
#   (.png, .jpg, .jpeg, .bmp) in name order, with options ?fps=N (deliver N a second; without
#   it frames come as fast as the caller reads them, and fps reports 30) and ?loop=1 (start
#   again after the last image).
"""The folder backend: the images of one folder, in name order, as a camera's frames."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import cv2
from cv2.typing import MatLike

from devices.camera.backends.file import local_path
from devices.camera.sources import CameraUnavailable, Converter, FrameSource, as_bool, as_positive

URL_FORMAT = "DIR or dir:///DIR (images .png .jpg .jpeg .bmp by name), options ?fps=N ?loop=1"
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp"})


class FolderSource(FrameSource):
    """The images of a folder, listed when it is opened."""

    URL_FORMAT = URL_FORMAT
    OPTIONS: ClassVar[Mapping[str, Converter]] = {"fps": as_positive, "loop": as_bool}

    def _split(self, url: str) -> tuple[str, dict[str, str]]:
        path, options = local_path(url, "dir", URL_FORMAT)
        return str(path), options

    def _configure(self, options: Mapping[str, Any]) -> None:
        self.path = Path(self.target)
        self.loop: bool = options.get("loop", False)
        if "fps" in options:
            self._fps = options["fps"]
            self._interval = 1.0 / self._fps
        self.images: list[Path] = []
        self._next = 0

    def _open_internal(self) -> None:
        if not self.path.is_dir():
            raise CameraUnavailable(f"{self.name}: 找不到文件夹 / no such folder: {self.path}")
        self.images = sorted(
            p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
        )
        if not self.images:
            raise CameraUnavailable(
                f"{self.name}: 文件夹中没有图片 / the folder holds no .png, .jpg or .bmp image"
            )

    def _read_internal(self) -> MatLike | None:
        if self._next >= len(self.images):
            if not self.loop:
                return None
            self._next = 0
        image = self.images[self._next]
        self._next += 1
        frame = cv2.imread(str(image), cv2.IMREAD_COLOR)
        if frame is None:
            raise CameraUnavailable(f"{self.name}: 无法读取图片 / cannot decode the image {image}")
        return frame

    def _close_internal(self) -> None:
        self.images = []
