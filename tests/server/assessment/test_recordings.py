"""Exam recordings: a practical at a station, the gateway's poll and upload, listing, download,
the roles, and deletion after the retention (never before)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from curricula import catalogue
from server.accounts.models import Role, User
from server.app import create_app
from server.assessment import recordings
from server.assessment.models import ExamRecording
from server.audit.models import AuditEvent
from server.audit.service import Actor
from server.config import Environment, Settings
from server.scheduling.models import Course
from tests.factories import (
    auth,
    enrol,
    log_in,
    make_course,
    make_station,
    make_token,
    make_trainee,
    make_user,
)

BLUEPRINT = catalogue().curricula["NITRATION"].assessment.practical
assert BLUEPRINT is not None
ALL_DONE = [{"item": i.code} for s in BLUEPRINT.subjects for i in s.items]
VIDEO = bytes(range(256)) * 1000  # 256 kB standing in for a file (the server never decodes it)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db_url,
        environment=Environment.test,
        exam_recordings_dir=str(tmp_path / "recordings"),
    )


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings=settings, engine=engine)) as c:
        yield c


@pytest.fixture
def examiner(session: Session) -> User:
    return make_user(session, role=Role.examiner)


@pytest.fixture
def course(session: Session) -> Course:
    return make_course(session)


@pytest.fixture
def gateway(session: Session) -> str:
    return make_token(session, user=make_user(session, role=Role.gateway))


def trainee_in(session: Session, course: Course) -> int:
    trainee = make_trainee(session)
    enrol(session, course=course, trainee=trainee)
    assert trainee.id is not None
    return trainee.id


def start(
    client: TestClient, token: str, course: Course, trainee_id: int, station: str | None
) -> Any:
    return client.post(
        f"/api/v1/courses/{course.id}/practical",
        json={"trainee_id": trainee_id, "station": station},
        headers=auth(token),
    )


def announcement(attempt_id: int, station: str, data: bytes = VIDEO, **extra: Any) -> dict:
    return {
        "key": f"{station}-a{attempt_id}-20261201T010000000Z",
        "attempt_id": attempt_id,
        "station": station,
        "started_at": "2026-12-01T01:00:00Z",
        "ended_at": "2026-12-01T01:20:00Z",
        "frames": 12000,
        "fps": 10,
        "size_bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        **extra,
    }


def upload(client: TestClient, gateway: str, body: dict, data: bytes, chunk: int) -> Any:
    state = client.post("/api/v1/exam-recordings", json=body, headers=auth(gateway)).json()
    while not state["stored"]:
        offset = state["received_bytes"]
        answer = client.put(
            f"/api/v1/exam-recordings/{state['id']}/content",
            params={"offset": offset},
            content=data[offset : offset + chunk],
            headers=auth(gateway),
        )
        assert answer.status_code == 200, answer.text
        state = answer.json()
    return state


@pytest.fixture
def exam(client: TestClient, session: Session, examiner: User, course: Course) -> dict:
    """A practical opened at exam seat EXAM-01."""
    make_station(session, code="EXAM-01", kind="exam_seat")
    token = make_token(session, user=examiner)
    response = start(client, token, course, trainee_in(session, course), "EXAM-01")
    assert response.status_code == 201, response.text
    return {"attempt": response.json(), "token": token}


class TestPracticalStation:
    def test_examiner_names_the_exam_seat(self, exam: dict, session: Session) -> None:
        assert exam["attempt"]["station_id"] is not None
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "attempt.start")).all()
        assert '"station_id"' in event[-1].after

    def test_station_is_optional(
        self, client: TestClient, session: Session, examiner: User, course: Course
    ) -> None:
        token = make_token(session, user=examiner)
        response = start(client, token, course, trainee_in(session, course), None)
        assert response.status_code == 201
        assert response.json()["station_id"] is None

    def test_unknown_station_is_refused_by_name(
        self, client: TestClient, session: Session, examiner: User, course: Course
    ) -> None:
        token = make_token(session, user=examiner)
        response = start(client, token, course, trainee_in(session, course), "NOPE-9")
        assert response.status_code == 422
        assert response.json()["error"] == "station_not_found"
        assert "NOPE-9" in response.json()["message"]

    def test_station_without_exam_camera_is_refused(
        self, client: TestClient, session: Session, examiner: User, course: Course
    ) -> None:
        make_station(session, code="VR-77", kind="vr_pod")
        token = make_token(session, user=examiner)
        response = start(client, token, course, trainee_in(session, course), "VR-77")
        assert response.status_code == 422
        assert response.json()["error"] == "station_not_recorded"
        assert "考试机位" in response.json()["message"]

    def test_a_second_candidate_at_a_busy_seat_is_refused(
        self, client: TestClient, session: Session, exam: dict, course: Course
    ) -> None:
        response = start(client, exam["token"], course, trainee_in(session, course), "EXAM-01")
        assert response.status_code == 409
        assert response.json()["details"]["attempt_id"] == exam["attempt"]["id"]


class TestOpenExams:
    def test_gateway_sees_the_open_exam_until_it_is_signed(
        self, client: TestClient, exam: dict, gateway: str
    ) -> None:
        attempt_id = exam["attempt"]["id"]
        seen = client.get(
            "/api/v1/stations/exam-attempts", params={"station": "EXAM-01"}, headers=auth(gateway)
        ).json()["data"]
        assert [(e["attempt_id"], e["station"]) for e in seen] == [(attempt_id, "EXAM-01")]
        other = client.get(
            "/api/v1/stations/exam-attempts", params={"station": "EXAM-02"}, headers=auth(gateway)
        ).json()["data"]
        assert other == []
        headers = auth(exam["token"])
        client.put(
            f"/api/v1/attempts/{attempt_id}/marks", json={"marks": ALL_DONE}, headers=headers
        )
        assert (
            client.post(f"/api/v1/attempts/{attempt_id}/sign", headers=headers).status_code == 200
        )
        after = client.get("/api/v1/stations/exam-attempts", headers=auth(gateway)).json()
        assert after["data"] == []


class TestUpload:
    def test_file_in_chunks_is_stored_with_retention_and_audited(
        self, client: TestClient, session: Session, exam: dict, gateway: str, settings: Settings
    ) -> None:
        attempt_id = exam["attempt"]["id"]
        state = upload(client, gateway, announcement(attempt_id, "EXAM-01"), VIDEO, 100_000)
        assert state["stored"] and state["received_bytes"] == len(VIDEO)
        row = session.exec(select(ExamRecording)).one()
        assert row.attempt_id == attempt_id and row.frames == 12000
        assert (Path(settings.exam_recordings_dir) / row.path).read_bytes() == VIDEO
        assert row.keep_until is not None and row.stored_at is not None
        assert row.keep_until - max(row.ended_at, row.stored_at) == dt.timedelta(days=1096)
        actions = session.exec(select(AuditEvent.action)).all()
        assert "exam_recording.store" in actions

    def test_announcing_again_resumes_at_the_servers_offset(
        self, client: TestClient, exam: dict, gateway: str
    ) -> None:
        body = announcement(exam["attempt"]["id"], "EXAM-01")
        first = client.post("/api/v1/exam-recordings", json=body, headers=auth(gateway)).json()
        client.put(
            f"/api/v1/exam-recordings/{first['id']}/content",
            params={"offset": 0},
            content=VIDEO[:50_000],
            headers=auth(gateway),
        )
        again = client.post("/api/v1/exam-recordings", json=body, headers=auth(gateway)).json()
        assert again["id"] == first["id"] and again["received_bytes"] == 50_000
        stale = client.put(
            f"/api/v1/exam-recordings/{first['id']}/content",
            params={"offset": 0},
            content=VIDEO[:50_000],
            headers=auth(gateway),
        )
        assert stale.status_code == 409
        assert stale.json()["details"]["received_bytes"] == 50_000

    def test_wrong_hash_is_not_stored_and_starts_over(
        self, client: TestClient, session: Session, exam: dict, gateway: str
    ) -> None:
        body = announcement(exam["attempt"]["id"], "EXAM-01")
        state = client.post("/api/v1/exam-recordings", json=body, headers=auth(gateway)).json()
        corrupt = VIDEO[:-1] + b"\x00"
        answer = client.put(
            f"/api/v1/exam-recordings/{state['id']}/content",
            params={"offset": 0},
            content=corrupt,
            headers=auth(gateway),
        )
        assert answer.status_code == 422
        assert answer.json()["error"] == "sha256_mismatch"
        row = session.exec(select(ExamRecording)).one()
        assert row.stored_at is None and row.received_bytes == 0

    def test_recording_of_another_stations_exam_is_refused(
        self, client: TestClient, session: Session, exam: dict, gateway: str
    ) -> None:
        make_station(session, code="EXAM-02", kind="exam_seat")
        body = announcement(exam["attempt"]["id"], "EXAM-02")
        answer = client.post("/api/v1/exam-recordings", json=body, headers=auth(gateway))
        assert answer.status_code == 409
        assert answer.json()["error"] == "not_this_station"


class TestListingAndDownload:
    @pytest.fixture
    def stored(self, client: TestClient, exam: dict, gateway: str) -> dict:
        body = announcement(exam["attempt"]["id"], "EXAM-01", interrupted=True)
        return upload(client, gateway, body, VIDEO, 1 << 20)

    def test_staff_list_it_examiner_and_admin_download_it(
        self, client: TestClient, session: Session, exam: dict, stored: dict
    ) -> None:
        attempt_id = exam["attempt"]["id"]
        for role in (Role.trainer, Role.examiner, Role.admin):
            token = make_token(session, user=make_user(session, role=role))
            listed = client.get(f"/api/v1/attempts/{attempt_id}/recordings", headers=auth(token))
            assert listed.status_code == 200
            [entry] = listed.json()["data"]
            assert entry["station"] == "EXAM-01" and entry["seconds"] == 1200.0
            assert entry["interrupted"] is True
        for role in (Role.examiner, Role.admin):
            token = make_token(session, user=make_user(session, role=role))
            got = client.get(f"/api/v1/exam-recordings/{stored['id']}/file", headers=auth(token))
            assert got.status_code == 200 and got.content == VIDEO
            assert got.headers["content-type"] == "video/x-msvideo"

    @pytest.mark.parametrize("role", [Role.trainer, Role.trainee, Role.regulator, Role.gateway])
    def test_other_roles_never_download(
        self, client: TestClient, session: Session, stored: dict, role: Role
    ) -> None:
        token = make_token(session, user=make_user(session, role=role))
        got = client.get(f"/api/v1/exam-recordings/{stored['id']}/file", headers=auth(token))
        assert got.status_code == 403

    @pytest.mark.parametrize("role", [Role.examiner, Role.admin, Role.trainee, Role.regulator])
    def test_only_gateways_poll_and_upload(
        self, client: TestClient, session: Session, exam: dict, role: Role
    ) -> None:
        token = make_token(session, user=make_user(session, role=role))
        body = announcement(exam["attempt"]["id"], "EXAM-01")
        assert client.get("/api/v1/stations/exam-attempts", headers=auth(token)).status_code == 403
        posted = client.post("/api/v1/exam-recordings", json=body, headers=auth(token))
        assert posted.status_code == 403

    def test_attempt_page_lists_it_in_shanghai_time_with_a_link(
        self, client: TestClient, session: Session, exam: dict, stored: dict
    ) -> None:
        admin = make_user(session, role=Role.admin)
        log_in(client, admin.username)
        page = client.get(f"/console/attempts/{exam['attempt']['id']}").text
        assert "考试录像" in page and "2026-12-01 09:00:00" in page and "20:00" in page
        assert f"/console/exam-recordings/{stored['id']}/file" in page
        assert "录像中断" in page
        got = client.get(f"/console/exam-recordings/{stored['id']}/file")
        assert got.status_code == 200 and got.content == VIDEO

    def test_trainer_sees_the_recording_but_no_link(
        self, client: TestClient, session: Session, exam: dict, stored: dict
    ) -> None:
        trainer = make_user(session, role=Role.trainer)
        log_in(client, trainer.username)
        page = client.get(f"/console/attempts/{exam['attempt']['id']}").text
        assert "2026-12-01 09:00:00" in page
        assert "/file" not in page
        assert client.get(f"/console/exam-recordings/{stored['id']}/file").status_code == 403


class TestPrune:
    def test_deletes_only_past_keep_until(
        self,
        client: TestClient,
        session: Session,
        exam: dict,
        gateway: str,
        settings: Settings,
    ) -> None:
        upload(client, gateway, announcement(exam["attempt"]["id"], "EXAM-01"), VIDEO, 1 << 20)
        row = session.exec(select(ExamRecording)).one()
        assert row.keep_until is not None
        path = Path(settings.exam_recordings_dir) / row.path
        actor = Actor(name="cli:test")
        assert recordings.prune(session, actor, settings, now=row.keep_until) == []
        assert path.exists()
        late = row.keep_until + dt.timedelta(seconds=1)
        assert [r.id for r in recordings.prune(session, actor, settings, now=late)] == [row.id]
        assert not path.exists()
        session.refresh(row)
        assert row.pruned_at is not None
        assert "exam_recording.prune" in session.exec(select(AuditEvent.action)).all()
        assert recordings.prune(session, actor, settings, now=late) == []


class TestRetentionSetting:
    def test_less_than_three_years_is_refused_outside_development(self) -> None:
        with pytest.raises(ValueError, match="3 年"):
            Settings(environment=Environment.production, exam_recording_retention_days=365)
        assert Settings(environment=Environment.production).exam_recording_retention_days >= 1096
        dev = Settings(environment=Environment.development, exam_recording_retention_days=1)
        assert dev.exam_recording_retention_days == 1


class TestCommandLine:
    def test_status_and_prune_past_retention_only_when_confirmed(
        self,
        client: TestClient,
        session: Session,
        exam: dict,
        gateway: str,
        settings: Settings,
        db_url: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        from typer.testing import CliRunner

        from server.cli import app as cli
        from server.config import get_settings

        upload(client, gateway, announcement(exam["attempt"]["id"], "EXAM-01"), VIDEO, 1 << 20)
        row = session.exec(select(ExamRecording)).one()
        path = Path(settings.exam_recordings_dir) / row.path
        for name, value in {
            "SAFETRAIN_DATABASE_URL": db_url,
            "SAFETRAIN_ENVIRONMENT": "test",
            "SAFETRAIN_EXAM_RECORDINGS_DIR": settings.exam_recordings_dir,
            "COLUMNS": "200",
        }.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        runner = CliRunner()
        try:
            kept = runner.invoke(cli, ["recordings", "status"])
            assert kept.exit_code == 0, kept.output
            assert "保存中 kept" in kept.output and "最早到期" in kept.output
            nothing = runner.invoke(cli, ["recordings", "prune", "--yes"])
            assert nothing.exit_code == 0 and "deleted 0 recordings" in nothing.output
            assert path.exists()  # three years are not over

            row.keep_until = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
            session.add(row)
            session.commit()
            declined = runner.invoke(cli, ["recordings", "prune"], input="n\n")
            assert declined.exit_code == 1 and path.exists()
            done = runner.invoke(cli, ["recordings", "prune", "--yes"])
            assert done.exit_code == 0, done.output
            assert "deleted 1 recordings" in done.output and not path.exists()
            after = runner.invoke(cli, ["recordings", "status"])
            assert "已按期删除 pruned" in after.output
        finally:
            get_settings.cache_clear()
