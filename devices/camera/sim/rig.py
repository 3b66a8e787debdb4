"""A legacy rig's LED display as its fixed camera sees it: a dark window with slanted red (or
green) seven-segment digits, the unlit segments faintly visible, a decimal point, four ArUco
markers diagonally outside the window's corners, the whole under a camera's perspective and
then degraded (devices/camera/sim/degrade.py).

    frame = render_display("87.5", spec, rng, "mild")
    frame = render_display(None, spec, rng)                  # blank: every segment off
    frame = render_display("87.5", spec, rng, hidden=(1,))   # top-right marker covered

The digits are drawn in the reader's standard layout (devices/camera/sevenseg.DIGIT_LAYOUT),
scaled to the window, as a display built to it looks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from cv2.typing import MatLike

from devices.camera.sevenseg import (
    DIGIT_LAYOUT,
    DIGIT_SEGMENTS,
    MARKER_GAP,
    SEGMENTS,
    Corners,
    DigitLayout,
    DisplaySpec,
    _dictionary_id,
)
from devices.camera.sim.degrade import Condition, degrade

Frame = MatLike
Cell = tuple[str, bool]  # the lit segments ("abc…"), and whether the decimal point after is lit

FRAME_SIZE = (1280, 720)
COLOURS: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    # lit, unlit (BGR): an unlit segment is a faint tint of its colour over the dark window
    "red": ((40, 34, 236), (33, 31, 50)),
    "green": ((40, 230, 30), (30, 46, 28)),
}
_WINDOW = (20, 19, 23)
_HOUSING = (78, 82, 86)


def cells_of(text: str | None, digits: int) -> list[Cell]:
    """The cells a display shows for `text` ("87.5", " 9.0"; "" or None: blank), right-aligned
    to `digits` cells."""
    cells: list[Cell] = []
    for ch in text or "":
        if ch == ".":
            if not cells or cells[-1][1]:
                cells.append(("", True))
            else:
                cells[-1] = (cells[-1][0], True)
        elif ch == " ":
            cells.append(("", False))
        elif ch in DIGIT_SEGMENTS:
            cells.append((DIGIT_SEGMENTS[ch], False))
        else:
            raise ValueError(f"a seven-segment display cannot show {ch!r}")
    if len(cells) > digits:
        raise ValueError(f"{text!r} needs {len(cells)} digits, the display has {digits}")
    return [("", False)] * (digits - len(cells)) + cells


@dataclass(frozen=True)
class RigView:
    """Where the camera sees the rig: the display window's height in pixels, its centre, the
    camera's roll (degrees) and keystone (perspective, per pixel, x and y)."""

    display_height: float = 150.0
    centre: tuple[float, float] = (640.0, 360.0)
    roll: float = 0.0
    keystone: tuple[float, float] = (0.0, 0.0)
    frame_size: tuple[int, int] = FRAME_SIZE

    @classmethod
    def random(cls, rng: np.random.Generator) -> RigView:
        """A plausible mounting: the display somewhat off-centre, turned and seen at an angle."""
        return cls(
            display_height=float(rng.uniform(120, 190)),
            centre=(float(rng.uniform(470, 810)), float(rng.uniform(290, 430))),
            roll=float(rng.uniform(-6, 6)),
            keystone=(float(rng.uniform(-2.5e-4, 2.5e-4)), float(rng.uniform(-2.5e-4, 2.5e-4))),
        )

    def homography(self) -> np.ndarray:
        """Flat scene (the rig face, the window centred at `centre`) → camera frame."""
        cx, cy = self.centre
        a = math.radians(self.roll)
        kx, ky = self.keystone
        to_origin = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]], np.float64)
        turn = np.array(
            [[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]], np.float64
        )
        tilt = np.array([[1, 0, 0], [0, 1, 0], [kx, ky, 1]], np.float64)
        back = np.array([[1, 0, cx], [0, 1, cy], [0, 0, 1]], np.float64)
        return np.asarray(back @ tilt @ turn @ to_origin)

    def window(self, digits: int, layout: DigitLayout = DIGIT_LAYOUT) -> np.ndarray:
        """The window's corners TL TR BR BL in the flat scene."""
        scale = self.display_height / layout.height
        w, h = layout.cell_w * digits * scale, self.display_height
        cx, cy = self.centre
        return np.array(
            [[cx - w / 2, cy - h / 2], [cx + w / 2, cy - h / 2], [cx + w / 2, cy + h / 2],
             [cx - w / 2, cy + h / 2]], np.float64,
        )  # fmt: skip

    def window_corners(self, digits: int, layout: DigitLayout = DIGIT_LAYOUT) -> Corners:
        """The window's corners TL TR BR BL in the camera frame: a correct static calibration
        (before any nudge of the camera)."""
        flat = self.window(digits, layout).reshape(1, 4, 2)
        seen = cv2.perspectiveTransform(flat, self.homography()).reshape(4, 2)
        tl, tr, br, bl = ((float(x), float(y)) for x, y in seen)
        return (tl, tr, br, bl)


def _segment_polygon(p0: tuple[float, float], p1: tuple[float, float], stroke: float) -> np.ndarray:
    """A segment as LED displays draw it: a bar with pointed ends, a little shorter than its
    middle line so that neighbours do not touch."""
    (x0, y0), (x1, y1) = p0, p1
    length = math.hypot(x1 - x0, y1 - y0)
    dx, dy = (x1 - x0) / length, (y1 - y0) / length
    nx, ny = -dy, dx
    half = stroke / 2
    inset = 0.35 * stroke
    ax, ay = x0 + dx * inset, y0 + dy * inset
    bx, by = x1 - dx * inset, y1 - dy * inset
    return np.array(
        [[ax, ay], [ax + dx * half + nx * half, ay + dy * half + ny * half],
         [bx - dx * half + nx * half, by - dy * half + ny * half], [bx, by],
         [bx - dx * half - nx * half, by - dy * half - ny * half],
         [ax + dx * half - nx * half, ay + dy * half - ny * half]], np.float64,
    )  # fmt: skip


def _fill(img: np.ndarray, polygon: np.ndarray, colour: tuple[int, int, int]) -> None:
    shift = 4
    pts = np.round(polygon * (1 << shift)).astype(np.int32).reshape(-1, 1, 2)
    cv2.fillPoly(img, [pts], colour, lineType=cv2.LINE_AA, shift=shift)


def _marker_sticker(dictionary: cv2.aruco.Dictionary, marker_id: int, side: int) -> np.ndarray:
    image = cv2.aruco.generateImageMarker(dictionary, marker_id, side)
    border = round(MARKER_GAP * side)
    sticker = cv2.copyMakeBorder(
        image, border, border, border, border, cv2.BORDER_CONSTANT, value=255
    )
    return np.asarray(cv2.cvtColor(sticker, cv2.COLOR_GRAY2BGR))


def render_pattern(
    cells: Sequence[Cell],
    spec: DisplaySpec,
    rng: np.random.Generator,
    condition: Condition | str = "clean",
    *,
    view: RigView | None = None,
    hidden: Collection[int] = (),
    glare: float = 0.0,
    colour: str | None = None,
    layout: DigitLayout = DIGIT_LAYOUT,
) -> Frame:
    """The display lighting exactly `cells` (any segments, possible digits or not), as the
    camera delivers it. `hidden`: marker positions (0 TL, 1 TR, 2 BR, 3 BL) covered by
    something in front of them; `glare`: a reflection over the digits, peak grey levels."""
    if len(cells) != spec.digits:
        raise ValueError(f"{len(cells)} cells for a display of {spec.digits} digits")
    view = view or RigView()
    colour = colour or (spec.lit if spec.lit != "auto" else "red")
    lit_bgr, unlit_bgr = COLOURS[colour]
    w, h = view.frame_size
    scene = np.empty((h, w, 3), np.uint8)
    scene[:] = _HOUSING
    # a lighter rig face around the display, lit a little unevenly
    window = view.window(spec.digits, layout)
    x0, y0 = window[0]
    x1, y1 = window[2]
    side = round(0.42 * view.display_height)
    reach = MARKER_GAP * side + side * 1.6
    cv2.rectangle(
        scene,
        (int(x0 - reach), int(y0 - reach)),
        (int(x1 + reach), int(y1 + reach)),
        (150, 152, 150),
        -1,
    )
    shade = np.linspace(0.92, 1.06, w, dtype=np.float32)[None, :, None]
    scene = np.clip(scene * shade, 0, 255).astype(np.uint8)

    if spec.markers is not None:
        dictionary = cv2.aruco.getPredefinedDictionary(_dictionary_id(spec.dictionary))
        gap = MARKER_GAP * side
        for position, marker_id in enumerate(spec.markers):
            sticker = _marker_sticker(dictionary, marker_id, side)
            corner = window[position]
            sx = corner[0] - gap - side if position in (0, 3) else corner[0] + gap
            sy = corner[1] - gap - side if position in (0, 1) else corner[1] + gap
            left, top = round(sx - gap), round(sy - gap)
            sh, sw = sticker.shape[:2]
            scene[top : top + sh, left : left + sw] = sticker
            if position in hidden:  # a cable or a hand in front of it
                centre = (round(sx + side / 2), round(sy + side / 2))
                cv2.ellipse(scene, centre, (side, side // 2), 35, 0, 360, (60, 70, 95), -1)

    # the window, its digits lit and unlit, and the decimal points
    _fill(scene, window, _WINDOW)
    scale = view.display_height / layout.height
    origin = window[0]
    lit_layer = np.zeros_like(scene)
    stroke = layout.stroke * scale
    for cell, (segments, dp) in enumerate(cells):
        for seg in SEGMENTS:
            p0, p1 = layout.segment_line(cell, seg)
            polygon = _segment_polygon(
                (origin[0] + p0[0] * scale, origin[1] + p0[1] * scale),
                (origin[0] + p1[0] * scale, origin[1] + p1[1] * scale),
                stroke,
            )
            _fill(scene, polygon, unlit_bgr)
            if seg in segments:
                _fill(lit_layer, polygon, lit_bgr)
        cx, cy = layout.dp_centre(cell)
        centre = (round((origin[0] + cx * scale) * 16), round((origin[1] + cy * scale) * 16))
        radius = round(layout.dp_radius * scale * 16)
        cv2.circle(scene, centre, radius, unlit_bgr, -1, cv2.LINE_AA, shift=4)
        if dp:
            cv2.circle(lit_layer, centre, radius, lit_bgr, -1, cv2.LINE_AA, shift=4)
    lit_mask = lit_layer.max(axis=2) > 0
    scene[lit_mask] = lit_layer[lit_mask]
    pad = round(0.3 * view.display_height)  # the glow around the lit segments, near the window
    top, left = max(0, round(y0) - pad), max(0, round(x0) - pad)
    bottom, right = min(h, round(y1) + pad), min(w, round(x1) + pad)
    glow = cv2.GaussianBlur(
        lit_layer[top:bottom, left:right], (0, 0), sigmaX=0.08 * view.display_height
    )
    part = scene[top:bottom, left:right]
    scene[top:bottom, left:right] = cv2.addWeighted(part, 1.0, glow, 0.35, 0)

    if glare > 0:  # a reflection of a lamp right on the display's glass
        lamp: MatLike = np.zeros((h, w), np.float32)
        centre = (round((x0 + x1) / 2), round((y0 + y1) / 2))
        axes = (round((x1 - x0) * 0.45), round((y1 - y0) * 0.6))
        cv2.ellipse(lamp, centre, axes, 0, 0, 360, float(glare), -1)
        lamp = cv2.GaussianBlur(lamp, (0, 0), sigmaX=0.1 * view.display_height)
        scene = np.asarray(cv2.add(scene, cv2.merge([lamp, lamp, lamp]), dtype=cv2.CV_8U))

    seen = cv2.warpPerspective(
        scene, view.homography(), (w, h), flags=cv2.INTER_LINEAR, borderValue=_HOUSING
    )
    return degrade(seen, condition, rng)


def render_display(
    text: str | None,
    spec: DisplaySpec,
    rng: np.random.Generator,
    condition: Condition | str = "clean",
    *,
    view: RigView | None = None,
    hidden: Collection[int] = (),
    glare: float = 0.0,
    colour: str | None = None,
) -> Frame:
    """The display showing `text` ("87.5", " 9.0"; "" or None: blank), as the camera delivers
    it under `condition`. See `render_pattern` for the options."""
    return render_pattern(
        cells_of(text, spec.digits),
        spec,
        rng,
        condition,
        view=view,
        hidden=hidden,
        glare=glare,
        colour=colour,
    )


# --- the live scene: sim://rig ------------------------------------------------------------------

RIG_URL_FORMAT = (
    "sim://rig?digits=3&decimals=1&cycle=15&show=8&view=1&colour=red"
    " (and the sim camera's own condition=, seed=, fps= …)"
)


def rig_scene(options: dict[str, str]) -> Callable[[float, int], MatLike]:
    """A rig that finishes a run every `cycle` seconds and shows its score for the last `show`
    seconds of each, dark in between (scores drawn from `view`, which also places the display in
    the camera's view). A shown value is drawn once and then repeated, as a still display is."""
    try:
        digits = int(options.pop("digits", "3"))
        decimals = int(options.pop("decimals", "1"))
        cycle = float(options.pop("cycle", "15"))
        show = float(options.pop("show", "8"))
        seed = int(options.pop("view", "1"))
    except ValueError as exc:
        raise ValueError(
            f"digits, decimals, cycle, show, view: 应为数字 / must be numbers ({exc})"
        ) from None
    colour = options.pop("colour", "red")
    if colour not in COLOURS:
        raise ValueError(f"colour={colour}: 应为 red 或 green / must be red or green")
    if not 0 < show < cycle:
        raise ValueError(f"show={show:g}: 应在 0 与 cycle 之间 / must be between 0 and cycle")
    spec = DisplaySpec(
        digits=digits, decimals=decimals, lit="green" if colour == "green" else "red"
    )
    view = RigView.random(np.random.default_rng(seed))
    drawn: dict[str | None, MatLike] = {}
    top = 10 ** (digits - decimals) - 1

    def render(t: float, index: int) -> MatLike:
        run, phase = divmod(t, cycle)
        text: str | None = None
        if phase >= cycle - show:
            tenths = np.random.default_rng((seed, int(run))).integers(40 * 10, min(top, 100) * 10)
            text = f"{tenths / 10:.{decimals}f}"
        if text not in drawn:
            if len(drawn) > 8:
                drawn.clear()
            drawn[text] = render_display(text, spec, np.random.default_rng(seed), view=view)
        return drawn[text]

    return render


def _register() -> None:
    from devices.camera.sim.scenes import register_scene

    register_scene("rig", rig_scene, url_format=RIG_URL_FORMAT)


_register()
