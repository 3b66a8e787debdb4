"""The practical checklist as a form: the curriculum's subjects and items as fields, the posted
form read back into marks (`scoring.practical.ItemMark` data), and the outcome in words."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from curricula.model import ChecklistItem, PracticalBlueprint
from server.console.schedule import Submitted, Translate

MAX_TIMES = 20  # how often one deduction may be counted on one item
# What the examiner chose for an item: not yet marked, done (with its deductions), not
# performed; a veto item (否决项) is passed or failed.
ITEM_STATES = ("", "done", "not_performed")
VETO_STATES = ("", "pass", "fail")


def state_field(item: str) -> str:
    return f"state:{item}"


def count_field(item: str, index: int) -> str:
    return f"count:{item}:{index}"


def _points(value: float) -> str:
    return f"{value:g}"


# --- form → marks ------------------------------------------------------------------------------


def read_marks(
    form: Submitted, blueprint: PracticalBlueprint, t: Translate
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The marks the form gives (unmarked items left out), and an error per bad field.

    An item with a deduction counted but no choice made is taken as done: the examiner plainly
    marked it."""
    marks: list[dict[str, Any]] = []
    errors: dict[str, str] = {}
    for subject in blueprint.subjects:
        for item in subject.items:
            counts = []
            for index in range(len(item.deductions)):
                name = count_field(item.code, index)
                raw = form.get(name)
                times = 0
                if raw:
                    try:
                        times = int(raw)
                    except ValueError:
                        errors[name] = t("err_number")
                    else:
                        if not 0 <= times <= MAX_TIMES:
                            errors[name] = t("as_err_times", max=MAX_TIMES)
                            times = 0
                counts.append(times)
            state = form.get(state_field(item.code))
            if state not in (VETO_STATES if item.veto else ITEM_STATES):
                errors[state_field(item.code)] = t("err_choice")
                continue
            if item.veto:
                if state:
                    marks.append({"item": item.code, "veto_failed": state == "fail"})
            elif state == "not_performed":
                marks.append({"item": item.code, "not_performed": True})
            elif state == "done" or any(counts):
                applied = [i for i, n in enumerate(counts) for _ in range(n)]
                marks.append({"item": item.code, "deductions": applied})
    return marks, errors


def form_of(marks: list[dict[str, Any]], blueprint: PracticalBlueprint) -> Submitted:
    """The form as it shows saved marks."""
    veto = {i.code for s in blueprint.subjects for i in s.items if i.veto}
    values: dict[str, list[str]] = {}
    for mark in marks:
        code = str(mark.get("item", ""))
        if code in veto:
            state = "fail" if mark.get("veto_failed") else "pass"
        else:
            state = "not_performed" if mark.get("not_performed") else "done"
        values[state_field(code)] = [state]
        for index, times in Counter(mark.get("deductions") or []).items():
            values[count_field(code, int(index))] = [str(times)]
    return Submitted(values)


# --- the checklist as the page shows it --------------------------------------------------------


@dataclass(frozen=True)
class DeductionView:
    index: int
    text: str
    points: str
    name: str
    times: str
    error: str


@dataclass(frozen=True)
class ItemView:
    code: str
    text: str
    points: str
    veto: bool
    state_name: str
    state: str
    state_label: str
    choices: list[tuple[str, str]]
    deductions: list[DeductionView]
    error: str
    applied: list[str]  # read-only: the deductions that applied, in words, with the count
    score: str  # read-only: the item's points once marked


@dataclass(frozen=True)
class SubjectView:
    code: str
    title: str
    weight: str
    items: list[ItemView]
    earned: str  # read-only: the subject's points of its weight


def _choices(item: ChecklistItem, t: Translate) -> list[tuple[str, str]]:
    states = VETO_STATES if item.veto else ITEM_STATES
    return [(s, t(f"as_item_{s or 'unmarked'}")) for s in states]


def subjects_of(
    blueprint: PracticalBlueprint,
    form: Submitted,
    errors: dict[str, str],
    lang: str,
    t: Translate,
    result: dict[str, Any] | None = None,
) -> list[SubjectView]:
    """Every subject and item with the form's values; `result` adds each item's score."""
    scored = {i["item"]: i for i in (result or {}).get("items", [])}
    earned = {b["code"]: b for b in (result or {}).get("breakdown", [])}
    out = []
    for subject in blueprint.subjects:
        items = []
        for item in subject.items:
            state = form.get(state_field(item.code))
            deductions = []
            applied = []
            for index, d in enumerate(item.deductions):
                times = form.get(count_field(item.code, index))
                deductions.append(
                    DeductionView(
                        index=index,
                        text=d.text.get(lang),
                        points=_points(d.points),
                        name=count_field(item.code, index),
                        times=times if times not in ("", "0") else "",
                        error=errors.get(count_field(item.code, index), ""),
                    )
                )
                if state == "done" and times not in ("", "0"):
                    applied.append(t("as_applied_times", text=d.text.get(lang), n=times))
            found = scored.get(item.code)
            items.append(
                ItemView(
                    code=item.code,
                    text=item.text.get(lang),
                    points=_points(item.points),
                    veto=item.veto,
                    state_name=state_field(item.code),
                    state=state,
                    state_label=t(f"as_item_{state or 'unmarked'}"),
                    choices=_choices(item, t),
                    deductions=deductions,
                    error=errors.get(state_field(item.code), ""),
                    applied=applied,
                    score=str(found["score"]) if found and state else "",
                )
            )
        line = earned.get(subject.code)
        out.append(
            SubjectView(
                code=subject.code,
                title=subject.title.get(lang),
                weight=_points(subject.weight),
                items=items,
                earned=f"{line['earned']} / {line['possible']}" if line else "",
            )
        )
    return out


def item_texts(blueprint: PracticalBlueprint, codes: list[str], lang: str) -> list[tuple[str, str]]:
    """(code, text) of the named items, in the checklist's order."""
    wanted = set(codes)
    return [
        (i.code, i.text.get(lang)) for s in blueprint.subjects for i in s.items if i.code in wanted
    ]


@dataclass(frozen=True)
class Outcome:
    """What the examiner sees at the top: the total, passed or not, veto items, what is left."""

    complete: bool
    total: str
    passed: bool | None
    veto: list[str]
    missing: list[tuple[str, str]]
    subjects: list[tuple[str, str, str]]  # code, title, earned / possible


def outcome(
    blueprint: PracticalBlueprint,
    *,
    complete: bool,
    total: str,
    passed: bool | None,
    veto: list[dict[str, Any]],
    missing: list[str],
    result: dict[str, Any],
    lang: str,
) -> Outcome:
    return Outcome(
        complete=complete,
        total=total,
        passed=passed,
        veto=[str(v.get("en" if lang == "en" else "zh") or v.get("item")) for v in veto],
        missing=item_texts(blueprint, missing, lang),
        subjects=[
            (
                b["code"],
                (b.get("title") or {}).get(lang, b["code"]),
                f"{b['earned']} / {b['possible']}",
            )
            for b in result.get("breakdown", [])
        ],
    )
