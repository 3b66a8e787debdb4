"""The pods' result QR: its text, the keys, the replay record, and the reader decoding real
OpenCV frames and video of the simulated pod screen."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from devices.camera.keys import DeviceKeys, KeyFileError, encode_key, generate
from devices.camera.qr import (
    MAX_TEXT,
    MalformedQr,
    QrReader,
    ReplayGuard,
    Roi,
    RoiError,
    mac,
    parse,
    result_text,
)
from devices.camera.sim.pod import PodView, render_pod
from devices.camera.sim.video import write_video
from devices.camera.sources import open_source
from devices.codec import check
from devices.errors import DeviceError

NOW = 1_795_402_800  # 2026-11-23T03:00:00Z
KEY_03 = bytes(range(32))
KEY_04 = bytes(range(100, 132))
KEYS = DeviceKeys({"VR-03": KEY_03, "VR-04": KEY_04})


def code(key: bytes = KEY_03, **fields: Any) -> str:
    values: dict[str, Any] = {
        "dev": "VR-03",
        "boot": "1a2b3c4d",
        "seq": 17,
        "scenario": "NITR-RUNAWAY",
        "score": 87.5,
        "max": 100,
        "passed": True,
        "at": NOW,
    }
    values.update(fields)
    return result_text(key, **values)


def pod(text: str | None, seed: int = 1, condition: str = "clean") -> np.ndarray:
    frame, _ = render_pod(text, np.random.default_rng(seed), condition)
    return np.asarray(frame)


@pytest.fixture
def guard() -> Iterator[ReplayGuard]:
    with ReplayGuard(":memory:") as g:
        yield g


@pytest.fixture
def reader(guard: ReplayGuard) -> QrReader:
    return QrReader("VR-03", KEYS, guard, devices={"VR-03"})


class TestResultText:
    def test_the_example_shape_fits_in_80_bytes(self) -> None:
        text = code()
        signed, _, tag = text.rpartition("|")
        assert signed == "STR1|VR-03|1a2b3c4d|17|NITR-RUNAWAY|87.5|100|P|1795402800"
        assert tag == mac(KEY_03, signed) and len(tag) == 16
        assert len(text.encode()) <= MAX_TEXT

    def test_the_longest_scenario_fits_with_a_four_digit_seq(self) -> None:
        text = code(scenario="A" * 16, seq=9999, score=87.5)
        assert len(text) == MAX_TEXT
        assert parse(text).seq == 9999

    def test_whole_scores_are_written_without_a_fraction(self) -> None:
        assert "|87|100|F|" in code(score=87.0, passed=False)

    def test_a_score_over_its_maximum_cannot_be_written(self) -> None:
        with pytest.raises(ValueError, match="score_over_max"):
            code(score=101)

    def test_a_too_long_text_cannot_be_written(self) -> None:
        with pytest.raises(ValueError, match="too_long"):
            code(dev="V" * 32, scenario="S" * 16)


class TestParse:
    def test_fields_come_back_as_written(self) -> None:
        result = parse(code(boot="1A2B3C4D", score=92, passed=False))
        assert result.identity == ("VR-03", "1a2b3c4d", 17)
        assert (result.scenario, result.score, result.max, result.passed, result.at) == (
            "NITR-RUNAWAY",
            92,
            100,
            False,
            NOW,
        )
        assert result.mac_ok(KEY_03) and not result.mac_ok(KEY_04)

    @pytest.mark.parametrize(
        ("text", "detail"),
        [
            ("hello", "prefix"),
            ("STR2|VR-03|1a2b3c4d|17|NITR-RUNAWAY|87.5|100|P|1795402800|AAAAAAAAAAAAAAAA", "prefix"),
            ("STR1|VR-03|1a2b3c4d|17|NITR-RUNAWAY|87.5|100|P|1795402800", "field_count"),
            ("STR1|VR-03|1a2b3c4d|17|NITR|87.5|100|P|1795402800|AAAAAAAAAAAAAAAA|x", "field_count"),
            ("STR1|VR 03|1a2b3c4d|17|NITR-RUNAWAY|87.5|100|P|1795402800|AAAAAAAAAAAAAAAA", "bad_field:dev"),
            ("STR1|VR-03|1a2b3c4|17|NITR-RUNAWAY|87.5|100|P|1795402800|AAAAAAAAAAAAAAAA", "bad_field:boot"),
            ("STR1|VR-03|1a2b3c4d|017|NITR-RUNAWAY|87.5|100|P|1795402800|AAAAAAAAAAAAAAAA", "bad_field:seq"),
            ("STR1|VR-03|1a2b3c4d|0|NITR-RUNAWAY|87.5|100|P|1795402800|AAAAAAAAAAAAAAAA", "bad_field:seq"),
            ("STR1|VR-03|1a2b3c4d|17|nitr-runaway|87.5|100|P|1795402800|AAAAAAAAAAAAAAAA", "bad_field:scenario"),
            ("STR1|VR-03|1a2b3c4d|17|NITR-RUNAWAY|-5|100|P|1795402800|AAAAAAAAAAAAAAAA", "bad_field:score"),
            ("STR1|VR-03|1a2b3c4d|17|NITR-RUNAWAY|1e2|100|P|1795402800|AAAAAAAAAAAAAAAA", "bad_field:score"),
            ("STR1|VR-03|1a2b3c4d|17|NITR-RUNAWAY|87.5|0|P|1795402800|AAAAAAAAAAAAAAAA", "bad_field:max"),
            ("STR1|VR-03|1a2b3c4d|17|NITR-RUNAWAY|87.5|100|Y|1795402800|AAAAAAAAAAAAAAAA", "bad_field:passed"),
            ("STR1|VR-03|1a2b3c4d|17|NITR-RUNAWAY|87.5|100|P|17954028.0|AAAAAAAAAAAAAAAA", "bad_field:at"),
            ("STR1|VR-03|1a2b3c4d|17|NITR-RUNAWAY|87.5|100|P|1795402800|AAAAAAAAAAAAAAA", "bad_field:mac"),
            ("STR1|VR-03|1a2b3c4d|17|NITR-RUNAWAY|87.5|100|P|1795402800|AAAAAAAAAAAAAAA=", "bad_field:mac"),
            ("STR1|VR-03|1a2b3c4d|17|NITR-RUNAWAY|100.5|100|P|1795402800|AAAAAAAAAAAAAAAA", "score_over_max"),
            ("STR1|VR-03|1a2b3c4d|17|NITR-RUNAWAY|87.5|100|P|1795402800|AAAAAAAAAAAAAAAAAAAAAAAAAAA", "too_long"),
            ("STR1|VR-Ö3|1a2b3c4d|17|NITR-RUNAWAY|87.5|100|P|1795402800|AAAAAAAAAAAAAAAA", "not_ascii"),
        ],
    )  # fmt: skip
    def test_a_text_off_the_contract_is_refused_saying_which_rule(
        self, text: str, detail: str
    ) -> None:
        with pytest.raises(MalformedQr) as caught:
            parse(text)
        assert caught.value.detail == detail

    def test_the_frame_is_a_valid_result_frame_with_what_the_qr_cannot_carry_left_empty(
        self,
    ) -> None:
        frame = parse(code()).frame()
        check(frame)
        assert frame["badge"] is None
        assert (frame["errors"], frame["veto"], frame["duration_s"]) == ([], [], 0)
        assert frame["ts"] == "2026-11-23T03:00:00+00:00"


class TestDeviceKeys:
    def test_generated_keys_are_private_and_load_back(self, tmp_path: Path) -> None:
        path = tmp_path / "device-keys.toml"
        made = generate(path, ["VR-03", "VR-04"])
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert path.read_text().startswith('[keys]\n"VR-03" = "')
        loaded = DeviceKeys.load(path)
        assert dict(loaded) == dict(made)
        assert len(loaded["VR-03"]) == 32 and loaded["VR-03"] != loaded["VR-04"]
        assert loaded.get("VR-99") is None
        assert encode_key(loaded["VR-03"]) not in repr(loaded)

    def test_existing_keys_are_not_overwritten_unless_asked(self, tmp_path: Path) -> None:
        path = tmp_path / "device-keys.toml"
        first = generate(path, ["VR-03"])
        with pytest.raises(KeyFileError, match="VR-03") as caught:
            generate(path, ["VR-04", "VR-03"])
        assert str(path) in str(caught.value)
        assert dict(DeviceKeys.load(path)) == dict(first)
        added = generate(path, ["VR-04"])
        assert added["VR-03"] == first["VR-03"] and "VR-04" in added
        replaced = generate(path, ["VR-03"], replace=True)
        assert replaced["VR-03"] != first["VR-03"] and replaced["VR-04"] == added["VR-04"]

    @pytest.mark.parametrize(
        ("content", "names"),
        [
            ('[keys]\n"VR-03" = "c2hvcnQ"\n', ['"VR-03"', "32 字节", "32 bytes"]),
            ('[keys]\n"VR-03" = "not base64!"\n', ['"VR-03"', "base64url"]),
            ('[keys]\n"VR-03" = 5\n', ['"VR-03"']),
            ('[keys]\n"VR 03" = "x"\n', ["'VR 03'", "device name"]),
            ('[devices]\n"VR-03" = "x"\n', ["[keys]"]),
            ("[keys\n", ["TOML"]),
        ],
    )
    def test_a_bad_file_is_refused_naming_the_file_and_the_entry(
        self, tmp_path: Path, content: str, names: list[str]
    ) -> None:
        path = tmp_path / "device-keys.toml"
        path.write_text(content)
        with pytest.raises(KeyFileError) as caught:
            DeviceKeys.load(path)
        message = str(caught.value)
        assert message.startswith(f"{path}: ")
        for name in names:
            assert name.strip('"') in message

    def test_a_missing_file_is_named(self, tmp_path: Path) -> None:
        with pytest.raises(KeyFileError, match="does not exist"):
            DeviceKeys.load(tmp_path / "nowhere.toml")


class TestRoi:
    def test_the_crop_is_the_region(self) -> None:
        frame = np.arange(720 * 1280, dtype=np.uint32).reshape(720, 1280)
        crop = Roi(100, 50, 300, 200).crop(frame)
        assert crop.shape == (200, 300) and crop[0, 0] == frame[50, 100]

    def test_a_region_outside_the_frame_says_so_with_the_frame_size(self) -> None:
        with pytest.raises(RoiError, match="outside the 1280×720 frame"):
            Roi(1000, 100, 400, 200).crop(np.zeros((720, 1280, 3), np.uint8))

    def test_an_empty_or_negative_region_is_refused(self) -> None:
        with pytest.raises(RoiError, match="invalid"):
            Roi(-1, 0, 10, 10)
        with pytest.raises(RoiError, match="invalid"):
            Roi(0, 0, 0, 10)


class TestReplayGuard:
    def test_an_identity_is_claimed_once(self, guard: ReplayGuard) -> None:
        assert guard.claim("VR-03", "1a2b3c4d", 17, NOW, NOW) is True
        assert guard.claim("VR-03", "1a2b3c4d", 17, NOW, NOW + 1) is False
        assert guard.claim("VR-03", "1a2b3c4d", 18, NOW, NOW + 1) is True
        assert guard.claim("VR-03", "99999999", 17, NOW, NOW + 1) is True

    def test_what_was_claimed_survives_a_restart(self, tmp_path: Path) -> None:
        path = tmp_path / "qr-seen.sqlite3"
        with ReplayGuard(path) as first:
            first.claim("VR-03", "1a2b3c4d", 17, NOW, NOW)
        with ReplayGuard(path) as again:
            assert again.seen("VR-03", "1a2b3c4d", 17)
            assert again.claim("VR-03", "1a2b3c4d", 17, NOW, NOW + 5) is False

    def test_identities_older_than_the_time_check_are_forgotten(self) -> None:
        with ReplayGuard(":memory:", max_age_s=600) as guard:
            guard.claim("VR-03", "1a2b3c4d", 1, NOW, NOW)
            guard.claim("VR-03", "1a2b3c4d", 2, NOW + 500, NOW + 500)
            guard.claim("VR-03", "1a2b3c4d", 3, NOW + 700, NOW + 700)  # prunes seq 1
            assert len(guard) == 2 and not guard.seen("VR-03", "1a2b3c4d", 1)

    def test_a_reader_with_a_longer_age_limit_keeps_identities_longer(
        self, guard: ReplayGuard
    ) -> None:
        QrReader("VR-03", KEYS, guard, max_age_s=3600)
        guard.claim("VR-03", "1a2b3c4d", 1, NOW, NOW)
        guard.claim("VR-03", "1a2b3c4d", 2, NOW + 3000, NOW + 3000)  # would prune at 600 s
        assert guard.seen("VR-03", "1a2b3c4d", 1)

    def test_a_record_that_cannot_be_opened_names_its_file(self, tmp_path: Path) -> None:
        path = tmp_path / "no-such-folder" / "qr-seen.sqlite3"
        with pytest.raises(DeviceError, match="replay record cannot be opened") as caught:
            ReplayGuard(path)
        assert str(path) in str(caught.value)


class TestQrReader:
    def test_a_pod_showing_its_result_is_accepted_as_the_exact_result_frame(
        self, reader: QrReader
    ) -> None:
        outcome = reader.read(pod(code()), now=NOW + 3)
        assert outcome.status == "accepted"
        assert outcome.frame == {
            "t": "result",
            "v": 1,
            "dev": "VR-03",
            "boot": "1a2b3c4d",
            "seq": 17,
            "scenario": "NITR-RUNAWAY",
            "badge": None,
            "score": 87.5,
            "max": 100,
            "passed": True,
            "duration_s": 0,
            "errors": [],
            "veto": [],
            "ts": "2026-11-23T03:00:00+00:00",
        }

    def test_the_same_code_still_in_view_is_a_quiet_repeat(self, reader: QrReader) -> None:
        frame = pod(code())
        assert reader.read(frame, now=NOW).status == "accepted"
        assert reader.read(pod(None), now=NOW + 1).status == "none"  # one frame unread
        assert reader.read(pod(code(), seed=2), now=NOW + 2).status == "repeat"
        assert reader.read(frame, now=NOW + 3.5).status == "repeat"

    def test_the_same_code_after_it_left_the_view_is_a_replay(self, reader: QrReader) -> None:
        frame = pod(code())
        assert reader.read(frame, now=NOW).status == "accepted"
        assert reader.read(pod(None), now=NOW + 1).status == "none"
        outcome = reader.read(frame, now=NOW + 5)
        assert (outcome.status, outcome.reason, outcome.text) == ("refused", "replay", code())
        again = reader.read(frame, now=NOW + 5.5)
        assert (again.status, again.reason, again.again) == ("refused", "replay", True)

    def test_a_code_back_in_view_soon_after_another_is_still_a_repeat(
        self, reader: QrReader
    ) -> None:
        assert reader.read(pod(code()), now=NOW).status == "accepted"
        assert reader.read(pod(code(seq=18)), now=NOW + 1).status == "accepted"
        assert reader.read(pod(code()), now=NOW + 2).status == "repeat"
        assert reader.read(pod(code()), now=NOW + 6).reason == "replay"

    def test_two_pods_in_one_cameras_view_are_each_taken_once(self, guard: ReplayGuard) -> None:
        reader = QrReader("hall", KEYS, guard, devices={"VR-03", "VR-04"})
        wide = np.hstack([pod(code(), seed=1), pod(code(key=KEY_04, dev="VR-04"), seed=2)])
        outcomes = [reader.read(wide, now=NOW + i * 0.5) for i in range(3)]
        assert [o.status for o in outcomes] == ["accepted", "accepted", "repeat"]
        assert {o.frame["dev"] for o in outcomes[:2] if o.frame is not None} == {"VR-03", "VR-04"}

    def test_a_code_taken_before_a_gateway_restart_is_a_replay_after_it(
        self, tmp_path: Path
    ) -> None:
        path = tmp_path / "qr-seen.sqlite3"
        frame = pod(code())
        with ReplayGuard(path) as guard:
            assert QrReader("VR-03", KEYS, guard).read(frame, now=NOW).status == "accepted"
        with ReplayGuard(path) as guard:
            outcome = QrReader("VR-03", KEYS, guard).read(frame, now=NOW + 1)
        assert (outcome.status, outcome.reason) == ("refused", "replay")

    def test_a_forged_mac_is_refused(self, reader: QrReader) -> None:
        forged = code(key=bytes(32))
        outcome = reader.read(pod(forged), now=NOW)
        assert (outcome.status, outcome.reason, outcome.text) == ("refused", "bad_mac", forged)

    def test_a_tampered_score_under_the_old_mac_is_refused(self, reader: QrReader) -> None:
        genuine = code(score=57, passed=False)
        tampered = genuine.replace("|57|100|F|", "|97|100|P|")
        assert parse(tampered).mac == parse(genuine).mac
        outcome = reader.read(pod(tampered), now=NOW)
        assert (outcome.status, outcome.reason) == ("refused", "bad_mac")
        assert reader.read(pod(genuine), now=NOW + 10).status == "accepted"

    def test_a_device_without_a_key_is_refused(self, reader: QrReader) -> None:
        outcome = reader.read(pod(code(dev="VR-77")), now=NOW)
        assert (outcome.status, outcome.reason) == ("refused", "unknown_device")

    def test_another_pods_genuine_code_is_refused_as_the_wrong_station(
        self, reader: QrReader
    ) -> None:
        outcome = reader.read(pod(code(key=KEY_04, dev="VR-04")), now=NOW)
        assert (outcome.status, outcome.reason) == ("refused", "wrong_station")

    @pytest.mark.parametrize("offset", [-601, 601])
    def test_a_code_too_old_or_from_the_future_is_refused(
        self, reader: QrReader, offset: int
    ) -> None:
        outcome = reader.read(pod(code()), now=NOW - offset)
        assert (outcome.status, outcome.reason) == ("refused", "stale")

    def test_within_the_age_limit_either_way_is_accepted(self, guard: ReplayGuard) -> None:
        reader = QrReader("VR-03", KEYS, guard, max_age_s=60)
        assert reader.read(pod(code(seq=1, at=NOW - 59)), now=NOW).status == "accepted"
        assert reader.read(pod(code(seq=2, at=NOW + 59)), now=NOW).status == "accepted"
        assert reader.read(pod(code(seq=3, at=NOW - 61)), now=NOW).reason == "stale"

    @pytest.mark.parametrize(
        ("text", "detail"),
        [
            ("https://example.com/win-a-prize", "prefix"),
            ("STR1|VR-03|1a2b3c4d|17|NITR-RUNAWAY|87.5|100|P|1795402800", "field_count"),
            ("STR1|VR-03|1a2b3c4d|17|NITR-RUNAWAY|170|100|P|1795402800|AAAAAAAAAAAAAAAA", "score_over_max"),
        ],
    )  # fmt: skip
    def test_a_qr_that_is_not_a_result_code_is_refused_as_malformed(
        self, reader: QrReader, text: str, detail: str
    ) -> None:
        outcome = reader.read(pod(text), now=NOW)
        assert (outcome.status, outcome.reason, outcome.detail) == ("refused", "malformed", detail)
        assert outcome.text == text

    def test_a_pod_page_without_a_qr_is_none(self, reader: QrReader) -> None:
        for seed in range(3):
            assert reader.read(pod(None, seed=seed, condition="mild"), now=NOW).status == "none"

    def test_an_empty_or_dark_frame_is_none(self, reader: QrReader) -> None:
        assert reader.read(np.zeros((720, 1280, 3), np.uint8), now=NOW).status == "none"
        assert reader.read(np.full((720, 1280, 3), 255, np.uint8), now=NOW).status == "none"

    def test_a_qr_outside_the_roi_is_not_seen_inside_it_it_is(self, guard: ReplayGuard) -> None:
        frame, corners = render_pod(code(), np.random.default_rng(4), "clean")
        x0, y0 = corners.min(axis=0).astype(int) - 30
        x1, y1 = corners.max(axis=0).astype(int) + 30
        around = QrReader("VR-03", KEYS, guard, roi=(int(x0), int(y0), int(x1 - x0), int(y1 - y0)))
        beside = QrReader("VR-03", KEYS, guard, roi=Roi(0, 0, int(x0) - 20, 720))
        assert beside.read(frame, now=NOW).status == "none"
        assert around.read(frame, now=NOW).status == "accepted"

    def test_a_roi_bigger_than_the_camera_frame_is_an_error(self, guard: ReplayGuard) -> None:
        reader = QrReader("VR-03", KEYS, guard, roi=(0, 0, 1920, 1080))
        with pytest.raises(RoiError, match="1280×720"):
            reader.read(pod(None), now=NOW)

    @pytest.mark.parametrize("seed", [11, 12, 13])
    def test_a_mildly_degraded_camera_still_reads_it(self, reader: QrReader, seed: int) -> None:
        text = code(seq=seed)
        outcome = reader.read(pod(text, seed=seed, condition="mild"), now=NOW)
        assert (outcome.status, outcome.text) == ("accepted", text)

    def test_the_smallest_qr_the_scene_shows_under_a_soft_lens_is_read(
        self, reader: QrReader
    ) -> None:
        frame, _ = render_pod(code(), np.random.default_rng(21), "mild", qr_px=160)
        assert reader.read(frame, now=NOW).status == "accepted"


class TestPodVideo:
    def test_a_recorded_pod_run_gives_one_result_then_repeats(
        self, tmp_path: Path, guard: ReplayGuard
    ) -> None:
        rng = np.random.default_rng(8)
        view = PodView.draw(rng)
        text = code()
        frames = [render_pod(None, rng, "mild", view=view)[0] for _ in range(4)]
        frames += [render_pod(text, rng, "mild", view=view)[0] for _ in range(8)]
        frames += [render_pod(None, rng, "mild", view=view)[0] for _ in range(3)]
        path = tmp_path / "pod.avi"
        assert write_video(path, frames, fps=5) == 15

        reader = QrReader("VR-03", KEYS, guard, devices={"VR-03"})
        capture = cv2.VideoCapture(str(path))
        statuses: list[str] = []
        try:
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                at = NOW + len(statuses) / 5  # the video's own clock, 5 frames a second
                statuses.append(reader.read(frame, now=at).status)
        finally:
            capture.release()
        assert len(statuses) == 15
        assert statuses[:4] == ["none"] * 4 and statuses[-3:] == ["none"] * 3
        assert statuses[4] == "accepted"
        assert set(statuses[5:12]) <= {"repeat", "none"} and "repeat" in statuses[5:12]


class TestPodScene:
    def test_a_simulated_pod_camera_gives_each_run_once(
        self, tmp_path: Path, guard: ReplayGuard
    ) -> None:
        keys_path = tmp_path / "device-keys.toml"
        keys = generate(keys_path, ["VR-03"])
        url = (
            f"sim://pod?dev=VR-03&keys={keys_path}&cycle=2&show=1&view=3"
            "&fps=4&realtime=0&frames=16&condition=mild&seed=5"
        )
        reader = QrReader("VR-03", keys, guard, devices={"VR-03"})
        outcomes = []
        with open_source(url) as camera:
            for _ in range(16):
                captured = camera.read()
                assert captured is not None
                outcomes.append(reader.read(captured.frame, now=captured.at))
        accepted = [o.frame for o in outcomes if o.status == "accepted"]
        assert [f["seq"] for f in accepted if f is not None] == [1, 2]  # two 2-s cycles
        assert {o.status for o in outcomes} == {"none", "accepted", "repeat"}

    def test_without_the_pods_key_every_code_is_refused(self, guard: ReplayGuard) -> None:
        reader = QrReader("VR-03", KEYS, guard)
        url = "sim://pod?cycle=1&show=1&fps=2&realtime=0&frames=2"
        with open_source(url) as camera:
            captured = camera.read()
            assert captured is not None
            outcome = reader.read(captured.frame, now=captured.at)
        assert (outcome.status, outcome.reason) == ("refused", "bad_mac")

    def test_an_option_it_cannot_use_is_named(self) -> None:
        with pytest.raises(ValueError, match="show=5"):
            open_source("sim://pod?cycle=2&show=5")
