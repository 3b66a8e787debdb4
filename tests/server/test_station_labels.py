"""Station labels: the QR text, the A4 sheets (the printed QR decodes), refusals, the CLI."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from devices.camera.qr import decode_texts
from server.devices import labels
from server.errors import InvalidInput
from server.scheduling import service as scheduling
from server.scheduling.schemas import StationUpdate
from tests.factories import ACTOR, make_kiosk, make_room, make_station
from tests.server.certificates.test_pdf import rasterise


def pages_of(pdf: bytes) -> int:
    return len(re.findall(rb"/Type /Page\b(?!s)", pdf))


class TestLabelText:
    def test_a_station_qr_says_sts1_and_its_code(self) -> None:
        assert labels.label_text("vr-03 ") == "STS1:VR-03"
        assert labels.station_code("STS1:VR-03") == "VR-03"

    def test_a_badge_or_another_text_is_no_station(self) -> None:
        assert labels.station_code("STB1:ABCDEF") is None
        assert labels.station_code("https://example.com/STS1:VR-03") is None
        assert labels.station_code("STS1:") is None
        assert labels.station_code("STS1:" + "X" * 40) is None

    def test_the_segno_matrix_decodes_to_the_text(self) -> None:
        code = labels.qr("VR-03")
        cells = np.array(list(code.matrix_iter(scale=8, border=4)), dtype=np.uint8)
        image = cv2.cvtColor(np.where(cells, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
        assert decode_texts(image) == ["STS1:VR-03"]


class TestLabelsFor:
    def test_all_bindable_stations_with_their_room_by_default(self, session: Session) -> None:
        room = make_room(session, code="VRHALL")
        pod = make_station(session, code="VR-03", kind="vr_pod")
        assert pod.id is not None and room.id is not None
        scheduling.update_station(session, ACTOR, pod.id, StationUpdate(room_id=room.id))
        make_station(session, code="RIG-01", kind="fall_rig")
        make_station(session, code="SEAT-01", kind="exam_seat")
        make_kiosk(session, code="KIOSK-01")
        found = {label.code: label for label in labels.labels_for(session)}
        assert set(found) == {"VR-03", "RIG-01"}
        assert found["VR-03"].room == room.name and found["RIG-01"].room is None

    def test_unknown_and_not_bindable_codes_are_refused_by_name(self, session: Session) -> None:
        make_station(session, code="VR-03")
        make_station(session, code="SEAT-02", kind="exam_seat")
        with pytest.raises(InvalidInput) as caught:
            labels.labels_for(session, ["VR-03", "VR-99", "SEAT-02"])
        assert "VR-99" in caught.value.zh and "SEAT-02" in caught.value.zh
        assert "VR-99" in caught.value.en and "VR-03" not in caught.value.en
        assert caught.value.details == {"codes": ["VR-99", "SEAT-02"]}

    def test_named_codes_only_in_the_order_given(self, session: Session) -> None:
        for code in ("VR-01", "VR-02", "VR-03"):
            make_station(session, code=code)
        chosen = labels.labels_for(session, ["vr-03", "VR-01", "VR-03"])
        assert [label.code for label in chosen] == ["VR-03", "VR-01"]


class TestLabelsPdf:
    def test_one_a4_page_per_eight_labels(self) -> None:
        many = [labels.Label(f"VR-{n:02d}", f"VR 体验舱 {n}", "VR 实训室") for n in range(9)]
        pdf = labels.labels_pdf(many)
        assert pdf.startswith(b"%PDF-1.") and pages_of(pdf) == 2
        (box, *_) = re.findall(rb"/MediaBox \[ ([\d. ]+) \]", pdf)
        assert [round(float(v), 1) for v in box.split()] == [0, 0, 595.3, 841.9]  # A4 portrait
        assert pages_of(labels.labels_pdf(many[:8])) == 1

    def test_the_printed_qr_codes_decode_to_their_stations(self, tmp_path: Path) -> None:
        sheet = [
            labels.Label("VR-03", "VR 体验舱三号", "VR 实训室"),
            labels.Label("RIG-12", "高处坠落体验装置", None),
            labels.Label(
                "MECH-1", "A very long station name that cannot fit on one label line", None
            ),
        ]
        image = rasterise(labels.labels_pdf(sheet), tmp_path)
        height, width = image.shape
        found = []
        for n in range(len(sheet)):  # one label at a time: each is a quarter of the page high
            column, row = n % labels.COLUMNS, n // labels.COLUMNS
            cell = image[
                row * height // labels.ROWS : (row + 1) * height // labels.ROWS,
                column * width // labels.COLUMNS : (column + 1) * width // labels.COLUMNS,
            ]
            found += decode_texts(cv2.cvtColor(cell, cv2.COLOR_GRAY2BGR))
        assert found == ["STS1:VR-03", "STS1:RIG-12", "STS1:MECH-1"]


class TestStationsLabelsCli:
    @pytest.fixture
    def run(self, db_url: str, monkeypatch: pytest.MonkeyPatch) -> object:
        from server.cli import app
        from server.config import get_settings

        monkeypatch.setenv("SAFETRAIN_DATABASE_URL", db_url)
        monkeypatch.setenv("SAFETRAIN_ENVIRONMENT", "test")
        monkeypatch.setenv("COLUMNS", "200")
        get_settings.cache_clear()
        yield lambda *args: CliRunner().invoke(app, ["stations", "labels", *args])
        get_settings.cache_clear()

    def test_writes_every_bindable_station(
        self, run: object, session: Session, tmp_path: Path
    ) -> None:
        for n in range(10):
            make_station(session, code=f"VR-{n:02d}")
        out = tmp_path / "labels.pdf"
        result = run("--out", str(out))  # type: ignore[operator]
        assert result.exit_code == 0, result.output
        assert "10 label(s) on 2 page(s)" in result.output and pages_of(out.read_bytes()) == 2

    def test_an_unknown_code_is_named_and_nothing_is_written(
        self, run: object, session: Session, tmp_path: Path
    ) -> None:
        make_station(session, code="VR-03")
        out = tmp_path / "labels.pdf"
        result = run("--out", str(out), "--code", "VR-03", "--code", "VR-77")  # type: ignore[operator]
        assert result.exit_code == 2 and "VR-77" in result.output
        assert not out.exists()
