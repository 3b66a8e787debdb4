"""A simulated VR pod's screen as the camera above the pod sees it: the pod's dark result page,
with or without its result QR, under the camera's perspective and a named degradation.

The pod draws the QR at error-correction level M with a four-module quiet zone on a light
panel; the camera looks down at the screen at an angle, so the page arrives as a keystoned
quadrilateral with the QR 160–260 px on a side in a 1280×720 frame (`qr_px` to choose).
Importing this module registers the live scene `sim://pod` (a pod finishing runs).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import segno
from cv2.typing import MatLike

from devices.camera.sim.degrade import degrade
from devices.camera.sim.scenes import register_scene

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


def _page(text: str | None, qr_side: int) -> tuple[MatLike, np.ndarray]:
    """The pod's result page at the display's own resolution, and the QR's corners on it."""
    page = np.full((_SCREEN_H, _SCREEN_W, 3), _PAGE, np.uint8)
    cv2.rectangle(page, (0, 0), (_SCREEN_W, 64), _PANEL, -1)
    cv2.putText(page, "SAFETRAIN VR  |  RESULT", (32, 44), cv2.FONT_HERSHEY_SIMPLEX, 1.1, _INK, 2)
    cv2.line(page, (0, 64), (_SCREEN_W, 64), _ACCENT, 3)
    cv2.rectangle(page, (60, 120), (560, 620), _PANEL, -1)
    fields = (text or "").split("|")
    if len(fields) == 10:  # a STR1 text: the page says in words what its QR says
        lines = (
            fields[4],
            f"SCORE  {fields[5]} / {fields[6]}",
            "PASS" if fields[7] == "P" else "FAIL",
        )
    else:
        lines = ("NITR-RUNAWAY", "READY", "")
    for i, line in enumerate(lines):
        cv2.putText(
            page, line, (90, 200 + 110 * i), cv2.FONT_HERSHEY_SIMPLEX, 1.3, _INK, 2, cv2.LINE_AA
        )
    cx, cy = 930, 380
    if qr_side > 2 * (_SCREEN_H - cy) - 40:
        raise ValueError(f"a {qr_side} px QR does not fit on the pod's page")
    if text is None:
        cv2.rectangle(page, (cx - 170, cy - 170), (cx + 170, cy + 170), _PANEL, -1)
        return page, np.zeros((0, 2), np.float32)
    cv2.putText(
        page, "Scan to record", (90, 560), cv2.FONT_HERSHEY_SIMPLEX, 0.9, _ACCENT, 2, cv2.LINE_AA
    )
    modules = qr_modules(text)
    dark = cv2.resize(modules, (qr_side, qr_side), interpolation=cv2.INTER_NEAREST) > 0
    x0, y0 = cx - qr_side // 2, cy - qr_side // 2
    page[y0 : y0 + qr_side, x0 : x0 + qr_side] = np.where(dark, 12, _QR_LIGHT).astype(np.uint8)[
        :, :, None
    ]
    corners = np.array(
        [[x0, y0], [x0 + qr_side, y0], [x0 + qr_side, y0 + qr_side], [x0, y0 + qr_side]],
        np.float32,
    )
    return page, corners


@dataclass(frozen=True)
class PodView:
    """Where the camera sees the pod's screen: the screen's four corners in the frame (a
    keystoned quadrilateral, the top edge farther away) and the QR's side in frame pixels."""

    corners: tuple[tuple[float, float], ...]
    qr_px: float

    @classmethod
    def draw(cls, rng: np.random.Generator, qr_px: float | None = None) -> PodView:
        top_w = float(rng.uniform(0.64, 0.74)) * FRAME_W
        bottom_w = top_w * float(rng.uniform(1.10, 1.22))
        height = float(rng.uniform(0.70, 0.80)) * FRAME_H
        cx = FRAME_W / 2 + float(rng.uniform(-60, 60))
        top = (FRAME_H - height) / 2 + float(rng.uniform(-30, 30))
        skew = float(rng.uniform(-25, 25))
        side = float(rng.uniform(*QR_PX)) if qr_px is None else float(qr_px)
        return cls(
            (
                (cx - top_w / 2 + skew, top),
                (cx + top_w / 2 + skew, top),
                (cx + bottom_w / 2, top + height),
                (cx - bottom_w / 2, top + height),
            ),
            side,
        )

    def matrix(self) -> np.ndarray:
        screen = np.array(
            [[0, 0], [_SCREEN_W, 0], [_SCREEN_W, _SCREEN_H], [0, _SCREEN_H]], np.float32
        )
        return cv2.getPerspectiveTransform(screen, np.array(self.corners, np.float32))

    def qr_side_on_screen(self) -> int:
        # The QR sits near the page's middle, where the view's scale is about its mean width.
        (tlx, _), (trx, _), (brx, _), (blx, _) = self.corners
        scale = ((trx - tlx) + (brx - blx)) / 2 / _SCREEN_W
        return round(self.qr_px / scale)


def render_pod(
    text: str | None,
    rng: np.random.Generator,
    condition: str | None = "clean",
    *,
    qr_px: float | None = None,
    view: PodView | None = None,
) -> tuple[MatLike, np.ndarray]:
    """A 1280×720 BGR camera frame of a pod showing `text` as its result QR (None: the page
    without one), and the QR's four corners in the frame (top-left, top-right, bottom-right,
    bottom-left; an empty 0×2 array without a QR).

    The camera's view of the screen is drawn from `rng` unless `view` fixes it (a live scene
    keeps one view); the corners are where the scene puts the QR before `degrade` nudges the
    whole view (by at most a few pixels under "mild"). `condition` None: no camera effects
    (for a caller that applies its own, as the sim:// camera does).
    """
    view = PodView.draw(rng, qr_px) if view is None else view
    page, corners = _page(text, view.qr_side_on_screen())
    matrix = view.matrix()
    frame: MatLike = np.full((FRAME_H, FRAME_W, 3), _BACKGROUND, np.uint8)
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
    if condition is not None:
        frame = degrade(frame, condition, rng)
    return frame, seen.astype(np.float32)


# --- the live scene: sim://pod ------------------------------------------------------------------

URL_FORMAT = (
    "sim://pod?dev=VR-03&keys=/etc/safetrain/device-keys.toml&scenario=NITR-RUNAWAY"
    "&cycle=20&show=8&view=1 (and the sim camera's own condition=, seed=, fps= …)"
)


def pod_scene(options: dict[str, str]) -> Callable[[float, int], MatLike]:
    """A pod that finishes a run every `cycle` seconds and shows its result QR for the last
    `show` seconds of each (seq 1, 2, … under a boot id new at each start, as a pod's is at
    each power-on — the same id again would be a replay; scores drawn from `view`, which also
    places the screen in the camera's view). The codes are signed with `dev`'s key from the
    key file `keys`; without one, with a random key no gateway knows (every code is then
    refused as bad_mac, which is also worth seeing). The sim camera degrades the frames."""
    from devices.camera.keys import DeviceKeys
    from devices.camera.qr import result_text

    dev = options.pop("dev", "VR-03")
    scenario = options.pop("scenario", "NITR-RUNAWAY")
    try:
        cycle = float(options.pop("cycle", "20"))
        show = float(options.pop("show", "8"))
        seed = int(options.pop("view", "1"))
    except ValueError as exc:
        raise ValueError(f"cycle, show, view: 应为数字 / must be numbers ({exc})") from None
    if not 0 < show <= cycle:
        raise ValueError(f"show={show:g}: 应在 0 与 cycle 之间 / must be between 0 and cycle")
    path = options.pop("keys", None)
    key = DeviceKeys.load(path).get(dev) if path else None
    if path and key is None:
        raise ValueError(f"keys={path}: 没有 {dev} 的密钥 / has no key for {dev}")
    key = key or secrets.token_bytes(32)
    rng = np.random.default_rng(seed)
    view = PodView.draw(rng)
    boot = secrets.token_hex(4)  # a new boot id each time the pod (the scene) starts
    opened = time.time()

    def render(t: float, index: int) -> MatLike:
        run, phase = divmod(t, cycle)
        text = None
        if phase >= cycle - show:
            score = int(np.random.default_rng((seed, int(run))).integers(40, 101))
            text = result_text(
                key,
                dev=dev,
                boot=boot,
                seq=int(run) + 1,
                scenario=scenario,
                score=score,
                max=100,
                passed=score >= 80,
                at=opened + run * cycle + cycle - show,
            )
        frame, _ = render_pod(text, rng, None, view=view)
        return frame

    return render


register_scene("pod", pod_scene, url_format=URL_FORMAT)
