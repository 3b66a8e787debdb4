"""The demo plan of `make run`: accepted by the real services, around the current week."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from server import demo
from server.audit.service import Actor
from server.config import Settings
from server.demo_schedule import DEVICE_KINDS, ROOMS, STATIONS
from server.devices.models import Device
from server.scheduling import service
from server.scheduling.models import Attendance, ClassSession, Course, Enrolment
from tests.factories import log_in

ACTOR = Actor(name="demo-test")


def _count(session: Session, model: type) -> int:
    return int(session.exec(select(func.count()).select_from(model)).one())


class TestDemoPlan:
    def test_a_base_with_three_courses_and_this_weeks_calendar(
        self, client: TestClient, session: Session, settings: Settings
    ) -> None:
        loaded = demo.load(session, settings, ACTOR)
        plan = loaded.plan
        assert (plan.rooms, plan.stations, plan.courses) == (len(ROOMS), len(STATIONS), 3)
        pods_and_rigs = [s for s in STATIONS if s[1] in DEVICE_KINDS]
        assert plan.devices == len(pods_and_rigs) == _count(session, Device) > 0
        assert plan.sessions == _count(session, ClassSession) > 0
        courses = {c.curriculum_code: c for c in session.exec(select(Course)).all()}
        assert service.hours_plan(session, courses["NITRATION"]).complete
        assert service.hours_plan(session, courses["INJURY-EXPERIENCE"]).complete
        assert not service.hours_plan(session, courses["HYDROGENATION"]).complete
        assert plan.waitlisted > 0 and plan.enrolled > 0
        assert plan.enrolled + plan.waitlisted == _count(session, Enrolment)

        log_in(client, "wang.jun", demo.DEMO_PASSWORD)
        week = client.get("/console/calendar")
        assert courses["NITRATION"].code in week.text  # the current week is never empty

    def test_attendance_only_for_sessions_already_over(
        self, session: Session, settings: Settings
    ) -> None:
        demo.load(session, settings, ACTOR)
        now = dt.datetime.now(dt.UTC)
        for att in session.exec(select(Attendance)).all():
            row = session.get(ClassSession, att.session_id)
            assert row is not None and row.ends_at <= now

    def test_loading_again_plans_nothing_more(self, session: Session, settings: Settings) -> None:
        demo.load(session, settings, ACTOR)
        before = _count(session, ClassSession)
        again = demo.load(session, settings, ACTOR)
        assert again.plan.courses == 0 and _count(session, ClassSession) == before
