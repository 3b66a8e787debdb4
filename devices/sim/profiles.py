"""What each kind of device is like: its scenarios (from the curricula), firmware, faults,
and how a trainee's run through a scenario goes, step by step, to a score.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import cache

from curricula import catalogue
from curricula.model import Scenario


@dataclass(frozen=True)
class KindProfile:
    kind: str  # the station kind, as a hello's `kind`
    command: str  # the `safetrain sim` subcommand
    prefix: str  # device ids: VR-01, VR-02 …
    fw: str
    title: str  # for --help
    faults: tuple[tuple[str, str], ...]  # hardware faults it may report: (code, msg)


PROFILES: dict[str, KindProfile] = {
    p.kind: p
    for p in (
        KindProfile(
            "vr_pod",
            "vr-pod",
            "VR",
            "pod-2.4.1",
            "VR 体验舱 / VR pod",
            (
                ("hmd_tracking_lost", "头显定位丢失 / headset tracking lost"),
                ("controller_battery_low", "手柄电量低 / controller battery low"),
                ("gpu_overheat", "显卡过热 / GPU over temperature"),
            ),
        ),
        KindProfile(
            "fall_rig",
            "fall-rig",
            "FALL",
            "fall-1.7.0",
            "高处坠落体验装置 / fall-arrest rig",
            (
                ("winch_overload", "卷扬机过载 / winch overload"),
                ("harness_sensor_open", "安全带传感器断开 / harness sensor open"),
            ),
        ),
        KindProfile(
            "shock_rig",
            "shock-rig",
            "SHOCK",
            "shock-3.0.2",
            "触电体验装置 / electric-shock rig",
            (
                ("current_limit_trip", "限流保护动作 / current limiter tripped"),
                ("electrode_open", "体验电极开路 / electrode open circuit"),
            ),
        ),
        KindProfile(
            "mech_rig",
            "mech-rig",
            "MECH",
            "mech-1.2.5",
            "机械伤害体验装置 / mechanical-injury rig",
            (
                ("light_curtain_blocked", "光幕被遮挡 / light curtain blocked"),
                ("estop_pressed", "急停按下 / emergency stop pressed"),
            ),
        ),
    )
}


def device_ids(first: str, n: int) -> list[str]:
    """`VR-01`, 3 → VR-01, VR-02, VR-03 (the trailing number counts up, keeping its width)."""
    match = re.fullmatch(r"(.*?)(\d+)", first)
    if n == 1:
        return [first]
    if match is None:
        return [f"{first}-{i:02d}" for i in range(1, n + 1)]
    stem, digits = match.groups()
    return [f"{stem}{int(digits) + i:0{len(digits)}d}" for i in range(n)]


@cache
def scenarios_for(kind: str) -> tuple[Scenario, ...]:
    """Every scenario of every curriculum that runs on this kind of station."""
    return tuple(
        s
        for code in sorted(catalogue().curricula)
        for s in catalogue().curricula[code].scenarios
        if s.station_kind.value == kind
    )


@dataclass(frozen=True)
class StepOutcome:
    step: str  # the step's number in the scenario, "1", "2" …
    ok: bool


@dataclass(frozen=True)
class RunPlan:
    """How one trainee's run will go: decided at its start, revealed step by step."""

    scenario: Scenario
    steps: tuple[StepOutcome, ...]
    score: float
    errors: tuple[str, ...]
    veto: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.veto and self.score >= self.scenario.min_score


def plan_run(scenario: Scenario, rng: random.Random) -> RunPlan:
    """A trainee of random skill (most are good, some are not) goes through every step.

    Each step is worth an equal share of the scenario's points; a missed step costs its
    share and is listed in `errors`; now and then a missed step is a veto item (a fatal
    mistake, e.g. restarting a stopped agitator), which fails the run whatever the score.
    """
    skill = rng.betavariate(9, 2)
    steps = tuple(StepOutcome(str(i + 1), rng.random() < skill) for i in range(len(scenario.steps)))
    share = scenario.max_score / len(steps)
    missed = tuple(s.step for s in steps if not s.ok)
    score = round((len(steps) - len(missed)) * share * 2) / 2  # scored to half points
    veto = tuple(step for step in missed if rng.random() < 0.15)
    return RunPlan(scenario, steps, score, missed, veto)
