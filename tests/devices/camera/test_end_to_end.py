"""Cameras end to end: a pod's result QR and a rig's LED display, filmed into video files that
stand in for the cameras → the gateway's camera workers (stations.toml [[camera]]) → the spool
→ `safetrain serve` as a process → attempts of the trainees bound at the stations. A forged
code on the same film, and the genuine code shown again after a gateway restart, score nobody.
"""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import numpy as np

from devices.camera import keys as device_keys
from devices.camera.qr import result_text
from devices.camera.sevenseg import DisplaySpec
from devices.camera.sim.pod import render_pod
from devices.camera.sim.rig import render_display
from devices.camera.sim.video import write_video
from devices.gateway import Gateway
from devices.reporter import report_of
from devices.sim.profiles import scenarios_for
from tests.devices.e2e_kit import (
    Database,
    ServerProcess,
    eventually,
    prepare_hall,
    start_gateway,
)

POD, RIG = "VR-07", "MECH-02"
POD_SCENARIO = scenarios_for("vr_pod")[0].code
RIG_SCENARIO = scenarios_for("mech_rig")[0].code
SPEC = DisplaySpec(digits=3, decimals=1)


def pod_film(path: Path, texts: list[str | None], hold: int = 12) -> Path:
    """The pod's screen as its camera films it: each text (None: no code) held `hold` frames."""
    frames = []
    for text in texts:
        frame, _ = render_pod(text, np.random.default_rng(11), "clean")  # a fixed view
        frames += [frame] * hold
    write_video(path, frames, fps=30)
    return path


def rig_film(path: Path, values: list[str | None], hold: int = 10) -> Path:
    """The rig's display as its camera films it: each value ("" / None: blank) held `hold`
    frames, lightly degraded."""
    rng = np.random.default_rng(5)
    frames = [render_display(v, SPEC, rng, "clean") for v in values for _ in range(hold)]
    write_video(path, frames, fps=30)
    return path


def stations_toml(
    path: Path, server_url: str, spool: Path, keys: Path, pod_url: Path, rig_url: Path
) -> Path:
    path.write_text(
        f"""
[gateway]
name = "hall2"
server_url = "{server_url}"
spool = "{spool}"
status_port = 0
device_keys = "{keys}"

[[camera]]
station = "{POD}"
url = "{pod_url}"
reads = "qr"

[[camera]]
station = "{RIG}"
url = "{rig_url}"
reads = "7seg"
scenario = "{RIG_SCENARIO}"
max = 100
digits = 3
decimals = 1
markers = [0, 1, 2, 3]
""",
        encoding="utf-8",
    )
    return path


def finished(gateway: Gateway) -> bool:
    statuses = [c.status() for c in gateway.cameras]
    return all(s["state"] == "ended" for s in statuses) and gateway.spool.counts().pending == 0


class TestCamerasEndToEnd:
    def test_codes_and_displays_become_attempts_and_forgeries_become_nothing(
        self, sqlite_url: str, tmp_path: Path, gateways: list[Gateway]
    ) -> None:
        hall = prepare_hall(sqlite_url, [(POD, "vr_pod"), (RIG, "mech_rig")])
        key_file = tmp_path / "device-keys.toml"
        key = device_keys.generate(key_file, [POD])[POD]
        now = time.time()

        def code(seq: int, score: float, passed: bool, signing: bytes = key) -> str:
            return result_text(
                signing,
                dev=POD,
                boot="0c0ffee0",
                seq=seq,
                scenario=POD_SCENARIO,
                score=score,
                max=100,
                passed=passed,
                at=now + 1,  # a run that ended after the trainee was bound (whole seconds)
            )

        genuine, failed = code(1, 87.5, True), code(3, 55, False)
        forged = code(2, 100, True, signing=b"\x01" * 32)  # printed by someone without the key
        pod_url = pod_film(tmp_path / "pod.avi", [None, genuine, None, forged, None, failed])
        rig_url = rig_film(tmp_path / "rig.avi", [None, "87.5", "87.5", None, "87.5", "92.0", None])
        spool = tmp_path / "gateway-hall2.sqlite3"
        with ServerProcess(sqlite_url, tmp_path) as server, Database(sqlite_url) as db:
            config = stations_toml(
                tmp_path / "hall2.toml", server.url, spool, key_file, pod_url, rig_url
            )
            gateway = start_gateway(config, hall.token)
            gateways.append(gateway)
            eventually(lambda: finished(gateway), 90, "both films read and forwarded")
            results = {f.key: f for f in db.frames() if f.frame_type == "result"}
            pod_keys = sorted(k for k in results if k.startswith(POD))
            assert pod_keys == [f"{POD}:0c0ffee0:1", f"{POD}:0c0ffee0:3"]
            rig_frames = sorted(
                (f for f in results.values() if f.key.startswith(RIG)), key=lambda f: f.seq
            )
            # 87.5 twice in a row is one reading; after a blank it is a new run; then 92.0.
            assert [f.seq for f in rig_frames] == [1, 2, 3]
            attempts = dict(db.attempts())
            assert sorted(attempts) == sorted(results)
            assert all(
                trainee == hall.trainee_ids[ref.split(":")[0]] for ref, trainee in attempts.items()
            )
            scores = db._rows("SELECT source_ref, score, passed FROM attempts")
            by_ref = {r[0]: (Decimal(r[1]), bool(r[2])) for r in scores}
            assert by_ref[f"{POD}:0c0ffee0:1"][0] == Decimal("87.5")
            assert by_ref[f"{POD}:0c0ffee0:3"] == (Decimal(55), False)
            assert [by_ref[f.key][0] for f in rig_frames] == [Decimal("87.5"), 87.5, 92]
            pod_status = gateway.camera(f"{POD}-qr").status()
            assert pod_status["reader"]["outcomes"].get("bad_mac") == 1  # once, not per frame
            assert pod_status["refused"] == 1
            assert pod_status["taken"] == 2
            # The console's device page hears of both camera stations through the status report.
            reported = {d["station"]: d for d in report_of(gateway.status())["devices"]}
            assert (reported[POD]["via"], reported[POD]["frames_ok"]) == ("camera-qr", 2)
            assert (reported[RIG]["via"], reported[RIG]["frames_ok"]) == ("camera-7seg", 3)
            assert reported[POD]["frames_bad"] == 1
            eventually(lambda: gateway.reporter.reports > 0, 10, "a status report")
            assert gateway.reporter.last_error is None
            gateway.stop()
            gateways.remove(gateway)

            # The gateway restarts and somebody holds the genuine code up to the camera again;
            # the rig's display still shows its last score.
            pod_film(pod_url, [None, genuine, None])
            rig_film(rig_url, ["92.0", "92.0"])
            again = start_gateway(config, hall.token)
            gateways.append(again)
            eventually(lambda: finished(again), 60, "the second films read")
            assert again.camera(f"{POD}-qr").status()["reader"]["outcomes"].get("replay") == 1
            assert again.camera(f"{RIG}-7seg").status()["taken"] == 0
            assert len([f for f in db.frames() if f.frame_type == "result"]) == len(results)
