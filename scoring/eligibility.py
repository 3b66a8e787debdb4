"""Who may enrol in a course: China's statutory retirement age (2025 reform) and a curriculum's
eligibility rule, decided with reasons a trainee and a trainer can read.

Statutory retirement age follows 全国人民代表大会常务委员会关于实施渐进式延迟法定退休年龄的决定
(2024-09-13, in force 2025-01-01) and its 对照表:

- men: 60 → 63, one month later for every 4 months of birth, from those born January 1965;
- women in managerial and professional (cadre, 管理和专业技术) posts: 55 → 58, one month per
  4 months of birth, from those born January 1970;
- women in worker (工人) posts: 50 → 55, one month per 2 months of birth, from those born
  January 1975.

So the first cohort (born in the starting month and the 3 — or 1 — months after it) retires one
month late, the next cohort two months late, and so on up to the target age: a man born
1965-01..04 retires at 60 years 1 month, 1965-05..08 at 60 years 2 months, 1976-05..08 at
62 years 11 months, 1976-09 or later at 63. This reproduces the rows of the official tables that
were checked (see tests/scoring/test_eligibility.py).

What is a convention here rather than the law's words:

- The tables give the retirement *month*. `retirement_date` is the birth date plus the age in
  years and months, clamped to the end of a shorter month (born 31 January, 60 years 10 months
  → 30 November); the day a pension office actually processes a retirement may differ.
- Ages in whole years (周岁) use the same clamping, so someone born on 29 February turns a year
  older on 28 February in a common year.
- A person counts as retired *on* their retirement date: a course starting that day is refused.
- Only the statutory age is modelled. Voluntary flexible retirement (弹性退休, up to 3 years
  earlier or later), early retirement for special types of work (特殊工种) and the question of
  which post a woman holds are outside this module: the caller passes the post.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Literal, TypeAlias

from curricula.model import EducationLevel, Eligibility

# The server's `Sex` StrEnum has exactly these values and can be passed as is.
SexValue: TypeAlias = Literal["male", "female"] | str


class PostType(StrEnum):
    """A woman's post, which sets her old and new statutory retirement age; men ignore it."""

    worker = "worker"  # 工人岗位: was 50, rising to 55
    cadre = "cadre"  # 管理和专业技术岗位 (干部): was 55, rising to 58


class ReasonCode(StrEnum):
    eligible = "eligible"
    too_young = "too_young"
    past_retirement = "past_retirement"
    too_old = "too_old"
    education = "education"


@dataclass(frozen=True)
class Reason:
    code: str
    zh: str
    en: str


@dataclass(frozen=True)
class EligibilityDecision:
    """Eligible with the single reason `eligible`, or refused with every check that failed."""

    eligible: bool
    reasons: tuple[Reason, ...]

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.reasons)


@dataclass(frozen=True)
class _Schedule:
    """One group's reform: who is first delayed, by how much per how many months of birth."""

    first_year: int
    first_month: int
    old_months: int
    target_months: int
    birth_months_per_step: int
    zh: str
    en: str

    def age_months(self, birth: date) -> int:
        since_first = (birth.year - self.first_year) * 12 + (birth.month - self.first_month)
        if since_first < 0:
            return self.old_months
        delay = since_first // self.birth_months_per_step + 1
        return min(self.old_months + delay, self.target_months)


_MEN = _Schedule(1965, 1, 60 * 12, 63 * 12, 4, zh="男", en="male")
_WOMEN_CADRE = _Schedule(
    1970, 1, 55 * 12, 58 * 12, 4, zh="女，管理和专业技术岗位", en="female, cadre post"
)
_WOMEN_WORKER = _Schedule(1975, 1, 50 * 12, 55 * 12, 2, zh="女，工人岗位", en="female, worker post")


def _schedule(sex: SexValue, post: PostType) -> _Schedule:
    if sex == "male":
        return _MEN
    if sex != "female":
        raise ValueError(f"sex must be 'male' or 'female', got {sex!r}")
    try:
        post = PostType(post)
    except ValueError:
        raise ValueError(f"post must be 'worker' or 'cadre', got {post!r}") from None
    return _WOMEN_CADRE if post is PostType.cadre else _WOMEN_WORKER


def _add_months(day: date, months: int) -> date:
    year, month0 = divmod(day.year * 12 + day.month - 1 + months, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(day.day, last))


def retirement_age_months(birth: date, sex: SexValue, post: PostType = PostType.worker) -> int:
    """Statutory retirement age in months (e.g. 721 = 60 years 1 month) for this birth date."""
    return _schedule(sex, post).age_months(birth)


def retirement_date(birth: date, sex: SexValue, post: PostType = PostType.worker) -> date:
    """The day the person reaches statutory retirement age (day clamped to the month's end)."""
    return _add_months(birth, retirement_age_months(birth, sex, post))


def age_on(birth: date, on: date) -> int:
    """Age in whole years (周岁) on a day; a 29 February birthday falls on 28 February."""
    if on < birth:
        raise ValueError(f"{on.isoformat()} is before the birth date {birth.isoformat()}")
    years = on.year - birth.year
    if _add_months(birth, 12 * years) > on:
        years -= 1
    return years


_EDUCATION_NAMES = {
    EducationLevel.primary: ("小学", "primary school"),
    EducationLevel.junior_high: ("初中", "junior high school"),
    EducationLevel.senior_high: ("高中", "senior high school"),
    EducationLevel.vocational_secondary: ("中专", "secondary vocational school"),
    EducationLevel.junior_college: ("大专", "junior college"),
    EducationLevel.bachelor: ("本科", "bachelor's degree"),
    EducationLevel.master: ("硕士", "master's degree"),
    EducationLevel.doctorate: ("博士", "doctorate"),
}


def _requirement_names(level: EducationLevel) -> tuple[str, str]:
    # 中专 / 技校 / 职高 rank with 高中, so a requirement at that rank names both.
    if level.rank == EducationLevel.senior_high.rank:
        return "高中或相当于高中", "senior high school or equivalent"
    return _EDUCATION_NAMES[level]


def _age_names(months: int) -> tuple[str, str]:
    years, rest = divmod(months, 12)
    if rest == 0:
        return f"{years} 岁", f"{years} years"
    unit = "month" if rest == 1 else "months"
    return f"{years} 岁 {rest} 个月", f"{years} years {rest} {unit}"


def check_eligibility(
    *,
    birth: date,
    sex: SexValue,
    education: EducationLevel,
    rule: Eligibility,
    on: date,
    post: PostType = PostType.worker,
) -> EligibilityDecision:
    """Decide whether a trainee may enrol in a course starting `on`, giving every failed check.

    The upper limit is the statutory retirement date, or `rule.max_age` (in whole years,
    inclusive) instead when the curriculum sets one.
    """
    schedule = _schedule(sex, post)
    age = age_on(birth, on)
    born, start = birth.isoformat(), on.isoformat()
    reasons: list[Reason] = []

    if age < rule.min_age:
        reasons.append(
            Reason(
                ReasonCode.too_young,
                zh=f"开班时未满 {rule.min_age} 周岁（{born} 出生，{start} 时 {age} 周岁）",
                en=f"under {rule.min_age} when the course starts (born {born}, {age} on {start})",
            )
        )

    if rule.max_age is not None:
        if age > rule.max_age:
            reasons.append(
                Reason(
                    ReasonCode.too_old,
                    zh=f"开班时已超过 {rule.max_age} 周岁（{born} 出生，{start} 时 {age} 周岁）",
                    en=f"over {rule.max_age} when the course starts (born {born}, {age} on {start})",
                )
            )
    else:
        months = schedule.age_months(birth)
        retires_on = _add_months(birth, months)
        if on >= retires_on:
            retires = retires_on.isoformat()
            age_zh, age_en = _age_names(months)
            reasons.append(
                Reason(
                    ReasonCode.past_retirement,
                    zh=(
                        f"开班时已达到法定退休年龄（{schedule.zh}，{born} 出生，"
                        f"法定退休年龄 {age_zh}，{retires} 到龄）"
                    ),
                    en=(
                        f"at or past statutory retirement age when the course starts "
                        f"({schedule.en}, born {born}, retirement age {age_en}, "
                        f"reached on {retires})"
                    ),
                )
            )

    if rule.min_education is not None and not education.at_least(rule.min_education):
        need_zh, need_en = _requirement_names(rule.min_education)
        have_zh, have_en = _EDUCATION_NAMES[education]
        reasons.append(
            Reason(
                ReasonCode.education,
                zh=f"文化程度不符：要求{need_zh}及以上，学员为{have_zh}",
                en=f"education too low: needs {need_en} or above, trainee has {have_en}",
            )
        )

    if reasons:
        return EligibilityDecision(eligible=False, reasons=tuple(reasons))
    return EligibilityDecision(
        eligible=True,
        reasons=(
            Reason(
                ReasonCode.eligible,
                zh=f"符合报名条件（{start} 开班时 {age} 周岁）",
                en=f"meets the enrolment requirements ({age} when the course starts on {start})",
            ),
        ),
    )
