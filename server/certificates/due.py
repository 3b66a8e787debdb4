"""Certificates falling due for review (复审) or renewal (换证): the list, as CSV and as iCalendar.

The same lines serve the console page, the CSV download and the calendar feed a trainer
subscribes to (a `certificates_due` feed key, whose subject id is the window in days).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass

import icalendar
from sqlmodel import Session, col, select

from server.certificates import service
from server.certificates.models import Certificate
from server.certificates.service import STANDING_TEXT, Standing
from server.certificates.views import unverified_payload
from server.db import utcnow
from server.scheduling.feeds import DUE_DAYS_MAX
from server.trainees.identity import mask_id_number
from server.trainees.models import Employer, Trainee

MAX_DAYS = DUE_DAYS_MAX  # ten years: the longest window a list or feed may look ahead
KIND_TEXT = {"review": ("复审", "review"), "renewal": ("换证", "renewal")}
PRODID = "-//safetrain//certificates due//ZH"


@dataclass(frozen=True)
class DueLine:
    number: str
    trainee_id: int
    trainee_name: str
    id_number: str  # full or masked, as the reader may see it
    employer: str
    curriculum_code: str
    curriculum_title_zh: str
    curriculum_title_en: str
    issued_on: dt.date
    valid_until: dt.date
    due_on: dt.date
    kind: str  # review or renewal
    days_left: int  # negative: overdue
    standing: Standing


def due_lines(
    session: Session, days: int, *, on: dt.date | None = None, full_identity: bool = False
) -> list[DueLine]:
    """Valid certificates whose review or renewal falls due within `days` of `on`, or is overdue;
    soonest first."""
    on = on or service.today()
    certs = service.due_within(session, days, on)
    people = {
        t.id: (t, name)
        for t, name in session.exec(
            select(Trainee, Employer.name)
            .join(Employer, col(Employer.id) == Trainee.employer_id)
            .where(col(Trainee.id).in_({c.trainee_id for c in certs}))
        ).all()
    }
    lines = []
    for cert in certs:
        trainee, employer = people[cert.trainee_id]
        due_on, kind = service.due_date(cert)
        title = _curriculum_title(cert)
        lines.append(
            DueLine(
                number=cert.number,
                trainee_id=cert.trainee_id,
                trainee_name=trainee.name,
                id_number=trainee.id_number if full_identity else mask_id_number(trainee.id_number),
                employer=employer,
                curriculum_code=cert.curriculum_code,
                curriculum_title_zh=title[0],
                curriculum_title_en=title[1],
                issued_on=cert.issued_on,
                valid_until=cert.valid_until,
                due_on=due_on,
                kind=kind,
                days_left=(due_on - on).days,
                standing=service.standing(cert, on),
            )
        )
    return sorted(lines, key=lambda line: (line.due_on, line.number))


def _curriculum_title(cert: Certificate) -> tuple[str, str]:
    # The title as signed into the certificate, so a renamed curriculum does not rename it.
    title = unverified_payload(cert.document)["curriculum"]["title"]
    return str(title["zh"]), str(title["en"])


# --- CSV ---------------------------------------------------------------------------------

CSV_HEADER = [
    "证书编号 Number",
    "姓名 Name",
    "证件号码 ID number",
    "工作单位 Employer",
    "课程体系 Curriculum",
    "发证日期 Issued on",
    "有效期至 Valid until",
    "到期事项 Due for",
    "到期日期 Due on",
    "剩余天数 Days left",
    "状态 Standing",
]


def _text(value: str) -> str:
    """As in server.scheduling.exports: a formula stays text, a long digit run stays digits."""
    if value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    if value.isdigit() and len(value) > 11:
        return f'="{value}"'
    return value


def to_csv(lines: list[DueLine]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    for line in lines:
        zh, en = KIND_TEXT[line.kind]
        standing_zh, standing_en = STANDING_TEXT[line.standing]
        writer.writerow(
            [
                line.number,
                _text(line.trainee_name),
                _text(line.id_number),
                _text(line.employer),
                f"{line.curriculum_title_zh} {line.curriculum_title_en}",
                line.issued_on.isoformat(),
                line.valid_until.isoformat(),
                f"{zh} {en}",
                line.due_on.isoformat(),
                str(line.days_left),
                f"{standing_zh} {standing_en}",
            ]
        )
    # UTF-8 with a byte-order mark, or Excel on a Chinese Windows reads it as GBK.
    return buffer.getvalue().encode("utf-8-sig")


def csv_disposition(days: int) -> str:
    return f'attachment; filename="certificates-due-{days}d.csv"'


# --- iCalendar ---------------------------------------------------------------------------


def _event(line: DueLine, console_url: str, stamp: dt.datetime) -> icalendar.Event:
    zh, en = KIND_TEXT[line.kind]
    event = icalendar.Event()
    # One event per certificate and kind: a changed date moves the event, it does not add one.
    event.add("uid", f"certificate-{line.number}-{line.kind}@safetrain")
    event.add("dtstamp", stamp)
    event.add("dtstart", line.due_on)  # a whole day (VALUE=DATE): the day it falls due
    event.add("dtend", line.due_on + dt.timedelta(days=1))
    event.add("summary", f"{zh} {en} · {line.trainee_name} · {line.number}")
    event.add("transp", "TRANSPARENT")  # a reminder, not a meeting: never shows the day as busy
    event.add(
        "description",
        "\n".join(
            [
                f"证书 Certificate: {line.number}",
                f"学员 Trainee: {line.trainee_name}（{line.employer}）",
                f"课程体系 Curriculum: {line.curriculum_title_zh} / {line.curriculum_title_en}",
                f"到期事项 Due for: {zh} {en}, {line.due_on.isoformat()}",
                f"有效期至 Valid until: {line.valid_until.isoformat()}",
            ]
        ),
    )
    event.add("url", f"{console_url}/console/certificates/{line.number}")
    return event


def calendar(
    session: Session,
    days: int,
    *,
    name: str,
    public_url: str,
    on: dt.date | None = None,
    now: dt.datetime | None = None,
) -> bytes:
    """One all-day event per certificate falling due within `days` (overdue ones included).

    Only names, numbers and dates: no ID number goes into a calendar that phones sync.
    """
    now = now or utcnow()
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    base = public_url.rstrip("/")
    for line in due_lines(session, min(max(days, 1), MAX_DAYS), on=on):
        cal.add_component(_event(line, base, now))
    return bytes(cal.to_ical())
