"""The console as a trainer uses it: log in, search, register, import, switch language."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from server.accounts.models import LoginSession, Role
from server.trainees.models import Trainee
from tests.factories import PASSWORD, form_token, log_in, make_trainee, make_user, resident_id


class TestLogin:
    def test_trainer_logs_in_and_sees_dashboard(self, client: TestClient, session: Session) -> None:
        trainer = make_user(session, role=Role.trainer)
        log_in(client, trainer.username)
        page = client.get("/console")
        assert page.status_code == 200
        assert trainer.display_name in page.text
        assert "培训教师" in page.text

    def test_wrong_password_is_refused_with_message(
        self, client: TestClient, session: Session
    ) -> None:
        trainer = make_user(session, role=Role.trainer)
        page = client.get("/console/login")
        response = client.post(
            "/console/login",
            data={
                "username": trainer.username,
                "password": "wrong-password",
                "csrf_token": form_token(page.text),
            },
        )
        assert response.status_code == 401
        assert "用户名或密码错误" in response.text
        assert client.get("/console", follow_redirects=False).status_code == 303

    @pytest.mark.parametrize("role", [Role.trainee, Role.regulator, Role.gateway])
    def test_roles_without_console_cannot_log_in(
        self, client: TestClient, session: Session, role: Role
    ) -> None:
        user = make_user(session, role=role)
        page = client.get("/console/login")
        response = client.post(
            "/console/login",
            data={
                "username": user.username,
                "password": PASSWORD,
                "csrf_token": form_token(page.text),
            },
        )
        assert response.status_code == 401
        assert session.exec(select(LoginSession)).all() == []

    def test_login_without_csrf_cookie_is_refused(
        self, client: TestClient, session: Session
    ) -> None:
        trainer = make_user(session, role=Role.trainer)
        response = client.post(
            "/console/login",
            data={"username": trainer.username, "password": PASSWORD, "csrf_token": "forged"},
        )
        assert response.status_code == 403
        assert session.exec(select(LoginSession)).all() == []

    def test_logout_ends_the_session(self, client: TestClient, session: Session) -> None:
        trainer = make_user(session, role=Role.trainer)
        csrf = log_in(client, trainer.username)
        response = client.post("/console/logout", data={"csrf_token": csrf}, follow_redirects=False)
        assert response.status_code == 303
        assert client.get("/console", follow_redirects=False).status_code == 303

    def test_open_redirect_is_not_followed(self, client: TestClient, session: Session) -> None:
        trainer = make_user(session, role=Role.trainer)
        page = client.get("/console/login")
        response = client.post(
            "/console/login",
            data={
                "username": trainer.username,
                "password": PASSWORD,
                "csrf_token": form_token(page.text),
                "next": "https://evil.example/",
            },
            follow_redirects=False,
        )
        assert response.headers["location"] == "/console"


class TestCsrf:
    def test_form_post_without_token_changes_nothing(
        self, client: TestClient, session: Session
    ) -> None:
        trainer = make_user(session, role=Role.trainer)
        log_in(client, trainer.username)
        response = client.post(
            "/console/trainees/new",
            data={
                "name": "李四",
                "id_number": resident_id(),
                "phone": "13900139000",
                "employer": "某公司",
                "education": "senior_high",
            },
        )
        assert response.status_code == 403
        assert session.exec(select(Trainee)).all() == []


class TestTraineePages:
    def test_list_masks_id_numbers_and_searches(self, client: TestClient, session: Session) -> None:
        number = resident_id()
        make_trainee(session, name="欧阳明", id_number=number)
        make_trainee(session, name="张三")
        trainer = make_user(session, role=Role.trainer)
        log_in(client, trainer.username)
        page = client.get("/console/trainees", params={"q": "欧阳"})
        assert "欧阳明" in page.text
        assert "张三" not in page.text
        assert number not in page.text
        assert number[:4] + "*" * 10 + number[-4:] in page.text

    def test_register_through_form(self, client: TestClient, session: Session) -> None:
        trainer = make_user(session, role=Role.trainer)
        csrf = log_in(client, trainer.username)
        number = resident_id()
        response = client.post(
            "/console/trainees/new",
            data={
                "csrf_token": csrf,
                "name": "王小明",
                "id_type": "resident_id",
                "id_number": number,
                "phone": "139 0013 9000",
                "employer": "临港新材料",
                "education": "bachelor",
                "job": "",
            },
            follow_redirects=False,
        )
        assert response.status_code == 303
        detail = client.get(response.headers["location"])
        assert "王小明" in detail.text and number in detail.text  # trainers see the full number

    def test_bad_id_number_is_shown_next_to_the_field(
        self, client: TestClient, session: Session
    ) -> None:
        trainer = make_user(session, role=Role.trainer)
        csrf = log_in(client, trainer.username)
        number = resident_id()
        bad = number[:-1] + ("0" if number[-1] != "0" else "1")
        response = client.post(
            "/console/trainees/new",
            data={
                "csrf_token": csrf,
                "name": "王小明",
                "id_type": "resident_id",
                "id_number": bad,
                "phone": "13900139000",
                "employer": "临港新材料",
                "education": "bachelor",
            },
        )
        assert response.status_code == 422
        assert "校验" in response.text
        assert session.exec(select(Trainee)).all() == []

    def test_examiner_sees_masked_detail(self, client: TestClient, session: Session) -> None:
        number = resident_id()
        trainee = make_trainee(session, id_number=number)
        examiner = make_user(session, role=Role.examiner)
        log_in(client, examiner.username)
        page = client.get(f"/console/trainees/{trainee.id}")
        assert page.status_code == 200
        assert number not in page.text
        assert trainee.badge not in page.text

    def test_english_toggle(self, client: TestClient, session: Session) -> None:
        trainer = make_user(session, role=Role.trainer)
        log_in(client, trainer.username)
        page = client.get("/console/trainees", params={"lang": "en"})
        assert "Trainees" in page.text and 'lang="en"' in page.text
        again = client.get("/console/trainees")  # the choice is remembered in a cookie
        assert "Register a trainee" in again.text
        back = client.get("/console/trainees", params={"lang": "zh"})
        assert "登记学员" in back.text


class TestUsersPage:
    def test_admin_creates_a_trainer(self, client: TestClient, session: Session) -> None:
        admin = make_user(session, role=Role.admin)
        csrf = log_in(client, admin.username)
        page = client.get("/console/users")
        assert page.status_code == 200
        response = client.post(
            "/console/users",
            data={
                "csrf_token": csrf,
                "username": "liu.yang",
                "display_name": "刘洋",
                "role": "trainer",
                "password": "a-long-password",
            },
            follow_redirects=False,
        )
        assert response.status_code == 303
        assert "liu.yang" in client.get("/console/users").text


class TestImportPage:
    def _upload(self, client: TestClient, csrf: str, content: str, **extra: str) -> str:
        response = client.post(
            "/console/trainees/import",
            data={"csrf_token": csrf, **extra},
            files={"file": ("名单.csv", content.encode("utf-8-sig"), "text/csv")},
        )
        return response.text

    def test_bad_row_is_listed_in_the_chosen_language_and_nothing_imported(
        self, client: TestClient, session: Session
    ) -> None:
        trainer = make_user(session, role=Role.trainer)
        csrf = log_in(client, trainer.username)
        good = resident_id()
        content = f"姓名,证件号码,手机号,工作单位,文化程度\n甲,{good},13800138000,某公司,高中\n乙,{resident_id()},138,某公司,高中\n"
        page = self._upload(client, csrf, content)
        assert "未导入任何学员" in page
        assert "手机号" in page and "is not valid" not in page
        assert session.exec(select(Trainee)).all() == []
        client.get("/console/trainees/import", params={"lang": "en"})
        page_en = self._upload(client, csrf, content)
        assert "is not valid" in page_en and "格式不对" not in page_en

    def test_valid_only_imports_the_good_rows(self, client: TestClient, session: Session) -> None:
        trainer = make_user(session, role=Role.trainer)
        csrf = log_in(client, trainer.username)
        content = f"姓名,证件号码,手机号,工作单位,文化程度\n甲,{resident_id()},13800138000,某公司,高中\n乙,{resident_id()},138,某公司,高中\n"
        page = self._upload(client, csrf, content, valid_only="true")
        assert "已导入 1 名学员" in page
        assert [t.name for t in session.exec(select(Trainee)).all()] == ["甲"]

    def test_template_download(self, client: TestClient, session: Session) -> None:
        trainer = make_user(session, role=Role.trainer)
        log_in(client, trainer.username)
        response = client.get("/console/trainees/template.xlsx")
        assert response.status_code == 200
        assert response.content[:2] == b"PK"


class TestHeaders:
    def test_console_pages_forbid_framing_and_foreign_content(self, client: TestClient) -> None:
        page = client.get("/console/login")
        assert page.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["x-content-type-options"] == "nosniff"
