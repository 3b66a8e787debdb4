"""The simulators behave as DESIGN.md says a device does, watched from a bare gateway port."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devices.codec import SPOOLED_TYPES, Frame, ack, bind, nak
from devices.errors import DeviceUnavailable, MalformedFrame
from devices.sim.device import SimDevice
from devices.sim.faults import FaultPlan, FaultSpecError, parse_faults
from devices.sim.profiles import PROFILES, plan_run, scenarios_for
from devices.source import DeviceSource, open_source
from tests.devices.kit import Transport, wait_for

MakeSim = Callable[..., SimDevice]


class Port:
    """The gateway's end, by hand: read what the device sends, ack it or not."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.source: DeviceSource = open_source(url, poll_interval=0.05)
        self.bad: list[MalformedFrame] = []

    def frames(
        self,
        n: int,
        *,
        acking: bool = True,
        timeout: float = 5.0,
        keep: Callable[[Frame], bool] = lambda f: True,
    ) -> list[Frame]:
        got: list[Frame] = []
        deadline = time.monotonic() + timeout
        while len(got) < n:
            if time.monotonic() > deadline:
                pytest.fail(f"{len(got)} of {n} frames after {timeout} s: {got[-3:]}")
            try:
                frame = self.source.read(0.05)
            except MalformedFrame as exc:
                self.bad.append(exc)
                continue
            if frame is None:
                continue
            if acking:
                self.source.write(ack(frame["seq"]))
            if keep(frame):
                got.append(frame)
        return got

    def close(self) -> None:
        self.source.close()


@pytest.fixture
def port_for() -> Iterator[Callable[[SimDevice, Transport], Port]]:
    ports: list[Port] = []

    def make(sim: SimDevice, transport: Transport) -> Port:
        port = Port(transport.gateway_url(sim.endpoint))
        ports.append(port)
        return port

    yield make
    for p in ports:
        p.close()


def run_frames(f: Frame) -> bool:
    return f["t"] in SPOOLED_TYPES


class TestProfiles:
    @pytest.mark.parametrize("kind", sorted(PROFILES))
    def test_every_kind_has_scenarios_from_the_curricula(self, kind: str) -> None:
        assert scenarios_for(kind)
        assert all(s.station_kind.value == kind for s in scenarios_for(kind))

    def test_vr_pod_runs_the_process_curricula(self) -> None:
        codes = {s.code for s in scenarios_for("vr_pod")}
        assert {"NITR-RUNAWAY", "HYDR-H2-LEAK"} <= codes
        assert {s.code for s in scenarios_for("fall_rig")} == {"FALL-ARREST"}

    def test_a_run_scores_its_steps(self) -> None:
        rng = random.Random(1)
        scenario = scenarios_for("vr_pod")[0]
        for _ in range(200):
            plan = plan_run(scenario, rng)
            assert len(plan.steps) == len(scenario.steps)
            missed = [s.step for s in plan.steps if not s.ok]
            assert list(plan.errors) == missed
            share = scenario.max_score / len(scenario.steps)
            assert abs(plan.score - (len(plan.steps) - len(missed)) * share) <= 0.25
            assert 0 <= plan.score <= scenario.max_score
            assert set(plan.veto) <= set(missed)
            assert plan.passed == (not plan.veto and plan.score >= scenario.min_score)

    def test_trainees_mostly_pass_and_some_fail(self) -> None:
        rng = random.Random(2)
        scenario = scenarios_for("shock_rig")[0]
        passed = sum(plan_run(scenario, rng).passed for _ in range(500))
        assert 150 < passed < 480


class TestFaultSpec:
    def test_every_fault_parses(self) -> None:
        plan = parse_faults(
            "corrupt=0.05, duplicate=0.1,drop-ack=0.2,garbage=0.01,hw-fault=0.5,"
            "disconnect=30:5,reboot=120,slow=960,flood=200:10"
        )
        assert plan == FaultPlan(
            corrupt=0.05,
            duplicate=0.1,
            drop_ack=0.2,
            garbage=0.01,
            hw_fault=0.5,
            disconnect_every=30,
            disconnect_for=5,
            reboot_every=120,
            slow_bps=960,
            flood_frames=200,
            flood_every=10,
        )
        assert parse_faults("") == FaultPlan() and not FaultPlan().any

    @pytest.mark.parametrize(
        "spec", ["explode=1", "corrupt", "corrupt=2", "corrupt=x", "slow=0", "flood=1.5"]
    )
    def test_bad_specs_show_the_format(self, spec: str) -> None:
        with pytest.raises(FaultSpecError, match="comma-separated NAME=VALUE"):
            parse_faults(spec)


@pytest.fixture
def transport(tmp_path: Path) -> Transport:
    """The device's behaviour does not depend on the line: watch it on a real pty (the
    transports themselves have their own suite, test_transports.py)."""
    return Transport("pty", tmp_path)


class TestDevice:
    def test_defaults_are_the_protocols(self, transport: Transport, make_sim: MakeSim) -> None:
        sim = SimDevice("VR-09", PROFILES["vr_pod"], transport.endpoint)
        try:
            assert (sim.resend_interval, sim.max_unacked) == (2.0, 64)
            assert sim.heartbeat <= 5.0
        finally:
            sim.stop()

    def test_hello_then_heartbeats(
        self, transport: Transport, make_sim: MakeSim, port_for: Callable[..., Port]
    ) -> None:
        sim = make_sim(transport, "fall_rig", "FALL-01", count=1, require_bind=True)
        port = port_for(sim, transport)
        hello, hb1, hb2 = port.frames(3)
        assert hello["t"] == "hello" and hello["kind"] == "fall_rig" and hello["fw"]
        assert hello["dev"] == "FALL-01" and hello["seq"] == 1
        assert (hb1["t"], hb1["state"], hb2["seq"]) == ("hb", "idle", hello["seq"] + 2)
        assert hb1["boot"] == hello["boot"] == sim.boot

    def test_a_run_is_start_then_each_step_then_the_result(
        self, transport: Transport, make_sim: MakeSim, port_for: Callable[..., Port]
    ) -> None:
        sim = make_sim(transport, "mech_rig", "MECH-01", count=1)
        port = port_for(sim, transport)
        steps = len(scenarios_for("mech_rig")[0].steps)
        run = port.frames(steps + 2, keep=run_frames)
        assert [f["t"] for f in run] == ["start", *["step"] * steps, "result"]
        assert [f["step"] for f in run[1:-1]] == [str(i) for i in range(1, steps + 1)]
        at = [f["at_ms"] for f in run[1:-1]]
        assert at == sorted(at)
        result = run[-1]
        assert result["scenario"] == "MECH-PINCH" and result["max"] == 100
        assert result["errors"] == [f["step"] for f in run[1:-1] if not f["ok"]]
        assert result["ts"][-6] in "+-" or result["ts"].endswith("Z")
        assert sim.wait_done(2)

    def test_an_unacked_result_is_sent_again_every_interval(
        self, transport: Transport, make_sim: MakeSim, port_for: Callable[..., Port]
    ) -> None:
        sim = make_sim(transport, "shock_rig", "SHOCK-01", count=1, resend_interval=0.3)
        port = port_for(sim, transport)
        steps = len(scenarios_for("shock_rig")[0].steps)
        port.frames(steps + 1, keep=run_frames)  # start and steps, acked
        first, again, third = port.frames(3, acking=False, keep=lambda f: f["t"] == "result")
        assert first == again == third  # the same frame, its seq kept
        port.source.write(ack(first["seq"]))
        assert sim.wait_done(2)
        assert sim.stats["resent"] >= 2

    def test_it_keeps_at_most_64_unacked_giving_up_results_last(
        self, transport: Transport, make_sim: MakeSim, port_for: Callable[..., Port]
    ) -> None:
        sim = make_sim(transport, rate=400.0, pause=0.0, resend_interval=30.0)
        port = port_for(sim, transport)
        port.frames(120, acking=False, keep=run_frames)
        wait_for(lambda: sim.stats["evicted"] > 50, what="frames given up")
        sim.stop()
        kept = [o.kind for o in sim.unacked_frames]
        assert len(kept) == 64
        assert kept.count("result") == sim.runs_done > 0  # every result kept, steps given up

    def test_a_nak_makes_it_resend_at_once(
        self, transport: Transport, make_sim: MakeSim, port_for: Callable[..., Port]
    ) -> None:
        sim = make_sim(transport, count=1, resend_interval=30.0, rate=5.0)
        port = port_for(sim, transport)
        (start,) = port.frames(1, acking=False, keep=lambda f: f["t"] == "start")
        asked = time.monotonic()
        port.source.write(nak(start["seq"], "bad_crc"))
        (again,) = port.frames(1, acking=False, keep=lambda f: f["seq"] == start["seq"])
        assert again == start and time.monotonic() - asked < 5.0
        assert sim.stats["naks"] == 1

    def test_a_bind_names_the_badge_of_the_next_run(
        self, transport: Transport, make_sim: MakeSim, port_for: Callable[..., Port]
    ) -> None:
        sim = make_sim(transport, count=1, require_bind=True)
        port = port_for(sim, transport)
        port.frames(3)  # hello and heartbeats: no run without a trainee
        port.source.write(bind("B20260001", "张伟"))
        run = port.frames(3, keep=run_frames)
        assert run[0]["t"] == "start" and run[0]["badge"] == "B20260001"
        assert (sim.badge, sim.name) == ("B20260001", "张伟")

    def test_faults_on_demand(
        self, transport: Transport, make_sim: MakeSim, port_for: Callable[..., Port]
    ) -> None:
        sim = make_sim(transport, count=1, require_bind=True, heartbeat=0.1)
        port = port_for(sim, transport)
        port.frames(1)
        sim.corrupt_next()
        port.frames(3)
        assert len(port.bad) == 1
        sim.garbage(3)
        port.frames(2)
        assert len(port.bad) == 4
        sim.duplicate_next()
        hb = port.frames(6)
        assert any(a == b for a, b in itertools.pairwise(hb))
        sim.flood(300)
        port.frames(300, timeout=3.0)  # heartbeats alone would take 30 s
        sim.hardware_fault()
        (fault,) = port.frames(1, keep=lambda f: f["t"] == "fault")
        assert fault["code"] in {c for c, _ in PROFILES["vr_pod"].faults}
        assert port.frames(1, keep=lambda f: f["t"] == "hb")[0]["state"] == "fault"

    def test_a_frozen_device_sends_nothing(
        self, transport: Transport, make_sim: MakeSim, port_for: Callable[..., Port]
    ) -> None:
        sim = make_sim(transport, heartbeat=0.05, require_bind=True)
        port = port_for(sim, transport)
        port.frames(2)
        sim.freeze(0.6)
        time.sleep(0.1)
        while port.source.read(0.01) is not None:
            pass  # what was on its way before the freeze
        began = time.monotonic()
        port.frames(1)
        assert time.monotonic() - began > 0.3

    def test_a_slow_link_runs_at_its_speed(
        self, transport: Transport, make_sim: MakeSim, port_for: Callable[..., Port]
    ) -> None:
        sim = make_sim(transport, heartbeat=0.05, require_bind=True)
        port = port_for(sim, transport)
        port.frames(2)
        sim.set_slow(1000)
        port.frames(2)  # let the change take effect
        began = time.monotonic()
        frames = port.frames(4)
        size = sum(len(str(f)) for f in frames)  # about the bytes on the wire
        assert time.monotonic() - began >= 0.7 * 3 * size / 4 / 1000

    def test_a_reboot_starts_a_new_boot_at_seq_1(
        self, transport: Transport, make_sim: MakeSim, port_for: Callable[..., Port]
    ) -> None:
        sim = make_sim(transport, require_bind=True)
        port = port_for(sim, transport)
        (first,) = port.frames(1)
        sim.reboot()
        (hello,) = port.frames(1, keep=lambda f: f["t"] == "hello")
        assert hello["boot"] != first["boot"] and hello["seq"] == 1
        assert sim.stats["boots"] == 2

    def test_a_pulled_cable_comes_back_and_the_device_greets_again(
        self, unpluggable: Transport, make_sim: MakeSim
    ) -> None:
        sim = make_sim(unpluggable, require_bind=True)
        url = unpluggable.gateway_url(sim.endpoint)
        port = Port(url)
        try:
            (hello,) = port.frames(1)
            sim.disconnect(0.3)
            assert_goes_away(port.source)
        finally:
            port.close()
        port = reopen(url)
        try:
            (again,) = port.frames(1, keep=lambda f: f["t"] == "hello")
            assert again["boot"] == hello["boot"] and again["seq"] > hello["seq"]
            assert sim.stats["hangups"] == 1
        finally:
            port.close()


def assert_goes_away(source: DeviceSource, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            source.read(0.05)
    except DeviceUnavailable:
        return
    pytest.fail("the port never went away")


def reopen(url: str, timeout: float = 5.0) -> Port:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return Port(url)
        except DeviceUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
