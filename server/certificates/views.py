"""What each reader sees of a certificate: staff and the trainee in full, the public masked."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import BaseModel
from sqlmodel import Session, col, select

from scoring.results import part_names
from server.assessment.sittings import curriculum_of
from server.certificates import pdf, service, signing
from server.certificates.algorithms import b64url_decode
from server.certificates.keystore import KeyStore
from server.certificates.models import Certificate
from server.certificates.service import STANDING_TEXT, Standing
from server.config import Settings
from server.trainees import service as trainees
from server.trainees.identity import mask_id_number
from server.trainees.models import Trainee


class Bilingual(BaseModel):
    zh: str
    en: str


class CertificatePublic(BaseModel):
    """A certificate for staff and for its trainee."""

    number: str
    standing: str
    standing_text: Bilingual
    status_reason: str | None
    trainee_id: int
    trainee_name: str
    course_id: int
    curriculum_code: str
    curriculum_version: str
    curriculum_title: Bilingual
    operation_category: str | None
    rule_set: str
    issued_on: dt.date
    valid_until: dt.date
    review_due: dt.date | None
    due_on: dt.date
    due_kind: str  # review or renewal
    kid: str
    supersedes: str | None
    superseded_by: str | None
    issued_at: dt.datetime
    verify_url: str


class Verification(BaseModel):
    """What the public verification page and API say: never more than this."""

    number: str
    found: bool
    standing: str | None = None
    standing_text: Bilingual | None = None
    name: str | None = None  # masked
    id_number: str | None = None  # masked
    curriculum_title: Bilingual | None = None
    operation_category: Bilingual | None = None
    issuer: Bilingual | None = None
    issued_on: dt.date | None = None
    valid_until: dt.date | None = None
    review_due: dt.date | None = None
    superseded_by: str | None = None
    signature_valid: bool | None = None
    kid: str | None = None


def unverified_payload(token: str) -> dict[str, Any]:
    """The payload of our own stored document, for display (verification is separate)."""
    body = json.loads(b64url_decode(token.split(".")[1]))
    assert isinstance(body, dict)
    return body


def mask_name(name: str) -> str:
    """王建国 → 王*国, 李四 → 李*, Zhang San → Z********n."""
    name = name.strip()
    if len(name) <= 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def _text(standing: Standing) -> Bilingual:
    zh, en = STANDING_TEXT[standing]
    return Bilingual(zh=zh, en=en)


def certificate_public(
    session: Session, settings: Settings, cert: Certificate, on: dt.date | None = None
) -> CertificatePublic:
    return certificates_public(session, settings, [cert], on)[0]


def certificates_public(
    session: Session, settings: Settings, certs: Sequence[Certificate], on: dt.date | None = None
) -> list[CertificatePublic]:
    """`certificate_public` of each, with two queries for all (successors, holders)."""
    if not certs:
        return []
    ids = [c.id for c in certs]
    successors = {
        s.supersedes_id: s
        for s in session.exec(select(Certificate).where(col(Certificate.supersedes_id).in_(ids)))
    }
    wanted = {c.trainee_id for c in certs}
    holders = {t.id: t for t in session.exec(select(Trainee).where(col(Trainee.id).in_(wanted)))}
    on = on or service.today()
    return [_public(settings, c, successors.get(c.id), holders[c.trainee_id], on) for c in certs]


def _public(
    settings: Settings,
    cert: Certificate,
    successor: Certificate | None,
    trainee: Trainee,
    on: dt.date,
) -> CertificatePublic:
    standing = service.standing(cert, on, superseded=successor is not None)
    payload = unverified_payload(cert.document)
    previous = payload.get("supersedes")
    due_on, due_kind = service.due_date(cert)
    title = payload["curriculum"]["title"]
    return CertificatePublic(
        number=cert.number,
        standing=standing.value,
        standing_text=_text(standing),
        status_reason=cert.status_reason,
        trainee_id=cert.trainee_id,
        trainee_name=trainee.name,
        course_id=cert.course_id,
        curriculum_code=cert.curriculum_code,
        curriculum_version=cert.curriculum_version,
        curriculum_title=Bilingual(**title),
        operation_category=cert.operation_category,
        rule_set=cert.rule_set,
        issued_on=cert.issued_on,
        valid_until=cert.valid_until,
        review_due=cert.review_due,
        due_on=due_on,
        due_kind=due_kind,
        kid=cert.kid,
        supersedes=previous if isinstance(previous, str) else None,
        superseded_by=None if successor is None else successor.number,
        issued_at=cert.issued_at,
        verify_url=service.verify_url(settings, cert.number),
    )


def _keys_stamp(folder: str) -> float:
    try:
        return (
            max((p.stat().st_mtime for p in Path(folder).iterdir()), default=0.0)
            + os.stat(folder).st_mtime
        )
    except OSError:
        return 0.0


@lru_cache(maxsize=8)
def _jwks_at(folder: str, stamp: float) -> dict[str, Any]:
    return signing.jwks(KeyStore(folder))


# Looking at the key folder costs a stat of every file: once a second is enough, since a key
# that a document names and the set lacks sends `verification` to look again at once.
KEYS_RECHECK_SECONDS = 1.0


@lru_cache(maxsize=8)
def _stamp_in(folder: str, second: int) -> float:
    return _keys_stamp(folder)


def _current_stamp(settings: Settings) -> float:
    """The key folder's stamp: the key set is read again only when it changed (a rotation)."""
    return _stamp_in(settings.keys_dir, int(time.monotonic() // KEYS_RECHECK_SECONDS))


class _Signed(NamedTuple):
    """What a stored document says once its signature was checked: the facts the public sees.

    A tuple of strings, which the garbage collector stops tracking: a cache of pydantic models
    made every full collection walk 60,000 objects, 50 ms of a busy endpoint's p99 (measured in
    bench/verify.py)."""

    holds: bool  # the signature, against the key set it was checked with
    kid: str | None  # the signing key's, when the signature holds
    number: str | None  # the signed number and dates, compared with the record on every look-up
    issued_on: str | None
    valid_until: str | None
    name: str  # masked
    id_number: str  # masked
    curriculum_title: tuple[str, str]  # zh, en
    operation_category: tuple[str, str] | None
    issuer: tuple[str, str]


class _SignatureChecks:
    """The last checks, by the document's SHA-256, the key folder and its stamp: a record edited
    in the database has another digest and is checked afresh, as is every record once the keys
    change. Only the document's own facts are kept; status and dates come from the record on
    each look-up. Kept as plain tuples of strings, which the garbage collector stops tracking
    (a tuple subclass it walks on every full collection)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._checks: OrderedDict[tuple[bytes, str, float], tuple[Any, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[bytes, str, float]) -> _Signed | None:
        with self._lock:
            found = self._checks.get(key)
            if found is None:
                return None
            self._checks.move_to_end(key)
        return _Signed._make(found)

    def put(self, key: tuple[bytes, str, float], signed: _Signed) -> None:
        with self._lock:
            self._checks[key] = tuple(signed)
            if len(self._checks) > self._size:
                self._checks.popitem(last=False)


# About 600 bytes each (the curriculum, category and issuer texts shared): a base's
# certificates of several years fit in 30 MB.
_checks = _SignatureChecks(50_000)


def _check(document: str, jwks: dict[str, Any]) -> _Signed:
    try:
        verified = signing.verify_document(document, jwks)
        payload, holds, kid = verified.payload, True, verified.kid
    except signing.VerificationError:
        payload, holds, kid = unverified_payload(document), False, None
    category = payload.get("operation_category")
    return _Signed(
        holds=holds,
        kid=None if kid is None else sys.intern(kid),
        number=_str(payload.get("number")),
        issued_on=_str(payload.get("issued_on")),
        valid_until=_str(payload.get("valid_until")),
        name=mask_name(payload["trainee"]["name"]),
        id_number=mask_id_number(payload["trainee"]["id_number"]),
        curriculum_title=_pair(payload["curriculum"]["title"]),
        operation_category=None if not category else _pair(category["title"]),
        issuer=_pair(payload["issuer"]["name"]),
    )


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _pair(text: dict[str, str]) -> tuple[str, str]:
    # The same few texts on every certificate: one copy each in the cache.
    return sys.intern(str(text["zh"])), sys.intern(str(text["en"]))


def _bilingual(pair: tuple[str, str]) -> Bilingual:
    return Bilingual(zh=pair[0], en=pair[1])


def _signed(settings: Settings, document: str) -> _Signed:
    digest, folder = hashlib.sha256(document.encode()).digest(), settings.keys_dir
    stamp = _current_stamp(settings)
    found = _checks.get((digest, folder, stamp))
    if found is None:
        found = _check(document, _jwks_at(folder, stamp))
        if not found.holds and _keys_stamp(folder) != stamp:
            # The keys changed within the last second (a rotation): check with the new set.
            stamp = _keys_stamp(folder)
            found = _check(document, _jwks_at(folder, stamp))
        _checks.put((digest, folder, stamp), found)
    return found


def normal_number(number: str) -> str:
    """A number as typed or scanned, as the register spells it."""
    return number.strip().upper()[:40]


def verification_of(
    settings: Settings, cert: service.PublicRecord | None, number: str, today: dt.date
) -> Verification:
    """The public answer for the record of `number` (None: not issued)."""
    if cert is None:
        return Verification(number=number[:32], found=False)
    signed = _signed(settings, cert.document)
    # The signature holds, and it is this record's: same number and dates as stored.
    valid = (
        signed.holds
        and signed.number == cert.number
        and signed.issued_on == cert.issued_on.isoformat()
        and signed.valid_until == cert.valid_until.isoformat()
    )
    standing = service.standing(cert, today, superseded=cert.superseded_by is not None)
    return Verification(
        number=cert.number,
        found=True,
        standing=standing.value,
        standing_text=_text(standing),
        name=signed.name,
        id_number=signed.id_number,
        curriculum_title=_bilingual(signed.curriculum_title),
        operation_category=(
            None if signed.operation_category is None else _bilingual(signed.operation_category)
        ),
        issuer=_bilingual(signed.issuer),
        issued_on=cert.issued_on,
        valid_until=cert.valid_until,
        review_due=cert.review_due,
        superseded_by=cert.superseded_by,
        signature_valid=valid,
        kid=signed.kid or cert.kid,
    )


def pdf_view(
    session: Session, settings: Settings, cert: Certificate, on: dt.date | None = None
) -> pdf.CertificateView:
    """Everything the printed certificate shows, from the signed document and today's status."""
    on = on or service.today()
    payload = unverified_payload(cert.document)
    trainee = trainees.get(session, cert.trainee_id)
    curriculum = curriculum_of(cert.curriculum_code, cert.curriculum_version)
    titles = {s.code: s.title for s in curriculum.scenarios}
    results = []
    for part in payload["parts"]:
        code = part["part"].removeprefix("device:")
        zh, en = part_names(part["part"], titles.get(code))
        score = Decimal(part["score"]) if part.get("score") is not None else Decimal(0)
        results.append(pdf.PartResult(name_zh=zh, name_en=en, score=score, passed=part["passed"]))
    minutes = sum(h["credited_minutes"] for h in payload["hours"])
    category = payload.get("operation_category")
    successor = service.successor_of(session, cert)
    rule_set = payload["rule_set"]["title"]
    return pdf.CertificateView(
        number=cert.number,
        status=service.standing(cert, on, superseded=successor is not None).value,
        trainee_name=payload["trainee"]["name"],
        id_number_masked=mask_id_number(payload["trainee"]["id_number"]),
        employer=payload["trainee"]["employer"],
        curriculum_title_zh=payload["curriculum"]["title"]["zh"],
        curriculum_title_en=payload["curriculum"]["title"]["en"],
        course_code=payload["course"],
        hours_completed=Decimal(minutes) / 60,
        results=tuple(results),
        issued_on=cert.issued_on,
        valid_until=cert.valid_until,
        rule_set_short_title_zh=rule_set["zh"],
        rule_set_short_title_en=rule_set["en"],
        base_name_zh=payload["issuer"]["name"]["zh"],
        base_name_en=payload["issuer"]["name"]["en"],
        kid=cert.kid,
        verification_url=payload["verify_url"],
        sex=trainee.sex,
        operation_category_zh=None if not category else category["title"]["zh"],
        operation_category_en=None if not category else category["title"]["en"],
        review_due=cert.review_due,
        title_zh=payload["curriculum"]["certificate_title"]["zh"],
        title_en=payload["curriculum"]["certificate_title"]["en"],
    )
