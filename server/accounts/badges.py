"""Trainees' badges. A trainee has one card, and it carries two things: the badge code printed on
it (`Trainee.badge`: what staff search for and what devices name in their results) and a QR with
a random secret (STB1:<base32>, 160 bits) that signs its holder in at a kiosk like ID number +
PIN. Only the secret's digest is stored. Printing a new card renews both, and reporting a card
lost stops both: an old card never half works."""

from __future__ import annotations

import base64
import datetime as dt
import secrets

import cv2
import numpy as np
from sqlmodel import Session, col, select

from devices.camera.qr import decode_texts
from server.accounts import kiosk as kiosks
from server.accounts.models import Badge, Role, User
from server.accounts.security import digest, verify_password
from server.audit import service as audit
from server.audit.service import Actor
from server.config import Settings
from server.db import utcnow
from server.errors import InvalidInput, NotAuthenticated, NotFound
from server.trainees import service as trainees
from server.trainees.models import Trainee

PREFIX = "STB1:"
SECRET_BYTES = 20  # 160 bits
MAX_FRAME_BYTES = 2_000_000  # a 640×480 JPEG is 30–100 kB
MAX_FRAME_PIXELS = 1920 * 1080


def _trainee_user(session: Session, trainee_id: int) -> tuple[Trainee, User]:
    trainee = session.get(Trainee, trainee_id)
    user = session.exec(
        select(User).where(User.trainee_id == trainee_id, User.role == Role.trainee)
    ).first()
    if trainee is None or user is None:
        raise NotFound(
            "该学员不存在或没有学员账号",
            "no such trainee, or the trainee has no trainee account",
            code="trainee_not_found",
        )
    return trainee, user


def _active(session: Session, trainee_id: int) -> list[Badge]:
    return list(
        session.exec(
            select(Badge).where(Badge.trainee_id == trainee_id, col(Badge.revoked_at).is_(None))
        ).all()
    )


def _revoke_active(session: Session, actor: Actor, trainee_id: int, reason: str) -> int:
    badges = _active(session, trainee_id)
    for badge in badges:
        badge.revoked_at = utcnow()
        session.add(badge)
        audit.record(session, actor, "badge.revoke", "badge", badge.id, after={"reason": reason})
    return len(badges)


def issue(
    session: Session, actor: Actor, trainee_id: int, reason: str | None = None
) -> tuple[Badge, str]:
    """A new card for the trainee: a new badge code and a new QR secret; the card before stops
    working entirely. Returns the QR text, shown once (on the card)."""
    trainee, user = _trainee_user(session, trainee_id)
    _revoke_active(session, actor, trainee_id, "reissued")
    trainees.renew_badge_code(session, actor, trainee, reason)
    secret = base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode().rstrip("=")
    text = PREFIX + secret
    assert user.id is not None
    badge = Badge(
        trainee_id=trainee_id,
        user_id=user.id,
        secret_hash=digest(text),
        issued_at=utcnow(),
        issued_by=actor.name[:64],
    )
    session.add(badge)
    session.flush()
    audit.record(session, actor, "badge.issue", "badge", badge.id, after={"trainee": trainee_id})
    session.commit()
    return badge, text


def report_lost(session: Session, actor: Actor, trainee_id: int, reason: str | None) -> Trainee:
    """A card lost: a new badge code, and its QR stops signing in. No new QR until a new card is
    printed (issue); until then the trainee signs in by ID number + PIN."""
    trainee = trainees.get(session, trainee_id)
    trainees.renew_badge_code(session, actor, trainee, reason)
    assert trainee.id is not None
    _revoke_active(session, actor, trainee.id, "lost")
    session.commit()
    return trainee


def revoke(session: Session, actor: Actor, trainee_id: int) -> int:
    """Stop the trainee's card signing in at the kiosk (its code stays); returns how many were
    active."""
    _trainee_user(session, trainee_id)
    count = _revoke_active(session, actor, trainee_id, "revoked")
    session.commit()
    return count


def read_frame(data: bytes | None) -> list[str]:
    """The QR texts in one camera frame (JPEG or PNG); the frame is decoded and forgotten."""
    if data is None or len(data) > MAX_FRAME_BYTES:
        raise InvalidInput(
            "图像过大",
            "the image is too large",
            code="image_too_large",
            details={"max": MAX_FRAME_BYTES},
        )
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if image is None or image.size == 0:
        raise InvalidInput(
            "无法识别的图像，请发送 JPEG 图像", "not an image: send a JPEG", code="bad_image"
        )
    height, width = image.shape[:2]
    if height * width > MAX_FRAME_PIXELS:
        raise InvalidInput(
            "图像过大",
            "the image is too large",
            code="image_too_large",
            details={"max": MAX_FRAME_BYTES},
        )
    return decode_texts(image)


def _refused() -> NotAuthenticated:
    return NotAuthenticated(
        "此卡无效或已停用，请使用身份证号和 PIN 码登录，或联系培训教师",
        "this badge is not valid or was revoked: sign in with ID number and PIN, or ask a trainer",
        code="bad_badge",
    )


def sign_in(session: Session, settings: Settings, kiosk: kiosks.Kiosk, text: str) -> User:
    """The trainee whose badge this is; unknown and revoked badges count as the kiosk's failures."""
    address = f"kiosk:{kiosk.code}"
    window = dt.timedelta(minutes=settings.kiosk_pin_lockout_minutes)
    kiosks._check_failures(
        session, "address", address, settings.kiosk_pin_max_failures_per_kiosk, window, "kiosk"
    )
    badge = session.exec(select(Badge).where(Badge.secret_hash == digest(text.strip()))).first()
    user = (
        None if badge is None or badge.revoked_at is not None else session.get(User, badge.user_id)
    )
    if user is None or not user.is_active or user.role != Role.trainee or user.trainee_id is None:
        verify_password("", None)  # no timing difference from a PIN check
        kiosks._fail(session, settings, f"badge:{kiosk.code}", address)
        raise _refused()
    return user


def is_badge_text(text: str) -> bool:
    return text.startswith(PREFIX)


def card_pdf(trainee: Trainee, text: str) -> bytes:
    """A printable badge card (ID-1, 85.6 × 54 mm): name, masked ID number, the QR, zh/en."""
    import io

    import segno
    from reportlab.lib.units import mm
    from reportlab.pdfgen.canvas import Canvas

    from server.certificates.pdf import CJK_FONT, LATIN_FONT, register_fonts
    from server.trainees.identity import mask_id_number

    register_fonts()
    width, height = 85.6 * mm, 54 * mm
    out = io.BytesIO()
    page = Canvas(out, pagesize=(width, height))
    page.setTitle("学员胸卡 / Trainee badge")
    page.setFont(CJK_FONT, 9)
    page.drawString(4 * mm, height - 8 * mm, "学员胸卡")
    page.setFont(LATIN_FONT, 7)
    page.drawString(4 * mm, height - 12 * mm, "Trainee badge")
    page.setFont(CJK_FONT, 14)
    page.drawString(4 * mm, height - 22 * mm, trainee.name[:12])
    page.setFont(LATIN_FONT, 8)
    page.drawString(4 * mm, height - 28 * mm, mask_id_number(trainee.id_number))
    page.setFont(CJK_FONT, 7)
    page.drawString(4 * mm, height - 35 * mm, "卡号 Badge")
    page.setFont(LATIN_FONT, 11)
    page.drawString(4 * mm, height - 40 * mm, trainee.badge)
    page.setFont(CJK_FONT, 6)
    page.drawString(4 * mm, 8 * mm, "在自助终端刷卡登录；遗失请告知培训教师")
    page.setFont(LATIN_FONT, 5.5)
    page.drawString(4 * mm, 4.5 * mm, "Scan at the kiosk to sign in; if lost, tell a trainer")
    code = segno.make_qr(text, error="m")
    side = 34 * mm
    modules = code.symbol_size(scale=1, border=2)[0]
    unit = side / modules
    left, top = width - side - 3 * mm, height - 3 * mm
    for y, row in enumerate(code.matrix_iter(scale=1, border=2)):
        for x, dark in enumerate(row):
            if dark:
                page.rect(left + x * unit, top - (y + 1) * unit, unit, unit, stroke=0, fill=1)
    page.showPage()
    page.save()
    return out.getvalue()
