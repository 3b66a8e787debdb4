"""Roster import against a real database, for generated rosters: all or nothing, or the good rows."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete
from sqlmodel import Session, select

from server.trainees import service
from server.trainees.models import Trainee
from tests.factories import ACTOR
from tests.server.trainees.test_roster_parse import ROSTERS, Written, table, write

FAST = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _ids(session: Session) -> set[str]:
    numbers = set(session.exec(select(Trainee.id_number)).all())
    session.commit()
    return numbers


def _clear(session: Session) -> None:
    session.execute(delete(Trainee))
    session.commit()


@FAST
@given(roster=ROSTERS, file_format=st.sampled_from(["csv-utf-8", "csv-gb18030", "xlsx"]))
def test_a_clean_roster_imports_everyone(
    session: Session, roster: list[Written], file_format: str
) -> None:
    data, filename = write(table(*(w.cells for w in roster)), file_format)
    try:
        report = service.import_roster(session, ACTOR, data, filename)
        assert report.errors == []
        assert report.imported == len(roster)
        assert _ids(session) == {w.expected.id_number for w in roster}
    finally:
        _clear(session)


@FAST
@given(roster=ROSTERS.filter(lambda r: len(r) >= 2), data=st.data())
def test_one_bad_row_imports_nothing_unless_valid_only(
    session: Session, roster: list[Written], data: st.DataObject
) -> None:
    target = data.draw(st.integers(0, len(roster) - 1))
    cells = [dict(w.cells) for w in roster]
    cells[target]["phone"] = "12-34"
    file, filename = write(table(*cells), "csv-utf-8")
    try:
        refused = service.import_roster(session, ACTOR, file, filename)
        assert refused.imported == 0
        assert [(e.row, e.code) for e in refused.errors] == [(target + 2, "phone_format")]
        assert _ids(session) == set()

        partial = service.import_roster(session, ACTOR, file, filename, valid_only=True)
        assert partial.imported == len(roster) - 1
        expected = {w.expected.id_number for i, w in enumerate(roster) if i != target}
        assert _ids(session) == expected

        again = service.import_roster(session, ACTOR, file, filename, valid_only=True)
        assert again.imported == 0
        assert sorted(e.code for e in again.errors) == sorted(
            ["phone_format"] + ["already_registered"] * (len(roster) - 1)
        )
        assert _ids(session) == expected
    finally:
        _clear(session)
