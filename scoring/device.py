"""A VR pod's or rig's `result` frame turned into the same result shape as a paper or a checklist.

The frame is the decoded `result` of the serial protocol (DESIGN.md): `scenario`, `badge`,
`score`, `max`, `passed`, `duration_s`, `errors`, `veto`, `ts`. A frame read by a camera has
no error or veto list, and a seven-segment reading may have no `passed`; those fields are then
taken as absent, never invented. The score out of 100 is score / max × 100 on the device's own
scale; the pass mark is the scenario's min_score / max_score of the curriculum. A run passes
only when all three agree: the score reaches the pass mark, no veto step failed, and the device
did not report a fail. A veto entry that is a step number names the scenario's step.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from typing import Any

from curricula.model import Scenario
from scoring import reasons
from scoring.errors import InvalidDeviceResult
from scoring.numbers import HUNDRED, exact, mark_text, recorded, text
from scoring.reasons import Reason
from scoring.results import PartResult, VetoFailure, device_part, part_names


@dataclass(frozen=True)
class DeviceGrade:
    result: PartResult
    scenario: str
    raw_score: Fraction
    raw_max: Fraction
    device_passed: bool | None
    errors: tuple[str, ...]
    duration_s: Fraction | None
    badge: str | None
    ts: str | None

    def to_dict(self) -> dict[str, Any]:
        data = self.result.to_dict()
        data.update(
            scenario=self.scenario,
            raw_score=text(self.raw_score),
            raw_max=text(self.raw_max),
            device_passed=self.device_passed,
            errors=list(self.errors),
            duration_s=None if self.duration_s is None else text(self.duration_s),
            badge=self.badge,
            ts=self.ts,
        )
        return data


def _bad(field: str, zh: str, en: str) -> InvalidDeviceResult:
    return InvalidDeviceResult(
        f"设备成绩无法计分：{field} {zh}",
        f"device result cannot be scored: {field} {en}",
        details={"field": field},
    )


def _number(frame: Mapping[str, Any], name: str, required: bool = True) -> Fraction | None:
    value = frame.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(name, "应为数值", "must be a number")
    try:
        return exact(value)
    except ValueError:
        raise _bad(name, "应为有限数值", "must be a finite number") from None


def _entries(frame: Mapping[str, Any], name: str) -> list[Any]:
    value = frame.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _bad(name, "应为列表", "must be a list")
    return value


def _optional_text(frame: Mapping[str, Any], name: str) -> str | None:
    value = frame.get(name)
    if value is not None and not isinstance(value, str):
        raise _bad(name, "应为文本", "must be text")
    return value


def _veto_failure(entry: Any, scenario: Scenario) -> VetoFailure:
    if isinstance(entry, int) and not isinstance(entry, bool) and 1 <= entry <= len(scenario.steps):
        step = scenario.steps[entry - 1]
        return VetoFailure(str(entry), f"第 {entry} 步：{step.zh}", f"step {entry}: {step.en}")
    if isinstance(entry, str) and entry.strip():
        return VetoFailure(entry, entry, entry)
    raise _bad("veto", f"含无法识别的项 {entry!r}", f"has an entry that names nothing: {entry!r}")


@cache
def _pass_mark(min_score: float, max_score: float) -> Fraction:
    """The scenario's pass mark out of 100 (a few scenarios, scored thousands of times)."""
    return exact(min_score) / exact(max_score) * HUNDRED


def normalise_device_result(frame: Mapping[str, Any], scenario: Scenario) -> DeviceGrade:
    """Score one device run against its scenario; a frame that cannot be scored raises."""
    kind = frame.get("t", "result")
    if kind != "result":
        raise _bad("t", "不是成绩帧", f"is {kind!r}, not a result frame")
    if frame.get("scenario") != scenario.code:
        raise InvalidDeviceResult(
            f"设备成绩属于场景 {frame.get('scenario')!r}，不是 {scenario.code}",
            f"the device result is for scenario {frame.get('scenario')!r}, not {scenario.code}",
            code="wrong_scenario",
            details={"field": "scenario"},
        )
    score = _number(frame, "score")
    top = _number(frame, "max")
    assert score is not None and top is not None
    if top <= 0:
        raise _bad("max", "应大于 0", "must be above 0")
    if not 0 <= score <= top:
        raise _bad("score", f"应在 0 到 {text(top)} 之间", f"must be between 0 and {text(top)}")
    device_passed = frame.get("passed")
    if device_passed is not None and not isinstance(device_passed, bool):
        raise _bad("passed", "应为是或否", "must be true or false")
    duration = _number(frame, "duration_s", required=False)
    if duration is not None and duration < 0:
        raise _bad("duration_s", "不能为负", "cannot be negative")
    errors = tuple(
        e if isinstance(e, str) else json.dumps(e, ensure_ascii=False, sort_keys=True)
        for e in _entries(frame, "errors")
    )
    veto = tuple(_veto_failure(v, scenario) for v in _entries(frame, "veto"))

    part = device_part(scenario.code)
    names = part_names(part, scenario.title)
    out_of_100 = score / top * HUNDRED
    mark = _pass_mark(scenario.min_score, scenario.max_score)
    shown = recorded(out_of_100)
    why: list[Reason] = [reasons.veto_failed(names, v.zh, v.en) for v in veto]
    if out_of_100 < mark:
        why.append(reasons.below_pass_mark(names, shown, mark_text(mark)))
    if device_passed is False and out_of_100 >= mark and not veto:
        why.append(reasons.device_reported_fail(names))
    passed = out_of_100 >= mark and not veto and device_passed is not False
    if passed:
        why.append(reasons.passed(names, shown, mark_text(mark)))
    result = PartResult(
        part=part,
        exact=out_of_100,
        pass_mark=mark,
        passed=passed,
        breakdown=(),
        veto=veto,
        reasons=tuple(why),
    )
    return DeviceGrade(
        result=result,
        scenario=scenario.code,
        raw_score=score,
        raw_max=top,
        device_passed=device_passed,
        errors=errors,
        duration_s=duration,
        badge=_optional_text(frame, "badge"),
        ts=_optional_text(frame, "ts"),
    )
