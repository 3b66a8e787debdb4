"""The exam recorder end to end: a live server, an examiner opening and signing a practical at an
exam seat, frames from a generated video file, and the file arriving, listed and playable —
through a server that goes away mid-upload and a gateway killed mid-recording."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from cv2.typing import MatLike
from sqlmodel import Session, col, select

from curricula import catalogue
from devices.backoff import Backoff
from devices.camera.recorder import ExamRecorder, burn_in, salvage
from server.accounts.models import Role
from server.assessment.models import ExamRecording
from server.db import make_engine
from tests.devices.e2e_kit import ServerProcess
from tests.factories import (
    auth,
    enrol,
    form_token,
    make_course,
    make_station,
    make_token,
    make_trainee,
    make_user,
)

BLUEPRINT = catalogue().curricula["NITRATION"].assessment.practical
assert BLUEPRINT is not None
ALL_DONE = [{"item": i.code} for s in BLUEPRINT.subjects for i in s.items]
STATION = "EXAM-01"
FPS = 10.0


@dataclass(frozen=True)
class Shot:
    frame: MatLike
    at: float
    index: int


def write_video(path: Path, count: int = 40, size: tuple[int, int] = (320, 240)) -> Path:
    """A generated video: a white square crossing a grey field, the frame number in the corner."""
    w, h = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), FPS, size)
    for i in range(count):
        frame = np.full((h, w, 3), 90, np.uint8)
        x = 10 + (i * 7) % (w - 40)
        cv2.rectangle(frame, (x, h // 2), (x + 30, h // 2 + 30), (255, 255, 255), cv2.FILLED)
        cv2.putText(frame, str(i), (w - 60, h - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 255, 0))
        writer.write(frame)
    writer.release()
    return path


class VideoFrames:
    """`read(timeout)` over a video file, again from the start at its end, paced at `fps`."""

    def __init__(self, path: Path, fps: float = FPS) -> None:
        self._capture = cv2.VideoCapture(str(path))
        self._period = 1 / fps
        self._next = time.monotonic()
        self.index = 0

    def __call__(self, timeout: float) -> Shot | None:
        delay = self._next - time.monotonic()
        if delay > timeout:
            time.sleep(timeout)
            return None
        time.sleep(max(0.0, delay))
        self._next = max(self._next + self._period, time.monotonic() - self._period)
        ok, frame = self._capture.read()
        if not ok:
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self._capture.read()
        assert ok
        shot = Shot(frame, time.time(), self.index)
        self.index += 1
        return shot

    def close(self) -> None:
        self._capture.release()


def count_frames(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    n = 0
    while capture.read()[0]:
        n += 1
    capture.release()
    return n


def wait_for(condition: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what or condition}")
        time.sleep(0.05)


@dataclass
class Hall:
    """A live server with an exam seat, a course with a trainee, an examiner and a gateway."""

    server: ServerProcess
    db_url: str
    examiner: str
    examiner_name: str
    gateway: str
    course_id: int
    trainee_id: int

    @property
    def url(self) -> str:
        return self.server.url

    def open_exam(self) -> int:
        answer = httpx.post(
            f"{self.url}/api/v1/courses/{self.course_id}/practical",
            json={"trainee_id": self.trainee_id, "station": STATION},
            headers=auth(self.examiner),
        )
        assert answer.status_code == 201, answer.text
        return int(answer.json()["id"])

    def sign(self, attempt_id: int) -> None:
        headers = auth(self.examiner)
        marks = httpx.put(
            f"{self.url}/api/v1/attempts/{attempt_id}/marks",
            json={"marks": ALL_DONE},
            headers=headers,
        )
        assert marks.status_code == 200, marks.text
        signed = httpx.post(f"{self.url}/api/v1/attempts/{attempt_id}/sign", headers=headers)
        assert signed.status_code == 200, signed.text

    def rows(self) -> list[ExamRecording]:
        engine = make_engine(self.db_url, immediate=False)
        try:
            with Session(engine) as session:
                query = select(ExamRecording).order_by(col(ExamRecording.id))
                return list(session.exec(query).all())
        finally:
            engine.dispose()

    def stored(self) -> list[ExamRecording]:
        return [r for r in self.rows() if r.stored_at is not None]

    def download(self, recording_id: int, to: Path) -> Path:
        got = httpx.get(
            f"{self.url}/api/v1/exam-recordings/{recording_id}/file", headers=auth(self.examiner)
        )
        assert got.status_code == 200, got.text
        to.write_bytes(got.content)
        return to

    def recorder(self, directory: Path, frames: VideoFrames, **options: Any) -> ExamRecorder:
        return ExamRecorder(
            STATION,
            frames,
            self.url,
            self.gateway,
            directory,
            fps=FPS,
            poll_interval=0.2,
            read_timeout=0.2,
            backoff=Backoff(initial=0.05, cap=0.3, jitter=0),
            **options,
        )


@pytest.fixture
def hall(db_url: str, tmp_path: Path) -> Iterator[Hall]:
    engine = make_engine(db_url)
    with Session(engine, expire_on_commit=False) as session:
        make_station(session, code=STATION, kind="exam_seat")
        course = make_course(session)
        trainee = make_trainee(session)
        enrol(session, course=course, trainee=trainee)
        examiner = make_user(session, role=Role.examiner)
        assert course.id is not None and trainee.id is not None
        examiner_token = make_token(session, user=examiner)
        gateway = make_token(session, user=make_user(session, role=Role.gateway))
    engine.dispose()
    # The server's working directory: its recordings land in ./var/exam-recordings there.
    with ServerProcess(db_url, tmp_path) as server:
        yield Hall(
            server, db_url, examiner_token, examiner.username, gateway, course.id, trainee.id
        )


@pytest.fixture
def video(tmp_path: Path) -> Path:
    return write_video(tmp_path / "camera.avi")


@pytest.fixture
def frames(video: Path) -> Iterator[VideoFrames]:
    source = VideoFrames(video)
    yield source
    source.close()


class TestBurnIn:
    def test_time_and_attempt_are_written_over_the_top_left(self) -> None:
        frame = np.full((240, 320, 3), 90, np.uint8)
        stamped = burn_in(frame, 1_796_000_000.0, 42, STATION)
        assert stamped.shape == frame.shape
        band = stamped[:20, :200]
        assert (band < 30).mean() > 0.3 and (band > 200).any()  # dark band, white text
        assert (stamped[100:] == 90).all()  # the rest is the camera's picture
        assert (frame == 90).all()  # the caller's frame is left alone


class TestSalvage:
    def test_a_cut_off_file_keeps_its_written_frames(self, tmp_path: Path, video: Path) -> None:
        whole = video.read_bytes()
        cut = tmp_path / "cut.avi"
        cut.write_bytes(whole[: len(whole) * 2 // 3])
        out = tmp_path / "out.avi"
        kept = salvage(cut, out, FPS)
        assert 20 <= kept < 40
        assert count_frames(out) == kept

    def test_nothing_readable_makes_no_file(self, tmp_path: Path) -> None:
        junk = tmp_path / "junk.avi"
        junk.write_bytes(b"RIFF")
        assert salvage(junk, tmp_path / "out.avi", FPS) == 0
        assert not (tmp_path / "out.avi").exists()


class TestExamRecorder:
    def test_signed_exam_is_uploaded_listed_and_plays(
        self, hall: Hall, frames: VideoFrames, tmp_path: Path
    ) -> None:
        spool = tmp_path / "spool"
        with hall.recorder(spool, frames) as recorder:
            attempt_id = hall.open_exam()
            wait_for(lambda: recorder.recording == attempt_id, what="the recording to start")
            wait_for(lambda: recorder.status()["frames"] >= 25, what="2.5 s of exam")
            hall.sign(attempt_id)
            [row] = wait_for(hall.stored, what="the file on the server")
            wait_for(lambda: not list(spool.iterdir()), what="the local copy to go")
            assert recorder.recording is None
        assert row.attempt_id == attempt_id and not row.interrupted
        seconds = (row.ended_at - row.started_at).total_seconds()
        assert abs(row.frames - seconds * FPS) <= 1  # paced: the video plays in real time
        played = hall.download(row.id or 0, tmp_path / "got.avi")
        assert count_frames(played) == row.frames >= 25
        capture = cv2.VideoCapture(str(played))
        ok, first = capture.read()
        capture.release()
        assert ok and first.shape == (240, 320, 3)
        assert (first[:12, :150] < 40).mean() > 0.3  # the burned-in band
        page = console_page(hall, f"/console/attempts/{attempt_id}")
        assert "考试录像" in page and f"/console/exam-recordings/{row.id}/file" in page
        assert f"{row.size_bytes / 1024**2:.1f} MB" in page

    def test_server_away_mid_upload_is_retried_and_nothing_is_lost(
        self, hall: Hall, frames: VideoFrames, tmp_path: Path
    ) -> None:
        flaky = Flaky(httpx.HTTPTransport(), fail_chunks_after_first=3)
        spool = tmp_path / "spool"
        with hall.recorder(spool, frames, chunk_bytes=32 * 1024, transport=flaky) as recorder:
            attempt_id = hall.open_exam()
            wait_for(lambda: recorder.status()["frames"] >= 20, what="2 s of exam")
            hall.sign(attempt_id)
            [row] = wait_for(hall.stored, what="the file on the server")
            wait_for(lambda: not list(spool.iterdir()), what="the local copy to go")
        assert flaky.failed == 3 and flaky.chunks > 3
        played = hall.download(row.id or 0, tmp_path / "got.avi")
        assert count_frames(played) == row.frames

    def test_files_wait_while_the_server_is_down(
        self, hall: Hall, frames: VideoFrames, tmp_path: Path
    ) -> None:
        spool = tmp_path / "spool"
        with hall.recorder(spool, frames) as recorder:
            attempt_id = hall.open_exam()
            wait_for(lambda: recorder.status()["frames"] >= 10, what="1 s of exam")
        # Stopped mid-exam: the file is closed, marked interrupted, kept for the next start.
        idle = ExamRecorder(STATION, frames, hall.url, None, spool)
        [pending] = idle.pending()
        idle.stop()
        assert pending.interrupted and pending.frames >= 10
        hall.server.stop()
        with hall.recorder(spool, frames) as recorder:
            wait_for(lambda: recorder.upload_failures >= 2, what="uploads to fail")
            assert any(p.key == pending.key for p in recorder.pending())
            hall.server.start()
            wait_for(lambda: any(r.key == pending.key for r in hall.stored()), what="upload")
            hall.sign(attempt_id)
            wait_for(lambda: len(hall.stored()) == 2, what="the second file")
        first, second = hall.stored()
        assert first.interrupted and not second.interrupted
        assert first.sha256 == pending.sha256 and first.frames == pending.frames

    def test_gateway_killed_mid_recording_still_delivers_the_partial_file(
        self, hall: Hall, video: Path, frames: VideoFrames, tmp_path: Path
    ) -> None:
        spool = tmp_path / "spool"
        attempt_id = hall.open_exam()
        gateway = subprocess.Popen(
            [
                sys.executable,
                "-c",
                CRASHING_GATEWAY,
                hall.url,
                hall.gateway,
                str(spool),
                str(video),
            ],
            cwd=Path(__file__).parents[3],
            env=os.environ | {"PYTHONPATH": str(Path(__file__).parents[3])},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(
                lambda: [p for p in spool.glob("*.avi") if p.stat().st_size > 200_000],
                what="the gateway's file to grow",
            )
        finally:
            gateway.send_signal(signal.SIGKILL)  # no shutdown of any kind
            gateway.wait(timeout=10)
        [cut] = spool.glob("*.avi")
        assert hall.rows() == []
        with hall.recorder(spool, frames) as recorder:
            assert recorder.recovered == 1
            wait_for(hall.stored, what="the partial file on the server")
            hall.sign(attempt_id)
            wait_for(lambda: len(hall.stored()) == 2, what="the rest of the exam")
        partial, rest = hall.stored()
        assert partial.interrupted and partial.key == cut.stem
        assert not rest.interrupted and rest.attempt_id == partial.attempt_id == attempt_id
        played = hall.download(partial.id or 0, tmp_path / "partial.avi")
        assert count_frames(played) == partial.frames > 5


CRASHING_GATEWAY = textwrap.dedent(
    """
    import sys, time, cv2
    from dataclasses import dataclass
    from devices.camera.recorder import ExamRecorder

    url, token, spool, video = sys.argv[1:]

    @dataclass
    class Shot:
        frame: object
        at: float
        index: int

    capture = cv2.VideoCapture(video)
    count = 0

    def read(timeout):
        global count
        time.sleep(0.1)
        ok, frame = capture.read()
        if not ok:
            capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = capture.read()
        count += 1
        return Shot(frame, time.time(), count)

    ExamRecorder("EXAM-01", read, url, token, spool, fps=10, poll_interval=0.2).start()
    time.sleep(600)
    """
)


class Flaky(httpx.BaseTransport):
    """The network to the server failing for a while: after the first chunk of a file went
    through, the next `fail_chunks_after_first` chunks cannot connect."""

    def __init__(self, inner: httpx.BaseTransport, *, fail_chunks_after_first: int) -> None:
        self._inner = inner
        self._to_fail = fail_chunks_after_first
        self.chunks = 0
        self.failed = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PUT" and request.url.path.endswith("/content"):
            self.chunks += 1
            if self.chunks > 1 and self.failed < self._to_fail:
                self.failed += 1
                raise httpx.ConnectError("connection refused (test)", request=request)
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def console_page(hall: Hall, path: str) -> str:
    """A console page as the examiner sees it, logged in through the real form."""
    with httpx.Client(base_url=hall.url) as browser:
        login = browser.get("/console/login")
        answer = browser.post(
            "/console/login",
            data={
                "username": hall.examiner_name,
                "password": "correct-horse-battery",
                "csrf_token": form_token(login.text),
            },
        )
        assert answer.status_code in (200, 303), answer.text
        return browser.get(path).text
