"""Set-up for the kiosk's exam tests: an open theory sitting giving the hall's trainee a paper,
its key (as an examiner's tool reads it), and letting time pass on the server's side."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from curricula import catalogue
from kiosk.pages import DEVICE_COOKIE
from scoring.papers import Paper, answer_key
from server.accounts.models import Role
from server.assessment import sittings
from server.assessment.models import ExamSitting, TheoryPaper
from server.audit.service import Actor
from tests.factories import make_user
from tests.kiosk.conftest import Hall

NITRATION = catalogue().curricula["NITRATION"]


def open_sitting(session: Session, hall: Hall, **plan: object) -> ExamSitting:
    """An examiner (who did not train the course) opens a sitting: everyone enrolled may sit."""
    examiner = make_user(session, role=Role.examiner)
    actor = Actor(name=examiner.username, user_id=examiner.id, role=examiner.role)
    assert hall.course.id is not None
    sitting, _ = sittings.open_sitting(
        session,
        actor,
        hall.course.id,
        sittings.SittingPlan(**plan),  # type: ignore[arg-type]
        may_sit=lambda trainee_id, day: (True, "eligible", []),
    )
    return sitting


def paper_of(session: Session, trainee_id: int | None) -> TheoryPaper:
    session.rollback()  # a fresh look at what the server wrote
    return session.exec(select(TheoryPaper).where(TheoryPaper.trainee_id == trainee_id)).one()


def stored(row: TheoryPaper) -> Paper:
    return Paper.from_dict(json.loads(row.paper))


def key_of(row: TheoryPaper) -> dict[str, list[str]]:
    """The right option ids of each question of a paper, in paper order."""
    return {k.question_id: list(k.options) for k in answer_key(stored(row), NITRATION)}


def wrong_of(row: TheoryPaper, question_id: str) -> list[str]:
    """One wrong answer to a question."""
    question = stored(row).question(question_id)
    assert question is not None
    right = set(key_of(row)[question_id])
    return [next(o for o in question.options if o not in right)]


def let_time_pass(session: Session, paper_id: int | None, seconds: int) -> None:
    """Move the paper's start, deadline and its sitting back by `seconds` (time passes)."""
    session.rollback()
    row = session.get(TheoryPaper, paper_id)
    assert row is not None and row.started_at is not None and row.deadline is not None
    gap = dt.timedelta(seconds=seconds)
    row.started_at -= gap
    row.deadline -= gap
    sitting = session.get(ExamSitting, row.sitting_id)
    assert sitting is not None
    sitting.opens_at -= gap
    sitting.closes_at -= gap
    session.add(row)
    session.add(sitting)
    session.commit()


def signed_in(client: TestClient, hall: Hall) -> None:
    """Set the screen up and sign the hall's trainee in, over plain HTTP."""
    if DEVICE_COOKIE not in client.cookies:  # a setup code works once: the screen stays set up
        done = client.post("/kiosk/setup", data={"code": hall.setup_code}, follow_redirects=False)
        assert done.status_code == 303, done.text
    signed = client.post(
        "/kiosk/sign-in",
        data={"id_number": hall.trainee.id_number, "pin": hall.pin},
        follow_redirects=False,
    )
    assert signed.status_code == 303, signed.text


def seconds_left(session: Session, paper_id: int | None) -> float:
    """The server's remaining seconds of a paper, from its deadline in the database."""
    session.rollback()
    row = session.get(TheoryPaper, paper_id)
    assert row is not None and row.deadline is not None
    return (row.deadline - dt.datetime.now(dt.UTC)).total_seconds()


def type_on_keypad(page: Any, text: str) -> None:
    for char in text:
        page.click(f".key[data-key='{char}']")


def sign_in_on_screen(page: Any, hall: Hall) -> None:
    """ID number and PIN on the kiosk's keypad, as a trainee does (test_kiosk_browser.py)."""
    page.goto("/kiosk/sign-in")
    page.click("#id_number")
    type_on_keypad(page, hall.trainee.id_number)
    type_on_keypad(page, hall.pin)
    page.click("[data-testid=sign-in]")
    page.wait_for_url(re.compile(r"/kiosk/home$"))
