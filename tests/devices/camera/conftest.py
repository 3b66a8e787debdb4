"""Fixtures of the camera tests: a leak check for frame sources, and a network camera.

The camera on the network is real HTTP: a server thread sends an MJPEG stream
(multipart/x-mixed-replace of JPEG frames), as IP cameras do, and OpenCV's FFmpeg reads it.
It can be stopped (the cable pulled) and started again on the same port.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np
import pytest

from devices.camera.sources import open_sources


@pytest.fixture(autouse=True)
def no_source_left_open() -> Iterator[None]:
    """Fail a test that leaves a frame source open (and close it, for the tests after it)."""
    before = set(open_sources())
    yield
    left = [source for source in open_sources() if source not in before]
    named = ", ".join(repr(source) for source in left)
    for source in left:
        source.close()
    if left:
        pytest.fail(f"frame sources left open: {named}")


class _Handler(BaseHTTPRequestHandler):
    server: _CameraHttpServer

    def do_GET(self) -> None:
        if self.path != "/stream.mjpg":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        self.end_headers()
        camera = self.server.camera
        try:
            while not camera.stopping.is_set():
                if camera.stalled.is_set():  # connected, but no picture comes
                    camera.stopping.wait(0.02)
                    continue
                jpeg = camera.jpeg()
                self.wfile.write(
                    b"--frame\r\nContent-Type: image/jpeg\r\n"
                    + f"Content-Length: {len(jpeg)}\r\n\r\n".encode()
                    + jpeg
                    + b"\r\n"
                )
                camera.sent += 1
                camera.stopping.wait(1 / camera.fps)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the reader went away

    def log_message(self, format: str, *args: object) -> None:
        pass


class _CameraHttpServer(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True  # server_close() waits for every open stream to end

    def __init__(self, camera: MjpegCamera, port: int) -> None:
        self.camera = camera
        super().__init__(("127.0.0.1", port), _Handler)


class MjpegCamera:
    """An IP camera serving http://127.0.0.1:PORT/stream.mjpg: grey frames of `shade`, so a test
    tells the frames of one run of the server from another's."""

    def __init__(self, fps: float = 50.0) -> None:
        self.fps = fps
        self.shade = 0
        self.sent = 0
        self.stopping = threading.Event()
        self.stalled = threading.Event()
        self.port = 0
        self._server: _CameraHttpServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"

    def jpeg(self) -> bytes:
        frame = np.full((120, 160, 3), self.shade, np.uint8)
        ok, data = cv2.imencode(".jpg", frame)
        assert ok
        return data.tobytes()

    def start(self, shade: int) -> None:
        self.shade = shade
        self.stopping.clear()
        self.stalled.clear()
        self._server = _CameraHttpServer(self, self.port)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="mjpeg-camera"
        )
        self._thread.start()

    def stop(self) -> None:
        """Pull the cable: open streams end and new connections are refused."""
        if self._server is None:
            return
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        assert self._thread is not None
        self._thread.join()
        self._server = None


@pytest.fixture
def mjpeg_camera() -> Iterator[MjpegCamera]:
    camera = MjpegCamera()
    camera.start(shade=60)
    yield camera
    camera.stop()
