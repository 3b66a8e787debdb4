"""Frames of the serial line protocol, version 1: `PAYLOAD*CRC` lines, encoded and checked.

PAYLOAD is a compact UTF-8 JSON object, CRC the CRC-16/CCITT-FALSE of its bytes as four
upper-case hex digits, and the separator is the last `*` of the line (docs/device-protocol.md).
A decoded frame is the JSON object itself (`Frame`), checked for the fields its type requires.
"""

from __future__ import annotations

import binascii
import datetime as dt
import json
import math
import random
import re
from collections.abc import Callable, Mapping
from typing import Any

from devices.errors import MalformedFrame

PROTOCOL_VERSION = 1
MAX_LINE = 1024  # bytes of `PAYLOAD*CRC`, the line ending not counted
DEFAULT_BAUD = 115200

Frame = dict[str, Any]

DEVICE_TYPES = frozenset({"hello", "hb", "start", "step", "result", "fault"})
GATEWAY_TYPES = frozenset({"ack", "nak", "bind"})
SPOOLED_TYPES = frozenset({"start", "step", "result", "fault"})
DEVICE_KINDS = frozenset({"vr_pod", "fall_rig", "shock_rig", "mech_rig", "exam_seat"})
DEVICE_STATES = frozenset({"idle", "running", "fault"})

_CRC_TEXT = re.compile(rb"[0-9A-F]{4}")
_BOOT = re.compile(r"[0-9a-fA-F]{8}")
_MAX_SEQ = 2**53  # exact in every JSON reader


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no xor-out."""
    return binascii.crc_hqx(data, 0xFFFF)


# --- field checks -----------------------------------------------------------------------------

Check = Callable[[Any], bool]


def _name(v: Any) -> bool:
    return type(v) is str and 0 < len(v) <= 64


def _text(v: Any) -> bool:
    return type(v) is str


def _optional_name(v: Any) -> bool:
    return v is None or _name(v)


def _optional_text(v: Any) -> bool:
    return v is None or type(v) is str


def _bool(v: Any) -> bool:
    return type(v) is bool


def _number(v: Any) -> bool:
    return (type(v) is int) or (type(v) is float and math.isfinite(v))


def _non_negative(v: Any) -> bool:
    return _number(v) and v >= 0


def _seq(v: Any) -> bool:
    return type(v) is int and 0 < v <= _MAX_SEQ


def _optional_seq(v: Any) -> bool:
    return v is None or _seq(v)


def _boot(v: Any) -> bool:
    return type(v) is str and _BOOT.fullmatch(v) is not None


def _names(v: Any) -> bool:
    return type(v) is list and all(type(x) is str for x in v)


def _timestamp(v: Any) -> bool:
    """ISO 8601 with a UTC offset (`2026-11-23T10:00:00+08:00`, `…Z`)."""
    if type(v) is not str or len(v) > 40:
        return False
    try:
        return dt.datetime.fromisoformat(v).tzinfo is not None
    except ValueError:
        return False


def _one_of(values: frozenset[str]) -> Check:
    return lambda v: type(v) is str and v in values


_IDENTITY: tuple[tuple[str, Check], ...] = (("dev", _name), ("boot", _boot), ("seq", _seq))

FIELDS: dict[str, tuple[tuple[str, Check], ...]] = {
    "hello": (*_IDENTITY, ("kind", _one_of(DEVICE_KINDS)), ("fw", _name)),
    "hb": (*_IDENTITY, ("state", _one_of(DEVICE_STATES))),
    "start": (*_IDENTITY, ("scenario", _name), ("badge", _optional_name)),
    "step": (
        *_IDENTITY,
        ("scenario", _name),
        ("step", _name),
        ("ok", _bool),
        ("at_ms", _non_negative),
    ),
    "result": (
        *_IDENTITY,
        ("scenario", _name),
        ("badge", _optional_name),
        ("score", _number),
        ("max", _number),
        ("passed", _bool),
        ("duration_s", _non_negative),
        ("errors", _names),
        ("veto", _names),
        ("ts", _timestamp),
    ),
    "fault": (*_IDENTITY, ("code", _name), ("msg", _text)),
    "ack": (("seq", _seq),),
    "nak": (("seq", _optional_seq), ("why", _name)),
    "bind": (("badge", _optional_name), ("name", _optional_text)),
}
"""Required fields per type (in wire order) with the check each value must pass."""


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_JSON = json.JSONDecoder(parse_constant=_refuse_constant)  # NaN and Infinity are not JSON
_REQUIRED = {t: frozenset(name for name, _ in spec) for t, spec in FIELDS.items()}


def _seq_hint(payload: bytes) -> int | None:
    """The seq of a payload that failed its CRC, if it still parses: a hint for the nak."""
    try:
        obj = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    seq = obj.get("seq") if isinstance(obj, dict) else None
    return seq if _seq(seq) else None


def check(frame: Mapping[str, Any], types: frozenset[str] = DEVICE_TYPES | GATEWAY_TYPES) -> None:
    """Raise MalformedFrame unless `frame` is a valid v1 frame of one of `types`."""
    t = frame.get("t")
    spec = FIELDS.get(t) if type(t) is str else None
    if spec is None or t not in types or type(frame.get("v")) is not int or frame["v"] != 1:
        seq = frame.get("seq")
        hint = seq if _seq(seq) else None
        if spec is None:
            raise MalformedFrame("unknown_type", hint)
        if t not in types:
            raise MalformedFrame("wrong_direction", hint)
        raise MalformedFrame("bad_version", hint)
    if not _REQUIRED[t] <= frame.keys():
        seq = frame.get("seq")
        missing = next(name for name, _ in spec if name not in frame)
        raise MalformedFrame(f"missing_field:{missing}", seq if _seq(seq) else None)
    for name, ok in spec:
        if not ok(frame[name]):
            seq = frame.get("seq")
            raise MalformedFrame(f"bad_field:{name}", seq if _seq(seq) else None)


def decode(line: bytes, types: frozenset[str] = DEVICE_TYPES) -> Frame:
    """The frame in one line (without its line ending), or MalformedFrame saying why not."""
    if len(line) > MAX_LINE:
        raise MalformedFrame("too_long", line=line[:64])
    star = line.rfind(b"*")
    if star < 0:
        raise MalformedFrame("no_separator", line=line)
    payload = line[:star]
    if line[star + 1 :] != b"%04X" % binascii.crc_hqx(payload, 0xFFFF):
        if _CRC_TEXT.fullmatch(line[star + 1 :]) is None:
            raise MalformedFrame("bad_crc_format", line=line)
        raise MalformedFrame("bad_crc", _seq_hint(payload), line=line)
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedFrame("not_utf8", line=line) from None
    try:
        frame, end = _JSON.raw_decode(text)
    except (ValueError, RecursionError):
        raise MalformedFrame("bad_json", line=line) from None
    if end != len(text):
        raise MalformedFrame("bad_json", line=line)
    if type(frame) is not dict:
        raise MalformedFrame("not_object", line=line)
    try:
        check(frame, types)
    except MalformedFrame as exc:
        exc.line = line
        raise
    boot = frame.get("boot")
    if boot is not None:
        frame["boot"] = boot.lower()  # one identity whatever case the device prints hex in
    return frame


def encode(frame: Mapping[str, Any], *, validate: bool = True) -> bytes:
    """One line on the wire: compact JSON, `*`, the CRC, CR LF."""
    if validate:
        check(frame)
    payload = json.dumps(frame, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode(
        "utf-8"
    )
    line = b"%s*%04X\r\n" % (payload, binascii.crc_hqx(payload, 0xFFFF))
    if len(line) - 2 > MAX_LINE:
        raise MalformedFrame("too_long", frame.get("seq"))
    return line


# --- frames the gateway and devices build -------------------------------------------------------


def device_frame(t: str, dev: str, boot: str, seq: int, **fields: Any) -> Frame:
    """A device frame with its identity first, in the order the protocol prints it."""
    return {"t": t, "v": PROTOCOL_VERSION, "dev": dev, "boot": boot, "seq": seq, **fields}


def ack(seq: int) -> Frame:
    return {"t": "ack", "v": PROTOCOL_VERSION, "seq": seq}


def ack_line(seq: int) -> bytes:
    """`encode(ack(seq))`, made without the JSON encoder: the gateway sends one per frame."""
    payload = b'{"t":"ack","v":1,"seq":%d}' % seq
    return b"%s*%04X\r\n" % (payload, binascii.crc_hqx(payload, 0xFFFF))


def nak(seq: int | None, why: str) -> Frame:
    return {"t": "nak", "v": PROTOCOL_VERSION, "seq": seq, "why": why}


def bind(badge: str | None, name: str | None) -> Frame:
    return {"t": "bind", "v": PROTOCOL_VERSION, "badge": badge, "name": name}


def frame_key(frame: Mapping[str, Any]) -> str:
    """The identity `dev:boot:seq`: the spool's and the server's idempotency key."""
    return f"{frame['dev']}:{frame['boot']}:{frame['seq']}"


def new_boot_id(rng: random.Random | None = None) -> str:
    """Eight lower-case hex digits, drawn afresh at every power-on."""
    return f"{(rng or random.SystemRandom()).getrandbits(32):08x}"
