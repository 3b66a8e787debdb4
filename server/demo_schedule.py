"""Demo plan for `make run`: the base's rooms and stations, three courses around this week,
enrolments with a waitlist, and attendance of the sessions already over.

Everything goes through the real services (clash checks, eligibility, audit), so the demo is a
plan the system itself accepted. Dates follow the day the demo is loaded: the calendar of the
current week is never empty.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, func, select

from curricula.model import StationKind
from server.accounts import service as accounts
from server.audit.service import Actor
from server.devices import bindings, registry
from server.devices.registry import DeviceCreate
from server.errors import SafetrainError
from server.scheduling import attendance, enrolment, service
from server.scheduling.models import Course, EnrolmentStatus, SessionKind
from server.scheduling.schemas import CourseCreate, PatternCreate, RoomCreate, StationCreate
from server.trainees.models import Trainee

ROOMS = (
    ("A101", "理论教室一", 40),
    ("A102", "理论教室二", 40),
    ("B101", "特种作业考试室（DCS 仿真）", 20),
    ("C101", "工艺实操车间", 24),
    ("D101", "VR 仿真体验区", 24),
    ("E101", "安全伤害体验区", 24),
)
STATIONS = (
    *((f"VR-{n:02d}", StationKind.vr_pod, f"VR 体验舱 {n} 号", "D101") for n in range(1, 7)),
    ("VR-07", StationKind.vr_pod, "VR 体验舱 7 号（结果二维码，摄像头读取）", "D101"),
    ("FALL-01", StationKind.fall_rig, "高处坠落体验装置", "E101"),
    ("SHOCK-01", StationKind.shock_rig, "触电体验装置", "E101"),
    ("MECH-01", StationKind.mech_rig, "机械伤害体验装置", "E101"),
    ("MECH-02", StationKind.mech_rig, "机械伤害体验装置（旧款，数码管，摄像头读取）", "E101"),
    *((f"EXAM-{n:02d}", StationKind.exam_seat, f"考试机位 {n} 号", "B101") for n in range(1, 5)),
    ("KIOSK-01", StationKind.kiosk, "大厅自助终端", None),
)


# Stations whose device speaks the serial protocol (exam seats and kiosks send no results).
DEVICE_KINDS = frozenset(
    {StationKind.vr_pod, StationKind.fall_rig, StationKind.shock_rig, StationKind.mech_rig}
)


@dataclass
class Planned:
    rooms: int = 0
    stations: int = 0
    devices: int = 0
    courses: int = 0
    sessions: int = 0
    enrolled: int = 0
    waitlisted: int = 0
    refused: int = 0
    attendance: int = 0
    bound: int = 0


def _pattern(
    kind: SessionKind,
    title: str,
    weekdays: list[int],
    times: tuple[str, str],
    first: dt.date,
    last: dt.date,
    *,
    room: int | None,
    stations: list[int] | None = None,
    instructor: int | None,
) -> PatternCreate:
    return PatternCreate(
        kind=kind,
        title=title,
        weekdays=weekdays,
        start_time=dt.time.fromisoformat(times[0]),
        end_time=dt.time.fromisoformat(times[1]),
        from_date=first,
        to_date=last,
        room_id=room,
        station_ids=stations or [],
        instructor_id=instructor,
    )


def load(
    session: Session, actor: Actor, tz: ZoneInfo, *, now: dt.datetime | None = None
) -> Planned:
    """Plan the demo base once: nothing is added when any course exists already."""
    planned = Planned()
    if session.exec(select(func.count()).select_from(Course)).one() > 0:
        return planned
    now = now or dt.datetime.now(tz)
    monday = now.astimezone(tz).date() - dt.timedelta(days=now.astimezone(tz).weekday())
    leads = [accounts.user_by_username(session, name) for name in ("wang.jun", "li.na", "zhao.lei")]
    if any(u is None or u.id is None for u in leads):
        return planned  # the demo staff were removed: plan nothing rather than guess
    wang, li, zhao = (u.id for u in leads if u is not None and u.id is not None)

    rooms: dict[str, int] = {}
    for code, name, capacity in ROOMS:
        room = service.create_room(
            session, actor, RoomCreate(code=code, name=name, capacity=capacity)
        )
        assert room.id is not None
        rooms[code] = room.id
        planned.rooms += 1
    stations: dict[str, int] = {}
    for code, kind, name, room_code in STATIONS:
        station = service.create_station(
            session,
            actor,
            StationCreate(code=code, kind=kind, name=name, room_id=rooms.get(room_code or "")),
        )
        assert station.id is not None
        stations[code] = station.id
        planned.stations += 1
    for code, kind, _, _ in STATIONS:
        if kind in DEVICE_KINDS:  # the pod computer or rig controller at the station
            registry.create_device(session, actor, DeviceCreate(code=code, kind=kind, station=code))
            planned.devices += 1
    pods = [stations[f"VR-{n:02d}"] for n in range(1, 7)]
    rigs = [stations["FALL-01"], stations["SHOCK-01"], stations["MECH-01"]]

    def day(offset: int) -> dt.date:
        return monday + dt.timedelta(days=offset)

    def course(
        code: str, curriculum: str, first: dt.date, last: dt.date, lead: int, seats: int
    ) -> int:
        made = service.create_course(
            session,
            actor,
            CourseCreate(
                code=code,
                curriculum_code=curriculum,
                starts_on=first,
                ends_on=last,
                lead_trainer_id=lead,
                capacity=seats,
            ),
        )
        assert made.id is not None
        planned.courses += 1
        return made.id

    def add(course_id: int, pattern: PatternCreate) -> None:
        planned.sessions += len(service.add_pattern(session, actor, course_id, pattern, tz))

    year_week = f"{monday.isocalendar().year}W{monday.isocalendar().week:02d}"
    # Nitration, four weeks from this Monday: 48 h theory, 16 h practical, 8 h VR — on plan.
    nitration = course(f"NITR-{year_week}", "NITRATION", day(0), day(25), wang, 20)
    add(
        nitration,
        _pattern(
            SessionKind.theory,
            "硝化工艺安全理论",
            [1, 2, 3, 4, 5],
            ("09:00", "12:00"),
            day(0),
            day(21),
            room=rooms["A101"],
            instructor=wang,
        ),
    )
    add(
        nitration,
        _pattern(
            SessionKind.practical,
            "硝化釜开停车与应急处置",
            [2, 4],
            ("13:30", "17:30"),
            day(0),
            day(11),
            room=rooms["C101"],
            instructor=zhao,
        ),
    )
    add(
        nitration,
        _pattern(
            SessionKind.vr,
            "硝化反应失控 VR 演练",
            [3],
            ("13:30", "17:30"),
            day(0),
            day(9),
            room=rooms["D101"],
            stations=pods,
            instructor=li,
        ),
    )
    # Hydrogenation from next Monday: theory planned, practical and VR not yet — the console
    # shows the shortfall a trainer still has to plan.
    hydrogenation = course(f"HYDR-{year_week}", "HYDROGENATION", day(7), day(32), li, 8)
    add(
        hydrogenation,
        _pattern(
            SessionKind.theory,
            "加氢工艺安全理论",
            [1, 2, 3, 4, 5],
            ("09:00", "12:00"),
            day(7),
            day(28),
            room=rooms["A102"],
            instructor=li,
        ),
    )
    # Injury experience, this Friday afternoon and Saturday: 2 h theory, 6 h on the rigs.
    injury = course(f"INJ-{year_week}", "INJURY-EXPERIENCE", day(4), day(5), zhao, 20)
    add(
        injury,
        _pattern(
            SessionKind.theory,
            "伤害事故案例与防护",
            [5],
            ("13:30", "15:30"),
            day(4),
            day(4),
            room=rooms["E101"],
            instructor=zhao,
        ),
    )
    add(
        injury,
        _pattern(
            SessionKind.rig,
            "坠落、触电、机械伤害体验",
            [6],
            ("09:00", "12:00"),
            day(5),
            day(5),
            room=rooms["E101"],
            stations=rigs,
            instructor=zhao,
        ),
    )
    add(
        injury,
        _pattern(
            SessionKind.rig,
            "坠落、触电、机械伤害体验",
            [6],
            ("13:00", "16:00"),
            day(5),
            day(5),
            room=rooms["E101"],
            stations=rigs,
            instructor=zhao,
        ),
    )

    people = [t.id for t in session.exec(select(Trainee).order_by(col(Trainee.id))).all() if t.id]
    rosters = ((nitration, people[:18]), (hydrogenation, people[18:30]), (injury, people[:10]))
    for course_id, members in rosters:
        for trainee_id in members:
            try:
                made = enrolment.enrol(session, actor, course_id, trainee_id, tz)
            except SafetrainError:
                session.rollback()  # not eligible (age, education): the console shows why
                planned.refused += 1
                continue
            if made.status == EnrolmentStatus.waitlisted:
                planned.waitlisted += 1
            else:
                planned.enrolled += 1
    planned.attendance = _attendance_so_far(session, actor, [nitration, injury], now)

    # Trainees at the first pods, the camera-read pod and the camera-read rig, so the simulated
    # hall's results reach a trainee.
    def enrolled(course_id: int) -> list[int]:
        return [
            tr.id
            for e, tr, _ in enrolment.roster(session, course_id)
            if e.status == EnrolmentStatus.enrolled and tr.id is not None
        ]

    at_pods = enrolled(nitration)[:4]
    places = [*(f"VR-{n:02d}" for n in range(1, 4)), "VR-07"]
    for code, trainee_id in zip(places, at_pods, strict=False):
        bindings.bind(session, actor, code, trainee_id, source="console", now=now)
        planned.bound += 1
    for trainee_id in [t for t in enrolled(injury) if t not in at_pods][:1]:
        bindings.bind(session, actor, "MECH-02", trainee_id, source="console", now=now)
        planned.bound += 1
    return planned


def _attendance_so_far(
    session: Session, actor: Actor, course_ids: list[int], now: dt.datetime
) -> int:
    """Check-ins and check-outs of the sessions already over: mostly on time, some late, one
    absent, one who forgot to check out."""
    rng = random.Random(20261201)  # noqa: S311 - reproducible demo data, not security
    marked = 0
    for course_id in course_ids:
        members = [
            tr.id
            for e, tr, _ in enrolment.roster(session, course_id)
            if e.status == EnrolmentStatus.enrolled and tr.id is not None
        ]
        for row in service.course_sessions(session, course_id):
            if row.ends_at > now or row.id is None:
                continue
            for i, trainee_id in enumerate(members):
                if i == 3:
                    continue  # absent
                late = rng.choice((0, 0, 0, 0, 2, 5, 12, 25))
                early = rng.choice((0, 0, 0, 0, 0, 10, 30))
                checked_out = None if i == 5 else row.ends_at - dt.timedelta(minutes=early)
                attendance.mark(
                    session,
                    actor,
                    row.id,
                    trainee_id,
                    row.starts_at + dt.timedelta(minutes=late) - dt.timedelta(minutes=3),
                    checked_out,
                    None,
                )
                marked += 1
    return marked
