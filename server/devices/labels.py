"""Station labels: the QR a trainee scans at the kiosk to say "I am at VR-03" (`STS1:<code>`),
and A4 sheets of printable labels. The QR is no secret: binding still needs a signed-in trainee."""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from dataclasses import dataclass

import segno
from sqlmodel import Session

from server.devices import bindings
from server.errors import InvalidInput, SafetrainError
from server.scheduling import service as scheduling

PREFIX = "STS1:"
_CODE = re.compile(r"[A-Z0-9-]{1,16}")  # as scheduling.schemas.StationCreate.code

COLUMNS, ROWS = 2, 4
PER_PAGE = COLUMNS * ROWS  # 105 × 74 mm each on A4, cut along the grey lines
SCAN_HINT = ("在自助终端扫描此码绑定工位", "Scan at the kiosk to bind this station")


def label_text(code: str) -> str:
    """What a station's QR says."""
    return PREFIX + code.strip().upper()


def station_code(text: str) -> str | None:
    """The station code a scanned QR text names, or None when it is not a station label."""
    if not text.startswith(PREFIX):
        return None
    code = text[len(PREFIX) :].strip().upper()
    return code if _CODE.fullmatch(code) else None


def qr(code: str) -> segno.QRCode:
    # Level Q: a label on a rig gets scuffed; the text is short, so the code stays coarse.
    return segno.make_qr(label_text(code), error="q")


@dataclass(frozen=True)
class Label:
    code: str
    name: str
    room: str | None


def labels_for(session: Session, codes: Iterable[str] = ()) -> list[Label]:
    """The labels of the named stations, or of every station a trainee can bind to. A code that
    is unknown or not bindable (a kiosk, an exam seat, out of service) is refused, by name."""
    wanted = list(dict.fromkeys(c.strip().upper() for c in codes if c.strip()))
    if wanted:
        stations, refused = [], []
        for code in wanted:
            try:
                stations.append(bindings.bindable_station(session, code))
            except SafetrainError as exc:
                refused.append(exc)
        if refused:
            raise InvalidInput(
                "；".join(e.zh for e in refused),
                "; ".join(e.en for e in refused),
                code="station_not_found",
                details={"codes": [c for c in wanted if c not in {s.code for s in stations}]},
            )
    else:
        stations = bindings.bindable_stations(session)
        if not stations:
            raise InvalidInput(
                "没有可以绑定的工位，无标签可打印",
                "there are no stations to bind to, so no labels to print",
                code="no_stations",
            )
    rooms = {r.id: r.name for r in scheduling.list_rooms(session)}
    return [Label(s.code, s.name, rooms.get(s.room_id)) for s in stations]


def labels_pdf(labels: Iterable[Label]) -> bytes:
    """A4 sheets, PER_PAGE labels each: the QR, the code large, name and room, how to use it."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.pdfgen.canvas import Canvas

    from server.certificates.pdf import CJK_FONT, LATIN_FONT, font_for, register_fonts

    register_fonts()
    width, height = A4
    cell_w, cell_h = width / COLUMNS, height / ROWS
    pad, side = 6 * mm, 48 * mm
    out = io.BytesIO()
    page = Canvas(out, pagesize=A4)
    page.setTitle("工位标签 / Station labels")

    def fitted(text: str, font: str, size: float, room: float) -> tuple[str, float]:
        while size > 7 and stringWidth(text, font, size) > room:
            size -= 0.5
        while len(text) > 1 and stringWidth(text, font, size) > room:
            text = text[:-2] + "…"
        return text, size

    def line(text: str, x: float, y: float, size: float, room: float, bold: bool = False) -> None:
        font = font_for(text, bold=bold)
        text, size = fitted(text, font, size, room)
        page.setFont(font, size)
        page.drawString(x, y, text)

    placed = 0
    for n, label in enumerate(labels):
        if n and n % PER_PAGE == 0:
            page.showPage()
        column, row = n % COLUMNS, (n % PER_PAGE) // COLUMNS
        x0, y0 = column * cell_w, height - (row + 1) * cell_h
        page.setStrokeGray(0.75)
        page.setDash(2, 3)
        page.rect(x0, y0, cell_w, cell_h, stroke=1, fill=0)
        page.setDash()
        code = qr(label.code)
        modules = code.symbol_size(scale=1, border=2)[0]
        unit = side / modules
        left, top = x0 + pad, y0 + cell_h - pad
        for y, cells in enumerate(code.matrix_iter(scale=1, border=2)):
            for x, dark in enumerate(cells):
                if dark:
                    page.rect(left + x * unit, top - (y + 1) * unit, unit, unit, stroke=0, fill=1)
        text_x = left + side + 4 * mm
        text_w = x0 + cell_w - pad - text_x
        line(label.code, text_x, top - 14 * mm, 30, text_w, bold=True)
        line(label.name, text_x, top - 24 * mm, 13, text_w)
        if label.room:
            line(label.room, text_x, top - 32 * mm, 11, text_w)
        page.setFont(CJK_FONT, 11)
        page.drawString(left, y0 + pad + 5 * mm, SCAN_HINT[0])
        page.setFont(LATIN_FONT, 9)
        page.drawString(left, y0 + pad, SCAN_HINT[1])
        placed += 1
    if placed:
        page.showPage()
    page.save()
    return out.getvalue()
