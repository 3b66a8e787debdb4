"""A trainee's answers to one paper: checked as they are saved, kept as one byte per question.

The kiosk sends, per question, the ids of the options chosen (bank keys A–H, or T/F for
true/false) — never positions on the screen, so a stored answer does not depend on the option
order. `check_answer` validates one saved answer. An `AnswerSheet` holds a whole paper's answers
in paper order, one byte per question with bit i set when option id i is chosen (A = bit 0 …
H = bit 7; T = bit 0, F = bit 1; 0 = unanswered): plain data the server can store as text
(`to_text`), and what the vectorised grader reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from curricula.model import QuestionType
from scoring.errors import InvalidAnswer
from scoring.papers import LETTERS, TRUE_FALSE, Paper, PaperQuestion

Answers = Mapping[str, Sequence[str]]

CHOICE_BITS = {letter: 1 << i for i, letter in enumerate(LETTERS)}
TRUE_FALSE_BITS = {"T": 1, "F": 2}


def _invalid(question_id: str, zh: str, en: str, code: str) -> InvalidAnswer:
    return InvalidAnswer(
        f"第 {question_id} 题的答案无效：{zh}",
        f"answer to question {question_id} is invalid: {en}",
        code=code,
        details={"question": question_id},
    )


def unknown_question(question_id: str) -> InvalidAnswer:
    return _invalid(question_id, "试卷上没有这道题", "not on this paper", "unknown_question")


def check_answer(question: PaperQuestion, chosen: Iterable[str]) -> tuple[str, ...]:
    """Validate one saved answer; returns the option ids in the paper's order (() = blank)."""
    if isinstance(chosen, str):  # "AB" would otherwise read as two options
        raise _invalid(
            question.question_id,
            "答案应为选项编号的列表",
            "must be a list of option ids",
            "bad_option",
        )
    picked = list(chosen)
    if any(not isinstance(c, str) for c in picked):
        raise _invalid(
            question.question_id, "选项编号应为文本", "option ids are text", "bad_option"
        )
    if len(set(picked)) != len(picked):
        raise _invalid(
            question.question_id,
            "重复选择了同一选项",
            "an option is chosen twice",
            "repeated_option",
        )
    unknown = sorted(set(picked) - set(question.options))
    if unknown:
        raise _invalid(
            question.question_id,
            f"没有选项 {', '.join(unknown)}",
            f"no option {', '.join(unknown)}",
            "unknown_option",
        )
    if question.type is not QuestionType.multiple and len(picked) > 1:
        raise _invalid(
            question.question_id, "本题只能选一项", "this question takes one option", "one_option"
        )
    return tuple(o for o in question.options if o in picked)


def _bits(question: PaperQuestion) -> dict[str, int]:
    return TRUE_FALSE_BITS if question.type is QuestionType.true_false else CHOICE_BITS


def _mask(question: PaperQuestion, chosen: Iterable[str]) -> int:
    bits = _bits(question)
    return sum(bits[o] for o in check_answer(question, chosen))


def _decode(question: PaperQuestion, mark: int) -> tuple[str, ...]:
    ids = TRUE_FALSE if question.type is QuestionType.true_false else LETTERS
    return tuple(o for o in question.options if mark & (1 << ids.index(o)))


@dataclass(frozen=True)
class AnswerSheet:
    """A paper's answers, one byte per question in paper order (see the module docstring)."""

    marks: bytes

    @classmethod
    def blank(cls, paper: Paper) -> AnswerSheet:
        return cls(bytes(len(paper.questions)))

    @classmethod
    def from_answers(cls, paper: Paper, answers: Answers) -> AnswerSheet:
        """Check every answer against the paper; a question not in `answers` is unanswered."""
        for question_id in answers:
            if paper.question(question_id) is None:
                raise unknown_question(question_id)
        marks = bytearray(len(paper.questions))
        for i, q in enumerate(paper.questions):
            chosen = answers.get(q.question_id)
            if chosen:
                marks[i] = _mask(q, chosen)
        return cls(bytes(marks))

    def with_answer(self, paper: Paper, question_id: str, chosen: Iterable[str]) -> AnswerSheet:
        """This sheet with one answer saved (or cleared, when nothing is chosen)."""
        position = paper.position(question_id)
        if position is None:
            raise unknown_question(question_id)
        marks = bytearray(self._checked_length(paper))
        marks[position] = _mask(paper.questions[position], chosen)
        return AnswerSheet(bytes(marks))

    def chosen(self, paper: Paper) -> dict[str, tuple[str, ...]]:
        """The answered questions' chosen option ids, in the paper's option order."""
        self._checked_length(paper)
        return {
            q.question_id: _decode(q, mark)
            for q, mark in zip(paper.questions, self.marks, strict=True)
            if mark
        }

    def to_text(self) -> str:
        """Two hex digits per question, for storage."""
        return self.marks.hex()

    @classmethod
    def from_text(cls, paper: Paper, text: str) -> AnswerSheet:
        """Rebuild a stored sheet of this paper (the grader checks every option bit)."""
        try:
            marks = bytes.fromhex(text)
        except ValueError:
            raise InvalidAnswer(
                "答题记录不是十六进制文本", "answer sheet is not hex text", code="bad_sheet"
            ) from None
        sheet = cls(marks)
        sheet._checked_length(paper)
        return sheet

    def _checked_length(self, paper: Paper) -> bytes:
        if len(self.marks) != len(paper.questions):
            raise InvalidAnswer(
                f"答题记录有 {len(self.marks)} 题，试卷有 {len(paper.questions)} 题",
                f"the answer sheet has {len(self.marks)} questions, the paper "
                f"{len(paper.questions)}",
                code="bad_sheet",
            )
        return self.marks
