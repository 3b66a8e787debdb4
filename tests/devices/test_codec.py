"""The v1 frame codec and line reader: check values, every type, every way a line goes bad."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.codec import (
    DEVICE_TYPES,
    FIELDS,
    GATEWAY_TYPES,
    MAX_LINE,
    ack,
    ack_line,
    bind,
    crc16,
    decode,
    device_frame,
    encode,
    frame_key,
    nak,
)
from devices.errors import DeviceError, MalformedFrame
from devices.framing import FrameReader, QueuedFrameReader

HEARTBEAT_LINE = b'{"t":"hb","v":1,"dev":"VR-03","boot":"1a2b3c4d","seq":5,"state":"idle"}*8D0B'

EXAMPLES = {
    "hello": device_frame("hello", "VR-03", "1a2b3c4d", 1, kind="vr_pod", fw="pod-2.4.1"),
    "hb": device_frame("hb", "VR-03", "1a2b3c4d", 5, state="idle"),
    "start": device_frame("start", "VR-03", "1a2b3c4d", 6, scenario="NITR-RUNAWAY", badge="B1"),
    "step": device_frame(
        "step", "VR-03", "1a2b3c4d", 7, scenario="NITR-RUNAWAY", step="1", ok=True, at_ms=12500
    ),
    "result": device_frame(
        "result",
        "VR-03",
        "1a2b3c4d",
        17,
        scenario="NITR-RUNAWAY",
        badge="B1",
        score=87.5,
        max=100,
        passed=True,
        duration_s=312.4,
        errors=["4"],
        veto=[],
        ts="2026-11-23T10:00:00+08:00",
    ),
    "fault": device_frame("fault", "FALL-01", "0badc0de", 3, code="winch_overload", msg="过载"),
    "ack": ack(17),
    "nak": nak(None, "bad_crc"),
    "bind": bind("B1", "张伟"),
}


def line_of(payload: bytes) -> bytes:
    return payload + b"*%04X" % crc16(payload)


def reason(line: bytes, types: frozenset[str] = DEVICE_TYPES) -> str:
    with pytest.raises(MalformedFrame) as caught:
        decode(line, types)
    return caught.value.reason


class TestCheckValues:
    def test_crc_of_123456789_is_29b1(self) -> None:
        assert crc16(b"123456789") == 0x29B1

    def test_design_heartbeat_frame_decodes(self) -> None:
        frame = decode(HEARTBEAT_LINE)
        assert frame == {
            "t": "hb",
            "v": 1,
            "dev": "VR-03",
            "boot": "1a2b3c4d",
            "seq": 5,
            "state": "idle",
        }

    def test_design_heartbeat_frame_encodes_byte_for_byte(self) -> None:
        assert encode(EXAMPLES["hb"]) == HEARTBEAT_LINE + b"\r\n"


class TestEncodeDecode:
    @pytest.mark.parametrize("t", sorted(EXAMPLES))
    def test_every_type_round_trips(self, t: str) -> None:
        line = encode(EXAMPLES[t])
        assert line.endswith(b"\r\n") and line.count(b"\n") == 1
        assert decode(line[:-2], DEVICE_TYPES | GATEWAY_TYPES) == EXAMPLES[t]

    def test_payload_is_compact_utf8_json(self) -> None:
        line = encode(EXAMPLES["bind"])
        assert line.startswith('{"t":"bind","v":1,"badge":"B1","name":"张伟"}*'.encode())

    def test_separator_is_the_last_star(self) -> None:
        frame = {**EXAMPLES["fault"], "msg": "sensor *3 open * check"}
        line = encode(frame)[:-2]
        assert line.count(b"*") == 3
        assert decode(line)["msg"] == "sensor *3 open * check"

    def test_the_fast_ack_is_the_encoded_ack(self) -> None:
        for seq in (1, 9, 17, 123_456, 2**53):
            assert ack_line(seq) == encode(ack(seq))

    def test_key_is_dev_boot_seq(self) -> None:
        assert frame_key(EXAMPLES["result"]) == "VR-03:1a2b3c4d:17"

    def test_upper_case_boot_is_one_identity_with_lower(self) -> None:
        line = line_of(b'{"t":"hb","v":1,"dev":"VR-03","boot":"1A2B3C4D","seq":5,"state":"idle"}')
        assert frame_key(decode(line)) == "VR-03:1a2b3c4d:5"

    def test_extra_fields_are_kept(self) -> None:
        frame = {**EXAMPLES["hb"], "temp_c": 41.5}
        assert decode(encode(frame)[:-2])["temp_c"] == 41.5

    def test_badge_may_be_null(self) -> None:
        frame = {**EXAMPLES["result"], "badge": None}
        assert decode(encode(frame)[:-2])["badge"] is None

    def test_encode_refuses_an_invalid_frame(self) -> None:
        with pytest.raises(MalformedFrame, match="missing_field:state"):
            encode(device_frame("hb", "VR-03", "1a2b3c4d", 5))

    def test_malformed_frame_is_a_device_error(self) -> None:
        assert issubclass(MalformedFrame, DeviceError)


class TestRejected:
    def test_line_over_1024_bytes(self) -> None:
        frame = {**EXAMPLES["fault"], "msg": "x" * 2000}
        assert reason(line_of(json.dumps(frame).encode())) == "too_long"

    def test_line_of_exactly_1024_bytes_is_accepted(self) -> None:
        base = encode({**EXAMPLES["fault"], "msg": ""})[:-2]
        frame = {**EXAMPLES["fault"], "msg": "x" * (MAX_LINE - len(base))}
        line = encode(frame)[:-2]
        assert len(line) == MAX_LINE
        assert decode(line)["msg"] == frame["msg"]
        with pytest.raises(MalformedFrame, match="too_long"):
            encode({**frame, "msg": frame["msg"] + "x"})

    @pytest.mark.parametrize(
        ("line", "why"),
        [
            (b"hello world", "no_separator"),
            (HEARTBEAT_LINE[:-4] + b"8d0b", "bad_crc_format"),
            (HEARTBEAT_LINE[:-4] + b"8D0", "bad_crc_format"),
            (HEARTBEAT_LINE[:-4] + b" 8D0B", "bad_crc_format"),
            (HEARTBEAT_LINE[:-1] + b"C", "bad_crc"),
            (HEARTBEAT_LINE.replace(b'"seq":5', b'"seq":6'), "bad_crc"),
            (line_of(b'{"t":"hb","v":1,'), "bad_json"),
            (line_of(b'{"t":"hb","v":NaN}'), "bad_json"),
            (line_of(b' {"t":"hb"}'), "bad_json"),
            (line_of(b"\xff\xfe{}"), "not_utf8"),
            (line_of(b"[1,2,3]"), "not_object"),
            (line_of(b'{"t":"tea","v":1}'), "unknown_type"),
            (line_of(b'{"v":1}'), "unknown_type"),
            (line_of(b'{"t":"hb","v":2,"dev":"A","boot":"1a2b3c4d","seq":1,"state":"idle"}'), "bad_version"),
            (line_of(b'{"t":"hb","v":true,"dev":"A","boot":"1a2b3c4d","seq":1,"state":"idle"}'), "bad_version"),
            (line_of(b'{"t":"hb","v":1,"dev":"A","boot":"1a2b3c4d","state":"idle"}'), "missing_field:seq"),
            (line_of(b'{"t":"hb","v":1,"dev":"A","boot":"1a2b3c4","seq":1,"state":"idle"}'), "bad_field:boot"),
            (line_of(b'{"t":"hb","v":1,"dev":"A","boot":"1a2b3c4d","seq":0,"state":"idle"}'), "bad_field:seq"),
            (line_of(b'{"t":"hb","v":1,"dev":"A","boot":"1a2b3c4d","seq":true,"state":"idle"}'), "bad_field:seq"),
            (line_of(b'{"t":"hb","v":1,"dev":"A","boot":"1a2b3c4d","seq":1,"state":"asleep"}'), "bad_field:state"),
            (line_of(b'{"t":"hb","v":1,"dev":"","boot":"1a2b3c4d","seq":1,"state":"idle"}'), "bad_field:dev"),
        ],
    )  # fmt: skip
    def test_bad_lines(self, line: bytes, why: str) -> None:
        assert reason(line) == why

    @pytest.mark.parametrize("t", sorted(DEVICE_TYPES | GATEWAY_TYPES))
    def test_each_required_field_of_each_type(self, t: str) -> None:
        for name, _ in FIELDS[t]:
            frame = {k: v for k, v in EXAMPLES[t].items() if k != name}
            assert reason(line_of(json.dumps(frame).encode()), DEVICE_TYPES | GATEWAY_TYPES) == (
                f"missing_field:{name}"
            )

    @pytest.mark.parametrize(
        ("t", "field", "value"),
        [
            ("hello", "kind", "kiosk"),
            ("start", "badge", ""),
            ("step", "ok", 1),
            ("step", "at_ms", -5),
            ("step", "step", 3),
            ("result", "score", "87.5"),
            ("result", "passed", "yes"),
            ("result", "errors", "4"),
            ("result", "veto", [4]),
            ("result", "ts", "2026-11-23T10:00:00"),
            ("result", "ts", "yesterday"),
            ("fault", "msg", None),
            ("ack", "seq", None),
            ("nak", "why", ""),
        ],
    )
    def test_field_of_the_wrong_shape(self, t: str, field: str, value: object) -> None:
        frame = {**EXAMPLES[t], field: value}
        assert reason(line_of(json.dumps(frame).encode()), DEVICE_TYPES | GATEWAY_TYPES) == (
            f"bad_field:{field}"
        )

    def test_gateway_frame_from_a_device_is_the_wrong_direction(self) -> None:
        assert reason(encode(ack(3))[:-2]) == "wrong_direction"
        assert reason(encode(EXAMPLES["hb"])[:-2], GATEWAY_TYPES) == "wrong_direction"

    def test_bad_crc_carries_the_seq_as_a_hint(self) -> None:
        with pytest.raises(MalformedFrame) as caught:
            decode(HEARTBEAT_LINE[:-1] + b"C")
        assert caught.value.seq == 5

    def test_missing_field_carries_the_seq(self) -> None:
        with pytest.raises(MalformedFrame) as caught:
            decode(line_of(b'{"t":"hb","v":1,"dev":"A","boot":"1a2b3c4d","seq":9}'))
        assert caught.value.seq == 9

    def test_deep_nesting_is_bad_json_not_a_crash(self) -> None:
        assert reason(line_of(b"[" * 500 + b"]" * 500)) == "not_object"
        assert reason(line_of(b'{"a":' * 150 + b"1" + b"}" * 150)) == "unknown_type"


class TestFrameReader:
    def test_cr_lf_and_bare_lf_both_end_a_line(self) -> None:
        reader = QueuedFrameReader()
        reader.data_received(HEARTBEAT_LINE + b"\r\n" + HEARTBEAT_LINE + b"\n")
        assert reader.frames_ok == 2 and reader.frames_bad == 0

    def test_split_at_every_byte(self) -> None:
        reader = QueuedFrameReader()
        data = (HEARTBEAT_LINE + b"\r\n") * 3
        for i in range(len(data)):
            reader.data_received(data[i : i + 1])
        assert reader.frames_ok == 3 and len(reader.queue) == 3

    def test_empty_lines_are_skipped_uncounted(self) -> None:
        reader = QueuedFrameReader()
        reader.data_received(b"\r\n\n\r\n" + HEARTBEAT_LINE + b"\r\n\r\n")
        assert (reader.frames_ok, reader.frames_bad) == (1, 0)

    def test_overlong_line_across_chunks_is_one_bad_line_then_resync(self) -> None:
        reader = QueuedFrameReader()
        reader.data_received(b"x" * 700)
        reader.data_received(b"y" * 700)
        reader.data_received(b"z" * 5000)
        reader.data_received(b"tail\r\n" + HEARTBEAT_LINE + b"\r\n")
        assert reader.frames_bad == 1 and reader.reasons == {"too_long": 1}
        assert reader.frames_ok == 1
        assert [type(x) for x in reader.queue] == [MalformedFrame, dict]

    def test_a_line_of_1024_bytes_split_across_chunks_is_read(self) -> None:
        base = encode({**EXAMPLES["fault"], "msg": ""})
        line = encode({**EXAMPLES["fault"], "msg": "x" * (MAX_LINE + 2 - len(base))})
        assert len(line) == MAX_LINE + 2
        reader = QueuedFrameReader()
        reader.data_received(line[:1025])  # everything but the LF
        reader.data_received(line[1025:])
        assert (reader.frames_ok, reader.frames_bad) == (1, 0)

    def test_connection_lost_drops_a_partial_line(self) -> None:
        reader = QueuedFrameReader()
        reader.data_received(HEARTBEAT_LINE[:30])
        reader.connection_lost()
        reader.data_received(HEARTBEAT_LINE + b"\r\n")
        assert (reader.frames_ok, reader.frames_bad) == (1, 0)

    def test_a_callback_subclass_like_serial_threaded(self) -> None:
        seen: list[str] = []

        class Printer(FrameReader):
            def frame_received(self, frame: dict[str, object]) -> None:
                seen.append(str(frame["t"]))

            def frame_rejected(self, error: MalformedFrame) -> None:
                seen.append(error.reason)

        Printer().data_received(b"junk\n" + HEARTBEAT_LINE + b"\r\n")
        assert seen == ["no_separator", "hb"]


# --- garbage and good frames, interleaved -----------------------------------------------------

garbage_line = st.binary(min_size=1, max_size=1500).filter(
    lambda b: b"\n" not in b and b.strip(b"\r") != b""
)


def good_frames(n: int, rng: random.Random) -> list[bytes]:
    kinds = ["hb", "step", "result", "start", "fault"]
    return [
        encode({**EXAMPLES[kinds[i % len(kinds)]], "seq": i + 1, "dev": f"D{rng.randrange(100)}"})
        for i in range(n)
    ]


def feed(reader: FrameReader, data: bytes, rng: random.Random) -> None:
    i = 0
    while i < len(data):
        n = rng.randrange(1, 600)
        reader.data_received(data[i : i + n])
        i += n


class TestGarbageInterleaved:
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(garbage_line, min_size=1, max_size=60), st.randoms(use_true_random=False))
    def test_every_good_frame_survives_any_garbage(
        self, garbage: list[bytes], rng: random.Random
    ) -> None:
        frames = good_frames(len(garbage) + 1, random.Random(len(garbage)))
        data = b"".join(f + g + b"\n" for f, g in zip(frames, garbage, strict=False))
        data += frames[-1]
        reader = QueuedFrameReader()
        feed(reader, data, rng)
        got = [x for x in reader.queue if isinstance(x, dict)]
        assert got == [decode(f[:-2]) for f in frames]
        assert reader.frames_bad == len(garbage) == sum(reader.reasons.values())

    @settings(max_examples=3, deadline=None)
    @given(st.integers(min_value=0, max_value=2**32))
    def test_ten_thousand_garbage_lines_of_every_kind(self, seed: int) -> None:
        """10,000 bad lines — noise, truncated frames, flipped bytes, bad JSON, unknown types,
        lines too long — between 2,000 good frames: every good frame decoded, each bad one
        counted once, the reader still reading."""
        rng = random.Random(seed)
        frames = good_frames(2000, rng)

        def bad() -> bytes:
            frame = rng.choice(frames)[:-2]
            match rng.randrange(7):
                case 0:  # line noise
                    return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
                case 1:  # truncated
                    return frame[: rng.randrange(1, len(frame) - 1)]
                case 2:  # a byte flipped
                    i = rng.randrange(len(frame) - 5)
                    return frame[:i] + bytes([frame[i] ^ rng.randrange(1, 256)]) + frame[i + 1 :]
                case 3:
                    return line_of(b'{"t":"hb","v":1,"dev":')
                case 4:
                    return line_of(b'{"t":"selfdestruct","v":1}')
                case 5:
                    return b"A" * rng.randrange(MAX_LINE + 1, 3000)
                case _:
                    return line_of(b'{"t":"result","v":1,"dev":"X","boot":"00000000","seq":1}')

        garbage = []
        while len(garbage) < 10_000:
            line = bad()
            if b"\n" not in line and line.strip(b"\r"):
                garbage.append(line)
        slots = sorted(rng.sample(range(12_000), 2000))
        good_at = dict(zip(slots, frames, strict=True))
        pieces, g = [], iter(garbage)
        for i in range(12_000):
            pieces.append(good_at[i] if i in good_at else next(g) + b"\r\n")
        reader = QueuedFrameReader()
        feed(reader, b"".join(pieces), rng)
        got = [x for x in reader.queue if isinstance(x, dict)]
        assert got == [decode(f[:-2]) for f in frames]
        assert reader.frames_ok == 2000
        assert reader.frames_bad == 10_000
        reader.data_received(HEARTBEAT_LINE + b"\r\n")  # still alive
        assert reader.frames_ok == 2001
