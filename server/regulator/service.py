"""What a regulator may read — certificates by filter and cursor, changes since a sequence
number, a trainee's results and hours — and the access log every read writes.

A certificate's `change_seq` is the audit sequence number of its latest change, assigned while
the audit head is locked and the writing transaction is still open; so sequence numbers become
visible in commit order, and a reader who has seen `change_seq` N has seen every committed
change below N (docs/architecture.md, "Regulator sync").
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Engine, Row, Select, and_, case, not_, or_, select, update
from sqlmodel import Session, col
from sqlmodel import select as sm_select

from curricula import catalogue
from server.assessment.models import Attempt, AttemptStatus
from server.assessment.sittings import curriculum_of
from server.certificates.models import Certificate, CertificateStatus
from server.certificates.service import Standing, today
from server.db import utcnow
from server.errors import InvalidInput, NotFound, field_error
from server.models import metadata
from server.regulator.models import RegulatorAccess
from server.scheduling.attendance import credit
from server.scheduling.models import Attendance, ClassSession, Course, Enrolment, SessionKind
from server.scheduling.service import REQUIRED_KINDS, required_hours
from server.trainees.models import Employer, Trainee

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100

_certificates = metadata.tables["certificates"]
_trainees = metadata.tables["trainees"]
_employers = metadata.tables["employers"]
_courses = metadata.tables["courses"]
_previous = _certificates.alias("previous")
_successor = _certificates.alias("successor")

# The columns of a certificate record, in order: the list's JSON keys, the export's CSV header
# and NDJSON keys. Machine-readable English names; the regulator API guide explains each.
COLUMNS: tuple[str, ...] = (
    "number",
    "standing",
    "status",
    "status_reason",
    "status_changed_at",
    "name",
    "id_type",
    "id_number",
    "sex",
    "employer",
    "curriculum_code",
    "curriculum_version",
    "curriculum_title_zh",
    "curriculum_title_en",
    "operation_category",
    "course_code",
    "rule_set",
    "issued_on",
    "valid_until",
    "review_due",
    "supersedes",
    "superseded_by",
    "kid",
    "change_seq",
    "issued_at",
)


@dataclass(frozen=True)
class Caller:
    """Who reads: recorded in every access-log row."""

    user_id: int | None
    token_id: int | None
    actor: str
    role: str
    address: str


# --- filters -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    curriculum: str | None = None
    standings: tuple[Standing, ...] = ()
    issued_from: dt.date | None = None
    issued_to: dt.date | None = None
    employer: str | None = None
    id_number: str | None = None

    def as_query(self) -> dict[str, Any]:
        """The filters given, for the access log."""
        given = {k: v for k, v in asdict(self).items() if v not in (None, ())}
        if self.standings:
            given["standings"] = [s.value for s in self.standings]
        return given


def filters(
    *,
    curriculum: str | None = None,
    standings: Sequence[Standing] = (),
    issued_from: dt.date | None = None,
    issued_to: dt.date | None = None,
    employer: str | None = None,
    id_number: str | None = None,
) -> Filters:
    """Checked filters; an unknown curriculum or an inverted date range is refused."""
    problems = []
    code = (curriculum or "").strip().upper() or None
    if code is not None and catalogue().get(code) is None:
        known = ", ".join(sorted(catalogue().curricula))
        problems.append(
            field_error(
                "curriculum",
                "unknown_curriculum",
                f"没有课程体系 {code}（可选：{known}）",
                f"there is no curriculum {code} (known: {known})",
            )
        )
    if issued_from is not None and issued_to is not None and issued_from > issued_to:
        problems.append(
            field_error(
                "issued_to",
                "before_issued_from",
                f"截止日期 {issued_to} 早于起始日期 {issued_from}",
                f"issued_to {issued_to} is before issued_from {issued_from}",
            )
        )
    if problems:
        raise InvalidInput("查询条件有误", "the filters are wrong", details=problems)
    return Filters(
        curriculum=code,
        standings=tuple(dict.fromkeys(standings)),
        issued_from=issued_from,
        issued_to=issued_to,
        employer=(employer or "").strip() or None,
        id_number=(id_number or "").strip().upper() or None,
    )


# --- standing as SQL: a column for the records, conditions for the filter ------------------


class Standings:
    """Standing as of one day, in SQL: the rules of certificates.service.standing — the stored
    status, whether a newer certificate supersedes it, and its dates against the day and the
    rule set's notice period."""

    def __init__(self, on: dt.date) -> None:
        self.on = on
        groups: dict[int, list[str]] = defaultdict(list)
        for rule_set in catalogue().rule_sets:
            groups[rule_set.certificate.expiring_notice_days].append(rule_set.code)
        # Per notice period: its rule sets, and the day from which a due date is not "soon".
        self._notice = [(codes, on + dt.timedelta(days=days)) for days, codes in groups.items()]

    @staticmethod
    def _due_before(day: dt.date) -> ColumnElement[bool]:
        """Renewal or review due before `day`; never NULL, so that NOT(…) means what it says."""
        c = _certificates.c
        return or_(c.valid_until < day, and_(c.review_due.is_not(None), c.review_due < day))

    def _due_soon(self) -> ColumnElement[bool]:
        c = _certificates.c
        if len(self._notice) == 1:
            return self._due_before(self._notice[0][1])
        return or_(
            *(and_(c.rule_set.in_(codes), self._due_before(day)) for codes, day in self._notice)
        )

    def column(self) -> ColumnElement[str]:
        """The standing of each row: revoked, suspended, superseded, expired, expiring, valid."""
        c = _certificates.c
        return case(
            (c.status == CertificateStatus.revoked.value, Standing.revoked.value),
            (c.status == CertificateStatus.suspended.value, Standing.suspended.value),
            (_successor.c.id.is_not(None), Standing.superseded.value),
            (self._due_before(self.on), Standing.expired.value),
            (self._due_soon(), Standing.expiring.value),
            else_=Standing.valid.value,
        )

    def condition(self, standing: Standing) -> ColumnElement[bool]:
        """The rows whose standing is `standing`, written so that indexes serve them: the
        stored status first (ix_certificates_status_id), then the successor and the dates."""
        c = _certificates.c
        if standing is Standing.revoked:
            return c.status == CertificateStatus.revoked.value
        if standing is Standing.suspended:
            return c.status == CertificateStatus.suspended.value
        live = c.status == CertificateStatus.valid.value
        if standing is Standing.superseded:
            return and_(live, _successor.c.id.is_not(None))
        live = and_(live, _successor.c.id.is_(None))
        expired = self._due_before(self.on)
        if standing is Standing.expired:
            return and_(live, expired)
        if standing is Standing.expiring:
            return and_(live, not_(expired), self._due_soon())
        return and_(live, not_(expired), not_(self._due_soon()))


# --- the records ---------------------------------------------------------------------------

# How the export renders a column as text: free text people typed is quoted (CSV) and kept
# from starting a spreadsheet formula; our own texts (titles) are quoted; codes need neither.
TEXT, QUOTED, CODE, DAY, INSTANT, NUMBER = "text", "quoted", "code", "day", "instant", "number"


def certificate_id() -> ColumnElement[int]:
    return _certificates.c.id


def record_source() -> Any:
    """The certificates with their trainee, employer, course, predecessor and successor."""
    c, t, e, co = _certificates.c, _trainees.c, _employers.c, _courses.c
    return (
        _certificates.join(_trainees, t.id == c.trainee_id)
        .join(_employers, e.id == t.employer_id)
        .join(_courses, co.id == c.course_id)
        .outerjoin(_previous, _previous.c.id == c.supersedes_id)
        .outerjoin(_successor, _successor.c.supersedes_id == c.id)
    )


def record_columns(standings: Standings) -> list[tuple[str, ColumnElement[Any], str]]:
    """(name, expression, kind) of every column of a record, in COLUMNS order."""
    c, t, e, co = _certificates.c, _trainees.c, _employers.c, _courses.c
    curricula = catalogue().curricula
    title_zh = {code: cur.title.zh for code, cur in curricula.items()}
    title_en = {code: cur.title.en for code, cur in curricula.items()}
    columns: list[tuple[str, ColumnElement[Any], str]] = [
        ("number", c.number, CODE),
        ("standing", standings.column(), CODE),
        ("status", c.status, CODE),
        ("status_reason", c.status_reason, TEXT),
        ("status_changed_at", c.status_changed_at, INSTANT),
        ("name", t.name, TEXT),
        ("id_type", t.id_type, CODE),
        ("id_number", t.id_number, TEXT),
        ("sex", t.sex, CODE),
        ("employer", e.name, TEXT),
        ("curriculum_code", c.curriculum_code, CODE),
        ("curriculum_version", c.curriculum_version, QUOTED),
        (
            "curriculum_title_zh",
            case(title_zh, value=c.curriculum_code, else_=c.curriculum_code),
            QUOTED,
        ),
        (
            "curriculum_title_en",
            case(title_en, value=c.curriculum_code, else_=c.curriculum_code),
            QUOTED,
        ),
        ("operation_category", c.operation_category, CODE),
        ("course_code", co.code, TEXT),
        ("rule_set", c.rule_set, CODE),
        ("issued_on", c.issued_on, DAY),
        ("valid_until", c.valid_until, DAY),
        ("review_due", c.review_due, DAY),
        ("supersedes", _previous.c.number, CODE),
        ("superseded_by", _successor.c.number, CODE),
        ("kid", c.kid, CODE),
        ("change_seq", c.change_seq, NUMBER),
        ("issued_at", c.issued_at, INSTANT),
    ]
    assert tuple(name for name, _, _ in columns) == COLUMNS
    return columns


def filtered(query: Select[Any], wanted: Filters, standings: Standings) -> Select[Any]:
    """`query` (over the records' joins) narrowed to the filters."""
    c, t, e = _certificates.c, _trainees.c, _employers.c
    if wanted.curriculum is not None:
        query = query.where(c.curriculum_code == wanted.curriculum)
    if wanted.standings:
        query = query.where(or_(*(standings.condition(s) for s in wanted.standings)))
    if wanted.issued_from is not None:
        query = query.where(c.issued_on >= wanted.issued_from)
    if wanted.issued_to is not None:
        query = query.where(c.issued_on <= wanted.issued_to)
    if wanted.employer is not None:
        query = query.where(e.name == wanted.employer)
    if wanted.id_number is not None:
        query = query.where(t.id_number == wanted.id_number)
    return query


def certificate_query(wanted: Filters, standings: Standings) -> Select[Any]:
    """The id and every column of a certificate record, filtered; unordered."""
    c = _certificates.c
    columns = [expr.label(name) for name, expr, _ in record_columns(standings)]
    return filtered(select(c.id, *columns).select_from(record_source()), wanted, standings)


def as_record(row: Row[Any]) -> dict[str, Any]:
    """A query row as a record: COLUMNS and their values (the id left out)."""
    return dict(zip(COLUMNS, row[1:], strict=True))


# --- the access log ------------------------------------------------------------------------


def _canonical(query: dict[str, Any]) -> str:
    return json.dumps(query, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def _log_row(
    caller: Caller, endpoint: str, query: dict[str, Any], records: int, *, complete: bool
) -> RegulatorAccess:
    now = utcnow()
    return RegulatorAccess(
        at=now,
        user_id=caller.user_id,
        token_id=caller.token_id,
        actor=caller.actor[:64],
        role=caller.role,
        address=caller.address[:64],
        endpoint=endpoint,
        query=_canonical(query),
        records=records,
        complete=complete,
        finished_at=now if complete else None,
    )


def start_export(session: Session, caller: Caller, query: dict[str, Any]) -> int:
    """The export's log row, committed before the first byte goes out; returns its id."""
    row = _log_row(caller, "export", query, 0, complete=False)
    session.add(row)
    session.commit()
    assert row.id is not None
    return row.id


def export_progress(engine: Engine, log_id: int, records: int, finished: bool) -> None:
    """Record how many rows an export has sent; `finished` when its last row went out."""
    table = RegulatorAccess.__table__  # type: ignore[attr-defined]
    values: dict[str, Any] = {"records": records}
    if finished:
        values.update(complete=True, finished_at=utcnow())
    with Session(engine) as session:
        session.execute(update(table).where(table.c.id == log_id).values(**values))
        session.commit()


def export_ended(engine: Engine, log_id: int, records: int) -> None:
    """An export that stopped before its last row (the client went away, or an error)."""
    table = RegulatorAccess.__table__  # type: ignore[attr-defined]
    with Session(engine) as session:
        session.execute(
            update(table)
            .where(table.c.id == log_id)
            .values(records=records, complete=False, finished_at=utcnow())
        )
        session.commit()


def access_log(session: Session, *, after: int = 0, limit: int = 100) -> list[RegulatorAccess]:
    return list(
        session.exec(
            sm_select(RegulatorAccess)
            .where(col(RegulatorAccess.id) > after)
            .order_by(col(RegulatorAccess.id))
            .limit(limit)
        ).all()
    )


# --- certificates by filter, with a cursor -------------------------------------------------


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(str(last_id).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        if not text.isdigit():
            raise ValueError(text)
        return int(text)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput(
            "翻页游标无效：请使用上一页返回的 next_cursor",
            "the cursor is not valid: pass the next_cursor of the previous page",
            details=[
                field_error(
                    "cursor", "bad_cursor", "不是本接口给出的游标", "not a cursor this API gave"
                )
            ],
        ) from None


@dataclass
class Page:
    records: list[dict[str, Any]]
    next_cursor: str | None
    as_of: dt.date


def list_certificates(
    session: Session,
    caller: Caller,
    wanted: Filters,
    *,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Page:
    """One page of certificates in id order; logged with its filters and count."""
    after = decode_cursor(cursor)
    on = today()
    c = _certificates.c
    rows = session.execute(
        certificate_query(wanted, Standings(on)).where(c.id > after).order_by(c.id).limit(limit + 1)
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    query = {**wanted.as_query(), "cursor": cursor, "limit": limit}
    session.add(_log_row(caller, "certificates", query, len(rows), complete=True))
    session.commit()
    return Page(
        records=[as_record(r) for r in rows],
        next_cursor=encode_cursor(rows[-1][0]) if more else None,
        as_of=on,
    )


# --- changes since a sequence number -------------------------------------------------------


@dataclass
class Changes:
    records: list[dict[str, Any]]
    next_since: int
    more: bool
    as_of: dt.date


def changes(session: Session, caller: Caller, since: int, *, limit: int = DEFAULT_LIMIT) -> Changes:
    """Certificates whose latest change has `change_seq` > since, in change_seq order.

    Each appears once, in its latest state at its latest change_seq. Certificates sharing one
    change_seq (changed in one transaction) are never split between two pages.
    """
    on = today()
    c = _certificates.c
    base = certificate_query(Filters(), Standings(on))
    rows: list[Row[Any]] = list(
        session.execute(
            base.where(c.change_seq > since).order_by(c.change_seq, c.id).limit(limit + 1)
        ).all()
    )
    more = len(rows) > limit
    if more:
        last, following = rows[limit - 1], rows[limit]
        rows = rows[:limit]
        if following.change_seq == last.change_seq:
            rows += session.execute(
                base.where(c.change_seq == last.change_seq, c.id > last.id).order_by(c.id)
            ).all()
            later = select(c.id).where(c.change_seq > last.change_seq).limit(1)
            more = session.execute(later).first() is not None
    query = {"since": since, "limit": limit}
    session.add(_log_row(caller, "changes", query, len(rows), complete=True))
    session.commit()
    next_since = rows[-1].change_seq if rows else since
    return Changes(records=[as_record(r) for r in rows], next_since=next_since, more=more, as_of=on)


# --- a trainee's results and hours ---------------------------------------------------------


@dataclass
class HoursLine:
    kind: str
    required_minutes: int
    credited_minutes: int


@dataclass
class CourseHours:
    course: str
    curriculum_code: str
    curriculum_version: str
    starts_on: dt.date
    ends_on: dt.date
    enrolment: str | None
    hours: list[HoursLine]


@dataclass
class AttemptLine:
    course: str | None
    curriculum_code: str
    part: str
    source: str
    status: str
    version: int
    score: str | None
    passed: bool | None
    veto_failed: list[str]
    taken_at: dt.datetime
    rule_set: str
    correction_reason: str | None


@dataclass
class TraineeResults:
    name: str
    id_type: str
    id_number: str
    sex: str
    birth_date: dt.date
    employer: str
    courses: list[CourseHours] = field(default_factory=list)
    attempts: list[AttemptLine] = field(default_factory=list)
    certificates: list[str] = field(default_factory=list)


def _hours(session: Session, trainee_id: int, course: Course) -> list[HoursLine]:
    """Credited minutes per kind, as attendance.progress counts them, against the curriculum."""
    try:
        required = required_hours(curriculum_of(course.curriculum_code))
    except NotFound:
        required = dict.fromkeys(REQUIRED_KINDS, 0.0)
    credited: dict[SessionKind, int] = defaultdict(int)
    now = utcnow()
    for att, row in session.exec(
        sm_select(Attendance, ClassSession)
        .join(ClassSession, col(ClassSession.id) == Attendance.session_id)
        .where(Attendance.trainee_id == trainee_id, ClassSession.course_id == course.id)
    ).all():
        credited[SessionKind(row.kind)] += credit(
            row, att.checked_in_at, att.checked_out_at, now
        ).minutes
    return [
        HoursLine(
            kind=kind.value,
            required_minutes=round(required[kind] * 60),
            credited_minutes=credited[kind],
        )
        for kind in REQUIRED_KINDS
    ]


def _results_of(session: Session, trainee: Trainee) -> TraineeResults:
    assert trainee.id is not None
    employer = session.get(Employer, trainee.employer_id)
    enrolments = {
        e.course_id: str(e.status)
        for e in session.exec(sm_select(Enrolment).where(Enrolment.trainee_id == trainee.id))
    }
    attempts = session.exec(
        sm_select(Attempt)
        .where(
            Attempt.trainee_id == trainee.id,
            col(Attempt.status).in_([AttemptStatus.final.value, AttemptStatus.superseded.value]),
        )
        .order_by(col(Attempt.taken_at), col(Attempt.id))
    ).all()
    course_ids = set(enrolments) | {a.course_id for a in attempts if a.course_id is not None}
    courses = {
        c.id: c
        for c in session.exec(
            sm_select(Course).where(col(Course.id).in_(course_ids)).order_by(col(Course.starts_on))
        )
    }
    numbers = session.exec(
        sm_select(Certificate.number)
        .where(Certificate.trainee_id == trainee.id)
        .order_by(col(Certificate.id))
    ).all()
    return TraineeResults(
        name=trainee.name,
        id_type=str(trainee.id_type),
        id_number=trainee.id_number,
        sex=str(trainee.sex),
        birth_date=trainee.birth_date,
        employer="" if employer is None else employer.name,
        courses=[
            CourseHours(
                course=course.code,
                curriculum_code=course.curriculum_code,
                curriculum_version=course.curriculum_version,
                starts_on=course.starts_on,
                ends_on=course.ends_on,
                enrolment=enrolments.get(course_id),
                hours=_hours(session, trainee.id, course),
            )
            for course_id, course in courses.items()
            if course_id is not None
        ],
        attempts=[
            AttemptLine(
                course=None if a.course_id is None else courses[a.course_id].code,
                curriculum_code=a.curriculum_code,
                part=a.part,
                source=str(a.source),
                status=str(a.status),
                version=a.version,
                score=a.score,
                passed=a.passed,
                veto_failed=[v for v in a.veto_failed.split(",") if v],
                taken_at=a.taken_at,
                rule_set=a.rule_set,
                correction_reason=a.correction_reason,
            )
            for a in attempts
        ],
        certificates=list(numbers),
    )


def trainee_results(session: Session, caller: Caller, id_number: str) -> list[TraineeResults]:
    """Every trainee registered with this ID number (one per document type): attempts, final
    and superseded, and hours per course. Logged even when nobody is found (then 404)."""
    wanted = id_number.strip().upper()
    people = session.exec(
        sm_select(Trainee).where(Trainee.id_number == wanted).order_by(col(Trainee.id))
    ).all()
    found = [_results_of(session, p) for p in people]
    count = sum(len(r.attempts) + len(r.courses) for r in found)
    session.add(_log_row(caller, "results", {"id_number": wanted}, count, complete=True))
    session.commit()
    if not found:
        raise NotFound(
            f"没有证件号码为 {wanted} 的学员",
            f"no trainee has the ID number {wanted}",
            code="trainee_not_found",
        )
    return found
