"""The item-analysis report of a curriculum's question bank, from every graded theory paper.

Each graded paper is graded again from its stored form and saved answers (the same grading as
at the sitting, so the matrix is the record, not a copy of it), then `scoring.items` computes
difficulty, discrimination, option counts, KR-20 and the flags, all at once with numpy.
Superseded (corrected) theory attempts are left out: the report reads what stands.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from sqlmodel import Session, col, select

from curricula import catalogue
from scoring.answers import AnswerSheet
from scoring.grading import Grader
from scoring.items import ItemAnalysis, ItemFlag, ItemStats, analyse_items, responses_from_grades
from server.assessment.models import Attempt, AttemptStatus, ExamSitting, TheoryPaper
from server.assessment.sittings import curriculum_of, saved_answers, stored_paper


@dataclass(frozen=True)
class ItemRow:
    stats: ItemStats
    topic: str
    type: str
    stem_zh: str
    stem_en: str


@dataclass(frozen=True)
class ItemReport:
    curriculum_code: str
    curriculum_version: str
    papers: int
    kr20: float | None
    rows: tuple[ItemRow, ...]

    @property
    def flagged(self) -> tuple[ItemRow, ...]:
        """Questions to look at: too easy, too hard or discriminating negatively. "Few
        responses" alone is not a finding, only a warning that the figures are noise."""
        return tuple(r for r in self.rows if set(r.stats.flags) - {ItemFlag.few_responses})


def build(session: Session, curriculum_code: str) -> ItemReport:
    curriculum = curriculum_of(curriculum_code)
    rows = session.exec(
        select(TheoryPaper)
        .join(ExamSitting, col(ExamSitting.id) == TheoryPaper.sitting_id)
        .join(Attempt, col(Attempt.id) == TheoryPaper.attempt_id)
        .where(
            ExamSitting.curriculum_code == curriculum.code,
            ExamSitting.curriculum_version == curriculum.version,
            Attempt.status != AttemptStatus.superseded,
        )
        .order_by(col(TheoryPaper.id))
    ).all()
    rule = catalogue().rule_sets[-1].theory  # the pass mark plays no part in item statistics
    grader = Grader(curriculum)
    papers = [stored_paper(r) for r in rows]
    sheets = [
        AnswerSheet.from_answers(p, saved_answers(session, r.id or 0))
        for p, r in zip(papers, rows, strict=True)
    ]
    grades = grader.grade_many(papers, sheets, rule=rule) if rows else []
    analysis: ItemAnalysis = analyse_items(responses_from_grades(grades, curriculum))
    bank = {q.id: q for q in curriculum.questions}
    items = tuple(
        ItemRow(
            stats=s,
            topic=bank[s.question_id].topic,
            type=bank[s.question_id].type.value,
            stem_zh=bank[s.question_id].stem.zh,
            stem_en=bank[s.question_id].stem.en,
        )
        for s in analysis.items()
    )
    return ItemReport(curriculum.code, curriculum.version, len(rows), analysis.kr20, items)


FLAG_TEXT = {
    "too_easy": ("过易", "too easy"),
    "too_hard": ("过难", "too hard"),
    "negative_discrimination": ("区分度为负", "discriminates negatively"),
    "few_responses": ("作答人数太少，数据仅供参考", "too few responses to judge"),
}


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def to_csv(report: ItemReport) -> bytes:
    """The report as CSV (UTF-8 with BOM for Excel), one question a row, flags in words."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "题号 question",
            "主题 topic",
            "题型 type",
            "作答人数 responses",
            "难度 difficulty (p)",
            "点二列相关 point-biserial",
            "高低分组 upper-lower D",
            "未作答 blank",
            "选项计数 option counts",
            "标记 flags",
            "题干 stem",
        ]
    )
    for row in report.rows:
        s = row.stats
        counts = " ".join(f"{k}:{v}" for k, v in (s.option_counts or {}).items())
        flags = "；".join(" ".join(FLAG_TEXT.get(f.value, (f.value, f.value))) for f in s.flags)
        stem = row.stem_zh
        if stem[:1] in ("=", "+", "-", "@"):
            stem = "'" + stem  # never a formula in a spreadsheet
        writer.writerow(
            [
                s.question_id,
                row.topic,
                row.type,
                s.responses,
                _number(s.difficulty),
                _number(s.point_biserial),
                _number(s.upper_lower),
                "" if s.blank is None else s.blank,
                counts,
                flags,
                stem,
            ]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")
