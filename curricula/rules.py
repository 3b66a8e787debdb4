"""The regulation rule sets (Order 30, Order 19, …) as effective-dated data, picked by date."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from itertools import pairwise
from typing import Self

from pydantic import Field, model_validator

from curricula.model import CODE, NonEmpty, Strict, Text


class OnExhaustion(StrEnum):
    """What a trainee must do when the retake allowance of a part is used up."""

    retrain = "retrain"  # 重新参加培训
    reregister_theory = "reregister_theory"  # 重新报名参加理论考试


class PartRule(Strict):
    pass_mark: float = Field(ge=0, le=100)
    max_score: float = Field(default=100, gt=0)
    # Total sittings allowed (first attempt included); None means unlimited.
    max_attempts: int | None = Field(default=None, ge=1)
    on_exhaustion: OnExhaustion | None = None

    @model_validator(mode="after")
    def _exhaustion_named(self) -> Self:
        if self.max_attempts is not None and self.on_exhaustion is None:
            raise ValueError("a limited max_attempts needs on_exhaustion")
        return self


class CertificateRule(Strict):
    validity_years: int = Field(gt=0)
    renewal: bool  # renewed (换证) after validity_years rather than simply expiring
    review_interval_years: int | None = Field(default=None, gt=0)  # 复审; None = abolished
    review_refresher_hours: int | None = Field(default=None, gt=0)
    # After this many years of clean operation the review may stretch to validity_years.
    review_extension_after_clean_years: int | None = Field(default=None, gt=0)
    expiring_notice_days: int = Field(default=60, gt=0)


class RuleSet(Strict):
    code: str = Field(pattern=CODE)
    title: Text
    # The name a trainee reads in a decision's reasons, e.g. 应急管理部令第19号 / MEM Order No. 19.
    short_title: Text
    source: NonEmpty  # the regulation's citation
    effective_from: dt.date
    effective_until: dt.date | None = None  # inclusive
    theory: PartRule
    practical: PartRule
    certificate: CertificateRule
    # How long a passing exam score stays usable for certification; None = configurable at
    # the base (Order 19 text on this point is unverified, see docs/decisions.md).
    passing_score_valid_months: int | None = Field(default=None, gt=0)
    notes: Text | None = None

    def in_force_on(self, day: dt.date) -> bool:
        return self.effective_from <= day and (
            self.effective_until is None or day <= self.effective_until
        )

    @model_validator(mode="after")
    def _dates_ordered(self) -> Self:
        if self.effective_until is not None and self.effective_until < self.effective_from:
            raise ValueError("effective_until is before effective_from")
        return self


class NoRuleSetInForce(LookupError):
    def __init__(self, day: dt.date) -> None:
        super().__init__(f"no regulation rule set is in force on {day.isoformat()}")
        self.day = day


def rule_set_on(rule_sets: tuple[RuleSet, ...], day: dt.date) -> RuleSet:
    """The rule set in force on `day` (the date of the exam, issue or review event)."""
    for rs in rule_sets:
        if rs.in_force_on(day):
            return rs
    raise NoRuleSetInForce(day)


def check_no_overlap(rule_sets: tuple[RuleSet, ...]) -> list[str]:
    problems: list[str] = []
    ordered = sorted(rule_sets, key=lambda r: r.effective_from)
    for earlier, later in pairwise(ordered):
        if earlier.effective_until is None or earlier.effective_until >= later.effective_from:
            problems.append(f"{earlier.code} and {later.code} are both in force on some day")
        elif (later.effective_from - earlier.effective_until).days != 1:
            problems.append(f"there is a gap between {earlier.code} and {later.code}")
    return problems
