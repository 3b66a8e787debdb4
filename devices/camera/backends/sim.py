# URL format: sim://SCENE?… — a simulated camera showing a scene of devices/camera/sim/scenes.py
#   (sim://test-pattern, and the scenes registered there), with options ?fps=30 (frames a
#   second, delivered in real time), ?realtime=0 (as fast as the caller reads instead),
#   ?frames=N (end after N frames; without it the camera runs until closed),
#   ?condition=clean|mild|moderate (what a real camera does to the picture, see
#   devices/camera/sim/degrade.py) with ?seed=N (the same seed, the same frames), and the
#   scene's own options (sim://test-pattern?width=640&height=480).
"""The simulated-camera backend: frames drawn by a registered scene, paced like a camera's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from cv2.typing import MatLike

from devices.camera.sim.degrade import CONDITIONS, degrade
from devices.camera.sim.scenes import SCENE_MODULES, SCENES, find_scene
from devices.camera.sources import (
    BadSourceUrl,
    Converter,
    FrameSource,
    as_bool,
    as_count,
    as_positive,
    split_url,
)

URL_FORMAT = (
    "sim://SCENE?fps=30&realtime=1&frames=N&condition=clean|mild|moderate&seed=N"
    "&<the scene's options>"
)


def _condition(value: str) -> str:
    if value not in CONDITIONS:
        raise ValueError(f"应为 / expected one of {', '.join(CONDITIONS)}")
    return value


def _seed(value: str) -> int:
    seed = int(value)
    if seed < 0:
        raise ValueError("应为非负整数 / expected a whole number >= 0")
    return seed


class SimSource(FrameSource):
    """A scene rendered frame by frame, `index / fps` seconds into the scene."""

    URL_FORMAT = URL_FORMAT
    OPTIONS: ClassVar[Mapping[str, Converter]] = {
        "fps": as_positive,
        "realtime": as_bool,
        "frames": as_count,
        "condition": _condition,
        "seed": _seed,
    }

    def __init__(self, url: str, **options: Any) -> None:
        own = {k: v for k, v in options.items() if k in self.OPTIONS}
        self._scene_options = {k: str(v) for k, v in options.items() if k not in self.OPTIONS}
        super().__init__(url, **own)

    def _split(self, url: str) -> tuple[str, dict[str, str]]:
        target, given = split_url(url)
        self._scene_options = {
            **{k: v for k, v in given.items() if k not in self.OPTIONS},
            **self._scene_options,
        }
        return target, {k: v for k, v in given.items() if k in self.OPTIONS}

    def _configure(self, options: Mapping[str, Any]) -> None:
        name = self.target.split("://", 1)[1].strip("/")
        scene = find_scene(name)
        if scene is None:
            raise BadSourceUrl(
                f"{self.name}: 没有场景 {name} / no scene {name!r} "
                f"(可用 / known: {', '.join(sorted({*SCENES, *SCENE_MODULES}))}); URL 格式 / URL format: {URL_FORMAT}"
            )
        scene_options = dict(self._scene_options)
        try:
            self._render = scene.factory(scene_options)
        except ValueError as exc:
            raise BadSourceUrl(
                f"{self.name}: 选项无效 / bad option ({exc}); "
                f"URL 格式 / URL format: {scene.url_format}"
            ) from None
        if scene_options:
            raise BadSourceUrl(
                f"{self.name}: 未知选项 / unknown option {', '.join(sorted(scene_options))}; "
                f"URL 格式 / URL format: {scene.url_format} (sim: {URL_FORMAT})"
            )
        self.scene = scene
        self._fps = options.get("fps", 30.0)
        if options.get("realtime", True):
            self._interval = 1.0 / self._fps
        self.frames: int | None = options.get("frames")
        self.condition: str | None = options.get("condition")
        self._rng = np.random.default_rng(options.get("seed", 0))

    def _open_internal(self) -> None:
        pass  # nothing to open: the scene draws every frame

    def _read_internal(self) -> MatLike | None:
        index = self._index
        if self.frames is not None and index >= self.frames:
            return None
        frame = self._render(index / self._fps, index)
        if self.condition is not None:
            frame = degrade(frame, self.condition, self._rng)
        return frame

    def _close_internal(self) -> None:
        pass
