"""Delivery against a real receiver on 127.0.0.1: in order, at least once, signed, retried."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session

from server.certificates import signing
from server.config import Settings
from server.db import make_engine, utcnow
from server.outbox import service
from server.outbox.deliver import Deliverer, backoff
from server.outbox.models import OutboxState
from tests.server.outbox.conftest import (
    ADMIN,
    assert_in_order,
    drain,
    outbox_rows,
    push_settings,
)
from tests.server.outbox.receiver import Receiver


class TestDelivery:
    def test_every_event_arrives_once_in_seq_order_signed_with_the_published_key(
        self,
        engine: Engine,
        deliverer: Deliverer,
        receiver: Receiver,
        five_changes: list[str],
    ) -> None:
        drain(deliverer)
        assert receiver.keys() == five_changes  # each exactly once
        assert_in_order(receiver, five_changes)
        rows = outbox_rows(engine)
        assert {r.state for r in rows} == {OutboxState.delivered}
        assert all(r.attempts == 1 and r.delivered_at is not None for r in rows)
        first = receiver.arrivals[0]
        # What a receiver does: put the body between the detached signature's dots, verify.
        header, _, signature = first.signature.partition("..")  # type: ignore[union-attr]
        token = f"{header}.{signing.b64url(first.body)}.{signature}"
        verified = signing.verify_document(token, receiver.jwks, typ="safetrain-push+jws")
        assert verified.payload["certificate"]["document"].count(".") == 2
        assert [a.event["seq"] for a in receiver.arrivals] == [r.seq for r in rows]

    def test_a_failing_receiver_blocks_the_queue_until_it_recovers(
        self,
        engine: Engine,
        deliverer: Deliverer,
        receiver: Receiver,
        five_changes: list[str],
    ) -> None:
        receiver.script.extend(["ok", "fail", "fail", "fail"])  # the second event fails 3 times
        seen_while_failing: list[list[str | None]] = []

        def look(_run: object) -> None:
            rows = outbox_rows(engine)
            if rows[1].state != OutboxState.delivered:
                seen_while_failing.append(receiver.keys())

        drain(deliverer, between=look)
        assert_in_order(receiver, five_changes)
        assert receiver.keys()[:5] == [five_changes[0], *[five_changes[1]] * 4]
        # While the second was failing nothing behind it was sent.
        assert seen_while_failing
        assert all(set(keys) <= set(five_changes[:2]) for keys in seen_while_failing)
        second = outbox_rows(engine)[1]
        assert second.attempts == 4 and second.last_status == 200
        assert second.last_error_code == "server_error" and "HTTP 500" in (second.last_error or "")

    def test_a_receiver_that_hangs_past_the_timeout_gets_the_event_again(
        self,
        engine: Engine,
        deliverer: Deliverer,
        receiver: Receiver,
        five_changes: list[str],
    ) -> None:
        receiver.script.extend(["hang"])
        run = deliverer.run()
        assert run.failed and run.delivered == 0
        head = outbox_rows(engine)[0]
        assert head.state == OutboxState.pending and head.last_error_code == "timeout"
        assert head.last_status is None
        drain(deliverer)
        # It had arrived (the receiver just did not answer): the resend is a duplicate by key.
        assert receiver.keys()[:2] == [five_changes[0], five_changes[0]]
        assert_in_order(receiver, five_changes)

    def test_a_stopped_receiver_refuses_and_delivery_resumes_when_it_is_back(
        self,
        engine: Engine,
        deliverer: Deliverer,
        receiver: Receiver,
        five_changes: list[str],
    ) -> None:
        receiver.script.extend(["ok", "ok"])
        assert deliverer.run(max_events=2).delivered == 2
        receiver.stop()
        for _ in range(3):
            run = deliverer.run(force=True)
            assert run.failed and run.stopped_at == outbox_rows(engine)[2].seq
        third = outbox_rows(engine)[2]
        assert third.attempts == 3 and third.last_error_code == "connection"
        receiver.start()  # the same port
        drain(deliverer)
        assert receiver.keys() == five_changes  # refused connections delivered nothing
        assert_in_order(receiver, five_changes)

    def test_a_rejected_event_blocks_and_waits_for_someone_to_retry(
        self,
        engine: Engine,
        session: Session,
        db_url: str,
        keys_dir: Path,
        receiver: Receiver,
        five_changes: list[str],
    ) -> None:
        # A long backoff cap: a rejected event is not tried again on its own for an hour.
        hourly = push_settings(
            db_url, keys_dir, receiver.url, regulator_push_max_backoff_seconds=3600
        )
        receiver.mode = "reject"
        with Deliverer(engine, hourly) as deliverer:
            run = deliverer.run()
            assert run.failed
            head = outbox_rows(engine)[0]
            assert head.state == OutboxState.rejected and head.last_status == 400
            assert head.next_attempt_at is not None
            assert head.next_attempt_at > utcnow() + dt.timedelta(minutes=59)
            for _ in range(3):
                assert deliverer.run().stopped_at == head.seq  # blocked, not sent again
            assert len(receiver.arrivals) == 1
            session.rollback()
            state = service.status(session, hourly)
            assert state.blocked and state.counts.rejected == 1 and state.counts.waiting == 4
            receiver.mode = "ok"
            assert service.retry(session, ADMIN) == 1
            drain(deliverer)
        assert_in_order(receiver, five_changes)

    def test_429_is_retried_no_sooner_than_retry_after_within_the_cap(
        self,
        engine: Engine,
        db_url: str,
        keys_dir: Path,
        receiver: Receiver,
        five_changes: list[str],
    ) -> None:
        capped = push_settings(
            db_url, keys_dir, receiver.url, regulator_push_max_backoff_seconds=30
        )
        receiver.script.extend(["slow_down"])
        receiver.retry_after = "20"
        with Deliverer(engine, capped, rand=lambda: 0.0) as deliverer:
            before = utcnow()
            assert deliverer.run().failed
            head = outbox_rows(engine)[0]
            assert head.last_error_code == "rate_limited" and head.last_status == 429
            assert head.next_attempt_at is not None
            assert head.next_attempt_at >= before + dt.timedelta(seconds=20)
            assert deliverer.run().stopped_at == head.seq  # not due yet
            assert deliverer.run(force=True).delivered == len(five_changes)
        assert_in_order(receiver, five_changes)

    def test_delivered_events_are_never_sent_again_even_by_a_new_deliverer(
        self,
        db_url: str,
        deliverer: Deliverer,
        settings: Settings,
        receiver: Receiver,
        five_changes: list[str],
    ) -> None:
        drain(deliverer)
        assert deliverer.run().idle
        other = make_engine(db_url)
        try:
            with Deliverer(other, settings) as restarted:
                assert restarted.run(force=True).idle
        finally:
            other.dispose()
        assert receiver.keys() == five_changes

    def test_a_new_deliverer_on_a_new_engine_resumes_where_the_last_one_stopped(
        self,
        db_url: str,
        engine: Engine,
        settings: Settings,
        receiver: Receiver,
        five_changes: list[str],
    ) -> None:
        with Deliverer(engine, settings) as first:
            assert first.run(max_events=2).delivered == 2
        engine.dispose()  # the process is gone; only the database remains
        other = make_engine(db_url)
        try:
            with Deliverer(other, settings) as second:
                drain(second)
        finally:
            other.dispose()
        assert receiver.keys() == five_changes
        assert_in_order(receiver, five_changes)

    def test_without_a_signing_key_nothing_is_sent_until_there_is_one(
        self,
        engine: Engine,
        db_url: str,
        tmp_path: Path,
        receiver: Receiver,
        five_changes: list[str],
    ) -> None:
        from server.certificates.keystore import KeyStore

        empty = tmp_path / "no-keys"
        unsigned = push_settings(db_url, empty, receiver.url)
        with Deliverer(engine, unsigned) as deliverer:
            assert deliverer.run().failed
            head = outbox_rows(engine)[0]
            assert head.last_error_code == "no_signing_key"
            assert receiver.arrivals == []
            KeyStore(empty).ensure()
            receiver.jwks = {
                "keys": [*receiver.jwks["keys"], *signing.jwks(KeyStore(empty))["keys"]]
            }
            drain(deliverer)
        assert_in_order(receiver, five_changes)


class TestOneDelivererAtATime:
    def test_two_deliverers_racing_send_one_ordered_stream(
        self,
        db_url: str,
        settings: Settings,
        receiver: Receiver,
        five_changes: list[str],
    ) -> None:
        receiver.delay = 0.05  # long enough for the two to overlap
        engines = [make_engine(db_url) for _ in range(2)]
        busy = []
        errors: list[BaseException] = []
        start = threading.Barrier(2)

        def deliver(engine: Engine) -> None:
            try:
                with Deliverer(engine, settings) as deliverer:
                    start.wait()
                    deadline = time.monotonic() + 20
                    while time.monotonic() < deadline:
                        run = deliverer.run(max_events=1)
                        busy.append(run.busy)
                        if run.idle:
                            return
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=deliver, args=(e,)) for e in engines]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        for e in engines:
            e.dispose()
        assert errors == []
        assert receiver.most_in_flight == 1
        assert receiver.keys() == five_changes
        assert any(busy), "the two never overlapped: the test proved nothing"


class TestBackoff:
    def test_doubles_from_a_second_up_to_the_cap_with_jitter_in_the_upper_half(self) -> None:
        assert [backoff(n, 600, lambda: 1.0) for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
        assert backoff(20, 600, lambda: 1.0) == 600
        assert backoff(3, 600, lambda: 0.0) == 2
        assert backoff(10_000, 5, lambda: 0.5) == 3.75
