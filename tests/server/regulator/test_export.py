"""GET /api/v1/regulator/export: CSV (BOM for Excel) and NDJSON, the same records as the list,
streamed in blocks, logged before the first byte and when the download ends or breaks off."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sqlite3
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update
from sqlmodel import Session

from server.certificates import service as certificates
from server.regulator import export, service
from server.regulator.service import COLUMNS
from server.trainees.models import Employer
from tests.server.regulator.world import ADMIN, EMPLOYER_B, World, access_rows, headers

URL = "/api/v1/regulator/export"


def listed(api: TestClient, auth: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    answer = api.get(
        "/api/v1/regulator/certificates", params={"limit": 1000, **params}, headers=auth
    )
    data: list[dict[str, Any]] = answer.json()["data"]
    return data


def as_text(value: Any) -> str:
    """A JSON value as the CSV writes it."""
    return "" if value is None else str(value)


def by_number(record: dict[str, Any]) -> str:
    return str(record["number"])


def same_instant(a: str, b: str) -> bool:
    return dt.datetime.fromisoformat(a) == dt.datetime.fromisoformat(b)


def agree(exported: dict[str, Any], record: dict[str, Any], *, csv_text: bool) -> None:
    for name in COLUMNS:
        got, want = exported[name], record[name]
        if name in ("issued_at", "status_changed_at") and want is not None:
            assert same_instant(got, want), name
        elif csv_text:
            assert got == as_text(want), name
        else:
            assert got == want, name


class TestCsv:
    def test_with_a_bom_by_default_and_the_list_s_records_in_chinese(
        self, api: TestClient, session: Session, world: World
    ) -> None:
        auth = headers(session)
        answer = api.get(URL, headers=auth)
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "text/csv; charset=utf-8"
        today = certificates.today().isoformat()
        assert answer.headers["content-disposition"] == (
            f'attachment; filename="certificates-{today}.csv"'
        )
        assert answer.headers["x-standing-as-of"] == today
        assert answer.content.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
        assert tuple(rows[0]) == COLUMNS
        # In id order on SQLite; in no set order on PostgreSQL.
        exported = sorted((dict(zip(COLUMNS, row, strict=True)) for row in rows[1:]), key=by_number)
        records = listed(api, auth)
        assert len(exported) == len(records) == 9
        for got, want in zip(exported, sorted(records, key=by_number), strict=True):
            agree(got, want, csv_text=True)
        first = next(r for r in exported if r["number"] == world.number("valid"))
        assert first["name"] == "王建国"
        assert first["curriculum_title_zh"] == "硝化工艺作业安全技术培训"

    def test_without_a_bom_when_asked(
        self, api: TestClient, session: Session, world: World
    ) -> None:
        answer = api.get(URL, params={"bom": 0}, headers=headers(session))
        assert answer.content.startswith(b"number,standing,")

    def test_commas_quotes_and_line_breaks_survive_and_no_cell_starts_a_formula(
        self, api: TestClient, session: Session, world: World
    ) -> None:
        reason = '调查中, 见"通知"\n第二行'
        certificates.change_status(session, ADMIN, world.number("valid"), "suspend", reason)
        table = Employer.__table__  # type: ignore[attr-defined]
        session.execute(
            update(table).where(table.c.name == EMPLOYER_B).values(name="=HYPERLINK(1)")
        )
        session.commit()
        auth = headers(session)
        text = api.get(URL, headers=auth).content.decode("utf-8-sig")
        rows = {r[0]: dict(zip(COLUMNS, r, strict=True)) for r in csv.reader(io.StringIO(text))}
        assert rows[world.number("valid")]["status_reason"] == reason
        assert rows[world.number("other")]["employer"] == "'=HYPERLINK(1)"
        lines = api.get(URL, params={"format": "ndjson"}, headers=auth).content.splitlines()
        records = {r["number"]: r for r in map(json.loads, lines)}
        assert records[world.number("other")]["employer"] == "=HYPERLINK(1)"  # NDJSON: as is
        assert records[world.number("valid")]["status_reason"] == reason

    def test_backslashes_and_control_characters_come_out_as_json_escapes(
        self, api: TestClient, session: Session, world: World
    ) -> None:
        # \x01 and \x02 are the quote and delimiter the PostgreSQL export gives COPY.
        odd = 'C:\\厂区\\"A"\x01\x02\t末'
        table = Employer.__table__  # type: ignore[attr-defined]
        session.execute(update(table).where(table.c.name == EMPLOYER_B).values(name=odd))
        session.commit()
        lines = api.get(URL, params={"format": "ndjson"}, headers=headers(session)).content
        records = {r["number"]: r for r in map(json.loads, lines.splitlines())}
        assert records[world.number("other")]["employer"] == odd
        assert b"\x01" not in lines and b"\x02" not in lines

    def test_every_formula_start_is_guarded_and_nothing_else(
        self, api: TestClient, session: Session, world: World
    ) -> None:
        table = Employer.__table__  # type: ignore[attr-defined]
        auth = headers(session)
        name = EMPLOYER_B
        for given, written in [
            ("-1+2", "'-1+2"),
            ("+86 公司", "'+86 公司"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t制表", "'\t制表"),
            ("9号厂", "9号厂"),
            ("A-公司=", "A-公司="),
            ("", ""),
        ]:
            session.execute(update(table).where(table.c.name == name).values(name=given))
            session.commit()
            name = given
            text = api.get(URL, params={"bom": 0}, headers=auth).text
            rows = {r[0]: dict(zip(COLUMNS, r, strict=True)) for r in csv.reader(io.StringIO(text))}
            assert rows[world.number("other")]["employer"] == written, given
            assert rows[world.number("other")]["id_number"] == world.id_numbers["other"]

    def test_filters_apply(self, api: TestClient, session: Session, world: World) -> None:
        answer = api.get(URL, params={"status": "revoked", "bom": 0}, headers=headers(session))
        rows = list(csv.reader(io.StringIO(answer.text)))
        assert [r[0] for r in rows[1:]] == [world.number("revoked")]


class TestNdjson:
    def test_one_json_object_a_line_the_list_s_records(
        self, api: TestClient, session: Session, world: World
    ) -> None:
        auth = headers(session)
        answer = api.get(URL, params={"format": "ndjson"}, headers=auth)
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/x-ndjson"
        assert answer.headers["content-disposition"].endswith('.ndjson"')
        assert answer.content.endswith(b"\n") and not answer.content.startswith(b"\xef")
        exported = sorted((json.loads(line) for line in answer.content.splitlines()), key=by_number)
        records = listed(api, auth)
        assert len(exported) == len(records) == 9
        for got, want in zip(exported, sorted(records, key=by_number), strict=True):
            assert tuple(got) == COLUMNS
            agree(got, want, csv_text=False)

    def test_a_bom_is_refused(self, api: TestClient, session: Session) -> None:
        answer = api.get(URL, params={"format": "ndjson", "bom": 1}, headers=headers(session))
        assert answer.status_code == 422
        assert answer.json()["details"][0]["code"] == "bom_not_for_ndjson"

    def test_an_unknown_format_is_refused(self, api: TestClient, session: Session) -> None:
        answer = api.get(URL, params={"format": "xlsx"}, headers=headers(session))
        assert answer.status_code == 422
        assert answer.json()["details"][0]["field"] == "format"


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two rows a block (SQLite fetches) or one (PostgreSQL's COPY): a stream of many blocks."""
    monkeypatch.setattr(export, "BATCH", 2)
    monkeypatch.setattr(export, "BLOCK", 1)
    monkeypatch.setattr(export, "PROGRESS_EVERY", 3)


class TestStreaming:
    @pytest.mark.usefixtures("small_blocks")
    @pytest.mark.parametrize("fmt", ["csv", "ndjson"])
    def test_rows_come_a_block_at_a_time_never_all_at_once(
        self, engine: Engine, session: Session, world: World, fmt: str
    ) -> None:
        source = export.chunks(
            engine, fmt, service.Filters(), certificates.today(), bom=fmt == "csv"
        )
        sizes = [chunk.rows for chunk in source]
        assert sum(sizes) == 9
        assert max(sizes) <= 2 and len([s for s in sizes if s]) >= 5

    @pytest.mark.usefixtures("small_blocks")
    def test_logged_before_the_first_byte_then_completed_with_the_count(
        self, api: TestClient, session: Session, world: World
    ) -> None:
        with api.stream("GET", URL, params={"format": "ndjson"}, headers=headers(session)) as r:
            body = r.iter_raw()  # kept: an iterator let go closes the download
            first = next(body)
            assert json.loads(first.splitlines()[0])["number"] in world.numbers.values()
            row = access_rows(session)[-1]
            # The server may be a block ahead of what was read, never at the end.
            assert (row.endpoint, row.complete, row.finished_at) == ("export", False, None)
            rest = b"".join(body)
        assert len((first + rest).splitlines()) == 9
        row = access_rows(session)[-1]
        assert (row.records, row.complete) == (9, True) and row.finished_at is not None
        assert json.loads(row.query) == {"bom": False, "format": "ndjson"}

    @pytest.mark.usefixtures("small_blocks")
    def test_a_download_broken_off_leaves_its_row_with_the_rows_sent(
        self, api: TestClient, session: Session, world: World
    ) -> None:
        with api.stream("GET", URL, params={"bom": 0}, headers=headers(session)) as r:
            chunks = r.iter_raw()
            next(chunks)  # the header
            next(chunks)  # two rows
        row = access_rows(session)[-1]
        assert row.endpoint == "export" and row.complete is False
        assert row.finished_at is not None and 0 < row.records < 9

    @pytest.mark.usefixtures("small_blocks")
    def test_writers_are_not_held_up_while_an_export_streams(
        self, api: TestClient, session: Session, world: World, db_url: str
    ) -> None:
        """On SQLite the export reads a snapshot with a deferred transaction: a writer gets the
        write lock at once (within 0.2 s) while the download is open."""
        with api.stream("GET", URL, params={"bom": 0}, headers=headers(session)) as r:
            chunks = r.iter_raw()
            next(chunks)
            next(chunks)
            if db_url.startswith("sqlite"):
                other = sqlite3.connect(db_url.removeprefix("sqlite:///"), timeout=0.2)
                other.isolation_level = None
                other.execute("BEGIN IMMEDIATE")
                other.execute("UPDATE employers SET name = name")
                other.execute("COMMIT")
                other.close()
            else:
                certificates.change_status(session, ADMIN, world.number("valid"), "suspend", "x")
            rest = b"".join(chunks)
        assert rest.count(b"\n") >= 1
