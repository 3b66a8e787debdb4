"""The badge service: issuing, revoking, the digest only stored, reading frames."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from server.accounts import badges
from server.accounts.models import Badge, Role
from server.audit.models import AuditEvent
from server.errors import InvalidInput, NotFound
from server.trainees import service as trainees
from server.trainees.models import Trainee
from tests.factories import ACTOR, auth, log_in, make_token, make_trainee, make_user, set_pin
from tests.kiosk.scan_helpers import blank_jpeg, jpeg, qr_image
from tests.server.certificates.test_pdf import decode_qr, rasterise, shown_text


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

    def test_a_new_card_renews_the_printed_badge_code_too(self, session: Session) -> None:
        trainee_id = _trainee_id(session)
        trainee = session.get(Trainee, trainee_id)
        assert trainee is not None
        printed = trainee.badge
        badges.issue(session, ACTOR, trainee_id)
        session.refresh(trainee)
        assert trainee.badge != printed
        assert trainees.by_badge(session, printed) is None
        assert trainees.by_badge(session, trainee.badge) == trainee
        actions = session.exec(select(AuditEvent.action)).all()
        assert actions.count("trainee.badge_reissue") == 1

    def test_the_card_shows_the_badge_code_and_its_qr_signs_in(
        self, session: Session, tmp_path: Path
    ) -> None:
        trainee_id = _trainee_id(session)
        _, text = badges.issue(session, ACTOR, trainee_id)
        trainee = session.get(Trainee, trainee_id)
        assert trainee is not None
        card = badges.card_pdf(trainee, text)
        assert decode_qr(rasterise(card, tmp_path, dpi=300)) == text
        assert trainee.badge in shown_text(card)


class TestReportLost:
    def test_the_code_changes_and_the_qr_stops_signing_in(self, session: Session) -> None:
        trainee_id = _trainee_id(session)
        badge, _ = badges.issue(session, ACTOR, trainee_id)
        trainee = session.get(Trainee, trainee_id)
        assert trainee is not None
        printed = trainee.badge
        badges.report_lost(session, ACTOR, trainee_id, "lost on the bus")
        session.refresh(trainee)
        session.refresh(badge)
        assert trainee.badge != printed and badge.revoked_at is not None
        revoked = session.exec(select(AuditEvent).where(AuditEvent.action == "badge.revoke")).one()
        assert json.loads(revoked.after or "{}") == {"reason": "lost"}

    def test_a_trainee_without_an_account_gets_a_new_code(self, session: Session) -> None:
        trainee = make_trainee(session)
        assert trainee.id is not None
        printed = trainee.badge
        assert badges.report_lost(session, ACTOR, trainee.id, None).badge != printed

    def test_an_unknown_trainee_is_not_found_and_nothing_changes(self, session: Session) -> None:
        with pytest.raises(NotFound):
            badges.report_lost(session, ACTOR, 999_999, None)
        assert not session.exec(select(AuditEvent)).all()

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

    def test_reporting_a_card_lost_in_the_registry_stops_its_qr(
        self, client: TestClient, session: Session
    ) -> None:
        trainee_id = _trainee_id(session)
        badge, _ = badges.issue(session, ACTOR, trainee_id)
        token = make_token(session, user=make_user(session, role=Role.trainer))
        response = client.post(
            f"/api/v1/trainees/{trainee_id}/badge", json={"reason": "lost"}, headers=auth(token)
        )
        assert response.status_code == 200, response.text
        session.commit()  # a new snapshot: the server wrote since
        session.refresh(badge)
        assert badge.revoked_at is not None

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


class TestConsoleCard:
    def test_a_trainer_prints_a_new_card_and_the_card_before_stops(
        self, client: TestClient, session: Session
    ) -> None:
        trainee_id = _trainee_id(session)
        old, _ = badges.issue(session, ACTOR, trainee_id)
        csrf = log_in(client, make_user(session, role=Role.trainer).username)
        page = client.get(f"/console/trainees/{trainee_id}")
        assert "打印新胸卡" in page.text and "挂失胸卡" in page.text
        card = client.post(f"/console/trainees/{trainee_id}/badge-card", data={"csrf_token": csrf})
        assert card.status_code == 200 and card.content.startswith(b"%PDF")
        session.commit()  # a new snapshot: the server wrote since
        trainee = session.get(Trainee, trainee_id)
        assert trainee is not None
        assert f"badge-{trainee.badge}.pdf" in card.headers["content-disposition"]
        session.refresh(old)
        assert old.revoked_at is not None

    def test_reporting_the_card_lost_says_what_happened(
        self, client: TestClient, session: Session
    ) -> None:
        trainee_id = _trainee_id(session)
        badge, _ = badges.issue(session, ACTOR, trainee_id)
        csrf = log_in(client, make_user(session, role=Role.admin).username)
        lost = client.post(
            f"/console/trainees/{trainee_id}/badge-lost",
            data={"csrf_token": csrf, "reason": "丢失"},
        )
        assert lost.status_code == 200 and "已挂失" in lost.text
        session.commit()
        session.refresh(badge)
        assert badge.revoked_at is not None

    def test_without_a_pin_there_is_no_card_to_print_yet(
        self, client: TestClient, session: Session
    ) -> None:
        trainee = make_trainee(session)
        csrf = log_in(client, make_user(session, role=Role.trainer).username)
        page = client.get(f"/console/trainees/{trainee.id}")
        assert "请先设置自助终端 PIN 码" in page.text and "打印新胸卡" not in page.text
        refused = client.post(
            f"/console/trainees/{trainee.id}/badge-card", data={"csrf_token": csrf}
        )
        assert refused.status_code == 404 and "没有学员账号" in refused.text
        assert not session.exec(select(Badge)).all()

    def test_an_examiner_is_refused_and_nothing_changes(
        self, client: TestClient, session: Session
    ) -> None:
        trainee_id = _trainee_id(session)
        badge, _ = badges.issue(session, ACTOR, trainee_id)
        csrf = log_in(client, make_user(session, role=Role.examiner).username)
        assert "挂失胸卡" not in client.get(f"/console/trainees/{trainee_id}").text
        for action in ("badge-card", "badge-lost"):
            response = client.post(
                f"/console/trainees/{trainee_id}/{action}", data={"csrf_token": csrf}
            )
            assert response.status_code == 403
        session.commit()
        session.refresh(badge)
        assert badge.revoked_at is None
