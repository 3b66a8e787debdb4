"""Trainees' kiosk PINs: six digits, argon2-hashed on the trainee's account, set by staff."""

from __future__ import annotations

import datetime as dt
import itertools
import re

from sqlmodel import Session, select

from server.accounts.models import Role, User
from server.accounts.security import hash_password
from server.audit import service as audit
from server.audit.service import Actor
from server.db import utcnow
from server.errors import InvalidInput, NotFound, field_error
from server.trainees.models import Trainee

PIN_LENGTH = 6


def _refuse(code: str, zh: str, en: str) -> InvalidInput:
    return InvalidInput(zh, en, code=code, details=[field_error("pin", code, zh, en)])


def _is_run(pin: str) -> bool:
    steps = {int(b) - int(a) for a, b in itertools.pairwise(pin)}
    return steps in ({1}, {-1})


def _repeats(pin: str) -> bool:
    """121212, 123123: a short group typed again and again."""
    return any(pin == pin[:n] * (len(pin) // n) for n in (2, 3))


def _date_forms(day: dt.date) -> set[str]:
    yy, mm, dd = f"{day.year % 100:02d}", f"{day.month:02d}", f"{day.day:02d}"
    return {yy + mm + dd, dd + mm + yy, mm + dd + yy}


def check_pin(pin: str, trainee: Trainee) -> None:
    """Refuse a PIN that is not 6 digits or is easy to guess for someone who knows the trainee."""
    if not re.fullmatch(r"[0-9]{6}", pin):
        raise _refuse("pin_format", "PIN 码须为 6 位数字", "a PIN is exactly 6 digits")
    if len(set(pin)) == 1:
        raise _refuse(
            "pin_trivial", "PIN 码不能是同一个数字重复", "a PIN cannot be one digit repeated"
        )
    if _is_run(pin) or _repeats(pin):
        raise _refuse(
            "pin_trivial",
            "PIN 码太容易猜到（如 123456、654321、121212），请换一个",
            "the PIN is too easy to guess (like 123456, 654321, 121212); choose another",
        )
    if pin in _date_forms(trainee.birth_date):
        raise _refuse(
            "pin_birth_date",
            "PIN 码不能是出生日期",
            "a PIN cannot be the birth date",
        )
    if trainee.id_number.upper().endswith(pin):
        raise _refuse(
            "pin_id_number",
            "PIN 码不能是证件号码的后 6 位",
            "a PIN cannot be the last 6 characters of the ID number",
        )


def _account(session: Session, actor: Actor, trainee: Trainee) -> User:
    """The trainee's account, made now if they have none: a PIN is what they sign in with."""
    user = session.exec(select(User).where(User.trainee_id == trainee.id)).first()
    if user is not None:
        return user
    base = f"trainee.{trainee.id}"
    username, n = base, 1
    while session.exec(select(User.id).where(User.username == username)).first() is not None:
        n += 1
        username = f"{base}-{n}"
    user = User(username=username, display_name=trainee.name, role=Role.trainee)
    user.trainee_id = trainee.id
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor,
        "user.create",
        "user",
        user.id,
        after={"username": username, "role": Role.trainee, "trainee_id": trainee.id},
        reason="kiosk PIN set for a trainee without an account",
    )
    return user


def has_pin(session: Session, trainee_id: int) -> bool:
    user = session.exec(select(User).where(User.trainee_id == trainee_id)).first()
    return user is not None and user.pin_hash is not None


def set_pin(session: Session, actor: Actor, trainee_id: int, pin: str) -> User:
    """Set or reset a trainee's kiosk PIN (audit-logged without the PIN); one commit."""
    trainee = session.get(Trainee, trainee_id)
    if trainee is None:
        raise NotFound(
            f"学员 {trainee_id} 不存在",
            f"trainee {trainee_id} does not exist",
            code="trainee_not_found",
        )
    check_pin(pin, trainee)
    user = _account(session, actor, trainee)
    had_pin = user.pin_hash is not None
    user.pin_hash = hash_password(pin)
    user.updated_at = utcnow()
    session.add(user)
    audit.record(
        session,
        actor,
        "trainee.pin_reset" if had_pin else "trainee.pin_set",
        "trainee",
        trainee.id,
        before={"pin_set": had_pin},
        after={"pin_set": True, "user_id": user.id},
    )
    session.commit()
    return user
