"""A course's attendance as a spreadsheet: one row per enrolled trainee, CSV or XLSX."""

from __future__ import annotations

import csv
import io
import unicodedata
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlmodel import Session, col, select

from server.db import utcnow
from server.scheduling import attendance
from server.scheduling.models import Attendance, Course, SessionKind
from server.scheduling.service import REQUIRED_KINDS, course_sessions, get_course
from server.trainees.identity import mask_id_number
from server.trainees.models import Employer, Trainee

Cell = str | int | float | None
ColumnKind = Literal["text", "minutes", "hours"]

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Column:
    header: str
    kind: ColumnKind


@dataclass(frozen=True)
class AttendanceTable:
    course: Course
    columns: list[Column]
    rows: list[list[Cell]]


def _hours(minutes: int) -> float:
    return float((Decimal(minutes) / 60).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def attendance_table(
    session: Session, course_id: int, tz: ZoneInfo, *, full_identity: bool
) -> AttendanceTable:
    """Credited minutes per trainee and session (blank: no record), then hours per kind."""
    course = get_course(session, course_id)
    sessions = course_sessions(session, course_id)
    progress = attendance.progress(session, course)
    people = {
        t.id: (t, employer)
        for t, employer in session.exec(
            select(Trainee, Employer.name)
            .join(Employer, col(Employer.id) == Trainee.employer_id)
            .where(col(Trainee.id).in_([p.trainee_id for p in progress]))
        ).all()
    }
    by_id = {s.id: s for s in sessions}
    minutes: dict[tuple[int, int], int] = {}
    if by_id:
        now = utcnow()
        for att in session.exec(
            select(Attendance).where(col(Attendance.session_id).in_(list(by_id)))
        ).all():
            held = by_id[att.session_id]
            credited = attendance.credit(held, att.checked_in_at, att.checked_out_at, now)
            minutes[att.trainee_id, att.session_id] = credited.minutes

    columns = [
        Column("姓名 Name", "text"),
        Column("证件号码 ID number", "text"),
        Column("工作单位 Employer", "text"),
    ]
    for s in sessions:
        label = SessionKind(s.kind).label("zh")
        columns.append(Column(f"{s.starts_at.astimezone(tz):%m-%d %H:%M} {label}", "minutes"))
    for kind in REQUIRED_KINDS:  # the order of each progress line's kinds
        zh, en = kind.label("zh"), kind.label("en")
        columns.append(Column(f"{zh} 学时 {en} hours", "hours"))
        columns.append(Column(f"{zh} 要求学时 {en} required hours", "hours"))
    columns.append(Column("是否完成 Complete", "text"))

    rows: list[list[Cell]] = []
    for p in progress:
        trainee, employer = people[p.trainee_id]
        id_number = trainee.id_number if full_identity else mask_id_number(trainee.id_number)
        row: list[Cell] = [trainee.name, id_number, employer]
        row += [minutes.get((p.trainee_id, s.id or 0)) for s in sessions]
        for k in p.kinds:
            row += [_hours(k.credited_minutes), _hours(k.required_minutes)]
        row.append("是 Yes" if p.complete else "否 No")
        rows.append(row)
    return AttendanceTable(course=course, columns=columns, rows=rows)


# --- files -------------------------------------------------------------------------------


def _safe_text(value: str) -> str:
    """Text a spreadsheet would run as a formula (a name typed as "=HYPERLINK(…)") stays text."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _csv_cell(column: Column, value: Cell) -> str:
    if value is None:
        return ""
    if column.kind == "hours":
        return f"{value:.1f}"
    text = _safe_text(str(value))
    if column.kind == "text" and text.isdigit() and len(text) > 11:
        # Excel opens a long run of digits as a number: an ID number would show as 1.10101E+17
        # and lose its last digits if saved. ="…" keeps it text.
        return f'="{text}"'
    return text


def to_csv(table: AttendanceTable) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([c.header for c in table.columns])
    for row in table.rows:
        writer.writerow([_csv_cell(c, v) for c, v in zip(table.columns, row, strict=True)])
    # UTF-8 with a byte-order mark: Excel on a Chinese Windows reads a CSV without one as GBK
    # and garbles every Chinese character; with the BOM it reads UTF-8.
    return buffer.getvalue().encode("utf-8-sig")


def _display_width(value: Cell) -> int:
    text = f"{value:.1f}" if isinstance(value, float) else str(value or "")
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def to_xlsx(table: AttendanceTable) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "考勤 Attendance"
    bold = Font(bold=True)
    for c, column in enumerate(table.columns, start=1):
        sheet.cell(row=1, column=c, value=column.header).font = bold
    for r, values in enumerate(table.rows, start=2):
        for c, (column, value) in enumerate(zip(table.columns, values, strict=True), start=1):
            cell = sheet.cell(row=r, column=c, value=value)
            if column.kind == "hours":
                cell.number_format = "0.0"
            elif column.kind == "text" and cell.data_type == "f":
                cell.data_type = "s"  # a text that looks like a formula is stored as text
                cell.quotePrefix = True
    for c, column in enumerate(table.columns, start=1):
        widest = max(
            [_display_width(column.header)] + [_display_width(r[c - 1]) for r in table.rows]
        )
        sheet.column_dimensions[get_column_letter(c)].width = min(widest + 2, 40)
    sheet.freeze_panes = "B2"  # the header row and the names stay in view
    if table.rows:
        sheet.auto_filter.ref = sheet.dimensions
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def content_disposition(course: Course, extension: str) -> str:
    """An attachment named after the course; the Chinese name for clients that read RFC 6266."""
    plain = f"attendance-{course.code}.{extension}"
    chinese = quote(f"考勤-{course.code}.{extension}")
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{chinese}"
