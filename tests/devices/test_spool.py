"""The gateway's spool: durable before ack, in arrival order, settled only by the server."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from devices.codec import device_frame
from devices.spool import Outcome, Spool, SpoolError, SpoolItem


def item(seq: int, dev: str = "VR-01", t: str = "step") -> SpoolItem:
    fields = {"step": "1", "ok": True, "at_ms": 0} if t == "step" else {"state": "idle"}
    frame = device_frame(t, dev, "1a2b3c4d", seq, scenario="NITR-RUNAWAY", **fields)
    return SpoolItem("VR-01", frame, "serial", "2026-11-23T02:00:00.000Z")


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    s = Spool(tmp_path / "spool.sqlite3")
    yield s
    s.close()


class TestSpool:
    def test_a_new_key_is_stored_a_repeated_one_is_not(self, spool: Spool) -> None:
        assert spool.store(item(1)) is True
        assert spool.store(item(1)) is False
        assert [p.key for p in spool.pending()] == ["VR-01:1a2b3c4d:1"]

    def test_many_at_once_in_one_commit_a_repeat_inside_is_a_duplicate(self, spool: Spool) -> None:
        before = spool.generation
        fresh = spool.store_many([item(1), item(2), item(1), item(3)])
        assert fresh == [True, True, False, True]
        assert spool.generation == before + 1
        assert spool.store_many([item(3), item(4)]) == [False, True]
        assert [p.key.split(":")[-1] for p in spool.pending()] == ["1", "2", "3", "4"]

    def test_pending_in_arrival_order_as_the_envelopes_to_post(self, spool: Spool) -> None:
        for seq in (5, 3, 9):
            spool.store(item(seq))
        pending = spool.pending()
        assert [p.key for p in pending] == [f"VR-01:1a2b3c4d:{s}" for s in (5, 3, 9)]
        assert pending[0].envelope == item(5).envelope()
        assert spool.pending(limit=2)[-1].key.endswith(":3")

    def test_what_was_stored_is_there_after_a_restart(self, tmp_path: Path) -> None:
        path = tmp_path / "spool.sqlite3"
        with Spool(path) as first:
            first.store(item(1))
        with closing(sqlite3.connect(path)) as raw:
            assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        with Spool(path) as again:
            assert [p.key for p in again.pending()] == ["VR-01:1a2b3c4d:1"]
            assert again.store(item(1)) is False

    def test_accepted_and_duplicate_leave_rejected_waits_aside(self, spool: Spool) -> None:
        for seq in (1, 2, 3, 4):
            spool.store(item(seq))
        keys = [p.key for p in spool.pending()]
        spool.settle(
            [
                Outcome(keys[0], "accepted"),
                Outcome(keys[1], "duplicate"),
                Outcome(keys[2], "rejected", "unknown_device"),
            ]
        )
        assert [p.key for p in spool.pending()] == [keys[3]]
        counts = spool.counts()
        assert (counts.pending, counts.rejected) == (1, 1)
        (rejected,) = spool.rejected()
        assert (rejected.key, rejected.reason) == (keys[2], "unknown_device")
        assert rejected.envelope["frame"]["seq"] == 3
        assert spool.state_of(keys[0]) == "delivered"
        assert spool.store(item(1)) is False  # a late retransmission is known here

    def test_a_rejected_item_can_be_sent_again(self, spool: Spool) -> None:
        spool.store(item(1))
        key = spool.pending()[0].key
        spool.settle([Outcome(key, "rejected", "unknown_scenario")])
        assert spool.pending() == []
        assert spool.requeue([key]) == 1
        assert [p.key for p in spool.pending()] == [key]
        assert spool.counts().rejected == 0

    def test_delivered_items_are_forgotten_after_a_while(self, spool: Spool) -> None:
        spool.store(item(1))
        spool.settle([Outcome(spool.pending()[0].key, "accepted")])
        assert spool.prune_delivered(dt.timedelta(hours=1)) == 0
        assert spool.prune_delivered(dt.timedelta(seconds=-1)) == 1
        assert spool.state_of("VR-01:1a2b3c4d:1") is None

    def test_many_stations_at_once_share_commits(self, spool: Spool) -> None:
        before = spool.generation
        results: list[bool] = []

        def station(dev: str) -> None:
            results.extend(spool.store(item(seq, dev)) for seq in range(1, 51))

        threads = [threading.Thread(target=station, args=(f"D{i}",)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results.count(True) == 1000
        assert spool.counts().pending == 1000
        assert spool.generation - before < 1000  # group commit: fewer commits than frames

    def test_a_locked_file_fails_the_write_with_a_spool_error(self, tmp_path: Path) -> None:
        path = tmp_path / "spool.sqlite3"
        with Spool(path, busy_timeout=0.1) as s:
            blocker = sqlite3.connect(path, isolation_level=None)
            blocker.execute("BEGIN IMMEDIATE")
            try:
                with pytest.raises(SpoolError, match="locked"):
                    s.store(item(1))
            finally:
                blocker.execute("ROLLBACK")
                blocker.close()
            assert s.store(item(1)) is True

    def test_closed_twice_and_then_refuses(self, tmp_path: Path) -> None:
        s = Spool(tmp_path / "spool.sqlite3")
        s.close()
        s.close()
        with pytest.raises(SpoolError, match="closed"):
            s.store(item(1))
        with pytest.raises(SpoolError):
            s.pending()

    def test_a_newer_schema_is_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "spool.sqlite3"
        with closing(sqlite3.connect(path)) as raw:
            raw.execute("PRAGMA user_version=99")
        with pytest.raises(SpoolError, match="newer"):
            Spool(path)
