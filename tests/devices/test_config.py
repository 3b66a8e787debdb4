"""stations.toml: the example matches the simulators; a bad file names every bad key."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.config import ConfigError, load_config
from devices.sim.profiles import PROFILES, device_ids

EXAMPLE = Path(__file__).resolve().parents[2] / "devices" / "examples" / "hall1.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "stations.toml"
    path.write_text(text, encoding="utf-8")
    return path


class TestExample:
    def test_hall1_loads_with_the_demo_stations(self) -> None:
        config = load_config(EXAMPLE)
        assert config.name == "hall1" and config.status_port == 8765
        assert [s.code for s in config.stations] == [
            *(f"VR-{n:02d}" for n in range(1, 7)),
            "FALL-01",
            "SHOCK-01",
            "MECH-01",
        ]
        assert all(s.baud == 115200 for s in config.stations)
        assert [(c.station, c.reads) for c in config.cameras] == [
            ("VR-07", "qr"),
            ("MECH-02", "7seg"),
            ("EXAM-01", "record"),
        ]

    def test_hall1_cameras_are_demo_stations_and_their_scenes_open(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`make run` makes the pod's key where hall1.toml looks for it, and each camera's
        simulated scene opens with the options the file gives it."""
        from devices.camera.sources import open_source
        from server import demo_hall
        from server.demo_schedule import STATIONS

        config = load_config(EXAMPLE)
        codes = {code: kind for code, kind, _, _ in STATIONS}
        assert all(c.station in codes for c in config.cameras)
        assert {codes[c.station] for c in config.cameras if c.reads == "record"} == {"exam_seat"}
        monkeypatch.chdir(tmp_path)
        assert config.device_keys == Path("var/demo-hall/device-keys.toml")
        demo_hall.camera_pod_key(Path("var/demo-hall") / "device-keys.toml")
        for camera in config.cameras:
            with open_source(camera.url) as source:
                assert source.read(5) is not None, camera.url

    def test_hall1_points_where_its_simulator_commands_put_the_devices(self) -> None:
        """`sim vr-pod --pty --devices 6 --link-dir /tmp/safetrain-hall1` and the rigs on
        --tcp 7201, 7202, 7203, as the file's comment says."""
        config = load_config(EXAMPLE)
        text = EXAMPLE.read_text(encoding="utf-8")
        pods = [s for s in config.stations if s.kind == "vr_pod"]
        assert [s.code for s in pods] == device_ids(f"{PROFILES['vr_pod'].prefix}-01", 6)
        assert all(s.url == f"/tmp/safetrain-hall1/{s.code}" for s in pods)  # noqa: S108
        assert "safetrain sim vr-pod --pty --devices 6 --link-dir /tmp/safetrain-hall1" in text
        for port, kind in ((7201, "fall_rig"), (7202, "shock_rig"), (7203, "mech_rig")):
            (rig,) = [s for s in config.stations if s.kind == kind]
            assert rig.code == f"{PROFILES[kind].prefix}-01"
            assert rig.url == f"socket://127.0.0.1:{port}"
            assert f"safetrain sim {PROFILES[kind].command} --tcp {port}" in text


class TestErrors:
    def test_every_problem_is_named(self, tmp_path: Path) -> None:
        path = write(
            tmp_path,
            """
            colour = "blue"
            [gateway]
            server_url = "ftp://x"
            status_port = 70000
            retries = 3
            [[station]]
            code = "vr-01"
            kind = "vr_pod"
            url = "/dev/ttyUSB0"
            [[station]]
            code = "VR-02"
            kind = "kiosk"
            url = "/dev/ttyUSB0"
            baud = "fast"
            port = 3
            """,
        )
        with pytest.raises(ConfigError) as caught:
            load_config(path)
        text = str(caught.value)
        assert str(path) in text
        for expected in (
            "colour: unknown key",
            "gateway.server_url",
            "gateway.status_port",
            "gateway.retries: unknown key",
            "station[0:vr-01].code",
            "station[1:VR-02].kind",
            "station[1:VR-02].baud",
            "station[1:VR-02].port: unknown key",
        ):
            assert expected in text

    def test_a_repeated_code_or_url(self, tmp_path: Path) -> None:
        station = '[[station]]\ncode = "VR-01"\nkind = "vr_pod"\nurl = "/dev/ttyUSB0"\n'
        with pytest.raises(
            ConfigError, match=r"station\[1:VR-01\].code: VR-01 is also station\[0\]"
        ):
            load_config(write(tmp_path, station * 2))
        other = station.replace("VR-01", "VR-02", 1)
        with pytest.raises(ConfigError, match=r"url: /dev/ttyUSB0 is also station\[0\]"):
            load_config(write(tmp_path, station + other))

    def test_no_stations_or_not_toml(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="at least one"):
            load_config(write(tmp_path, "[gateway]\nname = 'x'\n"))
        with pytest.raises(ConfigError, match="not valid TOML"):
            load_config(write(tmp_path, "[[station]\n"))
        with pytest.raises(ConfigError, match="cannot read"):
            load_config(tmp_path / "missing.toml")

    def test_the_name_defaults_to_the_file_name(self, tmp_path: Path) -> None:
        path = tmp_path / "hall7.toml"
        path.write_text('[[station]]\ncode = "VR-01"\nkind = "vr_pod"\nurl = "loop://"\n')
        config = load_config(path)
        assert config.name == "hall7" and config.server_url is None and config.spool is None


CAMERAS = """
[gateway]
device_keys = "/etc/safetrain/device-keys.toml"

[[camera]]
station = "VR-07"
url = "rtsp://10.20.1.57/stream1"
reads = "qr"
roi = [400, 120, 480, 480]

[[camera]]
station = "MECH-02"
url = "cam://0"
reads = "7seg"
scenario = "MECH-PINCH"
max = 100
digits = 3
decimals = 1
markers = [0, 1, 2, 3]
corners = [[412, 220], [868, 226], [866, 402], [410, 396]]
"""


class TestCameras:
    def test_cameras_alone_make_a_hall(self, tmp_path: Path) -> None:
        config = load_config(write(tmp_path, CAMERAS))
        assert config.stations == ()
        assert config.device_keys == Path("/etc/safetrain/device-keys.toml")
        qr, seven = config.cameras
        assert (qr.name, qr.reads, qr.roi, qr.devices) == (
            "VR-07-qr",
            "qr",
            (400, 120, 480, 480),
            ("VR-07",),
        )
        assert (seven.device, seven.scenario, seven.max, seven.digits, seven.decimals) == (
            "MECH-02",
            "MECH-PINCH",
            100.0,
            3,
            1,
        )
        assert seven.markers == (0, 1, 2, 3) and seven.stable_frames == 5
        assert seven.corners == ((412, 220), (868, 226), (866, 402), (410, 396))

    def test_every_bad_camera_key_is_named(self, tmp_path: Path) -> None:
        path = write(
            tmp_path,
            """
            [[camera]]
            station = "VR-07"
            url = "cam://0"
            reads = "qr"
            roi = [1, 2, 0, 4]
            digits = 3
            [[camera]]
            station = "MECH-02"
            url = ""
            reads = "7seg"
            scenario = "pinch"
            max = 0
            digits = 3
            decimals = 3
            corners = [[1, 2], [3, 4], [5, 6]]
            stable_frames = 1
            [[camera]]
            station = "X-1"
            url = "cam://1"
            reads = "ocr"
            """,
        )
        with pytest.raises(ConfigError) as caught:
            load_config(path)
        text = str(caught.value)
        for expected in (
            "gateway.device_keys: a camera reads result QR codes",
            "camera[0:VR-07].roi: must be [x, y, width, height]",
            "camera[0:VR-07].digits: unknown key for reads = 'qr'",
            "camera[1:MECH-02].url",
            "camera[1:MECH-02].scenario",
            "camera[1:MECH-02].max",
            "camera[1:MECH-02].decimals: must be 0 … 2",
            "camera[1:MECH-02].corners: must be four [x, y] points",
            "camera[1:MECH-02].stable_frames",
            "camera[2:X-1].reads: must be one of qr, 7seg",
        ):
            assert expected in text, expected

    def test_a_seven_segment_camera_needs_markers_or_corners(self, tmp_path: Path) -> None:
        text = CAMERAS.replace("markers = [0, 1, 2, 3]\n", "").replace(
            "corners = [[412, 220], [868, 226], [866, 402], [410, 396]]\n", ""
        )
        with pytest.raises(ConfigError, match=r"camera\[1:MECH-02\]: give markers"):
            load_config(write(tmp_path, text))

    def test_two_cameras_of_one_name(self, tmp_path: Path) -> None:
        one = '[[camera]]\nstation = "VR-07"\nurl = "cam://0"\nreads = "qr"\n'
        text = '[gateway]\ndevice_keys = "k.toml"\n' + one + one.replace("cam://0", "cam://1")
        with pytest.raises(ConfigError, match=r"camera\[1:VR-07\].name: VR-07-qr is also"):
            load_config(write(tmp_path, text))
