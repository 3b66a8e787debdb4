"""Faults a simulator injects, from `--faults` (`corrupt=0.05,disconnect=30:5,…`) or on demand.

| fault              | value                         | what happens                                      |
|--------------------|-------------------------------|---------------------------------------------------|
| `corrupt=P`        | probability per frame         | a byte flipped, dropped or the line cut short      |
| `duplicate=P`      | probability per frame         | the frame is sent twice                           |
| `drop-ack=P`       | probability per ack           | the ack is ignored, as if lost: the device resends |
| `garbage=P`        | probability per frame         | a line of noise goes before the frame             |
| `hw-fault=P`       | probability per run           | a `fault` frame from the hardware                  |
| `disconnect=S[:D]` | every S s, for D s (3)        | the cable is pulled and put back                   |
| `reboot=S`         | every S s                     | power cycle: new boot id, seq from 1              |
| `slow=BPS`         | bytes per second              | the line runs at that speed (960 ≈ 9600 baud)      |
| `flood=N[:S]`      | N frames every S s (60)       | a burst of heartbeats, back to back               |
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

PROBABILITIES = ("corrupt", "duplicate", "drop_ack", "garbage", "hw_fault")


class FaultSpecError(ValueError):
    """A `--faults` value that does not parse; the message shows the format."""


@dataclass(frozen=True)
class FaultPlan:
    corrupt: float = 0.0
    duplicate: float = 0.0
    drop_ack: float = 0.0
    garbage: float = 0.0
    hw_fault: float = 0.0
    disconnect_every: float | None = None
    disconnect_for: float = 3.0
    reboot_every: float | None = None
    slow_bps: int | None = None
    flood_frames: int = 0
    flood_every: float = 60.0

    @property
    def any(self) -> bool:
        return self != FaultPlan()


FORMAT = (
    "comma-separated NAME=VALUE: corrupt=P, duplicate=P, drop-ack=P, garbage=P, hw-fault=P "
    "(P a probability 0…1), disconnect=EVERY[:DOWN], reboot=EVERY (seconds), slow=BYTES_PER_S, "
    "flood=N[:EVERY]"
)


def _number(name: str, text: str, *, whole: bool = False) -> float:
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        raise FaultSpecError(f"{name}: {text!r} is not a number; {FORMAT}") from None
    if value <= 0:
        raise FaultSpecError(f"{name}: must be more than 0; {FORMAT}")
    return value


def parse_faults(spec: str) -> FaultPlan:
    """The plan a `--faults` value describes (an empty value: no faults)."""
    values: dict[str, Any] = {}
    known = {f.name for f in fields(FaultPlan)}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, sep, value = part.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not value:
            raise FaultSpecError(f"{part!r}: expected NAME=VALUE; {FORMAT}")
        if name in PROBABILITIES:
            p = _number(name, value)
            if p > 1:
                raise FaultSpecError(f"{name}: a probability is at most 1; {FORMAT}")
            values[name] = p
        elif name == "disconnect":
            every, _, down = value.partition(":")
            values["disconnect_every"] = _number(name, every)
            if down:
                values["disconnect_for"] = _number(name, down)
        elif name == "reboot":
            values["reboot_every"] = _number(name, value)
        elif name == "slow":
            values["slow_bps"] = int(_number(name, value, whole=True))
        elif name == "flood":
            count, _, every = value.partition(":")
            values["flood_frames"] = int(_number(name, count, whole=True))
            if every:
                values["flood_every"] = _number(name, every)
        else:
            raise FaultSpecError(f"unknown fault {name.replace('_', '-')!r}; {FORMAT}")
    assert set(values) <= known
    return replace(FaultPlan(), **values)
