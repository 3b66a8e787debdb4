"""The resources pages as a trainer uses them: rooms, stations, taking them out of service,
instructors' absences; an examiner reads them only."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, func, select

from server.accounts.models import Role, User
from server.audit.models import AuditEvent
from server.scheduling.models import ClassSession, InstructorAbsence, Room, Station
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
)
from tests.server.test_console_schedule import row_of, tables

# Sessions "still to come" must stay in the future whenever the tests run.
FIRST_DAY, LAST_DAY = "2030-03-01", "2030-03-31"


@pytest.fixture
def trainer(session: Session) -> User:
    return make_user(session, role=Role.trainer)


@pytest.fixture
def csrf(client: TestClient, trainer: User) -> str:
    return log_in(client, trainer.username)


def fresh(session: Session) -> Session:
    session.rollback()  # see what the server committed since,
    session.expire_all()  # also in the objects the factories made
    return session


def rooms(session: Session) -> list[Room]:
    return list(fresh(session).exec(select(Room).order_by(col(Room.code))).all())


def stations(session: Session) -> list[Station]:
    return list(fresh(session).exec(select(Station).order_by(col(Station.code))).all())


def events(session: Session, action: str) -> list[AuditEvent]:
    return list(fresh(session).exec(select(AuditEvent).where(AuditEvent.action == action)).all())


def control(html: str, control_id: str) -> str:
    """The opening tag of the form control with this id."""
    match = re.search(rf'<(?:input|select)[^>]*\bid="{control_id}"[^>]*>', html)
    assert match, f"no control {control_id}"
    return match.group(0)


def post(client: TestClient, url: str, csrf: str, **fields: object) -> Any:
    data = {"csrf_token": csrf} | {
        k: v if isinstance(v, list) else str(v) for k, v in fields.items()
    }
    return client.post(url, data=data, follow_redirects=False)


def add_session_form(client: TestClient, csrf: str, course_id: int | None, **fields: object) -> Any:
    values: dict[str, object] = {
        "kind": "vr",
        "day": "2030-03-05",
        "start_time": "09:00",
        "end_time": "10:00",
    } | fields
    return post(client, f"/console/courses/{course_id}/sessions", csrf, **values)


class TestRooms:
    def test_add_a_room_and_see_it_listed(
        self, client: TestClient, session: Session, csrf: str
    ) -> None:
        page = client.get("/console/resources")
        assert page.status_code == 200
        assert 'action="/console/resources/rooms"' in page.text
        response = post(
            client, "/console/resources/rooms", csrf, code="A101", name="理论教室一", capacity=40
        )
        assert response.status_code == 303
        page = client.get(response.headers["location"])
        assert "已添加教室" in page.text
        assert row_of(page.text, "A101")[:4] == ["A101", "理论教室一", "40", "在用"]
        [room] = rooms(session)
        assert (room.code, room.name, room.capacity, room.is_active) == (
            "A101",
            "理论教室一",
            40,
            True,
        )
        assert len(events(session, "room.create")) == 1

    def test_bad_input_is_named_by_its_field_and_nothing_is_stored(
        self, client: TestClient, session: Session, csrf: str
    ) -> None:
        response = post(
            client, "/console/resources/rooms", csrf, code="一号教室", name="", capacity=0
        )
        assert response.status_code == 422
        for name in ("code", "name"):
            assert f'id="room-{name}-err"' in response.text
        code = control(response.text, "room-code")
        assert (
            'aria-invalid="true"' in code
            and 'aria-describedby="room-code-hint room-code-err"' in code
        )
        assert "只能包含字母" in response.text and "必填" in response.text
        assert 'value="一号教室"' in response.text  # what was typed is kept
        assert "表单有误" in response.text
        response = post(client, "/console/resources/rooms", csrf, code="A1", name="x", capacity=0)
        assert response.status_code == 422
        assert 'id="room-capacity-err"' in response.text and "数值超出允许范围" in response.text
        response = post(
            client, "/console/resources/rooms", csrf, code="A1", name="x", capacity="多"
        )
        assert 'id="room-capacity-err"' in response.text and "应为数字" in response.text
        assert rooms(session) == []

    def test_bad_input_in_english(self, client: TestClient, session: Session, csrf: str) -> None:
        client.get("/console/resources", params={"lang": "en"})
        response = post(client, "/console/resources/rooms", csrf, code="A1", name="", capacity=5)
        assert response.status_code == 422
        assert 'id="room-name-err">Required<' in response.text
        assert "Some fields need attention" in response.text
        assert rooms(session) == []

    def test_a_duplicate_code_is_refused(
        self, client: TestClient, session: Session, csrf: str
    ) -> None:
        make_room(session, code="A101")
        response = post(client, "/console/resources/rooms", csrf, code="A101", name="x", capacity=9)
        assert response.status_code == 409
        assert 'id="room-code-err"' in response.text and "教室编号 A101 已存在" in response.text
        assert [r.name for r in rooms(session)] != ["x"] and len(rooms(session)) == 1


class TestStations:
    def test_add_a_station_in_a_room(self, client: TestClient, session: Session, csrf: str) -> None:
        room = make_room(session, code="VR-HALL")
        page = client.get("/console/resources")
        assert f'<option value="{room.id}"' in page.text
        response = post(
            client,
            "/console/resources/stations",
            csrf,
            code="vr-03",  # devices name stations in capitals; lower case means the same
            name="三号 VR 体验舱",
            kind="vr_pod",
            room_id=room.id,
        )
        assert response.status_code == 303
        page = client.get(response.headers["location"])
        assert "已添加工位" in page.text
        row = row_of(page.text, "VR-03")
        assert row[:5] == ["VR-03", "三号 VR 体验舱", "VR 体验舱", f"VR-HALL {room.name}", "在用"]
        [station] = stations(session)
        assert (station.code, station.kind, station.room_id) == ("VR-03", "vr_pod", room.id)

    def test_bad_input_is_named_by_its_field_and_nothing_is_stored(
        self, client: TestClient, session: Session, csrf: str
    ) -> None:
        closed = make_room(session, code="OLD")
        fresh(session).get(Room, closed.id)
        closed.is_active = False
        session.add(closed)
        session.commit()
        response = post(
            client,
            "/console/resources/stations",
            csrf,
            code="VR_03!",
            name="",
            kind="hovercraft",
            room_id=closed.id,
        )
        assert response.status_code == 422
        for name in ("code", "name", "kind", "room_id"):
            assert f'id="station-{name}-err"' in response.text, name
        assert "只能包含大写字母、数字和“-”" in response.text
        assert "请从列表中选择" in response.text
        assert "该教室已停用" in response.text
        assert f'<option value="{closed.id}"' not in response.text  # not offered either
        assert stations(session) == []

    def test_a_duplicate_code_is_refused(
        self, client: TestClient, session: Session, csrf: str
    ) -> None:
        make_station(session, code="VR-03")
        response = post(
            client, "/console/resources/stations", csrf, code="VR-03", name="x", kind="vr_pod"
        )
        assert response.status_code == 409
        assert 'id="station-code-err"' in response.text and "工位编号 VR-03 已存在" in response.text
        assert len(stations(session)) == 1


class TestEditing:
    def test_correct_a_room(self, client: TestClient, session: Session, csrf: str) -> None:
        room = make_room(session, code="A101", capacity=40)
        original = room.name
        page = client.get(f"/console/resources/rooms/{room.id}")
        assert page.status_code == 200 and 'value="40"' in page.text
        response = post(
            client, f"/console/resources/rooms/{room.id}", csrf, name="多媒体教室", capacity=36
        )
        assert response.status_code == 303
        assert "已保存" in client.get(response.headers["location"]).text
        listed = row_of(client.get("/console/resources").text, "A101")
        assert listed[:3] == ["A101", "多媒体教室", "36"]
        [event] = events(session, "room.update")
        assert json.loads(event.after or "") == {"name": "多媒体教室", "capacity": 36}
        assert json.loads(event.before or "") == {"name": original, "capacity": 40}

    def test_seats_below_a_coming_sessions_enrolment_are_refused(
        self, client: TestClient, session: Session, trainer: User, csrf: str
    ) -> None:
        room = make_room(session, code="A101", capacity=10)
        course = make_course(
            session, trainer=trainer, capacity=5, starts_on=FIRST_DAY, ends_on=LAST_DAY
        )
        make_session(session, course=course, day="2030-03-04", room=room)
        for _ in range(3):
            enrol(session, course=course, trainee=make_trainee(session))
        response = post(client, f"/console/resources/rooms/{room.id}", csrf, name="x", capacity=2)
        assert response.status_code == 409
        assert 'id="room-capacity-err"' in response.text
        assert "坐不下" in response.text and "已有 3 人报名" in response.text
        unfit = next(t for t in tables(response.text) if t[0][0] == "时间")
        assert unfit[1] == ["2030-03-04 09:00–12:00", course.code, "3"]
        assert 'value="2"' in response.text  # the form keeps what was typed
        stored = fresh(session).get(Room, room.id)
        assert stored is not None and (stored.name, stored.capacity) != ("x", 2)
        # As many seats as trainees is fine; the course may still enrol more, and the page says so.
        response = post(client, f"/console/resources/rooms/{room.id}", csrf, name="x", capacity=3)
        assert response.status_code == 303
        page = client.get(response.headers["location"])
        booked = row_of(page.text, "2030-03-04 09:00–12:00")
        assert booked[1] == course.code and "班级人数上限超过座位数" in booked[3]

    def test_past_sessions_do_not_hold_the_seats(
        self, client: TestClient, session: Session, trainer: User, csrf: str
    ) -> None:
        room = make_room(session, code="A101", capacity=10)
        course = make_course(
            session, trainer=trainer, capacity=5, starts_on="2025-03-01", ends_on="2025-03-31"
        )
        make_session(session, course=course, day="2025-03-04", room=room)
        for _ in range(4):
            enrol(session, course=course, trainee=make_trainee(session))
        response = post(client, f"/console/resources/rooms/{room.id}", csrf, name="x", capacity=2)
        assert response.status_code == 303
        assert "没有尚未结束的课次" in client.get(response.headers["location"]).text

    def test_correct_a_station(self, client: TestClient, session: Session, csrf: str) -> None:
        hall = make_room(session, code="HALL")
        station = make_station(session, code="RIG-01", kind="fall_rig")
        page = client.get(f"/console/resources/stations/{station.id}")
        assert page.status_code == 200 and 'value="fall_rig" selected' in page.text
        response = post(
            client,
            f"/console/resources/stations/{station.id}",
            csrf,
            name="触电体验台",
            kind="shock_rig",
            room_id=hall.id,
        )
        assert response.status_code == 303
        listed = row_of(client.get("/console/resources").text, "RIG-01")
        assert listed[:4] == ["RIG-01", "触电体验台", "触电体验装置", f"HALL {hall.name}"]
        # and out of the room again
        response = post(
            client,
            f"/console/resources/stations/{station.id}",
            csrf,
            name="触电体验台",
            kind="shock_rig",
            room_id="",
        )
        assert response.status_code == 303
        stored = stations(session)[0]
        assert (stored.name, stored.kind, stored.room_id) == ("触电体验台", "shock_rig", None)
        assert len(events(session, "station.update")) == 2

    def test_a_station_moves_only_into_a_room_in_service(
        self, client: TestClient, session: Session, csrf: str
    ) -> None:
        closed = make_room(session, code="OLD")
        assert post(client, f"/console/resources/rooms/{closed.id}/service", csrf, active=0)
        station = make_station(session, code="VR-01")
        response = post(
            client,
            f"/console/resources/stations/{station.id}",
            csrf,
            name="新名字",
            kind="vr_pod",
            room_id=closed.id,
        )
        assert response.status_code == 422
        assert 'id="station-room_id-err"' in response.text and "该教室已停用" in response.text
        stored = stations(session)[0]
        assert (stored.name, stored.room_id) == (station.name, None)


class TestOutOfService:
    def test_a_station_out_of_service_leaves_the_pickers_and_keeps_its_sessions(
        self, client: TestClient, session: Session, trainer: User, csrf: str
    ) -> None:
        pod = make_station(session, code="VR-03")
        course = make_course(session, trainer=trainer, starts_on=FIRST_DAY, ends_on=LAST_DAY)
        make_session(session, course=course, day="2030-03-04", kind="vr", stations=[pod])
        picker = f'name="station_ids" value="{pod.id}"'
        assert picker in client.get(f"/console/courses/{course.id}").text
        response = post(
            client,
            f"/console/resources/stations/{pod.id}/service",
            csrf,
            active=0,
            reason="镜头损坏，送修",
        )
        assert response.status_code == 303
        page = client.get(response.headers["location"])
        assert "已停用" in page.text and "下列课次仍安排在这里" in page.text
        assert row_of(page.text, "2030-03-04 09:00–12:00")[1] == course.code
        assert row_of(client.get("/console/resources").text, "VR-03")[4] == "已停用"
        course_page = client.get(f"/console/courses/{course.id}").text
        assert picker not in course_page
        assert row_of(course_page, "2030-03-04 09:00–12:00")[4] == "VR-03"  # history intact
        [event] = events(session, "station.deactivate")
        assert event.reason == "镜头损坏，送修"
        # A new session on it (a stale page, a hand-made post) is refused; nothing is stored.
        before = int(fresh(session).exec(select(func.count()).select_from(ClassSession)).one())
        response = add_session_form(client, csrf, course.id, station_ids=[str(pod.id)])
        assert response.status_code == 422
        assert "工位 VR-03 已停用" in response.text  # named by its code, not its id
        after = int(fresh(session).exec(select(func.count()).select_from(ClassSession)).one())
        assert after == before

    def test_a_room_out_of_service_and_back(
        self, client: TestClient, session: Session, trainer: User, csrf: str
    ) -> None:
        room = make_room(session, code="B202")
        course = make_course(session, trainer=trainer, starts_on=FIRST_DAY, ends_on=LAST_DAY)
        option = re.compile(rf'<option value="{room.id}"[^>]*>B202 ')
        assert option.search(client.get(f"/console/courses/{course.id}").text)
        response = post(client, f"/console/resources/rooms/{room.id}/service", csrf, active=0)
        assert response.status_code == 303
        assert not option.search(client.get(f"/console/courses/{course.id}").text)
        response = add_session_form(client, csrf, course.id, room_id=room.id)
        assert response.status_code == 422
        assert 'id="s-room_id-err"' in response.text and "已停用" in response.text
        assert len(events(session, "room.deactivate")) == 1
        response = post(client, f"/console/resources/rooms/{room.id}/service", csrf, active=1)
        assert "已恢复使用" in client.get(response.headers["location"]).text
        assert option.search(client.get(f"/console/courses/{course.id}").text)
        assert add_session_form(client, csrf, course.id, room_id=room.id).status_code == 303
        assert len(events(session, "room.reactivate")) == 1


class TestAbsences:
    def test_record_and_remove_an_absence(
        self, client: TestClient, session: Session, trainer: User, csrf: str
    ) -> None:
        page = client.get("/console/resources")
        assert row_of(page.text, trainer.display_name)[2] == "0"
        url = f"/console/resources/instructors/{trainer.id}"
        response = post(
            client,
            f"{url}/absences",
            csrf,
            starts_at="2030-03-10T08:00",
            ends_at="2030-03-12T18:00",
            reason="年休假",
        )
        assert response.status_code == 303
        page = client.get(response.headers["location"])
        assert "已记录不可上课时段" in page.text
        assert row_of(page.text, "2030-03-10 08:00")[:3] == [
            "2030-03-10 08:00–2030-03-12 18:00",
            "年休假",
            "无",
        ]
        [absence] = fresh(session).exec(select(InstructorAbsence)).all()
        assert absence.starts_at == local("2030-03-10", "08:00")
        assert row_of(client.get("/console/resources").text, trainer.display_name)[2] == "1"
        response = post(client, f"{url}/absences/{absence.id}/remove", csrf)
        assert response.status_code == 303
        assert "已删除不可上课时段" in client.get(response.headers["location"]).text
        assert fresh(session).exec(select(InstructorAbsence)).all() == []
        assert len(events(session, "absence.delete")) == 1

    def test_an_absence_over_taught_sessions_is_kept_and_names_them(
        self, client: TestClient, session: Session, trainer: User, csrf: str
    ) -> None:
        course = make_course(session, trainer=trainer, starts_on=FIRST_DAY, ends_on=LAST_DAY)
        taught = make_session(session, course=course, day="2030-03-04", instructor=trainer)
        response = post(
            client,
            f"/console/resources/instructors/{trainer.id}/absences",
            csrf,
            starts_at="2030-03-04T11:00",
            ends_at="2030-03-04T17:00",
            reason="外出培训",
        )
        assert response.status_code == 303
        page = client.get(response.headers["location"])
        assert "还有 1 次课" in page.text
        row = row_of(page.text, "2030-03-04 11:00–17:00")
        assert "与 1 次课重叠" in row[2] and course.code in row[2] and "09:00–12:00" in row[2]
        kept = fresh(session).get(ClassSession, taught.id)
        assert kept is not None and kept.instructor_id == trainer.id  # not moved, not cancelled
        # Planning the instructor into that time afterwards is a clash.
        response = add_session_form(
            client,
            csrf,
            course.id,
            kind="theory",
            day="2030-03-04",
            start_time="14:00",
            end_time="15:00",
            instructor_id=trainer.id,
        )
        assert response.status_code == 409 and "教师不能上课" in response.text

    def test_bad_input_is_named_by_its_field_and_nothing_is_stored(
        self, client: TestClient, session: Session, trainer: User, csrf: str
    ) -> None:
        url = f"/console/resources/instructors/{trainer.id}/absences"
        response = post(
            client, url, csrf, starts_at="2030-03-10T08:00", ends_at="2030-03-09T08:00", reason=""
        )
        assert response.status_code == 422
        assert 'id="absence-ends_at-err"' in response.text and "结束必须晚于开始" in response.text
        assert 'id="absence-reason-err"' in response.text
        response = post(client, url, csrf, starts_at="", ends_at="明天", reason="假")
        assert 'id="absence-starts_at-err"' in response.text
        assert 'id="absence-ends_at-err"' in response.text
        assert fresh(session).exec(select(InstructorAbsence)).all() == []

    def test_only_instructors_have_an_availability_page(
        self, client: TestClient, session: Session, csrf: str
    ) -> None:
        regulator = make_user(session, role=Role.regulator)
        assert client.get(f"/console/resources/instructors/{regulator.id}").status_code == 404


class TestExaminer:
    def test_reads_every_page_without_forms_and_is_refused_when_posting(
        self, client: TestClient, session: Session, trainer: User
    ) -> None:
        room = make_room(session, code="A101")
        make_station(session, code="VR-03")
        examiner = make_user(session, role=Role.examiner)
        csrf = log_in(client, examiner.username)
        page = client.get("/console/resources")
        assert page.status_code == 200
        assert row_of(page.text, "A101")[:3] == ["A101", room.name, "40"]
        assert row_of(page.text, "VR-03")[0] == "VR-03"
        assert 'action="/console/resources' not in page.text and "修改" not in page.text
        availability = client.get(f"/console/resources/instructors/{trainer.id}")
        assert availability.status_code == 200
        assert "/absences" not in availability.text
        assert client.get(f"/console/resources/rooms/{room.id}").status_code == 403
        refused = [
            post(client, "/console/resources/rooms", csrf, code="B1", name="x", capacity=5),
            post(client, f"/console/resources/rooms/{room.id}/service", csrf, active=0),
            post(
                client,
                f"/console/resources/instructors/{trainer.id}/absences",
                csrf,
                starts_at="2030-03-10T08:00",
                ends_at="2030-03-11T08:00",
                reason="x",
            ),
        ]
        assert [r.status_code for r in refused] == [403, 403, 403]
        assert [r.code for r in rooms(session)] == ["A101"] and rooms(session)[0].is_active
        assert fresh(session).exec(select(InstructorAbsence)).all() == []


class TestLanguages:
    @pytest.mark.parametrize(
        ("lang", "words"),
        [
            ("zh", ["资源", "教室", "添加教室", "添加工位", "教师可上课时间", "在用"]),
            (
                "en",
                ["Resources", "Rooms", "Add a room", "Add a station", "Availability", "In service"],
            ),
        ],
    )
    def test_both_languages_render(
        self, client: TestClient, session: Session, csrf: str, lang: str, words: list[str]
    ) -> None:
        make_room(session, code="A101")
        make_station(session, code="VR-03")
        page = client.get("/console/resources", params={"lang": lang})
        assert page.status_code == 200
        for word in words:
            assert word in page.text, word
        assert 'href="/console/resources" aria-current="page"' in page.text
        token = form_token(page.text)
        assert token == csrf
