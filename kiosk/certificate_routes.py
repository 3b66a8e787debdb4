"""The kiosk's certificate pages: the trainee's own certificates, one with its verification QR
on screen, and its PDF (the same document the API gives)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from fastapi import APIRouter, Request
from fastapi.responses import Response

from kiosk.pages import KioskTraineeDep, kiosk_allow, language, render
from server.certificates import pdf, service
from server.certificates.views import CertificatePublic, certificates_public, pdf_view
from server.deps import SessionDep, SettingsDep
from server.i18n import translate

router = APIRouter(prefix="/kiosk")

# A symbol beside each standing's words (all in WenQuanYi Micro Hei and DejaVu Sans).
MARKS = {
    "valid": "✔",
    "expiring": "↻",
    "expired": "✘",
    "suspended": "‖",
    "revoked": "⊗",
    "superseded": "→",
}
# The standings that make a certificate count for nothing now: said in a banner on its page.
NOT_IN_FORCE = ("expired", "suspended", "revoked", "superseded")
QR_SCALE = 10  # pixels per module: a verification URL's QR is 330–410 px, shown at 360


def _day(lang: str, day: dt.date | None) -> str:
    if day is None:
        return ""
    if lang == "en":
        return f"{day.day} {day:%b} {day.year}"
    return f"{day.year}年{day.month}月{day.day}日"


def _number(value: Decimal) -> str:
    """20 → "20", 87.50 → "87.5": as the printed certificate writes hours and scores."""
    text = format(Decimal(value), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _standing(lang: str, cert: CertificatePublic) -> str:
    """The standing in words; "expiring" says what falls due (review or renewal) and when."""
    if cert.standing == "expiring":
        key = "kc_expiring_review" if cert.due_kind == "review" else "kc_expiring_renewal"
        return translate(key, lang, date=_day(lang, cert.due_on))
    return translate(f"kc_standing_{cert.standing}", lang)


def _helpers(request: Request) -> dict[str, object]:
    lang = language(request)
    return {
        "day": lambda d: _day(lang, d),
        "mark": lambda c: MARKS[c.standing],
        "standing": lambda c: _standing(lang, c),
        "pick": lambda zh, en: en if lang == "en" else zh,
        "num": _number,
    }


@router.get("/certificates", **kiosk_allow("trainee"))
def certificate_list(
    request: Request, session: SessionDep, settings: SettingsDep, me: KioskTraineeDep
) -> Response:
    """The trainee's certificates, newest first, each a big row opening it."""
    assert me.trainee.id is not None
    certs = certificates_public(session, settings, service.of_trainee(session, me.trainee.id))
    context = {"me": me, "kiosk": me.kiosk, "certs": certs} | _helpers(request)
    return render(request, "certificates.html", context, idle="session")


@router.get("/certificates/{number}.pdf", **kiosk_allow("trainee"))
def certificate_pdf(
    session: SessionDep, settings: SettingsDep, me: KioskTraineeDep, number: str
) -> Response:
    """The printable certificate, as the API gives it, to keep (a download named by its number)."""
    assert me.trainee.id is not None
    cert = service.of_trainee_by_number(session, me.trainee.id, number)
    return Response(
        pdf.render_certificate(pdf_view(session, settings, cert)),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{cert.number}.pdf"'},
    )


@router.get("/certificates/{number}/qr.png", **kiosk_allow("trainee"))
def certificate_qr(
    session: SessionDep, settings: SettingsDep, me: KioskTraineeDep, number: str
) -> Response:
    """The verification QR code of the trainee's certificate, to scan from the screen."""
    assert me.trainee.id is not None
    cert = service.of_trainee_by_number(session, me.trainee.id, number)
    png = pdf.render_qr_png(service.verify_url(settings, cert.number), QR_SCALE)
    return Response(png, media_type="image/png")


@router.get("/certificates/{number}", **kiosk_allow("trainee"))
def certificate_page(
    request: Request, session: SessionDep, settings: SettingsDep, me: KioskTraineeDep, number: str
) -> Response:
    """One certificate: its details, the verification QR on screen, the PDF to download."""
    assert me.trainee.id is not None
    row = service.of_trainee_by_number(session, me.trainee.id, number)
    cert = certificates_public(session, settings, [row])[0]
    context = {
        "me": me,
        "kiosk": me.kiosk,
        "cert": cert,
        "doc": pdf_view(session, settings, row),
        "not_in_force": cert.standing in NOT_IN_FORCE,
    } | _helpers(request)
    return render(request, "certificate.html", context, idle="session")
