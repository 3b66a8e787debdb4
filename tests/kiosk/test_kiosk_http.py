"""The kiosk over plain HTTP: PIN rules, set-up, signing in and its lockouts, the session, roles."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from kiosk.pages import DEVICE_COOKIE, SESSION_COOKIE
from kiosk.routes import AREAS
from server.accounts.models import KioskSession, Role, User
from server.accounts.pins import check_pin
from server.app import create_app
from server.audit.models import AuditEvent
from server.config import Environment, Settings
from server.errors import InvalidInput
from server.scheduling.models import Attendance
from server.trainees.models import Trainee
from tests.factories import (
    ACTOR,
    auth,
    course_around_today,
    enrol,
    log_in,
    make_kiosk,
    make_session_now,
    make_token,
    make_trainee,
    make_user,
    resident_id,
    set_pin,
)
from tests.kiosk.conftest import Hall
from tests.kiosk.exam_helpers import let_time_pass, open_sitting, paper_of, signed_in

WRONG = "证件号码或 PIN 码错误"


def _set_up(client: TestClient, hall: Hall) -> None:
    response = client.post("/kiosk/setup", data={"code": hall.setup_code}, follow_redirects=False)
    assert response.status_code == 303, response.text
    assert DEVICE_COOKIE in response.cookies


def _sign_in(client: TestClient, id_number: str, pin: str) -> object:
    return client.post(
        "/kiosk/sign-in", data={"id_number": id_number, "pin": pin}, follow_redirects=False
    )


class TestPinRules:
    trainee = Trainee(birth_date=dt.date(1990, 3, 7), id_number="32060219900307123X")

    @pytest.mark.parametrize(
        ("pin", "code"),
        [
            ("12345", "pin_format"),
            ("12345a", "pin_format"),
            ("1234567", "pin_format"),
            ("777777", "pin_trivial"),
            ("123456", "pin_trivial"),
            ("345678", "pin_trivial"),
            ("987654", "pin_trivial"),
            ("121212", "pin_trivial"),
            ("580580", "pin_trivial"),
            ("900307", "pin_birth_date"),
            ("070390", "pin_birth_date"),
            ("030790", "pin_birth_date"),
        ],
    )
    def test_easy_pins_are_refused_with_a_reason(self, pin: str, code: str) -> None:
        with pytest.raises(InvalidInput) as caught:
            check_pin(pin, self.trainee)
        assert caught.value.code == code
        assert "PIN" in caught.value.zh and "PIN" in caught.value.en

    def test_the_id_numbers_end_is_refused(self) -> None:
        trainee = Trainee(birth_date=dt.date(1990, 3, 7), id_number="320602199003074518")
        with pytest.raises(InvalidInput) as caught:
            check_pin("074518", trainee)
        assert caught.value.code == "pin_id_number"

    def test_a_good_pin_passes(self) -> None:
        check_pin("246810", self.trainee)
        check_pin("590314", self.trainee)


class TestSetPinApi:
    @pytest.mark.parametrize("role", [Role.admin, Role.trainer])
    def test_staff_set_it_and_it_is_never_shown(
        self, client: TestClient, session: Session, role: Role
    ) -> None:
        trainee = make_trainee(session)
        token = make_token(session, user=make_user(session, role=role))
        url = f"/api/v1/trainees/{trainee.id}/pin"
        response = client.put(url, json={"pin": "590314"}, headers=auth(token))
        assert response.status_code == 204, response.text
        # A trainee without an account gets one: the PIN is what they sign in with.
        user = session.exec(select(User).where(User.trainee_id == trainee.id)).one()
        assert user.role == Role.trainee and user.pin_hash and "590314" not in user.pin_hash
        events = session.exec(
            select(AuditEvent).where(AuditEvent.action == "trainee.pin_set")
        ).all()
        assert len(events) == 1 and "590314" not in str(events[0].after)
        again = client.put(url, json={"pin": "135792"}, headers=auth(token))
        assert again.status_code == 204
        session.rollback()  # a fresh look at the database
        assert session.exec(
            select(AuditEvent).where(AuditEvent.action == "trainee.pin_reset")
        ).first()
        shown = client.get(f"/api/v1/trainees/{trainee.id}", headers=auth(token)).text
        assert "pin" not in shown.lower()

    def test_a_trivial_pin_gets_a_clear_message(self, client: TestClient, session: Session) -> None:
        trainee = make_trainee(session)
        token = make_token(session, user=make_user(session, role=Role.trainer))
        response = client.put(
            f"/api/v1/trainees/{trainee.id}/pin", json={"pin": "111111"}, headers=auth(token)
        )
        assert response.status_code == 422
        assert response.json()["error"] == "pin_trivial"
        assert "同一个数字" in response.json()["message"]

    @pytest.mark.parametrize("role", [Role.examiner, Role.trainee, Role.regulator, Role.gateway])
    def test_others_are_refused(self, client: TestClient, session: Session, role: Role) -> None:
        trainee = make_trainee(session)
        token = make_token(session, user=make_user(session, role=role))
        response = client.put(
            f"/api/v1/trainees/{trainee.id}/pin", json={"pin": "590314"}, headers=auth(token)
        )
        assert response.status_code == 403


class TestSetUp:
    def test_a_screen_without_its_cookie_is_sent_to_set_up(
        self, client: TestClient, hall: Hall
    ) -> None:
        response = client.get("/kiosk", follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/kiosk/setup"

    def test_a_setup_code_works_once(self, client: TestClient, hall: Hall) -> None:
        _set_up(client, hall)
        welcome = client.get("/kiosk")
        assert "请刷卡或输入身份证号" in welcome.text and hall.kiosk_code in welcome.text
        other = TestClient(client.app)
        again = other.post("/kiosk/setup", data={"code": hall.setup_code})
        assert again.status_code == 422 and "设置码无效" in again.text

    def test_pages_carry_a_strict_csp_and_are_not_cached(
        self, client: TestClient, hall: Hall
    ) -> None:
        _set_up(client, hall)
        response = client.get("/kiosk")
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["cache-control"] == "no-store"
        assert client.get("/kiosk/static/kiosk.js").status_code == 200


class TestSignIn:
    def test_id_number_and_pin_open_today(self, client: TestClient, hall: Hall) -> None:
        _set_up(client, hall)
        response = _sign_in(client, hall.trainee.id_number.lower(), hall.pin)
        assert response.status_code == 303 and response.headers["location"] == "/kiosk/home"
        home = client.get("/kiosk/home")
        assert hall.trainee.name in home.text and "硝化安全晨会" in home.text

    def test_an_unknown_id_and_a_wrong_pin_read_the_same(
        self, client: TestClient, hall: Hall
    ) -> None:
        _set_up(client, hall)
        wrong_pin = _sign_in(client, hall.trainee.id_number, "135792")
        unknown = _sign_in(client, resident_id(), hall.pin)
        assert wrong_pin.status_code == unknown.status_code == 401
        assert WRONG in wrong_pin.text and WRONG in unknown.text  # type: ignore[attr-defined]

    def test_five_wrong_pins_lock_the_id_number_in_the_database(
        self, client: TestClient, hall: Hall, settings: Settings, engine: Engine
    ) -> None:
        _set_up(client, hall)
        for _ in range(5):
            assert _sign_in(client, hall.trainee.id_number, "135792").status_code == 401
        locked = _sign_in(client, hall.trainee.id_number, hall.pin)
        assert locked.status_code == 429  # type: ignore[attr-defined]
        assert "该证件号码已锁定" in locked.text  # type: ignore[attr-defined]
        assert int(locked.headers["retry-after"]) > 14 * 60  # type: ignore[attr-defined]
        # Another server process (a new app on the same database) knows it too.
        with TestClient(create_app(settings=settings, engine=engine)) as other:
            other.cookies.set(DEVICE_COOKIE, client.cookies[DEVICE_COOKIE], path="/kiosk")
            assert _sign_in(other, hall.trainee.id_number, hall.pin).status_code == 429
        # An unknown ID number locks the same way: the lockout tells nothing either.
        stranger = resident_id()
        for _ in range(5):
            _sign_in(client, stranger, "135792")
        assert "该证件号码已锁定" in _sign_in(client, stranger, "135792").text  # type: ignore[attr-defined]

    def test_many_failures_across_ids_pause_the_kiosk(
        self, db_url: str, engine: Engine, hall: Hall
    ) -> None:
        settings = Settings(
            database_url=db_url, environment=Environment.test, kiosk_pin_max_failures_per_kiosk=3
        )
        with TestClient(create_app(settings=settings, engine=engine)) as client:
            _set_up(client, hall)
            for _ in range(3):
                assert _sign_in(client, resident_id(), "135792").status_code == 401
            paused = _sign_in(client, hall.trainee.id_number, hall.pin)
            assert paused.status_code == 429  # type: ignore[attr-defined]
            assert "本终端错误次数过多" in paused.text  # type: ignore[attr-defined]


def _signed_in(client: TestClient, hall: Hall) -> None:
    _set_up(client, hall)
    assert _sign_in(client, hall.trainee.id_number, hall.pin).status_code == 303  # type: ignore[attr-defined]


class TestKioskSession:
    def test_check_in_then_out_with_a_confirmation(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        _signed_in(client, hall)
        done = client.post(f"/kiosk/sessions/{hall.class_session.id}/check-in")
        assert done.status_code == 200 and "签到成功" in done.text
        assert re.search(r"/kiosk/attendance/\d+$", str(done.url))
        att = session.exec(select(Attendance).where(Attendance.trainee_id == hall.trainee.id)).one()
        assert att.source == "kiosk" and att.checked_in_at is not None
        out = client.post(f"/kiosk/sessions/{hall.class_session.id}/check-out")
        assert "签退成功" in out.text
        # Back on today's page the session reads checked out, and a second check-out says what
        # it does (the last one counts) instead of looking like the first.
        home = client.get("/kiosk/home").text
        assert "已签退" in home and "再次签退" in home and "以最后一次签退时间为准" in home

    def test_another_trainees_record_is_not_found(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        other = make_trainee(session, name="王芳")
        enrol(session, course=hall.course, trainee=other)
        set_pin(session, trainee=other)
        from server.scheduling import attendance

        assert hall.class_session.id is not None and other.id is not None
        theirs = attendance.check_in(session, ACTOR, hall.class_session.id, other.id, None, "api")
        _signed_in(client, hall)
        response = client.get(f"/kiosk/attendance/{theirs.id}")
        assert response.status_code == 404 and "王芳" not in response.text
        elsewhere = make_session_now(session, course=course_around_today(session))
        refused = client.post(f"/kiosk/sessions/{elsewhere.id}/check-in")
        assert refused.status_code == 403 and "没有报名" in refused.text

    def test_an_idle_session_is_refused_by_the_server(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        _signed_in(client, hall)
        row = session.exec(select(KioskSession)).one()
        assert (row.expires_at - row.last_seen_at).total_seconds() == 90
        row.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        session.add(row)
        session.commit()
        response = client.get("/kiosk/home", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/kiosk?signed_out=1"

    def test_sign_out_ends_the_session(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        _signed_in(client, hall)
        assert client.post("/kiosk/sign-out").status_code == 200
        assert session.exec(select(KioskSession)).all() == []
        client.cookies.set(SESSION_COOKIE, "stale", path="/kiosk")
        assert client.get("/kiosk/home", follow_redirects=False).status_code == 303

    def test_a_session_belongs_to_its_kiosk(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        _signed_in(client, hall)
        cookie = client.cookies[SESSION_COOKIE]
        _, code = make_kiosk(session)
        with TestClient(client.app) as elsewhere:
            elsewhere.post("/kiosk/setup", data={"code": code})
            elsewhere.cookies.set(SESSION_COOKIE, cookie, path="/kiosk")
            assert elsewhere.get("/kiosk/home", follow_redirects=False).status_code == 303


KIOSK_ROUTES = [r for area in AREAS for r in area.routes if isinstance(r, APIRoute)]


def _routes(who: str) -> list[APIRoute]:
    """The kiosk's routes (every area's) that state `who` may open them."""
    return [r for r in KIOSK_ROUTES if (r.openapi_extra or {}).get("x-roles") == [who]]


def _url(route: APIRoute) -> str:
    return re.sub(r"\{\w+\}", "1", route.path)


class TestRoles:
    def test_every_kiosk_route_states_who(self) -> None:
        assert {len(_routes(w)) for w in ("kiosk", "trainee")} != {0}
        stated = sum(len(_routes(w)) for w in ("public", "kiosk", "trainee"))
        assert stated == len(KIOSK_ROUTES)

    @pytest.mark.parametrize(
        "route",
        _routes("kiosk") + _routes("trainee"),
        ids=lambda r: f"{sorted(r.methods)} {r.path}",
    )
    def test_a_screen_not_set_up_is_refused(self, client: TestClient, route: APIRoute) -> None:
        for method in route.methods:
            response = client.request(method, _url(route), follow_redirects=False)
            assert response.status_code == 303
            assert response.headers["location"] == "/kiosk/setup"

    @pytest.mark.parametrize(
        "route", _routes("trainee"), ids=lambda r: f"{sorted(r.methods)} {r.path}"
    )
    def test_no_trainee_signed_in_is_refused(
        self, client: TestClient, hall: Hall, route: APIRoute
    ) -> None:
        _set_up(client, hall)
        for method in route.methods:
            response = client.request(method, _url(route), follow_redirects=False)
            assert response.status_code == 303
            assert response.headers["location"] == "/kiosk?signed_out=1"

    def test_a_console_login_or_a_token_is_not_a_kiosk_session(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        _set_up(client, hall)
        token = make_token(session, user=make_user(session, role=Role.admin))
        response = client.get("/kiosk/home", headers=auth(token), follow_redirects=False)
        assert response.status_code == 303


class TestExamOnTheFirstScreen:
    def test_an_open_exam_then_one_in_progress_is_offered_on_todays_page(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        open_sitting(session, hall)
        signed_in(client, hall)
        paper_id = paper_of(session, hall.trainee.id).id
        home = client.get("/kiosk/home").text
        assert "现在可以开始" in home and f'href="/kiosk/exams/{paper_id}"' in home
        client.post(f"/kiosk/exams/{paper_id}/start")
        # A reboot later the trainee signs in again: the first screen says the time is running.
        client.post("/kiosk/sign-out")
        signed_in(client, hall)
        home = client.get("/kiosk/home").text
        assert "正在进行" in home and "继续考试" in home

    def test_a_paper_whose_time_is_up_is_not_offered(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        open_sitting(session, hall)
        signed_in(client, hall)
        paper_id = paper_of(session, hall.trainee.id).id
        client.post(f"/kiosk/exams/{paper_id}/start")
        let_time_pass(session, paper_id, 24 * 3600)
        home = client.get("/kiosk/home").text
        assert f'href="/kiosk/exams/{paper_id}"' not in home


class TestDemo:
    def test_make_run_lets_a_demo_trainee_sign_in_and_check_in(
        self, client: TestClient, session: Session, settings: Settings
    ) -> None:
        from server import demo, demo_kiosk

        loaded = demo.load(session, settings, ACTOR)
        made = loaded.kiosk
        assert made.pins >= 25 and made.setup_code and made.trainee_id_number
        response = client.post("/kiosk/setup", data={"code": made.setup_code})
        assert response.status_code == 200 and "KIOSK-01" in response.text
        home = client.post(
            "/kiosk/sign-in",
            data={"id_number": made.trainee_id_number, "pin": demo_kiosk.DEMO_PIN},
        )
        assert home.status_code == 200 and made.trainee_name in home.text  # type: ignore[operator]
        assert "理论考试签到（演示）" in home.text
        button = re.search(r'action="(/kiosk/sessions/\d+/check-in)"', home.text)
        assert button, "no session open for check-in now"
        assert "签到成功" in client.post(button.group(1)).text


class TestConsolePin:
    def test_a_trainer_sets_the_pin_on_the_trainee_page(
        self, client: TestClient, session: Session
    ) -> None:
        trainee = make_trainee(session)
        csrf = log_in(client, make_user(session, role=Role.trainer).username)
        page = client.get(f"/console/trainees/{trainee.id}")
        assert "自助终端 PIN 码" in page.text and "未设置" in page.text
        bad = client.post(
            f"/console/trainees/{trainee.id}/pin", data={"pin": "123456", "csrf_token": csrf}
        )
        assert bad.status_code == 422 and "太容易猜到" in bad.text
        done = client.post(
            f"/console/trainees/{trainee.id}/pin", data={"pin": "590314", "csrf_token": csrf}
        )
        assert done.status_code == 200 and "PIN 码已保存" in done.text
        assert "590314" not in done.text and "已设置" in done.text

    def test_an_examiner_sees_no_control(self, client: TestClient, session: Session) -> None:
        trainee = make_trainee(session)
        log_in(client, make_user(session, role=Role.examiner).username)
        page = client.get(f"/console/trainees/{trainee.id}")
        assert page.status_code == 200 and 'action="/console/trainees/' not in page.text


class TestSharedFailures:
    def test_a_wrong_console_password_keeps_the_kiosks_longer_lockout(
        self, db_url: str, session: Session
    ) -> None:
        from server.accounts import service as accounts
        from server.accounts.models import LoginFailure
        from server.errors import NotAuthenticated

        settings = Settings(
            database_url=db_url,
            environment=Environment.test,
            login_window_minutes=15,
            kiosk_pin_lockout_minutes=60,
        )
        at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)
        session.add(LoginFailure(account="id:x", address="kiosk:KIOSK-01", at=at))
        session.commit()
        with pytest.raises(NotAuthenticated):
            accounts.authenticate(session, settings, "nobody", "wrong-password", "10.0.0.1")
        session.rollback()
        kept = session.exec(select(LoginFailure).where(LoginFailure.account == "id:x")).all()
        assert len(kept) == 1
