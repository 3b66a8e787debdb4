"""The seven-segment reader for legacy rigs: a fixed camera reads the score off the rig's LED
display, and a value counts only once it has read the same, with certainty, for N frames.

The display's window is found in every frame from four ArUco markers stuck diagonally outside
its corners (so a nudged camera does not shift the reading), or, when a marker is hidden, from
a static four-corner calibration. The window is warped to a canonical image in which the digits
sit in the standard layout (`DIGIT_LAYOUT`); each segment is sampled at three points along its
middle and judged against the digit's own lit and unlit levels. A segment between the two, a
pattern that is no digit, a decimal point where none belongs, glare or too little contrast
make the frame "unreadable": the reader rejects rather than guesses, because a wrong score is
worse than no score.

Marker placement: the markers are upright (their id readable), the top-left one above and left
of the window's top-left corner and so on; between each marker's black square and the window's
corner is a gap of a quarter of the marker's side, diagonally (a printed sticker with a white
border that wide, its inner corner on the window's corner).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import cv2
import numpy as np
from cv2.typing import MatLike

from devices.errors import DeviceError

Frame = MatLike
Point = tuple[float, float]
Corners = tuple[Point, Point, Point, Point]
State = Literal["value", "blank", "unreadable"]
Lit = Literal["red", "green", "auto"]

SEGMENTS = "abcdefg"
DIGIT_PATTERNS: dict[frozenset[str], str] = {
    frozenset(segments): digit
    for segments, digit in (
        ("abcdef", "0"),
        ("bc", "1"),
        ("abdeg", "2"),
        ("abcdg", "3"),
        ("bcfg", "4"),
        ("acdfg", "5"),
        ("acdefg", "6"),
        ("cdefg", "6"),  # a six without its top bar, as some drivers show it
        ("abc", "7"),
        ("abcf", "7"),  # a seven with a hook
        ("abcdefg", "8"),
        ("abcdfg", "9"),
        ("abcfg", "9"),  # a nine without its bottom bar
    )
}
"""Lit segments → digit. Every other pattern is impossible, so unreadable."""
DIGIT_SEGMENTS: dict[str, str] = {
    "0": "abcdef", "1": "bc", "2": "abdeg", "3": "abcdg", "4": "bcfg",
    "5": "acdfg", "6": "acdefg", "7": "abc", "8": "abcdefg", "9": "abcdfg",
}  # fmt: skip
"""Digit → its segments, as the simulated display draws them."""

MARKER_GAP = 0.25
"""Gap between a marker's black square and the window's corner, in marker sides, diagonally."""

WHY: dict[str, str] = {
    "markers": "找不到显示屏的标记且没有标定 / display markers not found and no calibration",
    "camera_moved": "可见标记与标定不符，摄像头可能被碰动 / the markers in view disagree with the calibration: the camera may have moved",
    "outside": "显示屏超出画面 / the display lies partly outside the frame",
    "glare": "数字上有反光或过曝 / glare or saturation over a digit",
    "low_contrast": "对比度不足 / too little contrast between lit and unlit segments",
    "unsure_segment": "有段介于亮与灭之间 / a segment is neither clearly lit nor clearly off",
    "bad_pattern": "段的组合不是数字 / the lit segments form no digit",
    "decimal_point": "小数点位置不对 / the decimal point is not where it belongs",
    "blank_digit": "数字中间或个位有空位 / a digit is dark inside the number",
}
"""Why a frame is unreadable: code → the text a person reads (Chinese first, English second)."""


class DisplaySpecError(DeviceError, ValueError):
    """A display's configuration does not validate; the message says which key and why."""


# --- the canonical display and the digits' layout in it ------------------------------------------


@dataclass(frozen=True)
class DigitLayout:
    """Where a digit sits in its cell of the canonical display image (pixels of that image).

    The canonical image is `cell_w × digits` wide and `height` high; cell i holds digit i
    (left to right) and, at its bottom right, the decimal point after it.
    """

    cell_w: int = 48
    height: int = 80
    top: float = 10.5  # the digit's top bar's middle
    bottom: float = 69.5  # the bottom bar's middle
    left: float = 8.0  # the left bars' middle, before slanting
    width: float = 28.0  # left bars' middle to right bars' middle
    slant: float = 0.12  # horizontal shift per pixel upwards (about 7°)
    stroke: float = 6.5  # a segment's thickness
    dp_dx: float = 7.5  # the decimal point's centre, right of the bottom-right corner
    dp_radius: float = 3.5

    def point(self, cell: int, u: float, v: float) -> Point:
        """The canonical-image point at (u, v) of cell `cell`'s digit box: u 0 → left bars,
        1 → right bars; v 0 → top bar, 1 → bottom bar; slanted like the digits."""
        y = self.top + v * (self.bottom - self.top)
        mid = (self.top + self.bottom) / 2
        x = cell * self.cell_w + self.left + u * self.width + self.slant * (mid - y)
        return (x, y)

    def segment_line(self, cell: int, segment: str) -> tuple[Point, Point]:
        """The middle line of one segment, end to end."""
        u0, v0, u1, v1 = _SEGMENT_UV[segment]
        return self.point(cell, u0, v0), self.point(cell, u1, v1)

    def dp_centre(self, cell: int) -> Point:
        x, y = self.point(cell, 1.0, 1.0)
        return (x + self.dp_dx, y)

    def size(self, digits: int) -> tuple[int, int]:
        return (self.cell_w * digits, self.height)


_SEGMENT_UV: dict[str, tuple[float, float, float, float]] = {
    "a": (0, 0, 1, 0),
    "b": (1, 0, 1, 0.5),
    "c": (1, 0.5, 1, 1),
    "d": (0, 1, 1, 1),
    "e": (0, 0.5, 0, 1),
    "f": (0, 0, 0, 0.5),
    "g": (0, 0.5, 1, 0.5),
}
_ALONG = (0.3, 0.5, 0.7)  # where on a segment's middle line it is sampled
_COUNTERS = ((0.38, 0.25), (0.62, 0.25), (0.38, 0.75), (0.62, 0.75))  # inside the loops: dark

DIGIT_LAYOUT = DigitLayout()


@dataclass(frozen=True)
class SamplePoints:
    """The canonical-image points the reader samples, per digit cell."""

    segments: tuple[dict[str, tuple[Point, ...]], ...]
    counters: tuple[tuple[Point, ...], ...]
    dps: tuple[Point, ...]

    def all_points(self) -> list[Point]:
        points: list[Point] = []
        for cell, segs in enumerate(self.segments):
            for seg in SEGMENTS:
                points.extend(segs[seg])
            points.extend(self.counters[cell])
            points.append(self.dps[cell])
        return points


def sample_points(digits: int, layout: DigitLayout = DIGIT_LAYOUT) -> SamplePoints:
    segments = []
    counters = []
    dps = []
    for cell in range(digits):
        per_segment: dict[str, tuple[Point, ...]] = {}
        for seg in SEGMENTS:
            (x0, y0), (x1, y1) = layout.segment_line(cell, seg)
            per_segment[seg] = tuple((x0 + t * (x1 - x0), y0 + t * (y1 - y0)) for t in _ALONG)
        segments.append(per_segment)
        counters.append(tuple(layout.point(cell, u, v) for u, v in _COUNTERS))
        dps.append(layout.dp_centre(cell))
    return SamplePoints(tuple(segments), tuple(counters), tuple(dps))


# --- the configuration of one station's display --------------------------------------------------


def corner_problems(
    points: Sequence[Point], image_size: tuple[int, int] | None = None
) -> list[str]:
    """What is wrong with four window corners given as TL, TR, BR, BL (empty if nothing):
    each a message a person reads. `image_size` (width, height) also checks they are inside."""
    if len(points) != 4:
        return [f"需要四个角点，得到 {len(points)} 个 / four corners are needed, got {len(points)}"]
    pts = np.array(points, dtype=np.float64)
    if not np.all(np.isfinite(pts)):
        return ["角点坐标必须是有限数 / corner coordinates must be finite numbers"]
    problems: list[str] = []
    if image_size is not None:
        w, h = image_size
        names = ("左上 top-left", "右上 top-right", "右下 bottom-right", "左下 bottom-left")
        for name, (x, y) in zip(names, pts, strict=True):
            if not (0 <= x < w and 0 <= y < h):
                problems.append(
                    f"角点 {name} ({x:g},{y:g}) 在图像 {w}×{h} 之外 / corner {name} ({x:g},{y:g}) "
                    f"is outside the {w}×{h} image"
                )
        if problems:
            return problems
    sides = [float(np.hypot(*(pts[(i + 1) % 4] - pts[i]))) for i in range(4)]
    if min(sides) < 16:
        return [
            f"四边形太小或有重合的角点（最短边 {min(sides):.1f} 像素，至少 16） / the quadrilateral "
            f"is too small or has coinciding corners (shortest side {min(sides):.1f} px, at least 16)"
        ]
    crosses = []
    for i in range(4):
        e1 = pts[(i + 1) % 4] - pts[i]
        e2 = pts[(i + 2) % 4] - pts[(i + 1) % 4]
        crosses.append(float(e1[0] * e2[1] - e1[1] * e2[0]) / (sides[i] * sides[(i + 1) % 4]))
    if min(abs(c) for c in crosses) < 0.1:
        return [
            "角点近乎共线，四边形退化 / the quadrilateral is degenerate: three corners are "
            "(nearly) on one line"
        ]
    if not (all(c > 0 for c in crosses) or all(c < 0 for c in crosses)):
        return [
            "角点不构成凸四边形（是否有两个角点顺序颠倒？） / the corners do not form a convex "
            "quadrilateral (are two corners swapped?)"
        ]
    top, left = pts[1] - pts[0], pts[3] - pts[0]
    if all(c < 0 for c in crosses) or not (top[0] > abs(top[1]) and left[1] > abs(left[0])):
        return [
            "角点顺序应为 左上、右上、右下、左下 / the corners must be given in the order "
            "top-left, top-right, bottom-right, bottom-left"
        ]
    return problems


def _dictionary_id(name: str) -> int:
    if not name.startswith("DICT_") or not hasattr(cv2.aruco, name):
        raise DisplaySpecError(
            f"dictionary: 未知的 ArUco 字典 {name!r} / unknown ArUco dictionary {name!r} "
            "(e.g. DICT_4X4_50)"
        )
    return int(getattr(cv2.aruco, name))


@dataclass(frozen=True)
class DisplaySpec:
    """One station's LED display: how many digits, how many after the decimal point, how its
    window is found (marker ids TL, TR, BR, BL; and/or static corners TL, TR, BR, BL in the
    camera's pixels), how many identical frames make a value, the LEDs' colour."""

    digits: int
    decimals: int = 0
    markers: tuple[int, int, int, int] | None = (0, 1, 2, 3)
    corners: tuple[Point, ...] | None = None  # four: TL TR BR BL
    dictionary: str = "DICT_4X4_50"
    stable_frames: int = 5
    lit: Lit = "auto"

    def __post_init__(self) -> None:
        if isinstance(self.digits, bool) or not isinstance(self.digits, int):
            raise DisplaySpecError("digits: 必须是整数 / must be an integer")
        if not 1 <= self.digits <= 8:
            raise DisplaySpecError(
                f"digits: 位数须在 1 到 8 之间，得到 {self.digits} / must be 1 to 8, got {self.digits}"
            )
        if isinstance(self.decimals, bool) or not isinstance(self.decimals, int):
            raise DisplaySpecError("decimals: 必须是整数 / must be an integer")
        if not 0 <= self.decimals < self.digits:
            raise DisplaySpecError(
                f"decimals: 小数位须在 0 到 {self.digits - 1} 之间，得到 {self.decimals} / "
                f"must be 0 to {self.digits - 1} (fewer than the digits), got {self.decimals}"
            )
        if isinstance(self.stable_frames, bool) or not isinstance(self.stable_frames, int):
            raise DisplaySpecError("stable_frames: 必须是整数 / must be an integer")
        if self.stable_frames < 1:
            raise DisplaySpecError(
                f"stable_frames: 至少为 1，得到 {self.stable_frames} / must be at least 1, "
                f"got {self.stable_frames}"
            )
        if self.lit not in ("red", "green", "auto"):
            raise DisplaySpecError(
                f"lit: 须为 red、green 或 auto，得到 {self.lit!r} / must be red, green or auto, "
                f"got {self.lit!r}"
            )
        if self.markers is None and self.corners is None:
            raise DisplaySpecError(
                "markers, corners: 至少需要标记或标定角点之一 / give markers, calibrated "
                "corners, or both"
            )
        if self.markers is not None:
            size = cv2.aruco.getPredefinedDictionary(_dictionary_id(self.dictionary))
            count = int(size.bytesList.shape[0])
            ids = tuple(self.markers)
            if (
                len(ids) != 4
                or any(isinstance(i, bool) or not isinstance(i, int) for i in ids)
                or len(set(ids)) != 4
                or not all(0 <= i < count for i in ids)
            ):
                raise DisplaySpecError(
                    f"markers: 需要四个不同的标记编号（0–{count - 1}），依次为左上、右上、右下、左下，"
                    f"得到 {self.markers!r} / four different marker ids (0–{count - 1}) are "
                    f"needed, top-left, top-right, bottom-right, bottom-left; got {self.markers!r}"
                )
        if self.corners is not None:
            try:
                points = [(float(x), float(y)) for x, y in self.corners]
            except (TypeError, ValueError):
                raise DisplaySpecError(
                    "corners: 须为四个 (x, y) 点 / must be four (x, y) points"
                ) from None
            problems = corner_problems(points)
            if problems:
                raise DisplaySpecError("corners: " + "; ".join(problems))
            object.__setattr__(self, "corners", tuple(points))

    @property
    def dp_cell(self) -> int | None:
        """The cell whose decimal point is lit when a value shows (None: no decimals)."""
        return self.digits - 1 - self.decimals if self.decimals else None

    def toml_keys(self) -> str:
        """This display's keys of a `reads = "7seg"` [[camera]] table in stations.toml
        (devices/camera/config.py)."""
        lines = [f"digits = {self.digits}", f"decimals = {self.decimals}"]
        if self.markers is not None:
            lines.append(
                f"markers = [{', '.join(str(i) for i in self.markers)}]  # 左上 右上 右下 左下 TL TR BR BL"
            )
        if self.corners is not None:
            pts = ", ".join(f"[{x:.1f}, {y:.1f}]" for x, y in self.corners)
            lines.append(f"corners = [{pts}]  # 左上 右上 右下 左下 TL TR BR BL")
        if self.stable_frames != 5:
            lines.append(f"stable_frames = {self.stable_frames}")
        return "\n".join(lines) + "\n"


# --- one frame -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """What one frame shows: a value (with the text as displayed, e.g. " 9.0"), a blank
    display, or unreadable with `why` (a key of `WHY`)."""

    state: State
    value: Decimal | None = None
    text: str | None = None
    why: str | None = None

    @property
    def message(self) -> str:
        if self.state == "value":
            return f"读数 / reads {self.text!r} = {self.value}"
        if self.state == "blank":
            return "显示屏熄灭 / the display is blank"
        return f"无法读取 / unreadable: {WHY.get(self.why or '', self.why)}"


BLANK = Reading("blank")


def _unreadable(why: str) -> Reading:
    return Reading("unreadable", why=why)


@dataclass
class Inspection:
    """A frame's reading and how it was reached, for the calibration overlay and diagnostics."""

    reading: Reading
    markers: dict[int, np.ndarray] = field(default_factory=dict)  # id → its 4 corners
    corners: np.ndarray | None = None  # the window, TL TR BR BL, in frame pixels
    located_by: str | None = None  # "markers" or "calibration"
    canonical: MatLike | None = None  # the window warped to the canonical image
    homography: np.ndarray | None = None  # frame → canonical


# How sure is sure: fractions of the span between a digit's unlit and lit levels.
_LIT_ABOVE = 0.62  # a segment at or above this is lit
_OFF_BELOW = 0.33  # at or below this, off
_DP_LIT_ABOVE = 0.55
_DP_OFF_BELOW = 0.30
_MIN_CONTRAST = 45.0  # colour excess (lit channel over the others) the brightest digit needs
_BLANK_BELOW = 22.0  # below this, nothing on the display is lit
_GLARE_WHITE = 130.0  # every channel at least this bright: glare, not an LED
_SPREAD = 0.45  # a segment's three points may differ by this fraction of the span, no more


class SevenSegReader:
    """Reads one station's display frame by frame.

    `read_once(frame)` says what a single frame shows; `feed(frame)` applies the acceptance
    rule — the same value read `spec.stable_frames` frames in a row, and either different from
    the last accepted value or after the display was blank as long — and returns a value once,
    when it is accepted.
    """

    def __init__(
        self,
        spec: DisplaySpec,
        layout: DigitLayout = DIGIT_LAYOUT,
        *,
        last_accepted: Decimal | None = None,
    ) -> None:
        """`last_accepted`: the value accepted before a restart, so that the same value still
        on the display is not taken again."""
        self.spec = spec
        self.layout = layout
        self._points = sample_points(spec.digits, layout)
        self._size = layout.size(spec.digits)
        self._detector: Any = None
        if spec.markers is not None:
            dictionary = cv2.aruco.getPredefinedDictionary(_dictionary_id(spec.dictionary))
            params = cv2.aruco.DetectorParameters()
            params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
            params.minMarkerPerimeterRate = 0.02
            self._detector = cv2.aruco.ArucoDetector(dictionary, params)
        self._roi: tuple[int, int, int, int] | None = None  # where the markers were last seen
        w, h = self._size
        self._canonical_corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
        self._static = np.array(spec.corners, np.float32) if spec.corners is not None else None
        self._index = _sample_index(self._points, self._size)
        # the acceptance rule's state
        self._run: str | None = None
        self._run_length = 0
        self._accepted = last_accepted
        self._blank_since = last_accepted is None  # the first value needs no blank before it

    # --- public ----------------------------------------------------------------------------------

    def read_once(self, frame: Frame) -> Reading:
        """What this one frame shows."""
        return self.inspect(frame).reading

    def feed(self, frame: Frame) -> Decimal | None:
        """Take the next frame of the camera; the value, once, when it becomes accepted."""
        return self.feed_reading(self.read_once(frame))

    def feed_reading(self, reading: Reading) -> Decimal | None:
        """The acceptance rule on a reading already made (for a caller that also logs it)."""
        if reading.state == "unreadable":
            self._run, self._run_length = None, 0  # a doubtful frame breaks the run
            return None
        key = "blank" if reading.state == "blank" else str(reading.value)
        if key == self._run:
            self._run_length += 1
        else:
            self._run, self._run_length = key, 1
        if self._run_length != self.spec.stable_frames:
            return None
        if reading.state == "blank":
            self._blank_since = True
            return None
        value = reading.value
        if value is None:  # pragma: no cover - a value reading always has one
            return None
        if value == self._accepted and not self._blank_since:
            return None
        self._accepted, self._blank_since = value, False
        return value

    @property
    def accepted(self) -> Decimal | None:
        """The last value accepted."""
        return self._accepted

    def reset(self) -> None:
        """Forget the run and the last accepted value (a new session at the rig)."""
        self._run, self._run_length = None, 0
        self._accepted, self._blank_since = None, True

    def inspect(self, frame: Frame) -> Inspection:
        """The reading of one frame with where the window was found and the warped image."""
        found = self.detect_markers(frame) if self._detector is not None else {}
        result = Inspection(_unreadable("markers"), markers=found)
        corners = self._window_from_markers(found)
        if corners is not None:
            result.located_by = "markers"
        elif self._static is not None:
            if not self._markers_agree(found):
                result.reading = _unreadable("camera_moved")
                return result
            corners = self._static
            result.located_by = "calibration"
        else:
            return result
        result.corners = corners
        h, w = frame.shape[:2]
        margin = 2.0
        if (
            corners[:, 0].min() < -margin
            or corners[:, 1].min() < -margin
            or corners[:, 0].max() > w + margin
            or corners[:, 1].max() > h + margin
        ):
            result.reading = _unreadable("outside")
            return result
        matrix = cv2.getPerspectiveTransform(corners, self._canonical_corners)
        canonical = cv2.warpPerspective(frame, matrix, self._size, flags=cv2.INTER_LINEAR)
        result.homography, result.canonical = matrix, canonical
        result.reading = self.read_canonical(canonical)
        return result

    def detect_markers(self, frame: Frame) -> dict[int, np.ndarray]:
        """The spec's markers found in `frame`: id → its four corners (frame pixels)."""
        assert self.spec.markers is not None and self._detector is not None
        grey = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        wanted = set(self.spec.markers)
        if self._roi is not None:
            x, y, w, h = self._roi
            found = self._detect(grey[y : y + h, x : x + w], (x, y), wanted)
            if len(found) == 4:
                self._roi = self._roi_around(found, grey.shape[1], grey.shape[0])
                return found
        found = self._detect(grey, (0, 0), wanted)
        self._roi = (
            self._roi_around(found, grey.shape[1], grey.shape[0]) if len(found) == 4 else None
        )
        return found

    # --- the window --------------------------------------------------------------------------------

    def _detect(
        self, grey: np.ndarray, offset: tuple[int, int], wanted: set[int]
    ) -> dict[int, np.ndarray]:
        corners, ids, _ = self._detector.detectMarkers(grey)
        found: dict[int, np.ndarray] = {}
        if ids is None:
            return found
        for quad, marker_id in zip(corners, ids.ravel(), strict=True):
            key = int(marker_id)
            if key in wanted and key not in found:
                found[key] = quad.reshape(4, 2).astype(np.float32) + np.array(offset, np.float32)
        return found

    @staticmethod
    def _roi_around(
        found: dict[int, np.ndarray], width: int, height: int
    ) -> tuple[int, int, int, int]:
        pts = np.concatenate(list(found.values()))
        x0, y0 = pts.min(axis=0)
        x1, y1 = pts.max(axis=0)
        pad = 0.25 * max(x1 - x0, y1 - y0)
        left, top = max(0, int(x0 - pad)), max(0, int(y0 - pad))
        right, bottom = min(width, int(x1 + pad) + 1), min(height, int(y1 + pad) + 1)
        return (left, top, right - left, bottom - top)

    def _window_corner(self, position: int, quad: np.ndarray) -> np.ndarray:
        """Where the window's corner at `position` (0 TL … 3 BL) is, from that corner's marker."""
        g = MARKER_GAP
        local = ((1 + g, 1 + g), (-g, 1 + g), (-g, -g), (1 + g, -g))[position]
        unit = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32)
        matrix = cv2.getPerspectiveTransform(unit, quad.astype(np.float32))
        point = cv2.perspectiveTransform(np.array([[local]], np.float32), matrix)
        return np.asarray(point.reshape(2), np.float32)

    def _window_from_markers(self, found: dict[int, np.ndarray]) -> np.ndarray | None:
        if self.spec.markers is None or len(found) < 4:
            return None
        corners = np.array(
            [self._window_corner(i, found[m]) for i, m in enumerate(self.spec.markers)],
            np.float32,
        )
        if corner_problems([(float(x), float(y)) for x, y in corners]):
            return None  # markers in a shape no display has: do not trust them
        return corners

    def _markers_agree(self, found: dict[int, np.ndarray]) -> bool:
        """With some markers in view, they must sit where the calibration says (else the camera
        moved since it was calibrated, and the static corners are wrong)."""
        if not found or self.spec.markers is None or self._static is None:
            return True
        diagonal = float(np.hypot(*(self._static[2] - self._static[0])))
        for position, marker_id in enumerate(self.spec.markers):
            if marker_id in found:
                where = self._window_corner(position, found[marker_id])
                if float(np.hypot(*(where - self._static[position]))) > 0.03 * diagonal:
                    return False
        return True

    # --- the digits ----------------------------------------------------------------------------------

    def read_canonical(self, canonical: MatLike) -> Reading:
        """Read a display already warped to the canonical image (`layout.size(digits)`)."""
        img = cv2.blur(canonical, (3, 3))
        b, g, r = (c.astype(np.float32) for c in cv2.split(img))
        idx = self._index
        colour = self.spec.lit
        excess_red = (r - np.maximum(g, b)).ravel()[idx.all]
        if colour == "auto":
            excess_green = (g - np.maximum(r, b)).ravel()[idx.all]
            colour = "red" if excess_red.max() >= excess_green.max() else "green"
            values = excess_red if colour == "red" else excess_green
        elif colour == "red":
            values = excess_red
        else:
            values = (g - np.maximum(r, b)).ravel()[idx.all]
        white = np.minimum(np.minimum(b, g), r).ravel()[idx.all]

        digits = self.spec.digits
        seg = values[idx.segments].reshape(digits, 7, len(_ALONG))  # cell, segment, point
        counters = values[idx.counters].reshape(digits, len(_COUNTERS))
        dps = values[idx.dps]
        glare = white[idx.per_cell].reshape(digits, -1).max(axis=1) >= _GLARE_WHITE

        levels = seg.mean(axis=2)  # cell × segment
        background = np.median(counters, axis=1)  # cell
        floor = float(np.median(background))
        brightest = float(levels.max())
        if glare.any():
            return _unreadable("glare")
        span = brightest - floor
        if span < _BLANK_BELOW:
            return BLANK if float(dps.max()) - floor < _BLANK_BELOW else _unreadable("low_contrast")
        if span < _MIN_CONTRAST:
            return _unreadable("low_contrast")

        chars: list[str] = []
        for cell in range(digits):
            own = float(levels[cell].max()) - float(background[cell])
            if float(background[cell]) - floor > _OFF_BELOW * span:
                return _unreadable("unsure_segment")  # light inside the loops: not a digit
            if own <= _OFF_BELOW * span:
                chars.append(" ")
                continue
            if own < _LIT_ABOVE * span:
                return _unreadable("low_contrast")
            norm = (levels[cell] - background[cell]) / own
            spread = (seg[cell].max(axis=1) - seg[cell].min(axis=1)) / own
            if spread.max() > _SPREAD:
                return _unreadable("unsure_segment")
            if np.any((norm > _OFF_BELOW) & (norm < _LIT_ABOVE)):
                return _unreadable("unsure_segment")
            lit = frozenset(s for s, n in zip(SEGMENTS, norm, strict=True) if n >= _LIT_ABOVE)
            digit = DIGIT_PATTERNS.get(lit)
            if digit is None:
                return _unreadable("bad_pattern")
            chars.append(digit)

        dp_norm = (dps - background) / span
        if np.any((dp_norm > _DP_OFF_BELOW) & (dp_norm < _DP_LIT_ABOVE)):
            return _unreadable("decimal_point")
        dp_lit = [cell for cell in range(digits) if dp_norm[cell] >= _DP_LIT_ABOVE]
        if all(c == " " for c in chars):
            return BLANK if not dp_lit else _unreadable("decimal_point")
        expected = [] if self.spec.dp_cell is None else [self.spec.dp_cell]
        if dp_lit != expected:
            return _unreadable("decimal_point")
        units = digits - 1 - self.spec.decimals  # the digit before the point is never blank
        shown = "".join(chars)
        leading = len(shown) - len(shown.lstrip(" "))
        if leading > units or " " in shown[leading:]:
            return _unreadable("blank_digit")
        integer, fraction = shown[: units + 1], shown[units + 1 :]
        text = integer + ("." + fraction if fraction else "")
        return Reading("value", value=Decimal(text.strip()), text=text)


@dataclass(frozen=True)
class _SampleIndex:
    """Flat pixel indices of the canonical image: `all` the sampled points; into those, the
    positions of the segments' points, the counters, the decimal points, and each cell's."""

    all: np.ndarray
    segments: np.ndarray
    counters: np.ndarray
    dps: np.ndarray
    per_cell: np.ndarray


def _sample_index(points: SamplePoints, size: tuple[int, int]) -> _SampleIndex:
    w, h = size

    def flat(p: Point) -> int:
        x = min(max(round(p[0]), 0), w - 1)
        y = min(max(round(p[1]), 0), h - 1)
        return y * w + x

    pixels: list[int] = []
    seg_pos: list[int] = []
    counter_pos: list[int] = []
    dp_pos: list[int] = []
    cell_pos: list[list[int]] = []
    for cell, segs in enumerate(points.segments):
        mine: list[int] = []
        for seg in SEGMENTS:
            for p in segs[seg]:
                seg_pos.append(len(pixels))
                mine.append(len(pixels))
                pixels.append(flat(p))
        for p in points.counters[cell]:
            counter_pos.append(len(pixels))
            mine.append(len(pixels))
            pixels.append(flat(p))
        dp_pos.append(len(pixels))
        mine.append(len(pixels))
        pixels.append(flat(points.dps[cell]))
        cell_pos.append(mine)
    return _SampleIndex(
        np.array(pixels, np.intp),
        np.array(seg_pos, np.intp),
        np.array(counter_pos, np.intp),
        np.array(dp_pos, np.intp),
        np.array(cell_pos, np.intp).ravel(),
    )


def parse_corners(text: str) -> list[Point]:
    """Corners written as "x1,y1 x2,y2 x3,y3 x4,y4" (TL TR BR BL); ValueError naming the bad
    part."""
    points: list[Point] = []
    for part in text.replace(";", " ").split():
        xy = part.split(",")
        try:
            if len(xy) != 2:
                raise ValueError(part)
            x, y = float(xy[0]), float(xy[1])
        except ValueError:
            raise ValueError(
                f"角点 {part!r} 不是 x,y 形式 / corner {part!r} is not of the form x,y"
            ) from None
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ValueError(f"角点 {part!r} 不是有限数 / corner {part!r} is not finite")
        points.append((x, y))
    return points
