"""`safetrain camera keys add|list|show`: the pods' result-QR keys as an installer handles them."""

from __future__ import annotations

import stat
from pathlib import Path

from typer.testing import CliRunner

from devices.camera.cli import camera_app
from devices.camera.keys import DeviceKeys, encode_key
from devices.camera.qr import parse, result_text

runner = CliRunner()


class TestKeysCommands:
    def test_add_list_show_and_the_shown_key_signs_codes_the_gateway_believes(
        self, tmp_path: Path
    ) -> None:
        file = tmp_path / "device-keys.toml"
        added = runner.invoke(camera_app, ["keys", "add", "VR-07", "VR-08", "--file", str(file)])
        assert added.exit_code == 0, added.output
        assert stat.S_IMODE(file.stat().st_mode) == 0o600
        keys = DeviceKeys.load(file)
        assert sorted(keys) == ["VR-07", "VR-08"]
        listed = runner.invoke(camera_app, ["keys", "list", "--file", str(file)])
        assert listed.exit_code == 0 and "VR-07" in listed.output and "VR-08" in listed.output
        assert encode_key(keys["VR-07"]) not in listed.output  # fingerprints, never keys
        shown = runner.invoke(camera_app, ["keys", "show", "VR-07", "--file", str(file)])
        assert shown.exit_code == 0
        assert shown.output.strip() == encode_key(keys["VR-07"])
        text = result_text(
            keys["VR-07"],
            dev="VR-07",
            boot="1a2b3c4d",
            seq=1,
            scenario="NITR-RUNAWAY",
            score=90,
            max=100,
            passed=True,
            at=1_796_000_000,
        )
        assert parse(text).mac_ok(DeviceKeys.load(file)["VR-07"])

    def test_a_device_that_has_a_key_keeps_it_unless_replaced(self, tmp_path: Path) -> None:
        file = tmp_path / "device-keys.toml"
        assert (
            runner.invoke(camera_app, ["keys", "add", "VR-07", "--file", str(file)]).exit_code == 0
        )
        first = DeviceKeys.load(file)["VR-07"]
        again = runner.invoke(camera_app, ["keys", "add", "VR-07", "--file", str(file)])
        assert again.exit_code == 2 and "already have keys" in again.output
        assert DeviceKeys.load(file)["VR-07"] == first
        replaced = runner.invoke(
            camera_app, ["keys", "add", "VR-07", "--file", str(file), "--replace"]
        )
        assert replaced.exit_code == 0 and DeviceKeys.load(file)["VR-07"] != first

    def test_unknown_device_bad_name_and_missing_file_are_named(self, tmp_path: Path) -> None:
        file = tmp_path / "device-keys.toml"
        runner.invoke(camera_app, ["keys", "add", "VR-07", "--file", str(file)])
        missing = runner.invoke(camera_app, ["keys", "show", "VR-09", "--file", str(file)])
        assert missing.exit_code == 2 and "no key for device VR-09" in missing.output
        bad = runner.invoke(camera_app, ["keys", "add", "VR|07", "--file", str(file)])
        assert bad.exit_code == 2 and "device name" in bad.output
        absent = runner.invoke(camera_app, ["keys", "list", "--file", str(tmp_path / "no.toml")])
        assert absent.exit_code == 2 and "no.toml" in absent.output
