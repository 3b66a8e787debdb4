"""The PDF certificate: one A4 landscape page, the Chinese really in it, a QR code that scans."""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import os
import re
import shutil
import subprocess
import zlib
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import cv2
import numpy as np
import pytest
from reportlab.lib.units import mm

from server.certificates.pdf import (
    CONTENT,
    PAGE_HEIGHT,
    PAGE_WIDTH,
    CertificateView,
    PartResult,
    layout_certificate,
    render_certificate,
    render_qr_png,
)
from server.trainees.identity import Sex

URL = "https://train.example.cn/verify/SAFE-2026-000123"
EMPLOYER_40 = "中国石油化工股份有限公司南京化工研究院下属某某精细化工有限责任公司第一分厂一车间"
assert len(EMPLOYER_40) == 40


def make_view(**changes: object) -> CertificateView:
    view = CertificateView(
        number="SAFE-2026-000123",
        status="valid",
        trainee_name="张建国",
        id_number_masked="320602********1234",
        employer="江苏某某化工股份有限公司",
        curriculum_title_zh="硝化工艺作业安全技术培训",
        curriculum_title_en="Nitration Process Operation Safety Training",
        course_code="NITR-2026-03",
        hours_completed=72,
        results=(
            PartResult("理论考试", "Theory exam", Decimal("92.5"), True),
            PartResult("实际操作考试", "Practical exam", Decimal(88), True),
            PartResult("VR：混酸泄漏应急处置", "VR: Mixed-acid leak response", Decimal(90), True),
        ),
        issued_on=dt.date(2026, 3, 5),
        valid_until=dt.date(2032, 3, 4),
        rule_set_short_title_zh="安监总局令第30号",
        rule_set_short_title_en="SAWS Order No. 30",
        base_name_zh="化工安全实训基地",
        base_name_en="Chemical Safety Training Base",
        kid="ed25519-2026-01",
        verification_url=URL,
        sex=Sex.male,
        operation_category_zh="硝化工艺作业",
        operation_category_en="Nitration Process Operation",
    )
    return replace(view, **changes)  # type: ignore[arg-type]


# ---------------------------------------------------------------- reading the PDF back

_PDF_TOKEN = re.compile(
    rb"\((?:\\.|[^\\)])*\)"  # literal string (reportlab escapes every parenthesis)
    rb"|<[0-9A-Fa-f\s]*>"  # hex string
    rb"|/[^\s/\[\]()<>]+"  # name
    rb"|[-+]?(?:\d+\.?\d*|\.\d+)"  # number
    rb"|[A-Za-z*'\"]+"  # operator
    rb"|[\[\]]",
    re.S,
)
_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def _literal(token: bytes) -> bytes:
    body, out, i = token[1:-1], bytearray(), 0
    while i < len(body):
        byte = body[i : i + 1]
        if byte != b"\\":
            out += byte
            i += 1
            continue
        nxt = body[i + 1 : i + 2]
        octal = re.match(rb"[0-7]{1,3}", body[i + 1 : i + 4])
        if octal:
            out.append(int(octal.group(), 8) & 0xFF)
            i += 1 + len(octal.group())
        else:
            out += _ESCAPES.get(nxt, b"" if nxt in b"\r\n" else nxt)
            i += 2
    return bytes(out)


def _string(token: bytes) -> bytes:
    if token.startswith(b"<"):
        return bytes.fromhex(re.sub(rb"\s", b"", token[1:-1]).decode())
    return _literal(token)


def _objects(pdf: bytes) -> list[bytes]:
    return re.findall(rb"\n\d+ 0 obj\r?\n(.*?)\nendobj", pdf, re.S)


def _decoded_streams(pdf: bytes) -> list[bytes]:
    streams = []
    for obj in _objects(pdf):
        match = re.match(rb"(.*?)stream\r?\n(.*?)\r?\n?endstream", obj, re.S)
        if not match:
            continue
        head, data = match.groups()
        filters = re.findall(rb"/(ASCII85Decode|FlateDecode)", head)
        for name in filters:
            data = (
                base64.a85decode(data.strip(), adobe=True)
                if name == b"ASCII85Decode"
                else zlib.decompress(data)
            )
        streams.append(data)
    return streams


def _unicode_fonts(pdf: bytes) -> set[bytes]:
    """Resource names (F1, F2 …) of fonts whose strings are UCS-2 (the CID font)."""
    names = set()
    for obj in _objects(pdf):
        name = re.search(rb"/Name /(F\d+)", obj)
        if name and b"/Encoding /UniGB-UCS2-H" in obj:
            names.add(name.group(1))
    return names


def shown_text(pdf: bytes) -> list[str]:
    """Every string the page shows (Tj, TJ), decoded by the font in use when it is shown."""
    unicode_fonts = _unicode_fonts(pdf)
    shown: list[str] = []
    for stream in _decoded_streams(pdf):
        font = b""
        operands: list[bytes] = []
        for token in _PDF_TOKEN.findall(stream):
            if token[:1] in b"(<[]/" or re.fullmatch(rb"[-+.\d]+", token):
                operands.append(token)
                continue
            if token == b"Tf":
                font = operands[-2][1:]
            elif token in (b"Tj", b"TJ", b"'", b'"'):
                raw = b"".join(_string(t) for t in operands if t[:1] in b"(<")
                shown.append(raw.decode("utf-16-be" if font in unicode_fonts else "cp1252"))
            operands = []
    return shown


def info(pdf: bytes, key: str) -> str:
    match = re.search(rb"/" + key.encode() + rb" (\((?:\\.|[^\\)])*\))", pdf)
    assert match, key
    raw = _literal(match.group(1))
    return raw[2:].decode("utf-16-be") if raw.startswith(b"\xfe\xff") else raw.decode("latin-1")


def decode_qr(grey: np.ndarray) -> str:
    text, points, _ = cv2.QRCodeDetector().detectAndDecode(grey)
    assert points is not None, "no QR code found"
    return str(text)


def rasterise(pdf: bytes, tmp_path: Path, dpi: int = 150) -> np.ndarray:
    """The page as a grey image, by poppler's pdftoppm (.ci/run installs poppler-utils)."""
    if shutil.which("pdftoppm") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("pdftoppm (poppler-utils) is missing; .ci/run installs it")
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    source = tmp_path / "certificate.pdf"
    source.write_bytes(pdf)
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            str(dpi),
            "-gray",
            "-png",
            "-singlefile",
            str(source),
            str(tmp_path / "page"),
        ],
        check=True,
        capture_output=True,
    )
    image = cv2.imread(str(tmp_path / "page.png"), cv2.IMREAD_GRAYSCALE)
    assert image is not None
    return image


# ---------------------------------------------------------------- the tests


class TestRenderCertificate:
    def test_one_a4_landscape_page(self) -> None:
        pdf = render_certificate(make_view())

        assert pdf.startswith(b"%PDF-1.")
        assert pdf.rstrip().endswith(b"%%EOF")
        assert len(re.findall(rb"/Type /Page\b(?!s)", pdf)) == 1
        assert b"/Count 1 " in pdf
        (box,) = re.findall(rb"/MediaBox \[ ([\d. ]+) \]", pdf)
        assert [round(float(v), 1) for v in box.split()] == [0, 0, 841.9, 595.3]  # 297 x 210 mm

    def test_the_chinese_text_is_in_it(self) -> None:
        text = shown_text(render_certificate(make_view(employer=EMPLOYER_40)))

        for expected in (
            "张建国",
            "SAFE-2026-000123",
            "硝化工艺作业安全技术培训",
            "Nitration Process Operation Safety Training",
            "320602********1234",
            "培训合格证明",
            "Certificate of Training Completion",
            "理论考试",
            "92.5 / 100",
            "2026年3月5日",
            "2032年3月4日",
            "安监总局令第30号",
            "SAWS Order No. 30",
            "扫码核验",
            "Scan to verify",
            URL,
            "ed25519-2026-01",
            "化工安全实训基地",
            "男",
        ):
            assert expected in text
        assert EMPLOYER_40 in "".join(text)  # wrapped onto two lines, all of it
        # Chinese first, English second, on every label.
        assert text.index("姓名") + 1 == text.index("Name")
        note = next(t for t in text if t.startswith("说明："))
        assert "不是应急管理部门颁发的特种作业操作证" in note

    def test_metadata_names_the_certificate_and_the_base(self) -> None:
        pdf = render_certificate(make_view())

        assert (
            info(pdf, "Title")
            == "培训合格证明 SAFE-2026-000123 / Certificate of Training Completion"
        )
        assert info(pdf, "Author") == "化工安全实训基地 / Chemical Safety Training Base"
        assert "硝化工艺作业安全技术培训" in info(pdf, "Subject")

    def test_same_view_same_bytes(self) -> None:
        assert render_certificate(make_view()) == render_certificate(make_view())
        assert render_certificate(make_view()) != render_certificate(
            make_view(number="SAFE-2026-000124")
        )

    def test_review_date_only_when_given(self) -> None:
        with_review = shown_text(render_certificate(make_view(review_due=dt.date(2029, 3, 4))))
        without = shown_text(render_certificate(make_view()))

        assert {"复审日期", "Review due", "2029年3月4日", "2029-03-04"} <= set(with_review)
        assert not {"复审日期", "Review due"} & set(without)
        assert "" not in without  # nothing printed in its place, not even an empty line

    @pytest.mark.parametrize(
        ("status", "zh", "en"),
        [
            ("revoked", "已撤销", "REVOKED"),
            ("suspended", "已暂停", "SUSPENDED"),
            ("expired", "已过期", "EXPIRED"),
            ("superseded", "已换发", "SUPERSEDED"),
        ],
    )
    def test_a_certificate_not_valid_carries_the_mark(self, status: str, zh: str, en: str) -> None:
        text = shown_text(render_certificate(make_view(status=status)))
        mark = layout_certificate(make_view(status=status)).mark

        assert mark is not None
        assert [line.text for line in mark.lines] == [zh, en]
        assert min(line.size for line in mark.lines) >= 48  # across the page, not a footnote
        assert zh in text and en in text

    @pytest.mark.parametrize(
        ("status", "zh", "en"),
        [
            ("valid", "有效", " / Valid"),
            ("expiring", "有效（即将到期）", " / Valid (expiring soon)"),
        ],
    )
    def test_a_valid_certificate_has_no_mark(self, status: str, zh: str, en: str) -> None:
        text = shown_text(render_certificate(make_view(status=status)))

        assert layout_certificate(make_view(status=status)).mark is None
        assert not {"已撤销", "REVOKED", "已暂停", "SUSPENDED", "已过期", "EXPIRED"} & set(text)
        assert text.index(zh) + 1 == text.index(en)

    def test_without_sex_or_operation_category_no_empty_labels(self) -> None:
        text = shown_text(
            render_certificate(
                make_view(sex=None, operation_category_zh=None, operation_category_en=None)
            )
        )

        assert not {"性别", "Sex", "作业类别", "Operation"} & set(text)

    def test_curriculum_certificate_title_is_printed(self) -> None:
        view = make_view(
            title_zh="安全技术培训合格证明（硝化工艺作业）",
            title_en="Safety Training Certificate (Nitration Process Operation)",
        )

        text = shown_text(render_certificate(view))

        assert "安全技术培训合格证明（硝化工艺作业）" in text
        assert "Safety Training Certificate (Nitration Process Operation)" in text

    def test_unknown_status_refused(self) -> None:
        with pytest.raises(ValueError, match="status 'lost'"):
            make_view(status="lost")

    def test_too_many_results_refused_not_overflowing(self) -> None:
        parts = tuple(PartResult(f"VR：场景{i}", f"VR: scenario {i}", 90, True) for i in range(40))

        with pytest.raises(ValueError, match="do not fit"):
            render_certificate(make_view(results=parts))


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


LONG_URL = "https://verify.safety-training.example.gov.cn/certificates/verify?token=" + "x" * 230
LAYOUT_CASES = {
    "ordinary": make_view(),
    "employer of 40 characters": make_view(employer=EMPLOYER_40),
    "name of 4 characters": make_view(trainee_name="欧阳建国"),
    "long everything": make_view(
        trainee_name="阿卜杜热合曼·买买提明·艾则孜",
        employer=EMPLOYER_40 * 2,
        curriculum_title_zh="化工企业从业人员安全再培训" * 3,
        curriculum_title_en="Annual Safety Refresher Training for Chemical Enterprise Workers " * 3,
        base_name_zh="某某省某某市化工园区危险化学品安全生产实训基地" * 2,
        base_name_en="Provincial Chemical Park Hazardous Chemicals Safety Training Base " * 2,
        title_zh="安全技术培训合格证明（化工自动化控制仪表作业）",
        title_en="Safety Training Certificate (Chemical Automation Control Instrumentation Operation)",
        rule_set_short_title_zh="原国家安全监管总局令第30号",
        review_due=dt.date(2029, 3, 4),
        kid="k" * 64,
        verification_url=LONG_URL,
        status="revoked",
    ),
    "ten results": make_view(
        results=tuple(
            PartResult(
                f"VR：硝化釜飞温（反应失控）应急处置{i}",
                f"VR: Nitrator runaway {i}",
                85,
                i % 2 == 0,
            )
            for i in range(10)
        ),
        review_due=dt.date(2029, 3, 4),
    ),
}


class TestLayout:
    @pytest.mark.parametrize("view", LAYOUT_CASES.values(), ids=LAYOUT_CASES.keys())
    def test_everything_stays_inside_and_apart(self, view: CertificateView) -> None:
        layout = layout_certificate(view)
        x0, y0, x1, y1 = CONTENT

        for line in layout.texts:
            bx0, by0, bx1, by1 = line.box
            assert x0 - 0.01 <= bx0 and bx1 <= x1 + 0.01, line
            assert y0 - 0.01 <= by0 and by1 <= y1 + 0.01, line
        for a, b in itertools.combinations(layout.texts, 2):
            assert not _overlap(a.box, b.box), (a, b)
        for line in layout.texts:  # the QR's quiet zone stays clear
            assert not _overlap(line.box, layout.qr.box), line
        for rule in layout.rules:
            assert not _overlap((rule.x0, rule.y0 - 0.1, rule.x1, rule.y1 + 0.1), layout.qr.box)
        if layout.mark is not None:
            for x, y in layout.mark.corners:
                assert 0 < x < PAGE_WIDTH and 0 < y < PAGE_HEIGHT
                assert x < layout.qr.box[0]  # the mark leaves the QR code alone

    def test_long_employer_printed_whole_and_readable(self) -> None:
        layout = layout_certificate(make_view(employer=EMPLOYER_40))

        lines = [line for line in layout.texts if line.text and line.text in EMPLOYER_40]
        assert "".join(line.text for line in lines) == EMPLOYER_40
        assert len(lines) <= 2 and min(line.size for line in lines) >= 10
        assert layout.scale == 1.0

    def test_many_parts_go_one_a_line_still_readable(self) -> None:
        layout = layout_certificate(LAYOUT_CASES["ten results"])

        assert layout.compact_results
        assert min(line.size for line in layout.texts) >= 6
        names = [line.text for line in layout.texts if line.text.startswith("VR: Nitrator")]
        assert len(names) == 10  # the English name of each part is still there

    def test_an_overlong_name_is_shrunk_or_cut_never_overflowing(self) -> None:
        layout = layout_certificate(make_view(employer="化" * 200))

        lines = [line.text for line in layout.texts if line.text.startswith("化化")]
        assert len(lines) == 2 and lines[-1].endswith("…")

    @pytest.mark.parametrize("url", [URL, LONG_URL], ids=["short url", "long url"])
    def test_qr_is_large_enough_to_scan(self, url: str) -> None:
        qr = layout_certificate(make_view(verification_url=url)).qr

        assert qr.module * len(qr.modules) >= 30 * mm
        assert qr.module >= 0.4 * mm


class TestQrPng:
    @pytest.mark.parametrize("url", [URL, LONG_URL], ids=["short url", "long url"])
    def test_decodes_to_the_url(self, url: str) -> None:
        png = render_qr_png(url, scale=6)

        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
        assert decode_qr(image) == url

    @pytest.mark.parametrize("scale", [0, 65])
    def test_bad_scale_refused(self, scale: int) -> None:
        with pytest.raises(ValueError, match="scale"):
            render_qr_png(URL, scale)


class TestPrintedPage:
    @pytest.mark.parametrize("status", ["valid", "revoked"])
    def test_qr_on_the_page_decodes_to_the_url(self, status: str, tmp_path: Path) -> None:
        page = rasterise(render_certificate(make_view(status=status)), tmp_path)

        rows, columns = page.shape
        assert abs(rows - 210 / 25.4 * 150) <= 1 and abs(columns - 297 / 25.4 * 150) <= 1
        assert decode_qr(page) == URL

    def test_long_url_on_the_page_decodes(self, tmp_path: Path) -> None:
        page = rasterise(
            render_certificate(make_view(verification_url=LONG_URL)), tmp_path, dpi=200
        )

        assert decode_qr(page) == LONG_URL
