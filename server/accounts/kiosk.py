"""Kiosks: the screens set up as kiosk stations, trainees signing in with ID number + PIN, and
their idle-limited sessions. Failures are rows of login_failures, so every process shares them."""

from __future__ import annotations

import datetime as dt
import math
import secrets
from dataclasses import dataclass

from sqlalchemy import delete
from sqlmodel import Session, col, select

from server.accounts.models import KioskDevice, KioskSession, LoginFailure, Role, User
from server.accounts.security import digest, new_secret, verify_password
from server.audit import service as audit
from server.audit.service import Actor
from server.config import Settings
from server.db import utcnow
from server.errors import Conflict, InvalidInput, NotAuthenticated, NotFound, TooManyAttempts
from server.scheduling.models import Station
from server.trainees.models import Trainee

SETUP_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: nothing to misread
SETUP_VALID = dt.timedelta(hours=24)
SETUP_MAX_FAILURES = 10  # wrong setup codes per client address and lockout window


def _setup_code() -> str:
    raw = "".join(secrets.choice(SETUP_ALPHABET) for _ in range(12))
    return "-".join(raw[i : i + 4] for i in range(0, 12, 4))


def _canonical_code(code: str) -> str:
    return "".join(c for c in code.upper() if c.isalnum())


# --- kiosk devices -------------------------------------------------------------------------


def enrol_device(session: Session, actor: Actor, station_code: str) -> tuple[KioskDevice, str]:
    """A new kiosk screen for a station of kind kiosk; returns the one-time setup code."""
    station = session.exec(select(Station).where(Station.code == station_code.upper())).first()
    if station is None:
        raise NotFound(
            f"工位 {station_code} 不存在",
            f"station {station_code} does not exist",
            code="station_not_found",
        )
    if station.kind != "kiosk":
        raise Conflict(
            f"工位 {station.code} 不是自助终端（类型 {station.kind}）",
            f"station {station.code} is not a kiosk (kind {station.kind})",
            code="station_not_kiosk",
        )
    code = _setup_code()
    assert station.id is not None
    device = KioskDevice(
        station_id=station.id,
        token_hash=digest(new_secret()),  # replaced when the screen is set up
        setup_hash=digest(_canonical_code(code)),
        setup_expires_at=utcnow() + SETUP_VALID,
    )
    session.add(device)
    session.flush()
    audit.record(
        session, actor, "kiosk.enrol", "kiosk_device", device.id, after={"station": station.code}
    )
    session.commit()
    return device, code


def _check_failures(
    session: Session, column: str, value: str, limit: int, window: dt.timedelta, what: str
) -> None:
    field = LoginFailure.account if column == "account" else LoginFailure.address
    now = utcnow()
    failures = sorted(
        session.exec(
            select(LoginFailure.at).where(field == value, col(LoginFailure.at) >= now - window)
        ).all()
    )
    if len(failures) >= limit:
        oldest = failures[len(failures) - limit]
        retry = max(1, math.ceil((oldest + window - now).total_seconds()))
        minutes = math.ceil(retry / 60)
        zh, en = {
            "id": (
                f"错误次数过多，该证件号码已锁定，请 {minutes} 分钟后再试或联系培训教师",
                f"too many wrong tries: this ID number is locked for {minutes} min;"
                " or ask a trainer",
            ),
            "kiosk": (
                f"本终端错误次数过多，已暂停，请 {minutes} 分钟后再试",
                f"too many wrong tries at this kiosk: paused for {minutes} min",
            ),
            "setup": (
                f"设置码错误次数过多，请 {minutes} 分钟后再试",
                f"too many wrong setup codes, try again in {minutes} min",
            ),
        }[what]
        raise TooManyAttempts(zh, en, details={"retry_after_seconds": retry, "limit": what})


def _fail(session: Session, settings: Settings, account: str, address: str) -> None:
    session.add(LoginFailure(account=account[:64], address=address[:64]))
    cutoff = utcnow() - dt.timedelta(
        minutes=max(settings.kiosk_pin_lockout_minutes, settings.login_window_minutes)
    )
    session.execute(delete(LoginFailure).where(col(LoginFailure.at) < cutoff))
    session.commit()


def activate_device(session: Session, settings: Settings, code: str, address: str) -> str:
    """Exchange a setup code for the screen's long-lived secret (its cookie); the code is spent."""
    window = dt.timedelta(minutes=settings.kiosk_pin_lockout_minutes)
    account = f"kiosk-setup:{address}"
    _check_failures(session, "account", account, SETUP_MAX_FAILURES, window, "setup")
    device = session.exec(
        select(KioskDevice).where(KioskDevice.setup_hash == digest(_canonical_code(code)))
    ).first()
    if (
        device is None
        or device.revoked_at is not None
        or device.setup_expires_at is None
        or device.setup_expires_at <= utcnow()
    ):
        _fail(session, settings, account, address)
        raise InvalidInput(
            "设置码无效或已过期",
            "the setup code is wrong or has expired",
            code="bad_setup_code",
            details=[{"field": "code", "code": "bad_setup_code"}],
        )
    secret = new_secret()
    device.token_hash = digest(secret)
    device.setup_hash = None
    device.setup_expires_at = None
    device.activated_at = utcnow()
    session.add(device)
    audit.record(
        session,
        Actor(name=f"kiosk-device:{device.id}"),
        "kiosk.activate",
        "kiosk_device",
        device.id,
        after={"address": address[:64]},
    )
    session.commit()
    return secret


@dataclass(frozen=True)
class Kiosk:
    device: KioskDevice
    station: Station

    @property
    def code(self) -> str:
        return self.station.code


def resolve_device(session: Session, secret: str) -> Kiosk | None:
    device = session.exec(
        select(KioskDevice).where(KioskDevice.token_hash == digest(secret))
    ).first()
    if device is None or device.revoked_at is not None or device.activated_at is None:
        return None
    station = session.get(Station, device.station_id)
    if station is None or not station.is_active or station.kind != "kiosk":
        return None
    return Kiosk(device=device, station=station)


def revoke_devices(session: Session, actor: Actor, station_code: str) -> int:
    """Stop every screen set up for a station (a stolen or replaced kiosk)."""
    station = session.exec(select(Station).where(Station.code == station_code.upper())).first()
    if station is None:
        raise NotFound(
            f"工位 {station_code} 不存在",
            f"station {station_code} does not exist",
            code="station_not_found",
        )
    devices = session.exec(
        select(KioskDevice).where(
            KioskDevice.station_id == station.id, col(KioskDevice.revoked_at).is_(None)
        )
    ).all()
    for device in devices:
        device.revoked_at = utcnow()
        session.add(device)
        session.execute(delete(KioskSession).where(col(KioskSession.device_id) == device.id))
        audit.record(session, actor, "kiosk.revoke", "kiosk_device", device.id)
    session.commit()
    return len(devices)


def device_state(device: KioskDevice, now: dt.datetime) -> str:
    """waiting (setup code not yet typed in), expired (code unused after 24 h), active, revoked."""
    if device.revoked_at is not None:
        return "revoked"
    if device.activated_at is not None:
        return "active"
    expires = device.setup_expires_at
    return "waiting" if expires is not None and expires > now else "expired"


def list_devices(session: Session) -> list[tuple[KioskDevice, Station]]:
    """Every kiosk screen ever enrolled, newest first, with its station."""
    rows = session.exec(
        select(KioskDevice, Station)
        .join(Station, col(Station.id) == KioskDevice.station_id)
        .order_by(col(KioskDevice.created_at).desc(), col(KioskDevice.id).desc())
    ).all()
    return [(device, station) for device, station in rows]


# --- signing in ----------------------------------------------------------------------------


def normalize_id_number(text: str) -> str:
    return "".join(text.split()).upper()[:40]


def _wrong() -> NotAuthenticated:
    # The same words whether the ID number is unknown, has no PIN or the PIN is wrong.
    return NotAuthenticated(
        "证件号码或 PIN 码错误", "wrong ID number or PIN", code="bad_kiosk_credentials"
    )


def sign_in(session: Session, settings: Settings, kiosk: Kiosk, id_number: str, pin: str) -> User:
    """Check ID number + PIN, counting failures per ID number and per kiosk in the database."""
    number = normalize_id_number(id_number)
    # The failures table keeps a digest, not the ID number: it is personal data.
    account, address = f"id:{digest(number)[:60]}", f"kiosk:{kiosk.code}"
    window = dt.timedelta(minutes=settings.kiosk_pin_lockout_minutes)
    _check_failures(
        session, "account", account, settings.kiosk_pin_max_failures_per_id, window, "id"
    )
    _check_failures(
        session, "address", address, settings.kiosk_pin_max_failures_per_kiosk, window, "kiosk"
    )
    candidates = session.exec(
        select(User)
        .join(Trainee, col(Trainee.id) == User.trainee_id)
        .where(Trainee.id_number == number, User.role == Role.trainee, User.is_active)
    ).all()
    found = next((u for u in candidates if verify_password(pin, u.pin_hash)), None)
    if not candidates:
        verify_password(pin, None)  # the time of a real check: an unknown ID is not revealed
    if found is None:
        _fail(session, settings, account, address)
        raise _wrong()
    session.execute(delete(LoginFailure).where(col(LoginFailure.account) == account))
    return found


@dataclass(frozen=True)
class NewKioskSession:
    cookie: str
    row: KioskSession


def start_session(
    session: Session, settings: Settings, kiosk: Kiosk, user: User
) -> NewKioskSession:
    cookie = new_secret()
    now = utcnow()
    assert user.id is not None and user.trainee_id is not None and kiosk.device.id is not None
    row = KioskSession(
        id=digest(cookie),
        user_id=user.id,
        trainee_id=user.trainee_id,
        device_id=kiosk.device.id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + dt.timedelta(seconds=settings.kiosk_idle_seconds),
    )
    session.add(row)
    # A kiosk serves one trainee at a time: signing in ends the one before.
    session.execute(
        delete(KioskSession).where(
            col(KioskSession.device_id) == kiosk.device.id, col(KioskSession.id) != row.id
        )
    )
    session.execute(delete(KioskSession).where(col(KioskSession.expires_at) < now))
    audit.record(
        session,
        Actor(name=user.username, user_id=user.id, role=user.role),
        "user.kiosk_sign_in",
        "user",
        user.id,
        after={"kiosk": kiosk.code},
    )
    session.commit()
    return NewKioskSession(cookie=cookie, row=row)


@dataclass(frozen=True)
class KioskTrainee:
    user: User
    trainee: Trainee
    row: KioskSession
    kiosk: Kiosk

    @property
    def actor(self) -> Actor:
        return Actor(name=self.user.username, user_id=self.user.id, role=self.user.role)


def resume_session(
    session: Session, settings: Settings, kiosk: Kiosk, cookie: str
) -> KioskTrainee | None:
    """The trainee signed in at this kiosk, their idle time restarted; None once idle too long."""
    row = session.get(KioskSession, digest(cookie))
    now = utcnow()
    if row is None or row.device_id != kiosk.device.id or row.expires_at <= now:
        return None
    user = session.get(User, row.user_id)
    trainee = session.get(Trainee, row.trainee_id)
    if user is None or trainee is None or not user.is_active or user.role != Role.trainee:
        return None
    row.last_seen_at = now
    row.expires_at = now + dt.timedelta(seconds=settings.kiosk_idle_seconds)
    session.add(row)
    session.commit()
    return KioskTrainee(user=user, trainee=trainee, row=row, kiosk=kiosk)


def end_session(session: Session, cookie: str) -> None:
    session.execute(delete(KioskSession).where(col(KioskSession.id) == digest(cookie)))
    session.commit()
