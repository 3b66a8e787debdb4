"""Exam recordings: the station a practical exam is at, and the video its camera recorded.

An examiner may name the station when opening a practical checklist; the gateway next to the
station polls for open practicals at its stations, records while the checklist is a draft, and
uploads each file: announced first (size, SHA-256), then sent in chunks at the offset the server
has reached, so an upload cut off resumes where it stopped. A file is stored — and only then may
the gateway delete its copy — when every byte is in and the SHA-256 matches. It is kept until
`keep_until` (its end plus the retention setting, at least 3 years) and deleted only after that.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from curricula.model import StationKind
from scoring.results import PRACTICAL
from server.assessment import practical
from server.assessment.models import Attempt, AttemptStatus, ExamRecording
from server.assessment.sittings import check_separation
from server.audit import service as audit
from server.audit.service import Actor
from server.config import Settings
from server.db import utcnow
from server.errors import Conflict, InvalidInput, NotFound, field_error
from server.scheduling import service as scheduling
from server.scheduling.models import Station

# The station kinds that have a camera over the candidate: a practical exam is recorded there.
RECORDED_KINDS = frozenset({StationKind.exam_seat})
MAX_CHUNK_BYTES = 8 * 1024 * 1024
MAX_FILE_BYTES = 64 * 1024**3
MEDIA_TYPE = "video/x-msvideo"  # MJPG in AVI: the recorder's format (docs/cameras.md)
KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,95}$")
INCOMING = ".incoming"


# --- the station of a practical exam -------------------------------------------------------


def exam_station(session: Session, code: str) -> Station:
    """The station named for a practical exam: it must exist, be in service and have a camera."""
    station = session.exec(select(Station).where(Station.code == code.strip().upper())).first()
    if station is None:
        raise InvalidInput(
            f"工位 {code} 不存在",
            f"no station {code}",
            code="station_not_found",
            details=[field_error("station", "station_not_found", "工位不存在", "no such station")],
        )
    kind = StationKind(station.kind)
    if kind not in RECORDED_KINDS:
        kinds_zh = "、".join(k.label("zh") for k in sorted(RECORDED_KINDS))
        kinds_en = ", ".join(k.label("en") for k in sorted(RECORDED_KINDS))
        raise InvalidInput(
            f"工位 {station.code} 是{kind.label('zh')}，没有考试摄像头；实操考试只能在{kinds_zh}录像",
            f"station {station.code} is a {kind.label('en')} and has no exam camera; "
            f"practical exams are recorded at: {kinds_en}",
            code="station_not_recorded",
            details=[
                field_error("station", "station_not_recorded", "该工位不能录像", "no exam camera")
            ],
        )
    return scheduling.in_service(station)


def exam_stations(session: Session) -> list[Station]:
    """The stations in service where a practical exam can be recorded, by code."""
    kinds = [k.value for k in RECORDED_KINDS]
    return list(
        session.exec(
            select(Station)
            .where(col(Station.kind).in_(kinds), Station.is_active == True)  # noqa: E712
            .order_by(col(Station.code))
        ).all()
    )


def start_practical(
    session: Session,
    actor: Actor,
    course_id: int,
    trainee_id: int,
    station_code: str | None,
    *,
    may_sit: Callable[[int, dt.date], tuple[bool, str, list[dict[str, str]]]],
    now: dt.datetime | None = None,
) -> Attempt:
    """Open a practical checklist, at a station whose camera records it when one is named.

    One exam at a time per station: a station with another trainee's open checklist is refused,
    naming that checklist, so one video never shows two candidates' exams as one."""
    station_id = None
    if station_code:
        station = exam_station(session, station_code)
        busy = session.exec(
            select(Attempt).where(
                Attempt.station_id == station.id,
                Attempt.status == AttemptStatus.draft,
                Attempt.part == PRACTICAL,
                Attempt.trainee_id != trainee_id,
            )
        ).first()
        if busy is not None:
            raise Conflict(
                f"工位 {station.code} 正在进行另一场实操考试（考核记录 {busy.id}），请先签字或另选工位",
                f"station {station.code} has another practical exam open (attempt {busy.id}); "
                "sign it first or choose another station",
                code="station_busy",
                details={"attempt_id": busy.id, "station": station.code},
            )
        station_id = station.id
    return practical.start(
        session, actor, course_id, trainee_id, may_sit=may_sit, now=now, station_id=station_id
    )


@dataclass(frozen=True)
class OpenExam:
    attempt_id: int
    station: str
    opened_at: dt.datetime


def open_exams(session: Session, stations: list[str] | None = None) -> list[OpenExam]:
    """The practical checklists still open (drafts) at a station, optionally only these ones."""
    query = (
        select(Attempt.id, Station.code, Attempt.taken_at)
        .join(Station, col(Station.id) == col(Attempt.station_id))
        .where(Attempt.status == AttemptStatus.draft, Attempt.part == PRACTICAL)
        .order_by(col(Attempt.id))
    )
    if stations:
        query = query.where(col(Station.code).in_([s.strip().upper() for s in stations]))
    return [
        OpenExam(attempt_id=attempt_id or 0, station=code, opened_at=taken_at)
        for attempt_id, code, taken_at in session.exec(query).all()
    ]


# --- receiving a file ------------------------------------------------------------------------


class RecordingAnnounce(BaseModel):
    """A finished file the gateway is about to send (what it is, and what it must hash to)."""

    key: str = Field(pattern=KEY.pattern)
    attempt_id: int
    station: str = Field(min_length=1, max_length=16)
    started_at: dt.datetime
    ended_at: dt.datetime
    frames: int = Field(ge=0)
    fps: float = Field(gt=0, le=240)
    size_bytes: int = Field(gt=0, le=MAX_FILE_BYTES)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    interrupted: bool = False


def directory(settings: Settings) -> Path:
    return Path(settings.exam_recordings_dir)


def _incoming(settings: Settings, row: ExamRecording) -> Path:
    return directory(settings) / INCOMING / f"{row.id}.part"


def _get(session: Session, recording_id: int, *, lock: bool = False) -> ExamRecording:
    query = select(ExamRecording).where(ExamRecording.id == recording_id)
    if lock:
        query = query.with_for_update()
    row = session.exec(query).first()
    if row is None:
        raise NotFound(
            f"考试录像 {recording_id} 不存在",
            f"exam recording {recording_id} does not exist",
            code="recording_not_found",
        )
    return row


def announce(session: Session, actor: Actor, data: RecordingAnnounce) -> ExamRecording:
    """The row of a file about to arrive; announcing the same file again answers the same row
    (a gateway that restarted mid-upload learns how much the server already has)."""
    same = session.exec(select(ExamRecording).where(ExamRecording.key == data.key)).first()
    if same is not None:
        return _same_file(same, data)
    attempt = practical.get_attempt(session, data.attempt_id)
    station = session.exec(select(Station).where(Station.code == data.station.upper())).first()
    if attempt.part != PRACTICAL or station is None or attempt.station_id != station.id:
        raise Conflict(
            f"考核记录 {data.attempt_id} 不是在工位 {data.station} 进行的实操考试",
            f"attempt {data.attempt_id} is not a practical exam at station {data.station}",
            code="not_this_station",
        )
    if data.ended_at < data.started_at:
        raise InvalidInput(
            "录像结束时间早于开始时间",
            "the recording ends before it starts",
            details=[field_error("ended_at", "before_start", "早于开始", "before the start")],
        )
    start = data.started_at.astimezone(dt.UTC)
    row = ExamRecording(
        key=data.key,
        attempt_id=data.attempt_id,
        station_id=station.id or 0,
        started_at=data.started_at,
        ended_at=data.ended_at,
        frames=data.frames,
        fps=data.fps,
        size_bytes=data.size_bytes,
        sha256=data.sha256,
        interrupted=data.interrupted,
        path=f"{start:%Y/%m}/attempt-{data.attempt_id}-{station.code}-{start:%Y%m%dT%H%M%SZ}"
        f"-{data.sha256[:8]}.avi",
        gateway_user_id=actor.user_id,
    )
    session.add(row)
    try:
        session.commit()
    except IntegrityError:  # the same key announced at the same moment by a retry
        session.rollback()
        same = session.exec(select(ExamRecording).where(ExamRecording.key == data.key)).one()
        return _same_file(same, data)
    session.refresh(row)
    return row


def _same_file(row: ExamRecording, data: RecordingAnnounce) -> ExamRecording:
    if (row.sha256, row.size_bytes, row.attempt_id) != (
        data.sha256,
        data.size_bytes,
        data.attempt_id,
    ):
        raise Conflict(
            f"录像 {data.key} 已登记为另一个文件",
            f"recording {data.key} is registered as a different file",
            code="recording_key_taken",
            details={"id": row.id, "sha256": row.sha256, "size_bytes": row.size_bytes},
        )
    return row


def receive(
    session: Session,
    actor: Actor,
    settings: Settings,
    recording_id: int,
    offset: int,
    chunk: bytes,
    *,
    now: dt.datetime | None = None,
) -> ExamRecording:
    """Write a chunk at `offset` (which must be where the server is); the last one stores the
    file if its SHA-256 matches. A chunk for a stored file changes nothing."""
    row = _get(session, recording_id, lock=True)
    if row.stored_at is not None:
        session.rollback()
        return row
    if offset != row.received_bytes:
        raise Conflict(
            f"续传位置应为 {row.received_bytes} 字节，收到的是 {offset}",
            f"the upload continues at byte {row.received_bytes}, not {offset}",
            code="wrong_offset",
            details={"received_bytes": row.received_bytes},
        )
    if offset + len(chunk) > row.size_bytes:
        raise InvalidInput(
            f"数据超出登记的文件大小 {row.size_bytes} 字节",
            f"more bytes than the announced {row.size_bytes}",
            code="beyond_size",
        )
    part = _incoming(settings, row)
    part.parent.mkdir(parents=True, exist_ok=True)
    # Written at the offset the database has (a chunk whose commit was lost is written again).
    with part.open("r+b" if part.exists() else "wb") as fh:
        fh.seek(offset)
        fh.write(chunk)
        fh.truncate()
        fh.flush()
        os.fsync(fh.fileno())
    row.received_bytes = offset + len(chunk)
    if row.received_bytes == row.size_bytes:
        digest = _sha256(part)
        if digest != row.sha256:
            part.unlink()
            row.received_bytes = 0
            session.add(row)
            session.commit()
            raise InvalidInput(
                "录像文件的 SHA-256 与登记的不符，请从头重传",
                "the file's SHA-256 does not match the announced one; send it again from the start",
                code="sha256_mismatch",
                details={"expected": row.sha256, "received": digest},
            )
        _store(session, actor, settings, row, part, now or utcnow())
    session.add(row)
    session.commit()
    session.refresh(row)
    return row


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def _store(
    session: Session,
    actor: Actor,
    settings: Settings,
    row: ExamRecording,
    part: Path,
    now: dt.datetime,
) -> None:
    final = directory(settings) / row.path
    final.parent.mkdir(parents=True, exist_ok=True)
    part.replace(final)
    row.stored_at = now
    # From the later of its end and its arrival: a gateway's wrong clock never shortens it.
    row.keep_until = max(row.ended_at, now) + dt.timedelta(
        days=settings.exam_recording_retention_days
    )
    audit.record(
        session,
        actor,
        "exam_recording.store",
        "exam_recording",
        row.id,
        after={
            "attempt_id": row.attempt_id,
            "station_id": row.station_id,
            "started_at": row.started_at.isoformat(),
            "ended_at": row.ended_at.isoformat(),
            "frames": row.frames,
            "size_bytes": row.size_bytes,
            "sha256": row.sha256,
            "interrupted": row.interrupted,
            "keep_until": row.keep_until.isoformat(),
        },
    )


# --- reading ---------------------------------------------------------------------------------


def of_attempts(session: Session, attempt_ids: list[int]) -> list[ExamRecording]:
    """The recordings of these attempts (a checklist and its corrections), oldest first."""
    if not attempt_ids:
        return []
    return list(
        session.exec(
            select(ExamRecording)
            .where(col(ExamRecording.attempt_id).in_(attempt_ids))
            .order_by(col(ExamRecording.started_at), col(ExamRecording.id))
        ).all()
    )


def station_codes(session: Session, station_ids: list[int]) -> dict[int, str]:
    if not station_ids:
        return {}
    rows = session.exec(select(Station.id, Station.code).where(col(Station.id).in_(station_ids)))
    return {station_id or 0: code for station_id, code in rows.all()}


def file_for(
    session: Session, actor: Actor, settings: Settings, recording_id: int
) -> tuple[ExamRecording, Path]:
    """A stored recording's file, for an examiner or admin to watch (an examiner who trained
    the course may not: training and examining are kept apart)."""
    row = _get(session, recording_id)
    if actor.role == "examiner":
        attempt = practical.get_attempt(session, row.attempt_id)
        if attempt.course_id is not None:
            check_separation(session, actor, scheduling.get_course(session, attempt.course_id))
    path = directory(settings) / row.path
    if row.stored_at is None or row.pruned_at is not None or not path.is_file():
        raise NotFound(
            f"考试录像 {recording_id} 的文件不在（尚未传完，或保存期满已删除）",
            f"the file of exam recording {recording_id} is not here "
            "(not fully uploaded yet, or deleted after its retention)",
            code="recording_file_missing",
        )
    return row, path


def download_name(row: ExamRecording, station: str) -> str:
    return f"exam-attempt-{row.attempt_id}-{station}-{row.started_at:%Y%m%dT%H%M%SZ}.avi"


# --- retention -------------------------------------------------------------------------------


def prune(
    session: Session, actor: Actor, settings: Settings, *, now: dt.datetime | None = None
) -> list[ExamRecording]:
    """Delete the files of recordings whose `keep_until` has passed (never one before it); each
    row stays, with `pruned_at`, and an audit event says what was deleted."""
    now = now or utcnow()
    due = list(
        session.exec(
            select(ExamRecording)
            .where(
                col(ExamRecording.keep_until).is_not(None),
                col(ExamRecording.keep_until) < now,
                col(ExamRecording.pruned_at).is_(None),
            )
            .order_by(col(ExamRecording.id))
            .with_for_update()
        ).all()
    )
    for row in due:
        assert row.keep_until is not None and row.keep_until < now
        row.pruned_at = now
        session.add(row)
        audit.record(
            session,
            actor,
            "exam_recording.prune",
            "exam_recording",
            row.id,
            before={"path": row.path, "sha256": row.sha256, "size_bytes": row.size_bytes},
            after={"pruned_at": now.isoformat()},
            reason=f"retention: kept until {row.keep_until.isoformat()}",
        )
    session.commit()
    # Deleted once the rows say so: a failed commit leaves every file in place.
    for row in due:
        (directory(settings) / row.path).unlink(missing_ok=True)
    return due
