"""Calendar feeds: secret feed addresses (keys) and the iCalendar they serve.

A phone's calendar app subscribes to a URL and cannot send a bearer token, so the URL's random
secret is the credential: only its SHA-256 is stored, creating and revoking keys is audited, and
a key stops working when it is revoked or its creator's account is deactivated.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import icalendar
from pydantic import BaseModel
from sqlalchemy import ColumnElement, or_
from sqlmodel import Session, col, select

from server.accounts.models import Role, User
from server.accounts.security import digest, new_secret
from server.audit import service as audit
from server.audit.service import Actor
from server.db import utcnow
from server.errors import InvalidInput, NotFound, NotPermitted, field_error
from server.scheduling.models import (
    ClassSession,
    Course,
    CourseStatus,
    Enrolment,
    EnrolmentStatus,
    FeedKey,
    FeedSubject,
    Room,
    SessionKind,
    SessionStation,
    Station,
)
from server.scheduling.service import INSTRUCTOR_ROLES
from server.trainees.models import Trainee

# A feed shows what is coming and what just happened, not a course's whole history.
LOOKBACK = dt.timedelta(days=30)
PRODID = "-//safetrain//calendar feeds//ZH"
# The longest look-ahead of a certificates_due feed (its subject id is the window in days).
DUE_DAYS_MAX = 3660


class FeedKeyCreate(BaseModel):
    subject_type: FeedSubject
    subject_id: int


class FeedKeyPublic(BaseModel):
    id: int
    subject_type: FeedSubject
    subject_id: int
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    created_by: int


class FeedKeyCreated(FeedKeyPublic):
    """Returned once, at creation: the only time the secret address is shown."""

    url: str


class FeedKeysPublic(BaseModel):
    data: list[FeedKeyPublic]
    count: int


def public(key: FeedKey) -> FeedKeyPublic:
    return FeedKeyPublic.model_validate(key, from_attributes=True)


# --- keys --------------------------------------------------------------------------------


def _check_may_create(actor: Actor, own_trainee_id: int | None, data: FeedKeyCreate) -> None:
    role = Role(actor.role) if actor.role else None
    if role in (Role.admin, Role.trainer):
        return
    if role is Role.examiner and (data.subject_type, data.subject_id) == (
        FeedSubject.trainer,
        actor.user_id,
    ):
        return
    if (
        role is Role.trainee
        and own_trainee_id is not None
        and (data.subject_type, data.subject_id) == (FeedSubject.trainee, own_trainee_id)
    ):
        return
    raise NotPermitted(
        "只能为本人创建日历订阅",
        "you may create a calendar feed only for yourself",
        code="not_own_record",
    )


def _check_subject(session: Session, data: FeedKeyCreate) -> None:
    if data.subject_type is FeedSubject.certificates_due:
        if not 1 <= data.subject_id <= DUE_DAYS_MAX:
            zh, en = f"天数应为 1 至 {DUE_DAYS_MAX}", f"the days must be 1 to {DUE_DAYS_MAX}"
            raise InvalidInput(
                zh,
                en,
                code="bad_days",
                details=[field_error("subject_id", "out_of_range", zh, en)],
            )
        return
    if data.subject_type is FeedSubject.trainer:
        user = session.get(User, data.subject_id)
        found = user is not None and Role(user.role) in INSTRUCTOR_ROLES
    elif data.subject_type is FeedSubject.trainee:
        found = session.get(Trainee, data.subject_id) is not None
    else:
        found = session.get(Course, data.subject_id) is not None
    if not found:
        zh_type = {"trainer": "教师", "trainee": "学员", "course": "班级"}[data.subject_type]
        raise InvalidInput(
            f"{zh_type} {data.subject_id} 不存在",
            f"no {data.subject_type.value} {data.subject_id}",
            code="subject_not_found",
            details=[
                field_error(
                    "subject_id",
                    "subject_not_found",
                    f"{zh_type} {data.subject_id} 不存在",
                    f"no {data.subject_type.value} {data.subject_id}",
                )
            ],
        )


def create_key(
    session: Session, actor: Actor, data: FeedKeyCreate, *, own_trainee_id: int | None
) -> tuple[FeedKey, str]:
    """Make a feed key; the secret is returned here once and only its digest is kept."""
    _check_may_create(actor, own_trainee_id, data)
    _check_subject(session, data)
    assert actor.user_id is not None
    secret = new_secret()
    key = FeedKey(
        subject_type=data.subject_type,
        subject_id=data.subject_id,
        key_hash=digest(secret),
        created_by=actor.user_id,
    )
    session.add(key)
    session.flush()
    audit.record(
        session,
        actor,
        "feed_key.create",
        "feed_key",
        key.id,
        after={
            "subject_type": data.subject_type.value,
            "subject_id": data.subject_id,
            "created_by": actor.user_id,
        },
    )
    session.commit()
    return key, secret


def list_keys(session: Session, actor: Actor) -> list[FeedKey]:
    """Every key for an admin; for anyone else, the keys they created."""
    query = select(FeedKey).order_by(col(FeedKey.id))
    if actor.role != Role.admin:
        query = query.where(FeedKey.created_by == actor.user_id)
    return list(session.exec(query).all())


def revoke_key(session: Session, actor: Actor, key_id: int, reason: str | None) -> FeedKey:
    """Revoke a key at once (an admin, or whoever created it); revoking twice is harmless."""
    key = session.get(FeedKey, key_id)
    if key is None:
        raise NotFound(
            f"日历订阅 {key_id} 不存在",
            f"calendar feed {key_id} does not exist",
            code="feed_not_found",
        )
    if actor.role != Role.admin and key.created_by != actor.user_id:
        raise NotPermitted(
            "只能吊销本人创建的日历订阅",
            "you may revoke only the calendar feeds you created",
            code="not_own_record",
        )
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.add(key)
        audit.record(
            session,
            actor,
            "feed_key.revoke",
            "feed_key",
            key.id,
            before={"revoked": False},
            after={"revoked": True},
            reason=reason,
        )
        session.commit()
    return key


def resolve(session: Session, secret: str) -> FeedKey:
    """The live key behind a feed URL; unknown, revoked and orphaned keys all look the same."""
    key = session.exec(select(FeedKey).where(FeedKey.key_hash == digest(secret))).first()
    creator = session.get(User, key.created_by) if key is not None else None
    if key is None or key.revoked_at is not None or creator is None or not creator.is_active:
        raise NotFound(
            "日历订阅不存在或已吊销",
            "no such calendar feed, or it was revoked",
            code="feed_not_found",
        )
    return key


# --- the calendar ------------------------------------------------------------------------


def calendar_name(session: Session, key: FeedKey) -> str:
    if key.subject_type == FeedSubject.trainer:
        user = session.get(User, key.subject_id)
        who = user.display_name if user else str(key.subject_id)
        return f"{who} 授课安排 · Teaching schedule"
    if key.subject_type == FeedSubject.trainee:
        trainee = session.get(Trainee, key.subject_id)
        who = trainee.name if trainee else str(key.subject_id)
        return f"{who} 培训课表 · Training schedule"
    if key.subject_type == FeedSubject.certificates_due:
        days = key.subject_id
        return f"{days} 天内到期的证书（复审、换证）· Certificates due within {days} days"
    course = session.get(Course, key.subject_id)
    what = f"{course.code} {course.title}" if course else str(key.subject_id)
    return f"{what} 课表 · Course schedule"


def _subject_filter(key: FeedKey) -> ColumnElement[bool]:
    if key.subject_type == FeedSubject.trainer:
        return or_(
            col(ClassSession.instructor_id) == key.subject_id,
            col(Course.lead_trainer_id) == key.subject_id,
        )
    if key.subject_type == FeedSubject.trainee:
        return col(ClassSession.course_id).in_(
            select(Enrolment.course_id).where(
                Enrolment.trainee_id == key.subject_id,
                Enrolment.status == EnrolmentStatus.enrolled,
            )
        )
    return col(ClassSession.course_id) == key.subject_id


def _station_codes(session: Session, session_ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = defaultdict(list)
    if session_ids:
        for session_id, code in session.exec(
            select(SessionStation.session_id, Station.code)
            .join(Station, col(Station.id) == SessionStation.station_id)
            .where(col(SessionStation.session_id).in_(session_ids))
            .order_by(col(Station.code))
        ).all():
            out[session_id].append(code)
    return out


def _display_names(session: Session, user_ids: set[int]) -> dict[int, str]:
    rows = session.exec(select(User.id, User.display_name).where(col(User.id).in_(user_ids)))
    return {uid: name for uid, name in rows.all() if uid is not None}


def _event(
    row: ClassSession,
    course: Course,
    room: Room | None,
    instructor: str | None,
    lead: str,
    stations: list[str],
    stamp: dt.datetime,
) -> icalendar.Event:
    kind = SessionKind(row.kind)
    event = icalendar.Event()
    event.add("uid", f"session-{row.id}@safetrain")
    event.add("dtstamp", stamp)
    event.add("dtstart", row.starts_at.astimezone(dt.UTC))
    event.add("dtend", row.ends_at.astimezone(dt.UTC))
    summary = [course.code, f"{kind.label('zh')}/{kind.label('en')}", row.title or course.title]
    event.add("summary", " · ".join(summary))
    places = ([f"{room.name} ({room.code})"] if room else []) + stations
    if places:
        event.add("location", ", ".join(places))
    event.add(
        "description",
        "\n".join(
            [
                f"授课教师 Instructor: {instructor or '未指定 not assigned'}",
                f"带班教师 Lead trainer: {lead}",
                f"班级 Course: {course.code} {course.title}",
            ]
        ),
    )
    return event


def calendar(session: Session, key: FeedKey, now: dt.datetime | None = None) -> bytes:
    """The key's subject's sessions from 30 days ago on, as an iCalendar document (UTC times)."""
    if key.subject_type == FeedSubject.certificates_due:
        raise ValueError("a certificates_due feed is served by server.certificates.due")
    now = now or utcnow()
    rows = session.exec(
        select(ClassSession, Course, Room)
        .join(Course, col(Course.id) == ClassSession.course_id)
        .outerjoin(Room, col(Room.id) == ClassSession.room_id)
        .where(
            _subject_filter(key),
            col(ClassSession.starts_at) >= now - LOOKBACK,
            col(Course.status) != CourseStatus.cancelled,
        )
        .order_by(col(ClassSession.starts_at), col(ClassSession.id))
    ).all()
    stations = _station_codes(session, [r.id for r, _, _ in rows if r.id is not None])
    names = _display_names(
        session,
        {c.lead_trainer_id for _, c, _ in rows}
        | {r.instructor_id for r, _, _ in rows if r.instructor_id is not None},
    )
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", calendar_name(session, key))
    for row, course, room in rows:
        instructor = names.get(row.instructor_id) if row.instructor_id is not None else None
        lead = names.get(course.lead_trainer_id, str(course.lead_trainer_id))
        cal.add_component(_event(row, course, room, instructor, lead, stations[row.id or 0], now))
    return bytes(cal.to_ical())
