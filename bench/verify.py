"""Benchmark of the public verification endpoint, `GET /api/v1/verify/{number}`, under wrk.

    .venv/bin/python -P bench/verify.py [--postgres] [--certificates 10000] [--duration 10]
                                        [--connections 16] [--threads 1]

Fills a database with `--certificates` certificates whose documents are really signed (Ed25519,
a key store in a temp folder; each document built by the service's own payload), starts
`safetrain serve --workers 1` on it and runs wrk over loopback (`--connections` keep-alive
connections, `--latency`) four times, each for `--duration` seconds after a two-second warm-up:

- a trivial FastAPI app (one `def` route answering a constant, served by uvicorn with the
  settings `safetrain serve` uses, in a process of its own: the production app gets no test
  route), for the ratio the issue asks for;
- the server's `/healthz` (no database, but the app's middleware and a thread hop);
- verification of certificates not looked up since the server started: wrk walks the numbers
  (all but the 1,000 that warmed the server up) in random order, each once, so every look-up
  checks the signature (if the numbers run out before the run's end, the table says so: the
  figure is then too low, since wrk idles the rest of the run — give more `--certificates`);
- verification of random numbers, all looked up before, so the signature checks are cached.

Between the last two, every certificate is looked up once and its answer checked: found,
valid, `signature_valid: true` and masked, so the bench measures the success path.
`--postgres` starts a throwaway PostgreSQL cluster with fsync on. The table shows the CPU the
server (and PostgreSQL's processes) used and what other processes on the machine took
meanwhile. Needs wrk (the Debian package `wrk`).

The server runs with SAFETRAIN_VERIFY_RATE_PER_MINUTE=100000000: wrk asks from one address,
which the production limit (60 a minute) would stop after 60 look-ups. Target (issue 7): at
least 1,500 requests/s with p99 under 25 ms on one worker. Prints a table; figures go to
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import os
import platform
import random
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import insert
from sqlmodel import Session

from curricula import catalogue
from curricula.model import ModuleKind
from scoring.decisions import required_parts
from server import migrate
from server.accounts import service as accounts
from server.accounts.models import Role, UserCreate
from server.assessment.sittings import curriculum_of
from server.audit.service import Actor
from server.certificates import service, signing
from server.certificates.keystore import KeyStore
from server.certificates.models import Certificate
from server.config import Environment, Settings
from server.db import make_engine, utcnow
from server.scheduling import service as scheduling
from server.scheduling.schemas import CourseCreate
from server.trainees import service as trainees
from server.trainees.identity import Sex, make_resident_id
from server.trainees.models import TraineeCreate

sys.path.append(str(Path(__file__).resolve().parents[1]))  # the repository, for tests/pgcluster
from tests import pgcluster

ACTOR = Actor(name="bench")
TRAINEES = 100  # each holds one certificate per course: (trainee, course) is unique
RATE = 100_000_000
SAMPLE = 200
RESERVED = 1_000  # numbers that warm the server up; the others are walked once
WARM_UP_SECONDS = 2

# wrk's Lua side. Arguments: a path (or a path prefix), wrk's thread count, a file of numbers.
# `done` prints the figures exactly (microseconds) on one line the bench reads.
WRK_COMMON = """
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end

function init(args)
  paths = {}
  if args[3] then
    for line in io.lines(args[3]) do paths[#paths + 1] = args[1] .. line end
  else
    paths[1] = args[1]
  end
  step = tonumber(args[2])
  position = id
  math.randomseed(os.time() * 100 + id)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
    "connect=%d read=%d write=%d status=%d timeout=%d\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
"""
# A random one of the paths each request.
WRK_RANDOM = """
function request()
  return wrk.format("GET", paths[math.random(#paths)])
end
"""
# Each path once: thread i of n asks for paths i, i + n, i + 2n … and stops after the last.
# No `response` callback: with one, wrk hands every answer to Lua and, on this 2-core machine,
# became the bottleneck (the server idled at 69 %).
WRK_WALK = """
function request()
  local path = paths[position]
  if path == nil then
    wrk.thread:stop()
    path = paths[#paths]
  end
  position = position + step
  return wrk.format("GET", path)
end
"""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    socket_errors: int  # connect, read, write, timeout
    non_2xx: int
    server_cpu: float  # share of one core the server process used during the run
    database_cpu: float  # the PostgreSQL cluster's processes (SQLite runs in the server)
    others_cpu: float  # everything else but wrk: other people's work on the machine

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


def parse_wrk(output: str) -> dict[str, int]:
    """The figures of the script's `done` line."""
    line = next((ln for ln in output.splitlines() if ln.startswith("WRK ")), None)
    if line is None:
        raise SystemExit("wrk printed no summary:\n" + output)
    return {key: int(value) for key, value in (part.split("=") for part in line.split()[1:])}


# --- the database ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Score:
    score: Decimal


@dataclass(frozen=True)
class _Part:
    part: str
    passed: bool
    last_attempt: _Score | None
    passed_on: dt.date | None


@dataclass(frozen=True)
class _Hours:
    kind: ModuleKind
    credited_minutes: int
    required_minutes: int


@dataclass(frozen=True)
class _Decision:
    """The parts of a pass decision that the signed document records."""

    parts: tuple[_Part, ...]
    hours: tuple[_Hours, ...]


def prepare(session: Session, settings: Settings, count: int) -> list[str]:
    """Trainees, courses and `count` certificates with signed documents; their numbers.

    `service.issue` needs a trainee who passed everything (seconds each); the rows are inserted
    directly instead, each document built by the service's own payload and signed for real.
    """
    trainer = accounts.create_user(
        session,
        ACTOR,
        UserCreate(
            username="lead",
            display_name="lead",
            role=Role.trainer,
            password="bench-lead-2026",  # noqa: S106 - a throwaway database
        ),
    )
    assert trainer.id is not None
    people = []
    for n in range(TRAINEES):
        person = trainees.register(
            session,
            ACTOR,
            TraineeCreate.model_validate(
                {
                    "name": f"王建{n}",
                    "id_number": make_resident_id("320602", dt.date(1990, 1, 1), n, Sex.male),
                    "phone": "13800138000",
                    "employer": "江海精细化工有限公司",
                    "job": "硝化操作工",
                    "education": "senior_high",
                }
            ),
        )
        assert person.id is not None
        people.append(person.id)
    issued_on = service.today() - dt.timedelta(days=30)
    found = service.terms(catalogue().rule_sets, issued_on)
    store = KeyStore(settings.keys_dir)
    kid = store.current()[0].kid
    numbers: list[str] = []
    rows: list[dict[str, Any]] = []
    for c in range(-(-count // TRAINEES)):
        course = scheduling.create_course(
            session,
            ACTOR,
            CourseCreate(
                code=f"NITR-{c:03d}",
                curriculum_code="NITRATION",
                starts_on=issued_on - dt.timedelta(days=60),
                ends_on=issued_on - dt.timedelta(days=1),
                lead_trainer_id=trainer.id,
                capacity=TRAINEES,
            ),
        )
        assert course.id is not None
        curriculum = curriculum_of(course.curriculum_code, course.curriculum_version)
        decision = _Decision(
            parts=tuple(
                _Part(part, True, _Score(Decimal("86")), issued_on - dt.timedelta(days=2))
                for part, _ in required_parts(curriculum)
            ),
            hours=tuple(
                _Hours(kind, round(hours * 60), round(hours * 60))
                for kind, hours in curriculum.module_hours().items()
                if hours
            ),
        )
        for trainee_id in people[: count - len(numbers)]:
            number = service.format_number(
                settings.certificate_prefix, issued_on.year, 1 + len(numbers)
            )
            issued_at = utcnow()
            payload = service._payload(
                session,
                settings,
                number=number,
                trainee_id=trainee_id,
                course_code=course.code,
                curriculum=curriculum,
                decision=decision,
                issued_on=issued_on,
                found=found,
                issued_at=issued_at,
                supersedes=None,
            )
            numbers.append(number)
            rows.append(
                {
                    "number": number,
                    "prefix": settings.certificate_prefix,
                    "year": issued_on.year,
                    "serial": len(numbers),
                    "trainee_id": trainee_id,
                    "course_id": course.id,
                    "curriculum_code": curriculum.code,
                    "curriculum_version": curriculum.version,
                    "operation_category": (
                        None
                        if curriculum.operation_category is None
                        else curriculum.operation_category.code
                    ),
                    "rule_set": found.rule_set.code,
                    "issued_on": issued_on,
                    "valid_until": found.valid_until,
                    "review_due": found.review_due,
                    "status": "valid",
                    "document": signing.sign_document(payload, store),
                    "kid": kid,
                    "issued_by": trainer.id,
                    "issued_at": issued_at,
                }
            )
    for i in range(0, len(rows), 1000):
        session.execute(insert(Certificate), rows[i : i + 1000])
    session.commit()
    return numbers


# --- the servers and wrk -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running(command: Sequence[str], env: dict[str, str], log: Path, ready: str) -> Iterator[int]:
    """A server process, once `ready` answers 200; yields its pid."""
    with log.open("w") as out:
        server = subprocess.Popen(command, env=env, stdout=out, stderr=out)  # noqa: S603
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(ready, timeout=5).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit(f"{command[0]} did not start:\n{log.read_text()}")
                time.sleep(0.2)
            yield server.pid
        finally:
            server.terminate()
            server.wait(timeout=20)


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _cpu_of(pid: int) -> float:
    """CPU seconds a process used so far, all threads."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_of_tree(pid: int | None) -> float:
    """CPU seconds of a process, its children now and those it waited for (PostgreSQL's
    postmaster and its backends)."""
    if pid is None:
        return 0.0
    fields = _stat(pid)
    total = sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    for child in Path("/proc").iterdir():
        if child.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if int(_stat(int(child.name))[1]) == pid:
                    total += _cpu_of(int(child.name))
    return total


def _machine_busy() -> float:
    """CPU seconds the whole machine was busy since boot (every core)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def wrk(
    wrk_bin: str,
    url: str,
    script: Path,
    args: list[str],
    *,
    seconds: int,
    connections: int,
    threads: int,
    server_pid: int,
    database_pid: int | None,
) -> WrkResult:
    command = [
        wrk_bin,
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={seconds}s",
        "--timeout=5s",
        "--latency",
        f"--script={script}",
        url,
        "--",
        *args,
    ]
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    database0 = _cpu_of_tree(database_pid)
    server0, machine0, t0 = _cpu_of(server_pid), _machine_busy(), time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, check=True)  # noqa: S603
    elapsed = time.monotonic() - t0
    server = _cpu_of(server_pid) - server0
    machine = _machine_busy() - machine0
    database = _cpu_of_tree(database_pid) - database0
    own_after = resource.getrusage(resource.RUSAGE_SELF)
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    ours = (
        own_after.ru_utime
        + own_after.ru_stime
        - own.ru_utime
        - own.ru_stime
        + children_after.ru_utime  # wrk: the only child waited for meanwhile
        + children_after.ru_stime
        - children.ru_utime
        - children.ru_stime
    )
    figures = parse_wrk(done.stdout)
    return WrkResult(
        requests=figures["requests"],
        seconds=figures["duration_us"] / 1e6,
        p50_ms=figures["p50_us"] / 1000,
        p90_ms=figures["p90_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        max_ms=figures["max_us"] / 1000,
        socket_errors=sum(figures[k] for k in ("connect", "read", "write", "timeout")),
        non_2xx=figures["status"],
        server_cpu=server / elapsed,
        database_cpu=database / elapsed,
        others_cpu=max(0.0, machine - server - database - ours) / elapsed,
    )


def check(base: str, numbers: Sequence[str]) -> int:
    """Look-ups answered as the public would see them: found, valid, signature holds."""
    with httpx.Client(base_url=base, timeout=10) as client:
        for number in numbers:
            answer = client.get(f"/api/v1/verify/{number}")
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body["found"] and body["number"] == number, body
            assert body["signature_valid"] is True and body["standing"] == "valid", body
            assert body["name"].startswith("王*") and "*" in body["id_number"], body
    return len(numbers)


def serve_baseline(port: int) -> None:
    """The trivial app: one `def` route, served as `safetrain serve` serves (server/cli.py)."""
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/")
    def constant() -> dict[str, str]:
        return {"status": "ok"}

    gc.collect()
    gc.freeze()  # as server/asgi.py does
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        workers=1,
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1,::1",
        log_level="info",
    )


# --- main ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--postgres", action="store_true", help="a throwaway PostgreSQL cluster, fsync on"
    )
    parser.add_argument(
        "--certificates",
        type=int,
        default=30_000,
        help="enough for the first look-ups to last a whole run at a few thousand a second",
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds of each wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--baseline-port", type=int, help=argparse.SUPPRESS)  # the trivial app
    args = parser.parse_args()
    if args.baseline_port:
        serve_baseline(args.baseline_port)
        return
    wrk_bin = shutil.which("wrk")
    if wrk_bin is None:
        raise SystemExit("bench/verify.py needs wrk: apt-get install wrk (the Debian package)")
    if args.certificates < 2 * RESERVED:
        raise SystemExit(f"--certificates must be at least {2 * RESERVED}")
    load = os.getloadavg()[0]

    with tempfile.TemporaryDirectory() as tmp_name, contextlib.ExitStack() as stack:
        tmp = Path(tmp_name)
        url = f"sqlite:///{tmp / 'bench.db'}"
        database_pid = None
        if args.postgres:
            cluster = pgcluster.start(durable=True)
            stack.callback(cluster.stop)
            url = pgcluster.create_database(cluster, "bench")
            database_pid = int((cluster.datadir / "postmaster.pid").read_text().split()[0])
        keys = tmp / "keys"
        KeyStore(keys).ensure()
        settings = Settings(
            database_url=url, environment=Environment.production, keys_dir=str(keys)
        )
        migrate.upgrade(url)
        engine = make_engine(url)
        t0 = time.perf_counter()
        with Session(engine, expire_on_commit=False) as session:
            numbers = prepare(session, settings, args.certificates)
        filled = time.perf_counter() - t0
        dialect = engine.dialect.name
        engine.dispose()
        # The first numbers warm the server up; the others are first looked up by the cold run,
        # in random order (not the table's).
        reserved, rest = numbers[:RESERVED], numbers[RESERVED:]
        random.shuffle(rest)
        files = {}
        for name, lines in (("reserved", reserved), ("rest", rest), ("all", numbers)):
            files[name] = tmp / f"{name}.txt"
            files[name].write_text("\n".join(lines) + "\n")
        random_lua, walk_lua = tmp / "random.lua", tmp / "walk.lua"
        random_lua.write_text(WRK_COMMON + WRK_RANDOM)
        walk_lua.write_text(WRK_COMMON + WRK_WALK)

        env = os.environ | {
            "SAFETRAIN_DATABASE_URL": url,
            "SAFETRAIN_KEYS_DIR": str(keys),
            "SAFETRAIN_ENVIRONMENT": "production",
            "SAFETRAIN_VERIFY_RATE_PER_MINUTE": str(RATE),
        }

        def run(base: str, pid: int, script: Path, wrk_args: list[str], seconds: int) -> WrkResult:
            return wrk(
                wrk_bin,
                base,
                script,
                [wrk_args[0], str(args.threads), *wrk_args[1:]],
                seconds=seconds,
                connections=args.connections,
                threads=args.threads,
                server_pid=pid,
                database_pid=database_pid,
            )

        port = free_port()
        baseline_cmd = [sys.executable, "-P", __file__, "--baseline-port", str(port)]
        base = f"http://127.0.0.1:{port}"
        with running(baseline_cmd, env, tmp / "baseline.log", base + "/") as pid:
            run(base, pid, random_lua, ["/"], WARM_UP_SECONDS)
            trivial = run(base, pid, random_lua, ["/"], args.duration)

        port = free_port()
        cli = str(Path(sys.executable).with_name("safetrain"))
        serve_cmd = [cli, "serve", "--workers", "1", "--port", str(port)]
        base = f"http://127.0.0.1:{port}"
        verify = "/api/v1/verify/"
        with running(serve_cmd, env, tmp / "serve.log", base + "/readyz") as pid:
            checked = check(base, random.sample(reserved, SAMPLE))
            run(base, pid, random_lua, ["/healthz"], WARM_UP_SECONDS)
            healthz = run(base, pid, random_lua, ["/healthz"], args.duration)
            run(base, pid, random_lua, [verify, str(files["reserved"])], WARM_UP_SECONDS)
            cold = run(base, pid, walk_lua, [verify, str(files["rest"])], args.duration)
            checked += check(base, numbers)  # every certificate, and every check cached now
            warm = run(base, pid, random_lua, [verify, str(files["all"])], args.duration)

    table = Table(
        title=f"verification over wrk — {dialect}, {args.certificates:,} certificates, "
        f"{args.connections} connections, {args.duration} s a run"
    )
    for column in ("what", "requests/s", "p50", "p90", "p99", "max", "errors"):
        table.add_column(column, justify="left" if column == "what" else "right")
    table.add_column("server CPU", justify="right")
    if args.postgres:
        table.add_column("PostgreSQL CPU", justify="right")
    table.add_column("others' CPU", justify="right")

    def line(label: str, r: WrkResult) -> None:
        table.add_row(
            label,
            f"{r.per_second:,.0f}",
            f"{r.p50_ms:.1f} ms",
            f"{r.p90_ms:.1f} ms",
            f"{r.p99_ms:.1f} ms",
            f"{r.max_ms:.0f} ms",
            f"{r.socket_errors + r.non_2xx}",
            f"{r.server_cpu:.0%}",
            *([f"{r.database_cpu:.0%}"] if args.postgres else []),
            f"{r.others_cpu:.0%}",
        )

    line("trivial app GET / (own process)", trivial)
    line("safetrain GET /healthz", healthz)
    ran_out = cold.requests >= len(numbers) - RESERVED - args.connections
    line(
        f"verify, first look-ups ({cold.requests:,}"
        + (", NUMBERS RAN OUT: too low)" if ran_out else ")"),
        cold,
    )
    line("verify, looked up before", warm)
    console = Console(width=max(Console().width, 120))
    console.print(table)
    for label, r in (("first look-ups", cold), ("looked up before", warm)):
        met = r.per_second >= 1500 and r.p99_ms < 25
        console.print(
            f"verify, {label}: {r.per_second / trivial.per_second:.2f} of the trivial app's "
            f"requests/s, {r.per_second / healthz.per_second:.2f} of /healthz's; target "
            f"≥ 1,500/s with p99 < 25 ms " + ("met" if met else "NOT met")
        )
    console.print(
        f"filled in {filled:.0f} s; {checked:,} answers checked (found, valid, signature true); "
        f"verify rate limit {RATE:,}/minute; server and others' CPU in shares of one core "
        f"(the machine has {os.cpu_count()}); load average before {load:.2f}; "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}"
    )


if __name__ == "__main__":
    main()
