"""The in-process moving-window rate limit."""

from __future__ import annotations

from server.ratelimit import MovingWindow


class TestMovingWindow:
    def test_a_key_gets_its_limit_in_any_window_and_no_more(self) -> None:
        window = MovingWindow(60.0)
        assert [window.hit("a", 3, now=t) for t in (0.0, 10.0, 20.0, 30.0)] == [
            True,
            True,
            True,
            False,
        ]
        assert window.hit("a", 3, now=59.9) is False  # the first hit is still in the window
        assert window.hit("a", 3, now=60.0) is True  # it has left it
        assert window.hit("a", 3, now=61.0) is False  # 10, 20 and 60 are in 1 … 61

    def test_refused_hits_are_not_counted(self) -> None:
        window = MovingWindow(60.0)
        for t in range(100):
            window.hit("a", 2, now=float(t) / 10)
        assert window.hit("a", 2, now=60.0) is True  # only 0.0 and 0.1 were counted

    def test_keys_are_counted_apart(self) -> None:
        window = MovingWindow(60.0)
        assert window.hit("a", 1, now=0.0) and window.hit("b", 1, now=0.0)
        assert not window.hit("a", 1, now=1.0)

    def test_addresses_without_a_hit_in_the_window_are_forgotten(self) -> None:
        window = MovingWindow(60.0)
        for n in range(1000):
            window.hit(f"10.0.{n // 256}.{n % 256}", 60, now=0.0)
        assert len(window) == 1000
        window.hit("10.1.0.1", 60, now=61.0)
        assert len(window) == 1
