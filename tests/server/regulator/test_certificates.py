"""GET /api/v1/regulator/certificates: filters, the standing as of today, cursor pagination."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from server.certificates import service as certificates
from server.certificates.models import Certificate
from server.regulator.service import COLUMNS
from tests.server.regulator.world import (
    EMPLOYER_A,
    EMPLOYER_B,
    World,
    all_numbers,
    headers,
    set_dates,
)

URL = "/api/v1/regulator/certificates"


def numbers(api: TestClient, auth: dict[str, str], **params: Any) -> list[str]:
    answer = api.get(URL, params={"limit": 1000, **params}, headers=auth)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["next_cursor"] is None
    return [r["number"] for r in body["data"]]


class TestRecords:
    def test_a_record_has_every_column_with_the_full_name_and_id_number(
        self, api: TestClient, session: Session, world: World
    ) -> None:
        answer = api.get(
            URL, params={"id_number": world.id_numbers["valid"]}, headers=headers(session)
        )
        assert answer.status_code == 200
        assert answer.headers["cache-control"] == "no-store"
        body = answer.json()
        assert body["as_of"] == certificates.today().isoformat()
        [record] = body["data"]
        assert tuple(record) == COLUMNS
        assert record["number"] == world.number("valid")
        assert record["name"] == "王建国"  # not masked: the regulator needs it (the call is logged)
        assert record["id_number"] == world.id_numbers["valid"]
        assert record["employer"] == EMPLOYER_A
        assert record["curriculum_code"] == "NITRATION"
        assert record["curriculum_title_zh"] == "硝化工艺作业安全技术培训"
        assert record["operation_category"] == "HC-NITRATION"
        assert record["rule_set"] == "MEM-19" and record["review_due"] is None
        assert record["standing"] == "valid" and record["status"] == "valid"
        cert = session.exec(
            select(Certificate).where(Certificate.number == world.number("valid"))
        ).one()
        assert record["change_seq"] == cert.change_seq and record["kid"] == cert.kid

    def test_a_reissue_names_its_predecessor_and_the_predecessor_its_successor(
        self, api: TestClient, session: Session, world: World
    ) -> None:
        answer = api.get(
            URL, params={"id_number": world.id_numbers["old"]}, headers=headers(session)
        )
        old, new = answer.json()["data"]
        assert (old["number"], new["number"]) == (world.number("old"), world.number("new"))
        assert old["standing"] == "superseded" and old["superseded_by"] == new["number"]
        assert new["standing"] == "valid" and new["supersedes"] == old["number"]


STANDINGS = ("valid", "expiring", "expired", "suspended", "revoked", "superseded")


class TestStandingFilter:
    def test_each_standing_finds_exactly_its_certificates(
        self, api: TestClient, session: Session, world: World
    ) -> None:
        auth = headers(session)
        for standing in STANDINGS:
            wanted = sorted(world.number(k) for k, v in world.standing.items() if v == standing)
            answer = api.get(URL, params={"status": standing}, headers=auth).json()
            assert sorted(r["number"] for r in answer["data"]) == wanted, standing
            assert {r["standing"] for r in answer["data"]} == {standing}

    def test_several_standings_at_once(
        self, api: TestClient, session: Session, world: World
    ) -> None:
        found = numbers(api, headers(session), status=["expiring", "revoked"])
        assert sorted(found) == sorted([world.number("expiring"), world.number("revoked")])

    def test_an_unknown_standing_is_refused(self, api: TestClient, session: Session) -> None:
        answer = api.get(URL, params={"status": "lapsed"}, headers=headers(session))
        assert answer.status_code == 422
        assert answer.json()["details"][0]["field"] == "status.0"


# (days until valid_until, days until review_due) from today: both passed, due within the
# 60 days' notice or just outside it, far off.
DATES = [
    (3000, None),
    (61, None),
    (60, None),
    (59, None),
    (0, None),
    (-1, None),
    (3000, 100),
    (3000, 60),
    (3000, 59),
    (3000, 0),
    (3000, -1),
    (30, 100),
    (-5, 20),
]


class TestStandingAgreesWithTheService:
    """The SQL that lists and filters by standing says what certificates.service.standing says
    for every kind of date."""

    def test_dates_against_today(self, api: TestClient, session: Session, world: World) -> None:
        today = certificates.today()
        number = world.number("valid")
        auth = headers(session)
        for valid_in, review_in in DATES:
            set_dates(
                session,
                number,
                valid_until=today + dt.timedelta(days=valid_in),
                review_due=None if review_in is None else today + dt.timedelta(days=review_in),
            )
            session.expire_all()
            cert = session.exec(select(Certificate).where(Certificate.number == number)).one()
            expected = certificates.standing(cert, today).value
            case = (valid_in, review_in, expected)
            answer = api.get(URL, params={"id_number": world.id_numbers["valid"]}, headers=auth)
            assert answer.json()["data"][0]["standing"] == expected, case
            for standing in ("valid", "expiring", "expired"):
                found = number in numbers(api, auth, status=standing)
                assert found == (standing == expected), (*case, standing)


class TestOtherFilters:
    def test_by_curriculum(self, api: TestClient, session: Session, world: World) -> None:
        assert numbers(api, headers(session), curriculum="chlorination") == [world.number("other")]

    def test_by_employer(self, api: TestClient, session: Session, world: World) -> None:
        found = numbers(api, headers(session), employer=EMPLOYER_B)
        assert sorted(found) == sorted(
            world.number(k) for k in ("other", "review_overdue", "old", "new")
        )

    def test_by_id_number(self, api: TestClient, session: Session, world: World) -> None:
        assert numbers(api, headers(session), id_number=world.id_numbers["revoked"].lower()) == [
            world.number("revoked")
        ]

    def test_by_issue_dates(self, api: TestClient, session: Session, world: World) -> None:
        auth = headers(session)
        day = "2026-12-01"
        assert len(numbers(api, auth, issued_from=day, issued_to=day)) == 9
        assert numbers(api, auth, issued_to="2026-11-30") == []
        assert numbers(api, auth, issued_from="2026-12-02") == []

    def test_filters_combine(self, api: TestClient, session: Session, world: World) -> None:
        found = numbers(api, headers(session), employer=EMPLOYER_A, status="expired")
        assert found == [world.number("expired")]

    def test_an_unknown_curriculum_is_refused_naming_the_known_ones(
        self, api: TestClient, session: Session
    ) -> None:
        answer = api.get(URL, params={"curriculum": "ALCHEMY"}, headers=headers(session))
        assert answer.status_code == 422
        detail = answer.json()["details"][0]
        assert detail["field"] == "curriculum" and detail["code"] == "unknown_curriculum"
        assert "ALCHEMY" in detail["message"] and "NITRATION" in detail["message"]

    def test_an_inverted_date_range_is_refused(self, api: TestClient, session: Session) -> None:
        answer = api.get(
            URL,
            params={"issued_from": "2026-12-02", "issued_to": "2026-12-01"},
            headers=headers(session),
        )
        assert answer.status_code == 422
        assert answer.json()["details"][0]["code"] == "before_issued_from"

    def test_a_bad_date_is_refused(self, api: TestClient, session: Session) -> None:
        answer = api.get(URL, params={"issued_from": "2026-13-01"}, headers=headers(session))
        assert answer.status_code == 422
        assert answer.json()["details"][0]["field"] == "issued_from"


class TestCursor:
    def test_walking_the_pages_sees_every_certificate_once_in_id_order(
        self, api: TestClient, session: Session, world: World
    ) -> None:
        auth = headers(session)
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            params: dict[str, Any] = {"limit": 2}
            if cursor:
                params["cursor"] = cursor
            body = api.get(URL, params=params, headers=auth).json()
            pages += 1
            assert len(body["data"]) <= 2
            seen += [r["number"] for r in body["data"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert seen == all_numbers(session)
        assert pages == 5  # 9 certificates, 2 a page: the last page says there is no more

    def test_pages_with_a_filter(self, api: TestClient, session: Session, world: World) -> None:
        auth = headers(session)
        first = api.get(URL, params={"limit": 1, "employer": EMPLOYER_B}, headers=auth).json()
        rest = api.get(
            URL,
            params={"limit": 10, "employer": EMPLOYER_B, "cursor": first["next_cursor"]},
            headers=auth,
        ).json()
        assert [r["number"] for r in first["data"] + rest["data"]] == sorted(
            world.number(k) for k in ("other", "review_overdue", "old", "new")
        )
        assert rest["next_cursor"] is None

    @pytest.mark.parametrize("cursor", ["not-ours!", "LTE", "YWJj"])  # junk, "-1", "abc"
    def test_a_cursor_we_did_not_give_is_refused(
        self, api: TestClient, session: Session, cursor: str
    ) -> None:
        answer = api.get(URL, params={"cursor": cursor}, headers=headers(session))
        assert answer.status_code == 422
        assert answer.json()["details"][0] == {
            "field": "cursor",
            "code": "bad_cursor",
            "message": "不是本接口给出的游标 / not a cursor this API gave",
        }

    @pytest.mark.parametrize("limit", [0, 1001])
    def test_limit_is_1_to_1000(self, api: TestClient, session: Session, limit: int) -> None:
        answer = api.get(URL, params={"limit": limit}, headers=headers(session))
        assert answer.status_code == 422
        assert answer.json()["details"][0]["field"] == "limit"
