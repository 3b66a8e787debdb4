"""The gateway's connection to one station, against the simulator, over every transport."""

from __future__ import annotations

import os
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest

from devices.backoff import Backoff
from devices.codec import GATEWAY_TYPES, ack, encode
from devices.connection import NOBODY, Binding, DeviceConnection, Station
from devices.framing import QueuedFrameReader
from devices.sim.device import SimDevice
from devices.sim.profiles import scenarios_for
from devices.spool import Spool
from tests.devices.kit import Transport, wait_for

MakeSim = Callable[..., SimDevice]
Connect = Callable[..., DeviceConnection]

HEARTBEAT = 0.2  # the gateway's expectation in these tests; offline after 3 × 0.2 s


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    s = Spool(tmp_path / "spool.sqlite3", synchronous="NORMAL")
    yield s
    s.close()


@pytest.fixture
def connect(spool: Spool) -> Iterator[Connect]:
    made: list[DeviceConnection] = []

    def make(
        url: str, kind: str = "vr_pod", *, store: Spool | None = None, **options: object
    ) -> DeviceConnection:
        settings: dict[str, object] = {
            "heartbeat_interval": HEARTBEAT,
            "backoff": Backoff(initial=0.05, cap=0.4),
            "poll_interval": 0.05,
            **options,
        }
        connection = DeviceConnection(Station("VR-01", url, kind), store or spool, **settings)
        made.append(connection)
        connection.start()
        return connection

    yield make
    for c in made:
        c.stop()


def spooled_keys(spool: Spool) -> list[str]:
    return [p.key for p in spool.pending(limit=100_000)]


def assert_each_stored_once(spool: Spool, sim: SimDevice) -> None:
    """Every frame the device made is in the spool exactly once (in arrival order, so a
    resent frame may come after later ones)."""
    assert Counter(spooled_keys(spool)) == Counter(sim.generated)
    assert len(set(sim.generated)) == len(sim.generated)


def sim_and_link(
    transport: Transport, make_sim: MakeSim, connect: Connect, **sim_options: object
) -> tuple[SimDevice, DeviceConnection]:
    sim = make_sim(transport, **sim_options)
    connection = connect(transport.gateway_url(sim.endpoint))
    return sim, connection


class TestProtocol:
    def test_hello_makes_the_device_known_and_online(
        self, transport: Transport, make_sim: MakeSim, connect: Connect
    ) -> None:
        sim, connection = sim_and_link(transport, make_sim, connect, require_bind=True)
        wait_for(lambda: connection.online and connection.fw and connection.state, what="online")
        status = connection.status()
        assert status["link"] == "up" and status["online"] is True
        assert (status["dev"], status["boot"], status["device_kind"]) == (
            "VR-01",
            sim.boot,
            "vr_pod",
        )
        assert status["fw"] == "pod-2.4.1" and status["state"] == "idle"
        assert status["last_seen"] is not None

    def test_every_frame_of_a_run_is_spooled_then_acked(
        self, transport: Transport, make_sim: MakeSim, connect: Connect, spool: Spool
    ) -> None:
        sim, connection = sim_and_link(transport, make_sim, connect, count=2)
        assert sim.wait_done(10)
        assert spooled_keys(spool) == sim.generated
        assert connection.spooled == len(sim.generated) and connection.duplicates == 0
        assert sim.stats["acked"] == len(sim.generated)
        wait_for(lambda: connection.ack_latency_ms()["n"] == len(sim.generated), what="latencies")

    def test_no_ack_until_the_spool_has_committed(
        self, transport: Transport, make_sim: MakeSim, connect: Connect, spool: Spool
    ) -> None:
        with closing(sqlite3.connect(spool.path, isolation_level=None)) as blocker:
            blocker.execute("BEGIN IMMEDIATE")  # the spool cannot write until this ends
            sim, _ = sim_and_link(transport, make_sim, connect, count=1)
            wait_for(lambda: sim.seq >= 3, what="a run under way")
            time.sleep(0.3)
            assert sim.stats["acked"] == 0 and sim.unacked
            assert blocker.execute("SELECT count(*) FROM spool").fetchone()[0] == 0
            blocker.execute("ROLLBACK")
        assert sim.wait_done(10)
        assert spooled_keys(spool) == sim.generated

    def test_a_spool_that_cannot_write_naks_and_the_device_resends(
        self, transport: Transport, make_sim: MakeSim, connect: Connect, tmp_path: Path
    ) -> None:
        with Spool(tmp_path / "slow.sqlite3", busy_timeout=0.1) as slow:
            with closing(sqlite3.connect(slow.path, isolation_level=None)) as blocker:
                blocker.execute("BEGIN IMMEDIATE")
                sim = make_sim(transport, count=1)
                connection = connect(transport.gateway_url(sim.endpoint), store=slow)
                wait_for(lambda: connection.bad_reasons or connection.naks, what="a nak")
                blocker.execute("ROLLBACK")
            assert sim.wait_done(10)
            assert "spool_unavailable" in str(connection.last_error) or connection.naks
            assert sim.stats["naks"] >= 1
            assert Counter(p.key for p in slow.pending(10_000)) == Counter(sim.generated)
            connection.stop()

    def test_a_bad_line_is_naked_and_the_resent_frame_stored(
        self, transport: Transport, make_sim: MakeSim, connect: Connect, spool: Spool
    ) -> None:
        sim, connection = sim_and_link(
            transport, make_sim, connect, count=1, require_bind=True, heartbeat=5.0
        )
        wait_for(lambda: connection.online, what="online")
        sim.corrupt_next()
        connection.set_binding(Binding("B1", "张伟"))  # the run starts: its `start` is corrupted
        assert sim.wait_done(10)
        assert connection.frames_bad == 1 and connection.naks == 1
        assert sim.stats["naks"] == 1
        assert sum(connection.bad_reasons.values()) == 1
        assert_each_stored_once(spool, sim)

    @pytest.mark.parametrize("fault", ["duplicate", "drop_ack"])
    def test_duplicates_are_acked_again_and_stored_once(
        self, transport: Transport, make_sim: MakeSim, connect: Connect, spool: Spool, fault: str
    ) -> None:
        sim, connection = sim_and_link(
            transport, make_sim, connect, count=1, require_bind=True, heartbeat=5.0
        )
        wait_for(lambda: connection.online, what="online")
        if fault == "duplicate":
            sim.duplicate_next(3)  # a frame sent twice in a row
        else:
            sim.drop_acks(3)  # an ack lost: the device sends the frame again later
        connection.set_binding(Binding("B1", "张伟"))
        assert sim.wait_done(10)
        assert connection.duplicates == 3
        assert sim.stats["resent"] == (3 if fault == "drop_ack" else 0)
        # + the hello; counted just after the ack is written, so maybe a moment after
        wait_for(lambda: connection.acks == len(sim.generated) + 3 + 1, what="every ack")
        assert_each_stored_once(spool, sim)

    def test_a_reboot_starts_a_new_sequence_and_both_are_kept(
        self, transport: Transport, make_sim: MakeSim, connect: Connect, spool: Spool
    ) -> None:
        sim, connection = sim_and_link(transport, make_sim, connect, count=2, pause=0.3)
        wait_for(lambda: sim.runs_done == 1 and not sim.unacked, what="the first run")
        first_boot = sim.boot
        sim.reboot()
        assert sim.wait_done(10)
        assert sim.boot != first_boot and connection.reboots == 1
        assert connection.boot == sim.boot
        keys = spooled_keys(spool)
        assert keys == sim.generated
        seqs = {boot: [int(k.split(":")[2]) for k in keys if f":{boot}:" in k]
                for boot in (first_boot, sim.boot)}  # fmt: skip
        assert set(seqs[first_boot]) & set(seqs[sim.boot])  # the same seqs, a new boot

    def test_three_missed_heartbeats_make_it_offline(
        self, transport: Transport, make_sim: MakeSim, connect: Connect
    ) -> None:
        sim, connection = sim_and_link(
            transport, make_sim, connect, heartbeat=HEARTBEAT / 2, require_bind=True
        )
        wait_for(lambda: connection.online, what="online")
        sim.freeze(0.9)
        frozen = time.monotonic()
        wait_for(lambda: not connection.online, what="offline")
        silent = time.monotonic() - frozen
        assert silent >= 3 * HEARTBEAT - HEARTBEAT / 2  # not before three intervals
        assert connection.link_up  # the port is fine; the device is silent
        wait_for(lambda: connection.online, timeout=6, what="online again")

    def test_bindings_go_to_the_device_and_again_after_a_reboot(
        self, transport: Transport, make_sim: MakeSim, connect: Connect
    ) -> None:
        sim, connection = sim_and_link(transport, make_sim, connect, require_bind=True)
        connection.set_binding(Binding("B20260007", "李娜"))
        wait_for(lambda: sim.badge == "B20260007", what="the bind at the device")
        assert sim.name == "李娜"
        sim.reboot()
        wait_for(lambda: sim.stats["boots"] == 2 and sim.badge == "B20260007", what="re-bound")
        connection.set_binding(NOBODY)
        wait_for(lambda: sim.badge is None, what="unbound")


class TestRawLine:
    """The gateway's side of the line with a bare device end (no simulator)."""

    def test_gateway_frames_echoed_back_are_counted_not_answered(
        self, transport: Transport, connect: Connect
    ) -> None:
        wake_r, wake_w = os.pipe()
        device = transport.endpoint(wake_r)
        try:
            connection = connect(transport.gateway_url(device))
            wait_for(lambda: device.read(0.01) is not None, what="the gateway on the line")
            # Bytes sent while pyserial is still opening the port are flushed by its open().
            wait_for(lambda: connection.link_up, what="the port open")
            reader = QueuedFrameReader(GATEWAY_TYPES)
            device.write(encode(ack(3)) + b"noise\r\n")
            wait_for(lambda: connection.frames_bad == 2, what="two bad lines")
            deadline = time.monotonic() + 0.3
            while time.monotonic() < deadline:
                data = device.read(0.05)
                if data:
                    reader.data_received(data)
            naks = [f for f in reader.queue if isinstance(f, dict) and f["t"] == "nak"]
            assert naks == [{"t": "nak", "v": 1, "seq": None, "why": "no_separator"}]
            assert connection.bad_reasons == {"wrong_direction": 1, "no_separator": 1}
            connection.stop()
        finally:
            device.close()
            os.close(wake_r)
            os.close(wake_w)


class TestReconnect:
    def test_a_cable_pulled_mid_result_comes_back_and_the_result_is_stored_once(
        self, unpluggable: Transport, make_sim: MakeSim, connect: Connect, spool: Spool
    ) -> None:
        scenario = next(s for s in scenarios_for("vr_pod") if s.code == "CHLO-RUNAWAY")
        sim, connection = sim_and_link(
            unpluggable, make_sim, connect, count=1, rate=20.0, scenario=scenario.code
        )
        wait_for(lambda: sim.seq >= 2, what="the run started")
        sim.disconnect(0.5, mid_frame=True, frame_type="result")
        assert sim.wait_done(15)
        assert sim.stats["hangups"] == 1
        assert connection.connects == 2 and connection.open_failures >= 1  # retried, came back
        assert_each_stored_once(spool, sim)  # the result among them
        assert len(sim.generated) == len(scenario.steps) + 2  # start, each step, the result
        assert connection.online
