"""Exam recordings API: the gateways poll open practicals and upload video; staff list and fetch."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from server.accounts.models import Role
from server.assessment import practical, recordings
from server.assessment.models import ExamRecording
from server.assessment.recordings import RecordingAnnounce
from server.deps import STAFF, PrincipalDep, SessionDep, SettingsDep, allow
from server.errors import InvalidInput

router = APIRouter(prefix="/api/v1", tags=["exam recordings"])
GATEWAYS = (Role.gateway,)
# Who may watch an exam: the examiners and the admin (trainers see that it exists, trainees
# never see it): the video is exam evidence, kept for the regulator.
VIEWERS = (Role.examiner, Role.admin)


class OpenExamPublic(BaseModel):
    attempt_id: int
    station: str
    opened_at: dt.datetime


class OpenExams(BaseModel):
    data: list[OpenExamPublic]


class UploadState(BaseModel):
    """Where an upload stands: the gateway sends from `received_bytes`, and deletes its copy
    once `stored` is true with the size and SHA-256 it announced."""

    id: int
    key: str
    size_bytes: int
    sha256: str
    received_bytes: int
    stored: bool


class RecordingPublic(BaseModel):
    id: int
    attempt_id: int
    station: str
    started_at: dt.datetime
    ended_at: dt.datetime
    seconds: float
    frames: int
    fps: float
    size_bytes: int
    sha256: str
    interrupted: bool
    stored_at: dt.datetime | None
    keep_until: dt.datetime | None
    pruned_at: dt.datetime | None


class RecordingsPublic(BaseModel):
    data: list[RecordingPublic]
    count: int


def _state(row: ExamRecording) -> UploadState:
    assert row.id is not None
    return UploadState(
        id=row.id,
        key=row.key,
        size_bytes=row.size_bytes,
        sha256=row.sha256,
        received_bytes=row.received_bytes,
        stored=row.stored_at is not None,
    )


@router.get("/stations/exam-attempts", response_model=OpenExams, **allow(*GATEWAYS))
def open_exams(
    session: SessionDep, station: Annotated[list[str] | None, Query(max_length=200)] = None
) -> OpenExams:
    """The practical exams open now at stations (only these `station`s if given)."""
    found = recordings.open_exams(session, station)
    return OpenExams(
        data=[
            OpenExamPublic(attempt_id=e.attempt_id, station=e.station, opened_at=e.opened_at)
            for e in found
        ]
    )


@router.post("/exam-recordings", response_model=UploadState, **allow(*GATEWAYS))
def announce_recording(
    session: SessionDep, principal: PrincipalDep, data: RecordingAnnounce
) -> UploadState:
    """Announce a file about to be sent (again: learn how much of it the server has)."""
    return _state(recordings.announce(session, principal.actor, data))


async def _chunk(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    limit = recordings.MAX_CHUNK_BYTES
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_big(limit)
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > limit:
            raise _too_big(limit)
    return bytes(body)


_allowed = allow(*GATEWAYS)
UPLOADS = {
    **_allowed,
    "openapi_extra": {
        **_allowed["openapi_extra"],
        "requestBody": {"content": {"application/octet-stream": {}}},
    },
}


def _too_big(limit: int) -> InvalidInput:
    mb = limit // (1024 * 1024)
    return InvalidInput(
        f"一次上传的数据过大（上限 {mb} MB）",
        f"chunk too large (limit {mb} MB)",
        code="chunk_too_large",
    )


@router.put(
    "/exam-recordings/{recording_id}/content",
    response_model=UploadState,
    **UPLOADS,
)
async def put_recording_content(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    recording_id: int,
    offset: Annotated[int, Query(ge=0)],
) -> UploadState:
    """The file's bytes from `offset` (≤ 8 MB a request); the last chunk stores it."""
    chunk = await _chunk(request)
    row = await run_in_threadpool(
        recordings.receive, session, principal.actor, settings, recording_id, offset, chunk
    )
    return _state(row)


def recording_public(row: ExamRecording, station: str) -> RecordingPublic:
    assert row.id is not None
    return RecordingPublic(
        id=row.id,
        attempt_id=row.attempt_id,
        station=station,
        started_at=row.started_at,
        ended_at=row.ended_at,
        seconds=round((row.ended_at - row.started_at).total_seconds(), 1),
        frames=row.frames,
        fps=row.fps,
        size_bytes=row.size_bytes,
        sha256=row.sha256,
        interrupted=row.interrupted,
        stored_at=row.stored_at,
        keep_until=row.keep_until,
        pruned_at=row.pruned_at,
    )


@router.get("/attempts/{attempt_id}/recordings", response_model=RecordingsPublic, **allow(*STAFF))
def attempt_recordings(session: SessionDep, attempt_id: int) -> RecordingsPublic:
    """The exam recordings of an attempt (uploads under way included, `stored_at` empty)."""
    practical.get_attempt(session, attempt_id)
    rows = recordings.of_attempts(session, [attempt_id])
    codes = recordings.station_codes(session, [r.station_id for r in rows])
    data = [recording_public(r, codes.get(r.station_id, "")) for r in rows]
    return RecordingsPublic(data=data, count=len(data))


@router.get(
    "/exam-recordings/{recording_id}/file",
    response_class=FileResponse,
    responses={200: {"content": {recordings.MEDIA_TYPE: {}}}},
    **allow(*VIEWERS),
)
def recording_file(
    session: SessionDep, settings: SettingsDep, principal: PrincipalDep, recording_id: int
) -> FileResponse:
    """The video file of a stored recording (MJPG in AVI)."""
    row, path = recordings.file_for(session, principal.actor, settings, recording_id)
    station = recordings.station_codes(session, [row.station_id]).get(row.station_id, "")
    return FileResponse(
        path, media_type=recordings.MEDIA_TYPE, filename=recordings.download_name(row, station)
    )
