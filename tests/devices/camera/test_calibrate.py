"""`safetrain camera calibrate` run as an installer would, on generated snapshots of a rig."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from devices.camera.calibrate import CalibrationError, calibrate
from devices.camera.cli import camera_app
from devices.camera.sevenseg import DisplaySpec
from devices.camera.sim.rig import RigView, render_display
from devices.camera.sim.video import write_video

runner = CliRunner()
SPEC = DisplaySpec(digits=3, decimals=1)
VIEW = RigView(display_height=160, centre=(600, 350), roll=4, keystone=(1.5e-4, -1e-4))
GOOD = " ".join(f"{x:.0f},{y:.0f}" for x, y in VIEW.window_corners(3))


@pytest.fixture
def snapshot(tmp_path: Path) -> Path:
    path = tmp_path / "snapshot.png"
    frame = render_display("87.5", SPEC, np.random.default_rng(1), "mild", view=VIEW, hidden=(1,))
    assert cv2.imwrite(str(path), frame)
    return path


def run(*args: str | Path) -> tuple[int, str]:
    result = runner.invoke(camera_app, [str(a) for a in args], terminal_width=200)
    return result.exit_code, result.output


class TestHelp:
    @pytest.mark.parametrize("command", [[], ["calibrate"]], ids=["camera", "calibrate"])
    def test_every_command_has_help(self, command: list[str]) -> None:
        code, text = run(*command, "--help")
        assert code == 0 and "Usage" in text

    def test_the_help_says_corners_are_typed_not_clicked(self) -> None:
        _, text = run("calibrate", "--help")
        assert "headless" in text and "无法用鼠标点选" in text
        for option in ("--image", "--source", "--corners", "--markers", "--digits", "--out"):
            assert option in text

    def test_the_command_is_in_the_safetrain_cli(self) -> None:
        from server.cli import app

        result = runner.invoke(app, ["camera", "calibrate", "--help"])
        assert result.exit_code == 0, result.output


class TestCalibrateCommand:
    def test_good_corners_write_the_overlay_and_print_the_table(
        self, snapshot: Path, tmp_path: Path
    ) -> None:
        overlay = tmp_path / "overlay.png"
        code, text = run(
            "calibrate", "--image", snapshot, "--corners", GOOD, "--digits", "3",
            "--decimals", "1", "--out", overlay, "--station", "MECH-02",
        )  # fmt: skip
        assert code == 0, text
        assert "87.5" in text
        picture = cv2.imread(str(overlay))
        assert picture is not None and picture.shape == (720, 1280, 3)
        assert not np.array_equal(picture, cv2.imread(str(snapshot)))  # something drawn on it
        table = text[text.index("[[camera]]") :]
        assert 'station = "MECH-02"' in table and 'reads = "7seg"' in table
        assert "digits = 3\ndecimals = 1\n" in table
        first = GOOD.split()[0].split(",")
        assert f"corners = [[{float(first[0]):.1f}, {float(first[1]):.1f}]," in table

    def test_markers_found_and_missing_are_named(self, snapshot: Path, tmp_path: Path) -> None:
        code, text = run(
            "calibrate", "--image", snapshot, "--markers", "0,1,2,3", "--corners", GOOD,
            "--digits", "3", "--decimals", "1", "--out", tmp_path / "o.png",
        )  # fmt: skip
        assert code == 0, text
        assert "markers found: 0, 2, 3; 缺少 / missing: 1" in text
        assert "markers = [0, 1, 2, 3]" in text

    def test_markers_alone_on_a_snapshot_with_all_four(self, tmp_path: Path) -> None:
        path = tmp_path / "all.png"
        cv2.imwrite(str(path), render_display(" 9.0", SPEC, np.random.default_rng(2), view=VIEW))
        code, text = run(
            "calibrate", "--image", path, "--markers", "0,1,2,3", "--digits", "3",
            "--decimals", "1", "--out", tmp_path / "o.png",
        )  # fmt: skip
        assert code == 0, text
        assert "markers found: 0, 1, 2, 3" in text and "= 9.0" in text
        assert "corners =" not in text

    def test_one_frame_from_a_camera_url(self, tmp_path: Path) -> None:
        video = tmp_path / "rig.avi"
        frames = [
            render_display("42.0", SPEC, np.random.default_rng(i), view=VIEW) for i in range(3)
        ]
        write_video(video, frames, fps=10)
        code, text = run(
            "calibrate", "--source", video, "--corners", GOOD, "--digits", "3",
            "--decimals", "1", "--out", tmp_path / "o.png",
        )  # fmt: skip
        assert code == 0, text
        assert "42.0" in text and f'url = "{video}"' in text

    def test_corners_on_the_wrong_place_are_unreadable_and_the_overlay_shows_it(
        self, snapshot: Path, tmp_path: Path
    ) -> None:
        overlay = tmp_path / "o.png"
        code, text = run(
            "calibrate", "--image", snapshot, "--corners", "100,500 400,500 400,650 100,650",
            "--digits", "3", "--decimals", "1", "--out", overlay,
        )  # fmt: skip
        assert code == 1
        assert "无法读取显示屏" in text and "cannot be read" in text
        assert overlay.exists()
        assert "[[camera]]" not in text

    @pytest.mark.parametrize(
        ("corners", "message"),
        [
            ("460,259 745,282 736,439", "four corners are needed, got 3"),
            ("460,259 745;282 736,439 446,422", "is not of the form x,y"),
            ("460,259 745,282 736,439 446,a", "is not of the form x,y"),
            ("460,259 1745,282 736,439 446,422", "outside the 1280×720 image"),
            ("460,259 745,282 446,422 736,439", "do not form a convex quadrilateral"),
            ("460,259 446,422 736,439 745,282", "order top-left, top-right, bottom-right"),
            ("745,282 736,439 446,422 460,259", "order top-left, top-right, bottom-right"),
            ("400,300 500,300 600,300 450,400", "degenerate"),
            ("460,259 470,259 470,268 460,268", "too small"),
        ],
        ids=["three", "separator", "not-a-number", "outside", "crossed", "counter-clockwise",
             "rotated", "collinear", "tiny"],
    )  # fmt: skip
    def test_bad_corners_are_refused_saying_what_is_wrong(
        self, snapshot: Path, tmp_path: Path, corners: str, message: str
    ) -> None:
        overlay = tmp_path / "o.png"
        code, text = run(
            "calibrate", "--image", snapshot, "--corners", corners, "--digits", "3",
            "--decimals", "1", "--out", overlay,
        )  # fmt: skip
        assert code == 2
        assert message in text
        assert " / " in text  # Chinese first, English second
        assert not overlay.exists()

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--corners", GOOD], "give exactly one of --image and --source"),
            (["--image", "nowhere.png", "--corners", GOOD], "cannot read the image"),
            (["--image", "{snapshot}"], "give the four corners (--corners) or the marker ids"),
            (["--image", "{snapshot}", "--markers", "0,1,2"], "four ids are needed"),
            (["--image", "{snapshot}", "--markers", "0,1,x,3"], "four comma-separated ids"),
            (["--image", "{snapshot}", "--corners", GOOD, "--decimals", "3"], "decimals:"),
            (["--image", "{snapshot}", "--corners", GOOD, "--lit", "blue"], "--lit"),
        ],
        ids=["no-image", "missing-file", "nothing", "three-ids", "bad-id", "decimals", "lit"],
    )
    def test_bad_options_are_refused(
        self, snapshot: Path, tmp_path: Path, args: list[str], message: str
    ) -> None:
        given = [a.replace("{snapshot}", str(snapshot)) for a in args]
        code, text = run("calibrate", *given, "--digits", "3", "--out", tmp_path / "o.png")
        assert code == 2, text
        assert message in text


class TestCalibrate:
    def test_the_spec_it_returns_reads_the_same_display_later(self) -> None:
        frame = render_display("87.5", SPEC, np.random.default_rng(3), view=VIEW)
        result = calibrate(frame, digits=3, decimals=1, corners=VIEW.window_corners(3))
        assert result.by_corners is not None and result.by_corners.reading.text == "87.5"
        assert result.spec.corners is not None and result.spec.markers is None

    def test_corners_outside_the_snapshot_are_refused(self) -> None:
        frame = np.zeros((200, 300, 3), np.uint8)
        with pytest.raises(CalibrationError, match="outside the 300×200 image"):
            calibrate(frame, digits=3, corners=[(10, 10), (400, 10), (290, 190), (10, 190)])
