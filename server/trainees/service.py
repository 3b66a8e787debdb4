"""Register, find, change and import trainees; each write commits once with its audit events."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, or_, tuple_
from sqlmodel import Session, col, func, select

from server.audit import service as audit
from server.audit.service import Actor
from server.errors import Conflict, InvalidInput, NotFound, field_error
from server.i18n import bilingual
from server.trainees import roster as roster_parser
from server.trainees.identity import (
    FieldProblem,
    IdentityError,
    IdType,
    Sex,
    birth_date_problem,
    mask_id_number,
    normalize_document_number,
    normalize_phone,
    parse_resident_id,
)
from server.trainees.models import (
    Employer,
    EmployerPublic,
    ImportReport,
    RowErrorPublic,
    RowTrainee,
    Trainee,
    TraineeCreate,
    TraineePublic,
    TraineeUpdate,
)

BADGE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U


def new_badge() -> str:
    return "T" + "".join(secrets.choice(BADGE_ALPHABET) for _ in range(9))


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


@dataclass(frozen=True)
class Identity:
    id_type: IdType
    id_number: str
    birth_date: dt.date
    sex: Sex


def resolve_identity(
    id_type: IdType,
    id_number: str,
    birth_date: dt.date | None,
    sex: Sex | None,
    *,
    today: dt.date,
) -> tuple[Identity | None, list[FieldProblem]]:
    """Validate a document number; a resident ID gives birth date and sex, which must agree."""
    problems: list[FieldProblem] = []
    if id_type is IdType.resident_id:
        try:
            parsed = parse_resident_id(id_number, today=today)
        except IdentityError as exc:
            return None, [exc.problem]
        if birth_date is not None and birth_date != parsed.birth_date:
            problems.append(
                FieldProblem(
                    "birth_date",
                    "birth_date_mismatch",
                    f"出生日期与身份证号码不符（身份证为 {parsed.birth_date}）",
                    f"birth date disagrees with the resident ID ({parsed.birth_date})",
                )
            )
        if sex is not None and sex != parsed.sex:
            problems.append(
                FieldProblem(
                    "sex",
                    "sex_mismatch",
                    "性别与身份证号码不符",
                    "sex disagrees with the resident ID",
                )
            )
        identity = Identity(id_type, parsed.number, parsed.birth_date, parsed.sex)
        return (None if problems else identity), problems
    try:
        number = normalize_document_number(id_type, id_number)
    except IdentityError as exc:
        problems.append(exc.problem)
        number = ""
    if birth_date is None:
        problems.append(
            FieldProblem(
                "birth_date",
                "birth_date_required",
                "非身份证证件须填写出生日期",
                "birth date is required for this document type",
            )
        )
    elif (why := birth_date_problem(birth_date, today)) is not None:
        problems.append(FieldProblem("birth_date", "birth_date_invalid", *why))
    if sex is None:
        problems.append(
            FieldProblem(
                "sex",
                "sex_required",
                "非身份证证件须填写性别",
                "sex is required for this document type",
            )
        )
    if problems or birth_date is None or sex is None:
        return None, problems
    return Identity(id_type, number, birth_date, sex), []


def _invalid(problems: list[FieldProblem]) -> InvalidInput:
    first = problems[0]
    return InvalidInput(
        first.zh,
        first.en,
        details=[field_error(p.field, p.code, p.zh, p.en) for p in problems],
    )


def _phone(value: str, problems: list[FieldProblem]) -> str:
    try:
        return normalize_phone(value)
    except IdentityError as exc:
        problems.append(exc.problem)
        return value


def _employer(session: Session, name: str) -> tuple[Employer, bool]:
    name = " ".join(name.split())
    found = session.exec(select(Employer).where(Employer.name == name)).first()
    if found is not None:
        return found, False
    employer = Employer(name=name)
    session.add(employer)
    session.flush()
    return employer, True


def snapshot(t: Trainee) -> dict[str, Any]:
    return {
        "name": t.name,
        "id_type": t.id_type,
        "id_number": t.id_number,
        "birth_date": t.birth_date.isoformat(),
        "sex": t.sex,
        "phone": t.phone,
        "employer_id": t.employer_id,
        "job": t.job,
        "education": t.education,
        "badge": t.badge,
    }


def find_by_document(session: Session, id_type: IdType, id_number: str) -> Trainee | None:
    return session.exec(
        select(Trainee).where(Trainee.id_type == id_type, Trainee.id_number == id_number)
    ).first()


def _duplicate_error(existing: Trainee) -> Conflict:
    masked = mask_id_number(existing.id_number)
    return Conflict(
        f"该证件号码已登记：{existing.name}（{masked}，学员编号 {existing.id}）",
        f"this document number is already registered: {existing.name} ({masked}, trainee {existing.id})",
        code="trainee_exists",
        details={"field": "id_number", "existing_trainee_id": existing.id},
    )


def register(session: Session, actor: Actor, data: TraineeCreate) -> Trainee:
    identity, problems = resolve_identity(
        data.id_type, data.id_number, data.birth_date, data.sex, today=_today()
    )
    phone = _phone(data.phone, problems)
    name = " ".join(data.name.split())
    if not name:
        problems.append(
            FieldProblem("name", "name_required", "姓名不能为空", "name must not be empty")
        )
    if problems or identity is None:
        raise _invalid(problems)
    existing = find_by_document(session, identity.id_type, identity.id_number)
    if existing is not None:
        raise _duplicate_error(existing)
    employer, _ = _employer(session, data.employer)
    assert employer.id is not None
    trainee = Trainee(
        name=name,
        id_type=identity.id_type,
        id_number=identity.id_number,
        birth_date=identity.birth_date,
        sex=identity.sex,
        phone=phone,
        employer_id=employer.id,
        job=(data.job or "").strip() or None,
        education=data.education,
        badge=new_badge(),
    )
    session.add(trainee)
    session.flush()
    audit.record(session, actor, "trainee.create", "trainee", trainee.id, after=snapshot(trainee))
    session.commit()
    return trainee


def get(session: Session, trainee_id: int) -> Trainee:
    trainee = session.get(Trainee, trainee_id)
    if trainee is None:
        raise NotFound(
            f"学员 {trainee_id} 不存在",
            f"trainee {trainee_id} does not exist",
            code="trainee_not_found",
        )
    return trainee


def names(session: Session, trainee_ids: list[int]) -> dict[int, str]:
    """Names of the given trainees, by id, in queries of at most 500 ids."""
    out: dict[int, str] = {}
    for start in range(0, len(trainee_ids), 500):
        chunk = trainee_ids[start : start + 500]
        for i, name in session.exec(
            select(Trainee.id, Trainee.name).where(col(Trainee.id).in_(chunk))
        ).all():
            if i is not None:
                out[i] = name
    return out


def by_badge(session: Session, badge: str) -> Trainee | None:
    return session.exec(select(Trainee).where(Trainee.badge == badge.strip().upper())).first()


def update(session: Session, actor: Actor, trainee_id: int, data: TraineeUpdate) -> Trainee:
    trainee = get(session, trainee_id)
    before = snapshot(trainee)
    changes = data.model_dump(exclude_unset=True)
    problems: list[FieldProblem] = []
    if changes.get("name") is not None:
        name = " ".join(changes["name"].split())
        if not name:
            problems.append(
                FieldProblem("name", "name_required", "姓名不能为空", "name must not be empty")
            )
        trainee.name = name
    if changes.get("phone") is not None:
        trainee.phone = _phone(changes["phone"], problems)
    if "job" in changes:
        trainee.job = (changes["job"] or "").strip() or None
    if changes.get("education") is not None:
        trainee.education = changes["education"]
    if problems:
        session.rollback()
        raise _invalid(problems)
    if changes.get("employer") is not None:
        employer, _ = _employer(session, changes["employer"])
        assert employer.id is not None
        trainee.employer_id = employer.id
    after = snapshot(trainee)
    if after != before:
        trainee.updated_at = dt.datetime.now(dt.UTC)
        session.add(trainee)
        audit.record(
            session, actor, "trainee.update", "trainee", trainee.id, before=before, after=after
        )
        session.commit()
    return trainee


def renew_badge_code(session: Session, actor: Actor, trainee: Trainee, reason: str | None) -> None:
    """A new badge code for the trainee, audited; the caller commits. The card is one thing: its
    QR's sign-in secret goes with it (server.accounts.badges does both)."""
    old = trainee.badge
    trainee.badge = new_badge()
    trainee.updated_at = dt.datetime.now(dt.UTC)
    session.add(trainee)
    audit.record(
        session,
        actor,
        "trainee.badge_reissue",
        "trainee",
        trainee.id,
        before={"badge": old},
        after={"badge": trainee.badge},
        reason=reason,
    )


def search(
    session: Session,
    *,
    q: str | None = None,
    employer_id: int | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[tuple[Trainee, Employer]], int]:
    """Trainees matching a name fragment, a full or trailing ID number, a phone or a badge."""
    query = select(Trainee, Employer).join(Employer, col(Employer.id) == Trainee.employer_id)
    counted = select(func.count()).select_from(Trainee)
    conditions: list[ColumnElement[bool]] = []
    if q and q.strip():
        term = q.strip()
        matches = [
            col(Trainee.name).like(f"%{term}%"),
            col(Trainee.id_number) == term.upper(),
            col(Trainee.phone) == term,
            col(Trainee.badge) == term.upper(),
        ]
        if len(term) >= 4:  # the last digits of an ID number, as people read them out
            matches.append(col(Trainee.id_number).like(f"%{term.upper()}"))
        conditions.append(or_(*matches))
    if employer_id is not None:
        conditions.append(col(Trainee.employer_id) == employer_id)
    for condition in conditions:
        query = query.where(condition)
        counted = counted.where(condition)
    total = int(session.exec(counted).one())
    rows = session.exec(query.order_by(col(Trainee.id).desc()).offset(offset).limit(limit)).all()
    return [(t, e) for t, e in rows], total


def list_employers(session: Session) -> list[Employer]:
    return list(session.exec(select(Employer).order_by(col(Employer.name))).all())


def public(trainee: Trainee, employer: Employer, *, full_identity: bool) -> TraineePublic:
    """The API shape; the full ID number and the badge only where the caller needs them."""
    assert trainee.id is not None and employer.id is not None
    return TraineePublic(
        id=trainee.id,
        name=trainee.name,
        id_type=IdType(trainee.id_type),
        id_number_masked=mask_id_number(trainee.id_number),
        id_number=trainee.id_number if full_identity else None,
        birth_date=trainee.birth_date,
        sex=Sex(trainee.sex),
        phone=trainee.phone if full_identity else mask_phone(trainee.phone),
        employer=EmployerPublic(id=employer.id, name=employer.name),
        job=trainee.job,
        education=trainee.education,
        badge=trainee.badge if full_identity else None,
        created_at=trainee.created_at,
        updated_at=trainee.updated_at,
    )


def mask_phone(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"


# --- roster import -----------------------------------------------------------------------


def import_roster(
    session: Session,
    actor: Actor,
    data: bytes,
    filename: str,
    *,
    valid_only: bool = False,
    dry_run: bool = False,
    use_registered: bool = False,
) -> ImportReport:
    """Import a CSV/XLSX roster: all rows or none, unless valid_only; bad rows are all reported.

    With use_registered, a row naming someone already registered is not an error: the report's
    `rows` then maps every good row to its trainee, new or existing (to enrol a course's roster).
    """
    parsed = roster_parser.parse_roster(data, filename, today=_today())
    errors = [
        RowErrorPublic(
            row=e.row_number,
            column=e.column,
            code=e.code,
            message=bilingual(e.zh, e.en),
            message_zh=e.zh,
            message_en=e.en,
            value=e.value,
        )
        for e in parsed.errors
    ]
    rows = list(parsed.rows)
    known: list[RowTrainee] = []
    if rows:
        keys = [(r.id_type.value, r.id_number) for r in rows]
        existing: dict[tuple[str, str], Trainee] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            for t in session.exec(
                select(Trainee).where(
                    tuple_(col(Trainee.id_type), col(Trainee.id_number)).in_(chunk)
                )
            ).all():
                existing[(t.id_type, t.id_number)] = t
        fresh = []
        id_column = parsed.column_names.get("id_number", "id_number")
        for r in rows:
            found = existing.get((r.id_type.value, r.id_number))
            if found is None:
                fresh.append(r)
                continue
            if use_registered:
                assert found.id is not None
                known.append(
                    RowTrainee(row=r.row_number, trainee_id=found.id, registered_now=False)
                )
                continue
            zh = f"已登记为学员 {found.name}（编号 {found.id}）"
            en = f"already registered as trainee {found.name} (id {found.id})"
            errors.append(
                RowErrorPublic(
                    row=r.row_number,
                    column=id_column,
                    code="already_registered",
                    message=bilingual(zh, en),
                    message_zh=zh,
                    message_en=en,
                    value=mask_id_number(r.id_number),
                )
            )
        rows = fresh
    errors.sort(key=lambda e: (e.row, e.column))
    rows_read = len(parsed.rows) + len({e.row_number for e in parsed.errors if e.row_number >= 2})
    report = ImportReport(
        filename=filename,
        rows_read=rows_read,
        valid_rows=len(rows),
        imported=0,
        valid_only=valid_only,
        dry_run=dry_run,
        employers_created=[],
        errors=errors,
        trainee_ids=[],
        rows=[],
    )
    if (errors and not valid_only) or dry_run:
        session.rollback()
        return report
    if not rows:
        session.rollback()
        report.rows = known
        return report
    employers: dict[str, Employer] = {}
    created_trainees: list[Trainee] = []
    for r in rows:
        employer = employers.get(r.employer)
        if employer is None:
            employer, created = _employer(session, r.employer)
            employers[r.employer] = employer
            if created:
                report.employers_created.append(employer.name)
        assert employer.id is not None
        trainee = Trainee(
            name=r.name,
            id_type=r.id_type,
            id_number=r.id_number,
            birth_date=r.birth_date,
            sex=r.sex,
            phone=r.phone,
            employer_id=employer.id,
            job=r.job,
            education=r.education,
            badge=new_badge(),
        )
        session.add(trainee)
        created_trainees.append(trainee)
    session.flush()
    audit.record_many(
        session,
        actor,
        (
            audit.Change(
                "trainee.create",
                "trainee",
                trainee.id,
                after=snapshot(trainee),
                reason=f"roster import: {filename}",
            )
            for trainee in created_trainees
        ),
    )
    session.commit()
    report.imported = len(created_trainees)
    report.trainee_ids = [t.id for t in created_trainees if t.id is not None]
    made = [
        RowTrainee(row=r.row_number, trainee_id=t.id, registered_now=True)
        for r, t in zip(rows, created_trainees, strict=True)
        if t.id is not None
    ]
    report.rows = sorted(known + made, key=lambda x: x.row)
    return report


def employer_of(session: Session, trainee: Trainee) -> Employer:
    employer = session.get(Employer, trainee.employer_id)
    assert employer is not None  # foreign key
    return employer
