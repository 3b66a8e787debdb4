"""The trainee registry through the API: register, duplicates, masking, search, import."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from server.accounts.models import Role, User
from server.audit.models import AuditEvent
from server.trainees.identity import Sex
from server.trainees.models import Employer, Trainee
from tests.factories import auth, make_token, make_trainee, make_user, resident_id


@pytest.fixture
def trainer_token(session: Session) -> str:
    return make_token(session, user=make_user(session, role=Role.trainer))


def _count(session: Session) -> int:
    n = session.exec(select(func.count()).select_from(Trainee)).one()
    session.commit()
    return int(n)


def _body(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "name": "刘洋",
        "id_number": resident_id(birth=dt.date(1988, 8, 8), sex=Sex.female),
        "phone": "+86 139-0013-9000",
        "employer": "江海精细化工有限公司",
        "job": "DCS 内操",
        "education": "junior_college",
    }
    body.update(overrides)
    return body


class TestRegister:
    def test_register_derives_birth_date_and_sex(
        self, client: TestClient, trainer_token: str
    ) -> None:
        body = _body()
        response = client.post("/api/v1/trainees", json=body, headers=auth(trainer_token))
        assert response.status_code == 201, response.text
        got = response.json()
        assert got["birth_date"] == "1988-08-08"
        assert got["sex"] == "female"
        assert got["phone"] == "13900139000"
        assert got["id_number"] == body["id_number"]
        assert got["employer"]["name"] == "江海精细化工有限公司"
        assert len(got["badge"]) == 10

    def test_duplicate_is_refused_with_who_it_is(
        self, client: TestClient, session: Session, trainer_token: str
    ) -> None:
        number = resident_id()
        existing = make_trainee(session, name="赵强", id_number=number)
        response = client.post(
            "/api/v1/trainees", json=_body(id_number=number.lower()), headers=auth(trainer_token)
        )
        assert response.status_code == 409
        body = response.json()
        assert body["error"] == "trainee_exists"
        assert "赵强" in body["message"] and body["details"]["existing_trainee_id"] == existing.id
        assert _count(session) == 1

    @pytest.mark.parametrize(
        ("change", "field", "code"),
        [
            ({"id_number": "32060219900307451"}, "id_number", "id_number_length"),
            ({"id_number": "320602199002304512"}, "id_number", "id_number_birth_date"),
            ({"phone": "12345"}, "phone", "phone_format"),
            (
                {"id_type": "passport", "id_number": "E12345678"},
                "birth_date",
                "birth_date_required",
            ),
            ({"education": "kindergarten"}, "education", "enum"),
            ({"name": ""}, "name", "string_too_short"),
        ],
    )
    def test_bad_input_names_field_and_changes_nothing(
        self,
        client: TestClient,
        session: Session,
        trainer_token: str,
        change: dict[str, str],
        field: str,
        code: str,
    ) -> None:
        response = client.post(
            "/api/v1/trainees", json=_body(**change), headers=auth(trainer_token)
        )
        assert response.status_code == 422, response.text
        details = response.json()["details"]
        assert (field, code) in [(d["field"], d["code"]) for d in details]
        assert _count(session) == 0

    def test_bad_check_digit_says_which_digit_is_expected(
        self, client: TestClient, session: Session, trainer_token: str
    ) -> None:
        good = resident_id()
        wrong = good[:-1] + ("1" if good[-1] != "1" else "2")
        response = client.post(
            "/api/v1/trainees", json=_body(id_number=wrong), headers=auth(trainer_token)
        )
        assert response.status_code == 422
        assert response.json()["details"][0]["code"] == "id_number_check_digit"
        assert good[-1] in response.json()["details"][0]["message"]

    def test_passport_with_birth_date_and_sex(self, client: TestClient, trainer_token: str) -> None:
        response = client.post(
            "/api/v1/trainees",
            json=_body(
                id_type="passport", id_number="e1234 5678", birth_date="1985-01-02", sex="male"
            ),
            headers=auth(trainer_token),
        )
        assert response.status_code == 201, response.text
        assert response.json()["id_number"] == "E12345678"

    def test_registration_is_audited(
        self, client: TestClient, session: Session, trainer_token: str
    ) -> None:
        response = client.post("/api/v1/trainees", json=_body(), headers=auth(trainer_token))
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "trainee.create")).one()
        trainer = session.exec(select(User).where(User.role == "trainer")).one()
        assert event.entity_id == str(response.json()["id"]) and event.actor_user_id == trainer.id


class TestReadAndMask:
    def test_examiner_gets_masked_identity(self, client: TestClient, session: Session) -> None:
        number = resident_id()
        trainee = make_trainee(session, id_number=number)
        token = make_token(session, user=make_user(session, role=Role.examiner))
        got = client.get(f"/api/v1/trainees/{trainee.id}", headers=auth(token)).json()
        assert got["id_number"] is None and got["badge"] is None
        assert got["id_number_masked"] == number[:4] + "*" * 10 + number[-4:]
        assert "****" in got["phone"]
        listed = client.get("/api/v1/trainees", headers=auth(token)).json()
        assert number not in str(listed)

    def test_trainee_reads_own_record_only(self, client: TestClient, session: Session) -> None:
        me = make_trainee(session)
        other = make_trainee(session)
        admin = make_token(session, user=make_user(session, role=Role.admin))
        made = client.post(
            "/api/v1/users",
            json={
                "username": "me.self",
                "display_name": "我",
                "role": "trainee",
                "trainee_id": me.id,
            },
            headers=auth(admin),
        )
        assert made.status_code == 201 and made.json()["trainee_id"] == me.id
        user = session.get(User, made.json()["id"])
        assert user is not None
        token = make_token(session, user=user)
        own = client.get(f"/api/v1/trainees/{me.id}", headers=auth(token)).json()
        assert own["id_number"] == me.id_number
        refused = client.get(f"/api/v1/trainees/{other.id}", headers=auth(token))
        assert refused.status_code == 403 and refused.json()["error"] == "not_own_record"

    def test_one_account_per_trainee(self, client: TestClient, session: Session) -> None:
        me = make_trainee(session)
        admin = make_token(session, user=make_user(session, role=Role.admin))
        body = {"username": "a.one", "display_name": "甲", "role": "trainee", "trainee_id": me.id}
        assert client.post("/api/v1/users", json=body, headers=auth(admin)).status_code == 201
        again = client.post("/api/v1/users", json=body | {"username": "a.two"}, headers=auth(admin))
        assert again.status_code == 409 and again.json()["error"] == "trainee_has_account"
        missing = client.post(
            "/api/v1/users",
            json=body | {"username": "a.three", "trainee_id": 9999},
            headers=auth(admin),
        )
        assert missing.status_code == 422 and missing.json()["details"][0]["field"] == "trainee_id"

    def test_unknown_trainee_is_404(self, client: TestClient, trainer_token: str) -> None:
        response = client.get("/api/v1/trainees/424242", headers=auth(trainer_token))
        assert response.status_code == 404 and response.json()["error"] == "trainee_not_found"

    def test_search_by_name_last_digits_badge_and_employer(
        self, client: TestClient, session: Session, trainer_token: str
    ) -> None:
        a = make_trainee(session, name="欧阳锋", employer="甲公司")
        b = make_trainee(session, name="黄药师", employer="乙公司")

        def names(**params: object) -> list[str]:
            r = client.get("/api/v1/trainees", params=params, headers=auth(trainer_token))
            return [t["name"] for t in r.json()["data"]]

        assert names(q="欧阳") == ["欧阳锋"]
        assert names(q=b.id_number[-4:]) == ["黄药师"]
        assert names(q=a.badge) == ["欧阳锋"]
        employer = session.exec(select(Employer).where(Employer.name == "乙公司")).one()
        session.commit()
        assert names(employer_id=employer.id) == ["黄药师"]
        page = client.get(
            "/api/v1/trainees", params={"limit": 1}, headers=auth(trainer_token)
        ).json()
        assert page["count"] == 2 and len(page["data"]) == 1


class TestUpdate:
    def test_update_is_audited_with_before_and_after(
        self, client: TestClient, session: Session, trainer_token: str
    ) -> None:
        trainee = make_trainee(session, phone="13800138000")
        response = client.patch(
            f"/api/v1/trainees/{trainee.id}",
            json={"phone": "13700137000", "employer": "新单位"},
            headers=auth(trainer_token),
        )
        assert response.status_code == 200
        assert (
            response.json()["phone"] == "13700137000"
            and response.json()["employer"]["name"] == "新单位"
        )
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "trainee.update")).one()
        assert "13800138000" in (event.before or "") and "13700137000" in (event.after or "")

    def test_bad_phone_changes_nothing(
        self, client: TestClient, session: Session, trainer_token: str
    ) -> None:
        trainee = make_trainee(session, phone="13800138000")
        response = client.patch(
            f"/api/v1/trainees/{trainee.id}",
            json={"phone": "999", "name": "改名"},
            headers=auth(trainer_token),
        )
        assert response.status_code == 422
        session.expire_all()
        fresh = session.get(Trainee, trainee.id)
        assert fresh is not None and fresh.phone == "13800138000" and fresh.name == trainee.name

    def test_badge_reissue_invalidates_the_old_badge(
        self, client: TestClient, session: Session, trainer_token: str
    ) -> None:
        trainee = make_trainee(session)
        old = trainee.badge
        response = client.post(
            f"/api/v1/trainees/{trainee.id}/badge",
            json={"reason": "card lost"},
            headers=auth(trainer_token),
        )
        assert response.status_code == 200 and response.json()["badge"] != old
        assert (
            client.get("/api/v1/trainees", params={"q": old}, headers=auth(trainer_token)).json()[
                "count"
            ]
            == 0
        )


def _csv(rows: list[dict[str, str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=["姓名", "证件号码", "手机号", "工作单位", "岗位", "文化程度"]
    )
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


def _row(name: str, **overrides: str) -> dict[str, str]:
    row = {
        "姓名": name,
        "证件号码": resident_id(),
        "手机号": "13800138000",
        "工作单位": "滨江氯碱化工有限公司",
        "岗位": "氯化操作工",
        "文化程度": "高中",
    }
    row.update(overrides)
    return row


class TestImportApi:
    def test_good_roster_imports_everyone(
        self, client: TestClient, session: Session, trainer_token: str
    ) -> None:
        data = _csv([_row("甲"), _row("乙"), _row("丙")])
        response = client.post(
            "/api/v1/trainees/import",
            files={"file": ("roster.csv", data, "text/csv")},
            headers=auth(trainer_token),
        )
        assert response.status_code == 200, response.text
        report = response.json()
        assert report["imported"] == 3 and report["errors"] == []
        assert report["employers_created"] == ["滨江氯碱化工有限公司"]
        assert _count(session) == 3

    def test_one_bad_row_imports_nothing_and_names_row_and_column(
        self, client: TestClient, session: Session, trainer_token: str
    ) -> None:
        data = _csv([_row("甲"), _row("乙", 手机号="12"), _row("丙")])
        report = client.post(
            "/api/v1/trainees/import",
            files={"file": ("roster.csv", data)},
            headers=auth(trainer_token),
        ).json()
        assert report["imported"] == 0
        assert [(e["row"], e["column"], e["code"]) for e in report["errors"]] == [
            (3, "手机号", "phone_format")
        ]
        assert _count(session) == 0

    def test_valid_only_imports_the_good_rows(
        self, client: TestClient, session: Session, trainer_token: str
    ) -> None:
        data = _csv([_row("甲"), _row("乙", 文化程度="幼儿园"), _row("丙")])
        report = client.post(
            "/api/v1/trainees/import",
            params={"valid_only": True},
            files={"file": ("roster.csv", data)},
            headers=auth(trainer_token),
        ).json()
        assert report["imported"] == 2
        assert [(e["row"], e["column"]) for e in report["errors"]] == [(3, "文化程度")]
        assert _count(session) == 2

    def test_already_registered_person_is_a_row_error(
        self, client: TestClient, session: Session, trainer_token: str
    ) -> None:
        existing = make_trainee(session)
        data = _csv([_row("甲"), _row("重复", 证件号码=existing.id_number)])
        report = client.post(
            "/api/v1/trainees/import",
            files={"file": ("roster.csv", data)},
            headers=auth(trainer_token),
        ).json()
        assert [(e["row"], e["column"], e["code"]) for e in report["errors"]] == [
            (3, "证件号码", "already_registered")
        ]
        assert _count(session) == 1

    def test_dry_run_imports_nothing(
        self, client: TestClient, session: Session, trainer_token: str
    ) -> None:
        data = _csv([_row("甲")])
        report = client.post(
            "/api/v1/trainees/import",
            params={"dry_run": True},
            files={"file": ("r.csv", data)},
            headers=auth(trainer_token),
        ).json()
        assert report["imported"] == 0 and report["errors"] == [] and report["rows_read"] == 1
        assert _count(session) == 0

    def test_not_a_roster_is_a_clear_error(
        self, client: TestClient, session: Session, trainer_token: str
    ) -> None:
        report = client.post(
            "/api/v1/trainees/import",
            files={"file": ("photo.png", b"\x89PNG\r\n\x1a\n\x00\x00")},
            headers=auth(trainer_token),
        ).json()
        assert report["imported"] == 0 and report["errors"][0]["code"] == "file_format"


class TestEmployersAndTemplate:
    def test_employers_list(self, client: TestClient, session: Session, trainer_token: str) -> None:
        make_trainee(session, employer="丙公司")
        body = client.get("/api/v1/employers", headers=auth(trainer_token)).json()
        assert [e["name"] for e in body["data"]] == ["丙公司"]

    def test_template_is_an_xlsx_with_chinese_headers(
        self, client: TestClient, trainer_token: str
    ) -> None:
        import openpyxl

        response = client.get("/api/v1/trainees-template.xlsx", headers=auth(trainer_token))
        assert response.status_code == 200
        sheet = openpyxl.load_workbook(io.BytesIO(response.content)).worksheets[0]
        headers = [c.value for c in sheet[1]]
        assert "姓名" in str(headers) and "证件号码" in str(headers)
