"""Benchmark of scheduling: clash checks against 20,000 sessions, the console's week calendar.

    .venv/bin/python bench/scheduling.py [--database-url URL] [--sessions 20000]
        [--week-sessions 500] [--repeat 50] [--gc-freeze]

Fills a base with rooms, stations, instructors, courses, enrolled trainees and sessions spread
over a year (bulk inserts), then times the clash check of a new session (every check: room,
stations, instructor, absences, the course's trainees elsewhere), adding a session end to end
(check, insert, audit, commit), and `GET /console/calendar` for one week holding 500 of the
sessions, by room and by station, through the real app as a logged-in trainer. Prints a table;
figures go to docs/benchmarks.md. A --database-url must name an empty database (it is migrated
here); on PostgreSQL the tables are analysed after the bulk fill, as autovacuum would.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import platform
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, event, insert, text
from sqlmodel import Session, col, select

# Run as a script, this file's folder comes first on sys.path, where a bench named like a package
# the app imports (bench/scoring.py once) would hide that package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from server import migrate  # noqa: E402
from server.accounts import service as accounts  # noqa: E402
from server.accounts.models import Role, User, UserCreate  # noqa: E402
from server.app import create_app  # noqa: E402
from server.audit.service import Actor  # noqa: E402
from server.config import Settings  # noqa: E402
from server.db import make_engine  # noqa: E402
from server.scheduling import conflicts, service  # noqa: E402
from server.scheduling.conflicts import Planned  # noqa: E402
from server.scheduling.models import (  # noqa: E402
    ClassSession,
    Course,
    Enrolment,
    EnrolmentStatus,
    Room,
    SessionStation,
    Station,
)
from server.scheduling.schemas import SessionCreate  # noqa: E402
from server.trainees.identity import Sex, make_resident_id  # noqa: E402
from server.trainees.models import Employer, Trainee  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
START = dt.datetime(2026, 1, 5, 0, 0, tzinfo=TZ)  # a Monday
# The calendar's week (Monday 2026-06-29, 2026-W27): the year's other sessions leave it to the
# week's own fill, so it holds exactly --week-sessions.
WEEK_DAY = 175
ACTOR = Actor(name="bench")
TRAINER, PASSWORD = "bench-trainer", "bench-password-1"
# The week's sessions: (kind, weight); VR, rig and exam sessions also book stations.
WEEK_KINDS = (("theory", 4), ("practical", 2), ("vr", 2), ("rig", 1), ("exam", 1))
STATION_KINDS = frozenset({"vr", "rig", "exam"})
SLOTS = ((8, 0), (10, 0), (13, 0), (15, 0), (18, 30))  # local start times, 2 hours each


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def fill(
    session: Session, n_sessions: int, rng: random.Random
) -> tuple[list[int], list[int], list[int], list[int]]:
    now = dt.datetime.now(dt.UTC)
    session.execute(
        insert(Room),
        [
            {"code": f"R{i:02d}", "name": f"教室{i}", "capacity": 40, "is_active": True}
            for i in range(30)
        ],
    )
    session.execute(
        insert(Station),
        [
            {
                "code": f"VR-{i:02d}",
                "kind": "vr_pod",
                "name": f"VR{i}",
                "room_id": None,
                "is_active": True,
            }
            for i in range(60)
        ],
    )
    session.execute(
        insert(User),
        [
            {
                "username": f"teacher{i}",
                "display_name": f"教师{i}",
                "role": Role.trainer.value,
                "is_active": True,
                "created_at": now,
                "updated_at": now,
            }
            for i in range(40)
        ],
    )
    session.execute(insert(Employer), [{"name": "某化工公司", "created_at": now}])
    employer_id = session.exec(select(Employer.id)).one()
    session.execute(
        insert(Trainee),
        [
            {
                "name": f"学员{i}",
                "id_type": "resident_id",
                "id_number": make_resident_id(
                    "320602", dt.date(1980, 1, 1) + dt.timedelta(days=i // 400), i % 400, Sex.male
                ),
                "birth_date": dt.date(1980, 1, 1),
                "sex": "male",
                "phone": "13800138000",
                "employer_id": employer_id,
                "job": None,
                "education": "senior_high",
                "badge": f"B{i:09d}",
                "created_at": now,
                "updated_at": now,
            }
            for i in range(3000)
        ],
    )
    room_ids = [r.id for r in session.exec(Room.__table__.select())]  # type: ignore[attr-defined]
    station_ids = [s.id for s in session.exec(Station.__table__.select())]  # type: ignore[attr-defined]
    teacher_ids = [u.id for u in session.exec(User.__table__.select())]  # type: ignore[attr-defined]
    trainee_ids = [t.id for t in session.exec(Trainee.__table__.select())]  # type: ignore[attr-defined]
    courses = [
        {
            "code": f"C{i:04d}",
            "title": "硝化",
            "curriculum_code": "NITRATION",
            "curriculum_version": "2026.1",
            "starts_on": dt.date(2026, 1, 1),
            "ends_on": dt.date(2026, 12, 31),
            "lead_trainer_id": teacher_ids[i % len(teacher_ids)],
            "capacity": 30,
            "status": "open",
            "created_at": now,
        }
        for i in range(400)
    ]
    session.execute(insert(Course), courses)
    course_ids = [c.id for c in session.exec(Course.__table__.select())]  # type: ignore[attr-defined]
    enrolments = []
    for i, trainee_id in enumerate(trainee_ids):
        for course_id in {
            course_ids[i % len(course_ids)],
            course_ids[(i * 7 + 3) % len(course_ids)],
        }:
            enrolments.append(
                {
                    "course_id": course_id,
                    "trainee_id": trainee_id,
                    "status": EnrolmentStatus.enrolled.value,
                    "requested_at": now,
                    "enrolled_at": now,
                }
            )
    session.execute(insert(Enrolment), enrolments)
    rows, links = [], []
    for i in range(n_sessions):
        day = rng.randrange(0, 353)
        day += 7 if day >= WEEK_DAY else 0  # leave the calendar's week to fill_week
        hour = rng.choice([8, 9, 10, 13, 14, 15, 18])
        start = (START + dt.timedelta(days=day, hours=hour)).astimezone(dt.UTC)
        end = start + dt.timedelta(hours=rng.choice([1, 2, 3]))
        rows.append(
            {
                "course_id": course_ids[i % len(course_ids)],
                "kind": "theory",
                "title": "",
                "starts_at": start,
                "ends_at": end,
                "room_id": rng.choice(room_ids),
                "instructor_id": rng.choice(teacher_ids),
            }
        )
    ids: list[int] = []
    for chunk in range(0, len(rows), 5000):
        result = session.execute(
            insert(ClassSession).returning(col(ClassSession.id), sort_by_parameter_order=True),
            rows[chunk : chunk + 5000],
        )
        ids += [r[0] for r in result]
    for i in range(0, len(rows), 4):
        links.append(
            {
                "session_id": ids[i],
                "station_id": rng.choice(station_ids),
                "starts_at": rows[i]["starts_at"],
                "ends_at": rows[i]["ends_at"],
            }
        )
    session.execute(insert(SessionStation), links)
    session.commit()
    return room_ids, station_ids, teacher_ids, course_ids


def fill_week(
    session: Session,
    monday: dt.datetime,
    n_sessions: int,
    ids: tuple[list[int], list[int], list[int], list[int]],
    rng: random.Random,
) -> tuple[int, int]:
    """n sessions in the week of `monday`: rooms free at their slot (one in ten has no room),
    VR, rig and exam sessions on 1–3 stations free at that slot. Returns (sessions, bookings)."""
    room_ids, station_ids, teacher_ids, course_ids = ids
    places = [
        (day, slot, room)
        for day in range(7)
        for slot in range(len(SLOTS))
        for room in [*room_ids, *[None] * (len(room_ids) // 9)]
    ]
    if n_sessions > len(places):
        raise SystemExit(f"--week-sessions: at most {len(places)} fit in the week's rooms")
    kinds = [kind for kind, weight in WEEK_KINDS for _ in range(weight)]
    rows, booked = [], []
    free: dict[tuple[int, int], list[int]] = {}
    for day, slot, room in rng.sample(places, n_sessions):
        hour, minute = SLOTS[slot]
        start = (monday + dt.timedelta(days=day, hours=hour, minutes=minute)).astimezone(dt.UTC)
        kind = rng.choice(kinds)
        rows.append(
            {
                "course_id": rng.choice(course_ids),
                "kind": kind,
                "title": rng.choice(["", "", "硝化釜飞温应急处置", "正压式空气呼吸器佩戴"]),
                "starts_at": start,
                "ends_at": start + dt.timedelta(hours=2),
                "room_id": room,
                "instructor_id": rng.choice([*teacher_ids, None]),
            }
        )
        stations = free.setdefault((day, slot), rng.sample(station_ids, len(station_ids)))
        wanted = min(rng.randint(1, 3), len(stations)) if kind in STATION_KINDS else 0
        booked.append([stations.pop() for _ in range(wanted)])
    result = session.execute(
        insert(ClassSession).returning(col(ClassSession.id), sort_by_parameter_order=True),
        rows,
    )
    links = [
        {
            "session_id": session_id,
            "station_id": station_id,
            "starts_at": row["starts_at"],
            "ends_at": row["ends_at"],
        }
        for (session_id,), row, stations in zip(result, rows, booked, strict=True)
        for station_id in stations
    ]
    session.execute(insert(SessionStation), links)
    session.commit()
    return len(rows), len(links)


def log_in(client: TestClient, username: str, password: str) -> None:
    """Through the real login form, as a trainer does."""
    page = client.get("/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, "login page has no CSRF token"
    response = client.post(
        "/console/login",
        data={"username": username, "password": password, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


@contextmanager
def full_collections() -> Iterator[list[int]]:
    """Counts the cyclic garbage collector's full (generation 2) runs, in any thread."""
    runs = [0]

    def note(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 2:
            runs[0] += 1

    gc.callbacks.append(note)
    try:
        yield runs
    finally:
        gc.callbacks.remove(note)


@contextmanager
def counting_statements(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", note)


def time_calendar(
    url: str,
    engine: Engine,
    expected: dict[str, int],
    year_sessions: int,
    repeat: int,
    freeze: bool,
) -> list[tuple[str, str, str]]:
    """GET /console/calendar for the week, by room and by station, end to end through the app."""
    week = "{}-W{:02d}".format(*(START + dt.timedelta(days=WEEK_DAY)).isocalendar()[:2])
    app = create_app(settings=Settings(database_url=url, display_timezone=str(TZ)), engine=engine)
    rows = []
    with TestClient(app) as client:
        log_in(client, TRAINER, PASSWORD)
        if freeze:
            # What a server would do once started: the heap it has now is never garbage.
            gc.collect()
            gc.freeze()
        for view, what in (("rooms", "room"), ("stations", "station")):
            params = {"week": week, "view": view}
            for _ in range(5):  # warm-up: templates compiled, statement caches filled
                client.get("/console/calendar", params=params)
            times, counts, collected = [], set(), 0
            for _ in range(repeat):
                with counting_statements(engine) as statements, full_collections() as runs:
                    t0 = time.perf_counter()
                    page = client.get("/console/calendar", params=params)
                    times.append(time.perf_counter() - t0)
                counts.add(len(statements))
                collected += runs[0] > 0
            assert page.status_code == 200, page.text[:500]
            slots = page.text.count('<a class="slot ')
            assert slots == expected[view], (view, slots, expected[view])
            rows.append(
                (
                    f"week calendar by {what}: {expected['rooms']} sessions in the week"
                    f" ({slots} entries), {year_sessions:,} in the year"
                    + (" · start-up heap frozen" if freeze else ""),
                    f"median {statistics.median(times) * 1000:.1f} ms",
                    f"p95 {percentile(times, 95) * 1000:.1f} ms · max {max(times) * 1000:.1f} ms"
                    f" · full GC in {collected} of {repeat} requests"
                    f" · {'/'.join(map(str, sorted(counts)))} SQL statements"
                    f" · {len(page.content) / 1024:.0f} KiB",
                )
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temp folder")
    parser.add_argument("--sessions", type=int, default=20000, help="the year's sessions")
    parser.add_argument(
        "--week-sessions", type=int, default=500, help="sessions in the calendar's week"
    )
    parser.add_argument("--repeat", type=int, default=50, help="calendar requests per view")
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() the heap before timing the calendar (not what the app does today)",
    )
    args = parser.parse_args()
    url = (
        args.database_url
        or f"sqlite:///{Path(tempfile.mkdtemp(prefix='safetrain-bench-')) / 'bench.db'}"
    )
    migrate.upgrade(url)
    engine = make_engine(url)
    rng = random.Random(11)
    results: list[tuple[str, str, str]] = []
    with Session(engine, expire_on_commit=False) as session:
        ids = fill(session, args.sessions, rng)
        rooms, stations, teachers, course_ids = ids
        in_week, bookings = fill_week(
            session, START + dt.timedelta(days=WEEK_DAY), args.week_sessions, ids, rng
        )
        accounts.create_user(
            session,
            ACTOR,
            UserCreate(username=TRAINER, display_name="教师", role=Role.trainer, password=PASSWORD),
        )
        if engine.dialect.name == "postgresql":
            session.execute(text("ANALYZE"))
            session.commit()
        course = session.get(Course, course_ids[0])
        assert course is not None
        checks, clash_counts = [], []
        for _ in range(300):
            day = rng.randrange(0, 360)
            start = (START + dt.timedelta(days=day, hours=rng.choice([9, 10, 14]))).astimezone(
                dt.UTC
            )
            plan = Planned(
                start,
                start + dt.timedelta(hours=2),
                rng.choice(rooms),
                tuple(rng.sample(stations, 2)),
                rng.choice(teachers),
            )
            t0 = time.perf_counter()
            found = conflicts.clashes_for(session, course, plan, TZ)
            checks.append(time.perf_counter() - t0)
            clash_counts.append(len(found))
            session.rollback()
        results.append(
            (
                f"clash check of a new session vs {args.sessions:,} sessions",
                f"median {statistics.median(checks) * 1000:.2f} ms",
                f"p95 {percentile(checks, 95) * 1000:.2f} ms · {statistics.mean(clash_counts):.1f} clashes found on average",
            )
        )
        adds = []
        free = START + dt.timedelta(days=365)
        course.ends_on = dt.date(2027, 12, 31)
        session.add(course)
        session.commit()
        for i in range(100):
            start = (free + dt.timedelta(days=i, hours=9)).astimezone(dt.UTC)
            data = SessionCreate(
                kind="theory",
                starts_at=start,
                ends_at=start + dt.timedelta(hours=2),
                room_id=rooms[i % len(rooms)],
            )
            t0 = time.perf_counter()
            service.add_session(session, ACTOR, course_ids[0], data, TZ)
            adds.append(time.perf_counter() - t0)
        results.append(
            (
                "add a session end to end (lock, checks, insert, audit, commit)",
                f"median {statistics.median(adds) * 1000:.2f} ms",
                f"p95 {percentile(adds, 95) * 1000:.2f} ms",
            )
        )
    results += time_calendar(
        url,
        engine,
        {"rooms": in_week, "stations": bookings},
        args.sessions + in_week,
        args.repeat,
        args.gc_freeze,
    )
    table = Table(title=f"safetrain scheduling benchmark · {engine.dialect.name}")
    for column in ("what", "time", "spread"):
        table.add_column(column)
    for row in results:
        table.add_row(*row)
    console = Console()
    console.print(table)
    server = ".".join(map(str, engine.dialect.server_version_info or ()))
    console.print(
        f"{platform.machine()} · Python {platform.python_version()} · {platform.platform()}"
        f" · {engine.dialect.name} {server}"
    )


if __name__ == "__main__":
    main()
