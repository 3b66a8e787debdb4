"""What a real camera does to a scene: a nudged mount (a small perspective shift), defocus,
sensor noise, glare from the hall's lights, brightness drift, JPEG compression.

Three named conditions set how much of each a generated frame gets; the readers' quality targets
(docs/benchmarks.md) are stated per condition:

- clean: a well-mounted camera in even light;
- mild: a slightly nudged, slightly soft camera, some noise, a weak reflection;
- moderate: a visibly nudged, soft, noisy camera with a strong reflection and drifting exposure.

Every function takes and returns BGR uint8 frames and draws its randomness from the `rng` it is
given, so a seed reproduces a frame exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from cv2.typing import MatLike

Frame = MatLike


@dataclass(frozen=True)
class Condition:
    name: str
    nudge: float  # corner shift of the mount, as a fraction of the frame's shorter side
    blur: tuple[float, float]  # Gaussian sigma range, pixels
    noise: tuple[float, float]  # sensor noise sigma range, grey levels
    glare: tuple[float, float]  # peak of a reflection, grey levels added (0 = none)
    gain: tuple[float, float]  # exposure: multiplier range
    offset: tuple[float, float]  # exposure: grey levels added
    jpeg: tuple[int, int]  # JPEG quality range (100 = none)


CLEAN = Condition(
    "clean", 0.0, (0.0, 0.4), (0.0, 2.0), (0.0, 0.0), (0.97, 1.03), (-4, 4), (95, 100)
)
MILD = Condition(
    "mild", 0.006, (0.5, 1.0), (2.0, 5.0), (0.0, 60.0), (0.85, 1.1), (-15, 15), (80, 95)
)
MODERATE = Condition(
    "moderate", 0.015, (1.0, 1.8), (5.0, 10.0), (40.0, 140.0), (0.65, 1.2), (-35, 25), (60, 85)
)
CONDITIONS: dict[str, Condition] = {c.name: c for c in (CLEAN, MILD, MODERATE)}


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    low, high = bounds
    return float(rng.uniform(low, high)) if high > low else float(low)


def nudge(frame: Frame, rng: np.random.Generator, amount: float) -> Frame:
    """The whole view shifted as if the camera's mount had been knocked: each corner moves by
    up to `amount` of the shorter side."""
    if amount <= 0:
        return frame
    h, w = frame.shape[:2]
    reach = amount * min(h, w)
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    moved = corners + rng.uniform(-reach, reach, size=(4, 2)).astype(np.float32)
    matrix = cv2.getPerspectiveTransform(corners, moved)
    return cv2.warpPerspective(frame, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)


def blur(frame: Frame, sigma: float) -> Frame:
    if sigma <= 0.05:
        return frame
    return cv2.GaussianBlur(frame, (0, 0), sigmaX=sigma)


def noise(frame: Frame, rng: np.random.Generator, sigma: float) -> Frame:
    if sigma <= 0:
        return frame
    flat = frame.reshape(frame.shape[0], -1)  # one channel: randn fills every value alike
    grain = np.empty(flat.shape, np.float32)
    cv2.setRNGSeed(int(rng.integers(0, 2**31 - 1)))
    cv2.randn(grain, np.array([0.0]), np.array([sigma]))
    noisy = cv2.add(flat.astype(np.float32), grain) + 0.5  # rounds, not truncates
    out: Frame = np.clip(noisy, 0, 255).astype(np.uint8).reshape(frame.shape)
    return out


def glare(frame: Frame, rng: np.random.Generator, peak: float) -> Frame:
    """A reflection of a ceiling light: a soft bright ellipse somewhere in the view."""
    if peak <= 0:
        return frame
    h, w = frame.shape[:2]
    cx, cy = rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h
    rx, ry = rng.uniform(0.05, 0.2) * w, rng.uniform(0.05, 0.2) * h
    step = 8  # the light is smooth: computed on a coarse grid, then scaled up
    ys, xs = np.ogrid[0:h:step, 0:w:step]
    falloff = peak * np.exp(-(((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2))
    light = cv2.resize(falloff.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.add(frame, cv2.merge([light, light, light]), dtype=cv2.CV_8U)


def exposure(frame: Frame, gain: float, offset: float) -> Frame:
    return cv2.convertScaleAbs(frame, alpha=gain, beta=offset)


def jpeg(frame: Frame, quality: int) -> Frame:
    if quality >= 100:
        return frame
    ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV always encodes a uint8 BGR frame
        raise RuntimeError("JPEG encoding failed")
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if decoded is None:  # pragma: no cover
        raise RuntimeError("JPEG decoding failed")
    return decoded


def degrade(frame: Frame, condition: Condition | str, rng: np.random.Generator) -> Frame:
    """`frame` as a camera under `condition` would deliver it."""
    c = CONDITIONS[condition] if isinstance(condition, str) else condition
    out = nudge(frame, rng, _uniform(rng, (0.0, c.nudge)))
    out = blur(out, _uniform(rng, c.blur))
    out = glare(out, rng, _uniform(rng, c.glare))
    out = exposure(out, _uniform(rng, c.gain), _uniform(rng, c.offset))
    out = noise(out, rng, _uniform(rng, c.noise))
    low, high = c.jpeg
    return jpeg(out, int(rng.integers(low, high + 1)))
