"""Passed? May sit again? Retrain or re-register? Pass valid until? Ready to certify? — under the
rule set in force on each date, with reasons a trainee can read.

A part's history is the list of its attempts since the trainee's current training or
registration (the server starts a new history when a decision says to retrain or to register
again). How a history is read, the regulation's rules applied to dates:

- Each attempt is judged under the rule set in force on the day it was sat: its pass mark, and
  whether it used up the allowance. What an attempt settled is fixed on that day and a later
  rule set does not undo it (laws do not reach back, 立法法 art. 104): a pass stays a pass, and
  a make-up failed on 2026-05-28 under SAWS Order No. 30 still means retraining when the
  trainee asks on 2026-06-10, although MEM Order No. 19 allows theory retakes without limit.
- The allowance for the next sitting is the one of the rule set in force on the day of that
  sitting (`on`), and every attempt of the history counts against it, whichever order it was
  sat under: a trainee who failed a first sitting on 2026-05-20 (Order 30, one make-up) and
  sits again on 2026-06-10 is under Order 19 — theory without limit, practical 2 of 5 used, so 3
  left. Order 19 counts sittings; it does not say that sittings before it are forgotten, so the
  count carries on (the reason `counted_across_rule_change` says so).
- A pass lapses after the period of the rule set in force on the day it was passed (Order 30:
  12 months), or, where that rule set leaves it open (Order 19), after the period the base sets
  in `Policy` (None: it does not lapse). A pass on 2026-05-20 kept 12 months is valid until
  2027-05-19 and has lapsed on 2027-05-20 (day clamped to a shorter month's end). After a lapse
  the part must be taken again, and a new count of attempts begins with the next sitting.
- VR and rig scenarios are practical exams by simulation: the practical allowance applies,
  counted per scenario; their pass mark is the scenario's own, already in `Attempt.passed`.

A history the regulation could not have produced — a sitting after the allowance ran out, a
sitting while a pass still stood, a theory or practical pass below the pass mark, an attempt
after the day of the decision — raises InconsistentHistory rather than being guessed at.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from curricula.model import Curriculum, ModuleKind, Text
from curricula.rules import OnExhaustion, PartRule, RuleSet, rule_set_on
from scoring import reasons
from scoring.errors import InconsistentHistory
from scoring.numbers import exact
from scoring.reasons import Reason
from scoring.results import (
    PRACTICAL,
    THEORY,
    PartKind,
    PartResult,
    device_part,
    part_kind,
    part_names,
)

BASE_SETTING = Text(zh="本基地规定", en="the base's setting")


@dataclass(frozen=True)
class Attempt:
    """One sitting of one part, as the server stores it."""

    day: dt.date
    score: Decimal  # out of 100, as recorded
    passed: bool

    @classmethod
    def of(cls, day: dt.date, result: PartResult) -> Attempt:
        return cls(day, result.score, result.passed)


@dataclass(frozen=True)
class Policy:
    """What the base sets where the regulation leaves it open (from the server's settings)."""

    # How long a pass is kept when the rule set in force on the pass date sets no period
    # (Order 19's text on this is unverified); None: such a pass does not lapse.
    passing_score_valid_months: int | None


class PartState(StrEnum):
    not_attempted = "not_attempted"
    passed = "passed"
    pass_expired = "pass_expired"  # noqa: S105 (a state, not a password)
    may_retake = "may_retake"
    must_retrain = "must_retrain"
    must_reregister_theory = "must_reregister_theory"


@dataclass(frozen=True)
class PartDecision:
    """Where a trainee stands in one part on a day, and why."""

    part: str
    on: dt.date
    state: PartState
    rule_set: str  # the rule set in force on `on`
    governed_by: str  # the rule set whose rule settled `state` (the pass's, the last sitting's …)
    attempts_used: int  # in the current count
    attempts_left: int | None  # sittings still allowed (0 once passed or used up); None = no limit
    last_attempt: Attempt | None
    passed_on: dt.date | None  # the pass that stands or lapsed
    valid_until: dt.date | None  # last day the pass counts; None with a pass: no lapse
    reasons: tuple[Reason, ...]

    @property
    def passed(self) -> bool:
        """A pass that still counts on `on`."""
        return self.state is PartState.passed

    @property
    def may_sit(self) -> bool:
        """May sit this part on `on`: a first sitting, a retake, or again after a lapsed pass."""
        return self.state in (PartState.not_attempted, PartState.pass_expired, PartState.may_retake)

    @property
    def must_retrain(self) -> bool:
        return self.state is PartState.must_retrain

    @property
    def must_reregister_theory(self) -> bool:
        return self.state is PartState.must_reregister_theory

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.reasons)

    def to_dict(self) -> dict[str, Any]:
        last = self.last_attempt
        return {
            "part": self.part,
            "on": self.on.isoformat(),
            "state": self.state.value,
            "passed": self.passed,
            "may_sit": self.may_sit,
            "must_retrain": self.must_retrain,
            "must_reregister_theory": self.must_reregister_theory,
            "rule_set": self.rule_set,
            "governed_by": self.governed_by,
            "attempts_used": self.attempts_used,
            "attempts_left": self.attempts_left,
            "last_attempt": None
            if last is None
            else {"day": last.day.isoformat(), "score": str(last.score), "passed": last.passed},
            "passed_on": None if self.passed_on is None else self.passed_on.isoformat(),
            "valid_until": None if self.valid_until is None else self.valid_until.isoformat(),
            "reasons": [{"code": r.code, "zh": r.zh, "en": r.en} for r in self.reasons],
        }


def _add_months(day: dt.date, months: int) -> dt.date:
    year, month0 = divmod(day.year * 12 + day.month - 1 + months, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return dt.date(year, month0 + 1, min(day.day, last))


def _rule_of(rule_set: RuleSet, kind: PartKind) -> PartRule:
    return rule_set.theory if kind is PartKind.theory else rule_set.practical


def _kept_months(rule_set: RuleSet, policy: Policy) -> tuple[int | None, Text]:
    if rule_set.passing_score_valid_months is not None:
        return rule_set.passing_score_valid_months, rule_set.short_title
    return policy.passing_score_valid_months, BASE_SETTING


def _lapses_on(passed: Attempt, rule_set: RuleSet, policy: Policy) -> dt.date | None:
    months, _ = _kept_months(rule_set, policy)
    return None if months is None else _add_months(passed.day, months)


def _inconsistent(part: str, zh: str, en: str) -> InconsistentHistory:
    return InconsistentHistory(
        f"{part_names(part)[0]}的考试记录不合规定：{zh}",
        f"the {part_names(part)[1]} history cannot be right: {en}",
        details={"part": part},
    )


def decide_part(
    part: str,
    attempts: Sequence[Attempt],
    *,
    rule_sets: tuple[RuleSet, ...],
    policy: Policy,
    on: dt.date,
    title: Text | None = None,
) -> PartDecision:
    """Decide one part on day `on` from its attempts since the current training or registration.

    `part` is `theory`, `practical` or `device:<scenario>` (then `title` names the scenario in
    the reasons). `on` is the day the decision is for: today, or the day of the next sitting.
    """
    kind = part_kind(part)
    names = part_names(part, title)
    history = sorted(attempts, key=lambda a: a.day)  # stable: same-day attempts keep their order
    if history and history[-1].day > on:
        raise _inconsistent(
            part,
            f"{history[-1].day} 的考试晚于判定日 {on}",
            f"an attempt on {history[-1].day} is after the day decided, {on}",
        )

    count: list[tuple[Attempt, RuleSet]] = []
    standing: tuple[Attempt, RuleSet] | None = None  # the last pass, lapsed or not
    exhausted: tuple[Attempt, RuleSet] | None = None
    for attempt in history:
        rule_set = rule_set_on(rule_sets, attempt.day)
        rule = _rule_of(rule_set, kind)
        if exhausted is not None:
            raise _inconsistent(
                part,
                f"{exhausted[0].day} 已用完考试次数，{attempt.day} 不应再考",
                f"the allowance ran out on {exhausted[0].day}, yet it was sat on {attempt.day}",
            )
        if standing is not None:
            lapse = _lapses_on(*standing, policy)
            if lapse is None or attempt.day < lapse:
                raise _inconsistent(
                    part,
                    f"{standing[0].day} 的合格成绩仍有效，{attempt.day} 不应再考",
                    f"the pass of {standing[0].day} still stood when it was sat on {attempt.day}",
                )
            standing, count = None, []  # the pass lapsed: a new count begins
        if kind is not PartKind.device and attempt.passed:
            mark = exact(rule.pass_mark) / exact(rule.max_score) * 100
            if exact(attempt.score) < mark:
                raise _inconsistent(
                    part,
                    f"{attempt.day} 的 {attempt.score} 分低于合格线却记为合格",
                    f"{attempt.score} on {attempt.day} is below the pass mark but marked passed",
                )
        count.append((attempt, rule_set))
        if attempt.passed:
            standing = (attempt, rule_set)
        elif rule.max_attempts is not None and len(count) >= rule.max_attempts:
            exhausted = (attempt, rule_set)

    now = rule_set_on(rule_sets, on)
    rule_now = _rule_of(now, kind)
    last = history[-1] if history else None

    def decision(
        state: PartState,
        why: list[Reason],
        *,
        under: RuleSet = now,
        used: int = len(count),
        left: int | None = None,
        passed_on: dt.date | None = None,
        valid_until: dt.date | None = None,
    ) -> PartDecision:
        return PartDecision(
            part,
            on,
            state,
            now.code,
            under.code,
            used,
            left,
            last,
            passed_on,
            valid_until,
            tuple(why),
        )

    def carried(reference: RuleSet) -> list[Reason]:
        earlier = [rs for _, rs in count if rs.code != reference.code]
        if not earlier:
            return []
        return [
            reasons.counted_across_rule_change(
                len(earlier),
                earlier[0].short_title,
                reference.short_title,
                reference.effective_from,
            )
        ]

    if standing is not None:
        passed, passed_under = standing
        months, source = _kept_months(passed_under, policy)
        why = [reasons.part_passed(names, passed.day, passed.score, passed_under.short_title)]
        if months is None:
            why.append(reasons.pass_kept_indefinitely(passed_under.short_title))
            return decision(PartState.passed, why, under=passed_under, left=0, passed_on=passed.day)
        lapse = _add_months(passed.day, months)
        until = lapse - dt.timedelta(days=1)
        if on < lapse:
            why.append(reasons.pass_valid_until(months, until, source))
            return decision(
                PartState.passed,
                why,
                under=passed_under,
                left=0,
                passed_on=passed.day,
                valid_until=until,
            )
        return decision(
            PartState.pass_expired,
            [reasons.pass_expired(names, passed.day, months, lapse)],
            used=0,
            left=rule_now.max_attempts,
            passed_on=passed.day,
            valid_until=until,
        )

    if exhausted is not None:
        failed, under = exhausted
        rule = _rule_of(under, kind)
        assert rule.on_exhaustion is not None  # PartRule requires it with max_attempts
        why = [
            reasons.exhausted(
                names, len(count), failed.day, under.short_title, rule.on_exhaustion, rule
            )
        ]
        return decision(
            _exhausted_state(rule.on_exhaustion), why + carried(under), under=under, left=0
        )

    if last is None:
        return decision(
            PartState.not_attempted, [reasons.not_attempted(names)], left=rule_now.max_attempts
        )

    if rule_now.max_attempts is None:
        why = [reasons.retake_unlimited(names, last.day, last.score, now.short_title)]
        return decision(PartState.may_retake, why + carried(now))
    left = rule_now.max_attempts - len(count)
    if left > 0:
        why = [reasons.retake_allowed(names, last.day, last.score, left, now.short_title, rule_now)]
        return decision(PartState.may_retake, why + carried(now), left=left)
    # The rule set in force now allows fewer sittings than were already used.
    assert rule_now.on_exhaustion is not None
    why = [
        reasons.exhausted(
            names, len(count), last.day, now.short_title, rule_now.on_exhaustion, rule_now
        )
    ]
    return decision(_exhausted_state(rule_now.on_exhaustion), why + carried(now), left=0)


def _exhausted_state(then: OnExhaustion) -> PartState:
    if then is OnExhaustion.retrain:
        return PartState.must_retrain
    return PartState.must_reregister_theory


# --- certification -------------------------------------------------------------------------

_HOURS_NAMES = {
    ModuleKind.theory: ("理论培训", "theory training"),
    ModuleKind.practical: ("实际操作培训", "practical training"),
    ModuleKind.vr: ("VR 实训", "VR training"),
    ModuleKind.rig: ("体验装置实训", "rig training"),
}


@dataclass(frozen=True)
class HoursLine:
    kind: ModuleKind
    credited_minutes: int
    required_minutes: int

    @property
    def complete(self) -> bool:
        return self.credited_minutes >= self.required_minutes


@dataclass(frozen=True)
class CertificationDecision:
    ready: bool
    on: dt.date
    parts: tuple[PartDecision, ...]
    hours: tuple[HoursLine, ...]
    reasons: tuple[Reason, ...]

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.reasons)

    def part(self, key: str) -> PartDecision:
        return next(p for p in self.parts if p.part == key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ready": self.ready,
            "on": self.on.isoformat(),
            "parts": [p.to_dict() for p in self.parts],
            "hours": [
                {
                    "kind": h.kind.value,
                    "credited_minutes": h.credited_minutes,
                    "required_minutes": h.required_minutes,
                    "complete": h.complete,
                }
                for h in self.hours
            ],
            "reasons": [{"code": r.code, "zh": r.zh, "en": r.en} for r in self.reasons],
        }


def required_parts(curriculum: Curriculum) -> tuple[tuple[str, Text | None], ...]:
    """The parts a trainee must pass, with the title a device part is shown by."""
    parts: list[tuple[str, Text | None]] = []
    if curriculum.assessment.theory is not None:
        parts.append((THEORY, None))
    if curriculum.assessment.practical is not None:
        parts.append((PRACTICAL, None))
    for d in curriculum.assessment.device:
        if d.required:
            parts.append((device_part(d.scenario), curriculum.scenario(d.scenario).title))
    return tuple(parts)


def decide_certification(
    curriculum: Curriculum,
    *,
    histories: Mapping[str, Sequence[Attempt]],
    credited_minutes: Mapping[ModuleKind, int],
    rule_sets: tuple[RuleSet, ...],
    policy: Policy,
    on: dt.date,
) -> CertificationDecision:
    """Ready to certify on `on`: every kind of hours complete and every required part passed.

    `histories` maps part keys to their attempts (a part with none may be left out);
    `credited_minutes` the trainee's credited attendance per module kind.
    """
    parts_of_curriculum = {THEORY, PRACTICAL} | {device_part(s.code) for s in curriculum.scenarios}
    unknown = sorted(set(histories) - parts_of_curriculum)
    if unknown:
        raise ValueError(f"{curriculum.code} has no part {unknown[0]!r}")
    decisions = tuple(
        decide_part(
            key,
            histories.get(key, ()),
            rule_sets=rule_sets,
            policy=policy,
            on=on,
            title=title,
        )
        for key, title in required_parts(curriculum)
    )
    by_kind = curriculum.module_hours()
    hours = tuple(
        HoursLine(kind, int(credited_minutes.get(kind, 0)), round(by_kind[kind] * 60))
        for kind in ModuleKind
        if by_kind[kind] > 0
    )
    why: list[Reason] = [
        reasons.hours_short(_HOURS_NAMES[h.kind], h.credited_minutes, h.required_minutes)
        for h in hours
        if not h.complete
    ]
    why += [
        reasons.part_not_passed(part_names(d.part, title))
        for d, (_, title) in zip(decisions, required_parts(curriculum), strict=True)
        if not d.passed
    ]
    ready = not why
    if ready:
        why = [reasons.ready_to_certify(on)]
    return CertificationDecision(ready, on, decisions, hours, tuple(why))
