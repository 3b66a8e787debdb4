"""Incremental sync under concurrent writers (PostgreSQL): a reader polling `changes?since=`
while several threads issue and change certificates never misses a change and never sees one
out of order; and the same check catches change numbers handed out outside the audit lock."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text, update
from sqlmodel import Session, select

from server.certificates import service as certificates
from server.certificates.models import Certificate
from server.config import Settings
from tests.factories import make_trainee
from tests.server.certificates.readiness import hours_course, ready
from tests.server.regulator.world import ADMIN, DAY, headers

URL = "/api/v1/regulator/changes"
Change = tuple[str, int, str]  # certificate number, change_seq, status


@dataclass
class Page:
    next_since: int
    records: list[Change]
    view: dict[str, tuple[int, str]]  # what the reader holds after this page
    answered: float = 0.0  # time.monotonic() when the answer was back


@dataclass
class Reader:
    """Polls the changes feed and keeps a mirror, page by page."""

    api: TestClient
    auth: dict[str, str]
    limit: int = 3
    since: int = 0
    view: dict[str, tuple[int, str]] = field(default_factory=dict)
    pages: list[Page] = field(default_factory=list)

    def poll(self) -> bool:
        """One page; False when caught up."""
        answer = self.api.get(
            URL, params={"since": self.since, "limit": self.limit}, headers=self.auth
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        records = [(r["number"], r["change_seq"], r["status"]) for r in body["data"]]
        for number, seq, status in records:
            self.view[number] = (seq, status)
        self.since = body["next_since"]
        self.pages.append(Page(self.since, records, dict(self.view), time.monotonic()))
        return bool(body["more"])

    def catch_up(self) -> None:
        while self.poll():
            pass


def problems(
    history: list[Change],
    pages: list[Page],
    final: dict[str, tuple[int, str]],
    started: Mapping[tuple[str, int], float] | None = None,
) -> list[str]:
    """What the reader got wrong, judged against every committed change (`history`):
    - out of order: a change_seq not above the one before it;
    - not committed: a state no writer committed;
    - missed: a committed change at or below where a page left the reader (next_since) that
      the reader's mirror does not hold, nor a later one of the same certificate — unless a
      later change of that certificate, beyond next_since, may have committed before the page
      was read: the feed gives each certificate in its latest state, so that change is where
      the reader meets it. `started` says when each change's writer began (time.monotonic());
      a change without an entry counts as committed before every page;
    - and at the end the mirror must equal the database."""
    found: list[str] = []
    committed = {(number, seq): status for number, seq, status in history}
    began = started or {}
    last = 0
    for page in pages:
        for number, seq, status in page.records:
            if seq <= last:
                found.append(f"out of order: {number} at {seq} after {last}")
            last = seq
            if committed.get((number, seq)) != status:
                found.append(f"not committed: {number} {status} at {seq}")
        for number, seq, _ in history:
            if seq > page.next_since or page.view.get(number, (0, ""))[0] >= seq:
                continue
            superseded = any(
                other == number
                and later > page.next_since
                and began.get((other, later), float("-inf")) < page.answered
                for other, later, _ in history
            )
            if not superseded:
                found.append(
                    f"missed: {number} changed at {seq}; the reader was at {page.next_since} "
                    f"holding {page.view.get(number)}"
                )
    if pages and pages[-1].view != final:
        found.append("the mirror differs from the database at the end")
    return sorted(set(found))


def database(session: Session) -> dict[str, tuple[int, str]]:
    session.expire_all()
    rows = session.exec(select(Certificate.number, Certificate.change_seq, Certificate.status))
    return {number: (seq, str(status)) for number, seq, status in rows.all()}


def run_threads(targets: list[Callable[[], None]]) -> None:
    errors: list[BaseException] = []

    def guarded(target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except BaseException as exc:  # re-raised in the test's thread
                errors.append(exc)

        return run

    threads = [threading.Thread(target=guarded(t)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    if errors:
        raise errors[0]


def read_while_writing(reader: Reader, writers: list[Callable[[], None]]) -> None:
    """The writers in threads of their own; the reader polls until they are done, then
    catches up."""
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            reader.poll()
        reader.catch_up()

    def write_all() -> None:
        try:
            run_threads(writers)
        finally:
            done.set()

    run_threads([read, write_all])


def _issued(session: Session, settings: Settings, count: int) -> list[str]:
    """`count` certificates issued one after another; their numbers."""
    course = hours_course(session, starts_on="2026-10-01")
    numbers = []
    for _ in range(count):
        person = make_trainee(session)
        ready(session, course, person)
        assert person.id is not None and course.id is not None
        cert, _ = certificates.issue(session, settings, ADMIN, person.id, course.id, on=DAY)
        numbers.append(cert.number)
    return numbers


def _broken_change(own: Session, number: str, status: str) -> int:
    """A change whose number comes from a sequence, not from the audit head under its lock."""
    seq = int(own.execute(text("SELECT nextval('broken_seq')")).scalar_one())
    table = Certificate.__table__  # type: ignore[attr-defined]
    own.execute(update(table).where(table.c.number == number).values(status=status, change_seq=seq))
    return seq


@pytest.mark.postgres_only
class TestConcurrentSync:
    WRITERS = 4
    PER_WRITER = 4
    MOVES = 5

    def test_the_reader_misses_nothing_and_sees_nothing_out_of_order(
        self,
        api: TestClient,
        session: Session,
        engine: Engine,
        cert_settings: Settings,
    ) -> None:
        course = hours_course(session, starts_on="2026-10-01")
        people = []
        for _ in range(self.WRITERS * self.PER_WRITER):
            person = make_trainee(session)
            ready(session, course, person)
            people.append(person.id)
        assert course.id is not None
        history: list[Change] = []
        started: dict[tuple[str, int], float] = {}
        lock = threading.Lock()

        def writer(n: int) -> Callable[[], None]:
            def run() -> None:
                rng = random.Random(n)
                mine: list[str] = []
                with Session(engine, expire_on_commit=False) as own:
                    for trainee_id in people[n :: self.WRITERS]:
                        assert trainee_id is not None and course.id is not None
                        begun = time.monotonic()
                        cert, _ = certificates.issue(
                            own, cert_settings, ADMIN, trainee_id, course.id, on=DAY
                        )
                        with lock:
                            history.append((cert.number, cert.change_seq, "valid"))
                            started[cert.number, cert.change_seq] = begun
                        mine.append(cert.number)
                        time.sleep(rng.random() / 100)
                    for _ in range(self.MOVES):
                        for number in mine:
                            status = own.exec(
                                select(Certificate.status).where(Certificate.number == number)
                            ).one()
                            own.commit()
                            move = "suspend" if status == "valid" else "reinstate"
                            begun = time.monotonic()
                            changed = certificates.change_status(own, ADMIN, number, move, "x")
                            with lock:
                                history.append((number, changed.change_seq, str(changed.status)))
                                started[number, changed.change_seq] = begun
                            time.sleep(rng.random() / 200)

            return run

        reader = Reader(api, headers(session))
        read_while_writing(reader, [writer(n) for n in range(self.WRITERS)])
        changes = self.WRITERS * self.PER_WRITER * (1 + self.MOVES)
        assert len(history) == changes
        assert problems(history, reader.pages, database(session), started) == []
        # The reader really read while the writers wrote: many pages, most of them partial.
        assert len(reader.pages) > changes / reader.limit


@pytest.mark.postgres_only
class TestTheCheckCanFail:
    """Change numbers handed out before the writing transaction takes the audit lock (here from
    a sequence, as a SERIAL column would) become visible out of order: a writer who took a
    number first commits after one who took it later. The same check reports the change the
    reader then skips."""

    def test_concurrent_writers_taking_numbers_outside_the_lock_are_caught(
        self, api: TestClient, session: Session, engine: Engine, cert_settings: Settings
    ) -> None:
        """The concurrent run of TestConcurrentSync, with writers that take each change's
        number from a sequence and commit 20–60 ms later, then pause a little."""
        numbers = _issued(session, cert_settings, 8)
        session.execute(text("CREATE SEQUENCE broken_seq START 1000000"))
        session.commit()
        history: list[Change] = [(n, s, st) for n, (s, st) in database(session).items()]
        started: dict[tuple[str, int], float] = {}
        lock = threading.Lock()

        def writer(k: int) -> Callable[[], None]:
            def run() -> None:
                rng = random.Random(k)
                state: dict[str, str] = {}
                with Session(engine) as own:
                    for _ in range(10):
                        for number in numbers[k::4]:
                            status = (
                                "suspended" if state.get(number, "valid") == "valid" else "valid"
                            )
                            begun = time.monotonic()
                            seq = _broken_change(own, number, status)
                            time.sleep(0.02 + rng.random() / 25)
                            own.commit()
                            state[number] = status
                            with lock:
                                history.append((number, seq, status))
                                started[number, seq] = begun
                            # Sparse enough that a certificate's next change starts well after
                            # a page that skipped the last one: the skip is then a definite miss.
                            time.sleep(0.04 + rng.random() / 50)

            return run

        reader = Reader(api, headers(session))
        read_while_writing(reader, [writer(k) for k in range(4)])
        found = problems(history, reader.pages, database(session), started)
        assert any(p.startswith("missed:") for p in found), found

    def test_a_number_taken_outside_the_lock_is_reported_missed(
        self, api: TestClient, session: Session, engine: Engine, cert_settings: Settings
    ) -> None:
        course = hours_course(session, starts_on="2026-10-01")
        numbers = []
        for _ in range(2):
            person = make_trainee(session)
            ready(session, course, person)
            assert person.id is not None and course.id is not None
            cert, _ = certificates.issue(
                session, cert_settings, ADMIN, person.id, course.id, on=DAY
            )
            numbers.append(cert.number)
        session.execute(text("CREATE SEQUENCE broken_seq START 1000000"))
        session.commit()
        reader = Reader(api, headers(session))
        reader.catch_up()
        history: list[Change] = [(n, s, st) for n, (s, st) in database(session).items()]
        with Session(engine) as first, Session(engine) as second:
            a = _broken_change(first, numbers[0], "suspended")  # takes its number first …
            b = _broken_change(second, numbers[1], "suspended")
            second.commit()  # … but the later number commits first
            reader.catch_up()  # the reader passes b
            first.commit()
        reader.catch_up()
        history += [(numbers[0], a, "suspended"), (numbers[1], b, "suspended")]
        found = problems(history, reader.pages, database(session))
        assert any(p.startswith(f"missed: {numbers[0]} changed at {a}") for p in found), found
        assert "the mirror differs from the database at the end" in found

    def test_the_real_service_under_the_same_interleaving_is_right(
        self, api: TestClient, session: Session, engine: Engine, cert_settings: Settings
    ) -> None:
        """The first writer holds the audit lock from the number to its commit: the second
        waits, and the reader sees both, in order."""
        course = hours_course(session, starts_on="2026-10-01")
        numbers = []
        for _ in range(2):
            person = make_trainee(session)
            ready(session, course, person)
            assert person.id is not None and course.id is not None
            cert, _ = certificates.issue(
                session, cert_settings, ADMIN, person.id, course.id, on=DAY
            )
            numbers.append(cert.number)
        reader = Reader(api, headers(session))
        reader.catch_up()
        history: list[Change] = [(n, s, st) for n, (s, st) in database(session).items()]
        from server.audit import service as audit

        taken = threading.Event()
        release = threading.Event()
        result: dict[str, Any] = {}

        def first_writer() -> None:
            with Session(engine, expire_on_commit=False) as own:
                cert = certificates.get(own, numbers[0], lock=True)
                cert.status = "suspended"  # type: ignore[assignment]
                event = audit.record(own, ADMIN, "certificate.suspend", "certificate", cert.id)
                cert.change_seq = event.seq
                own.add(cert)
                own.flush()
                taken.set()
                release.wait(30)
                own.commit()
                result["a"] = event.seq

        def second_writer() -> None:
            taken.wait(30)
            with Session(engine, expire_on_commit=False) as own:
                changed = certificates.change_status(own, ADMIN, numbers[1], "suspend", "x")
                result["b"] = changed.change_seq

        def read_between() -> None:
            taken.wait(30)
            time.sleep(0.3)  # the second writer is waiting for the audit head by now
            reader.catch_up()
            release.set()

        run_threads([first_writer, second_writer, read_between])
        reader.catch_up()
        history += [(numbers[0], result["a"], "suspended"), (numbers[1], result["b"], "suspended")]
        assert result["a"] < result["b"]
        assert problems(history, reader.pages, database(session)) == []
