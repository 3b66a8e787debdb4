"""A simulated VR pod's screen as the camera above the pod sees it: the pod's dark result page,
with or without its result QR, under the camera's perspective and a named degradation.

The pod draws the QR at error-correction level M with a four-module quiet zone on a light
panel; the camera looks down at the screen at an angle, so the page arrives as a keystoned
quadrilateral with the QR 160–260 px on a side in a 1280×720 frame (`qr_px` to choose).
"""

from __future__ import annotations

import cv2
import numpy as np
import segno
from cv2.typing import MatLike

from devices.camera.sim.degrade import degrade

FRAME_W, FRAME_H = 1280, 720
QR_PX = (160.0, 260.0)  # the QR's side as the camera sees it, drawn uniformly from this range
QUIET_MODULES = 4
_SCREEN_W, _SCREEN_H = 1280, 720  # the pod's own display, before the camera's view of it
_BACKGROUND = (28, 24, 22)  # the pod's housing around the screen, dim in the hall's light
_PAGE = (46, 36, 30)  # the result page's dark UI
_PANEL = (70, 56, 44)
_ACCENT = (210, 160, 60)
_INK = (235, 235, 235)
_QR_LIGHT = 238  # the QR panel is not paper-white: a screen's white seen by a camera


def qr_modules(text: str) -> np.ndarray:
    """The QR of `text` (level M, never boosted) as a uint8 matrix: 1 dark, 0 light, with its
    quiet zone."""
    code = segno.make(text, error="m", boost_error=False, micro=False)
    dark = np.array([[1 if m else 0 for m in row] for row in code.matrix], np.uint8)
    return np.pad(dark, QUIET_MODULES, constant_values=0)


def _page(text: str | None, qr_side: int, rng: np.random.Generator) -> tuple[MatLike, np.ndarray]:
    """The pod's result page at the display's own resolution, and the QR's corners on it."""
    page = np.full((_SCREEN_H, _SCREEN_W, 3), _PAGE, np.uint8)
    cv2.rectangle(page, (0, 0), (_SCREEN_W, 64), _PANEL, -1)
    cv2.putText(page, "SAFETRAIN VR  |  RESULT", (32, 44), cv2.FONT_HERSHEY_SIMPLEX, 1.1, _INK, 2)
    cv2.line(page, (0, 64), (_SCREEN_W, 64), _ACCENT, 3)
    cv2.rectangle(page, (60, 120), (560, 620), _PANEL, -1)
    score = int(rng.integers(50, 101))
    lines = ("NITR-RUNAWAY", f"SCORE  {score} / 100", "PASS" if score >= 80 else "FAIL")
    for i, line in enumerate(lines):
        cv2.putText(
            page, line, (90, 200 + 110 * i), cv2.FONT_HERSHEY_SIMPLEX, 1.3, _INK, 2, cv2.LINE_AA
        )
    cv2.putText(
        page, "Scan to record", (90, 560), cv2.FONT_HERSHEY_SIMPLEX, 0.9, _ACCENT, 2, cv2.LINE_AA
    )
    cx, cy = 930, 380
    if text is None:
        cv2.rectangle(page, (cx - 170, cy - 170), (cx + 170, cy + 170), _PANEL, -1)
        return page, np.zeros((0, 2), np.float32)
    modules = qr_modules(text)
    n = modules.shape[0]
    unit = max(1, round(qr_side / n))
    image = np.where(
        cv2.resize(modules, (n * unit, n * unit), interpolation=cv2.INTER_NEAREST) > 0,
        12,
        _QR_LIGHT,
    )
    side = n * unit
    x0, y0 = cx - side // 2, cy - side // 2
    page[y0 : y0 + side, x0 : x0 + side] = image.astype(np.uint8)[:, :, None]
    corners = np.array(
        [[x0, y0], [x0 + side, y0], [x0 + side, y0 + side], [x0, y0 + side]], np.float32
    )
    return page, corners


def render_pod(
    text: str | None,
    rng: np.random.Generator,
    condition: str = "clean",
    *,
    qr_px: float | None = None,
) -> tuple[MatLike, np.ndarray]:
    """A 1280×720 BGR camera frame of a pod showing `text` as its result QR (None: the page
    without one), and the QR's four corners in the frame (top-left, top-right, bottom-right,
    bottom-left; an empty 0×2 array without a QR). The corners are where the scene puts the QR
    before `degrade` nudges the whole view (by at most a few pixels under "mild")."""
    want = float(rng.uniform(*QR_PX)) if qr_px is None else float(qr_px)
    # The camera's view of the screen: top edge farther away (narrower) than the bottom edge.
    top_w = float(rng.uniform(0.64, 0.74)) * FRAME_W
    bottom_w = top_w * float(rng.uniform(1.10, 1.22))
    height = float(rng.uniform(0.70, 0.80)) * FRAME_H
    cx = FRAME_W / 2 + float(rng.uniform(-60, 60))
    top = (FRAME_H - height) / 2 + float(rng.uniform(-30, 30))
    skew = float(rng.uniform(-25, 25))
    view = np.array(
        [
            [cx - top_w / 2 + skew, top],
            [cx + top_w / 2 + skew, top],
            [cx + bottom_w / 2, top + height],
            [cx - bottom_w / 2, top + height],
        ],
        np.float32,
    )
    # The QR sits near the page's centre line, where the view's scale is about the mean width.
    scale = (top_w + bottom_w) / 2 / _SCREEN_W
    page, corners = _page(text, round(want / scale), rng)
    screen = np.array([[0, 0], [_SCREEN_W, 0], [_SCREEN_W, _SCREEN_H], [0, _SCREEN_H]], np.float32)
    matrix = cv2.getPerspectiveTransform(screen, view)
    frame = np.full((FRAME_H, FRAME_W, 3), _BACKGROUND, np.uint8)
    cv2.warpPerspective(
        page,
        matrix,
        (FRAME_W, FRAME_H),
        dst=frame,
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_TRANSPARENT,
    )
    seen = (
        cv2.perspectiveTransform(corners.reshape(-1, 1, 2), matrix).reshape(-1, 2)
        if len(corners)
        else corners
    )
    return degrade(frame, condition, rng), seen.astype(np.float32)
