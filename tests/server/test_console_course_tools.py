"""Console actions around a course: downloads, roster files, cancelling sessions, calendar feeds."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from server.accounts.models import Role, User
from server.audit.models import AuditEvent
from server.scheduling import attendance
from server.scheduling.models import ClassSession, Enrolment, FeedKey
from tests.factories import (
    ACTOR,
    enrol,
    local,
    log_in,
    make_course,
    make_room,
    make_session,
    make_trainee,
    make_user,
    resident_id,
)
from tests.server.test_console_schedule import row_of


@pytest.fixture
def trainer(session: Session) -> User:
    return make_user(session, role=Role.trainer)


@pytest.fixture
def csrf(client: TestClient, trainer: User) -> str:
    return log_in(client, trainer.username)


def roster_csv(rows: list[tuple[str, str]]) -> bytes:
    lines = ["姓名,证件号码,手机号,工作单位,文化程度"] + [
        f"{name},{number},13800138000,滨江化工,高中" for name, number in rows
    ]
    return ("\n".join(lines) + "\n").encode("utf-8-sig")


class TestAttendanceDownload:
    def _course_with_one_present(self, session: Session, trainer: User) -> tuple[int, str]:
        course = make_course(session, trainer=trainer)
        row = make_session(session, course=course, day="2026-12-02", instructor=trainer)
        trainee = make_trainee(session, name="周杰")
        enrol(session, course=course, trainee=trainee)
        assert row.id is not None and trainee.id is not None and course.id is not None
        attendance.mark(
            session,
            ACTOR,
            row.id,
            trainee.id,
            local("2026-12-02", "09:10"),
            local("2026-12-02", "12:00"),
            None,
        )
        return course.id, trainee.id_number

    def test_csv_has_credited_minutes_and_masks_numbers_for_an_examiner(
        self, client: TestClient, session: Session, trainer: User
    ) -> None:
        course_id, number = self._course_with_one_present(session, trainer)
        examiner = make_user(session, role=Role.examiner)
        log_in(client, examiner.username)
        response = client.get(f"/console/courses/{course_id}/attendance.csv")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert "attachment" in response.headers["content-disposition"]
        text = response.content.decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text)))
        line = next(r for r in rows if "周杰" in r)
        assert "170" in line  # 09:10–12:00 present: 170 credited minutes
        assert number not in text

    def test_the_course_page_links_both_formats_and_xlsx_opens(
        self, client: TestClient, session: Session, trainer: User, csrf: str
    ) -> None:
        course_id, _ = self._course_with_one_present(session, trainer)
        page = client.get(f"/console/courses/{course_id}")
        assert f'href="/console/courses/{course_id}/attendance.xlsx"' in page.text
        assert f'href="/console/courses/{course_id}/attendance.csv"' in page.text
        response = client.get(f"/console/courses/{course_id}/attendance.xlsx")
        assert response.status_code == 200
        book = openpyxl.load_workbook(io.BytesIO(response.content))
        cells = [c for row in book.active.iter_rows(values_only=True) for c in row]
        assert "周杰" in cells

    def test_an_unknown_format_is_a_404_page(
        self, client: TestClient, session: Session, trainer: User, csrf: str
    ) -> None:
        course_id, _ = self._course_with_one_present(session, trainer)
        response = client.get(f"/console/courses/{course_id}/attendance.pdf")
        assert response.status_code == 404
        assert "没有这种文件格式" in response.text


class TestRosterFile:
    def _upload(
        self, client: TestClient, csrf: str, course_id: int, data: bytes, **extra: str
    ) -> str:
        response = client.post(
            f"/console/courses/{course_id}/enrolments/roster",
            data={"csrf_token": csrf, **extra},
            files={"file": ("名单.csv", data, "text/csv")},
        )
        self.status = response.status_code
        return response.text

    def test_each_row_gets_its_outcome_in_file_order(
        self, client: TestClient, session: Session, trainer: User, csrf: str
    ) -> None:
        course = make_course(session, trainer=trainer, capacity=1)
        assert course.id is not None
        data = roster_csv(
            [
                ("新甲", resident_id()),
                ("少年", resident_id(birth=dt.date(2012, 1, 1))),
                ("新乙", resident_id()),
            ]
        )
        page = self._upload(client, csrf, course.id, data)
        assert self.status == 200
        assert "报名 1 人，候补 1 人，未能报名 1 人" in page
        assert row_of(page, "2")[1:3] == ["新甲", "已报名"]
        young = row_of(page, "3")
        assert young[1:3] == ["少年", "未能报名"] and "18" in young[3]
        assert row_of(page, "4")[1:3] == ["新乙", "候补"]
        session.rollback()
        assert sorted(e.status for e in session.exec(select(Enrolment)).all()) == [
            "enrolled",
            "waitlisted",
        ]

    def test_a_bad_row_lists_row_and_column_and_enrols_nobody(
        self, client: TestClient, session: Session, trainer: User, csrf: str
    ) -> None:
        course = make_course(session, trainer=trainer)
        assert course.id is not None
        page = self._upload(
            client, csrf, course.id, roster_csv([("甲", resident_id()), ("乙", "123")])
        )
        assert self.status == 422
        assert "没有登记或报名任何人" in page
        bad = row_of(page, "3")
        assert bad[1] == "证件号码" and bad[3] == "123"
        session.rollback()
        assert session.exec(select(Enrolment)).all() == []

    def test_valid_only_enrols_the_good_rows(
        self, client: TestClient, session: Session, trainer: User, csrf: str
    ) -> None:
        course = make_course(session, trainer=trainer)
        assert course.id is not None
        data = roster_csv([("甲", resident_id()), ("乙", "123")])
        page = self._upload(client, csrf, course.id, data, valid_only="true")
        assert self.status == 200
        assert "报名 1 人" in page and "已跳过" in page
        session.rollback()
        assert len(session.exec(select(Enrolment)).all()) == 1

    def test_an_examiner_may_not_upload(
        self, client: TestClient, session: Session, trainer: User
    ) -> None:
        course = make_course(session, trainer=trainer)
        assert course.id is not None
        examiner = make_user(session, role=Role.examiner)
        token = log_in(client, examiner.username)
        self._upload(client, token, course.id, roster_csv([("甲", resident_id())]))
        assert self.status == 403
        session.rollback()
        assert session.exec(select(Enrolment)).all() == []


class TestCancelSession:
    def test_cancel_with_a_reason_removes_it_and_audits(
        self, client: TestClient, session: Session, trainer: User, csrf: str
    ) -> None:
        course = make_course(session, trainer=trainer)
        row = make_session(session, course=course, day="2026-12-04", instructor=trainer)
        response = client.post(
            f"/console/sessions/{row.id}/cancel",
            data={"csrf_token": csrf, "reason": "教室停电检修"},
            follow_redirects=False,
        )
        assert response.status_code == 303
        page = client.get(response.headers["location"])
        assert "课次已取消" in page.text
        session.rollback()
        assert session.exec(select(ClassSession).where(ClassSession.id == row.id)).first() is None
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "session.delete")).one()
        assert event.reason == "教室停电检修"

    def test_no_reason_keeps_the_session_and_names_the_field(
        self, client: TestClient, session: Session, trainer: User, csrf: str
    ) -> None:
        course = make_course(session, trainer=trainer)
        row = make_session(session, course=course, day="2026-12-04", instructor=trainer)
        response = client.post(
            f"/console/sessions/{row.id}/cancel", data={"csrf_token": csrf, "reason": " "}
        )
        assert response.status_code == 422
        assert f'id="c{row.id}-reason-err"' in response.text
        session.rollback()
        assert session.get(ClassSession, row.id) is not None

    def test_a_session_with_attendance_is_kept_with_the_reason(
        self, client: TestClient, session: Session, trainer: User, csrf: str
    ) -> None:
        course = make_course(session, trainer=trainer)
        row = make_session(session, course=course, day="2026-12-04", instructor=trainer)
        trainee = make_trainee(session)
        enrol(session, course=course, trainee=trainee)
        assert row.id is not None and trainee.id is not None
        attendance.mark(
            session, ACTOR, row.id, trainee.id, local("2026-12-04", "09:00"), None, None
        )
        response = client.post(
            f"/console/sessions/{row.id}/cancel", data={"csrf_token": csrf, "reason": "改期"}
        )
        assert response.status_code == 409
        assert "该课次已有考勤记录，不能删除" in response.text
        session.rollback()
        assert session.get(ClassSession, row.id) is not None


class TestClashOnTheCalendar:
    def test_a_clash_links_to_the_other_session_on_its_week(
        self, client: TestClient, session: Session, trainer: User, csrf: str
    ) -> None:
        room = make_room(session, code="B202")
        other = make_course(session, trainer=trainer)
        taken = make_session(session, course=other, day="2026-12-09", room=room)
        course = make_course(session, trainer=trainer)
        response = client.post(
            f"/console/courses/{course.id}/sessions",
            data={
                "csrf_token": csrf,
                "kind": "theory",
                "day": "2026-12-09",
                "start_time": "10:00",
                "end_time": "11:00",
                "room_id": str(room.id),
            },
        )
        assert response.status_code == 409
        link = f"/console/calendar?week=2026-W50&amp;view=rooms#s{taken.id}"
        assert link in response.text
        week = client.get("/console/calendar?week=2026-W50&view=rooms")
        assert f'id="s{taken.id}"' in week.text  # the anchor the link points at


class TestCalendarFeeds:
    def _feed_url(self, html: str) -> str:
        match = re.search(r'value="(http[^"]+/feeds/[^"]+\.ics)"', html)
        assert match, "no feed address on the page"
        return match.group(1)

    def test_course_feed_is_shown_once_and_serves_the_sessions(
        self, client: TestClient, session: Session, trainer: User, csrf: str
    ) -> None:
        course = make_course(session, trainer=trainer)
        make_session(session, course=course, day="2026-12-07", instructor=trainer)
        response = client.post(
            "/console/calendar-feeds",
            data={"csrf_token": csrf, "subject_type": "course", "subject_id": str(course.id)},
        )
        assert response.status_code == 201
        url = self._feed_url(response.text)
        feed = client.get(url.removeprefix("http://testserver"))
        assert feed.status_code == 200
        assert feed.text.count("BEGIN:VEVENT") == 1
        listed = client.get("/console/calendar-feeds")
        assert course.code in listed.text
        assert url.split("/feeds/")[1] not in listed.text  # the secret is never shown again

    def test_revoke_stops_the_feed(
        self, client: TestClient, session: Session, trainer: User, csrf: str
    ) -> None:
        response = client.post(
            "/console/calendar-feeds",
            data={"csrf_token": csrf, "subject_type": "trainer", "subject_id": str(trainer.id)},
        )
        url = self._feed_url(response.text).removeprefix("http://testserver")
        key = session.exec(select(FeedKey)).one()
        revoked = client.post(
            f"/console/calendar-feeds/{key.id}/revoke",
            data={"csrf_token": csrf},
            follow_redirects=False,
        )
        assert revoked.status_code == 303
        assert "订阅地址已吊销" in client.get(revoked.headers["location"]).text
        assert client.get(url).status_code == 404

    def test_an_examiner_may_not_make_another_teachers_feed(
        self, client: TestClient, session: Session, trainer: User
    ) -> None:
        examiner = make_user(session, role=Role.examiner)
        token = log_in(client, examiner.username)
        response = client.post(
            "/console/calendar-feeds",
            data={"csrf_token": token, "subject_type": "trainer", "subject_id": str(trainer.id)},
        )
        assert response.status_code == 403
        assert "只能为本人创建日历订阅" in response.text
        session.rollback()
        assert session.exec(select(FeedKey)).all() == []

    def test_another_trainers_feed_cannot_be_revoked(
        self, client: TestClient, session: Session, trainer: User, csrf: str
    ) -> None:
        client.post(
            "/console/calendar-feeds",
            data={"csrf_token": csrf, "subject_type": "trainer", "subject_id": str(trainer.id)},
        )
        key = session.exec(select(FeedKey)).one()
        other = make_user(session, role=Role.trainer)
        token = log_in(client, other.username)
        assert client.get("/console/calendar-feeds").text.count('id="feed-') == 0
        response = client.post(
            f"/console/calendar-feeds/{key.id}/revoke", data={"csrf_token": token}
        )
        assert response.status_code == 403
        session.rollback()
        assert session.get(FeedKey, key.id).revoked_at is None  # type: ignore[union-attr]
