"""Calibrating a rig's display camera from one snapshot: check the four window corners an
installer measured (or the markers stuck around the window), read the display once, and draw
what the reader sees on the snapshot so the installer can check it by eye.

The headless OpenCV wheel has no windows, so the corners cannot be clicked here: they are read
off the snapshot in any image viewer and given as numbers (DESIGN.md, "OpenCV build").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from cv2.typing import MatLike

from devices.camera.sevenseg import (
    DIGIT_SEGMENTS,
    SEGMENTS,
    DisplaySpec,
    DisplaySpecError,
    Inspection,
    Lit,
    Point,
    SevenSegReader,
    corner_problems,
    sample_points,
)
from devices.errors import DeviceError

_QUAD = (60, 220, 60)  # BGR: the window's outline
_CELL = (220, 180, 40)
_LIT = (0, 255, 255)  # yellow: visible on red and on green LEDs
_OFF = (200, 200, 200)
_MARKER = (255, 120, 0)


class CalibrationError(DeviceError, ValueError):
    """The calibration is refused: the message (Chinese, then English) says what is wrong."""


@dataclass
class Calibration:
    """What a calibration found: the spec to configure, the reading through the static
    corners and through the markers (whichever were given), and the overlay to look at."""

    spec: DisplaySpec
    by_corners: Inspection | None
    by_markers: Inspection | None
    overlay: MatLike

    @property
    def missing_markers(self) -> list[int]:
        if self.by_markers is None or self.spec.markers is None:
            return []
        return [m for m in self.spec.markers if m not in self.by_markers.markers]


def calibrate(
    snapshot: MatLike,
    *,
    digits: int,
    decimals: int = 0,
    corners: Sequence[Point] | None = None,
    markers: tuple[int, int, int, int] | None = None,
    lit: Lit = "auto",
) -> Calibration:
    """Check a calibration on `snapshot` (BGR): the corners TL TR BR BL in its pixels, the
    markers' ids TL TR BR BL, or both. CalibrationError names what is wrong with the corners."""
    if corners is None and markers is None:
        raise CalibrationError(
            "请给出四个角点或标记编号 / give the four corners (--corners) or the marker ids "
            "(--markers), or both"
        )
    h, w = snapshot.shape[:2]
    if corners is not None:
        problems = corner_problems(list(corners), (w, h))
        if problems:
            raise CalibrationError("; ".join(problems))
    try:
        spec = DisplaySpec(
            digits=digits,
            decimals=decimals,
            markers=markers,
            corners=tuple(corners) if corners is not None else None,
            lit=lit,
        )
        by_corners = by_markers = None
        if corners is not None:  # the static corners alone, as when the markers are hidden
            static = DisplaySpec(
                digits=digits, decimals=decimals, markers=None, corners=spec.corners, lit=lit
            )
            by_corners = SevenSegReader(static).inspect(snapshot)
        if markers is not None:
            only_markers = DisplaySpec(digits=digits, decimals=decimals, markers=markers, lit=lit)
            by_markers = SevenSegReader(only_markers).inspect(snapshot)
    except DisplaySpecError as exc:
        raise CalibrationError(str(exc)) from exc
    overlay = draw_overlay(snapshot, spec, by_corners or by_markers, by_markers)
    return Calibration(spec, by_corners, by_markers, overlay)


def _to_frame(points: Sequence[Point], homography: np.ndarray) -> np.ndarray:
    canon = np.array([points], np.float32)
    return np.asarray(cv2.perspectiveTransform(canon, np.linalg.inv(homography))[0])


def _px(point: np.ndarray) -> tuple[int, int]:
    return (round(float(point[0])), round(float(point[1])))


def draw_overlay(
    snapshot: MatLike,
    spec: DisplaySpec,
    main: Inspection | None,
    by_markers: Inspection | None = None,
) -> MatLike:
    """The snapshot with the window's outline, the digit cells, every sampled point (red where
    read lit, white where off), the markers found, and the warped window as an inset."""
    overlay = snapshot.copy()
    if by_markers is not None:
        for marker_id, quad in by_markers.markers.items():
            cv2.polylines(overlay, [np.round(quad).astype(np.int32)], True, _MARKER, 2)
            cv2.putText(
                overlay, f"id {marker_id}", _px(quad[0] + np.array([0, -6])),
                cv2.FONT_HERSHEY_SIMPLEX, 0.5, _MARKER, 1, cv2.LINE_AA,
            )  # fmt: skip
    if main is None or main.corners is None or main.homography is None:
        return overlay
    cv2.polylines(overlay, [np.round(main.corners).astype(np.int32)], True, _QUAD, 2)
    for label, corner in zip(("TL", "TR", "BR", "BL"), main.corners, strict=True):
        cv2.putText(
            overlay, label, _px(corner + np.array([4, -4])), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
            _QUAD, 1, cv2.LINE_AA,
        )  # fmt: skip
    layout_w = main.canonical.shape[1] if main.canonical is not None else 0
    cell_w = layout_w // spec.digits if spec.digits else 0
    height = main.canonical.shape[0] if main.canonical is not None else 0
    for cell in range(1, spec.digits):
        top, bottom = _to_frame([(cell * cell_w, 0), (cell * cell_w, height)], main.homography)
        cv2.line(overlay, _px(top), _px(bottom), _CELL, 1, cv2.LINE_AA)
    points = sample_points(spec.digits)
    lit_level = _lit_levels(main)
    for cell, segments in enumerate(points.segments):
        for seg in SEGMENTS:
            colour = _LIT if lit_level.get((cell, seg)) else _OFF
            for p in _to_frame(segments[seg], main.homography):
                cv2.circle(overlay, _px(p), 2, colour, -1, cv2.LINE_AA)
        for p in _to_frame(points.counters[cell], main.homography):
            cv2.drawMarker(overlay, _px(p), _CELL, cv2.MARKER_TILTED_CROSS, 5, 1)
        (dp,) = _to_frame([points.dps[cell]], main.homography)
        cv2.circle(overlay, _px(dp), 3, _CELL, 1, cv2.LINE_AA)
    if main.canonical is not None:  # the warped window, in the corner farthest from it
        inset = cv2.resize(main.canonical, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
        ih, iw = inset.shape[:2]
        oh, ow = overlay.shape[:2]
        if ih + 40 < oh and iw + 20 < ow:
            cx, cy = main.corners.mean(axis=0)
            left = 10 if cx > ow / 2 else ow - iw - 10
            top = 10 if cy > oh / 2 else oh - ih - 34
            overlay[top : top + ih, left : left + iw] = inset
            cv2.rectangle(overlay, (left - 1, top - 1), (left + iw, top + ih), _QUAD, 1)
            reading = main.reading
            shown = reading.text or reading.state
            if reading.why:
                shown = f"{shown}: {reading.why}"
            cv2.putText(
                overlay, f"read: {shown}", (left, top + ih + 22), cv2.FONT_HERSHEY_SIMPLEX,
                0.6, _QUAD, 1, cv2.LINE_AA,
            )  # fmt: skip
    return overlay


def _lit_levels(inspection: Inspection) -> dict[tuple[int, str], bool]:
    """Which segments of the reading are lit, from the digits it read (blank or unreadable:
    none marked)."""
    text = (inspection.reading.text or "").replace(".", "")
    return {(cell, seg): True for cell, ch in enumerate(text) for seg in DIGIT_SEGMENTS.get(ch, "")}


def grab_frame(url: str, timeout: float = 10.0) -> MatLike:
    """One frame from the camera at `url` (any frame-source URL: cam://0, rtsp://, a file …)."""
    from devices.camera.sources import open_source

    with open_source(url) as source:
        captured = source.read(timeout=timeout)
    if captured is None:
        raise CalibrationError(
            f"{url}: {timeout:g} 秒内没有画面 / no frame came within {timeout:g} s"
        )
    return captured.frame
