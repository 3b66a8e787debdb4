"""Benchmark of the server's batch ingest of device results (the gateway → server path).

    .venv/bin/python -P bench/ingest.py [--postgres | --database-url URL] [--results 20000]

Registers ten pods, binds a trainee to each, then posts `--results` result frames in batches of
500 through the real service (check every item, one INSERT … ON CONFLICT DO NOTHING, attribute
each result to the bound trainee, make it an attempt with its audit event, one commit per
batch — durable when the call returns), the same batches again (all duplicates), and as many
new results over HTTP (`safetrain serve`, one worker, posted by an httpx client). `--postgres` starts a
throwaway PostgreSQL cluster with fsync on (the tests' clusters run with fsync off) and
measures on it. Target (issue 5): at least 5,000 results/s on SQLite and on PostgreSQL.
Prints a table; figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from sqlmodel import Session, func, select

from server import migrate
from server.accounts import service as accounts
from server.accounts.models import Role, UserCreate
from server.assessment.models import Attempt
from server.audit.service import Actor
from server.config import Environment, Settings
from server.db import make_engine
from server.devices import bindings, ingest
from server.devices.models import DeviceFrame
from server.devices.registry import DeviceCreate, create_device
from server.scheduling import service as scheduling
from server.scheduling.schemas import StationCreate
from server.trainees import service as trainees
from server.trainees.identity import Sex, make_resident_id
from server.trainees.models import TraineeCreate

sys.path.append(str(Path(__file__).resolve().parents[1]))  # the repository, for tests/pgcluster
from tests import pgcluster

ACTOR = Actor(name="bench")
BATCH = 500
PODS = 10


def frame(pod: int, boot: str, seq: int) -> dict[str, Any]:
    return {
        "key": f"VR-{pod:02d}:{boot}:{seq}",
        "station": f"VR-{pod:02d}",
        "source": "serial",
        "received_at": "2026-12-01T02:00:00Z",
        "frame": {
            "t": "result",
            "v": 1,
            "dev": f"VR-{pod:02d}",
            "boot": boot,
            "seq": seq,
            "scenario": "NITR-RUNAWAY",
            "badge": None,
            "score": 60 + seq % 40,
            "max": 100,
            "passed": 60 + seq % 40 >= 80,
            "duration_s": 300,
            "errors": [],
            "veto": [],
            "ts": "2026-12-01T10:00:00+08:00",
        },
    }


def prepare(session: Session) -> int:
    for pod in range(1, PODS + 1):
        code = f"VR-{pod:02d}"
        scheduling.create_station(
            session,
            ACTOR,
            StationCreate(code=code, kind="vr_pod", name=f"VR {pod}"),
        )
        create_device(session, ACTOR, DeviceCreate(code=code, kind="vr_pod", station=code))
        person = trainees.register(
            session,
            ACTOR,
            TraineeCreate.model_validate(
                {
                    "name": f"学员{pod}",
                    "id_number": make_resident_id("320602", dt.date(1990, 1, 1), pod, Sex.male),
                    "phone": "13800138000",
                    "employer": "江海精细化工有限公司",
                    "job": "硝化操作工",
                    "education": "senior_high",
                }
            ),
        )
        assert person.id is not None
        bindings.bind(
            session,
            ACTOR,
            code,
            person.id,
            source="console",
            now=dt.datetime(2026, 12, 1, 0, 0, tzinfo=dt.UTC),
        )
    gateway = accounts.create_user(
        session, ACTOR, UserCreate(username="gw", display_name="gw", role=Role.gateway)
    )
    assert gateway.id is not None
    return gateway.id


def over_http(url: str, secret: str, tmp: Path, results: int) -> tuple[float, list[float]]:
    """`safetrain serve` (one worker) on the database; batches posted by an httpx client in
    this process, as a gateway would from its own machine."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    env = os.environ | {"SAFETRAIN_DATABASE_URL": url, "SAFETRAIN_ENVIRONMENT": "test"}
    cli = str(Path(sys.executable).with_name("safetrain"))
    log = (tmp / "serve.log").open("w")
    server = subprocess.Popen(  # noqa: S603 - our own command
        [cli, "serve", "--workers", "1", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("server did not start: " + (tmp / "serve.log").read_text())
                time.sleep(0.2)
            headers = {"Authorization": f"Bearer {secret}"}
            items = [frame(1 + i % PODS, "00beef00", 1 + i // PODS) for i in range(results)]
            warm = [frame(1 + i % PODS, "0000beef", 1 + i // PODS) for i in range(BATCH)]
            client.post("/api/v1/device-results", json={"items": warm}, headers=headers)
            per_batch = []
            start = time.perf_counter()
            for i in range(0, len(items), BATCH):
                t0 = time.perf_counter()
                answer = client.post(
                    "/api/v1/device-results", json={"items": items[i : i + BATCH]}, headers=headers
                )
                per_batch.append(time.perf_counter() - t0)
                assert answer.status_code == 200, answer.text
                assert all(r["status"] == "accepted" for r in answer.json()["results"])
            return time.perf_counter() - start, per_batch
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temp folder")
    parser.add_argument(
        "--postgres", action="store_true", help="a throwaway PostgreSQL cluster, fsync on"
    )
    parser.add_argument("--results", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        if args.postgres:
            cluster = pgcluster.start(durable=True)
            stack.callback(cluster.stop)
            url = pgcluster.create_database(cluster, "bench")
        migrate.upgrade(url)
        engine = make_engine(url)
        with Session(engine, expire_on_commit=False) as session:
            gateway_id = prepare(session)
        gateway = Actor(name="gw", user_id=gateway_id, role=Role.gateway.value)
        # As in a served process: one warm-up batch (its own boot id; the first batch of a
        # process pays once for the curricula, compiled statements and the driver's prepared
        # statements), then the start-up heap frozen (server/asgi.py) so that a full garbage
        # collection does not walk it mid-batch.
        with Session(engine, expire_on_commit=False) as session:
            warm = [frame(1 + i % PODS, "0000cafe", 1 + i // PODS) for i in range(BATCH)]
            ingest.ingest(session, gateway, warm)
        gc.collect()
        gc.freeze()
        items = [frame(1 + i % PODS, "00c0ffee", 1 + i // PODS) for i in range(args.results)]
        batches = [items[i : i + BATCH] for i in range(0, len(items), BATCH)]

        def run() -> tuple[float, list[float]]:
            per_batch = []
            start = time.perf_counter()
            for batch in batches:
                t0 = time.perf_counter()
                with Session(engine, expire_on_commit=False) as session:
                    ingest.ingest(session, gateway, batch)
                per_batch.append(time.perf_counter() - t0)
            return time.perf_counter() - start, per_batch

        fresh, fresh_batches = run()
        again, again_batches = run()
        with Session(engine) as session:
            stored = session.exec(select(func.count()).select_from(DeviceFrame)).one()
            attempts = session.exec(select(func.count()).select_from(Attempt)).one()
        assert stored == args.results + BATCH and attempts == args.results + BATCH

        settings = Settings(database_url=url, environment=Environment.test)
        with Session(engine) as session:
            _, secret = accounts.create_token(session, settings, ACTOR, gateway_id, "bench", 1)
        http_total, http_batches = over_http(url, secret, Path(tmp), args.results)
        engine.dispose()

    table = Table(title=f"device-result ingest — {engine.dialect.name}, {args.results:,} results")
    table.add_column("what")
    table.add_column("results/s", justify="right")
    table.add_column("batch of 500, median", justify="right")
    table.add_column("p95", justify="right")

    def line(label: str, total: float, per: list[float]) -> None:
        ordered = sorted(per)
        table.add_row(
            label,
            f"{args.results / total:,.0f}",
            f"{statistics.median(per) * 1000:.0f} ms",
            f"{ordered[int(0.95 * (len(ordered) - 1))] * 1000:.0f} ms",
        )

    line("new results (store, attribute, attempt, audit)", fresh, fresh_batches)
    line("the same again (all duplicates)", again, again_batches)
    line("new results over HTTP (safetrain serve, 1 worker)", http_total, http_batches)
    console = Console()
    console.print(table)
    console.print(
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}"
    )


if __name__ == "__main__":
    main()
