"""Benchmark of the trainee registry: roster import, search and audit verification.

    .venv/bin/python bench/registry.py [--database-url URL] [--trainees 20000]

Prints a table; figures go to docs/benchmarks.md with the machine they ran on.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlmodel import Session

from server import migrate
from server.audit import service as audit
from server.audit.service import Actor
from server.db import make_engine
from server.trainees import service
from server.trainees.identity import Sex, make_resident_id
from server.trainees.models import Trainee

ACTOR = Actor(name="bench")
HEADER = ["姓名", "证件号码", "手机号", "工作单位", "岗位", "文化程度"]
REGIONS = ["320602", "320621", "320623", "321202", "320681", "110101", "440305"]


def roster(rng: random.Random, n: int, serial_base: int, birth_base: dt.date) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    for i in range(n):
        # Distinct (region, birth date, serial) for every row of every roster.
        k = serial_base + i
        birth = birth_base + dt.timedelta(days=k // 500)
        number = make_resident_id(REGIONS[k % len(REGIONS)], birth, k % 500, rng.choice(list(Sex)))
        writer.writerow(
            [
                f"学员{k}",
                number,
                f"138{k % 10**8:08d}",
                f"公司{k % 50}",
                "操作工",
                rng.choice(["高中", "中专", "大专"]),
            ]
        )
    return buffer.getvalue().encode("utf-8-sig")


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temp folder")
    parser.add_argument(
        "--trainees", type=int, default=20000, help="registry size for the search figures"
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="safetrain-bench-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    rng = random.Random(7)
    rows: list[tuple[str, str, str]] = []

    with Session(engine, expire_on_commit=False) as session:
        for size, base in ((1000, 0), (5000, 1000)):
            data = roster(rng, size, base, dt.date(1970, 1, 1))
            seconds = timed(partial(service.import_roster, session, ACTOR, data, "bench.csv"))
            rows.append(
                (
                    f"import {size:,}-row CSV roster (parse, check, insert, audit)",
                    f"{seconds:.2f} s",
                    f"{size / seconds:,.0f} rows/s",
                )
            )
        loaded = 6000
        while loaded < args.trainees:
            chunk = min(5000, args.trainees - loaded)
            service.import_roster(
                session, ACTOR, roster(rng, chunk, loaded, dt.date(1970, 1, 1)), "fill.csv"
            )
            loaded += chunk

        sample, _ = service.search(session, limit=200)
        trainees = [t for t, _ in sample]
        terms: list[tuple[str, Callable[[Trainee], str | None]]] = [
            ("search by name fragment", lambda t: t.name[2:5]),
            ("search by last 4 ID digits", lambda t: t.id_number[-4:]),
            ("search by badge", lambda t: t.badge),
        ]
        for label, term in terms:
            times = []
            for t in trainees:
                start = time.perf_counter()
                service.search(session, q=term(t), limit=50)
                times.append(time.perf_counter() - start)
            rows.append(
                (
                    f"{label} over {loaded:,} trainees",
                    f"median {statistics.median(times) * 1000:.1f} ms",
                    f"p95 {percentile(times, 95) * 1000:.1f} ms",
                )
            )
        events = audit.count(session)
        seconds = timed(lambda: audit.verify(session))
        rows.append(
            (
                f"audit verify, {events:,} events",
                f"{seconds:.2f} s",
                f"{events / seconds:,.0f} events/s",
            )
        )

    table = Table(title=f"safetrain registry benchmark · {engine.dialect.name}")
    table.add_column("what")
    table.add_column("time", justify="right")
    table.add_column("rate / spread", justify="right")
    for row in rows:
        table.add_row(*row)
    console = Console()
    console.print(table)
    console.print(
        f"{platform.processor() or platform.machine()} · {platform.python_version()} · {platform.platform()}"
    )


if __name__ == "__main__":
    main()
