"""End-to-end kit: the real server as a process on a prepared database, a gateway read from a
stations.toml, the device's end of a pty written byte for byte, and garbage lines drawn by
hypothesis. Used by tests/devices/test_end_to_end.py.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import os
import random
import select
import signal
import socket
import subprocess
import threading
import time
import tty
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx
import pytest
from hypothesis import strategies as st
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool
from sqlmodel import Session

from devices.codec import DEVICE_TYPES, MAX_LINE, Frame, crc16, decode, device_frame, encode
from devices.config import load_config
from devices.errors import MalformedFrame
from devices.forwarder import RESULTS_PATH
from devices.gateway import Gateway
from devices.sim.profiles import plan_run, scenarios_for
from server.accounts.models import Role
from server.db import make_engine
from server.devices import bindings
from server.devices.registry import DeviceCreate, create_device
from tests.conftest import CLI
from tests.factories import ACTOR, make_station, make_token, make_trainee, make_user

GATEWAY_CLOCKS: dict[str, Any] = {
    "heartbeat_interval": 0.2,
    "reconnect_initial": 0.05,
    "reconnect_cap": 0.4,
    "poll_interval": 0.05,
    "bindings_interval": 0.1,
    "report_interval": 0.5,
    "forward_linger": 0.02,
    "forward_timeout": 10.0,
    "retry_initial": 0.05,
    "retry_cap": 0.3,
}
"""The gateway's clocks, compressed as the simulators' are (stations.toml has no keys for
them: `safetrain gateway` runs with the protocol's own). The spool stays synchronous=FULL."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def eventually(
    condition: Callable[[], object], timeout: float, what: str, every: float = 0.05
) -> None:
    """Wait for `condition`, failing the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


# --- the server's side -------------------------------------------------------------------------


@dataclass(frozen=True)
class Hall:
    """What prepare_hall registered: the gateway's token and who is bound at each station."""

    token: str
    trainee_ids: dict[str, int]
    badges: dict[str, str]


def prepare_hall(db_url: str, stations: Sequence[tuple[str, str]]) -> Hall:
    """Register each (code, kind) station with its device, a trainee bound at each, and a
    gateway account with a token, through the real services."""
    engine = make_engine(db_url)
    trainee_ids: dict[str, int] = {}
    badges: dict[str, str] = {}
    try:
        with Session(engine, expire_on_commit=False) as session:
            for i, (code, kind) in enumerate(stations):
                make_station(session, code=code, kind=kind)
                create_device(
                    session,
                    ACTOR,
                    DeviceCreate.model_validate({"code": code, "kind": kind, "station": code}),
                )
                trainee = make_trainee(session, name=f"学员{i + 1}")
                assert trainee.id is not None
                bindings.bind(session, ACTOR, code, trainee.id, source="console")
                trainee_ids[code] = trainee.id
                badges[code] = trainee.badge
            token = make_token(session, user=make_user(session, role=Role.gateway))
    finally:
        engine.dispose()
    return Hall(token, trainee_ids, badges)


class ServerProcess:
    """`safetrain serve` on `db_url` as a child process, on a port of its own; `kill()` is a
    SIGKILL (no shutdown of any kind), `start()` again serves on the same port."""

    def __init__(self, db_url: str, workdir: Path) -> None:
        self.db_url = db_url
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "serve.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        env = os.environ | {
            "SAFETRAIN_DATABASE_URL": self.db_url,
            "SAFETRAIN_ENVIRONMENT": "test",
        }
        with self.log_path.open("ab") as log:  # the child keeps its own descriptor
            self._proc = subprocess.Popen(
                [CLI, "serve", "--port", str(self.port)],
                env=env,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            if time.monotonic() > deadline or self._proc.poll() is not None:
                pytest.fail(f"the server did not start:\n{self.log_tail()}")
            time.sleep(0.05)

    def kill(self) -> None:
        """Power cut: SIGKILL, whatever it was doing."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGKILL)
        self._proc.wait(timeout=10)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        if exc is not None:
            print(f"--- serve.log ---\n{self.log_tail()}")  # shown with the failure


@dataclass(frozen=True)
class StoredFrame:
    key: str
    frame_type: str
    boot: str
    seq: int
    trainee_id: int | None
    attribution: str | None
    badge: str | None


class Database:
    """The test's read-only view of what the server stored (no pool: nothing held open)."""

    def __init__(self, url: str) -> None:
        self._engine = create_engine(url, poolclass=NullPool)

    def _rows(self, sql: str, **params: object) -> list[Any]:
        with self._engine.connect() as conn:
            return list(conn.execute(text(sql), params).all())

    def frames(self) -> list[StoredFrame]:
        rows = self._rows(
            "SELECT key, frame_type, boot, seq, trainee_id, attribution, frame"
            " FROM device_frames ORDER BY id"
        )
        return [
            StoredFrame(k, t, b, s, tid, a, json.loads(f).get("badge"))
            for k, t, b, s, tid, a, f in rows
        ]

    def keys(self) -> list[str]:
        return [str(k) for (k,) in self._rows("SELECT key FROM device_frames")]

    def result_count(self) -> int:
        return int(
            self._rows("SELECT count(*) FROM device_frames WHERE frame_type = 'result'")[0][0]
        )

    def attempts(self) -> list[tuple[str, int]]:
        """(source_ref, trainee_id) of every attempt a device result became."""
        rows = self._rows("SELECT source_ref, trainee_id FROM attempts WHERE source = 'device'")
        return [(str(ref), int(tid)) for ref, tid in rows]

    def last_boot(self, device: str) -> str | None:
        rows = self._rows("SELECT last_boot FROM devices WHERE code = :code", code=device)
        return rows[0][0] if rows else None

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- the gateway -------------------------------------------------------------------------------


def write_stations(
    path: Path, *, server_url: str, spool: Path, stations: Sequence[tuple[str, str, str]]
) -> Path:
    """A hall's stations.toml: (code, kind, url) per station, the status page on any port."""
    lines = [
        "[gateway]",
        f'name = "{path.stem}"',
        f'server_url = "{server_url}"',
        f'spool = "{spool}"',
        "status_port = 0",
    ]
    for code, kind, url in stations:
        lines += ["", "[[station]]", f'code = "{code}"', f'kind = "{kind}"', f'url = "{url}"']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class CrashAfterCommit(httpx.BaseTransport):
    """The gateway's real HTTP transport, which can arrange the worst moment for a crash: once
    `arm()`ed, the next batch of results reaches the server and is stored, and then, before
    its answer reaches the gateway, `crash` (a SIGKILL of the server) runs and the connection
    fails as it would."""

    def __init__(self, crash: Callable[[], None]) -> None:
        self._real = httpx.HTTPTransport()
        self._crash = crash
        self._armed = threading.Event()
        self.crashed = threading.Event()

    def arm(self) -> None:
        self._armed.set()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._real.handle_request(request)
        if request.url.path != RESULTS_PATH or not self._armed.is_set():
            return response
        self._armed.clear()
        response.read()  # the server has answered: the batch is committed
        response.close()
        self._crash()
        self.crashed.set()
        raise httpx.RemoteProtocolError("server disconnected without an answer", request=request)

    def close(self) -> None:
        self._real.close()


def start_gateway(
    config: Path, token: str, transport: httpx.BaseTransport | None = None
) -> Gateway:
    """The gateway `safetrain gateway --config` runs, with GATEWAY_CLOCKS."""
    cfg = load_config(config)
    assert cfg.server_url is not None and cfg.spool is not None
    gateway = Gateway(
        cfg.stations,
        server_url=cfg.server_url,
        token=token,
        spool_path=cfg.spool,
        status_port=cfg.status_port,
        name=cfg.name,
        transport=transport,
        cameras=cfg.cameras,
        device_keys=cfg.device_keys,
        **GATEWAY_CLOCKS,
    )
    gateway.start()
    return gateway


def status_page(gateway: Gateway) -> dict[str, Any]:
    """What a person sees at the gateway's /status."""
    assert gateway.status_server is not None
    page: dict[str, Any] = httpx.get(f"{gateway.status_server.url}/status", timeout=5).json()
    return page


# --- the device's end of a pty, written by the test ----------------------------------------------


class RawLine:
    """A pseudo-terminal whose device end the test writes itself, byte for byte; what the
    gateway sends back (acks, naks, binds) is read and kept so its writes never stall."""

    def __init__(self) -> None:
        master, slave = os.openpty()
        try:
            tty.setraw(slave)  # no echo, no CR/LF translation, all eight bits
            self.path = os.ttyname(slave)
        finally:
            os.close(slave)  # the gateway opens the slave by its path
        os.set_blocking(master, False)
        self._master: int | None = master
        self.received = bytearray()

    def _drain(self) -> None:
        assert self._master is not None
        while True:
            try:
                data = os.read(self._master, 65536)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno == errno.EIO:  # nobody has the slave open (yet)
                    return
                raise
            if not data:
                return
            self.received += data

    def write(self, data: bytes, timeout: float = 60.0) -> None:
        """All of `data`, however long the gateway takes to read it."""
        assert self._master is not None
        view = memoryview(data)
        deadline = time.monotonic() + timeout
        while view:
            if time.monotonic() > deadline:
                pytest.fail(f"the gateway stopped reading: {len(view)} bytes left to write")
            _, writable, _ = select.select([], [self._master], [], 0.1)
            if writable:
                with contextlib.suppress(BlockingIOError):
                    view = view[os.write(self._master, view[:4096]) :]
            self._drain()
        self._drain()

    def close(self) -> None:
        if self._master is not None:
            os.close(self._master)
            self._master = None


def run_frames(dev: str, boot: str, first_seq: int, badge: str, rng: random.Random) -> list[Frame]:
    """One trainee's run as a pod reports it: start, a step per scenario step, the result."""
    scenario = rng.choice(scenarios_for("vr_pod"))
    plan = plan_run(scenario, rng)
    seq = iter(range(first_seq, first_seq + len(plan.steps) + 2))
    frames = [device_frame("start", dev, boot, next(seq), scenario=scenario.code, badge=badge)]
    for i, step in enumerate(plan.steps):
        frames.append(
            device_frame(
                "step", dev, boot, next(seq), scenario=scenario.code, step=step.step,
                ok=step.ok, at_ms=1000 * (i + 1),
            )
        )  # fmt: skip
    frames.append(
        device_frame(
            "result", dev, boot, next(seq), scenario=scenario.code, badge=badge,
            score=plan.score, max=scenario.max_score, passed=plan.passed,
            duration_s=float(len(plan.steps)), errors=list(plan.errors), veto=list(plan.veto),
            ts=dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        )
    )  # fmt: skip
    return frames


# --- garbage lines -------------------------------------------------------------------------------


def framed(payload: bytes) -> bytes:
    """`payload*CRC` with the payload's right CRC (no line ending)."""
    return b"%s*%04X" % (payload, crc16(payload))


def compact(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


# Every strategy is built once, here: ten thousand lines are drawn, and a strategy made inside
# the draw (a new filter, a new sampled_from) is validated afresh each time, which is slow.
_names = st.sampled_from(["VR-01", "VR-02", "FALL-01", "NITR-RUNAWAY", "1", "B20260001", "x" * 64])
_boots = st.integers(0, 2**32 - 1).map(lambda n: f"{n:08x}")
_identity = {"dev": _names, "boot": _boots, "seq": st.integers(1, 2**53)}


def _typed(t: str, **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"t": st.just(t), "v": st.just(1), **_identity, **fields})


_DEVICE_FRAMES = st.one_of(
    _typed("hello", kind=st.sampled_from(["vr_pod", "fall_rig"]), fw=_names),
    _typed("hb", state=st.sampled_from(["idle", "running", "fault"])),
    _typed("start", scenario=_names, badge=st.none() | _names),
    _typed("step", scenario=_names, step=_names, ok=st.booleans(), at_ms=st.integers(0, 10**6)),
    _typed(
        "result",
        scenario=_names,
        badge=st.none() | _names,
        score=st.integers(0, 100),
        max=st.just(100),
        passed=st.booleans(),
        duration_s=st.integers(0, 900),
        errors=st.lists(_names, max_size=2),
        veto=st.lists(_names, max_size=1),
        ts=st.just("2026-12-01T10:00:00+08:00"),
    ),
    _typed("fault", code=_names, msg=st.sampled_from(["", "卷扬机过载 / winch overload"])),
)
"""Well-formed device frames of every type: the raw material of the near misses."""

KINDS = (
    "bytes", "text", "bad_crc", "crc_format", "truncated", "bad_json", "too_long",
    "unknown_type", "bad_version", "missing_field", "bad_field", "not_utf8", "not_object",
    "gateway_frame", "no_separator",
)  # fmt: skip
_KIND = st.sampled_from(KINDS)
_BYTES = st.binary(min_size=1, max_size=100)
_TEXT = st.text(min_size=1, max_size=60)
_CRC = st.integers(0, 0xFFFF)
_CRC_FORMATS = st.sampled_from([b"%04x", b"%03X", b"%05X", b" %04X", b"%04X "])
_PLACE = st.integers(0, 2**16)  # a position in the line, taken modulo its length
_PAD = st.integers(MAX_LINE, 3 * MAX_LINE)
_TYPES = st.sampled_from(["", "HB", "heartbeat", "result ", "r\u00e9sult", "hello2", "0"])
_VERSIONS = st.sampled_from([0, 2, "1", 1.0, None, True])
_WRONG = st.sampled_from([-1, "", [1], {"a": 1}, "x" * 70, 1.5])
_NOT_OBJECTS = st.sampled_from([[1], 17, "frame", None])
_ECHOES: st.SearchStrategy[dict[str, Any]] = st.sampled_from(
    [
        {"t": "ack", "v": 1, "seq": 17},
        {"t": "nak", "v": 1, "seq": None, "why": "bad_crc"},
        {"t": "bind", "v": 1, "badge": None, "name": None},
    ]
)


@st.composite
def garbage_line(draw: st.DrawFn) -> bytes:
    """One line of noise or a near miss of a frame (its CR LF not included)."""
    kind = draw(_KIND)
    if kind == "bytes":
        return draw(_BYTES)
    if kind == "text":
        return draw(_TEXT).encode()
    frame = draw(_DEVICE_FRAMES)
    payload = compact(frame)
    fields = sorted(set(frame) - {"t", "v"})
    if kind == "bad_crc":
        wrong = draw(_CRC)
        return b"%s*%04X" % (payload, wrong if wrong != crc16(payload) else wrong ^ 1)
    if kind == "crc_format":
        return payload + b"*" + draw(_CRC_FORMATS) % crc16(payload)
    if kind == "truncated":
        line = framed(payload)
        return line[: 1 + draw(_PLACE) % (len(line) - 1)]
    if kind == "bad_json":
        cut = draw(_PLACE) % len(payload)
        broken = (payload[:cut] + payload[cut + 1 :], payload + b"}", b" " + payload)
        return framed(broken[draw(_PLACE) % len(broken)])
    if kind == "too_long":
        return framed(compact({**frame, "pad": "x" * draw(_PAD)}))
    if kind == "unknown_type":
        return framed(compact({**frame, "t": draw(_TYPES)}))
    if kind == "bad_version":
        return framed(compact({**frame, "v": draw(_VERSIONS)}))
    if kind == "missing_field":
        name = fields[draw(_PLACE) % len(fields)]
        return framed(compact({k: v for k, v in frame.items() if k != name}))
    if kind == "bad_field":
        name = fields[draw(_PLACE) % len(fields)]
        return framed(compact({**frame, name: draw(_WRONG)}))
    if kind == "not_utf8":
        return framed(payload[:-2] + b"\xff\xfe" + payload[-2:])
    if kind == "not_object":
        return framed(compact(draw(_NOT_OBJECTS)))
    if kind == "gateway_frame":  # a line wired back on itself: counted, never answered
        return encode(draw(_ECHOES))[:-2]
    return payload  # no_separator: a frame without its `*CRC`


def wire_lines(garbage: bytes) -> list[bytes]:
    """The lines the gateway's reader makes of `garbage` + CR LF (empty ones it skips)."""
    pieces = (garbage + b"\r\n").split(b"\n")[:-1]
    lines = [p[:-1] if p.endswith(b"\r") else p for p in pieces]
    return [line for line in lines if line]


def is_a_frame(line: bytes) -> bool:
    try:
        decode(line, DEVICE_TYPES)
    except MalformedFrame:
        return False
    return True


def rejection(line: bytes) -> str:
    """Why the gateway's reader rejects `line` (which must not be a frame)."""
    try:
        decode(line, DEVICE_TYPES)
    except MalformedFrame as exc:
        return exc.reason
    raise AssertionError(f"{line!r} is a valid frame")
