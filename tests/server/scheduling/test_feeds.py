"""Calendar feeds: secret URLs, who may make them, and exactly the right sessions in UTC."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import icalendar
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from server.accounts import service as accounts
from server.accounts.models import Role, User, UserCreate
from server.accounts.security import digest
from server.audit.models import AuditEvent
from server.scheduling import enrolment
from server.scheduling.models import Course, CourseStatus, FeedKey
from server.trainees.models import Trainee
from tests.factories import (
    ACTOR,
    auth,
    enrol,
    make_course,
    make_room,
    make_session,
    make_station,
    make_token,
    make_trainee,
    make_user,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _day(offset: int) -> str:
    """A date relative to today: a feed shows sessions from 30 days ago on, so tests must too."""
    return (dt.datetime.now(SHANGHAI).date() + dt.timedelta(days=offset)).isoformat()


def _course(session: Session, *, trainer: User | None = None) -> Course:
    return make_course(session, starts_on=_day(-45), ends_on=_day(45), trainer=trainer)


def _trainee_account(session: Session, trainee: Trainee) -> str:
    user = accounts.create_user(
        session,
        ACTOR,
        UserCreate(
            username=f"trainee-{trainee.id}",
            display_name=trainee.name,
            role=Role.trainee,
            trainee_id=trainee.id,
        ),
    )
    return make_token(session, user=user)


def _token(session: Session, role: Role) -> str:
    return make_token(session, user=make_user(session, role=role))


def _create(client: TestClient, token: str, subject_type: str, subject_id: int | None) -> str:
    r = client.post(
        "/api/v1/calendar-feeds",
        json={"subject_type": subject_type, "subject_id": subject_id},
        headers=auth(token),
    )
    assert r.status_code == 201, r.text
    url: str = r.json()["url"]
    return url.removeprefix("http://testserver")


def _events(client: TestClient, path: str) -> dict[str, icalendar.Event]:
    r = client.get(path)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/calendar")
    cal = icalendar.Calendar.from_ical(r.content)
    return {str(e["uid"]): e for e in cal.walk("VEVENT")}


def _uid(row_id: int | None) -> str:
    return f"session-{row_id}@safetrain"


@pytest.fixture
def trainer(session: Session) -> str:
    return _token(session, Role.trainer)


class TestCreateFeed:
    def test_the_url_carries_a_secret_whose_digest_alone_is_stored(
        self, client: TestClient, session: Session, trainer: str
    ) -> None:
        trainee = make_trainee(session)
        r = client.post(
            "/api/v1/calendar-feeds",
            json={"subject_type": "trainee", "subject_id": trainee.id},
            headers=auth(trainer),
        )
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["url"].startswith("http://testserver/feeds/")
        assert body["url"].endswith(".ics")
        assert (body["subject_type"], body["subject_id"]) == ("trainee", trainee.id)
        secret = body["url"].removeprefix("http://testserver/feeds/").removesuffix(".ics")
        key = session.exec(select(FeedKey).where(FeedKey.id == body["id"])).one()
        assert key.key_hash == digest(secret) and secret not in key.key_hash
        assert (
            "url"
            not in client.get("/api/v1/calendar-feeds", headers=auth(trainer)).json()["data"][0]
        )

    def test_a_trainee_creates_their_own_feed(self, client: TestClient, session: Session) -> None:
        trainee = make_trainee(session)
        token = _trainee_account(session, trainee)
        assert _create(client, token, "trainee", trainee.id).startswith("/feeds/")

    @pytest.mark.parametrize("subject_type", ["trainee", "course"])
    def test_a_trainee_cannot_create_a_feed_for_anyone_else(
        self, client: TestClient, session: Session, subject_type: str
    ) -> None:
        me, other = make_trainee(session, name="李娜"), make_trainee(session, name="王强")
        course = _course(session)
        token = _trainee_account(session, me)
        subject_id = other.id if subject_type == "trainee" else course.id
        r = client.post(
            "/api/v1/calendar-feeds",
            json={"subject_type": subject_type, "subject_id": subject_id},
            headers=auth(token),
        )
        assert r.status_code == 403, r.text
        assert r.json()["error"] == "not_own_record"
        assert session.exec(select(FeedKey)).all() == []

    def test_an_examiner_creates_only_their_own_trainer_feed(
        self, client: TestClient, session: Session
    ) -> None:
        examiner = make_user(session, role=Role.examiner)
        someone = make_user(session, role=Role.trainer)
        token = make_token(session, user=examiner)
        _create(client, token, "trainer", examiner.id)
        r = client.post(
            "/api/v1/calendar-feeds",
            json={"subject_type": "trainer", "subject_id": someone.id},
            headers=auth(token),
        )
        assert r.status_code == 403

    def test_an_unknown_subject_type_is_422_naming_the_field(
        self, client: TestClient, trainer: str
    ) -> None:
        r = client.post(
            "/api/v1/calendar-feeds",
            json={"subject_type": "room", "subject_id": 1},
            headers=auth(trainer),
        )
        assert r.status_code == 422
        assert [d["field"] for d in r.json()["details"]] == ["subject_type"]

    @pytest.mark.parametrize("subject_type", ["trainer", "trainee", "course"])
    def test_a_missing_subject_is_422_naming_subject_id(
        self, client: TestClient, session: Session, trainer: str, subject_type: str
    ) -> None:
        r = client.post(
            "/api/v1/calendar-feeds",
            json={"subject_type": subject_type, "subject_id": 99999},
            headers=auth(trainer),
        )
        assert r.status_code == 422, r.text
        assert r.json()["error"] == "subject_not_found"
        assert [d["field"] for d in r.json()["details"]] == ["subject_id"]

    def test_a_trainer_feed_needs_an_instructor(
        self, client: TestClient, session: Session, trainer: str
    ) -> None:
        regulator = make_user(session, role=Role.regulator)
        r = client.post(
            "/api/v1/calendar-feeds",
            json={"subject_type": "trainer", "subject_id": regulator.id},
            headers=auth(trainer),
        )
        assert r.status_code == 422
        assert r.json()["details"][0]["field"] == "subject_id"

    def test_every_creation_is_audited(
        self, client: TestClient, session: Session, trainer: str
    ) -> None:
        course, trainee = _course(session), make_trainee(session)
        lead = session.get(User, course.lead_trainer_id)
        assert lead is not None
        for subject_type, subject_id in [
            ("trainer", lead.id),
            ("trainee", trainee.id),
            ("course", course.id),
        ]:
            _create(client, trainer, subject_type, subject_id)
        session.rollback()
        events = session.exec(
            select(AuditEvent).where(AuditEvent.action == "feed_key.create")
        ).all()
        keys = session.exec(select(FeedKey)).all()
        assert sorted(e.entity_id for e in events) == sorted(str(k.id) for k in keys)
        assert len(events) == 3
        assert all(e.after and '"subject_type"' in e.after for e in events)
        assert not any(k.key_hash in (e.after or "") for e in events for k in keys)


class TestListAndRevoke:
    def test_admin_sees_every_feed_others_their_own(
        self, client: TestClient, session: Session, trainer: str
    ) -> None:
        course = _course(session)
        other = _token(session, Role.trainer)
        admin = _token(session, Role.admin)
        _create(client, trainer, "course", course.id)
        _create(client, other, "course", course.id)
        mine = client.get("/api/v1/calendar-feeds", headers=auth(trainer)).json()
        everything = client.get("/api/v1/calendar-feeds", headers=auth(admin)).json()
        assert (mine["count"], everything["count"]) == (1, 2)

    def test_a_revoked_feed_is_404(
        self, client: TestClient, session: Session, trainer: str
    ) -> None:
        course = _course(session)
        path = _create(client, trainer, "course", course.id)
        assert client.get(path).status_code == 200
        feed_id = client.get("/api/v1/calendar-feeds", headers=auth(trainer)).json()["data"][0][
            "id"
        ]
        r = client.post(
            f"/api/v1/calendar-feeds/{feed_id}/revoke",
            json={"reason": "phone lost"},
            headers=auth(trainer),
        )
        assert r.status_code == 200 and r.json()["revoked_at"] is not None
        gone = client.get(path)
        assert gone.status_code == 404
        assert gone.json()["error"] == "feed_not_found"
        session.rollback()
        revoked = session.exec(
            select(AuditEvent).where(AuditEvent.action == "feed_key.revoke")
        ).one()
        assert (revoked.entity_id, revoked.reason) == (str(feed_id), "phone lost")

    def test_only_an_admin_or_the_creator_may_revoke(
        self, client: TestClient, session: Session, trainer: str
    ) -> None:
        course = _course(session)
        _create(client, trainer, "course", course.id)
        feed_id = client.get("/api/v1/calendar-feeds", headers=auth(trainer)).json()["data"][0][
            "id"
        ]
        other = _token(session, Role.trainer)
        refused = client.post(f"/api/v1/calendar-feeds/{feed_id}/revoke", headers=auth(other))
        assert refused.status_code == 403
        admin = _token(session, Role.admin)
        done = client.post(f"/api/v1/calendar-feeds/{feed_id}/revoke", headers=auth(admin))
        assert done.status_code == 200

    def test_an_unknown_secret_is_404(self, client: TestClient) -> None:
        r = client.get("/feeds/not-a-real-secret.ics")
        assert r.status_code == 404
        assert r.json()["error"] == "feed_not_found"

    def test_a_deactivated_creators_feed_stops(self, client: TestClient, session: Session) -> None:
        user = make_user(session, role=Role.trainer)
        path = _create(client, make_token(session, user=user), "trainer", user.id)
        assert client.get(path).status_code == 200
        user.is_active = False
        session.add(user)
        session.commit()
        assert client.get(path).status_code == 404


class TestFeedContent:
    def test_a_trainee_sees_only_courses_they_are_enrolled_in(
        self, client: TestClient, session: Session, trainer: str
    ) -> None:
        mine, theirs = _course(session), _course(session)
        a1 = make_session(session, course=mine, day=_day(1))
        a2 = make_session(session, course=mine, day=_day(2), kind="practical")
        make_session(session, course=theirs, day=_day(3))
        trainee = make_trainee(session)
        enrol(session, course=mine, trainee=trainee)
        path = _create(client, trainer, "trainee", trainee.id)
        assert set(_events(client, path)) == {_uid(a1.id), _uid(a2.id)}

    def test_a_withdrawn_trainees_feed_drops_the_course(
        self, client: TestClient, session: Session, trainer: str
    ) -> None:
        course = _course(session)
        row = make_session(session, course=course, day=_day(1))
        trainee = make_trainee(session)
        seat = enrol(session, course=course, trainee=trainee)
        path = _create(client, trainer, "trainee", trainee.id)
        assert set(_events(client, path)) == {_uid(row.id)}
        assert seat.id is not None
        enrolment.withdraw(session, ACTOR, seat.id, "changed jobs")
        assert _events(client, path) == {}

    def test_a_waitlisted_trainee_sees_nothing_yet(
        self, client: TestClient, session: Session, trainer: str
    ) -> None:
        course = make_course(session, starts_on=_day(-45), ends_on=_day(45), capacity=1)
        make_session(session, course=course, day=_day(1))
        enrol(session, course=course, trainee=make_trainee(session, name="李娜"))
        waiting = make_trainee(session, name="王强")
        enrol(session, course=course, trainee=waiting)
        assert _events(client, _create(client, trainer, "trainee", waiting.id)) == {}

    def test_times_are_in_utc(self, client: TestClient, session: Session, trainer: str) -> None:
        course = _course(session)
        row = make_session(session, course=course, day=_day(1), start="09:00", end="12:30")
        path = _create(client, trainer, "course", course.id)
        event = _events(client, path)[_uid(row.id)]
        start, end = event.decoded("dtstart"), event.decoded("dtend")
        assert start.utcoffset() == dt.timedelta(0) and end.utcoffset() == dt.timedelta(0)
        day = dt.date.fromisoformat(_day(1))
        assert start == dt.datetime.combine(day, dt.time(1, 0), dt.UTC)  # 09:00 in Shanghai
        assert end == dt.datetime.combine(day, dt.time(4, 30), dt.UTC)
        assert f"DTSTART:{day:%Y%m%d}T010000Z" in client.get(path).text

    def test_an_event_names_the_course_kind_place_and_instructor(
        self, client: TestClient, session: Session, trainer: str
    ) -> None:
        teacher = make_user(session, role=Role.trainer)
        course = _course(session)
        room = make_room(session, code="HALL-2")
        pods = [make_station(session, code="VR-07"), make_station(session, code="VR-03")]
        row = make_session(
            session,
            course=course,
            day=_day(2),
            kind="vr",
            room=room,
            stations=pods,
            instructor=teacher,
        )
        path = _create(client, trainer, "course", course.id)
        cal = icalendar.Calendar.from_ical(client.get(path).content)
        assert course.code in str(cal["x-wr-calname"])
        event = _events(client, path)[_uid(row.id)]
        assert str(event["summary"]) == f"{course.code} · VR 仿真/VR · {course.title}"
        assert str(event["location"]) == f"{room.name} (HALL-2), VR-03, VR-07"
        assert f"授课教师 Instructor: {teacher.display_name}" in str(event["description"])

    def test_a_trainer_sees_sessions_they_teach_and_courses_they_lead(
        self, client: TestClient, session: Session, trainer: str
    ) -> None:
        me = make_user(session, role=Role.trainer)
        led = _course(session, trainer=me)
        elsewhere, unrelated = _course(session), _course(session)
        in_led = make_session(session, course=led, day=_day(1))
        taught = make_session(session, course=elsewhere, day=_day(2), instructor=me)
        make_session(session, course=elsewhere, day=_day(3))
        make_session(session, course=unrelated, day=_day(4))
        path = _create(client, trainer, "trainer", me.id)
        assert set(_events(client, path)) == {_uid(in_led.id), _uid(taught.id)}

    def test_sessions_more_than_30_days_old_are_left_out(
        self, client: TestClient, session: Session, trainer: str
    ) -> None:
        course = _course(session)
        make_session(session, course=course, day=_day(-40))
        recent = make_session(session, course=course, day=_day(-20))
        coming = make_session(session, course=course, day=_day(20))
        path = _create(client, trainer, "course", course.id)
        assert set(_events(client, path)) == {_uid(recent.id), _uid(coming.id)}

    def test_a_cancelled_course_leaves_the_feed(
        self, client: TestClient, session: Session, trainer: str
    ) -> None:
        course = _course(session)
        make_session(session, course=course, day=_day(1))
        path = _create(client, trainer, "course", course.id)
        course.status = CourseStatus.cancelled
        session.add(course)
        session.commit()
        assert _events(client, path) == {}
