"""Set-up for the kiosk's certificate tests: a trainee made ready by the certificate tests' own
helpers (tests/server/certificates/readiness.py) and certified by the real issuing service."""

from __future__ import annotations

import datetime as dt

import cv2
import numpy as np
from sqlmodel import Session

from server.audit.service import Actor
from server.certificates import service as certificates
from server.certificates.models import Certificate
from server.config import Settings
from server.trainees.models import Trainee
from tests.server.certificates.readiness import hours_course, ready
from tests.server.certificates.test_pdf import shown_text

ADMIN = Actor(name="admin", user_id=None, role="admin")


def certified(
    session: Session,
    settings: Settings,
    trainee: Trainee,
    *,
    curriculum: str = "NITRATION",
    starts_on: str = "2026-09-01",
    on: dt.date | None = None,
) -> Certificate:
    """A course of `curriculum` the trainee attended in full and passed, and its certificate."""
    course = hours_course(session, curriculum=curriculum, starts_on=starts_on)
    ready(session, course, trainee)
    assert trainee.id is not None and course.id is not None
    cert, _ = certificates.issue(session, settings, ADMIN, trainee.id, course.id, on=on)
    return cert


def revoked(session: Session, cert: Certificate) -> Certificate:
    return certificates.change_status(session, ADMIN, cert.number, "revoke", "证书信息有误")


def due_soon(session: Session, cert: Certificate, days: int = 30) -> Certificate:
    """Its renewal due in `days`: the record's validity moved (the signed document keeps its
    dates; the kiosk, like every reader, takes the standing from the record)."""
    cert.valid_until = certificates.today() + dt.timedelta(days=days)
    session.add(cert)
    session.commit()
    session.refresh(cert)
    return cert


def decode_qr(image: bytes) -> str:
    """The text of the one QR code in a PNG (a served image or a screenshot)."""
    pixels = cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert pixels is not None, "not an image"
    text, _, _ = cv2.QRCodeDetector().detectAndDecode(pixels)
    return str(text)


def pdf_shows(document: bytes, text: str) -> bool:
    """The PDF's page shows `text` (read as the certificate's own PDF tests read it)."""
    return any(text in line for line in shown_text(document))
