"""Typed shape of a curriculum file: the contract between the TOML data and the rest of safetrain.

Every text a person reads is a `Text` with a Simplified Chinese (`zh`) and an English (`en`) form.
Cross-field rules (points adding up, answers naming real options, blueprint draws that the bank
can satisfy) are checked here so that a curriculum which loads is one the server can use.
"""

from __future__ import annotations

import re
from collections import Counter
from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

SCENARIO_CODE = r"^[A-Z0-9-]{1,16}$"
CODE = r"^[A-Z0-9][A-Z0-9_-]{0,39}$"
TOPIC_CODE = r"^[a-z0-9][a-z0-9-]{0,39}$"

NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class Strict(BaseModel):
    """Base for file models: unknown keys are errors, so a typo never silently drops data."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(Strict):
    zh: NonEmpty
    en: NonEmpty

    def get(self, lang: str) -> str:
        return self.en if lang == "en" else self.zh


class CurriculumKind(StrEnum):
    special_operation = "special_operation"  # 特种作业 (hazardous process operation)
    experience = "experience"  # 安全体验 (injury-experience programme)
    refresher = "refresher"  # 再培训 / 复审培训


class EducationLevel(StrEnum):
    """Highest completed education, in ascending order (GB/T 4658 simplified)."""

    primary = "primary"  # 小学
    junior_high = "junior_high"  # 初中
    senior_high = "senior_high"  # 高中
    vocational_secondary = "vocational_secondary"  # 中专 / 技校 / 职高 (相当于高中)
    junior_college = "junior_college"  # 大专
    bachelor = "bachelor"  # 本科
    master = "master"  # 硕士
    doctorate = "doctorate"  # 博士

    @property
    def rank(self) -> int:
        return _EDUCATION_RANK[self]

    def at_least(self, other: EducationLevel) -> bool:
        return self.rank >= other.rank


# 中专 / 技校 counts as equivalent to senior high school (相当于高中) for eligibility.
_EDUCATION_RANK = {
    EducationLevel.primary: 0,
    EducationLevel.junior_high: 1,
    EducationLevel.senior_high: 2,
    EducationLevel.vocational_secondary: 2,
    EducationLevel.junior_college: 3,
    EducationLevel.bachelor: 4,
    EducationLevel.master: 5,
    EducationLevel.doctorate: 6,
}


class StationKind(StrEnum):
    vr_pod = "vr_pod"
    fall_rig = "fall_rig"
    shock_rig = "shock_rig"
    mech_rig = "mech_rig"
    exam_seat = "exam_seat"
    kiosk = "kiosk"  # a place in the hall, never a scenario's station

    def label(self, lang: str) -> str:
        zh, en = _STATION_LABELS[self]
        return en if lang == "en" else zh


_STATION_LABELS = {
    StationKind.vr_pod: ("VR 体验舱", "VR pod"),
    StationKind.fall_rig: ("高处坠落体验装置", "fall-arrest rig"),
    StationKind.shock_rig: ("触电体验装置", "electric-shock rig"),
    StationKind.mech_rig: ("机械伤害体验装置", "mechanical-injury rig"),
    StationKind.exam_seat: ("考试机位", "exam seat"),
    StationKind.kiosk: ("自助终端", "kiosk"),
}


class ModuleKind(StrEnum):
    theory = "theory"
    practical = "practical"
    vr = "vr"
    rig = "rig"


class QuestionType(StrEnum):
    single = "single"
    multiple = "multiple"
    true_false = "true_false"


class Hours(Strict):
    """Required contact hours; practical includes VR and rig time."""

    theory: int = Field(ge=0)
    practical: int = Field(ge=0)

    @property
    def total(self) -> int:
        return self.theory + self.practical


class Eligibility(Strict):
    min_age: int = Field(default=18, ge=14, le=70)
    max_age: int | None = Field(default=None, ge=18, le=80)
    min_education: EducationLevel | None = None


class OperationCategory(Strict):
    code: Annotated[str, StringConstraints(pattern=CODE)]
    title: Text


class Topic(Strict):
    code: Annotated[str, StringConstraints(pattern=TOPIC_CODE)]
    title: Text


class Scenario(Strict):
    code: Annotated[str, StringConstraints(pattern=SCENARIO_CODE)]
    title: Text
    station_kind: StationKind
    max_score: float = Field(default=100, gt=0)
    min_score: float = Field(ge=0)
    steps: tuple[Text, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _min_within_max(self) -> Self:
        if self.station_kind is StationKind.kiosk:
            raise ValueError("a scenario runs on a pod or rig, not on a kiosk")
        if self.min_score > self.max_score:
            raise ValueError(f"min_score {self.min_score} exceeds max_score {self.max_score}")
        return self


class Module(Strict):
    code: Annotated[str, StringConstraints(pattern=CODE)]
    kind: ModuleKind
    title: Text
    hours: float = Field(gt=0)
    topics: tuple[str, ...] = ()
    scenario: str | None = None


class Option(Strict):
    key: Annotated[str, StringConstraints(pattern=r"^[A-H]$")]
    zh: NonEmpty
    en: NonEmpty


class Question(Strict):
    id: Annotated[str, StringConstraints(pattern=CODE)]
    topic: str
    type: QuestionType
    stem: Text
    options: tuple[Option, ...] = ()
    answer: tuple[str, ...] = Field(min_length=1)
    explanation: Text

    @model_validator(mode="after")
    def _answer_fits_type(self) -> Self:
        if self.type is QuestionType.true_false:
            if self.options:
                raise ValueError("true_false questions take no options (they are 正确/错误)")
            if len(self.answer) != 1 or self.answer[0] not in ("T", "F"):
                raise ValueError('true_false answer must be ["T"] or ["F"]')
            return self
        keys = [o.key for o in self.options]
        if len(keys) < 2:
            raise ValueError(f"{self.type} question needs at least 2 options")
        if len(set(keys)) != len(keys):
            raise ValueError(f"option keys repeat: {keys}")
        if keys != sorted(keys) or keys[0] != "A":
            raise ValueError(f"option keys must run A, B, C … in order, got {keys}")
        unknown = [a for a in self.answer if a not in keys]
        if unknown:
            raise ValueError(f"answer names options that do not exist: {unknown}")
        if len(set(self.answer)) != len(self.answer):
            raise ValueError("answer repeats an option")
        if self.type is QuestionType.single and len(self.answer) != 1:
            raise ValueError("single-choice question must have exactly one answer")
        if self.type is QuestionType.multiple and len(self.answer) < 2:
            raise ValueError("multiple-choice question must have at least two answers")
        return self


class TopicDraw(Strict):
    """How many questions of one topic a theory paper draws, and what each is worth."""

    topic: str
    single: int = Field(default=0, ge=0)
    multiple: int = Field(default=0, ge=0)
    true_false: int = Field(default=0, ge=0)

    def count(self, qtype: QuestionType) -> int:
        return int(getattr(self, qtype.value))


class TheoryBlueprint(Strict):
    time_limit_minutes: int = Field(gt=0, le=240)
    points: dict[QuestionType, float]
    partial_credit: bool = False
    show_explanations: bool = True
    draws: tuple[TopicDraw, ...] = Field(min_length=1)

    @property
    def question_count(self) -> int:
        return sum(d.count(t) for d in self.draws for t in QuestionType)

    @property
    def total_points(self) -> float:
        return sum(d.count(t) * self.points.get(t, 0) for d in self.draws for t in QuestionType)

    @model_validator(mode="after")
    def _adds_up(self) -> Self:
        for d in self.draws:
            for t in QuestionType:
                if d.count(t) and t not in self.points:
                    raise ValueError(f"draw for topic {d.topic!r} uses {t} but points has no {t}")
        if abs(self.total_points - 100) > 1e-9:
            raise ValueError(f"theory paper is worth {self.total_points:g} points, must be 100")
        topics = [d.topic for d in self.draws]
        if len(set(topics)) != len(topics):
            raise ValueError(f"a topic is drawn twice: {topics}")
        return self


class Deduction(Strict):
    text: Text
    points: float = Field(gt=0)


class ChecklistItem(Strict):
    code: Annotated[str, StringConstraints(pattern=CODE)]
    text: Text
    points: float = Field(ge=0)
    veto: bool = False
    deductions: tuple[Deduction, ...] = ()

    @model_validator(mode="after")
    def _veto_or_points(self) -> Self:
        if not self.veto and self.points == 0:
            raise ValueError(f"item {self.code} has no points and is not a veto item")
        return self


class Subject(Strict):
    code: Annotated[str, StringConstraints(pattern=CODE)]
    title: Text
    weight: float = Field(gt=0, le=100)
    items: tuple[ChecklistItem, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _items_total_100(self) -> Self:
        total = sum(i.points for i in self.items)
        if abs(total - 100) > 1e-9:
            raise ValueError(f"subject {self.code} items add up to {total:g} points, must be 100")
        codes = [i.code for i in self.items]
        if len(set(codes)) != len(codes):
            raise ValueError(f"subject {self.code} repeats an item code")
        return self


class PracticalBlueprint(Strict):
    time_limit_minutes: int = Field(gt=0, le=480)
    subjects: tuple[Subject, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _weights_total_100(self) -> Self:
        total = sum(s.weight for s in self.subjects)
        if abs(total - 100) > 1e-9:
            raise ValueError(f"subject weights add up to {total:g}, must be 100")
        codes = [s.code for s in self.subjects]
        if len(set(codes)) != len(codes):
            raise ValueError(f"a subject code repeats: {codes}")
        return self


class DeviceAssessment(Strict):
    """A VR or rig scenario that must be passed; its pass mark is the scenario's min_score."""

    scenario: str
    required: bool = True


class Assessment(Strict):
    theory: TheoryBlueprint | None = None
    practical: PracticalBlueprint | None = None
    device: tuple[DeviceAssessment, ...] = ()


class CertificateSpec(Strict):
    title: Text
    issues_certificate: bool = True


class Curriculum(Strict):
    code: Annotated[str, StringConstraints(pattern=CODE)]
    version: NonEmpty
    kind: CurriculumKind
    title: Text
    summary: Text
    operation_category: OperationCategory | None = None
    hours: Hours
    eligibility: Eligibility = Eligibility()
    topics: tuple[Topic, ...] = ()
    modules: tuple[Module, ...] = Field(min_length=1)
    scenarios: tuple[Scenario, ...] = ()
    assessment: Assessment
    certificate: CertificateSpec
    questions: tuple[Question, ...] = ()

    def topic(self, code: str) -> Topic:
        return next(t for t in self.topics if t.code == code)

    def scenario(self, code: str) -> Scenario:
        return next(s for s in self.scenarios if s.code == code)

    def module_hours(self) -> dict[ModuleKind, float]:
        hours: dict[ModuleKind, float] = dict.fromkeys(ModuleKind, 0.0)
        for m in self.modules:
            hours[m.kind] += m.hours
        return hours

    @model_validator(mode="after")
    def _references_resolve(self) -> Self:
        topic_codes = {t.code for t in self.topics}
        scenario_codes = {s.code for s in self.scenarios}
        problems: list[str] = []

        def unique(label: str, codes: list[str]) -> None:
            repeated = sorted(c for c, n in Counter(codes).items() if n > 1)
            if repeated:
                problems.append(f"{label} repeat: {', '.join(repeated)}")

        unique("topic codes", [t.code for t in self.topics])
        unique("module codes", [m.code for m in self.modules])
        unique("scenario codes", [s.code for s in self.scenarios])
        unique("question ids", [q.id for q in self.questions])

        for m in self.modules:
            for t in m.topics:
                if t not in topic_codes:
                    problems.append(f"module {m.code} names unknown topic {t!r}")
            if m.kind in (ModuleKind.vr, ModuleKind.rig):
                if m.scenario is None:
                    problems.append(f"module {m.code} is {m.kind} but names no scenario")
                elif m.scenario not in scenario_codes:
                    problems.append(f"module {m.code} names unknown scenario {m.scenario!r}")
        for q in self.questions:
            if q.topic not in topic_codes:
                problems.append(f"question {q.id} names unknown topic {q.topic!r}")
        for d in self.assessment.device:
            if d.scenario not in scenario_codes:
                problems.append(f"assessment.device names unknown scenario {d.scenario!r}")

        theory = self.assessment.theory
        if theory is not None:
            available = Counter((q.topic, q.type) for q in self.questions)
            for draw in theory.draws:
                if draw.topic not in topic_codes:
                    problems.append(f"theory draw names unknown topic {draw.topic!r}")
                for t in QuestionType:
                    need, have = draw.count(t), available[(draw.topic, t)]
                    if need > have:
                        problems.append(
                            f"theory draw wants {need} {t} questions on {draw.topic!r}, "
                            f"the bank has {have}"
                        )
        hours = self.module_hours()
        theory_hours = hours[ModuleKind.theory]
        practical_hours = hours[ModuleKind.practical] + hours[ModuleKind.vr] + hours[ModuleKind.rig]
        if abs(theory_hours - self.hours.theory) > 1e-9:
            problems.append(
                f"theory modules add up to {theory_hours:g} h, hours.theory says {self.hours.theory}"
            )
        if abs(practical_hours - self.hours.practical) > 1e-9:
            problems.append(
                f"practical, VR and rig modules add up to {practical_hours:g} h, "
                f"hours.practical says {self.hours.practical}"
            )
        if self.kind is CurriculumKind.special_operation and self.operation_category is None:
            problems.append("a special_operation curriculum needs an operation_category")
        if problems:
            raise ValueError("; ".join(problems))
        return self


def is_scenario_code(code: str) -> bool:
    return re.fullmatch(SCENARIO_CODE, code) is not None
