"""Reasons a trainee reads: a stable machine code plus Simplified Chinese and English text.

`Reason` is the same type enrolment eligibility uses, so the server stores and shows every
decision's reasons one way. The builders below are the only place scoring words its reasons.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum

from curricula.model import Text
from curricula.rules import OnExhaustion, PartRule
from scoring.eligibility import Reason

__all__ = ["Reason", "ReasonCode"]

Names = tuple[str, str]  # (zh, en) of a part, e.g. ("理论考试", "theory exam")


class ReasonCode(StrEnum):
    # one attempt
    passed = "passed"
    below_pass_mark = "below_pass_mark"  # noqa: S105 (a reason, not a password)
    veto_failed = "veto_failed"
    device_reported_fail = "device_reported_fail"
    unanswered = "unanswered"
    # a part's history
    not_attempted = "not_attempted"
    part_passed = "part_passed"
    pass_valid_until = "pass_valid_until"  # noqa: S105 (a reason, not a password)
    pass_kept_indefinitely = "pass_kept_indefinitely"  # noqa: S105 (a reason, not a password)
    pass_expired = "pass_expired"  # noqa: S105 (a reason, not a password)
    retake_allowed = "retake_allowed"
    retake_unlimited = "retake_unlimited"
    exhausted_retrain = "exhausted_retrain"
    exhausted_reregister_theory = "exhausted_reregister_theory"
    counted_across_rule_change = "counted_across_rule_change"
    # certification
    ready_to_certify = "ready_to_certify"
    hours_short = "hours_short"
    part_not_passed = "part_not_passed"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _sittings(n: int) -> str:
    return "1 sitting" if n == 1 else f"{n} sittings"


def _months(n: int) -> str:
    return "1 month" if n == 1 else f"{n} months"


def _day(day: dt.date) -> str:
    return day.isoformat()


def allowance_names(rule: PartRule) -> Names:
    """A part rule's retake allowance in words: 最多考 2 次（首考 1 次，补考 1 次）."""
    if rule.max_attempts is None:
        return "不限考试次数", "no limit on sittings"
    if rule.max_attempts == 2:
        return "不及格允许补考 1 次", "one make-up after a fail"
    return f"最多考 {rule.max_attempts} 次", f"at most {_sittings(rule.max_attempts)}"


# --- one attempt ---------------------------------------------------------------------------


def passed(part: Names, score: Decimal, mark: str) -> Reason:
    return Reason(
        ReasonCode.passed,
        zh=f"{part[0]}成绩 {score} 分，达到合格线 {mark} 分（{mark} 分及以上为合格）：合格",
        en=f"{_cap(part[1])}: {score}, at or above the pass mark of {mark}: passed",
    )


def below_pass_mark(part: Names, score: Decimal, mark: str) -> Reason:
    return Reason(
        ReasonCode.below_pass_mark,
        zh=f"{part[0]}成绩 {score} 分，低于合格线 {mark} 分：不合格",
        en=f"{_cap(part[1])}: {score}, below the pass mark of {mark}: not passed",
    )


def veto_failed(part: Names, item_zh: str, item_en: str) -> Reason:
    return Reason(
        ReasonCode.veto_failed,
        zh=f"否决项未通过：{item_zh}。出现否决项即判定{part[0]}不合格，与得分无关",
        en=f"Veto item failed: {item_en}. A failed veto item fails the {part[1]} whatever the score",
    )


def device_reported_fail(part: Names) -> Reason:
    return Reason(
        ReasonCode.device_reported_fail,
        zh=f"考核设备判定本次{part[0]}不合格",
        en=f"The device reported this {part[1]} run as not passed",
    )


def unanswered(count: int) -> Reason:
    questions = "1 question was" if count == 1 else f"{count} questions were"
    return Reason(
        ReasonCode.unanswered,
        zh=f"有 {count} 道题未作答，未作答的题不得分",
        en=f"{questions} left unanswered and scored nothing",
    )


# --- a part's history ----------------------------------------------------------------------


def not_attempted(part: Names) -> Reason:
    return Reason(
        ReasonCode.not_attempted,
        zh=f"尚未参加{part[0]}",
        en=f"The {part[1]} has not been taken yet",
    )


def part_passed(part: Names, day: dt.date, score: Decimal, rules: Text) -> Reason:
    return Reason(
        ReasonCode.part_passed,
        zh=f"{part[0]}已于 {_day(day)} 合格（{score} 分，按{rules.zh}）",
        en=f"{_cap(part[1])} passed on {_day(day)} ({score}, under {rules.en})",
    )


def pass_valid_until(months: int, until: dt.date, source: Text) -> Reason:
    return Reason(
        ReasonCode.pass_valid_until,
        zh=f"合格成绩保留 {months} 个月（{source.zh}），有效至 {_day(until)}",
        en=f"A pass is kept for {_months(months)} ({source.en}): valid until {_day(until)}",
    )


def pass_kept_indefinitely(rules: Text) -> Reason:
    return Reason(
        ReasonCode.pass_kept_indefinitely,
        zh=f"合格成绩长期有效（{rules.zh}未规定保留期限，本基地也未设置）",
        en=f"The pass does not lapse ({rules.en} sets no period and the base has set none)",
    )


def pass_expired(part: Names, day: dt.date, months: int, expired: dt.date) -> Reason:
    return Reason(
        ReasonCode.pass_expired,
        zh=(
            f"{_day(day)} 取得的{part[0]}合格成绩只保留 {months} 个月，已于 {_day(expired)} 失效，"
            f"须重新参加{part[0]}"
        ),
        en=(
            f"The {part[1]} pass of {_day(day)} was kept for {_months(months)} and lapsed on "
            f"{_day(expired)}: the {part[1]} must be taken again"
        ),
    )


def retake_allowed(
    part: Names, last: dt.date, score: Decimal, left: int, rules: Text, rule: PartRule
) -> Reason:
    allowance = allowance_names(rule)
    more = "1 more sitting" if left == 1 else f"{left} more sittings"
    return Reason(
        ReasonCode.retake_allowed,
        zh=(
            f"{_day(last)} 的{part[0]}未合格（{score} 分），还可以再考 {left} 次"
            f"（{rules.zh}：{allowance[0]}）"
        ),
        en=(
            f"The {part[1]} of {_day(last)} was not passed ({score}); {more} allowed "
            f"({rules.en}: {allowance[1]})"
        ),
    )


def retake_unlimited(part: Names, last: dt.date, score: Decimal, rules: Text) -> Reason:
    return Reason(
        ReasonCode.retake_unlimited,
        zh=f"{_day(last)} 的{part[0]}未合格（{score} 分），可以再次参加，不限次数（{rules.zh}）",
        en=(
            f"The {part[1]} of {_day(last)} was not passed ({score}); it may be taken again, "
            f"with no limit on sittings ({rules.en})"
        ),
    )


def exhausted(
    part: Names, used: int, last: dt.date, rules: Text, then: OnExhaustion, rule: PartRule
) -> Reason:
    allowance = allowance_names(rule)
    if then is OnExhaustion.retrain:
        return Reason(
            ReasonCode.exhausted_retrain,
            zh=(
                f"{part[0]}已考 {used} 次仍未合格（最后一次 {_day(last)}）。按{rules.zh}"
                f"（{allowance[0]}），须重新参加培训后才能再次考试"
            ),
            en=(
                f"The {part[1]} was not passed in {_sittings(used)} (last on {_day(last)}). "
                f"Under {rules.en} ({allowance[1]}) the trainee must retrain before sitting it again"
            ),
        )
    return Reason(
        ReasonCode.exhausted_reregister_theory,
        zh=(
            f"{part[0]}已考 {used} 次仍未合格（最后一次 {_day(last)}）。按{rules.zh}"
            f"（{allowance[0]}），须重新报名参加理论考试"
        ),
        en=(
            f"The {part[1]} was not passed in {_sittings(used)} (last on {_day(last)}). "
            f"Under {rules.en} ({allowance[1]}) the trainee must register again for the theory exam"
        ),
    )


def counted_across_rule_change(earlier: int, old: Text, new: Text, since: dt.date) -> Reason:
    return Reason(
        ReasonCode.counted_across_rule_change,
        zh=(
            f"其中 {earlier} 次是在{old.zh}施行期间参加的；{new.zh}自 {_day(since)} 起施行，"
            f"考试次数连续计算"
        ),
        en=(
            f"{_sittings(earlier).capitalize()} of these were under {old.en}; {new.en} applies "
            f"from {_day(since)} and the count carries on"
        ),
    )


# --- certification -------------------------------------------------------------------------


def ready_to_certify(on: dt.date) -> Reason:
    return Reason(
        ReasonCode.ready_to_certify,
        zh=f"学时已完成，各项考核均合格且在有效期内，可于 {_day(on)} 办理发证",
        en=f"Hours complete and every part passed and still valid: ready to certify on {_day(on)}",
    )


def hours_short(kind: Names, credited: int, required: int) -> Reason:
    def hours(minutes: int) -> str:
        h, m = divmod(minutes, 60)
        return f"{h}:{m:02d}"

    return Reason(
        ReasonCode.hours_short,
        zh=f"{kind[0]}学时未完成：已计 {hours(credited)}，要求 {hours(required)}（时:分）",
        en=f"{_cap(kind[1])} hours not complete: {hours(credited)} of {hours(required)} (h:mm)",
    )


def part_not_passed(part: Names) -> Reason:
    return Reason(
        ReasonCode.part_not_passed,
        zh=f"{part[0]}尚无有效的合格成绩",
        en=f"No valid pass of the {part[1]} yet",
    )
