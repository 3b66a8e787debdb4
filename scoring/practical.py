"""Practical exam checklists: items with points and deductions per weighted subject, and veto items.

An examiner marks every item of every subject (an item left unmarked is an error, never full
marks): the deductions that applied (an index into the item's deductions, repeated for each
time it applied, as in 每漏查一项隐患扣10分), whether the item was not performed at all (it
then scores 0), and for a veto item (否决项) whether it failed. An item never scores below 0. A
subject's items add up to 100; the practical score is the subjects' scores weighted
(K1 40 + K3 30 + K4 30 …). One failed veto item fails the practical whatever the points; the
points are still computed and recorded, and the result names every failed veto item.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from curricula.model import ChecklistItem, PracticalBlueprint
from curricula.rules import PartRule
from scoring import reasons
from scoring.errors import InvalidMarks
from scoring.numbers import HUNDRED, exact, mark_text, recorded, text
from scoring.reasons import Reason
from scoring.results import PRACTICAL, Breakdown, PartResult, VetoFailure, part_names


@dataclass(frozen=True)
class ItemMark:
    """What the examiner recorded for one checklist item."""

    item: str
    deductions: tuple[int, ...] = ()
    not_performed: bool = False
    veto_failed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "item": self.item,
            "deductions": list(self.deductions),
            "not_performed": self.not_performed,
            "veto_failed": self.veto_failed,
        }

    @classmethod
    def from_dict(cls, data: Any) -> ItemMark:
        """Read one mark from the console's JSON; a wrong field raises InvalidMarks naming it."""
        if not isinstance(data, Mapping):
            raise _bad("(mark)", "评分记录应为对象", "a mark must be an object")
        item = data.get("item")
        if not isinstance(item, str):
            raise _bad("item", "缺少评分项编号", "the item code is missing")
        deductions = data.get("deductions", [])
        if not isinstance(deductions, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) for d in deductions
        ):
            raise _bad(
                "deductions", "扣分项应为序号列表", "deductions must be a list of indexes", item
            )
        flags = {}
        for name in ("not_performed", "veto_failed"):
            value = data.get(name, False)
            if not isinstance(value, bool):
                raise _bad(name, "应为是或否", "must be true or false", item)
            flags[name] = value
        unknown = sorted(set(data) - {"item", "deductions", "not_performed", "veto_failed"})
        if unknown:
            raise _bad(unknown[0], "不是评分记录的字段", "is not a field of a mark", item)
        return cls(item, tuple(deductions), flags["not_performed"], flags["veto_failed"])


@dataclass(frozen=True)
class ItemScore:
    subject: str
    item: str
    points: Fraction
    deducted: Fraction  # the deductions applied, before the floor of 0
    score: Fraction
    veto: bool
    veto_failed: bool
    not_performed: bool
    deductions: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "item": self.item,
            "points": text(self.points),
            "deducted": text(self.deducted),
            "score": text(self.score),
            "veto": self.veto,
            "veto_failed": self.veto_failed,
            "not_performed": self.not_performed,
            "deductions": list(self.deductions),
        }


@dataclass(frozen=True)
class PracticalGrade:
    result: PartResult
    items: tuple[ItemScore, ...]

    def to_dict(self) -> dict[str, Any]:
        data = self.result.to_dict()
        data["items"] = [i.to_dict() for i in self.items]
        return data


def _bad(field: str, zh: str, en: str, item: str | None = None) -> InvalidMarks:
    where_zh = f"评分项 {item} 的 " if item else ""
    where_en = f"item {item}: " if item else ""
    return InvalidMarks(
        f"实操评分有误：{where_zh}{field} {zh}",
        f"practical marks are wrong: {where_en}{field} {en}",
        details={"item": item, "field": field},
    )


def _item_score(subject: str, item: ChecklistItem, mark: ItemMark) -> ItemScore:
    if mark.veto_failed and not item.veto:
        raise _bad("veto_failed", "只能用于否决项", "applies to veto items only", item.code)
    if mark.not_performed and item.veto:
        raise _bad(
            "not_performed",
            "否决项应记为通过或未通过",
            "a veto item is marked passed or failed",
            item.code,
        )
    for index in mark.deductions:
        if not 0 <= index < len(item.deductions):
            raise _bad(
                "deductions",
                f"没有第 {index} 个扣分项（共 {len(item.deductions)} 个，从 0 起）",
                f"has no deduction {index} (it has {len(item.deductions)}, counted from 0)",
                item.code,
            )
    points = exact(item.points)
    deducted = sum((exact(item.deductions[i].points) for i in mark.deductions), Fraction(0))
    if mark.not_performed or mark.veto_failed:
        score = Fraction(0)
    else:
        score = max(Fraction(0), points - deducted)
    return ItemScore(
        subject=subject,
        item=item.code,
        points=points,
        deducted=deducted,
        score=score,
        veto=item.veto,
        veto_failed=mark.veto_failed,
        not_performed=mark.not_performed,
        deductions=tuple(mark.deductions),
    )


def grade_practical(
    blueprint: PracticalBlueprint, marks: Iterable[ItemMark], *, rule: PartRule
) -> PracticalGrade:
    """Score a checklist; `rule` is the practical rule of the rule set in force on the exam date."""
    by_item: dict[str, ItemMark] = {}
    for given in marks:
        if given.item in by_item:
            raise _bad("item", "重复评分", "is marked twice", given.item)
        by_item[given.item] = given
    known = {i.code for s in blueprint.subjects for i in s.items}
    unknown = sorted(set(by_item) - known)
    if unknown:
        raise _bad("item", "不是本考核的评分项", "is not on this checklist", unknown[0])
    missing = [i.code for s in blueprint.subjects for i in s.items if i.code not in by_item]
    if missing:
        raise InvalidMarks(
            f"实操评分不完整：{', '.join(missing)} 尚未评分",
            f"practical marks are incomplete: {', '.join(missing)} not marked",
            code="incomplete_marks",
            details={"missing": missing},
        )

    names = part_names(PRACTICAL)
    items: list[ItemScore] = []
    breakdown: list[Breakdown] = []
    veto: list[VetoFailure] = []
    why: list[Reason] = []
    total = Fraction(0)
    for subject in blueprint.subjects:
        scores = [_item_score(subject.code, i, by_item[i.code]) for i in subject.items]
        items += scores
        subject_points = sum((s.score for s in scores), Fraction(0))  # out of the items' 100
        weight = exact(subject.weight)
        earned = weight * subject_points / HUNDRED
        total += earned
        breakdown.append(Breakdown.of(subject.code, subject.title, earned, weight))
        for item, score in zip(subject.items, scores, strict=True):
            if score.veto_failed:
                veto.append(VetoFailure(item.code, item.text.zh, item.text.en, subject.code))
                why.append(reasons.veto_failed(names, item.text.zh, item.text.en))

    mark = exact(rule.pass_mark) / exact(rule.max_score) * HUNDRED
    shown = recorded(total)
    if total < mark:
        why.append(reasons.below_pass_mark(names, shown, mark_text(mark)))
    elif not veto:
        why.append(reasons.passed(names, shown, mark_text(mark)))
    result = PartResult(
        part=PRACTICAL,
        exact=total,
        pass_mark=mark,
        passed=total >= mark and not veto,
        breakdown=tuple(breakdown),
        veto=tuple(veto),
        reasons=tuple(why),
    )
    return PracticalGrade(result, tuple(items))
