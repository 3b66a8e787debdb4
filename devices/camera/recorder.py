"""Records a practical exam from its station's camera while the checklist is open, and uploads it.

The recorder polls the server for the practical exams open at its station
(`GET /api/v1/stations/exam-attempts`); while one is open it writes the camera's frames, with
the time (Asia/Shanghai) and the attempt burned in, to an MJPG AVI file; when the examiner signs
it stops and uploads the file (`POST /api/v1/exam-recordings`, then the bytes in chunks to
`PUT /api/v1/exam-recordings/{id}/content?offset=`), resuming at the server's offset after any
failure. The local file is deleted only once the server says it has stored it, with the size and
SHA-256 announced.

Each file has a sidecar `<key>.json` written before the first frame. A recording found still
"recording" at start-up was cut off by a crash or power loss: the frames that reached the disk
are copied into a closed file, which is uploaded marked interrupted. MJPG in AVI is used because
OpenCV's own MJPEG writer puts every frame on disk as it is written and a cut-off file still
plays; an mp4v MP4 cut off before its index is written plays nothing (docs/cameras.md).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import cv2
import httpx
from cv2.typing import MatLike

from devices.backoff import Backoff
from devices.errors import DeviceError
from devices.forwarder import auth_headers

log = logging.getLogger("devices.camera.recorder")

OPEN_EXAMS_PATH = "/api/v1/stations/exam-attempts"
RECORDINGS_PATH = "/api/v1/exam-recordings"
LOCAL = ZoneInfo("Asia/Shanghai")
FOURCC = "MJPG"
SUFFIX = ".avi"
RECORDING, FINISHED = "recording", "finished"
CHUNK_BYTES = 4 * 1024 * 1024  # the server takes up to 8 MB a request


class Shot(Protocol):
    """A captured frame (devices.camera.sources.Captured has this shape)."""

    @property
    def frame(self) -> MatLike: ...
    @property
    def at(self) -> float: ...  # time.time() when it was taken
    @property
    def index(self) -> int: ...


ReadFrame = Callable[[float], Shot | None]
"""`read(timeout)`: the camera's next frame, or None if none came in time."""


class RecordingError(DeviceError):
    """A recording could not be written, or the server refused an upload for good."""


@dataclass
class Recording:
    """What the sidecar says about one file: the exam, the span, and (once finished) the hash."""

    key: str
    attempt_id: int
    station: str
    started_at: float
    fps: float
    width: int
    height: int
    state: str = RECORDING
    ended_at: float | None = None
    frames: int = 0
    interrupted: bool = False
    size_bytes: int = 0
    sha256: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recording:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

    def announcement(self) -> dict[str, Any]:
        def iso(at: float) -> str:
            return dt.datetime.fromtimestamp(at, dt.UTC).isoformat()

        return {
            "key": self.key,
            "attempt_id": self.attempt_id,
            "station": self.station,
            "started_at": iso(self.started_at),
            "ended_at": iso(self.ended_at if self.ended_at is not None else self.started_at),
            "frames": self.frames,
            "fps": self.fps,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            "interrupted": self.interrupted,
        }


def recording_key(station: str, attempt_id: int, at: float) -> str:
    moment = dt.datetime.fromtimestamp(at, dt.UTC)
    return f"{station}-a{attempt_id}-{moment:%Y%m%dT%H%M%S}{moment.microsecond // 1000:03d}Z"


def burn_in(frame: MatLike, at: float, attempt_id: int, station: str) -> MatLike:
    """The frame with the local time, the attempt and the station written across its top.
    (Latin text only: OpenCV's fonts have no Chinese.)"""
    moment = dt.datetime.fromtimestamp(at, LOCAL)
    text = (
        f"{moment:%Y-%m-%d %H:%M:%S}.{moment.microsecond // 100_000} +08:00"
        f"  attempt {attempt_id}  {station}"
    )
    w = frame.shape[1]
    scale = max(0.4, w / 1400)
    thickness = max(1, round(scale * 2))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    pad = max(4, th // 3)
    out = frame.copy()
    cv2.rectangle(out, (0, 0), (min(w, tw + 2 * pad), th + base + 2 * pad), (0, 0, 0), cv2.FILLED)
    cv2.putText(
        out,
        text,
        (pad, pad + th),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        (255, 255, 255),
        thickness,
        cv2.LINE_AA,
    )
    return out


def open_writer(path: Path, fps: float, width: int, height: int) -> cv2.VideoWriter:
    # OpenCV's own MJPEG writer, not FFmpeg's: it writes each frame out at once (FFmpeg buffers
    # 256 KB), so a crash loses at most the frame being written.
    writer = cv2.VideoWriter(
        str(path), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter.fourcc(*FOURCC), fps, (width, height)
    )
    if not writer.isOpened():
        raise RecordingError(
            f"无法写入录像文件 {path} / cannot write the video file {path} ({FOURCC}{SUFFIX})"
        )
    return writer


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def salvage(partial: Path, out: Path, fps: float) -> int:
    """Copy every frame that can still be read from a cut-off file into a closed one at `out`;
    the number of frames (0: nothing could be read, and `out` is not made)."""
    capture = cv2.VideoCapture(str(partial), cv2.CAP_FFMPEG)
    writer: cv2.VideoWriter | None = None
    frames = 0
    try:
        while capture.isOpened():
            ok, frame = capture.read()
            if not ok:
                break
            if writer is None:
                h, w = frame.shape[:2]
                writer = open_writer(out, fps, w, h)
            writer.write(frame)
            frames += 1
    finally:
        capture.release()
        if writer is not None:
            writer.release()
    return frames


class _Active:
    """The file being written: its writer, its sidecar, and the pacing of its frames."""

    def __init__(self, meta: Recording, writer: cv2.VideoWriter) -> None:
        self.meta = meta
        self.writer = writer


class ExamRecorder:
    """Records station `station`'s exams from `frames` into `directory` and uploads them.

    `fps` is the file's frame rate: frames are written at that pace by their capture time (a
    frame that comes early is skipped, a gap of up to `max_fill` seconds is filled by repeating
    the last frame), so the video plays in real time; the burned-in clock shows when each frame
    was taken. A recording stops after `max_minutes` even if the checklist stays open.
    """

    def __init__(
        self,
        station: str,
        frames: ReadFrame,
        server_url: str,
        token: str | None,
        directory: str | Path,
        *,
        fps: float = 10.0,
        poll_interval: float = 2.0,
        read_timeout: float = 0.5,
        chunk_bytes: int = CHUNK_BYTES,
        timeout: float = 15.0,
        backoff: Backoff | None = None,
        max_minutes: float = 240.0,
        max_fill: float = 1.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if fps <= 0 or chunk_bytes <= 0 or poll_interval <= 0:
            raise ValueError("fps, chunk_bytes and poll_interval must be positive")
        self.station = station
        self.directory = Path(directory)
        self.fps = fps
        self._frames = frames
        self._poll_interval = poll_interval
        self._read_timeout = read_timeout
        self._chunk_bytes = chunk_bytes
        self._max_seconds = max_minutes * 60
        self._max_fill = max(1, round(max_fill * fps))
        self._backoff = backoff or Backoff(initial=1.0, cap=60.0)

        def client() -> httpx.Client:
            return httpx.Client(
                base_url=server_url,
                headers=auth_headers(token),
                timeout=timeout,
                transport=transport,
            )

        self._poll_client = client()
        self._upload_client = client()
        self._stopping = threading.Event()
        self._finished = threading.Event()  # a file is ready to upload
        self._threads: list[threading.Thread] = []
        self._wanted: int | None = None  # the attempt open at the station, as last polled
        self._capped: set[int] = set()  # attempts whose recording reached max_minutes
        self._active: _Active | None = None
        self.recovered = 0
        self.recordings = 0
        self.uploaded = 0
        self.upload_failures = 0  # consecutive
        self.camera_errors = 0
        self.set_aside = 0
        self.last_poll_ok: str | None = None
        self.last_error: str | None = None

    # --- running -------------------------------------------------------------------------

    def start(self) -> None:
        """Close and queue any recording a crash cut off, then record and upload."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.recover()
        for name, target in (
            ("recorder-capture", self._capture_loop),
            ("recorder-poll", self._poll_loop),
            ("recorder-upload", self._upload_loop),
        ):
            thread = threading.Thread(target=target, name=f"{name}-{self.station}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop; a recording still open is closed and marked interrupted (the exam was not
        over), and uploaded at the next start."""
        self._stopping.set()
        self._finished.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()
        if self._active is not None:  # the capture thread never started, or is stuck
            self._finish(interrupted=True)
        self._poll_client.close()
        self._upload_client.close()

    def __enter__(self) -> ExamRecorder:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def recording(self) -> int | None:
        """The attempt being recorded now, if any."""
        active = self._active
        return active.meta.attempt_id if active else None

    def status(self) -> dict[str, Any]:
        active = self._active
        return {
            "station": self.station,
            "recording": active.meta.attempt_id if active else None,
            "frames": active.meta.frames if active else 0,
            "pending_uploads": len(self.pending()),
            "uploaded": self.uploaded,
            "upload_failures": self.upload_failures,
            "set_aside": self.set_aside,
            "camera_errors": self.camera_errors,
            "last_poll_ok": self.last_poll_ok,
            "last_error": self.last_error,
        }

    # --- files ---------------------------------------------------------------------------

    def _video(self, key: str) -> Path:
        return self.directory / f"{key}{SUFFIX}"

    def _sidecar(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def _save(self, meta: Recording) -> None:
        path = self._sidecar(meta.key)
        tmp = path.with_suffix(".json.tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump(asdict(meta), fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    def _sidecars(self) -> list[Recording]:
        found = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                found.append(Recording.from_dict(json.loads(path.read_text("utf-8"))))
            except (OSError, ValueError, TypeError) as exc:
                log.error("recorder: unreadable sidecar %s: %s (left alone)", path, exc)
        return found

    def pending(self) -> list[Recording]:
        """Finished files waiting for the server, oldest first."""
        return [m for m in self._sidecars() if m.state == FINISHED]

    def recover(self) -> int:
        """Close every file a crash left "recording" (keeping the frames that reached the disk)
        and queue it for upload, marked interrupted; the number recovered."""
        count = 0
        for meta in self._sidecars():
            if meta.state != RECORDING:
                continue
            video = self._video(meta.key)
            rescued = video.with_name(f"{meta.key}.salvage{SUFFIX}")
            frames = salvage(video, rescued, meta.fps) if video.exists() else 0
            if frames == 0:
                log.warning("recorder: %s had no frame on disk; nothing to keep", meta.key)
                rescued.unlink(missing_ok=True)
                video.unlink(missing_ok=True)
                self._sidecar(meta.key).unlink(missing_ok=True)
                continue
            # It stopped when its file was last written.
            ended = max(meta.started_at, video.stat().st_mtime)
            os.replace(rescued, video)
            meta.frames, meta.ended_at, meta.interrupted = frames, ended, True
            self._seal(meta)
            log.warning("recorder: %s was cut off; %d frames kept, to upload", meta.key, frames)
            count += 1
        self.recovered += count
        return count

    def _seal(self, meta: Recording) -> None:
        video = self._video(meta.key)
        meta.size_bytes = video.stat().st_size
        meta.sha256 = sha256_of(video)
        meta.state = FINISHED
        self._save(meta)
        self._finished.set()

    # --- capturing -----------------------------------------------------------------------

    def _capture_loop(self) -> None:
        try:
            while not self._stopping.is_set():
                shot = self._read()
                wanted = self._wanted
                active = self._active
                if active is not None and active.meta.attempt_id != wanted:
                    self._finish(interrupted=False)  # signed (or another exam opened)
                if (
                    shot is not None
                    and wanted is not None
                    and self._active is None
                    and wanted not in self._capped
                ):
                    self._begin(wanted, shot)
                if shot is not None and self._active is not None:
                    self._write(self._active, shot)
        finally:
            if self._active is not None:
                self._finish(interrupted=True)

    def _read(self) -> Shot | None:
        try:
            return self._frames(self._read_timeout)
        except DeviceError as exc:  # the camera is gone or ended: keep polling it
            self.camera_errors += 1
            why = f"camera: {type(exc).__name__}: {exc}"
            if why != self.last_error:
                log.warning("recorder %s: %s", self.station, why)
            self.last_error = why
            self._stopping.wait(0.5)
            return None

    def _begin(self, attempt_id: int, shot: Shot) -> None:
        h, w = shot.frame.shape[:2]
        meta = Recording(
            key=recording_key(self.station, attempt_id, shot.at),
            attempt_id=attempt_id,
            station=self.station,
            started_at=shot.at,
            fps=self.fps,
            width=w,
            height=h,
        )
        self._save(meta)  # before the first frame: a crash from here on is recovered
        try:
            writer = open_writer(self._video(meta.key), self.fps, w, h)
        except RecordingError as exc:
            self._sidecar(meta.key).unlink(missing_ok=True)
            self.last_error = str(exc)
            log.error("recorder %s: %s", self.station, exc)
            self._stopping.wait(1.0)
            return
        self._active = _Active(meta, writer)
        self.recordings += 1
        log.info("recorder %s: recording attempt %d (%s)", self.station, attempt_id, meta.key)

    def _write(self, active: _Active, shot: Shot) -> None:
        meta = active.meta
        frame = shot.frame
        if frame.ndim == 2:
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        if frame.shape[1] != meta.width or frame.shape[0] != meta.height:
            frame = cv2.resize(frame, (meta.width, meta.height))
        # Paced by capture time: the frame belongs at index (at − start)·fps.
        due = int((shot.at - meta.started_at) * self.fps + 0.5)
        if due < meta.frames:
            return  # came sooner than the file's rate
        copies = min(due - meta.frames + 1, self._max_fill)
        stamped = burn_in(frame, shot.at, meta.attempt_id, meta.station)
        for _ in range(copies):
            active.writer.write(stamped)
        meta.frames += copies
        if shot.at - meta.started_at >= self._max_seconds:
            log.warning(
                "recorder %s: attempt %d recorded for %d minutes; stopping",
                self.station,
                meta.attempt_id,
                self._max_seconds // 60,
            )
            self._capped.add(meta.attempt_id)
            self._finish(interrupted=True)

    def _finish(self, *, interrupted: bool) -> None:
        active, self._active = self._active, None
        if active is None:
            return
        active.writer.release()
        meta = active.meta
        meta.ended_at = meta.started_at + meta.frames / self.fps
        meta.interrupted = interrupted
        self._seal(meta)
        log.info(
            "recorder %s: attempt %d, %d frames%s",
            self.station,
            meta.attempt_id,
            meta.frames,
            " (interrupted)" if interrupted else "",
        )

    # --- polling -------------------------------------------------------------------------

    def _poll_loop(self) -> None:
        while not self._stopping.is_set():
            self.poll()
            self._stopping.wait(self._poll_interval)

    def poll(self) -> bool:
        """Ask which exam is open at the station; on failure keep what was last known (a
        recording goes on while the server is away)."""
        try:
            response = self._poll_client.get(OPEN_EXAMS_PATH, params={"station": self.station})
            response.raise_for_status()
            data = response.json()["data"]
            mine = sorted(int(e["attempt_id"]) for e in data if e.get("station") == self.station)
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            why = f"poll: {type(exc).__name__}: {exc}"
            if why != self.last_error:
                log.warning("recorder %s: %s (keeps what it knew)", self.station, why)
            self.last_error = why
            return False
        self._wanted = mine[0] if mine else None
        self.last_poll_ok = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        return True

    # --- uploading -----------------------------------------------------------------------

    def _upload_loop(self) -> None:
        while not self._stopping.is_set():
            self._finished.clear()
            for meta in self.pending():
                if self._stopping.is_set():
                    return
                try:
                    self.upload(meta)
                except (httpx.HTTPError, RecordingError, ValueError, KeyError) as exc:
                    self.upload_failures += 1
                    why = f"upload {meta.key}: {type(exc).__name__}: {exc}"
                    log.warning("recorder %s: %s (retrying)", self.station, why)
                    self.last_error = why
                    self._stopping.wait(self._backoff.next_delay())
                    break
                self.upload_failures = 0
                self._backoff.reset()
            else:
                self._finished.wait(self._poll_interval)

    def upload(self, meta: Recording) -> None:
        """Send one finished file, from wherever the server has got to, and delete it once the
        server has stored it with the announced size and SHA-256."""
        client = self._upload_client
        response = client.post(RECORDINGS_PATH, json=meta.announcement())
        if response.status_code in (409, 422):
            self._set_aside(meta, response)
            return
        response.raise_for_status()
        state = response.json()
        restarts = 0
        video = self._video(meta.key)
        with video.open("rb") as fh:
            while not state["stored"]:
                offset = int(state["received_bytes"])
                fh.seek(offset)
                chunk = fh.read(self._chunk_bytes)
                answer = client.put(
                    f"{RECORDINGS_PATH}/{state['id']}/content",
                    params={"offset": offset},
                    content=chunk,
                    headers={"Content-Type": "application/octet-stream"},
                )
                error = _error_of(answer)
                if error == "wrong_offset":  # the server has more (or less) than we thought
                    state = {**state, "received_bytes": answer.json()["details"]["received_bytes"]}
                    continue
                if error == "sha256_mismatch" and restarts < 1:
                    restarts += 1
                    state = {**state, "received_bytes": 0}
                    continue
                answer.raise_for_status()
                state = answer.json()
        if (state["size_bytes"], state["sha256"]) != (meta.size_bytes, meta.sha256):
            raise RecordingError(
                f"服务器存储的录像与本地不符 / the server stored {state['size_bytes']} bytes, "
                f"SHA-256 {state['sha256']}, not {meta.size_bytes} bytes, {meta.sha256}"
            )
        video.unlink(missing_ok=True)
        self._sidecar(meta.key).unlink(missing_ok=True)
        self.uploaded += 1
        log.info("recorder %s: %s stored on the server", self.station, meta.key)

    def _set_aside(self, meta: Recording, response: httpx.Response) -> None:
        """The server refused the file for good (not this station's exam, a clashing key):
        kept, renamed, for a person to look at — never deleted."""
        reason = response.text[:500]
        self._sidecar(meta.key).rename(self.directory / f"{meta.key}.json.refused")
        (self.directory / f"{meta.key}.refused.txt").write_text(reason, "utf-8")
        self.set_aside += 1
        log.error("recorder %s: the server refused %s: %s", self.station, meta.key, reason)


def _error_of(response: httpx.Response) -> str | None:
    if response.is_success:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return str(body.get("error")) if isinstance(body, dict) else None
