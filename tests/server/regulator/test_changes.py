"""GET /api/v1/regulator/changes?since=: every change in change order, each certificate once at
its latest state; a later change moves a certificate forward."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, col, select

from server.certificates import service as certificates
from server.certificates.models import Certificate
from tests.server.regulator.world import ADMIN, World, headers

URL = "/api/v1/regulator/changes"


def sync(
    api: TestClient, auth: dict[str, str], since: int = 0, limit: int = 100
) -> tuple[list[dict[str, Any]], int]:
    """Every page from `since` until caught up: the records in the order received, and where
    to continue."""
    received: list[dict[str, Any]] = []
    while True:
        answer = api.get(URL, params={"since": since, "limit": limit}, headers=auth)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert all(r["change_seq"] > since for r in body["data"])
        received += body["data"]
        assert body["next_since"] >= since
        since = body["next_since"]
        if not body["more"]:
            return received, since


def stored(session: Session) -> dict[str, int]:
    session.expire_all()
    return dict(session.exec(select(Certificate.number, Certificate.change_seq)).all())


class TestSync:
    def test_from_zero_every_certificate_once_in_change_order(
        self, api: TestClient, session: Session, world: World
    ) -> None:
        received, since = sync(api, headers(session))
        seqs = [r["change_seq"] for r in received]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        assert {r["number"]: r["change_seq"] for r in received} == stored(session)
        assert since == max(seqs)
        suspended = next(r for r in received if r["number"] == world.number("suspended"))
        assert suspended["status"] == "suspended" and suspended["standing"] == "suspended"

    def test_small_pages_give_the_same_as_one_big_page(
        self, api: TestClient, session: Session, world: World
    ) -> None:
        auth = headers(session)
        one, since_one = sync(api, auth, limit=1000)
        many, since_many = sync(api, auth, limit=1)
        assert many == one and since_many == since_one

    def test_caught_up_an_empty_page_keeps_the_place(
        self, api: TestClient, session: Session, world: World
    ) -> None:
        auth = headers(session)
        _, since = sync(api, auth)
        body = api.get(URL, params={"since": since}, headers=auth).json()
        assert body["data"] == [] and body["next_since"] == since and body["more"] is False

    def test_a_later_change_moves_a_certificate_forward_and_only_it_comes(
        self, api: TestClient, session: Session, world: World
    ) -> None:
        auth = headers(session)
        _, since = sync(api, auth)
        number = world.number("valid")
        changed = certificates.change_status(session, ADMIN, number, "suspend", "复核")
        received, after = sync(api, auth, since)
        assert [(r["number"], r["change_seq"], r["status"]) for r in received] == [
            (number, changed.change_seq, "suspended")
        ]
        assert changed.change_seq > since and after == changed.change_seq

    def test_a_certificate_changed_twice_comes_once_at_its_latest(
        self, api: TestClient, session: Session, world: World
    ) -> None:
        auth = headers(session)
        _, since = sync(api, auth)
        number = world.number("valid")
        certificates.change_status(session, ADMIN, number, "suspend", "复核")
        other = certificates.change_status(session, ADMIN, world.number("other"), "revoke", "错发")
        last = certificates.change_status(session, ADMIN, number, "reinstate", "复核完毕")
        received, _ = sync(api, auth, since)
        assert [(r["number"], r["change_seq"], r["status"]) for r in received] == [
            (other.number, other.change_seq, "revoked"),
            (number, last.change_seq, "valid"),
        ]

    def test_a_reissue_comes_as_the_new_certificate_then_the_old_one_superseded(
        self, api: TestClient, session: Session, cert_settings: Any, world: World
    ) -> None:
        auth = headers(session)
        _, since = sync(api, auth)
        old = world.number("valid")
        new = certificates.reissue(session, cert_settings, ADMIN, old, reason="换证")
        received, _ = sync(api, auth, since)
        assert [r["number"] for r in received] == [new.number, old]
        assert received[0]["supersedes"] == old and received[0]["standing"] == "valid"
        assert received[1]["standing"] == "superseded"
        assert received[1]["superseded_by"] == new.number
        assert received[0]["change_seq"] < received[1]["change_seq"]

    def test_certificates_sharing_a_change_seq_are_never_split_between_pages(
        self, api: TestClient, session: Session, world: World
    ) -> None:
        """Changed in one transaction, certificates share a sequence number; a page that ends
        inside such a group takes the whole group, or the next page (since = that seq) would
        skip the rest of it."""
        table = Certificate.__table__  # type: ignore[attr-defined]
        ids = session.exec(select(Certificate.id).order_by(col(Certificate.id))).all()
        shared = max(stored(session).values()) + 1
        session.execute(update(table).where(table.c.id.in_(ids[:3])).values(change_seq=shared))
        session.commit()
        auth = headers(session)
        received, _ = sync(api, auth, since=shared - 1, limit=2)
        assert len(received) == 3 and {r["change_seq"] for r in received} == {shared}
        first = api.get(URL, params={"since": shared - 1, "limit": 1}, headers=auth).json()
        assert len(first["data"]) == 3 and first["next_since"] == shared

    def test_since_must_be_a_number_not_below_zero(self, api: TestClient, session: Session) -> None:
        auth = headers(session)
        for bad in ("-1", "yesterday"):
            answer = api.get(URL, params={"since": bad}, headers=auth)
            assert answer.status_code == 422
            assert answer.json()["details"][0]["field"] == "since"
