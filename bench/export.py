"""Benchmark of the regulator's bulk export: every certificate, streamed over HTTP.

    .venv/bin/python -P bench/export.py [--rows 1000000] [--postgres] [--formats csv,ndjson]

Fills a fresh database with `--rows` certificates by bulk insert (not through issue(): trainees,
employers, courses and certificates written directly, each certificate with a signed document of
a real one's size, a mix of standings: expired, expiring, suspended, revoked, superseded), then
starts the real server as a process of its own (`uvicorn server.asgi:app` on a free port) and
downloads `GET /api/v1/regulator/export?format=…` with httpx, streaming the body, counting
lines. It reads the server's peak resident memory (VmHWM in /proc/<pid>/status) after each
export, and times the database's own dump of the same rows in the same run (`sqlite3 -csv`,
or `psql -c "\\copy (…) TO STDOUT CSV"`). `--postgres` starts a throwaway cluster with fsync on.
Target (issue 7): at least 100,000 rows/s with the server's peak memory under 200 MB, on SQLite
and PostgreSQL. Prints a table; figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import random
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

# Run as a script, this file's folder comes first on sys.path, where a bench named like a package
# the app imports would hide that package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.append(str(Path(__file__).resolve().parents[1]))  # the repository, for tests/pgcluster

from server import migrate  # noqa: E402
from server.accounts import service as accounts  # noqa: E402
from server.accounts.models import Role, UserCreate  # noqa: E402
from server.audit.service import Actor  # noqa: E402
from server.config import Environment, Settings  # noqa: E402
from server.db import make_engine  # noqa: E402
from server.regulator import export  # noqa: E402
from server.trainees.identity import Sex, make_resident_id  # noqa: E402
from tests import pgcluster  # noqa: E402

ACTOR = Actor(name="bench")
UVICORN = (sys.executable, "-m", "uvicorn", "server.asgi:app", "--log-level", "warning")
CHUNK = 20_000  # rows per insert statement / COPY flush
CURRICULA = (
    ("NITRATION", "HC-NITRATION"),
    ("CHLORINATION", "HC-CHLORINATION"),
    ("HYDROGENATION", "HC-HYDROGENATION"),
    ("OXIDATION", "HC-OXIDATION"),
    ("SULFONATION", "HC-SULFONATION"),
)
EMPLOYERS = [f"江海精细化工有限公司第{n}分厂" for n in range(1, 301)]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "建国伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英"
# A signed certificate of the usual size (header, a payload with names, parts and hours, and the
# signature): the rows are as wide as real ones, so the table scans cost what they would.
DOCUMENT = "eyJhbGciOiJFZERTQSJ9." + "A" * 1480 + "." + "S" * 86


def _trainee_rows(count: int, now: dt.datetime) -> Iterator[tuple[Any, ...]]:
    rng = random.Random(7)
    base = dt.date(1970, 1, 1)
    for i in range(count):
        sex = Sex.male if i % 2 == 0 else Sex.female
        birth = base + dt.timedelta(days=(i // 1000) % 12000)
        # 500 serials per birthday and sex; the region varies beyond that.
        region = f"{320000 + (i // 12_000_000) * 100 + ((i // 1000) // 12000) % 100:06d}"
        id_number = make_resident_id(region, birth, (i % 1000) // 2, sex)
        name = rng.choice(SURNAMES) + rng.choice(GIVEN) + ("" if i % 3 else rng.choice(GIVEN))
        yield (
            i + 1,
            name,
            "resident_id",
            "13800138000",
            "硝化操作工",
            "senior_high",
            id_number,
            birth,
            sex.value,
            1 + i % len(EMPLOYERS),
            f"B{i + 1:09d}",
            now,
            now,
        )


TRAINEE_COLUMNS = (
    "id",
    "name",
    "id_type",
    "phone",
    "job",
    "education",
    "id_number",
    "birth_date",
    "sex",
    "employer_id",
    "badge",
    "created_at",
    "updated_at",
)
CERTIFICATE_COLUMNS = (
    "id",
    "number",
    "prefix",
    "year",
    "serial",
    "trainee_id",
    "course_id",
    "curriculum_code",
    "curriculum_version",
    "operation_category",
    "rule_set",
    "issued_on",
    "valid_until",
    "review_due",
    "status",
    "status_reason",
    "status_changed_at",
    "document",
    "kid",
    "supersedes_id",
    "issued_by",
    "issued_at",
    "change_seq",
)


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def _certificate_rows(
    count: int, trainees: int, courses: int, issued_by: int, now: dt.datetime
) -> Iterator[tuple[Any, ...]]:
    """Certificates over 2019–2026: Order 30 ones have a review date (many overdue), about 2 %
    suspended, 1 % revoked, and every 50th re-issues the one before it (superseded)."""
    rng = random.Random(11)
    first = dt.date(2019, 1, 1)
    span = (dt.date(2026, 11, 30) - first).days
    serials: dict[int, int] = {}
    for i in range(count):
        issued_on = first + dt.timedelta(days=span * i // count)
        serial = serials[issued_on.year] = serials.get(issued_on.year, 0) + 1
        order_30 = issued_on < dt.date(2026, 6, 1)
        review = _add_years(issued_on, 3) if order_30 else None
        if review is not None and review >= dt.date(2026, 6, 1):
            review = None  # Order 19 abolished reviews falling due from then
        roll = rng.random()
        status, reason, changed = "valid", None, None
        if roll < 0.01:
            status, reason, changed = "revoked", "考核舞弊 / exam fraud", now
        elif roll < 0.03:
            status, reason, changed = "suspended", "待核查 / under review", now
        supersedes = i if i % 50 == 49 else None  # the previous row's id
        curriculum, category = CURRICULA[i % len(CURRICULA)]
        yield (
            i + 1,
            f"SAFE-{issued_on.year}-{serial:07d}",
            "SAFE",
            issued_on.year,
            serial,
            1 + (i if supersedes is None else i - 1) % trainees,
            1 + i % courses,
            curriculum,
            "1.0",
            category,
            "SAWS-30" if order_30 else "MEM-19",
            issued_on,
            _add_years(issued_on, 6) - dt.timedelta(days=1),
            review,
            status,
            reason,
            changed,
            DOCUMENT,
            "Ab3xZ0v2TQpWc1tHs9LkQf7YmR5uN8eJdC4gVhK6iOo",
            supersedes,
            issued_by,
            now,
            i + 1,
        )


def fill(engine: Engine, rows: int) -> None:
    """Employers, trainees, courses and `rows` certificates, by the fastest path of each database."""
    now = dt.datetime(2026, 11, 30, 2, 0, tzinfo=dt.UTC)
    with Session(engine, expire_on_commit=False) as session:
        user = accounts.create_user(
            session,
            ACTOR,
            UserCreate(
                username="lead",
                display_name="lead",
                role=Role.trainer,
                password=secrets.token_urlsafe(16),
            ),
        )
    trainees = max(1, rows * 9 // 10)
    courses = max(1, rows // 30)
    course_rows = [
        (
            n,
            f"C{n:06d}",
            f"班级 {n}",
            CURRICULA[(n - 1) % len(CURRICULA)][0],
            "1.0",
            dt.date(2019, 1, 1),
            dt.date(2019, 2, 28),
            user.id,
            40,
            "open",
            now,
        )
        for n in range(1, courses + 1)
    ]
    employers = [(n, name, now) for n, name in enumerate(EMPLOYERS, 1)]
    tables: list[tuple[str, tuple[str, ...], Iterator[tuple[Any, ...]] | list[Any]]] = [
        ("employers", ("id", "name", "created_at"), employers),
        ("trainees", TRAINEE_COLUMNS, _trainee_rows(trainees, now)),
        (
            "courses",
            (
                "id",
                "code",
                "title",
                "curriculum_code",
                "curriculum_version",
                "starts_on",
                "ends_on",
                "lead_trainer_id",
                "capacity",
                "status",
                "created_at",
            ),
            course_rows,
        ),
        (
            "certificates",
            CERTIFICATE_COLUMNS,
            _certificate_rows(rows, trainees, courses, user.id or 0, now),
        ),
    ]
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if engine.dialect.name == "postgresql":
            for name, columns, data in tables:
                with cur.copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in data:
                        copy.write_row(row)
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "  # noqa: S608
                    f"(SELECT max(id) FROM {name}))"
                )
            raw.commit()
            driver: Any = raw.driver_connection
            driver.autocommit = True
            driver.execute("VACUUM ANALYZE")
            driver.autocommit = False
        else:
            cur.execute("BEGIN")
            for name, columns, data in tables:
                marks = ", ".join("?" for _ in columns)
                sql = f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608
                batch: list[tuple[Any, ...]] = []
                for row in data:
                    batch.append(tuple(_sqlite_value(v) for v in row))
                    if len(batch) >= CHUNK:
                        cur.executemany(sql, batch)
                        batch.clear()
                cur.executemany(sql, batch)
            cur.execute("COMMIT")
            cur.execute("ANALYZE")
    finally:
        raw.close()


def _sqlite_value(value: Any) -> Any:
    """As SQLAlchemy stores it on SQLite: dates as ISO text, UTC instants without the zone."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


# --- the measurement -----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


@contextlib.contextmanager
def serve(url: str, log: Path) -> Iterator[tuple[str, int]]:
    """`uvicorn server.asgi:app` on the database, one process; yields its base URL and pid."""
    port = _free_port()
    env = os.environ | {"SAFETRAIN_DATABASE_URL": url, "SAFETRAIN_ENVIRONMENT": "test"}
    with log.open("w") as out:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [*UVICORN, "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("server did not start:\n" + log.read_text())
                time.sleep(0.2)
            yield base, proc.pid
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def download(base: str, token: str, fmt: str) -> tuple[int, int, float, float]:
    """(rows, bytes, seconds, seconds to the first row) of one export over HTTP."""
    lines = size = 0
    first = 0.0
    header = len(export.header(fmt, bom=True))
    start = time.perf_counter()
    with httpx.stream(
        "GET",
        f"{base}/api/v1/regulator/export",
        params={"format": fmt},
        headers={"Authorization": f"Bearer {token}"},
        timeout=600,
    ) as answer:
        answer.raise_for_status()
        for data in answer.iter_raw():
            lines += data.count(b"\n")
            size += len(data)
            if not first and size > header:
                first = time.perf_counter() - start
    return lines - (1 if fmt == "csv" else 0), size, time.perf_counter() - start, first


def broken_off(base: str, token: str, engine: Engine) -> tuple[int, bool, bool]:
    """Read 4 MB of a CSV export and hang up; what the export's access-log row then says."""
    with httpx.stream(
        "GET",
        f"{base}/api/v1/regulator/export",
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    ) as answer:
        got = 0
        for data in answer.iter_raw(1 << 16):
            got += len(data)
            if got >= 4 << 20:
                break
    deadline = time.monotonic() + 10
    while True:
        with engine.connect() as conn:
            records, complete, finished = conn.execute(
                text(
                    "SELECT records, complete, finished_at FROM regulator_access "
                    "ORDER BY id DESC LIMIT 1"
                )
            ).one()
        if finished is not None or time.monotonic() > deadline:
            return int(records), bool(complete), finished is not None
        time.sleep(0.1)


def dump_commands(url: str, engine: Engine, rows_sql: str) -> list[tuple[str, list[str]]]:
    """The database's own CSV dump: of the export's rows and columns, and of the table."""
    parsed = make_url(url)
    if engine.dialect.name == "sqlite":
        sqlite3 = shutil.which("sqlite3")
        if sqlite3 is None:
            return []
        path = str(parsed.database)
        return [
            ("sqlite3 -csv, the export's query", [sqlite3, "-csv", path, rows_sql]),
            (
                "sqlite3 -csv, SELECT * FROM certificates",
                [sqlite3, "-csv", path, "SELECT * FROM certificates"],
            ),
        ]
    psql = pgcluster.find_bin("psql")
    if psql is None:
        return []
    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    return [
        (
            "psql \\copy, the export's query",
            [psql, dsn, "-c", f"\\copy ({rows_sql}) TO STDOUT CSV"],
        ),
        ("psql \\copy certificates", [psql, dsn, "-c", "\\copy certificates TO STDOUT CSV"]),
    ]


def timed_dump(command: list[str]) -> tuple[int, int, float, float]:
    """(lines, bytes, seconds, the command's CPU seconds) of a dump command, its output read
    as the HTTP client reads."""
    lines = size = 0
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with subprocess.Popen(command, stdout=subprocess.PIPE) as proc:  # noqa: S603
        assert proc.stdout is not None
        while data := proc.stdout.read(1 << 20):
            lines += data.count(b"\n")
            size += len(data)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({proc.returncode})")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return lines, size, seconds, cpu


def literal_sql(engine: Engine) -> str:
    """The export's rows and columns (standing, titles, joins) as one SQL text, values inline."""
    from server.certificates.service import today
    from server.regulator import service

    query = service.certificate_query(service.Filters(), service.Standings(today()))
    if engine.dialect.name == "sqlite":  # in the export's order: id on SQLite, none on PostgreSQL
        query = query.order_by(service.certificate_id())
    return str(query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--postgres", action="store_true", help="a throwaway PostgreSQL cluster, fsync on"
    )
    parser.add_argument("--formats", default="csv,ndjson")
    parser.add_argument("--repeat", type=int, default=1, help="exports of each format")
    args = parser.parse_args()
    formats = [f for f in args.formats.split(",") if f]
    console = Console(width=150)
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        if args.postgres:
            cluster = pgcluster.start(durable=True)
            stack.callback(cluster.stop)
            url = pgcluster.create_database(cluster, "bench")
        migrate.upgrade(url)
        engine = make_engine(url)
        started = time.perf_counter()
        fill(engine, args.rows)
        console.print(f"filled {args.rows:,} certificates in {time.perf_counter() - started:.0f} s")
        settings = Settings(database_url=url, environment=Environment.test)
        with Session(engine, expire_on_commit=False) as session:
            reader = accounts.create_user(
                session,
                ACTOR,
                UserCreate(username="province", display_name="省应急管理厅", role=Role.regulator),
            )
            assert reader.id is not None
            _, token = accounts.create_token(session, settings, ACTOR, reader.id, "bench", 1)
        rows_sql = literal_sql(engine)
        results: list[tuple[str, int, int, float, str]] = []
        with serve(url, Path(tmp) / "serve.log") as (base, pid):
            idle = _peak_rss_mb(pid)
            for fmt in formats:
                for _ in range(args.repeat):
                    cpu = _cpu_seconds(pid)
                    rows, size, seconds, first = download(base, token, fmt)
                    cpu = _cpu_seconds(pid) - cpu
                    assert rows == args.rows, (fmt, rows)
                    results.append(
                        (
                            f"GET /api/v1/regulator/export?format={fmt}",
                            rows,
                            size,
                            seconds,
                            f"{_peak_rss_mb(pid):.0f} MB; first row {first * 1000:.0f} ms; "
                            f"server CPU {cpu:.1f} s",
                        )
                    )
            broken = broken_off(base, token, engine)
        for label, command in dump_commands(url, engine, rows_sql):
            lines, size, seconds, cpu = timed_dump(command)
            results.append((label, lines, size, seconds, f"({command[0]} CPU {cpu:.1f} s)"))
        with engine.connect() as conn:
            version = conn.execute(
                text(
                    "SELECT sqlite_version()"
                    if engine.dialect.name == "sqlite"
                    else "SHOW server_version"
                )
            ).scalar()
        engine.dispose()

    table = Table(
        title=f"regulator export — {engine.dialect.name} {version}, {args.rows:,} certificates"
    )
    table.add_column("what")
    table.add_column("rows", justify="right")
    table.add_column("MB", justify="right")
    table.add_column("seconds", justify="right")
    table.add_column("rows/s", justify="right")
    table.add_column("server: peak RSS, first row, CPU", justify="right")
    for label, rows, size, seconds, memory in results:
        table.add_row(
            label,
            f"{rows:,}",
            f"{size / 1e6:,.0f}",
            f"{seconds:.2f}",
            f"{rows / seconds:,.0f}",
            memory,
        )
    console.print(table)
    dumps = [r for r in results if not r[0].startswith("GET")]
    if dumps:
        own = dumps[0][1] / dumps[0][3]
        for label, rows, _, seconds, _ in results:
            if label.startswith("GET"):
                console.print(f"{label}: {rows / seconds / own:.2f} × the rate of {dumps[0][0]}")
    console.print(f"server at rest: peak RSS {idle:.0f} MB")
    console.print(
        "a download broken off after 4 MB left its access-log row: "
        f"{broken[0]:,} rows sent, complete={broken[1]}, finished_at set: {broken[2]}"
    )
    console.print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}"
    )


if __name__ == "__main__":
    main()
