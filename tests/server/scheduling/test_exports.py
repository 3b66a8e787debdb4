"""Attendance exports: CSV (UTF-8 with BOM) and XLSX with the same numbers; ID numbers masked by role."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlmodel import Session

from server.accounts.models import Role
from server.scheduling import attendance
from server.scheduling.models import ClassSession, Course
from server.trainees.identity import mask_id_number
from server.trainees.models import Trainee
from tests.factories import (
    ACTOR,
    auth,
    enrol,
    local,
    make_course,
    make_session,
    make_token,
    make_trainee,
    make_user,
)

HEADER = [
    "姓名 Name",
    "证件号码 ID number",
    "工作单位 Employer",
    "12-01 09:00 理论",
    "12-02 14:00 实操",
    "12-03 09:00 VR 仿真",
    "理论 学时 Theory hours",
    "理论 要求学时 Theory required hours",
    "实操 学时 Practical hours",
    "实操 要求学时 Practical required hours",
    "VR 仿真 学时 VR hours",
    "VR 仿真 要求学时 VR required hours",
    "体验装置 学时 Rig hours",
    "体验装置 要求学时 Rig required hours",
    "是否完成 Complete",
]


class Fixture:
    def __init__(self, session: Session) -> None:
        self.course: Course = make_course(session)  # NITRATION: 48 h theory, 16 practical, 8 VR
        self.theory = make_session(session, course=self.course, day="2026-12-01")
        self.practical = make_session(
            session,
            course=self.course,
            day="2026-12-02",
            start="14:00",
            end="17:00",
            kind="practical",
        )
        self.vr = make_session(
            session, course=self.course, day="2026-12-03", start="09:00", end="11:00", kind="vr"
        )
        self.li: Trainee = make_trainee(session, name="李娜", employer="江海精细化工有限公司")
        self.wang: Trainee = make_trainee(session, name="王强", employer="滨江硝基化学有限公司")
        for t in (self.wang, self.li):
            enrol(session, course=self.course, trainee=t)
        self._mark(session, self.theory, self.li, "2026-12-01", "08:50", "12:05")  # 180
        self._mark(session, self.practical, self.li, "2026-12-02", "14:20", "17:00")  # 160
        self._mark(session, self.theory, self.wang, "2026-12-01", "09:00", "11:30")  # 150

    @staticmethod
    def _mark(
        session: Session, row: ClassSession, t: Trainee, day: str, start: str, end: str
    ) -> None:
        assert row.id is not None and t.id is not None
        attendance.mark(
            session, ACTOR, row.id, t.id, local(day, start), local(day, end), reason=None
        )


@pytest.fixture
def data(session: Session) -> Fixture:
    return Fixture(session)


def _token(session: Session, role: Role) -> str:
    return make_token(session, user=make_user(session, role=role))


def _csv(client: TestClient, token: str, course: Course) -> list[list[str]]:
    r = client.get(f"/api/v1/courses/{course.id}/attendance.csv", headers=auth(token))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    return list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))


def _xlsx(client: TestClient, token: str, course: Course) -> list[list[object]]:
    r = client.get(f"/api/v1/courses/{course.id}/attendance.xlsx", headers=auth(token))
    assert r.status_code == 200, r.text
    sheet = load_workbook(io.BytesIO(r.content)).active
    assert sheet is not None
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def _excel_text(value: str) -> str:
    """How the CSV writes a long run of digits, so that Excel keeps it as text."""
    return f'="{value}"' if value.isdigit() else value


class TestCsv:
    def test_header_and_credited_minutes(
        self, client: TestClient, session: Session, data: Fixture
    ) -> None:
        rows = _csv(client, _token(session, Role.trainer), data.course)
        assert rows[0] == HEADER
        li, wang = rows[1:]
        assert li[0] == "李娜" and li[2] == "江海精细化工有限公司"
        assert li[3:] == [
            "180", "160", "",
            "3.0", "48.0", "2.7", "16.0", "0.0", "8.0", "0.0", "0.0",
            "否 No",
        ]  # fmt: skip
        assert wang[0] == "王强"
        assert wang[3:6] == ["150", "", ""]  # blank: no attendance record
        assert wang[6] == "2.5"

    def test_the_file_is_named_after_the_course(
        self, client: TestClient, session: Session, data: Fixture
    ) -> None:
        token = _token(session, Role.admin)
        for ext in ("csv", "xlsx"):
            r = client.get(
                f"/api/v1/courses/{data.course.id}/attendance.{ext}", headers=auth(token)
            )
            disposition = r.headers["content-disposition"]
            assert disposition.startswith("attachment;")
            assert f'filename="attendance-{data.course.code}.{ext}"' in disposition

    @pytest.mark.parametrize("role", [Role.admin, Role.trainer])
    def test_admins_and_trainers_see_full_id_numbers(
        self, client: TestClient, session: Session, data: Fixture, role: Role
    ) -> None:
        rows = _csv(client, _token(session, role), data.course)
        assert rows[1][1] == _excel_text(data.li.id_number)

    def test_examiners_see_masked_id_numbers(
        self, client: TestClient, session: Session, data: Fixture
    ) -> None:
        token = _token(session, Role.examiner)
        r = client.get(f"/api/v1/courses/{data.course.id}/attendance.csv", headers=auth(token))
        rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
        assert [row[1] for row in rows[1:]] == [
            mask_id_number(data.li.id_number),
            mask_id_number(data.wang.id_number),
        ]
        assert data.li.id_number not in r.text and data.wang.id_number not in r.text

    def test_text_that_looks_like_a_formula_stays_text(
        self, client: TestClient, session: Session
    ) -> None:
        course = make_course(session)
        enrol(session, course=course, trainee=make_trainee(session, employer="=HYPERLINK(1)"))
        token = _token(session, Role.trainer)
        assert _csv(client, token, course)[1][2] == "'=HYPERLINK(1)"
        r = client.get(f"/api/v1/courses/{course.id}/attendance.xlsx", headers=auth(token))
        sheet = load_workbook(io.BytesIO(r.content)).active
        assert sheet is not None
        assert (sheet["C2"].value, sheet["C2"].data_type) == ("=HYPERLINK(1)", "s")  # not a formula

    def test_an_unknown_course_is_404(self, client: TestClient, session: Session) -> None:
        r = client.get(
            "/api/v1/courses/99999/attendance.csv", headers=auth(_token(session, Role.trainer))
        )
        assert r.status_code == 404
        assert r.json()["error"] == "course_not_found"


class TestXlsx:
    def test_the_same_numbers_as_the_csv(
        self, client: TestClient, session: Session, data: Fixture
    ) -> None:
        token = _token(session, Role.trainer)
        rows = _xlsx(client, token, data.course)
        assert rows[0] == HEADER
        li, wang = rows[1:]
        assert li[:3] == ["李娜", data.li.id_number, "江海精细化工有限公司"]
        assert li[3:] == [180, 160, None, 3.0, 48.0, 2.7, 16.0, 0.0, 8.0, 0.0, 0.0, "否 No"]
        assert wang[3:7] == [150, None, None, 2.5]
        text = _csv(client, token, data.course)
        for xlsx_row, csv_row in zip(rows[1:], text[1:], strict=True):
            assert [str(v) if v is not None else "" for v in xlsx_row[3:6]] == csv_row[3:6]

    def test_bold_header_frozen_panes_and_widths(
        self, client: TestClient, session: Session, data: Fixture
    ) -> None:
        r = client.get(
            f"/api/v1/courses/{data.course.id}/attendance.xlsx",
            headers=auth(_token(session, Role.admin)),
        )
        sheet = load_workbook(io.BytesIO(r.content)).active
        assert sheet is not None
        assert all(cell.font.bold for cell in sheet[1])
        assert sheet.freeze_panes == "B2"
        assert sheet.column_dimensions["B"].width >= len(data.li.id_number)
        assert sheet["G2"].number_format == "0.0"

    def test_examiners_see_masked_id_numbers(
        self, client: TestClient, session: Session, data: Fixture
    ) -> None:
        rows = _xlsx(client, _token(session, Role.examiner), data.course)
        assert rows[1][1] == mask_id_number(data.li.id_number)
