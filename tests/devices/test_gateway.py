"""The gateway as a whole against a fake server that speaks the contract: nothing lost,
nothing doubled, in order, rejected items kept aside, batches of at most 500."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from devices.codec import device_frame
from devices.connection import Station
from devices.forwarder import Forwarder
from devices.gateway import Gateway
from devices.sim.device import SimDevice
from devices.sim.server import FakeServer
from devices.spool import Spool, SpoolItem
from tests.devices.kit import Transport, wait_for

TOKEN = "st_gateway_hall1"
MakeSim = Callable[..., SimDevice]

QUICK = {
    "heartbeat_interval": 0.2,
    "reconnect_initial": 0.05,
    "reconnect_cap": 0.4,
    "poll_interval": 0.05,
    "bindings_interval": 0.1,
    "forward_linger": 0.02,
    "forward_timeout": 0.5,
    "retry_initial": 0.05,
    "retry_cap": 0.3,
    "report_interval": 0.2,
    "synchronous": "NORMAL",
}
"""The gateway's clocks for tests."""


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer(token=TOKEN) as s:
        yield s


@pytest.fixture
def make_gateway(tmp_path: Path) -> Iterator[Callable[..., Gateway]]:
    made: list[Gateway] = []

    def make(stations: list[Station], server: FakeServer, **options: object) -> Gateway:
        settings = {"token": TOKEN, "status_port": 0, **QUICK, **options}
        gw = Gateway(
            stations,
            server_url=server.url,
            spool_path=tmp_path / "gateway.sqlite3",
            **settings,  # type: ignore[arg-type]
        )
        made.append(gw)
        gw.start()
        return gw

    yield make
    for gw in made:
        gw.stop()


@pytest.fixture
def hall(tmp_path: Path, make_sim: MakeSim) -> Callable[..., tuple[list[SimDevice], list[Station]]]:
    """A VR pod on a pty and a fall rig on TCP, as simulators, and their stations."""

    def make(**sim_options: object) -> tuple[list[SimDevice], list[Station]]:
        pty, tcp = Transport("pty", tmp_path), Transport("socket", tmp_path)
        pod = make_sim(pty, "vr_pod", "VR-01", **sim_options)
        rig = make_sim(tcp, "fall_rig", "FALL-01", **sim_options)
        stations = [
            Station("VR-01", pty.gateway_url(pod.endpoint), "vr_pod"),
            Station("FALL-01", tcp.gateway_url(rig.endpoint), "fall_rig"),
        ]
        return [pod, rig], stations

    return make


def all_done(sims: list[SimDevice], timeout: float = 15.0) -> None:
    for sim in sims:
        assert sim.wait_done(timeout), sim.summary()


def made_by(sims: list[SimDevice]) -> set[str]:
    return {k for s in sims for k in s.generated}


def drained(gw: Gateway) -> bool:
    return gw.spool.counts().pending == 0


class TestForwarding:
    def test_every_frame_reaches_the_server_once_in_each_devices_order(
        self, server: FakeServer, make_gateway: Callable[..., Gateway], hall: Callable[..., tuple]
    ) -> None:
        sims, stations = hall(count=2)
        gw = make_gateway(stations, server)
        all_done(sims)
        wait_for(lambda: drained(gw), what="the spool drained")
        assert set(server.order) == made_by(sims)
        assert len(server.order) == len(set(server.order))
        for sim in sims:
            assert [k for k in server.order if k.startswith(sim.dev + ":")] == sim.generated
        envelope = server.stored[sims[0].generated[-1]]
        assert envelope["station"] == "VR-01" and envelope["source"] == "serial"
        assert envelope["frame"]["t"] == "result" and envelope["received_at"].endswith("Z")

    def test_server_down_the_spool_grows_back_it_drains_in_order(
        self, server: FakeServer, make_gateway: Callable[..., Gateway], hall: Callable[..., tuple]
    ) -> None:
        server.stop()
        sims, stations = hall(count=2)
        gw = make_gateway(stations, server)
        all_done(sims)  # acked: the spool has them, the server does not
        waiting = [p.key for p in gw.spool.pending(10_000)]
        assert set(waiting) == made_by(sims)
        status = gw.status()
        assert status["spool"]["depth"] == len(waiting)
        assert status["server"]["last_error"] and status["server"]["consecutive_failures"] > 0
        assert server.order == []
        server.start()  # the same port: the server is back
        wait_for(lambda: drained(gw), what="the spool drained")
        assert server.order == waiting  # nothing lost, nothing doubled, in order
        assert gw.status()["server"]["last_error"] is None

    @pytest.mark.parametrize("trouble", ["500", "hang", "401"])
    def test_a_failing_server_changes_nothing_until_it_answers(
        self,
        server: FakeServer,
        make_gateway: Callable[..., Gateway],
        hall: Callable[..., tuple],
        trouble: str,
    ) -> None:
        if trouble == "500":
            server.fail_status = 500
        elif trouble == "hang":
            server.hang()
        sims, stations = hall(count=1)
        gw = make_gateway(stations, server, token=TOKEN if trouble != "401" else "st_wrong")
        all_done(sims)
        wait_for(lambda: gw.forwarder.failures >= 2, what="failed attempts")
        assert gw.spool.counts().pending == len(made_by(sims))
        expected = {"500": "HTTP 500", "hang": "Timeout", "401": "HTTP 401"}[trouble]
        assert expected in str(gw.forwarder.last_error)
        server.fail_status = None
        server.hang(False)
        server.token = TOKEN if trouble != "401" else "st_wrong"
        wait_for(lambda: drained(gw), what="the spool drained")
        assert set(server.order) == made_by(sims)
        assert len(server.order) == len(set(server.order))

    def test_rejected_items_are_kept_aside_until_sent_again(
        self, server: FakeServer, make_gateway: Callable[..., Gateway], hall: Callable[..., tuple]
    ) -> None:
        server.reject = lambda item: "unknown_device" if item["frame"]["t"] == "result" else None
        sims, stations = hall(count=2)
        gw = make_gateway(stations, server)
        all_done(sims)
        wait_for(lambda: drained(gw), what="the spool drained")
        results = {k for s in sims for k in s.generated if server.stored.get(k) is None}
        assert len(results) == 4  # two runs on each of two devices
        assert gw.spool.counts().rejected == 4 and gw.forwarder.rejected == 4
        assert gw.status()["spool"]["rejected"] == 4
        assert gw.status_server is not None
        page = httpx.get(f"{gw.status_server.url}/rejected").json()
        assert {(r["key"], r["reason"]) for r in page} == {(k, "unknown_device") for k in results}
        assert all(r["envelope"]["frame"]["t"] == "result" for r in page)
        server.reject = lambda item: None  # a person fixed the cause (registered the device)
        assert gw.spool.requeue() == 4
        wait_for(lambda: drained(gw), what="the requeued items delivered")
        assert set(server.order) == made_by(sims) and gw.spool.counts().rejected == 0


class TestBatches:
    def test_batches_hold_at_most_500_and_keep_the_order(
        self, server: FakeServer, tmp_path: Path
    ) -> None:
        with Spool(tmp_path / "s.sqlite3", synchronous="NORMAL") as spool:
            for seq in range(1, 1235):
                frame = device_frame(
                    "step", "VR-01", "1a2b3c4d", seq, scenario="NITR-RUNAWAY", step="1",
                    ok=True, at_ms=seq,
                )  # fmt: skip
                spool.store(SpoolItem("VR-01", frame))
            forwarder = Forwarder(spool, server.url, TOKEN, linger=0.0)
            try:
                while forwarder.send(spool.pending(500)):
                    if not spool.pending(1):
                        break
            finally:
                forwarder.stop()
            assert [len(b) for b in server.batches] == [500, 500, 234]
            assert server.order == [f"VR-01:1a2b3c4d:{seq}" for seq in range(1, 1235)]

    def test_an_answer_that_leaves_items_out_keeps_them_pending(self, tmp_path: Path) -> None:
        def answer(request: httpx.Request) -> httpx.Response:
            items = json.loads(request.content)["items"]
            first = items[0]["key"]  # answers only the first item, and in a list of its own
            return httpx.Response(200, json={"results": [{"key": first, "status": "accepted"}]})

        with Spool(tmp_path / "s.sqlite3", synchronous="NORMAL") as spool:
            for seq in (1, 2, 3):
                spool.store(SpoolItem("VR-01", device_frame("fault", "VR-01", "1a2b3c4d", seq,
                                                            code="gpu_overheat", msg="")))  # fmt: skip
            forwarder = Forwarder(
                spool, "http://server", TOKEN, transport=httpx.MockTransport(answer)
            )
            try:
                assert forwarder.send(spool.pending()) is False
            finally:
                forwarder.stop()
            assert [p.key for p in spool.pending()] == ["VR-01:1a2b3c4d:2", "VR-01:1a2b3c4d:3"]
            assert "left unanswered" in str(forwarder.last_error)


class TestBindings:
    def test_no_bindings_endpoint_yet_then_bindings_reach_the_devices(
        self, server: FakeServer, make_gateway: Callable[..., Gateway], hall: Callable[..., tuple]
    ) -> None:
        server.bindings = None  # a server without the endpoint: 404
        sims, stations = hall(require_bind=True)
        pod, rig = sims
        gw = make_gateway(stations, server)
        wait_for(lambda: gw.bindings.endpoint_missing and pod.stats["binds"] >= 1, what="404")
        assert pod.badge is None and gw.bindings.last_error is None
        server.bindings = [
            {"station": "VR-01", "trainee_id": 7, "badge": "B20260007", "name": "张伟"},
            {"station": "VR-99", "trainee_id": 8, "badge": "B20260008", "name": "另一厅"},
        ]
        wait_for(lambda: pod.badge == "B20260007", what="the pod bound")
        assert pod.name == "张伟" and rig.badge is None
        wait_for(lambda: pod.runs_started >= 1, what="a run for the bound trainee")
        server.bindings = []
        wait_for(lambda: pod.badge is None, what="the pod unbound")
        status = gw.status()["stations"][0]
        assert status["binding"] == {"badge": None, "name": None}


class TestStatus:
    def test_the_status_page_shows_devices_frames_and_spool(
        self, server: FakeServer, make_gateway: Callable[..., Gateway], hall: Callable[..., tuple]
    ) -> None:
        sims, stations = hall(count=1)
        gw = make_gateway(stations, server, name="hall1")
        all_done(sims)
        wait_for(lambda: drained(gw), what="the spool drained")
        sims[1].stop()  # the rig goes away: its port closes
        assert gw.status_server is not None
        wait_for(
            lambda: httpx.get(f"{gw.status_server.url}/status").json()["devices"]["online"] == 1,
            what="one device offline",
        )
        page = httpx.get(f"{gw.status_server.url}/status").json()
        assert page["gateway"] == "hall1" and page["devices"] == {
            "total": 2,
            "online": 1,
            "offline": 1,
        }
        pod, rig = page["stations"]
        assert (pod["station"], pod["online"], pod["link"]) == ("VR-01", True, "up")
        assert (rig["station"], rig["online"]) == ("FALL-01", False)
        assert pod["frames_ok"] > len(sims[0].generated) and pod["frames_bad"] == 0
        assert pod["last_seen"] and pod["dev"] == "VR-01" and pod["ack_latency_ms"]["n"] > 0
        assert page["spool"]["depth"] == 0 and page["spool"]["rejected"] == 0
        assert page["frames_ok"] == pod["frames_ok"] + rig["frames_ok"]
        assert httpx.get(f"{gw.status_server.url}/nothing").status_code == 404
        assert "online" in gw.summary() and "spool depth 0" in gw.summary()
        wait_for(lambda: len(server.reports) >= 2, what="the gateway's reports to the server")
        report = server.reports[-1]
        assert report["gateway"] == "hall1" and report["spool_depth"] == 0
        assert [d["station"] for d in report["devices"]] == ["VR-01", "FALL-01"]


class TestCameras:
    def test_an_exam_seat_camera_runs_its_recorder_and_stops_with_the_gateway(
        self, server: FakeServer, make_gateway: Callable[..., Gateway], tmp_path: Path
    ) -> None:
        """The recorder asks the server for open exams at its seat; this server has no such
        endpoint, so it records nothing — and says so — while its camera stays live."""
        from devices.camera.config import CameraConfig

        seat = CameraConfig(
            name="EXAM-01-record",
            station="EXAM-01",
            url="sim://test-pattern?width=320&height=240&fps=10",
            reads="record",
        )
        gw = make_gateway([], server, cameras=[seat])
        assert gw.status_server is not None
        wait_for(
            lambda: (
                httpx.get(f"{gw.status_server.url}/status").json()["cameras"][0]["state"] == "live"
            ),
            what="the seat's camera live",
        )
        (camera,) = httpx.get(f"{gw.status_server.url}/status").json()["cameras"]
        assert (camera["station"], camera["reads"]) == ("EXAM-01", "record")
        wait_for(
            lambda: gw.camera("EXAM-01-record").status()["recorder"]["last_error"] is not None,
            what="the recorder's first poll",
        )
        assert gw.camera("EXAM-01-record").status()["recorder"]["recording"] is None
        assert (tmp_path / "gateway.recordings" / "EXAM-01").is_dir()
