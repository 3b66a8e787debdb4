"""The result QR of VR pods without a serial link (DESIGN.md "Camera: result QR"): its text, and
the reader that turns a camera frame showing one into the codec's `result` frame.

    STR1|<dev>|<boot>|<seq>|<scenario>|<score>|<max>|<P or F>|<unix time>|<mac>

`<mac>` is the first 16 characters of base64url(HMAC-SHA256(device key, every byte before the
last `|`)); the whole text is at most 80 bytes. The QR carries no steps, error list, veto,
badge or run time, so its frame has `badge` None, `errors` [], `veto` [], `duration_s` 0; `ts`
is its unix time as ISO 8601 in UTC (`2026-11-23T03:00:00+00:00`). The frame's identity
(`dev`, `boot`, `seq`) is the QR's, so the same run read twice is one item in the spool.

A code is refused — a printed or photographed QR must not score anyone — when it is not a STR1
text (`malformed`), names a device without a key (`unknown_device`), fails its MAC
(`bad_mac`), names a pod this camera does not watch (`wrong_station`), is dated more than
`max_age_s` from now either way (`stale`), or was accepted before (`replay`).

A pod shows its QR for seconds. A code a reader accepted is a quiet `repeat` for as long as it
stays in view, judged by the reader's clock (the `now` of each frame): it is read again within
REPEAT_WITHIN_S of the last time that reader read it. Frames in which no QR can be read do not
end a showing (decoding flickers); a gap longer than REPEAT_WITHIN_S does, and the same code
shown again after it is a `replay`. So is the code still on screen after a gateway restart (it
was taken before). A refused code read again while in view is refused again with `again` set,
without being judged again.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from cv2.typing import MatLike

from devices.camera.keys import DEVICE_NAME, DeviceKeys
from devices.codec import Frame, check, device_frame
from devices.errors import DeviceError

PREFIX = "STR1"
MAX_TEXT = 80  # bytes
MAC_CHARS = 16
FIELD_COUNT = 10
MAX_AGE_S = 600.0
REPEAT_WITHIN_S = 2.0
UPSCALE = 2  # a small QR that was found but not decoded is tried again this much larger

_BOOT = re.compile(r"[0-9a-fA-F]{8}")
_SEQ = re.compile(r"[1-9][0-9]{0,15}")
_SCENARIO = re.compile(r"[A-Z0-9-]{1,16}")  # curricula.model.SCENARIO_CODE
_NUMBER = re.compile(r"(?:0|[1-9][0-9]{0,5})(?:\.[0-9]{1,3})?")
_UNIX = re.compile(r"[1-9][0-9]{0,10}")
_MAC = re.compile(r"[A-Za-z0-9_-]{16}")
_MAX_SEQ = 2**53

Status = Literal["none", "accepted", "repeat", "refused"]
Reason = Literal["malformed", "unknown_device", "wrong_station", "bad_mac", "replay", "stale"]


class MalformedQr(DeviceError):
    """A text that is not a valid STR1 result code; `detail` says which rule it broke
    (`too_long`, `prefix`, `field_count`, `bad_field:score`, `score_over_max` …)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class RoiError(DeviceError, ValueError):
    """A region of interest that is empty or lies (partly) outside the camera's frame."""


# --- the text -----------------------------------------------------------------------------------


def mac(key: bytes, signed: str) -> str:
    """The MAC of `signed` (every byte of the text before its last `|`)."""
    digest = hmac.new(key, signed.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")[:MAC_CHARS]


@dataclass(frozen=True)
class QrResult:
    """The fields of one result code, checked for form (not yet for its MAC)."""

    dev: str
    boot: str  # lower case: one identity whatever case the pod printed hex in
    seq: int
    scenario: str
    score: int | float
    max: int | float
    passed: bool
    at: int  # unix time, seconds
    mac: str
    signed: str  # the text before the last `|`, what the MAC covers

    @property
    def identity(self) -> tuple[str, str, int]:
        return (self.dev, self.boot, self.seq)

    def mac_ok(self, key: bytes) -> bool:
        return hmac.compare_digest(mac(key, self.signed), self.mac)

    def frame(self) -> Frame:
        """The codec's `result` frame for this code (what the QR cannot carry left empty)."""
        ts = dt.datetime.fromtimestamp(self.at, dt.UTC).isoformat(timespec="seconds")
        frame = device_frame(
            "result",
            self.dev,
            self.boot,
            self.seq,
            scenario=self.scenario,
            badge=None,
            score=self.score,
            max=self.max,
            passed=self.passed,
            duration_s=0,
            errors=[],
            veto=[],
            ts=ts,
        )
        check(frame)
        return frame


def _number_text(value: float) -> str:
    if type(value) is int or (isinstance(value, float) and value.is_integer()):
        return str(int(value))
    return f"{value:.3f}".rstrip("0")


def _number(text: str) -> int | float:
    return float(text) if "." in text else int(text)


def result_text(
    key: bytes,
    *,
    dev: str,
    boot: str,
    seq: int,
    scenario: str,
    score: float,
    max: float,
    passed: bool,
    at: float,
) -> str:
    """The text a pod shows as its result QR (ValueError if a field cannot be written in it)."""
    signed = "|".join(
        (
            PREFIX,
            dev,
            boot,
            str(seq),
            scenario,
            _number_text(score),
            _number_text(max),
            "P" if passed else "F",
            str(int(at)),
        )
    )
    text = f"{signed}|{mac(key, signed)}"
    try:
        parse(text)
    except MalformedQr as exc:
        raise ValueError(f"no result QR can say this ({exc.detail}): {text!r}") from None
    return text


def parse(text: str) -> QrResult:
    """The fields of a STR1 text, every one checked for its form; MalformedQr if any is off."""
    if len(text.encode("utf-8")) > MAX_TEXT:
        raise MalformedQr("too_long")
    if not text.isascii():
        raise MalformedQr("not_ascii")
    parts = text.split("|")
    if parts[0] != PREFIX:
        raise MalformedQr("prefix")
    if len(parts) != FIELD_COUNT:
        raise MalformedQr("field_count")
    _, dev, boot, seq, scenario, score, max_, verdict, at, code = parts
    checks = (
        ("dev", DEVICE_NAME, dev),
        ("boot", _BOOT, boot),
        ("seq", _SEQ, seq),
        ("scenario", _SCENARIO, scenario),
        ("score", _NUMBER, score),
        ("max", _NUMBER, max_),
        ("passed", re.compile("[PF]"), verdict),
        ("at", _UNIX, at),
        ("mac", _MAC, code),
    )
    for name, pattern, value in checks:
        if pattern.fullmatch(value) is None:
            raise MalformedQr(f"bad_field:{name}")
    if int(seq) > _MAX_SEQ:
        raise MalformedQr("bad_field:seq")
    if float(max_) <= 0:
        raise MalformedQr("bad_field:max")
    if float(score) > float(max_):
        raise MalformedQr("score_over_max")
    return QrResult(
        dev=dev,
        boot=boot.lower(),
        seq=int(seq),
        scenario=scenario,
        score=_number(score),
        max=_number(max_),
        passed=verdict == "P",
        at=int(at),
        mac=code,
        signed=text[: text.rindex("|")],
    )


# --- where to look ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Roi:
    """The part of the camera's frame where the pod's screen shows its QR, in pixels."""

    x: int
    y: int
    w: int
    h: int

    def __post_init__(self) -> None:
        if min(self.x, self.y) < 0 or min(self.w, self.h) <= 0:
            raise RoiError(
                f"区域 {self.describe()} 无效：x、y 不能为负，宽高须为正 / "
                f"region {self.describe()} is invalid: x and y must not be negative, "
                "width and height must be positive"
            )

    def describe(self) -> str:
        return f"x={self.x} y={self.y} w={self.w} h={self.h}"

    def crop(self, frame: MatLike) -> MatLike:
        """The region of `frame` (a view, not a copy); RoiError if it does not fit in it."""
        height, width = frame.shape[:2]
        if self.x + self.w > width or self.y + self.h > height:
            raise RoiError(
                f"区域 {self.describe()} 超出 {width}×{height} 的画面 / "
                f"region {self.describe()} lies outside the {width}×{height} frame"
            )
        return frame[self.y : self.y + self.h, self.x : self.x + self.w]


# --- replays ------------------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS accepted (
    dev TEXT NOT NULL,
    boot TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at INTEGER NOT NULL,            -- the code's own unix time: what ages it out
    accepted_at REAL NOT NULL,      -- the reader's clock when it was taken
    PRIMARY KEY (dev, boot, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS accepted_at ON accepted (at);
"""


class ReplayGuard:
    """The identities (dev, boot, seq) of codes accepted so far, in a small SQLite file, so a
    gateway restart does not open a replay window.

    An identity is forgotten once its code's own time is more than `max_age_s` in the past:
    from then on the reader refuses that code as `stale` anyway. A reader with a longer
    `max_age_s` lengthens the guard's to its own (`keep_at_least`), so no reader opens a
    window. Thread-safe; several readers (cameras) may share one guard.
    """

    PRUNE_EVERY_S = 60.0

    def __init__(self, path: str | Path, *, max_age_s: float = MAX_AGE_S) -> None:
        self.path = str(path)
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as exc:
            raise DeviceError(
                f"{self.path}: 无法打开防重放记录 / the replay record cannot be opened: {exc}"
            ) from exc
        try:
            if self.path != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")  # taken means on disk
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            self._db.close()
            raise DeviceError(
                f"{self.path}: 无法打开防重放记录 / the replay record cannot be opened: {exc}"
            ) from exc
        self._pruned = 0.0

    def keep_at_least(self, max_age_s: float) -> None:
        """Remember identities for at least `max_age_s` (a reader's age limit)."""
        with self._lock:
            self.max_age_s = max(self.max_age_s, max_age_s)

    def claim(self, dev: str, boot: str, seq: int, at: int, now: float) -> bool:
        """Record the identity as accepted now (on disk when this returns); False if it
        already was (a replay)."""
        with self._lock:
            try:
                if now - self._pruned >= self.PRUNE_EVERY_S:
                    self._db.execute("DELETE FROM accepted WHERE at < ?", (now - self.max_age_s,))
                    self._pruned = now
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO accepted (dev, boot, seq, at, accepted_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (dev, boot, seq, at, now),
                )
            except sqlite3.Error as exc:
                raise DeviceError(
                    f"{self.path}: 防重放记录无法写入 / the replay record cannot be written: {exc}"
                ) from exc
            return cursor.rowcount == 1

    def seen(self, dev: str, boot: str, seq: int) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM accepted WHERE dev = ? AND boot = ? AND seq = ?", (dev, boot, seq)
            ).fetchone()
            return row is not None

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM accepted").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> ReplayGuard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- the reader ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class QrOutcome:
    """What one frame showed. `frame` is set when accepted; `text` whenever a code was read;
    `again` is True when the same text was read in the previous REPEAT_WITHIN_S too (a
    refusal already reported once: log it once, not thirty times a second)."""

    status: Status
    reason: Reason | None = None
    text: str | None = None
    frame: Frame | None = None
    detail: str | None = None  # for `malformed`: the rule the text broke
    again: bool = False


NONE = QrOutcome("none")


@dataclass
class _InView:
    text: str
    seen_at: float
    outcome: QrOutcome

    def again(self) -> QrOutcome:
        """The outcome of this code read once more while it stays in view."""
        if self.outcome.status in ("accepted", "repeat"):
            return QrOutcome("repeat", text=self.text)
        return replace(self.outcome, again=True)


class QrReader:
    """The result-QR reader of one camera above one pod (or a few, `devices`).

    `read` decodes the grey ROI crop with cv2.QRCodeDetectorAruco (every code in view) and, if
    that reads nothing, cv2.QRCodeDetector; a code either finds but cannot decode is tried
    again at twice the size (a small QR seen through a soft lens). `now` is the unix time the
    frame was taken at: the age check and the in-view judgement both go by it. `station` is
    the station the camera serves (the spool item's).
    """

    def __init__(
        self,
        station: str,
        keys: DeviceKeys,
        guard: ReplayGuard,
        *,
        roi: Roi | tuple[int, int, int, int] | None = None,
        max_age_s: float = MAX_AGE_S,
        devices: set[str] | None = None,
        keep: Callable[[Frame, float], object] | None = None,
    ) -> None:
        self.station = station
        self.keep = keep
        self.keys = keys
        self.guard = guard
        self.roi = Roi(*roi) if isinstance(roi, tuple) else roi
        self.max_age_s = max_age_s
        guard.keep_at_least(max_age_s)
        self.devices = None if devices is None else frozenset(devices)
        self._aruco = cv2.QRCodeDetectorAruco()
        self._classic = cv2.QRCodeDetector()
        self._in_view: dict[str, _InView] = {}  # text → when this reader last read it

    def decode(self, frame: MatLike) -> list[str]:
        """The texts of the QR codes in the frame's ROI (usually one), in the order found."""
        region = frame if self.roi is None else self.roi.crop(frame)
        if region.ndim == 2:
            grey = region
        else:
            to_grey = cv2.COLOR_BGRA2GRAY if region.shape[2] == 4 else cv2.COLOR_BGR2GRAY
            grey = cv2.cvtColor(region, to_grey)
        texts: list[str] = []
        unread: list[np.ndarray] = []  # corners of codes found but not decoded
        _, decoded, points, _ = self._aruco.detectAndDecodeMulti(grey)
        for i, text in enumerate(decoded or ()):
            if text:
                texts.append(str(text))
            elif points is not None and i < len(points):
                unread.append(np.asarray(points[i], np.float32).reshape(-1, 2))
        if not texts:
            single, points, _ = self._classic.detectAndDecode(grey)
            if single:
                return [str(single)]
            if points is not None and not unread:
                unread.append(np.asarray(points, np.float32).reshape(-1, 2))
        for corners in unread:
            larger = self._decode_larger(grey, corners)
            if larger:
                texts.append(larger)
        return list(dict.fromkeys(texts))

    def _decode_larger(self, grey: MatLike, corners: np.ndarray) -> str | None:
        """A code found at `corners` but not decoded, tried again UPSCALE times the size."""
        x0, y0 = corners.min(axis=0)
        x1, y1 = corners.max(axis=0)
        margin = 0.25 * max(x1 - x0, y1 - y0) + 8
        height, width = grey.shape[:2]
        top, bottom = max(0, int(y0 - margin)), min(height, int(y1 + margin) + 1)
        left, right = max(0, int(x0 - margin)), min(width, int(x1 + margin) + 1)
        if bottom - top < 16 or right - left < 16:
            return None
        larger = cv2.resize(
            grey[top:bottom, left:right],
            None,
            fx=UPSCALE,
            fy=UPSCALE,
            interpolation=cv2.INTER_CUBIC,
        )
        for detector in (self._aruco, self._classic):
            text, _, _ = detector.detectAndDecode(larger)
            if text:
                return str(text)
        return None

    def read(self, frame: MatLike, now: float | None = None) -> QrOutcome:
        """What `frame` shows: no code, a code accepted (with its result frame), a code
        accepted earlier still in view, or a code refused and why.

        One new code is judged per frame; should a camera see two pods' codes at once, the
        other is judged on the next frame (a code stays on screen for seconds).
        """
        now = time.time() if now is None else now
        texts = self.decode(frame)
        if not texts:
            return NONE
        self._in_view = {
            text: seen
            for text, seen in self._in_view.items()
            if now - seen.seen_at <= REPEAT_WITHIN_S
        }
        new: str | None = None
        shown: QrOutcome | None = None
        for text in texts:
            seen = self._in_view.get(text)
            if seen is None:
                new = new or text
            else:
                seen.seen_at = now
                shown = shown or seen.again()
        if new is not None:
            outcome = self._judge(new, now)
            self._in_view[new] = _InView(new, now, outcome)
            return outcome
        assert shown is not None
        return shown

    def _judge(self, text: str, now: float) -> QrOutcome:
        try:
            result = parse(text)
        except MalformedQr as exc:
            return QrOutcome("refused", "malformed", text, detail=exc.detail)
        key = self.keys.get(result.dev)
        if key is None:
            return QrOutcome("refused", "unknown_device", text)
        if not result.mac_ok(key):
            return QrOutcome("refused", "bad_mac", text)
        if self.devices is not None and result.dev not in self.devices:
            return QrOutcome("refused", "wrong_station", text)
        if abs(now - result.at) > self.max_age_s:
            return QrOutcome("refused", "stale", text)
        if self.guard.seen(*result.identity):
            return QrOutcome("refused", "replay", text)
        frame = result.frame()
        if self.keep is not None:
            # Kept (the gateway's spool) before the identity is claimed: a crash between the
            # two loses nothing — the code, still on screen, is kept again, and the spool
            # takes an identity once.
            self.keep(frame, now)
        if not self.guard.claim(*result.identity, result.at, now):
            return QrOutcome("refused", "replay", text)  # another camera's, just now
        return QrOutcome("accepted", text=text, frame=frame)


def decode_texts(frame: MatLike) -> list[str]:
    """The texts of the QR codes in a whole frame, read as QrReader reads them but not judged
    (the kiosk's badges and station labels are not result codes)."""
    with ReplayGuard(":memory:") as guard:
        return QrReader("KIOSK", DeviceKeys({}), guard).decode(frame)
