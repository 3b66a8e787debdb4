"""The serial backend over every transport: a pty, a TCP socket, pyserial's loop (crossed).

One suite, run against each (the `transport` fixture): the device's end writes bytes, the
gateway's `SerialSource` reads frames; and the other way round.
"""

from __future__ import annotations

import itertools
import os
import random
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import serial

from devices.backends.serial import SerialSource
from devices.codec import GATEWAY_TYPES, ack, bind, device_frame, encode
from devices.errors import DeviceError, DeviceUnavailable, MalformedFrame
from devices.framing import QueuedFrameReader
from devices.sim.endpoints import Endpoint
from devices.source import open_source
from tests.devices.kit import Transport, wait_for


class Wire:
    """Both ends of one link: the device's raw endpoint and the gateway's source."""

    def __init__(self, transport: Transport) -> None:
        self._wake_r, self._wake_w = os.pipe()
        self.device: Endpoint = transport.endpoint(self._wake_r)
        self.source = open_source(transport.gateway_url(self.device), poll_interval=0.05)
        # The device's end sees its peer once the gateway's port is open.
        wait_for(lambda: self.device.read(0.01) is not None, what="the gateway on the line")
        self.reader = QueuedFrameReader(GATEWAY_TYPES)

    def device_frames(self, n: int, timeout: float = 5.0) -> list[object]:
        def enough() -> bool:
            data = self.device.read(0.02)
            if data:
                self.reader.data_received(data)
            return len(self.reader.queue) >= n

        wait_for(enough, timeout, f"{n} frames at the device")
        return [self.reader.queue.popleft() for _ in range(n)]

    def send_while_reading(self, data: bytes, chunks: Iterator[int], n: int) -> list[object]:
        """Write from the device's end in its own thread (as a device would) while reading."""
        done: list[bool] = []

        def write() -> None:
            i = 0
            while i < len(data):
                size = next(chunks)
                if not self.device.write(data[i : i + size]):
                    return
                i += size
            done.append(True)

        writer = threading.Thread(target=write)
        writer.start()
        try:
            return self.read_frames(n, timeout=30)
        finally:
            writer.join()
            assert done, "the device's writes stalled"

    def read_frames(self, n: int, timeout: float = 10.0) -> list[object]:
        got: list[object] = []
        deadline = time.monotonic() + timeout
        while len(got) < n:
            if time.monotonic() > deadline:
                pytest.fail(f"{len(got)} of {n} frames at the gateway after {timeout} s")
            try:
                frame = self.source.read(0.05)
            except MalformedFrame as bad:
                got.append(bad)
            else:
                if frame is not None:
                    got.append(frame)
        return got

    def close(self) -> None:
        self.source.close()
        self.device.close()
        os.close(self._wake_r)
        os.close(self._wake_w)


@pytest.fixture
def wire(transport: Transport) -> Iterator[Wire]:
    w = Wire(transport)
    yield w
    w.close()


def frames(n: int) -> list[dict[str, object]]:
    return [
        device_frame(
            "step", "VR-03", "1a2b3c4d", i + 1, scenario="NITR-RUNAWAY", step="2", ok=True, at_ms=i
        )
        for i in range(n)
    ]


class TestSerialSource:
    def test_frames_written_in_odd_chunks_arrive_in_order(self, wire: Wire) -> None:
        sent = frames(500)
        rng = random.Random(3)
        chunks = iter(lambda: rng.randrange(1, 400), None)
        got = wire.send_while_reading(b"".join(encode(f) for f in sent), chunks, 500)
        assert got == sent

    def test_a_frame_from_the_gateway_reaches_the_device(self, wire: Wire) -> None:
        wire.source.write(ack(17))
        wire.source.write(bind("B0001", "张伟"))
        assert wire.device_frames(2) == [ack(17), bind("B0001", "张伟")]

    def test_bad_lines_are_raised_one_by_one_and_reading_goes_on(self, wire: Wire) -> None:
        good = encode(frames(1)[0])
        wire.device.write(b"\x00\xffnoise\r\n" + good[:-4] + b"\r\n" + good)
        wire.device.write(b"A" * 3000 + b"\r\n" + good)
        got = wire.read_frames(5)
        reasons = [g.reason if isinstance(g, MalformedFrame) else "ok" for g in got]
        assert reasons == ["no_separator", "bad_crc_format", "ok", "too_long", "ok"]
        assert wire.source.counts["ok"] == 2 and wire.source.counts["bad"] == 3

    def test_read_times_out_with_none(self, wire: Wire) -> None:
        assert wire.source.read(0.05) is None

    def test_close_twice_then_read_and_write_say_unavailable(self, wire: Wire) -> None:
        wire.source.close()
        wire.source.close()
        assert wire.source.closed
        with pytest.raises(DeviceUnavailable):
            wire.source.read(0.01)
        with pytest.raises(DeviceUnavailable):
            wire.source.write(ack(1))

    def test_three_thousand_frames_back_to_back(self, wire: Wire) -> None:
        sent = frames(3000)
        got = wire.send_while_reading(
            b"".join(encode(f) for f in sent), itertools.repeat(8192), 3000
        )
        assert got == sent


class TestLinkLost:
    def test_the_far_end_going_raises_unavailable(self, unpluggable: Transport) -> None:
        w = Wire(unpluggable)
        try:
            w.device.hang_up()
            with pytest.raises(DeviceUnavailable):
                w.source.read(2.0)
        finally:
            w.close()


class TestOpen:
    def test_context_manager_closes(self, transport: Transport) -> None:
        w = Wire(transport)
        try:
            with w.source as s:
                assert not s.closed
            assert s.closed
        finally:
            w.close()

    def test_a_missing_port_is_unavailable_from_pyserial(self, tmp_path: object) -> None:
        with pytest.raises(DeviceUnavailable) as caught:
            open_source("/dev/ttyUSB-not-here")
        assert isinstance(caught.value.__cause__, serial.SerialException)

    def test_a_refused_socket_is_unavailable(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with pytest.raises(DeviceUnavailable):
            open_source(f"socket://127.0.0.1:{port}")

    @pytest.mark.parametrize(
        "url", ["/dev/ttyUSB0?baud=9600", "socket://127.0.0.1:9?speed=fast", "loop://?x=1"]
    )
    def test_unknown_options_are_refused_quoting_the_format(self, url: str) -> None:
        with pytest.raises(DeviceError, match="URL format: a device path") as caught:
            open_source(url)
        assert not isinstance(caught.value, DeviceUnavailable)

    def test_unknown_scheme_names_the_known_ones(self) -> None:
        with pytest.raises(DeviceError, match=r"no device backend for ftp://.*socket://"):
            open_source("ftp://example.com/x")

    def test_pyserial_loop_url_reads_back_what_it_wrote(self) -> None:
        with SerialSource("loop://", poll_interval=0.05) as s:
            s.write(device_frame("hb", "VR-03", "1a2b3c4d", 5, state="idle"))
            assert s.read(1.0) == device_frame("hb", "VR-03", "1a2b3c4d", 5, state="idle")

    def test_backend_module_is_imported_only_when_used(self) -> None:
        import subprocess
        import sys

        code = (
            "import sys, devices.source;"
            "assert 'devices.backends.serial' not in sys.modules;"
            "assert 'serial' not in sys.modules;"
            "devices.source.open_source('loop://').close();"
            "assert 'devices.backends.serial' in sys.modules"
        )
        subprocess.run([sys.executable, "-c", code], check=True)
