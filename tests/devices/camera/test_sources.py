"""Frame sources by URL: every backend read for real (generated video files and folders, an HTTP
MJPEG stream from a server thread, the simulated camera), and the URLs they refuse."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from cv2.typing import MatLike

from devices.camera.sim.scenes import (
    BAR_WIDTH,
    SCENES,
    Render,
    bar_x,
    moving_bar,
    register_scene,
)
from devices.camera.sim.video import write_video
from devices.camera.sources import (
    BadSourceUrl,
    CameraError,
    CameraUnavailable,
    Captured,
    FrameSource,
    SourceEnded,
    open_source,
    open_sources,
)
from tests.devices.camera.conftest import MjpegCamera
from tests.devices.kit import wait_for

WIDTH, HEIGHT = 320, 240


def pattern(count: int) -> Iterator[MatLike]:
    render = moving_bar({"width": str(WIDTH), "height": str(HEIGHT)})
    return (render(i / 30, i) for i in range(count))


def bar_seen(frame: MatLike) -> int:
    """Where the test pattern's bar is in `frame`: the left edge of the bright columns."""
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    columns = grey[: grey.shape[0] // 2].mean(axis=0)
    return int(np.flatnonzero(columns > 150)[0])


def read_all(source: FrameSource, limit: int = 10_000) -> list[Captured]:
    """Every frame up to the end, which must come as SourceEnded (and each read brings one)."""
    frames: list[Captured] = []
    for _ in range(limit):
        try:
            captured = source.read()
        except SourceEnded:
            return frames
        assert captured is not None
        frames.append(captured)
    pytest.fail(f"{source} did not end within {limit} frames")


@pytest.fixture
def video(tmp_path: Path) -> Path:
    path = tmp_path / "pattern.avi"
    assert write_video(path, pattern(24), fps=30) == 24
    return path


class TestVideoFile:
    def test_a_file_is_read_to_the_end_frame_by_frame(self, video: Path) -> None:
        with open_source(str(video)) as source:
            assert source.fps == pytest.approx(30)
            frames = read_all(source)
            assert source.state == "ended"
            with pytest.raises(SourceEnded):
                source.read()  # and stays ended
        assert [c.index for c in frames] == list(range(24))
        assert [bar_seen(c.frame) for c in frames] == [bar_x(i, WIDTH) for i in range(24)]
        assert frames[0].frame.shape == (HEIGHT, WIDTH, 3)
        assert frames[0].frame.dtype == np.uint8

    def test_an_mp4_file_reads_the_same(self, tmp_path: Path) -> None:
        path = tmp_path / "pattern.mp4"
        write_video(path, pattern(12), fps=25)
        with open_source(f"file://{path}") as source:
            assert source.fps == pytest.approx(25)
            frames = read_all(source)
        assert [abs(bar_seen(c.frame) - bar_x(i, WIDTH)) <= 1 for i, c in enumerate(frames)] == [
            True
        ] * 12

    def test_loop_starts_again_at_the_end(self, video: Path) -> None:
        with open_source(f"{video}?loop=1") as source:
            frames = [source.read() for _ in range(60)]
        assert all(c is not None for c in frames)
        seen = [bar_seen(c.frame) for c in frames if c is not None]
        assert seen == [bar_x(i % 24, WIDTH) for i in range(60)]
        assert [c.index for c in frames if c is not None] == list(range(60))

    def test_realtime_is_paced_at_the_files_frame_rate(self, tmp_path: Path) -> None:
        path = tmp_path / "slow.avi"
        write_video(path, pattern(10), fps=20)
        with open_source(str(path), realtime=True) as source:
            start = time.monotonic()
            frames = read_all(source)
            elapsed = time.monotonic() - start
        assert len(frames) == 10
        assert elapsed >= 9 / 20 / 2  # not faster than half the file's rate

    def test_by_default_frames_come_as_fast_as_they_are_read(self, tmp_path: Path) -> None:
        path = tmp_path / "slow.avi"
        write_video(path, pattern(30), fps=2)  # 15 s of video
        with open_source(str(path)) as source:
            start = time.monotonic()
            assert len(read_all(source)) == 30
            assert time.monotonic() - start < 5

    def test_a_realtime_read_with_a_short_timeout_returns_none_before_the_frame_is_due(
        self, tmp_path: Path
    ) -> None:
        path = tmp_path / "slow.avi"
        write_video(path, pattern(3), fps=2)
        with open_source(f"{path}?realtime=1") as source:
            assert source.read() is not None
            assert source.read(timeout=0.05) is None
            following = source.read(timeout=1.0)
        assert following is not None
        assert following.index == 1

    def test_a_missing_file_is_named(self, tmp_path: Path) -> None:
        with pytest.raises(CameraUnavailable, match="no such video file") as caught:
            open_source(str(tmp_path / "nothing.mp4"))
        assert "找不到视频文件" in str(caught.value)

    def test_a_file_that_is_not_a_video_is_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "notes.mp4"
        path.write_text("not a video")
        with pytest.raises(CameraUnavailable, match="cannot decode"):
            open_source(str(path))

    def test_a_file_url_needs_an_absolute_path(self) -> None:
        with pytest.raises(BadSourceUrl, match=r"file:///"):
            open_source("file://videos/demo.mp4")


class TestWriteVideo:
    def test_other_suffixes_are_refused(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match=r"\.avi"):
            write_video(tmp_path / "clip.mkv", pattern(2))


def write_images(folder: Path, names: list[str]) -> None:
    folder.mkdir(exist_ok=True)
    render = moving_bar({"width": str(WIDTH), "height": str(HEIGHT)})
    for name in names:
        index = int(name.split(".")[0].split("_")[1])
        assert cv2.imwrite(str(folder / name), render(0, index))


class TestFolder:
    def test_images_come_in_name_order_and_other_files_are_left_out(self, tmp_path: Path) -> None:
        folder = tmp_path / "shots"
        write_images(folder, ["f_03.png", "f_01.jpg", "f_00.bmp", "f_02.PNG"])
        (folder / "notes.txt").write_text("not an image")
        (folder / "sub.png").mkdir()
        with open_source(str(folder)) as source:  # a plain directory path
            frames = read_all(source)
        assert [bar_seen(c.frame) for c in frames] == [bar_x(i, WIDTH) for i in range(4)]

    def test_dir_url_with_loop(self, tmp_path: Path) -> None:
        write_images(tmp_path / "shots", ["f_00.png", "f_01.png"])
        with open_source(f"dir://{tmp_path / 'shots'}?loop=1") as source:
            seen = [bar_seen(c.frame) for _ in range(5) if (c := source.read()) is not None]
        assert seen == [bar_x(i % 2, WIDTH) for i in range(5)]

    def test_fps_paces_the_images(self, tmp_path: Path) -> None:
        write_images(tmp_path / "shots", [f"f_{i:02d}.png" for i in range(6)])
        with open_source(f"{tmp_path / 'shots'}?fps=20") as source:
            assert source.fps == 20
            start = time.monotonic()
            assert len(read_all(source)) == 6
            assert time.monotonic() - start >= 5 / 20 / 2

    def test_an_empty_folder_is_refused(self, tmp_path: Path) -> None:
        (tmp_path / "empty").mkdir()
        with pytest.raises(CameraUnavailable, match=r"no \.png, \.jpg or \.bmp"):
            open_source(f"dir://{tmp_path / 'empty'}")

    def test_a_missing_folder_is_named(self, tmp_path: Path) -> None:
        with pytest.raises(CameraUnavailable, match="no such folder"):
            open_source(f"dir://{tmp_path / 'gone'}")


class TestStream:
    def test_frames_flow_from_an_http_mjpeg_stream(self, mjpeg_camera: MjpegCamera) -> None:
        with open_source(mjpeg_camera.url) as source:
            frames = [source.read(timeout=5) for _ in range(5)]
            assert source.state == "live"
            assert source.problem is None
        assert all(c is not None for c in frames)
        assert [c.index for c in frames if c is not None] == [0, 1, 2, 3, 4]
        for captured in frames:
            assert captured is not None
            assert captured.frame.shape == (120, 160, 3)
            assert abs(float(captured.frame.mean()) - 60) < 3
            assert abs(captured.at - time.time()) < 5

    def test_a_dropped_stream_is_reopened_and_comes_back_live(
        self, mjpeg_camera: MjpegCamera
    ) -> None:
        with open_source(f"{mjpeg_camera.url}#retry=0.05&retry_max=0.2") as source:
            assert source.read(timeout=5) is not None
            mjpeg_camera.stop()
            wait_for(lambda: source.state == "reconnecting", what="the source to notice")
            assert "stopped delivering" in (source.problem or "")
            source.read(timeout=0.1)  # a frame left over from before the cut, if any
            assert source.read(timeout=0.3) is None  # no frames, and no exception either
            assert source.state == "reconnecting"
            assert "cannot open the stream" in (source.problem or "")

            mjpeg_camera.start(shade=200)
            after = source.read(timeout=5)
            while after is not None and float(after.frame.mean()) < 130:
                after = source.read(timeout=5)  # the last frames of the first run
            assert after is not None
            assert abs(float(after.frame.mean()) - 200) < 3
            assert source.state == "live"
            assert source.problem is None

    def test_a_stream_that_stalls_is_reopened(self, mjpeg_camera: MjpegCamera) -> None:
        with open_source(f"{mjpeg_camera.url}#timeout=0.5&retry=0.05") as source:
            assert source.read(timeout=5) is not None
            mjpeg_camera.stalled.set()
            wait_for(lambda: source.state == "reconnecting", what="the read to time out")
            mjpeg_camera.stalled.clear()
            wait_for(lambda: source.state == "live", what="the stream to be reopened")
            assert source.read(timeout=5) is not None

    def test_a_stream_that_is_not_there_keeps_trying(self, mjpeg_camera: MjpegCamera) -> None:
        mjpeg_camera.stop()
        with open_source(mjpeg_camera.url, retry=0.05) as source:
            assert source.read(timeout=0.3) is None
            assert source.state == "connecting"
            assert "无法打开视频流 / cannot open the stream" in (source.problem or "")

    def test_the_cameras_own_query_is_sent_and_a_password_is_not_shown(self) -> None:
        with open_source("rtsp://admin:secret@127.0.0.1:9/live?channel=1#retry=5") as source:
            assert source.target == "rtsp://admin:secret@127.0.0.1:9/live?channel=1"
            wait_for(lambda: source.problem is not None, what="the first attempt")
            assert "secret" not in (source.problem or "")
            assert "secret" not in repr(source)
            assert "admin:***@127.0.0.1:9" in (source.problem or "")


class TestLocalCamera:
    def test_a_missing_camera_says_so_and_keeps_trying(self) -> None:
        if Path("/dev/video7").exists():
            pytest.skip("this machine has a /dev/video7")
        with open_source("cam://7?width=640&height=480&retry=0.05") as source:
            wait_for(lambda: source.problem is not None, what="the first attempt")
            assert source.state == "connecting"
            assert "没有摄像头 7 / no camera 7" in (source.problem or "")
            assert source.read(timeout=0.1) is None

    def test_a_camera_is_named_by_index_or_device_path(self) -> None:
        with pytest.raises(BadSourceUrl, match="camera index or a device path"):
            open_source("cam://front")


class TestSimCamera:
    def test_the_test_pattern_moves_its_bar_and_counts_frames(self) -> None:
        with open_source("sim://test-pattern?width=320&height=240&realtime=0") as source:
            frames = [source.read() for _ in range(5)]
        assert [bar_seen(c.frame) for c in frames if c is not None] == [
            bar_x(i, 320) for i in range(5)
        ]
        assert frames[0] is not None
        assert frames[0].frame.shape == (240, 320, 3)
        assert BAR_WIDTH < 320

    def test_frames_are_paced_at_the_fps_asked(self) -> None:
        with open_source("sim://test-pattern?fps=40&frames=9") as source:
            assert source.fps == 40
            start = time.monotonic()
            assert len(read_all(source)) == 9
            assert time.monotonic() - start >= 8 / 40 / 2

    def test_a_condition_degrades_the_picture_the_same_for_the_same_seed(self) -> None:
        def first(url: str) -> MatLike:
            with open_source(url) as source:
                captured = source.read()
            assert captured is not None
            return captured.frame

        clean = first("sim://test-pattern?realtime=0")
        moderate = first("sim://test-pattern?realtime=0&condition=moderate&seed=3")
        again = first("sim://test-pattern?realtime=0&condition=moderate&seed=3")
        assert cv2.absdiff(clean, moderate).mean() > 2
        assert np.array_equal(moderate, again)

    def test_a_registered_scene_is_shown_with_its_own_options(self) -> None:
        def solid(options: dict[str, str]) -> Render:
            shade = int(options.pop("shade"))
            return lambda t, index: np.full((48, 64, 3), shade, np.uint8)

        register_scene("solid-test", solid, url_format="sim://solid-test?shade=N")
        try:
            with open_source("sim://solid-test?realtime=0", shade=77) as source:
                captured = source.read()
            assert captured is not None
            assert int(captured.frame.mean()) == 77
            with pytest.raises(BadSourceUrl, match=r"unknown option tint.*sim://solid-test"):
                open_source("sim://solid-test?shade=1&tint=red")
        finally:
            del SCENES["solid-test"]

    def test_an_unknown_scene_lists_the_known_ones(self) -> None:
        with pytest.raises(BadSourceUrl, match=r"no scene 'kiln'.*pod, rig, test-pattern"):
            open_source("sim://kiln")

    def test_a_bad_scene_option_is_named(self) -> None:
        with pytest.raises(BadSourceUrl, match="width=5"):
            open_source("sim://test-pattern?width=5")


class TestUrls:
    @pytest.mark.parametrize(
        ("url", "format_part"),
        [
            ("sim://test-pattern?colour=red", "sim://test-pattern?width="),
            ("cam://0?exposure=3", "cam://INDEX"),
            ("rtsp://127.0.0.1/live#latency=1", "options after #"),
            ("{video}?speed=2", "file:///PATH"),
            ("dir://{folder}?recursive=1", "dir:///DIR"),
        ],
    )
    def test_an_unknown_option_is_named_and_the_format_quoted(
        self, url: str, format_part: str, video: Path, tmp_path: Path
    ) -> None:
        write_images(tmp_path / "shots", ["f_00.png"])
        url = url.format(video=video, folder=tmp_path / "shots")
        with pytest.raises(BadSourceUrl) as caught:
            open_source(url)
        message = str(caught.value)
        assert "未知选项 / unknown option" in message
        assert url.split("?")[-1].split("#")[-1].split("=")[0] in message
        assert "URL 格式 / URL format" in message
        assert format_part in message

    @pytest.mark.parametrize(
        "url",
        ["sim://test-pattern?fps=0", "sim://test-pattern?fps=fast", "{video}?loop=maybe"],
    )
    def test_a_bad_value_is_named(self, url: str, video: Path) -> None:
        url = url.format(video=video)
        option = url.split("?")[1]
        with pytest.raises(BadSourceUrl, match=f"bad option {option}"):
            open_source(url)

    def test_an_option_given_twice_is_refused(self) -> None:
        with pytest.raises(BadSourceUrl, match="given twice"):
            open_source("sim://test-pattern?fps=5&fps=6")

    def test_an_unknown_scheme_lists_the_known_ones(self) -> None:
        with pytest.raises(BadSourceUrl, match=r"no camera backend for ftp://.*rtsp://"):
            open_source("ftp://camera/1")

    def test_a_bad_url_is_also_a_value_error(self) -> None:
        with pytest.raises(ValueError, match="unknown option"):
            open_source("sim://test-pattern?x=1")

    def test_keyword_options_are_checked_like_the_urls(self) -> None:
        with pytest.raises(BadSourceUrl, match="unknown option speed"):
            open_source("sim://test-pattern", speed=2)


class TestLifecycle:
    @pytest.mark.parametrize("url", ["sim://test-pattern", "{video}", "{stream}"])
    def test_close_twice_and_read_after_close(
        self, url: str, video: Path, mjpeg_camera: MjpegCamera
    ) -> None:
        source = open_source(url.format(video=video, stream=mjpeg_camera.url))
        assert source in open_sources()
        source.close()
        source.close()
        assert source.state == "closed"
        assert source.closed
        assert source not in open_sources()
        with pytest.raises(CameraError, match="closed"):
            source.read()

    def test_the_context_manager_closes_the_source(self, mjpeg_camera: MjpegCamera) -> None:
        with open_source(mjpeg_camera.url) as source:
            assert source.read(timeout=5) is not None
        assert source.state == "closed"

    def test_a_read_waiting_on_a_live_source_ends_when_it_is_closed(self) -> None:
        source = open_source("rtsp://127.0.0.1:9/none#retry=5")
        closer = threading.Timer(0.2, source.close)
        closer.start()
        start = time.monotonic()
        with pytest.raises(CameraError, match="closed"):
            source.read(timeout=5)
        assert time.monotonic() - start < 2
        # The read ends as soon as close() begins; close() itself still joins the reader thread
        # (under load FFmpeg may still be connecting). Wait for it before the leak check looks.
        closer.join(timeout=30)
        assert not closer.is_alive()
