"""Issue 5 end to end: simulated pods and rigs on real ptys and sockets → the real gateway →
`safetrain serve` as a process → the database. Whatever goes wrong on the way — the server
killed mid-stream, a cable pulled mid-result, a device rebooted, a line full of noise —
every frame a device made is stored once and every result becomes one attempt.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from devices.codec import Frame, device_frame, encode, frame_key
from devices.gateway import Gateway
from devices.sim.device import SimDevice
from devices.sim.profiles import scenarios_for
from tests.devices.e2e_kit import (
    CrashAfterCommit,
    Database,
    Hall,
    RawLine,
    ServerProcess,
    eventually,
    garbage_line,
    is_a_frame,
    prepare_hall,
    rejection,
    run_frames,
    start_gateway,
    status_page,
    wire_lines,
    write_stations,
)
from tests.devices.kit import Transport

MakeSim = Callable[..., SimDevice]
SCENARIO = scenarios_for("vr_pod")[0]  # one scenario, so a run's length is known


def gateway_for(
    tmp_path: Path,
    server: ServerProcess,
    hall: Hall,
    stations: list[tuple[str, str, str]],
    started: list[Gateway],
    transport: httpx.BaseTransport | None = None,
) -> Gateway:
    config = write_stations(
        tmp_path / "hall1.toml",
        server_url=server.url,
        spool=tmp_path / "gateway-hall1.sqlite3",
        stations=stations,
    )
    gateway = start_gateway(config, hall.token, transport)
    started.append(gateway)
    return gateway


def drained(gateway: Gateway) -> bool:
    return gateway.spool.counts().pending == 0


def assert_stored_once(db: Database, made: list[str], hall: Hall) -> None:
    """Every frame made is in device_frames once, nothing else is; each result is one attempt
    of the trainee bound at its station."""
    assert sorted(db.keys()) == sorted(made)
    results = {f.key: f for f in db.frames() if f.frame_type == "result"}
    attempts = db.attempts()
    assert sorted(ref for ref, _ in attempts) == sorted(results)
    for ref, trainee_id in attempts:
        station = ref.split(":")[0]  # the devices sit at stations of their own code
        assert trainee_id == hall.trainee_ids[station], ref
        assert results[ref].badge == hall.badges[station]  # the bind reached the device


class TestServerCrash:
    RUNS = 30  # per device: about 8 s of results at the simulators' compressed clocks

    def test_killed_and_restarted_mid_stream_loses_and_doubles_nothing(
        self, db_url: str, tmp_path: Path, make_sim: MakeSim, gateways: list[Gateway]
    ) -> None:
        codes = [("VR-01", "vr_pod"), ("VR-02", "vr_pod"), ("VR-03", "vr_pod")]
        codes.append(("FALL-01", "fall_rig"))
        hall = prepare_hall(db_url, codes)
        sims, stations = [], []
        for i, (code, kind) in enumerate(codes):
            transport = Transport("socket" if kind == "fall_rig" else "pty", tmp_path)
            sim = make_sim(transport, kind, code, count=self.RUNS, require_bind=True, seed=i)
            sims.append(sim)
            stations.append((code, kind, transport.gateway_url(sim.endpoint)))

        def made() -> int:
            return sum(len(s.generated) for s in sims)

        with ServerProcess(db_url, tmp_path) as server, Database(db_url) as db:
            crash = CrashAfterCommit(server.kill)
            gateway = gateway_for(tmp_path, server, hall, stations, gateways, crash)
            eventually(lambda: db.result_count() >= 4, 30, "results stored before the crash")
            crash.arm()  # SIGKILL once the next batch is stored, before the gateway hears so
            eventually(crash.crashed.is_set, 10, "the server killed")
            at_kill = made()
            eventually(
                lambda: gateway.spool.counts().pending >= 20 and made() >= at_kill + 20,
                20,
                "the devices producing and the spool growing while the server is down",
            )
            assert not all(s.wait_done(0) for s in sims)  # still mid-stream
            assert status_page(gateway)["server"]["last_error"] is not None
            server.start()  # same database, same port
            for sim in sims:
                assert sim.wait_done(60), sim.summary()
            eventually(lambda: drained(gateway), 30, "the spool drained to the server")
            # The batch stored just before the crash was sent again and answered "duplicate".
            assert gateway.forwarder.duplicates > 0
            assert gateway.spool.counts().rejected == 0
            assert status_page(gateway)["spool"]["depth"] == 0
            assert status_page(gateway)["server"]["last_error"] is None
            everything = [k for s in sims for k in s.generated]
            assert_stored_once(db, everything, hall)
            assert db.result_count() == self.RUNS * len(sims)


class TestPulledCable:
    @pytest.mark.parametrize("how", ["cut_mid_result", "ack_lost_then_pulled"])
    def test_the_unacked_result_arrives_after_the_reconnect_once(
        self,
        how: str,
        sqlite_url: str,
        tmp_path: Path,
        make_sim: MakeSim,
        gateways: list[Gateway],
    ) -> None:
        hall = prepare_hall(sqlite_url, [("VR-01", "vr_pod")])
        pty = Transport("pty", tmp_path)  # a symlink that follows the pty, as /dev/serial/by-id
        pulled: list[str] = []  # the key of the frame on the wire when the cable went

        def on_event(sim: SimDevice, message: str) -> None:
            if message.startswith("cable pulled"):
                pulled.append(sim.generated[-1])

        frames_in_run = len(SCENARIO.steps) + 2  # start, each step, the result
        options: dict[str, object] = {"count": 1, "require_bind": True, "on_event": on_event}
        if how == "ack_lost_then_pulled":
            options["resend_interval"] = 60.0  # nothing resent but at the reconnect
        sim = make_sim(pty, "vr_pod", "VR-01", scenario=SCENARIO.code, **options)
        if how == "cut_mid_result":
            sim.disconnect(0.5, mid_frame=True, frame_type="result")
        else:
            sim.drop_acks(frames_in_run)  # every frame's ack lost on the way back
        with ServerProcess(sqlite_url, tmp_path) as server, Database(sqlite_url) as db:
            gateway = gateway_for(
                tmp_path, server, hall, [("VR-01", "vr_pod", pty.gateway_url(sim.endpoint))],
                gateways,
            )  # fmt: skip
            connection = gateway.connections["VR-01"]
            if how == "ack_lost_then_pulled":
                eventually(
                    lambda: sim.stats["acks_dropped"] == frames_in_run and db.result_count() == 1,
                    30,
                    "the result at the server, its ack lost before the device",
                )
                sim.disconnect(0.5)
            assert sim.wait_done(30), sim.summary()
            eventually(lambda: drained(gateway), 30, "the spool drained to the server")
            (result,) = [f for f in db.frames() if f.frame_type == "result"]
            assert pulled == [result.key]  # mid-result, or (acks lost) right after it
            assert sim.stats["hangups"] == 1 and connection.connects == 2  # it came back
            if how == "ack_lost_then_pulled":
                assert connection.duplicates == frames_in_run  # all sent again, none stored again
            assert len(sim.generated) == frames_in_run
            assert_stored_once(db, sim.generated, hall)


class TestReboot:
    def test_both_boots_are_kept_and_neither_is_taken_for_the_other(
        self, sqlite_url: str, tmp_path: Path, make_sim: MakeSim, gateways: list[Gateway]
    ) -> None:
        hall = prepare_hall(sqlite_url, [("VR-01", "vr_pod")])
        pty = Transport("pty", tmp_path)
        # Heartbeats at the protocol's slowest, 5 s: they take seq numbers too, and without them
        # both boots number their runs alike (hello 1, start 2 …), as a real pod's often do.
        sim = make_sim(
            pty, "vr_pod", "VR-01", count=2, pause=1.0, heartbeat=5.0, require_bind=True,
            scenario=SCENARIO.code,
        )  # fmt: skip
        with ServerProcess(sqlite_url, tmp_path) as server, Database(sqlite_url) as db:
            gateway = gateway_for(
                tmp_path, server, hall, [("VR-01", "vr_pod", pty.gateway_url(sim.endpoint))],
                gateways,
            )  # fmt: skip
            eventually(
                lambda: sim.runs_done == 1 and sim.stats["acked"] == len(sim.generated),
                30,
                "the first run acked",
            )
            first_boot = sim.boot
            sim.reboot()  # power cycle between two runs: new boot id, seq from 1 again
            assert sim.wait_done(30), sim.summary()
            eventually(lambda: drained(gateway), 30, "the spool drained to the server")
            assert sim.boot != first_boot and gateway.connections["VR-01"].reboots == 1
            assert_stored_once(db, sim.generated, hall)
            frames = db.frames()
            seqs = {
                boot: {f.seq for f in frames if f.boot == boot} for boot in (first_boot, sim.boot)
            }
            assert seqs[first_boot] & seqs[sim.boot]  # the same seq numbers, both stored
            assert {f.boot for f in frames} == {first_boot, sim.boot}
            assert [f.attribution for f in frames if f.frame_type == "result"] == ["badge"] * 2
            assert db.last_boot("VR-01") == sim.boot


GARBAGE_LINES = 10_000
PER_EXAMPLE = 20


def draw_garbage() -> list[bytes]:
    """GARBAGE_LINES lines of noise and near misses, none of which holds a frame."""
    drawn: list[bytes] = []

    @seed(20261201)
    @settings(
        max_examples=GARBAGE_LINES // PER_EXAMPLE + 30,  # + a few for the lines filtered out
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(garbage_line(), min_size=PER_EXAMPLE, max_size=PER_EXAMPLE))
    def collect(lines: list[bytes]) -> None:
        drawn.extend(g for g in lines if not any(is_a_frame(w) for w in wire_lines(g)))

    collect()
    assert len(drawn) >= GARBAGE_LINES
    return drawn[:GARBAGE_LINES]


class TestGarbage:
    def test_good_frames_survive_ten_thousand_lines_of_garbage(
        self, sqlite_url: str, tmp_path: Path, gateways: list[Gateway]
    ) -> None:
        garbage = draw_garbage()
        expected_bad = Counter(rejection(w) for g in garbage for w in wire_lines(g))
        near_misses = {"bad_crc", "bad_json", "too_long", "unknown_type", "wrong_direction"}
        assert near_misses <= set(expected_bad)  # not only noise: lines that almost are frames
        hall = prepare_hall(sqlite_url, [("VR-01", "vr_pod")])
        badge, rng, boot = hall.badges["VR-01"], random.Random(5), "0badf00d"
        frames: list[Frame] = []
        while len(frames) < 100:  # whole runs: start, steps, result
            frames += run_frames("VR-01", boot, len(frames) + 2, badge, rng)
        *early, last = frames
        stride = GARBAGE_LINES // len(early)
        stream = bytearray()
        for i, noise in enumerate(garbage):
            if i % stride == 0 and i // stride < len(early):
                stream += encode(early[i // stride])
            stream += noise + b"\r\n"
        good_keys = sorted(frame_key(f) for f in frames)
        line = RawLine()
        try:
            with ServerProcess(sqlite_url, tmp_path) as server, Database(sqlite_url) as db:
                gateway = gateway_for(
                    tmp_path, server, hall, [("VR-01", "vr_pod", line.path)], gateways
                )
                connection = gateway.connections["VR-01"]
                eventually(lambda: connection.link_up, 10, "the gateway's port open")
                line.write(encode(device_frame("hello", "VR-01", boot, 1, kind="vr_pod", fw="1")))
                eventually(lambda: connection.frames_ok == 1, 10, "the hello read")
                line.write(bytes(stream))
                eventually(
                    lambda: connection.frames_bad >= expected_bad.total(),
                    30,
                    "every garbage line counted",
                )
                line.write(encode(last))  # after all the garbage: the reader still reads
                eventually(lambda: set(db.keys()) >= set(good_keys), 30, "the good frames stored")
                page = status_page(gateway)
                (station,) = page["stations"]
                assert page["frames_bad"] == station["frames_bad"] == expected_bad.total()
                assert Counter(station["bad_reasons"]) == expected_bad
                assert station["frames_ok"] == 1 + len(frames)
                assert station["link"] == "up" and station["connects"] == 1  # never reopened
                eventually(lambda: drained(gateway), 30, "the spool drained")
                assert_stored_once(db, good_keys, hall)
                assert len(db.attempts()) == sum(1 for f in frames if f["t"] == "result") > 5
        finally:
            for gateway in gateways:
                gateway.stop()  # before its pty goes, so that it does not try to reopen it
            line.close()
