"""Benchmark of scheduling: clash checks against 20,000 sessions.

    .venv/bin/python bench/scheduling.py [--database-url URL] [--sessions 20000]

Fills a base with rooms, stations, instructors, courses, enrolled trainees and sessions spread
over a year (bulk inserts), then times the clash check of a new session (every check: room,
stations, instructor, absences, the course's trainees elsewhere) and adding a session end to
end (check, insert, audit, commit). Prints a table; figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table
from sqlalchemy import insert
from sqlmodel import Session

from server import migrate
from server.accounts.models import Role, User
from server.audit.service import Actor
from server.db import make_engine
from server.scheduling import conflicts, service
from server.scheduling.conflicts import Planned
from server.scheduling.models import (
    ClassSession,
    Course,
    Enrolment,
    EnrolmentStatus,
    Room,
    SessionStation,
    Station,
)
from server.scheduling.schemas import SessionCreate
from server.trainees.identity import Sex, make_resident_id
from server.trainees.models import Employer, Trainee

TZ = ZoneInfo("Asia/Shanghai")
START = dt.datetime(2026, 1, 5, 0, 0, tzinfo=TZ)
ACTOR = Actor(name="bench")


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
    employer_id = session.exec(Employer.__table__.select()).first()[0]  # type: ignore[attr-defined]
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
        day = rng.randrange(0, 360)
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
            insert(ClassSession).returning(ClassSession.id, sort_by_parameter_order=True),  # type: ignore[arg-type]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temp folder")
    parser.add_argument("--sessions", type=int, default=20000)
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
        rooms, stations, teachers, course_ids = fill(session, args.sessions, rng)
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
            )  # type: ignore[arg-type]
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
    table = Table(title=f"safetrain scheduling benchmark · {engine.dialect.name}")
    for column in ("what", "time", "spread"):
        table.add_column(column)
    for row in results:
        table.add_row(*row)
    console = Console()
    console.print(table)
    console.print(
        f"{platform.machine()} · Python {platform.python_version()} · {platform.platform()}"
    )


if __name__ == "__main__":
    main()
