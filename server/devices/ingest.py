"""Batches of device frames from the gateways: each item accepted, a duplicate, or rejected.

One bad item never fails the batch: every item is checked on its own and gets its own answer,
in order. Accepted frames are inserted with `ON CONFLICT (key) DO NOTHING` in one statement, so
a retry, a duplicate inside the batch or two gateways racing store a frame exactly once — the
unique index decides, not a check-then-insert. Results are attributed to a trainee first (see
`server.devices.bindings.attribute`) and those with one become attempts.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlmodel import Session, col, select

from curricula import catalogue
from server import bulk
from server.assessment import device_attempts
from server.assessment.device_attempts import Scored
from server.audit.service import Actor
from server.db import utcnow
from server.devices import bindings
from server.devices.models import Attribution, Device, DeviceFrame
from server.scheduling.models import Station

MAX_ITEMS = 500
SPOOLED_TYPES = frozenset({"start", "step", "result", "fault"})
SOURCES = frozenset({"serial", "camera-qr", "camera-7seg"})
BOOT = re.compile(r"^[0-9a-f]{8}$")
MAX_FRAME_BYTES = (
    4096  # a decoded frame (the serial line limit is 1024 bytes; QR frames are smaller)
)

# Fields each spooled type must carry, with the check each value must pass.
_Check = Callable[[Any], bool]


def _is_str(v: Any) -> bool:
    return isinstance(v, str) and 0 < len(v) <= 64


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and v == v  # not NaN


def _is_bool(v: Any) -> bool:
    return isinstance(v, bool)


def _is_list(v: Any) -> bool:
    return isinstance(v, list) and len(v) <= 100 and all(isinstance(x, str) for x in v)


def _badge(v: Any) -> bool:
    return v is None or (isinstance(v, str) and 0 < len(v) <= 32)


def _is_time(v: Any) -> bool:
    return _parse_time(v) is not None


REQUIRED: dict[str, dict[str, _Check]] = {
    "start": {"scenario": _is_str, "badge": _badge},
    "step": {"scenario": _is_str, "step": _is_str, "ok": _is_bool, "at_ms": _is_num},
    "result": {
        "scenario": _is_str,
        "badge": _badge,
        "score": _is_num,
        "max": _is_num,
        "passed": _is_bool,
        "duration_s": _is_num,
        "errors": _is_list,
        "veto": _is_list,
        "ts": _is_time,
    },
    "fault": {"code": _is_str, "msg": lambda v: isinstance(v, str)},
}
# A camera reads a result off a screen (QR) or an LED display: it has no error or veto list, no
# badge, no duration, and a display has no pass/fail. Those fields may be absent — scoring takes
# them as unknown, never invented — but are checked when present. A camera reports results only.
CAMERA_SOURCES = frozenset({"camera-qr", "camera-7seg"})
CAMERA_OPTIONAL = frozenset({"badge", "passed", "duration_s", "errors", "veto"})


@dataclass(frozen=True)
class Outcome:
    key: str
    status: str  # accepted, duplicate, rejected
    reason: str | None = None


class Rejected(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def _parse_time(v: Any) -> dt.datetime | None:
    if not isinstance(v, str) or len(v) > 40:
        return None
    try:
        value = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


@cache
def known_scenarios() -> frozenset[str]:
    return frozenset(s.code for c in catalogue().curricula.values() for s in c.scenarios)


def _check(item: Any, devices: Mapping[str, tuple[Device, str]]) -> dict[str, Any]:
    """The row to insert for one envelope, or Rejected with a machine-readable reason."""
    if not isinstance(item, dict):
        raise Rejected("not_an_object")
    key, frame = item.get("key"), item.get("frame")
    if not isinstance(key, str) or len(key) > 64:
        raise Rejected("bad_key")
    if not isinstance(frame, dict):
        raise Rejected("missing_field:frame")
    body = json.dumps(frame, ensure_ascii=False, separators=(",", ":"))
    if len(body.encode()) > MAX_FRAME_BYTES:
        raise Rejected("frame_too_long")
    source = item.get("source")
    if source not in SOURCES:
        raise Rejected("bad_source")
    received_at = _parse_time(item.get("received_at"))
    if received_at is None:
        raise Rejected("bad_received_at")
    kind = frame.get("t")
    if kind not in SPOOLED_TYPES:
        raise Rejected("unknown_type" if kind not in ("hello", "hb") else "not_spooled_type")
    if frame.get("v") != 1:
        raise Rejected("bad_version")
    dev, boot, seq = frame.get("dev"), frame.get("boot"), frame.get("seq")
    if not _is_str(dev):
        raise Rejected("missing_field:dev")
    if not isinstance(boot, str) or not BOOT.match(boot):
        raise Rejected("bad_boot")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise Rejected("bad_seq")
    if key != f"{dev}:{boot}:{seq}":
        raise Rejected("key_mismatch")
    camera = source in CAMERA_SOURCES
    if camera and kind != "result":
        raise Rejected("not_a_camera_type")
    for name, ok in REQUIRED[kind].items():
        if name not in frame:
            if camera and name in CAMERA_OPTIONAL:
                continue
            raise Rejected(f"missing_field:{name}")
        if not ok(frame[name]):
            raise Rejected(f"bad_field:{name}")
    found = devices.get(str(dev))
    if found is None:
        raise Rejected("unknown_device")
    device, station_code = found
    if not device.is_active:
        raise Rejected("device_inactive")
    if item.get("station") != station_code:
        raise Rejected("station_mismatch")
    scenario = frame.get("scenario")
    if kind in ("start", "step", "result") and scenario not in known_scenarios():
        raise Rejected("unknown_scenario")
    occurred_at = None
    if kind == "result":
        if frame["max"] <= 0 or not 0 <= frame["score"] <= frame["max"]:
            raise Rejected("score_out_of_range")
        occurred_at = _parse_time(frame["ts"])
    return {
        "key": key,
        "device_id": device.id,
        "station_id": device.station_id,
        "boot": boot,
        "seq": seq,
        "frame_type": kind,
        "source": source,
        "scenario": scenario if isinstance(scenario, str) else None,
        "occurred_at": occurred_at,
        "received_at": received_at,
        "frame": body,
    }


def _devices(session: Session, codes: set[str]) -> dict[str, tuple[Device, str]]:
    if not codes:
        return {}
    rows = session.exec(
        select(Device, Station.code)
        .join(Station, col(Station.id) == Device.station_id)
        .where(col(Device.code).in_(codes))
    ).all()
    return {d.code: (d, code) for d, code in rows}


def _known(session: Session, keys: list[str]) -> set[str]:
    """Keys already stored: their items are duplicates, and need no more work."""
    table = DeviceFrame.__table__  # type: ignore[attr-defined]
    return {str(k) for k in bulk.existing(session, table, "key", keys)}


def ingest(
    session: Session, gateway: Actor, items: list[Any], *, now: dt.datetime | None = None
) -> list[Outcome]:
    """Store a batch in one transaction; one answer per item, in order."""
    now = now or utcnow()
    codes = {
        i["frame"]["dev"]
        for i in items
        if isinstance(i, dict)
        and isinstance(i.get("frame"), dict)
        and _is_str(i["frame"].get("dev"))
    }
    devices = _devices(session, codes)
    checked: list[dict[str, Any] | Rejected] = []
    decoded: dict[str, dict[str, Any]] = {}  # the first good frame of each key
    for item in items:
        try:
            good = _check(item, devices)
            good["gateway_user_id"] = gateway.user_id
            good["stored_at"] = now
            checked.append(good)
            decoded.setdefault(good["key"], item["frame"])
        except Rejected as exc:
            checked.append(exc)
    known = _known(session, list(decoded))
    fresh: dict[str, dict[str, Any]] = {}
    for entry in checked:
        if isinstance(entry, dict) and entry["key"] not in fresh and entry["key"] not in known:
            fresh[entry["key"]] = entry
    for new in fresh.values():
        new.setdefault("trainee_id", None)
        new.setdefault("attribution", None)
    bindings.attribute(session, list(fresh.values()), decoded)
    results = [
        Scored(
            key,
            row["trainee_id"],
            row["scenario"],
            decoded[key],
            row["occurred_at"],
            row["received_at"],
            now,
        )
        for key, row in fresh.items()
        if row["frame_type"] == "result" and row["trainee_id"] is not None
    ]
    courses = device_attempts.courses_for(session, results)
    table = DeviceFrame.__table__  # type: ignore[attr-defined]
    # The unique key decides what is new (ON CONFLICT DO NOTHING), not the look-up above: two
    # gateways racing with one frame store it once. Scoring runs while the frames go in.
    with bulk.insert_ahead(
        session, table, list(fresh.values()), ("key",), skip_conflicts_on="key"
    ) as pending:
        attempts = device_attempts.attempt_rows(results, courses)
    inserted = {str(key) for (key,) in pending.rows()}
    outcomes: list[Outcome] = []
    claimed: set[str] = set()
    for item, row in zip(items, checked, strict=True):
        if isinstance(row, Rejected):
            key = (
                item.get("key")
                if isinstance(item, dict) and isinstance(item.get("key"), str)
                else ""
            )
            outcomes.append(Outcome(str(key)[:64], "rejected", row.reason))
        elif row["key"] in inserted and row["key"] not in claimed:
            claimed.add(row["key"])
            outcomes.append(Outcome(row["key"], "accepted"))
        else:
            outcomes.append(Outcome(row["key"], "duplicate"))
    _touch_devices(session, devices, checked, now)
    device_attempts.store(session, [a for a in attempts if a["source_ref"] in inserted])
    session.commit()
    return outcomes


def _touch_devices(
    session: Session,
    devices: Mapping[str, tuple[Device, str]],
    checked: list[dict[str, Any] | Rejected],
    now: dt.datetime,
) -> None:
    by_id = {d.id: d for d, _ in devices.values()}
    boots: dict[int, str] = {}
    for row in checked:
        if isinstance(row, dict):
            boots[row["device_id"]] = row["boot"]  # the last frame's boot wins
    for device_id, boot in boots.items():
        device = by_id.get(device_id)
        if device is not None:
            device.last_seen_at = now
            device.last_boot = boot
            session.add(device)


def unassigned(session: Session, limit: int = 200) -> list[DeviceFrame]:
    return list(
        session.exec(
            select(DeviceFrame)
            .where(
                DeviceFrame.frame_type == "result",
                DeviceFrame.attribution == Attribution.unassigned,
            )
            .order_by(col(DeviceFrame.id))
            .limit(limit)
        ).all()
    )
