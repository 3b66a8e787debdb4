"""The printable certificate: an A4 landscape PDF (Chinese first, English second) with a QR code.

Everything printed comes in a `CertificateView`, so this module needs no database. The page is
laid out first (`layout_certificate`: every line of text with its font, size and box, the QR
code, the status mark), then drawn; tests check the boxes. Chinese is set in reportlab's
built-in CID font STSong-Light, which a PDF reader supplies, so no font file is embedded.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

import segno
from reportlab.lib.colors import HexColor
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas

from server.trainees.identity import Sex

CJK_FONT = "STSong-Light"
LATIN_FONT = "Helvetica"
LATIN_BOLD = "Helvetica-Bold"

PAGE_WIDTH, PAGE_HEIGHT = landscape(A4)
# The decorative frame is drawn inside this inset; all text stays inside CONTENT.
FRAME_INSET = 10 * mm
CONTENT = (20 * mm, 15 * mm, PAGE_WIDTH - 20 * mm, PAGE_HEIGHT - 17 * mm)  # x0, y0, x1, y1

NAVY = "#1F3A5F"
INK = "#111111"
GREY = "#555555"
RULE = "#9AA8B8"
RED = "#B22222"

# As server.certificates.service.Standing: the stored status, or what the dates make of it.
STATUSES = ("valid", "expiring", "expired", "suspended", "revoked", "superseded")
_STATUS_TEXT = {
    "valid": ("有效", "Valid", "#2E7D32"),
    "expiring": ("有效（即将到期）", "Valid (expiring soon)", "#B26A00"),
    "expired": ("已过期", "Expired", RED),
    "suspended": ("已暂停", "Suspended", RED),
    "revoked": ("已撤销", "Revoked", RED),
    "superseded": ("已换发新证", "Superseded", RED),
}
# A printout of these must not pass for a valid certificate: a large diagonal mark across it.
_MARKED = {
    "revoked": ("已撤销", "REVOKED", RED),
    "suspended": ("已暂停", "SUSPENDED", RED),
    "expired": ("已过期", "EXPIRED", "#777777"),
    "superseded": ("已换发", "SUPERSEDED", "#777777"),
}

TITLE_ZH = "培训合格证明"
TITLE_EN = "Certificate of Training Completion"
NOTE_ZH = (
    "说明：本证明为本基地出具的培训考核记录，不是应急管理部门颁发的特种作业操作证；"
    "证明真伪及当前状态以扫码核验结果为准。"
)
NOTE_EN = (
    "Note: this is the training base's record of training and assessment, not the special "
    "operation certificate issued by the authority; scan the QR code for its authenticity "
    "and current status."
)


@dataclass(frozen=True)
class PartResult:
    """One assessed part as printed: theory, practical, or a VR/rig scenario."""

    name_zh: str
    name_en: str
    score: Decimal | int  # as recorded (one decimal, rounded down)
    passed: bool
    max_score: Decimal | int = 100


@dataclass(frozen=True)
class CertificateView:
    """Everything the PDF prints, already chosen and masked by the caller."""

    number: str  # e.g. SAFE-2026-000123
    status: str  # one of STATUSES, as shown at the time of printing
    trainee_name: str
    id_number_masked: str  # printed as given, e.g. 320602********1234
    employer: str
    curriculum_title_zh: str
    curriculum_title_en: str
    course_code: str
    hours_completed: Decimal | int  # credited training hours (学时)
    results: tuple[PartResult, ...]
    issued_on: dt.date
    valid_until: dt.date
    rule_set_short_title_zh: str  # e.g. 安监总局令第30号
    rule_set_short_title_en: str  # e.g. SAWS Order No. 30
    base_name_zh: str
    base_name_en: str
    kid: str  # the signing key's id
    verification_url: str  # what the QR code encodes, exactly
    sex: Sex | None = None
    operation_category_zh: str | None = None
    operation_category_en: str | None = None
    review_due: dt.date | None = None  # 复审, only under a rule set that has one
    title_zh: str = TITLE_ZH  # the curriculum's certificate title, where it has one
    title_en: str = TITLE_EN

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status {self.status!r} is not one of {', '.join(STATUSES)}")
        if not self.verification_url:
            raise ValueError("verification_url is empty")
        if (self.operation_category_zh is None) != (self.operation_category_en is None):
            raise ValueError("operation_category_zh and operation_category_en go together")


# ---------------------------------------------------------------- the laid-out page

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in points, origin bottom left


@dataclass(frozen=True)
class TextLine:
    """One line of text at a baseline; `box` is where its glyphs may reach."""

    text: str
    font: str
    size: float
    x: float  # left end of the baseline
    y: float
    color: str = INK
    heavy: bool = False  # filled and stroked: a bold face for the CID font, which has none

    @property
    def width(self) -> float:
        return pdfmetrics.stringWidth(self.text, self.font, self.size)

    @property
    def box(self) -> Box:
        # CJK glyphs reach 0.88 em up and 0.26 em down in STSong-Light; Helvetica less.
        return (self.x, self.y - 0.26 * self.size, self.x + self.width, self.y + 0.88 * self.size)


@dataclass(frozen=True)
class Rule:
    x0: float
    y0: float
    x1: float
    y1: float
    width: float = 0.5
    color: str = RULE


@dataclass(frozen=True)
class QrSymbol:
    """The QR code's modules (True is dark), placed with the quiet zone included in `box`."""

    modules: tuple[tuple[bool, ...], ...]
    x: float  # bottom left of the quiet zone
    y: float
    side: float  # the quiet zone's side; the symbol is `border` modules inside it
    border: int = 4

    @property
    def module(self) -> float:
        return self.side / (len(self.modules) + 2 * self.border)

    @property
    def box(self) -> Box:
        return (self.x, self.y, self.x + self.side, self.y + self.side)


@dataclass(frozen=True)
class StatusMark:
    """The large diagonal mark of a certificate that is not valid, centred on the page."""

    lines: tuple[TextLine, ...]  # in the mark's own frame, origin at the page centre
    angle: float  # degrees, anticlockwise
    color: str

    @property
    def corners(self) -> tuple[tuple[float, float], ...]:
        """The corners of the lines' boxes once rotated onto the page."""
        a = math.radians(self.angle)
        cx, cy = PAGE_WIDTH / 2, PAGE_HEIGHT / 2
        points = []
        for line in self.lines:
            x0, y0, x1, y1 = line.box
            for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1)):
                points.append(
                    (cx + x * math.cos(a) - y * math.sin(a), cy + x * math.sin(a) + y * math.cos(a))
                )
        return tuple(points)


@dataclass(frozen=True)
class CertificateLayout:
    texts: tuple[TextLine, ...]
    rules: tuple[Rule, ...]
    qr: QrSymbol
    mark: StatusMark | None
    scale: float  # how much the left column's text was shrunk to fit (1.0: not at all)
    compact_results: bool  # one line per assessed part, to fit many
    metadata: dict[str, str]  # the PDF's title, author, subject and keywords


# ---------------------------------------------------------------- fonts and line breaking


@cache
def register_fonts() -> None:
    """Register the CJK font with reportlab (once); every PDF that prints Chinese calls this."""
    pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))


def font_for(text: str, *, bold: bool = False) -> str:
    """Helvetica for what it can print (WinAnsi), else the CID font."""
    try:
        text.encode("cp1252")
    except UnicodeEncodeError:
        return CJK_FONT
    return LATIN_BOLD if bold else LATIN_FONT


_OPENING = "（《「『【“‘("
_CLOSING = "，。、；：？！）》」』】”’·%)"
_TOKEN = re.compile(
    rf"[{_OPENING}]*[\u2e80-\u9fff\uf900-\uffef][{_CLOSING}]*"  # one CJK character
    rf"|[^\s\u2e80-\u9fff\uf900-\uffef]+\s*"  # one Latin word with its spaces
    r"|\s+"
)


def _width(text: str, font: str, size: float) -> float:
    return pdfmetrics.stringWidth(text, font, size)


def wrap(text: str, font: str, size: float, width: float, *, anywhere: bool = False) -> list[str]:
    """Greedy line breaking: between CJK characters and Latin words (or anywhere: URLs, ids)."""
    tokens = list(text) if anywhere else _TOKEN.findall(text)
    lines: list[str] = []
    line = ""
    for token in tokens:
        if _width(line + token, font, size) <= width or not line.strip():
            line += token
        else:
            lines.append(line.rstrip())
            line = token.lstrip()
        while _width(line.rstrip(), font, size) > width and len(line) > 1:
            # A word longer than the line: break it where it overflows.
            fits = (i for i in range(len(line) - 1, 0, -1) if _width(line[:i], font, size) <= width)
            cut = next(fits, 1)
            lines.append(line[:cut])
            line = line[cut:]
    if line.strip() or not lines:
        lines.append(line.rstrip())
    return lines


def fit(
    text: str,
    font: str,
    size: float,
    width: float,
    *,
    max_lines: int = 1,
    min_size: float | None = None,
    anywhere: bool = False,
) -> tuple[float, list[str]]:
    """A size and lines for `text` in `width`: fewer lines first, down to `min_size`.

    A line is saved by shrinking up to 15 %; the last allowed line count may shrink down to
    `min_size`. If even that needs more lines, the last is cut with an ellipsis: text never
    runs out of its box.
    """
    smallest = min_size if min_size is not None else size * 0.7
    for count in range(1, max_lines + 1):
        floor = smallest if count == max_lines else max(smallest, size * 0.85)
        current = size
        while True:
            lines = wrap(text, font, current, width, anywhere=anywhere)
            if len(lines) <= count:
                return current, lines
            if current <= floor:
                break
            current = max(floor, current - 0.25)
    lines = lines[:max_lines]
    last = lines[-1]
    while last and _width(last + "…", font, current) > width:
        last = last[:-1]
    lines[-1] = last + "…"
    return current, lines


# ---------------------------------------------------------------- layout


def _lead(size: float) -> float:
    return size * 1.3


def _ascent(size: float) -> float:
    return size * 0.9


@dataclass(frozen=True)
class _Style:
    size: float
    min_size: float
    max_lines: int = 1
    color: str = INK
    bold: bool = False
    anywhere: bool = False


_LABEL_ZH = _Style(9.5, 8, color=NAVY)
_LABEL_EN = _Style(7, 6, color=GREY)
_NAME = _Style(16, 9, max_lines=2)
_VALUE = _Style(12, 8.5, max_lines=2)
_VALUE_EN = _Style(8.5, 6.5, max_lines=2, color=GREY)


# The left column may shrink to 80 %, never below 6 pt: still readable on paper.
_SCALES = (1.0, 0.95, 0.9, 0.85, 0.8)
_SMALLEST = 6.0


def _scaled(size: float, scale: float) -> float:
    return size if scale == 1 else max(size * scale, min(size, _SMALLEST))


class _Page:
    """Collects what is laid out; text placed by the top of its line."""

    def __init__(self) -> None:
        self.texts: list[TextLine] = []
        self.rules: list[Rule] = []

    def block(
        self, text: str, style: _Style, x: float, top: float, width: float, *, scale: float = 1
    ) -> float:
        """Place `text` in lines at most `width` wide below `top`; return the new top."""
        font = font_for(text, bold=style.bold)
        size, lines = fit(
            text,
            font,
            _scaled(style.size, scale),
            width,
            max_lines=style.max_lines,
            min_size=_scaled(style.min_size, scale),
            anywhere=style.anywhere,
        )
        for line in lines:
            self.texts.append(TextLine(line, font, size, x, top - _ascent(size), style.color))
            top -= _lead(size)
        return top

    def centred(self, text: str, style: _Style, top: float, *, heavy: bool = False) -> float:
        x0, _, x1, _ = CONTENT
        width = x1 - x0
        font = font_for(text, bold=style.bold)
        size, lines = fit(
            text, font, style.size, width, max_lines=style.max_lines, min_size=style.min_size
        )
        for line in lines:
            w = _width(line, font, size)
            self.texts.append(
                TextLine(
                    line, font, size, x0 + (width - w) / 2, top - _ascent(size), style.color, heavy
                )
            )
            top -= _lead(size)
        return top

    def run(self, text: str, style: _Style, x: float, baseline: float) -> float:
        """One piece of a line that continues at the returned x."""
        font = font_for(text, bold=style.bold)
        line = TextLine(text, font, style.size, x, baseline, style.color)
        self.texts.append(line)
        return x + line.width


@dataclass(frozen=True)
class _Cell:
    label_zh: str
    label_en: str
    values: tuple[tuple[str, _Style], ...]
    weight: float = 1.0


def _number(value: Decimal | int) -> str:
    text = format(Decimal(value), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _date_zh(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


_LABEL_WIDTH = 78.0
_CELL_GAP = 12.0


def _label_width(cell: _Cell, scale: float) -> float:
    zh = _width(cell.label_zh, CJK_FONT, _scaled(_LABEL_ZH.size, scale))
    en = _width(cell.label_en, LATIN_FONT, _scaled(_LABEL_EN.size, scale))
    return max(zh, en) + 8 * scale


def _row(
    page: _Page, cells: Sequence[_Cell], x0: float, x1: float, top: float, scale: float
) -> float:
    """Label beside value, cells side by side by weight; returns the row's bottom."""
    total = sum(c.weight for c in cells)
    usable = x1 - x0 - _CELL_GAP * (len(cells) - 1)
    bottom = top
    x = x0
    for i, cell in enumerate(cells):
        cell_width = usable * cell.weight / total
        label_width = (
            max(_LABEL_WIDTH * scale, _label_width(cell, scale))
            if i == 0
            else _label_width(cell, scale)
        )
        below = page.block(cell.label_zh, _LABEL_ZH, x, top, label_width, scale=scale)
        below = page.block(cell.label_en, _LABEL_EN, x, below, label_width, scale=scale)
        value_top = top
        for text, style in cell.values:
            value_top = page.block(
                text, style, x + label_width, value_top, cell_width - label_width, scale=scale
            )
        bottom = min(bottom, below, value_top)
        x += cell_width + _CELL_GAP
    return bottom


def _stacked_row(
    page: _Page, cells: Sequence[_Cell], x0: float, x1: float, top: float, scale: float
) -> float:
    """Label above value, cells of equal width side by side; returns the row's bottom."""
    width = (x1 - x0 - _CELL_GAP * (len(cells) - 1)) / len(cells)
    bottom = top
    for i, cell in enumerate(cells):
        x = x0 + i * (width + _CELL_GAP)
        below = page.block(cell.label_zh, _LABEL_ZH, x, top, width, scale=scale)
        below = page.block(cell.label_en, _LABEL_EN, x, below, width, scale=scale)
        for text, style in cell.values:
            below = page.block(text, style, x, below - 1, width, scale=scale)
        bottom = min(bottom, below)
    return bottom


def _results(
    page: _Page,
    view: CertificateView,
    x0: float,
    x1: float,
    top: float,
    scale: float,
    *,
    compact: bool,
) -> float:
    """The table of parts; `compact` puts each part on one line (English after Chinese)."""
    score_width, result_width = 78 * scale, 62 * scale
    name_x1 = x1 - score_width - result_width
    score_x, result_x = name_x1 + 6 * scale, name_x1 + score_width + 6 * scale
    page.rules.append(Rule(x0, top, x1, top, 0.8, NAVY))
    top -= 3 * scale
    for text, en, x in (
        ("考核科目", "Assessment", x0),
        ("成绩", "Score", score_x),
        ("结果", "Result", result_x),
    ):
        baseline = top - _ascent(_scaled(_LABEL_ZH.size, scale))
        after = page.run(text, _Style(_scaled(_LABEL_ZH.size, scale), 0, color=NAVY), x, baseline)
        page.run(" " + en, _Style(_scaled(_LABEL_EN.size, scale), 0, color=GREY), after, baseline)
    top -= _lead(_scaled(_LABEL_ZH.size, scale)) + 1 * scale
    page.rules.append(Rule(x0, top, x1, top, 0.5, NAVY))
    name_style = _Style(10.5, 8)
    name_en_style = _Style(7.5, 6, color=GREY)
    gap = 8 * scale
    for n, part in enumerate(view.results):
        top -= 3 * scale
        verdict = ("合格", "Pass") if part.passed else ("不合格", "Fail")
        if compact:
            # Chinese takes what it needs up to two thirds of the column, English the rest.
            name_width = name_x1 - x0 - gap
            zh_font = font_for(part.name_zh)
            zh_size = _scaled(name_style.size, scale)
            zh_width = min(_width(part.name_zh, zh_font, zh_size), name_width * 2 / 3)
            below = page.block(part.name_zh, name_style, x0, top, zh_width, scale=scale)
            en_top = top - _ascent(zh_size) + _ascent(_scaled(name_en_style.size, scale))
            en_x = x0 + zh_width + 4 * scale
            page.block(part.name_en, name_en_style, en_x, en_top, name_x1 - gap - en_x, scale=scale)
            x = page.run(verdict[0], _Style(zh_size, 0), result_x, top - _ascent(zh_size))
            page.run(
                " " + verdict[1], _Style(zh_size * 0.75, 0, color=GREY), x, top - _ascent(zh_size)
            )
        else:
            below = page.block(part.name_zh, name_style, x0, top, name_x1 - x0 - gap, scale=scale)
            below = page.block(
                part.name_en, name_en_style, x0, below, name_x1 - x0 - gap, scale=scale
            )
            result_below = page.block(
                verdict[0], name_style, result_x, top, result_width - 6 * scale, scale=scale
            )
            page.block(
                verdict[1],
                name_en_style,
                result_x,
                result_below,
                result_width - 6 * scale,
                scale=scale,
            )
        score = f"{_number(part.score)} / {_number(part.max_score)}"
        page.block(score, _Style(10.5, 8), score_x, top, score_width - 6 * scale, scale=scale)
        top = below - 1 * scale
        last = n == len(view.results) - 1
        page.rules.append(Rule(x0, top, x1, top, 0.8 if last else 0.3, NAVY if last else RULE))
    return top


def _left_column(
    view: CertificateView, x0: float, x1: float, top: float, scale: float, *, compact: bool
) -> tuple[_Page, float]:
    page = _Page()
    first = [_Cell("姓名", "Name", ((view.trainee_name, _NAME),), 1.0)]
    if view.sex is not None:
        sex_zh, sex_en = ("男", "Male") if view.sex is Sex.male else ("女", "Female")
        first.append(_Cell("性别", "Sex", ((sex_zh, _VALUE), (sex_en, _VALUE_EN)), 0.45))
    first.append(_Cell("证件号码", "ID No.", ((view.id_number_masked, _Style(12, 8)),), 1.1))
    hours = _number(view.hours_completed)
    hours_cell = _Cell(
        "培训学时", "Hours", ((f"{hours} 学时", _VALUE), (f"{hours} hours", _VALUE_EN)), 0.5
    )
    programme = _Cell(
        "培训项目",
        "Programme",
        ((view.curriculum_title_zh, _VALUE), (view.curriculum_title_en, _VALUE_EN)),
    )
    rows: list[list[_Cell]] = [
        first,
        [
            _Cell("工作单位", "Employer", ((view.employer, _VALUE),), 1.0),
            _Cell("班级编号", "Course", ((view.course_code, _Style(12, 8)),), 0.5),
        ],
    ]
    if view.operation_category_zh is not None and view.operation_category_en is not None:
        category = _Cell(
            "作业类别",
            "Operation",
            ((view.operation_category_zh, _VALUE), (view.operation_category_en, _VALUE_EN)),
        )
        rows += [[programme], [category, hours_cell]]
    else:
        rows += [[programme, hours_cell]]
    for cells in rows:
        top = _row(page, cells, x0, x1, top, scale) - 5 * scale
    if view.results:
        top = _results(page, view, x0, x1, top - 4 * scale, scale, compact=compact) - 10 * scale
    date_style = _Style(11.5, 8)
    date_en = _Style(8, 6, color=GREY)
    dates = [
        _Cell(
            "发证日期",
            "Issued on",
            ((_date_zh(view.issued_on), date_style), (view.issued_on.isoformat(), date_en)),
        ),
        _Cell(
            "有效期至",
            "Valid until",
            ((_date_zh(view.valid_until), date_style), (view.valid_until.isoformat(), date_en)),
        ),
    ]
    if view.review_due is not None:
        dates.append(
            _Cell(
                "复审日期",
                "Review due",
                ((_date_zh(view.review_due), date_style), (view.review_due.isoformat(), date_en)),
            )
        )
    dates.append(
        _Cell(
            "考核依据",
            "Regulation",
            (
                (view.rule_set_short_title_zh, _Style(11.5, 8, max_lines=2)),
                (view.rule_set_short_title_en, _Style(8, 6, max_lines=2, color=GREY)),
            ),
        )
    )
    top = _stacked_row(page, dates, x0, x1, top, scale)
    return page, top


def _qr(url: str) -> segno.QRCode:
    """Level Q where it costs no extra size, else M: both survive a printout."""
    quartile = segno.make_qr(url, error="q", boost_error=False)
    medium = segno.make_qr(url, error="m", boost_error=False)
    return quartile if quartile.version == medium.version else medium


def _mark(status: str) -> StatusMark | None:
    if status not in _MARKED:
        return None
    zh, en, color = _MARKED[status]
    zh_size = min(120.0, 380 / (_width(zh, CJK_FONT, 1)))
    en_size = min(64.0, 360 / _width(en, LATIN_BOLD, 1))
    lines = (
        TextLine(zh, CJK_FONT, zh_size, -_width(zh, CJK_FONT, zh_size) / 2, 4, color),
        TextLine(
            en, LATIN_BOLD, en_size, -_width(en, LATIN_BOLD, en_size) / 2, -en_size * 1.05, color
        ),
    )
    return StatusMark(lines, 28.0, color)


def _issuer(page: _Page, view: CertificateView, x: float, top: float, width: float) -> float:
    """发证机构 / Issued by and the base's names; returns the height taken (positive)."""
    below = page.block("发证机构", _LABEL_ZH, x, top, width)
    below = page.block("Issued by", _LABEL_EN, x, below, width)
    below = page.block(view.base_name_zh, _Style(11, 8, max_lines=2), x, below - 1, width)
    below = page.block(view.base_name_en, _Style(8, 6, max_lines=2, color=GREY), x, below, width)
    return top - below


def layout_certificate(view: CertificateView) -> CertificateLayout:
    """Where everything goes on the page; `render_certificate` draws exactly this."""
    register_fonts()
    x0, y0, x1, y1 = CONTENT
    header = _Page()
    top = header.centred(view.base_name_zh, _Style(13, 9, color=NAVY), y1)
    top = header.centred(view.base_name_en, _Style(8.5, 6.5, color=GREY), top + 1)
    top = header.centred(view.title_zh, _Style(28, 16, color=NAVY), top - 8, heavy=True)
    top = header.centred(view.title_en, _Style(14, 9, color=NAVY, bold=True), top - 1)

    # The number on the left and the status on the right of one line, then a rule.
    baseline = top - 10
    x = header.run("证书编号", _Style(9.5, 0, color=NAVY), x0, baseline)
    x = header.run(" / Certificate No.  ", _Style(7.5, 0, color=GREY), x, baseline)
    header.run(view.number, _Style(12, 0, bold=True), x, baseline)
    status_zh, status_en, status_color = _STATUS_TEXT[view.status]
    status = [
        ("状态", _Style(9.5, 0, color=NAVY)),
        (" / Status  ", _Style(7.5, 0, color=GREY)),
        (status_zh, _Style(11, 0, color=status_color)),
        (f" / {status_en}", _Style(9.5, 0, color=status_color, bold=True)),
    ]
    x = x1 - sum(_width(t, font_for(t, bold=s.bold), s.size) for t, s in status)
    for text, style in status:
        x = header.run(text, style, x, baseline)
    top = baseline - 8
    header.rules.append(Rule(x0, top, x1, top, 0.8, NAVY))
    body_top = top - 10

    # The note across the foot of the page, then what sits above it.
    note = _Page()
    note_top = note.block(NOTE_ZH, _Style(8, 6.5), x0, y0 + 26, x1 - x0)
    note.block(NOTE_EN, _Style(7, 5.5, color=GREY), x0, note_top, x1 - x0)
    foot = y0 + 32
    note.rules.append(Rule(x0, foot, x1, foot, 0.5, RULE))
    foot += 6

    # The right column: QR code, how to verify, the issuer.
    column_width = 52 * mm
    cx0 = x1 - column_width
    right = _Page()
    qr = _qr(view.verification_url)
    modules = tuple(tuple(bool(v) for v in row) for row in qr.matrix)
    symbol = QrSymbol(modules, cx0, body_top + 6 - column_width, column_width)
    below = right.block("扫码核验", _Style(11, 9, color=NAVY), cx0, symbol.y - 2, column_width)
    below = right.block("Scan to verify", _Style(8, 6.5, color=GREY), cx0, below, column_width)
    below = right.block(
        view.verification_url,
        _Style(6.5, 5, max_lines=4, color=GREY, anywhere=True),
        cx0,
        below - 2,
        column_width,
    )
    baseline = below - 2 - _ascent(6.5)
    x = right.run("签名密钥", _Style(6.5, 0, color=GREY), cx0, baseline)
    right.run(" / Key ID", _Style(6, 0, color=GREY), x, baseline)
    below = baseline + _ascent(6.5) - _lead(6.5)
    right.block(
        view.kid, _Style(6.5, 5, max_lines=2, color=GREY, anywhere=True), cx0, below, column_width
    )
    # The issuer at the foot of the column, where a seal would go: laid out once to measure.
    issuer_height = _issuer(_Page(), view, cx0, 0, column_width)
    _issuer(right, view, cx0, foot + issuer_height, column_width)

    # The left column, shrunk a little until it fits above the note; many parts go one a line.
    lx1 = cx0 - 10 * mm
    for compact, scale in itertools.product((False, True), _SCALES):
        left, bottom = _left_column(view, x0, lx1, body_top, scale, compact=compact)
        if bottom >= foot:
            break
    else:
        raise ValueError(
            f"certificate {view.number}: {len(view.results)} results do not fit on one page"
        )

    texts = (*header.texts, *left.texts, *right.texts, *note.texts)
    rules = (*header.rules, *left.rules, *note.rules)
    metadata = {
        "title": f"{view.title_zh} {view.number} / {view.title_en}",
        "author": f"{view.base_name_zh} / {view.base_name_en}",
        "subject": (
            f"{view.trainee_name}：{view.curriculum_title_zh} / {view.curriculum_title_en}"
            f"（{status_zh} / {status_en}）"
        ),
        "keywords": view.number,
    }
    return CertificateLayout(texts, rules, symbol, _mark(view.status), scale, compact, metadata)


# ---------------------------------------------------------------- drawing


def _draw_text(canvas: Canvas, line: TextLine, alpha: float = 1.0) -> None:
    # The colour carries the alpha: setting a colour without one would make it opaque again.
    color = HexColor(line.color)
    canvas.setFillColorRGB(color.red, color.green, color.blue, alpha)
    text = canvas.beginText(line.x, line.y)
    text.setFont(line.font, line.size)
    if line.heavy:
        canvas.setStrokeColorRGB(color.red, color.green, color.blue, alpha)
        canvas.setLineWidth(line.size * 0.025)
        text.setTextRenderMode(2)  # fill, then stroke the outline
    text.textOut(line.text)
    if line.heavy:
        text.setTextRenderMode(0)  # the mode outlives the text object: put it back
    canvas.drawText(text)


def _draw_qr(canvas: Canvas, qr: QrSymbol) -> None:
    module = qr.module
    rows = len(qr.modules)
    path = canvas.beginPath()
    for r, row in enumerate(qr.modules):
        y = qr.y + (qr.border + rows - 1 - r) * module
        c = 0
        while c < len(row):
            if not row[c]:
                c += 1
                continue
            start = c
            while c < len(row) and row[c]:
                c += 1
            path.rect(qr.x + (qr.border + start) * module, y, (c - start) * module, module)
    canvas.setFillColor(HexColor("#000000"))
    canvas.drawPath(path, stroke=0, fill=1)


def _draw_frame(canvas: Canvas) -> None:
    canvas.setStrokeColor(HexColor(NAVY))
    canvas.setLineWidth(2.2)
    canvas.rect(
        FRAME_INSET, FRAME_INSET, PAGE_WIDTH - 2 * FRAME_INSET, PAGE_HEIGHT - 2 * FRAME_INSET
    )
    canvas.setLineWidth(0.6)
    inner = FRAME_INSET + 2.2 * mm
    canvas.rect(inner, inner, PAGE_WIDTH - 2 * inner, PAGE_HEIGHT - 2 * inner)


def render_certificate(view: CertificateView) -> bytes:
    """The certificate as a one-page PDF; the same view gives the same bytes."""
    layout = layout_certificate(view)
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=(PAGE_WIDTH, PAGE_HEIGHT), invariant=True)
    canvas.setTitle(layout.metadata["title"])
    canvas.setAuthor(layout.metadata["author"])
    canvas.setSubject(layout.metadata["subject"])
    canvas.setKeywords(layout.metadata["keywords"])
    canvas.setCreator("safetrain")
    _draw_frame(canvas)
    for rule in layout.rules:
        canvas.setStrokeColor(HexColor(rule.color))
        canvas.setLineWidth(rule.width)
        canvas.line(rule.x0, rule.y0, rule.x1, rule.y1)
    for line in layout.texts:
        _draw_text(canvas, line)
    _draw_qr(canvas, layout.qr)
    if layout.mark is not None:
        # Drawn last and translucent: on top of everything, yet the text stays legible.
        canvas.saveState()
        canvas.translate(PAGE_WIDTH / 2, PAGE_HEIGHT / 2)
        canvas.rotate(layout.mark.angle)
        for line in layout.mark.lines:
            _draw_text(canvas, line, alpha=0.3)
        canvas.restoreState()
    canvas.showPage()
    canvas.save()
    return out.getvalue()


def render_qr_png(url: str, scale: int) -> bytes:
    """The verification URL's QR code as a PNG (4-module quiet zone), for a screen."""
    if not url:
        raise ValueError("url is empty")
    if not 1 <= scale <= 64:
        raise ValueError(f"scale {scale} is not between 1 and 64 pixels per module")
    out = io.BytesIO()
    _qr(url).save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


__all__ = [
    "CJK_FONT",
    "LATIN_BOLD",
    "LATIN_FONT",
    "STATUSES",
    "CertificateLayout",
    "CertificateView",
    "PartResult",
    "font_for",
    "layout_certificate",
    "register_fonts",
    "render_certificate",
    "render_qr_png",
]
