"""The certificates API and the public verification page, with who may do what."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update
from sqlmodel import Session, col, func, select

from server.accounts.models import Role
from server.app import create_app
from server.audit.service import Actor
from server.certificates import service as certificates
from server.certificates import signing, views
from server.certificates.algorithms import b64url, b64url_decode
from server.certificates.keystore import KeyStore
from server.certificates.models import Certificate
from server.config import Settings
from server.scheduling.models import Course
from server.trainees.models import Trainee
from tests.factories import auth, make_token, make_trainee, make_trainee_user, make_user
from tests.server.certificates.readiness import hours_course, ready
from tests.server.certificates.test_pdf import decode_qr, rasterise

ADMIN = Actor(name="admin", user_id=None, role="admin")


@pytest.fixture
def cert_settings(cert_settings: Settings) -> Settings:
    """The shared certificate settings, with a verification limit a test can reach."""
    return cert_settings.model_copy(update={"verify_rate_per_minute": 5})


@pytest.fixture
def api(cert_settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings=cert_settings, engine=engine)) as c:
        yield c


@pytest.fixture
def course(session: Session) -> Course:
    return hours_course(session, starts_on="2026-10-01")


@pytest.fixture
def trainee(session: Session, course: Course) -> Trainee:
    person = make_trainee(session, name="王建国")
    ready(session, course, person)
    return person


def token(session: Session, role: Role) -> str:
    return make_token(session, user=make_user(session, role=role))


def issue(api: TestClient, session: Session, course: Course, trainee: Trainee) -> dict[str, object]:
    answer = api.post(
        f"/api/v1/courses/{course.id}/trainees/{trainee.id}/certificate",
        headers=auth(token(session, Role.trainer)),
    )
    assert answer.status_code in (200, 201), answer.text
    body: dict[str, object] = answer.json()
    return body


class TestIssuing:
    def test_a_trainer_issues_once_and_a_retry_returns_the_same(
        self, api: TestClient, session: Session, course: Course, trainee: Trainee
    ) -> None:
        headers = auth(token(session, Role.trainer))
        url = f"/api/v1/courses/{course.id}/trainees/{trainee.id}/certificate"
        first = api.post(url, headers=headers)
        again = api.post(url, headers=headers)
        assert (first.status_code, again.status_code) == (201, 200)
        assert first.json()["number"] == again.json()["number"] == "SAFE-2026-000001"
        assert first.json()["standing"] == "valid"
        session.rollback()
        assert session.exec(select(func.count()).select_from(Certificate)).one() == 1

    @pytest.mark.parametrize("role", [Role.examiner, Role.trainee, Role.regulator, Role.gateway])
    def test_other_roles_may_not_issue(
        self, api: TestClient, session: Session, course: Course, trainee: Trainee, role: Role
    ) -> None:
        answer = api.post(
            f"/api/v1/courses/{course.id}/trainees/{trainee.id}/certificate",
            headers=auth(token(session, role)),
        )
        assert answer.status_code == 403
        session.rollback()
        assert session.exec(select(func.count()).select_from(Certificate)).one() == 0

    def test_a_trainee_not_ready_is_told_why(
        self, api: TestClient, session: Session, course: Course
    ) -> None:
        from tests.factories import enrol

        person = make_trainee(session)
        enrol(session, course=course, trainee=person)
        answer = api.post(
            f"/api/v1/courses/{course.id}/trainees/{person.id}/certificate",
            headers=auth(token(session, Role.admin)),
        )
        assert answer.status_code == 409 and answer.json()["error"] == "not_ready"
        assert "学时" in answer.json()["message"] or "hours" in answer.json()["message"]


class TestReading:
    def test_the_trainee_reads_and_downloads_their_own_and_it_verifies_offline(
        self, api: TestClient, session: Session, course: Course, trainee: Trainee
    ) -> None:
        number = issue(api, session, course, trainee)["number"]
        mine = auth(make_token(session, user=make_trainee_user(session, trainee=trainee)))
        assert api.get(f"/api/v1/certificates/{number}", headers=mine).status_code == 200
        listed = api.get("/api/v1/certificates", headers=mine).json()["data"]
        assert [c["number"] for c in listed] == [number]
        document = api.get(f"/api/v1/certificates/{number}/document", headers=mine).json()
        jwks = api.get("/.well-known/jwks.json").json()
        verified = signing.verify_document(document["jws"], jwks)
        assert verified.payload["number"] == number

    def test_the_pdf_and_the_qr_open_the_verification_page(
        self, api: TestClient, session: Session, course: Course, trainee: Trainee, tmp_path: Path
    ) -> None:
        number = issue(api, session, course, trainee)["number"]
        staff = auth(token(session, Role.examiner))
        printed = api.get(f"/api/v1/certificates/{number}/pdf", headers=staff)
        assert printed.status_code == 200 and printed.content.startswith(b"%PDF")
        assert printed.headers["content-type"] == "application/pdf"
        url = decode_qr(rasterise(printed.content, tmp_path))
        assert url.endswith(f"/verify/{number}")
        shown = api.get(f"/api/v1/certificates/{number}/qr.png", headers=staff)
        grey = cv2.imdecode(np.frombuffer(shown.content, np.uint8), cv2.IMREAD_GRAYSCALE)
        assert decode_qr(grey) == url
        path = url.split("://", 1)[1].split("/", 1)[1]
        assert "王*国" in api.get(f"/{path}").text

    def test_another_trainee_is_refused_and_lists_nothing(
        self, api: TestClient, session: Session, course: Course, trainee: Trainee
    ) -> None:
        number = issue(api, session, course, trainee)["number"]
        other = make_trainee(session, name="李四")
        theirs = auth(make_token(session, user=make_trainee_user(session, trainee=other)))
        for path in (
            f"/api/v1/certificates/{number}",
            f"/api/v1/certificates/{number}/document",
            f"/api/v1/certificates/{number}/pdf",
            f"/api/v1/certificates/{number}/qr.png",
        ):
            assert api.get(path, headers=theirs).status_code == 403
        assert api.get("/api/v1/certificates", headers=theirs).json()["data"] == []
        assert (
            api.get(f"/api/v1/certificates?trainee_id={trainee.id}", headers=theirs).json()["data"]
            == []
        )


class TestLifecycle:
    def test_only_an_admin_revokes_and_the_public_page_then_says_revoked(
        self, api: TestClient, session: Session, course: Course, trainee: Trainee
    ) -> None:
        number = issue(api, session, course, trainee)["number"]
        for role in (Role.trainer, Role.examiner, Role.regulator):
            refused = api.post(
                f"/api/v1/certificates/{number}/revoke",
                json={"reason": "x"},
                headers=auth(token(session, role)),
            )
            assert refused.status_code == 403
        done = api.post(
            f"/api/v1/certificates/{number}/revoke",
            json={"reason": "发现考试作弊"},
            headers=auth(token(session, Role.admin)),
        )
        assert done.status_code == 200 and done.json()["standing"] == "revoked"
        page = api.get(f"/verify/{number}")
        assert page.status_code == 200 and "已撤销" in page.text and "revoked" in page.text

    def test_due_list_for_staff_only(
        self, api: TestClient, session: Session, course: Course, trainee: Trainee
    ) -> None:
        issue(api, session, course, trainee)
        assert (
            api.get(
                "/api/v1/certificates/due?days=3000", headers=auth(token(session, Role.trainer))
            ).json()["data"][0]["due_kind"]
            == "renewal"
        )
        assert (
            api.get(
                "/api/v1/certificates/due", headers=auth(token(session, Role.regulator))
            ).status_code
            == 403
        )


class TestPublicVerification:
    def test_the_public_sees_status_and_masked_facts_only(
        self, api: TestClient, session: Session, course: Course, trainee: Trainee
    ) -> None:
        number = issue(api, session, course, trainee)["number"]
        body = api.get(f"/api/v1/verify/{number}").json()
        assert body["found"] and body["standing"] == "valid" and body["signature_valid"]
        assert body["name"] == "王*国"
        assert body["id_number"].count("*") == 10 and trainee.id_number not in json.dumps(body)
        assert set(body) == {
            "number",
            "found",
            "standing",
            "standing_text",
            "name",
            "id_number",
            "curriculum_title",
            "operation_category",
            "issuer",
            "issued_on",
            "valid_until",
            "review_due",
            "superseded_by",
            "signature_valid",
            "kid",
        }
        page = api.get(f"/verify/{number}")
        assert "王*国" in page.text and "王建国" not in page.text and "有效" in page.text

    def test_an_unknown_number_is_not_found(self, api: TestClient) -> None:
        assert api.get("/api/v1/verify/SAFE-2026-999999").json() == {
            "number": "SAFE-2026-999999",
            "found": False,
            "standing": None,
            "standing_text": None,
            "name": None,
            "id_number": None,
            "curriculum_title": None,
            "operation_category": None,
            "issuer": None,
            "issued_on": None,
            "valid_until": None,
            "review_due": None,
            "superseded_by": None,
            "signature_valid": None,
            "kid": None,
        }
        assert api.get("/verify/SAFE-2026-999999").status_code == 404

    def test_a_record_altered_in_the_database_fails_its_signature(
        self, api: TestClient, session: Session, course: Course, trainee: Trainee
    ) -> None:
        number = str(issue(api, session, course, trainee)["number"])
        session.rollback()
        cert = session.exec(select(Certificate).where(Certificate.number == number)).one()
        header, payload, signature = cert.document.split(".")
        body = json.loads(b64url_decode(payload))
        body["valid_until"] = "2099-12-31"
        cert.document = ".".join((header, b64url(json.dumps(body).encode()), signature))
        session.add(cert)
        session.commit()
        answer = api.get(f"/api/v1/verify/{number}").json()
        assert answer["found"] and answer["signature_valid"] is False
        assert "签名校验未通过" in api.get(f"/verify/{number}").text

    def test_a_record_altered_after_a_look_up_fails_its_check_all_the_same(
        self, api: TestClient, session: Session, course: Course, trainee: Trainee
    ) -> None:
        number = str(issue(api, session, course, trainee)["number"])
        assert api.get(f"/api/v1/verify/{number}").json()["signature_valid"] is True
        session.rollback()
        cert = session.exec(select(Certificate).where(Certificate.number == number)).one()
        cert.valid_until = dt.date(2099, 12, 31)  # the record alone: its document is as signed
        session.add(cert)
        session.commit()
        assert api.get(f"/api/v1/verify/{number}").json()["signature_valid"] is False
        header, payload, signature = cert.document.split(".")
        body = json.loads(b64url_decode(payload))
        body["valid_until"] = "2099-12-31"  # and now the document to match
        cert.document = ".".join((header, b64url(json.dumps(body).encode()), signature))
        session.add(cert)
        session.commit()
        answer = api.get(f"/api/v1/verify/{number}").json()
        assert answer["signature_valid"] is False and answer["valid_until"] == "2099-12-31"

    def test_a_look_up_does_not_wait_for_a_writer(
        self, api: TestClient, engine: Engine, session: Session, course: Course, trainee: Trainee
    ) -> None:
        number = str(issue(api, session, course, trainee)["number"])
        session.rollback()
        with engine.begin() as writer:  # on SQLite BEGIN IMMEDIATE: the write lock, held
            writer.execute(
                update(Certificate)
                .where(col(Certificate.number) == number)
                .values(status_reason="still being written")
            )
            answer = api.get(f"/api/v1/verify/{number}")
        assert answer.status_code == 200 and answer.json()["signature_valid"] is True

    def test_a_reissued_certificate_names_its_successor(
        self,
        api: TestClient,
        cert_settings: Settings,
        session: Session,
        course: Course,
        trainee: Trainee,
    ) -> None:
        number = str(issue(api, session, course, trainee)["number"])
        new = certificates.reissue(session, cert_settings, ADMIN, number, reason="期满换证")
        old = api.get(f"/api/v1/verify/{number}").json()
        assert old["standing"] == "superseded" and old["superseded_by"] == new.number
        assert old["signature_valid"] is True
        current = api.get(f"/api/v1/verify/{new.number}").json()
        assert current["standing"] == "valid" and current["superseded_by"] is None
        assert current["signature_valid"] is True

    def test_a_certificate_signed_just_after_a_key_rotation_verifies_at_once(
        self,
        api: TestClient,
        cert_settings: Settings,
        session: Session,
        course: Course,
        trainee: Trainee,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        # The key folder is looked at once a second: here not again by itself within the test.
        monkeypatch.setattr(views, "KEYS_RECHECK_SECONDS", 3600.0)
        first = str(issue(api, session, course, trainee)["number"])
        assert api.get(f"/api/v1/verify/{first}").json()["signature_valid"] is True
        rotated = KeyStore.from_settings(cert_settings).rotate()
        person = make_trainee(session, name="李四")
        ready(session, course, person)
        second = str(issue(api, session, course, person)["number"])
        answer = api.get(f"/api/v1/verify/{second}").json()
        assert answer["signature_valid"] is True and answer["kid"] == rotated.kid
        assert api.get(f"/api/v1/verify/{first}").json()["signature_valid"] is True

    def test_look_ups_at_the_same_moment_each_get_their_own_answer(
        self,
        api: TestClient,
        cert_settings: Settings,
        engine: Engine,
        session: Session,
        course: Course,
        trainee: Trainee,
    ) -> None:
        first = str(issue(api, session, course, trainee)["number"])
        person = make_trainee(session, name="李小四")
        ready(session, course, person)
        second = str(issue(api, session, course, person)["number"])
        asked = [first, second, "SAFE-2026-999999", second.lower(), first] * 4
        app = create_app(
            settings=cert_settings.model_copy(update={"verify_rate_per_minute": 1000}),
            engine=engine,
        )

        async def all_at_once() -> list[dict[str, object]]:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://kiosk") as client:
                answers = await asyncio.gather(*(client.get(f"/api/v1/verify/{n}") for n in asked))
            return [a.json() for a in answers]

        answers = asyncio.run(all_at_once())
        names = {first: "王*国", second: "李*四"}
        for number, body in zip(asked, answers, strict=True):
            if number.upper() in names:
                assert body["number"] == number.upper() and body["found"] is True
                assert body["name"] == names[number.upper()]
            else:
                assert body["found"] is False and body["number"] == number
        lookups = app.state.verify_lookups
        assert lookups.looked_up < len(asked)  # they shared fetches

    def test_look_ups_are_rate_limited_per_address(self, api: TestClient) -> None:
        codes = [api.get(f"/api/v1/verify/SAFE-2026-{n:06d}").status_code for n in range(7)]
        assert codes[:5] == [200] * 5 and codes[5:] == [429, 429]
        assert api.get("/api/v1/verify/SAFE-2026-000001").json()["error"] == "rate_limited"
