"""Benchmark of the pods' result-QR reader on generated camera frames (seeded, reproducible).

    .venv/bin/python bench/camera_qr.py [--frames 1000] [--seed 7] [--quick]

1. Decode rate: `--frames` pod screens per condition (clean, mild, moderate; target ≥ 99 % under
   mild), each a different run's code (pods VR-01…VR-12, scenario codes up to 16 characters),
   QR 160–260 px on a side, read by one QrReader per condition through a fixed ROI that covers
   every place the scene puts the QR (as an installer would draw it once per pod).
2. Forgeries and replays: codes with a wrong MAC, of an unknown device, a tampered score under
   the old MAC, and genuine codes shown again after they left the view or after a restart
   (a new ReplayGuard on the same file) — how many were accepted (target 0).
   Then the rate by the QR's size under moderate: what an installer should aim the camera for.
3. Speed on one core (cv2.setNumThreads(1)): ms per 1280×720 frame through `read`, with the ROI
   and without it, for frames with a code (mild) and without one.

Prints a table; figures go to docs/benchmarks.md with the machine they ran on.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, and bench/devices.py would hide
# the devices package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from devices.camera.keys import DeviceKeys  # noqa: E402
from devices.camera.qr import QrReader, ReplayGuard, Roi, result_text  # noqa: E402
from devices.camera.sim.pod import render_pod  # noqa: E402

NOW = 1_795_402_800
PODS = [f"VR-{i:02d}" for i in range(1, 13)]
SCENARIOS = ["NITR-RUNAWAY", "CHLOR-LEAK", "HYDROGENATION-01", "FIRE-K4", "PHOSGENE-ESD"]
ROI = Roi(600, 150, 520, 420)  # covers the QR wherever the scene's random view puts it


def pod_keys(seed: int) -> DeviceKeys:
    rng = np.random.default_rng(seed)
    return DeviceKeys({dev: rng.bytes(32) for dev in PODS})


def genuine(keys: DeviceKeys, rng: np.random.Generator, seq: int, now: float = NOW) -> str:
    """A pod's code for run `seq`, finished up to 5 minutes before `now`."""
    dev = PODS[int(rng.integers(len(PODS)))]
    score = round(float(rng.uniform(30, 100)) * 2) / 2  # whole or half points
    return result_text(
        keys[dev],
        dev=dev,
        boot=f"{int(rng.integers(0, 2**32)):08x}",
        seq=seq,
        scenario=SCENARIOS[int(rng.integers(len(SCENARIOS)))],
        score=score,
        max=100,
        passed=score >= 80,
        at=now - int(rng.integers(0, 300)),
    )


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def decode_rate(
    keys: DeviceKeys, condition: str, frames: int, seed: int
) -> tuple[Counter[str], list[float]]:
    """How each of `frames` frames under `condition` came out (status, or the reason of a
    refusal: a misread), and the ms each read took."""
    rng = np.random.default_rng((seed, ord(condition[0])))
    counts: Counter[str] = Counter()
    times = []
    with ReplayGuard(":memory:") as guard:
        reader = QrReader("hall", keys, guard, roi=ROI)
        for i in range(frames):
            now = NOW + i * 10  # 10 s apart: each code its own showing
            frame, _ = render_pod(genuine(keys, rng, i + 1, now), rng, condition)
            start = time.perf_counter()
            outcome = reader.read(frame, now=now)
            times.append((time.perf_counter() - start) * 1000)
            counts[outcome.reason or outcome.status] += 1
    return counts, times


def rate_by_size(keys: DeviceKeys, frames: int, seed: int) -> list[tuple[str, str, str]]:
    rows = []
    for px in (160, 200, 240, 280):
        rng = np.random.default_rng((seed, px))
        accepted = 0
        with ReplayGuard(":memory:") as guard:
            reader = QrReader("hall", keys, guard, roi=ROI)
            for i in range(frames):
                now = NOW + i * 10
                frame, _ = render_pod(genuine(keys, rng, i + 1, now), rng, "moderate", qr_px=px)
                accepted += reader.read(frame, now=now).status == "accepted"
        modules = px / 45  # a version-5 code (what a STR1 text needs) with its quiet zone
        rows.append(
            (
                f"decode rate, moderate, QR {px} px on a side, {frames:,} frames",
                f"{accepted / frames:.1%}",
                f"{modules:.1f} px a module",
            )
        )
    return rows


def forgeries(keys: DeviceKeys, seed: int, per_kind: int) -> list[tuple[str, int, int, str]]:
    """(kind, shown, accepted, reasons) for each kind of forgery and replay."""
    rng = np.random.default_rng((seed, 99))
    wrong = DeviceKeys({dev: rng.bytes(32) for dev in PODS})
    stranger = DeviceKeys({"VR-99": rng.bytes(32)})
    rows = []

    def run(kind: str, texts: list[str], reader: QrReader, t0: float) -> None:
        accepted, reasons = 0, set()
        for i, text in enumerate(texts):
            frame, _ = render_pod(text, rng, "clean")  # read for sure: this is about the checks
            outcome = reader.read(frame, now=t0 + i)
            accepted += outcome.status == "accepted"
            reasons.add(str(outcome.reason if outcome.status == "refused" else outcome.status))
        rows.append((kind, len(texts), accepted, ", ".join(sorted(reasons))))

    with tempfile.TemporaryDirectory(prefix="safetrain-bench-") as tmp:
        path = Path(tmp) / "qr-seen.sqlite3"
        with ReplayGuard(path) as guard:
            reader = QrReader("hall", keys, guard)
            run("wrong MAC", [genuine(wrong, rng, i + 1) for i in range(per_kind)], reader, NOW)
            strangers = [_stranger(stranger, i + 1) for i in range(per_kind)]
            run("unknown device", strangers, reader, NOW)
            tampered = []
            for i in range(per_kind):
                fields = genuine(keys, rng, i + 1).split("|")
                # full marks under the old MAC (a code that had them anyway loses half a point)
                fields[5] = "100" if fields[5] != "100" else "99.5"
                fields[7] = "P"
                tampered.append("|".join(fields))
            run("tampered score, old MAC", tampered, reader, NOW)
            shown = [genuine(keys, rng, i + 1) for i in range(per_kind)]
            for i, text in enumerate(shown):  # accepted once each, then shown again later
                frame, _ = render_pod(text, rng, "clean")
                reader.read(frame, now=NOW + i)
            run("replayed after leaving view", shown, reader, NOW + 30)
        with ReplayGuard(path) as guard:
            run("replayed after a restart", shown, QrReader("hall", keys, guard), NOW + 60)
    return rows


def _stranger(keys: DeviceKeys, seq: int) -> str:
    return result_text(
        keys["VR-99"],
        dev="VR-99",
        boot="0badc0de",
        seq=seq,
        scenario="NITR-RUNAWAY",
        score=99,
        max=100,
        passed=True,
        at=NOW,
    )


def speed(keys: DeviceKeys, seed: int, frames: int) -> list[tuple[str, str, str]]:
    rng = np.random.default_rng((seed, 7))
    with_code = [
        render_pod(genuine(keys, rng, i + 1, NOW + i * 10), rng, "mild")[0] for i in range(frames)
    ]
    without = [render_pod(None, rng, "mild")[0] for _ in range(frames)]
    rows = []
    for label, roi in (("with ROI", ROI), ("whole frame", None)):
        for what, sample in (("code in view", with_code), ("no code", without)):
            times = []
            with ReplayGuard(":memory:") as guard:
                reader = QrReader("hall", keys, guard, roi=roi)
                for i, frame in enumerate(sample):
                    start = time.perf_counter()
                    reader.read(frame, now=NOW + i * 10)
                    times.append((time.perf_counter() - start) * 1000)
            rows.append(
                (
                    f"read one 1280×720 frame, {label}, {what}",
                    f"median {statistics.median(times):.1f} ms",
                    f"p95 {percentile(times, 95):.1f} ms; mean {statistics.fmean(times):.1f} ms"
                    f" = {1000 / statistics.fmean(times) / 30:.1f} cameras at 30 fps a core",
                )
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=1000, help="frames per condition")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="100 frames per condition")
    args = parser.parse_args()
    frames = 100 if args.quick else args.frames
    cv2.setNumThreads(1)
    keys = pod_keys(args.seed)

    table = Table(title="safetrain camera result-QR benchmark")
    table.add_column("what")
    table.add_column("result", justify="right")
    table.add_column("detail", justify="right")
    for condition in ("clean", "mild", "moderate"):
        counts, times = decode_rate(keys, condition, frames, args.seed)
        misread = ", ".join(f"{n} {why}" for why, n in counts.items() if why != "accepted")
        table.add_row(
            f"decode rate, {condition}, {frames:,} frames, ROI",
            f"{counts['accepted'] / frames:.1%}",
            f"{misread or 'all accepted'}; median {statistics.median(times):.1f} ms, "
            f"p95 {percentile(times, 95):.1f} ms",
        )
    for row in rate_by_size(keys, max(40, frames // 5), args.seed):
        table.add_row(*row)
    for kind, shown, accepted, reasons in forgeries(
        keys, args.seed, min(100, max(10, frames // 10))
    ):
        table.add_row(f"{kind} ({shown:,} shown)", f"{accepted} accepted", reasons)
    for row in speed(keys, args.seed, max(50, frames // 5)):
        table.add_row(*row)
    console = Console(width=150)
    console.print(table)
    console.print(
        f"OpenCV {cv2.__version__} · one thread · {platform.processor() or platform.machine()} · "
        f"{platform.python_version()} · {platform.platform()}"
    )


if __name__ == "__main__":
    main()
