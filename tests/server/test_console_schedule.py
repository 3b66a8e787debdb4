"""The planning console as a trainer uses it: calendar, courses, sessions, roster, attendance."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, insert
from sqlmodel import Session, func, select

from curricula.model import EducationLevel
from server.accounts.models import Role, User
from server.scheduling.models import (
    Attendance,
    ClassSession,
    Course,
    Enrolment,
    EnrolmentStatus,
)
from server.trainees.identity import Sex
from tests.factories import (
    enrol,
    form_token,
    local,
    log_in,
    make_course,
    make_room,
    make_session,
    make_station,
    make_trainee,
    make_user,
    resident_id,
)


class _Tables(HTMLParser):
    """Rows of every table in a page, each row a list of its cells' text."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th") and self.tables:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self.tables:
            self.tables[-1][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def tables(html: str) -> list[list[list[str]]]:
    parser = _Tables()
    parser.feed(html)
    return parser.tables


def row_of(html: str, first_cell: str) -> list[str]:
    """The first table row whose first cell starts with `first_cell`."""
    for table in tables(html):
        for row in table:
            if row and row[0].startswith(first_cell):
                return row
    raise AssertionError(f"no row starting with {first_cell!r}")


def count_sessions(session: Session) -> int:
    session.rollback()  # see what the server committed since
    return int(session.exec(select(func.count()).select_from(ClassSession)).one())


@contextmanager
def counting_queries(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", note)


@pytest.fixture
def trainer(session: Session) -> User:
    return make_user(session, role=Role.trainer)


@pytest.fixture
def csrf(client: TestClient, trainer: User) -> str:
    return log_in(client, trainer.username)


class TestCalendar:
    def test_session_sits_in_its_room_row_and_day_cell(
        self, client: TestClient, session: Session, trainer: User, csrf: str
    ) -> None:
        room = make_room(session, code="A101")
        other = make_room(session, code="B202")
        course = make_course(session, trainer=trainer)
        make_session(
            session, course=course, day="2026-12-02", room=room, instructor=trainer
        )  # a Wednesday
        page = client.get("/console/calendar", params={"week": "2026-W49"})
        assert page.status_code == 200
        assert "2026-11-30" in page.text and "2026-12-06" in page.text
        row = row_of(page.text, "A101")
        # row: room, Monday … Sunday
        wednesday = row[3]
        assert "09:00–12:00" in wednesday and course.code in wednesday
        assert "理论" in wednesday and trainer.display_name in wednesday
        assert all(course.code not in cell for i, cell in enumerate(row[1:], 1) if i != 3)
        assert course.code not in " ".join(row_of(page.text, other.code))
        assert f'href="/console/courses/{course.id}"' in page.text

    def test_week_navigation(
        self, client: TestClient, session: Session, trainer: User, csrf: str
    ) -> None:
        course = make_course(session, trainer=trainer)
        make_session(session, course=course, day="2026-12-08", start="14:00", end="16:00")
        week49 = client.get("/console/calendar", params={"week": "2026-W49"})
        assert course.code not in week49.text
        assert "这一周没有安排课次" in week49.text
        following = re.search(r'href="\?week=(2026-W\d\d)&amp;view=rooms" rel="next"', week49.text)
        assert following and following.group(1) == "2026-W50"
        week50 = client.get("/console/calendar", params={"week": following.group(1)})
        tuesday = row_of(week50.text, "未安排教室")[2]  # no room: the "no room" row
        assert "14:00–16:00" in tuesday and course.code in tuesday
        assert 'href="?week=2026-W49&amp;view=rooms" rel="prev"' in week50.text

    def test_station_view_shows_each_booked_station(
        self, client: TestClient, session: Session, trainer: User, csrf: str
    ) -> None:
        pods = [make_station(session, code="VR-71"), make_station(session, code="VR-72")]
        course = make_course(session, trainer=trainer)
        make_session(session, course=course, day="2026-12-05", kind="vr", stations=pods)
        page = client.get("/console/calendar", params={"week": "2026-W49", "view": "stations"})
        for code in ("VR-71", "VR-72"):
            saturday = row_of(page.text, code)[6]
            assert course.code in saturday and "VR 仿真" in saturday

    @pytest.mark.parametrize("week", ["2026-W60", "2026-49", "week"])
    def test_a_bad_week_is_refused_on_the_error_page(
        self, client: TestClient, csrf: str, week: str
    ) -> None:
        page = client.get("/console/calendar", params={"week": week})
        assert page.status_code == 422
        assert "出错了" in page.text

    def test_queries_do_not_grow_with_sessions(
        self, client: TestClient, session: Session, engine: Engine, trainer: User, csrf: str
    ) -> None:
        rooms = [make_room(session) for _ in range(3)]
        course = make_course(session, trainer=trainer)
        make_session(session, course=course, day="2026-12-01", room=rooms[0])
        with counting_queries(engine) as few:
            assert client.get("/console/calendar", params={"week": "2026-W49"}).is_success
        bulk_sessions(session, course, n=300, first=local("2026-11-30", "08:00"))
        with counting_queries(engine) as many:
            page = client.get("/console/calendar", params={"week": "2026-W49"})
        assert page.text.count(f'href="/console/courses/{course.id}"') == 301
        assert len(many) == len(few)


def bulk_sessions(session: Session, course: Course, *, n: int, first: dt.datetime) -> None:
    """n short sessions without room or instructor spread over a week, inserted directly."""
    rows = []
    for i in range(n):
        start = first + dt.timedelta(days=i % 7, minutes=(i // 7) * 15)
        rows.append(
            {
                "course_id": course.id,
                "kind": "theory",
                "title": "",
                "starts_at": start.astimezone(dt.UTC),
                "ends_at": (start + dt.timedelta(minutes=10)).astimezone(dt.UTC),
                "room_id": None,
                "instructor_id": None,
            }
        )
    session.execute(insert(ClassSession), rows)
    session.commit()


class TestCourseForm:
    def _post(self, client: TestClient, csrf: str, **fields: object) -> Any:
        data = {
            "csrf_token": csrf,
            "code": "NITR-2612",
            "title": "",
            "curriculum_code": "NITRATION",
            "starts_on": "2026-12-01",
            "ends_on": "2026-12-20",
            "capacity": "30",
        } | {k: str(v) for k, v in fields.items()}
        return client.post("/console/courses/new", data=data, follow_redirects=False)

    def test_create_a_course_and_see_it_listed(
        self, client: TestClient, session: Session, trainer: User, csrf: str
    ) -> None:
        form = client.get("/console/courses/new")
        assert form.status_code == 200 and "硝化" in form.text
        assert f'value="{trainer.id}" selected' in form.text  # a trainer leads by default
        response = self._post(client, csrf, lead_trainer_id=trainer.id)
        assert response.status_code == 303
        course = session.exec(select(Course).where(Course.code == "NITR-2612")).one()
        assert response.headers["location"] == f"/console/courses/{course.id}"
        listed = row_of(client.get("/console/courses").text, "NITR-2612")
        assert trainer.display_name in listed
        assert listed[6:8] == ["0", "0"]  # enrolled, waitlisted

    def test_bad_input_is_shown_by_the_fields_and_creates_nothing(
        self, client: TestClient, session: Session, trainer: User, csrf: str
    ) -> None:
        response = self._post(
            client, csrf, code="硝化班", ends_on="2026-11-01", lead_trainer_id=trainer.id
        )
        assert response.status_code == 422
        assert 'id="code-err"' in response.text and "只能包含字母" in response.text
        assert 'value="硝化班"' in response.text  # what was typed is kept
        assert session.exec(select(Course)).all() == []
        response = self._post(client, csrf, ends_on="2026-11-01", lead_trainer_id=trainer.id)
        assert response.status_code == 422
        assert 'id="ends_on-err"' in response.text and "结束必须晚于开始" in response.text
        assert session.exec(select(Course)).all() == []

    def test_lead_must_be_a_trainer(self, client: TestClient, session: Session, csrf: str) -> None:
        examiner = make_user(session, role=Role.examiner)
        response = self._post(client, csrf, lead_trainer_id=examiner.id)
        assert response.status_code == 422
        assert 'id="lead_trainer_id-err"' in response.text
        assert "不是在职的培训教师" in response.text
        assert session.exec(select(Course)).all() == []

    def test_duplicate_code_is_refused(
        self, client: TestClient, session: Session, trainer: User, csrf: str
    ) -> None:
        assert self._post(client, csrf, lead_trainer_id=trainer.id).status_code == 303
        again = self._post(client, csrf, lead_trainer_id=trainer.id)
        assert again.status_code == 409 and 'id="code-err"' in again.text
        session.rollback()
        assert len(session.exec(select(Course)).all()) == 1


class TestSessionsOnTheCoursePage:
    def test_add_a_session_through_the_form(
        self, client: TestClient, session: Session, trainer: User, csrf: str
    ) -> None:
        room = make_room(session, code="A101")
        course = make_course(session, trainer=trainer)
        response = client.post(
            f"/console/courses/{course.id}/sessions",
            data={
                "csrf_token": csrf,
                "kind": "practical",
                "title": "硝化反应釜开停车",
                "day": "2026-12-03",
                "start_time": "13:30",
                "end_time": "17:30",
                "room_id": str(room.id),
                "instructor_id": str(trainer.id),
            },
            follow_redirects=False,
        )
        assert response.status_code == 303
        page = client.get(response.headers["location"])
        assert "已添加课次" in page.text
        row = row_of(page.text, "2026-12-03 13:30–17:30")
        assert row[1:6] == ["实操", "硝化反应釜开停车", "A101", "", trainer.display_name]
        assert "/sign-in" in page.text
        assert row_of(page.text, "实操")[2] == "4"  # planned hours
        stored = session.exec(select(ClassSession)).one()
        assert stored.starts_at == local("2026-12-03", "13:30")

    def test_a_clash_shows_every_clash_and_stores_nothing(
        self, client: TestClient, session: Session, trainer: User, csrf: str
    ) -> None:
        room = make_room(session, code="A101", capacity=10)
        other = make_course(session, trainer=trainer, capacity=10)
        make_session(session, course=other, day="2026-12-02", room=room, instructor=trainer)
        course = make_course(session, trainer=trainer, capacity=30)
        before = count_sessions(session)
        response = client.post(
            f"/console/courses/{course.id}/sessions",
            data={
                "csrf_token": csrf,
                "kind": "theory",
                "day": "2026-12-02",
                "start_time": "10:00",
                "end_time": "11:00",
                "room_id": str(room.id),
                "instructor_id": str(trainer.id),
            },
        )
        assert response.status_code == 409
        assert "共 3 处冲突" in response.text
        clashes = next(t for t in tables(response.text) if t[0][1] == "冲突类型")[1:]
        assert [c[1] for c in clashes] == ["教室容量不足", "教室已被占用", "教师另有课"]
        assert clashes[1][4] == other.code and clashes[2][4] == other.code
        assert "2026-12-02 09:00–12:00" in clashes[1][3]
        assert "没有保存任何内容" in response.text
        assert 'id="s-room_id-err"' in response.text  # and each is named by its field
        assert 'id="s-instructor_id-err"' in response.text
        assert 'value="10:00"' in response.text  # the form keeps what was typed
        assert count_sessions(session) == before

    def test_a_pattern_adds_every_occurrence(
        self, client: TestClient, session: Session, trainer: User, csrf: str
    ) -> None:
        course = make_course(session, trainer=trainer)
        response = client.post(
            f"/console/courses/{course.id}/patterns",
            data={
                "csrf_token": csrf,
                "kind": "theory",
                "weekdays": ["1", "3"],
                "start_time": "09:00",
                "end_time": "11:00",
                "from_date": "2026-12-01",
                "to_date": "2026-12-14",
                "skip_dates": "2026-12-09， 2026-12-14",
            },
            follow_redirects=False,
        )
        assert response.status_code == 303
        page = client.get(response.headers["location"])
        assert "已添加 2 次课" in page.text  # Wed 2nd and Mon 7th; 9th and 14th skipped
        assert "2026-12-02 09:00–11:00" in page.text and "2026-12-07 09:00–11:00" in page.text
        assert count_sessions(session) == 2

    def test_a_clashing_pattern_lists_each_clash_and_stores_none(
        self, client: TestClient, session: Session, trainer: User, csrf: str
    ) -> None:
        room = make_room(session, code="A101")
        other = make_course(session, trainer=trainer)
        for day in ("2026-12-07", "2026-12-14"):
            make_session(session, course=other, day=day, room=room)
        course = make_course(session, trainer=trainer)
        response = client.post(
            f"/console/courses/{course.id}/patterns",
            data={
                "csrf_token": csrf,
                "kind": "theory",
                "weekdays": "1",
                "start_time": "08:30",
                "end_time": "10:00",
                "from_date": "2026-12-01",
                "to_date": "2026-12-21",
                "room_id": str(room.id),
            },
        )
        assert response.status_code == 409
        assert "共 2 处冲突" in response.text
        assert "2026-12-07 09:00–12:00" in response.text
        assert "2026-12-14 09:00–12:00" in response.text
        assert count_sessions(session) == 2

    def test_a_form_mistake_is_named_by_its_field(
        self, client: TestClient, session: Session, trainer: User, csrf: str
    ) -> None:
        course = make_course(session, trainer=trainer)
        response = client.post(
            f"/console/courses/{course.id}/sessions",
            data={
                "csrf_token": csrf,
                "kind": "theory",
                "day": "",
                "start_time": "11:00",
                "end_time": "10:00",
            },
        )
        assert response.status_code == 422
        assert 'id="s-day-err"' in response.text and 'id="s-end_time-err"' in response.text
        response = client.post(
            f"/console/courses/{course.id}/sessions",
            data={
                "csrf_token": csrf,
                "kind": "theory",
                "day": "2027-01-05",
                "start_time": "09:00",
                "end_time": "10:00",
            },
        )
        assert response.status_code == 422
        assert "课次须在班级日期" in response.text and 'id="s-day-err"' in response.text
        assert count_sessions(session) == 0

    def test_a_missing_course_is_a_404_page(self, client: TestClient, csrf: str) -> None:
        page = client.get("/console/courses/999")
        assert page.status_code == 404 and "班级 999 不存在" in page.text
        posted = client.post(
            "/console/courses/999/sessions", data={"csrf_token": csrf, "kind": "theory"}
        )
        assert posted.status_code == 404

    def test_examiner_reads_without_forms(self, client: TestClient, session: Session) -> None:
        course = make_course(session)
        make_session(session, course=course)
        examiner = make_user(session, role=Role.examiner)
        log_in(client, examiner.username)
        page = client.get(f"/console/courses/{course.id}")
        assert page.status_code == 200
        assert "学时计划" in page.text and "2026-12-01 09:00–12:00" in page.text
        assert '/sessions"' not in page.text and "添加课次" not in page.text


class TestRoster:
    def _enrol(self, client: TestClient, csrf: str, course: Course, key: str) -> Any:
        return client.post(
            f"/console/courses/{course.id}/enrolments",
            data={"csrf_token": csrf, "trainee": key},
            follow_redirects=False,
        )

    def test_enrol_by_id_number_then_waitlist_when_full(
        self, client: TestClient, session: Session, trainer: User, csrf: str
    ) -> None:
        course = make_course(session, trainer=trainer, capacity=1)
        first = make_trainee(session, name="王强")
        second = make_trainee(session, name="李娜", id_number=resident_id(sex=Sex.female))
        response = self._enrol(client, csrf, course, f" {first.id_number.lower()} ")
        assert response.status_code == 303
        assert "报名成功" in client.get(response.headers["location"]).text
        response = self._enrol(client, csrf, course, second.badge)
        page = client.get(response.headers["location"])
        assert "已进入候补名单" in page.text
        assert row_of(page.text, "第 1 位")[1] == "李娜"
        assert row_of(page.text, "1")[1] == "王强"
        assert first.id_number not in page.text  # masked on the roster
        assert row_of(client.get("/console/courses").text, course.code)[6:8] == ["1 已满", "1"]

    def test_unknown_number_is_named_by_the_field(
        self, client: TestClient, session: Session, trainer: User, csrf: str
    ) -> None:
        course = make_course(session, trainer=trainer)
        response = self._enrol(client, csrf, course, "110101199001010000")
        assert response.status_code == 422
        assert 'id="e-trainee-err"' in response.text and "请先登记学员" in response.text

    def test_not_eligible_is_422_with_the_reason(
        self, client: TestClient, session: Session, trainer: User, csrf: str
    ) -> None:
        course = make_course(session, trainer=trainer)
        trainee = make_trainee(session, education=EducationLevel.junior_high)
        response = self._enrol(client, csrf, course, trainee.id_number)
        assert response.status_code == 422
        assert "文化程度" in response.text
        assert session.exec(select(Enrolment)).all() == []

    def test_a_trainee_busy_elsewhere_is_refused_with_the_clash(
        self, client: TestClient, session: Session, trainer: User, csrf: str
    ) -> None:
        trainee = make_trainee(session, name="孙丽")
        other = make_course(session, trainer=trainer)
        make_session(session, course=other, day="2026-12-02")
        enrol(session, course=other, trainee=trainee)
        course = make_course(session, trainer=trainer)
        make_session(session, course=course, day="2026-12-02", start="10:00", end="11:00")
        response = self._enrol(client, csrf, course, trainee.badge)
        assert response.status_code == 409
        clash = row_of(response.text, "1")
        assert clash[1:5] == ["学员另有课", "孙丽", "2026-12-02 09:00–12:00", other.code]
        assert 'id="e-trainee-err"' in response.text
        assert len(session.exec(select(Enrolment)).all()) == 1

    def test_withdraw_promotes_the_first_waiting(
        self, client: TestClient, session: Session, trainer: User, csrf: str
    ) -> None:
        course = make_course(session, trainer=trainer, capacity=1)
        seated = enrol(session, course=course, trainee=make_trainee(session, name="甲"))
        waiting = enrol(session, course=course, trainee=make_trainee(session, name="乙"))
        assert waiting.status == EnrolmentStatus.waitlisted
        page = client.get(f"/console/courses/{course.id}")
        action = f"/console/courses/{course.id}/enrolments/{seated.id}/withdraw"
        assert f'action="{action}"' in page.text
        response = client.post(action, data={"csrf_token": csrf}, follow_redirects=False)
        assert response.status_code == 303
        page = client.get(response.headers["location"])
        assert "候补第一位已转为正式报名" in page.text
        assert row_of(page.text, "1")[1] == "乙"
        assert "没有候补学员" in page.text
        assert status_of(session, waiting) == EnrolmentStatus.enrolled
        again = client.post(action, data={"csrf_token": csrf})
        assert again.status_code == 409 and "已退出该班级" in again.text

    def test_withdraw_of_another_course_is_404(
        self, client: TestClient, session: Session, trainer: User, csrf: str
    ) -> None:
        course = make_course(session, trainer=trainer)
        elsewhere = enrol(
            session,
            course=make_course(session),
            trainee=make_trainee(session),
        )
        response = client.post(
            f"/console/courses/{course.id}/enrolments/{elsewhere.id}/withdraw",
            data={"csrf_token": csrf},
        )
        assert response.status_code == 404
        assert status_of(session, elsewhere) == EnrolmentStatus.enrolled


def status_of(session: Session, e: Enrolment) -> str:
    """The enrolment's status as the server left it (not this session's cached copy)."""
    session.rollback()
    return session.exec(select(Enrolment.status).where(Enrolment.id == e.id)).one()


class TestAttendanceSheet:
    def _mark(
        self, client: TestClient, csrf: str, row: ClassSession, trainee_id: int, **f: str
    ) -> Any:
        return client.post(
            f"/console/sessions/{row.id}/attendance",
            data={"csrf_token": csrf, "trainee_id": str(trainee_id), **f},
            follow_redirects=False,
        )

    def test_mark_times_and_see_credited_minutes(
        self, client: TestClient, session: Session, trainer: User, csrf: str
    ) -> None:
        course = make_course(session, trainer=trainer)
        row = make_session(session, course=course, day="2026-12-01")
        trainee = make_trainee(session, name="赵敏")
        enrol(session, course=course, trainee=trainee)
        assert trainee.id is not None
        response = self._mark(
            client,
            csrf,
            row,
            trainee.id,
            checked_in_at="2026-12-01T09:10",
            checked_out_at="2026-12-01T11:40",
        )
        assert response.status_code == 303
        page = client.get(response.headers["location"])
        assert "考勤已保存" in page.text
        line = row_of(page.text, "1")
        assert line[1] == "赵敏"
        assert line[3:8] == ["2026-12-01 09:10", "2026-12-01 11:40", "150", "10 迟到", "20 早退"]
        progress = client.get(f"/console/courses/{course.id}")
        assert "2.5 / " in row_of(progress.text, "赵敏")[1]

    def test_changing_a_record_needs_a_reason(
        self, client: TestClient, session: Session, trainer: User, csrf: str
    ) -> None:
        course = make_course(session, trainer=trainer)
        row = make_session(session, course=course, day="2026-12-01")
        trainee = make_trainee(session)
        enrol(session, course=course, trainee=trainee)
        assert trainee.id is not None
        times = {"checked_in_at": "2026-12-01T09:00", "checked_out_at": "2026-12-01T12:00"}
        assert self._mark(client, csrf, row, trainee.id, **times).status_code == 303
        later = times | {"checked_out_at": "2026-12-01T11:00"}
        refused = self._mark(client, csrf, row, trainee.id, **later)
        assert refused.status_code == 422
        assert f'id="m{trainee.id}-reason-err"' in refused.text
        session.rollback()
        stored = session.exec(select(Attendance)).one()
        assert stored.checked_out_at == local("2026-12-01", "12:00")
        fixed = self._mark(client, csrf, row, trainee.id, **later, reason="提前离开，经班主任核实")
        assert fixed.status_code == 303
        page = client.get(fixed.headers["location"])
        assert row_of(page.text, "1")[5] == "120" and "已更正" in page.text

    def test_missing_check_out_is_said_in_words(
        self, client: TestClient, session: Session, trainer: User, csrf: str
    ) -> None:
        course = make_course(session, trainer=trainer, starts_on="2026-01-05", ends_on="2026-01-30")
        row = make_session(session, course=course, day="2026-01-06")
        trainee = make_trainee(session)
        enrol(session, course=course, trainee=trainee)
        assert trainee.id is not None
        self._mark(client, csrf, row, trainee.id, checked_in_at="2026-01-06T08:55")
        page = client.get(f"/console/sessions/{row.id}")
        line = row_of(page.text, "1")
        assert "缺签退" in line[4] and line[5] == "0"
        en = client.get(f"/console/sessions/{row.id}", params={"lang": "en"})
        assert "missing check-out" in en.text

    def test_a_trainee_not_enrolled_is_refused(
        self, client: TestClient, session: Session, trainer: User, csrf: str
    ) -> None:
        course = make_course(session, trainer=trainer)
        row = make_session(session, course=course)
        enrol(session, course=course, trainee=make_trainee(session))
        stranger = make_trainee(session)
        assert stranger.id is not None
        response = self._mark(client, csrf, row, stranger.id, checked_in_at="2026-12-01T09:00")
        assert response.status_code == 403 and "没有报名这个班级" in response.text
        assert session.exec(select(Attendance)).all() == []

    def test_a_missing_session_is_a_404_page(self, client: TestClient, csrf: str) -> None:
        for path in ("/console/sessions/999", "/console/sessions/999/sign-in"):
            page = client.get(path)
            assert page.status_code == 404 and "课次 999 不存在" in page.text


class TestSignInSheet:
    def test_masked_numbers_and_blank_columns_for_handwriting(
        self, client: TestClient, session: Session, trainer: User, csrf: str
    ) -> None:
        room = make_room(session, code="A101")
        course = make_course(session, trainer=trainer)
        row = make_session(session, course=course, day="2026-12-02", room=room, instructor=trainer)
        number = resident_id()
        enrol(
            session,
            course=course,
            trainee=make_trainee(session, name="钱多多", id_number=number, employer="滨江化工"),
        )
        page = client.get(f"/console/sessions/{row.id}/sign-in")
        assert page.status_code == 200
        assert "签到表" in page.text and "化工安全实训基地" in page.text
        assert course.code in page.text and "理论" in page.text and "A101" in page.text
        assert "2026-12-02" in page.text and "09:00–12:00" in page.text
        assert trainer.display_name in page.text
        header = row_of(page.text, "序号")
        assert header == ["序号", "姓名", "工作单位", "证件号码", "签到", "签退", "签名"]
        line = row_of(page.text, "1")
        assert line == ["1", "钱多多", "滨江化工", number[:4] + "*" * 10 + number[-4:], "", "", ""]
        assert number not in page.text
        assert "<nav" not in page.text and "退出登录" not in page.text  # nothing but the sheet


class TestLanguage:
    def test_calendar_in_english(
        self, client: TestClient, session: Session, trainer: User, csrf: str
    ) -> None:
        course = make_course(session, trainer=trainer)
        make_session(session, course=course, day="2026-12-02")
        page = client.get("/console/calendar", params={"week": "2026-W49", "lang": "en"})
        assert 'lang="en"' in page.text
        assert "Calendar" in page.text and "Wednesday" in page.text
        assert "Theory" in row_of(page.text, "No room")[3]
        assert "排课日历" not in page.text and "星期三" not in page.text

    @pytest.mark.parametrize("lang", ["zh", "en"])
    def test_every_page_renders_in_both_languages(
        self, client: TestClient, session: Session, trainer: User, csrf: str, lang: str
    ) -> None:
        course = make_course(session, trainer=trainer)
        row = make_session(session, course=course, room=make_room(session))
        enrol(session, course=course, trainee=make_trainee(session))
        enrol(session, course=course, trainee=make_trainee(session))
        for path in (
            "/console",
            "/console/calendar",
            "/console/calendar?view=stations",
            "/console/courses",
            "/console/courses/new",
            f"/console/courses/{course.id}",
            f"/console/sessions/{row.id}",
            f"/console/sessions/{row.id}/sign-in",
        ):
            page = client.get(path, params={"lang": lang})
            assert page.status_code == 200, path
            assert form_token(page.text) if "sign-in" not in path else True
