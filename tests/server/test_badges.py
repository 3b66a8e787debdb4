"""The badge service: issuing, revoking, the digest only stored, reading frames."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from server.accounts import badges
from server.accounts.models import Badge, Role
from server.audit.models import AuditEvent
from server.errors import InvalidInput, NotFound
from tests.factories import ACTOR, auth, make_token, make_trainee, make_user, set_pin
from tests.kiosk.scan_helpers import blank_jpeg, jpeg, qr_image


def _trainee_id(session: Session) -> int:
    trainee = make_trainee(session)
    set_pin(session, trainee=trainee)
    assert trainee.id is not None
    return trainee.id


class TestIssue:
    def test_the_secret_is_long_and_only_its_digest_is_stored(self, session: Session) -> None:
        badge, text = badges.issue(session, ACTOR, _trainee_id(session))
        assert text.startswith("STB1:") and len(text) - 5 >= 26  # ≥ 128 bits of base32
        stored = session.exec(select(Badge)).all()
        assert [b.id for b in stored] == [badge.id]
        assert text not in stored[0].secret_hash and len(stored[0].secret_hash) == 64

    def test_reissuing_revokes_the_old_badge(self, session: Session) -> None:
        trainee_id = _trainee_id(session)
        old, _ = badges.issue(session, ACTOR, trainee_id)
        new, _ = badges.issue(session, ACTOR, trainee_id)
        session.refresh(old)
        assert old.revoked_at is not None and new.revoked_at is None
        actions = session.exec(select(AuditEvent.action)).all()
        assert actions.count("badge.issue") == 2 and actions.count("badge.revoke") == 1

    def test_a_trainee_without_an_account_gets_no_badge(self, session: Session) -> None:
        trainee = make_trainee(session)
        assert trainee.id is not None
        with pytest.raises(NotFound):
            badges.issue(session, ACTOR, trainee.id)


class TestRevoke:
    def test_revoking_leaves_no_active_badge(self, session: Session) -> None:
        trainee_id = _trainee_id(session)
        badges.issue(session, ACTOR, trainee_id)
        assert badges.revoke(session, ACTOR, trainee_id) == 1
        assert badges.revoke(session, ACTOR, trainee_id) == 0


class TestReadFrame:
    def test_a_badge_qr_is_read(self) -> None:
        text = "STB1:" + "ABCDEFGH" * 4
        assert badges.read_frame(jpeg(qr_image(text))) == [text]

    def test_a_frame_without_a_qr_reads_nothing(self) -> None:
        assert badges.read_frame(blank_jpeg()) == []

    def test_bytes_that_are_no_image_are_refused(self) -> None:
        with pytest.raises(InvalidInput) as caught:
            badges.read_frame(b"GIF89a nonsense")
        assert caught.value.code == "bad_image"


class TestBadgeApi:
    @pytest.mark.parametrize("role", [Role.admin, Role.trainer])
    def test_staff_get_a_printable_card_and_the_old_badge_stops(
        self, client: TestClient, session: Session, role: Role
    ) -> None:
        trainee_id = _trainee_id(session)
        old, _ = badges.issue(session, ACTOR, trainee_id)
        token = make_token(session, user=make_user(session, role=role))
        response = client.post(f"/api/v1/trainees/{trainee_id}/kiosk-badge", headers=auth(token))
        assert response.status_code == 201, response.text
        assert response.headers["content-type"] == "application/pdf"
        assert response.content.startswith(b"%PDF")
        session.refresh(old)
        assert old.revoked_at is not None
        revoked = client.delete(f"/api/v1/trainees/{trainee_id}/kiosk-badge", headers=auth(token))
        assert revoked.status_code == 204
        session.commit()  # a new snapshot: the server wrote since
        assert not session.exec(select(Badge).where(col(Badge.revoked_at).is_(None))).all()

    @pytest.mark.parametrize("role", [Role.examiner, Role.regulator, Role.gateway])
    def test_others_are_refused(self, client: TestClient, session: Session, role: Role) -> None:
        trainee_id = _trainee_id(session)
        token = make_token(session, user=make_user(session, role=role))
        for method in ("POST", "DELETE"):
            response = client.request(
                method, f"/api/v1/trainees/{trainee_id}/kiosk-badge", headers=auth(token)
            )
            assert response.status_code == 403
        assert not session.exec(select(Badge)).all()

    def test_no_token_is_refused(self, client: TestClient, session: Session) -> None:
        assert (
            client.post(f"/api/v1/trainees/{_trainee_id(session)}/kiosk-badge").status_code == 401
        )


class TestBadgeCli:
    def test_issue_writes_a_card_and_revoke_stops_it(
        self, db_url: str, session: Session, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        from typer.testing import CliRunner

        from server.cli import app
        from server.config import get_settings

        monkeypatch.setenv("SAFETRAIN_DATABASE_URL", db_url)
        monkeypatch.setenv("SAFETRAIN_ENVIRONMENT", "test")
        get_settings.cache_clear()
        trainee_id = _trainee_id(session)
        card = tmp_path / "card.pdf"
        try:
            runner = CliRunner()
            issued = runner.invoke(app, ["badges", "issue", str(trainee_id), "--out", str(card)])
            assert issued.exit_code == 0, issued.output
            assert card.read_bytes().startswith(b"%PDF")
            revoked = runner.invoke(app, ["badges", "revoke", str(trainee_id)])
            assert revoked.exit_code == 0 and "1 badge(s) revoked" in revoked.output
        finally:
            get_settings.cache_clear()
