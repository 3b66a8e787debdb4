"""The scenes a simulated camera (`sim://NAME?…`) can show, by name, and the built-in
`test-pattern`.

A scene's factory takes the URL's options (all but the sim backend's own) as a dict of strings,
removes the ones it understands, and returns `render(t, index)`, a function that draws the
frame seen `t` seconds after the camera opened (the `index`-th). Whatever the factory leaves in
the dict is refused as unknown, quoting the scene's `url_format`; a value it cannot use raises
ValueError, with a message naming the option.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from cv2.typing import MatLike

Render = Callable[[float, int], MatLike]
SceneFactory = Callable[[dict[str, str]], Render]


@dataclass(frozen=True)
class Scene:
    name: str
    factory: SceneFactory
    url_format: str


SCENES: dict[str, Scene] = {}

SCENE_MODULES: dict[str, str] = {
    "pod": "devices.camera.sim.pod",
    "rig": "devices.camera.sim.rig",
}
"""Scene name → the module that registers it when imported, for scenes that live elsewhere
(imported by `find_scene` the first time the name is asked for)."""


def register_scene(name: str, factory: SceneFactory, *, url_format: str = "") -> None:
    """Make `sim://name?…` show what `factory` renders (a later registration replaces one of
    the same name). `url_format` is quoted to whoever gives the scene an option it lacks."""
    SCENES[name] = Scene(name, factory, url_format or f"sim://{name}")


def find_scene(name: str) -> Scene | None:
    """The scene registered as `name`, importing its module first if need be."""
    if name not in SCENES and name in SCENE_MODULES:
        importlib.import_module(SCENE_MODULES[name])
    return SCENES.get(name)


def size_option(options: dict[str, str], name: str, default: int) -> int:
    """A frame dimension taken out of `options`: 16 to 4096 pixels."""
    text = options.pop(name, str(default))
    value = int(text)
    if not 16 <= value <= 4096:
        raise ValueError(f"{name}={text}: 应在 16 到 4096 之间 / must be 16 to 4096 pixels")
    return value


# --- the built-in test pattern ----------------------------------------------------------------

BAR_WIDTH = 8
BAR_STEP = 4  # pixels the bar moves each frame


def bar_x(index: int, width: int) -> int:
    """The left edge of the test pattern's bar in frame `index` (for checks on its frames)."""
    return (index * BAR_STEP) % (width - BAR_WIDTH)


def moving_bar(options: dict[str, str]) -> Render:
    """A dark frame with a white bar moving right by BAR_STEP pixels a frame and the frame's
    number written in its lower left corner."""
    width = size_option(options, "width", 640)
    height = size_option(options, "height", 480)
    scale = height / 480

    def render(t: float, index: int) -> MatLike:
        frame = np.full((height, width, 3), 40, np.uint8)
        x = bar_x(index, width)
        frame[:, x : x + BAR_WIDTH] = 255
        cv2.putText(
            frame,
            f"{index:06d}  {t:8.2f} s",
            (int(12 * scale), height - int(16 * scale)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.9 * scale,
            (0, 200, 255),
            max(1, round(2 * scale)),
            cv2.LINE_AA,
        )
        return frame

    return render


register_scene("test-pattern", moving_bar, url_format="sim://test-pattern?width=640&height=480")
