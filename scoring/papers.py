"""Theory papers drawn from a curriculum's blueprint, stored as plain data and shown without the key.

A `Paper` is what the server stores for one trainee's sitting: the curriculum code and version,
the seed, and per question its id, topic, type, points and option order. It holds no answer, so
it can be stored beside the attempt, re-graded later from the stored form (`Paper.from_dict`),
and a trainee's screen (`paper_view`) shows it without the key. Grading needs only the stored
paper, the question bank and the chosen option ids.

Drawing is seeded and independent of Python's `random`: every choice sorts by SHA-256 of
(seed, purpose, question id, option), so the same seed gives the same paper on any machine and
any Python version, and adding a question to the bank changes a paper only where it wins a
draw. Per topic and type the blueprint's count of questions is drawn (no question twice: a
question has one topic and one type and each topic is drawn once). The paper is laid out by
section — single choice, multiple choice, true/false — shuffled within each section. The options
of a choice question are shuffled per paper; an option keeps its id (its bank key A–H) and is
shown with the letter of its new place, so the key is remapped (`answer_key`). True/false keeps
正确 before 错误.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from curricula.model import Curriculum, Question, QuestionType
from scoring.errors import PaperFormatError, PaperMismatch
from scoring.numbers import HUNDRED, exact, text

FORMAT = 1
SECTIONS = (QuestionType.single, QuestionType.multiple, QuestionType.true_false)
TRUE_FALSE = ("T", "F")
LETTERS = "ABCDEFGH"
_TRUE_FALSE_TEXT = {"T": ("正确", "True"), "F": ("错误", "False")}


@dataclass(frozen=True, slots=True)
class PaperQuestion:
    question_id: str
    topic: str
    type: QuestionType
    points: Fraction
    options: tuple[str, ...]  # option ids in the order shown; ("T", "F") for true/false

    def label(self, option_id: str) -> str:
        """The letter the trainee sees for an option (true/false options are shown as T/F)."""
        if self.type is QuestionType.true_false:
            return option_id
        return LETTERS[self.options.index(option_id)]

    def option_at(self, label: str) -> str:
        """The option id shown with a letter (for answer sheets filled in by letter)."""
        if self.type is QuestionType.true_false:
            if label not in TRUE_FALSE:
                raise ValueError(f"true/false answers are T or F, not {label!r}")
            return label
        position = LETTERS.find(label)
        if position < 0 or position >= len(self.options):
            raise ValueError(f"question {self.question_id} has no option {label!r}")
        return self.options[position]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.question_id,
            "topic": self.topic,
            "type": self.type.value,
            "points": text(self.points),
            "options": list(self.options),
        }


@dataclass(frozen=True)
class Paper:
    curriculum: str
    version: str
    seed: str
    time_limit_minutes: int
    partial_credit: bool
    # SHA-256 over the graded content (id, topic, type, options, key) of each question on the
    # paper, as the bank held it when the paper was drawn: grading refuses a changed bank.
    key_digest: str
    questions: tuple[PaperQuestion, ...]
    question_ids: tuple[str, ...] = field(init=False, repr=False, compare=False)
    # Question i is worth point_units[1][i] / point_units[0] points (least common denominator).
    point_units: tuple[int, tuple[int, ...]] = field(init=False, repr=False, compare=False)
    _positions: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # The columns grading reads, worked out once here rather than per grading.
        positions = {q.question_id: i for i, q in enumerate(self.questions)}
        if len(positions) != len(self.questions):
            raise ValueError("a paper repeats a question")
        object.__setattr__(self, "_positions", positions)
        object.__setattr__(self, "question_ids", tuple(positions))
        # Questions usually share one Fraction per points value, so read each value once.
        points = [q.points for q in self.questions]
        ids = list(map(id, points))
        distinct = dict(zip(ids, points, strict=True))
        d = math.lcm(*(p.denominator for p in distinct.values()))
        units = {key: p.numerator * (d // p.denominator) for key, p in distinct.items()}
        object.__setattr__(self, "point_units", (d, tuple(map(units.__getitem__, ids))))

    def position(self, question_id: str) -> int | None:
        """Where a question is on the paper (0-based), or None."""
        return self._positions.get(question_id)

    def question(self, question_id: str) -> PaperQuestion | None:
        i = self._positions.get(question_id)
        return None if i is None else self.questions[i]

    @property
    def total_points(self) -> Fraction:
        d, units = self.point_units
        return Fraction(sum(units), d)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (strings, numbers, lists): what the server stores."""
        return {
            "format": FORMAT,
            "curriculum": self.curriculum,
            "version": self.version,
            "seed": self.seed,
            "time_limit_minutes": self.time_limit_minutes,
            "partial_credit": self.partial_credit,
            "key_digest": self.key_digest,
            "questions": [q.to_dict() for q in self.questions],
        }

    @classmethod
    def from_dict(cls, data: Any) -> Paper:
        """Rebuild a stored paper; anything malformed raises PaperFormatError naming the field."""
        return _parse_paper(data)


class _Ranker:
    """32 random-looking bytes per question for one seed and purpose: SHA-256 of all three."""

    def __init__(self, seed: str, purpose: str) -> None:
        raw = seed.encode()
        self._base = hashlib.sha256(b"%d:%s:%s\0" % (len(raw), raw, purpose.encode()))

    def __call__(self, question_id: str) -> bytes:
        h = self._base.copy()
        h.update(question_id.encode())
        return h.digest()


def question_digest(q: Question) -> bytes:
    """The graded content of one bank question: what must not change under a stored paper."""
    options = TRUE_FALSE if q.type is QuestionType.true_false else sorted(o.key for o in q.options)
    # Ids, topics and option keys hold no NUL or comma (curricula/model.py patterns).
    content = "\0".join(
        (q.id, q.topic, q.type.value, ",".join(options), ",".join(sorted(q.answer)))
    )
    return hashlib.sha256(content.encode()).digest()


def key_digest(digests: Iterable[bytes]) -> str:
    """The paper's key digest from its questions' digests, in paper order."""
    return hashlib.sha256(b"".join(digests)).hexdigest()


def _no_theory(curriculum: Curriculum) -> PaperMismatch:
    return PaperMismatch(
        f"课程体系 {curriculum.code} 没有理论考试",
        f"curriculum {curriculum.code} has no theory exam",
        code="no_theory_exam",
    )


def generate_paper(curriculum: Curriculum, seed: str | int) -> Paper:
    """Draw one trainee's paper from the blueprint; the same seed always gives the same paper."""
    blueprint = curriculum.assessment.theory
    if blueprint is None:
        raise _no_theory(curriculum)
    key = str(seed)
    # Per bank question one hash: its first half ranks the draw, its second the paper order.
    place = _Ranker(key, "draw")
    shuffle = _Ranker(key, "options")
    ranks: dict[str, bytes] = {}
    bank: dict[tuple[str, QuestionType], list[Question]] = {}
    for q in curriculum.questions:
        bank.setdefault((q.topic, q.type), []).append(q)
        ranks[q.id] = place(q.id)
    questions: list[PaperQuestion] = []
    digests: list[bytes] = []
    for qtype in SECTIONS:
        points = exact(blueprint.points[qtype]) if qtype in blueprint.points else None
        section: list[Question] = []
        for draw in blueprint.draws:
            wanted = draw.count(qtype)
            if wanted:
                pool = bank.get((draw.topic, qtype), [])
                section += sorted(pool, key=lambda q: ranks[q.id][:16])[:wanted]
        section.sort(key=lambda q: ranks[q.id][16:])
        for q in section:
            assert points is not None  # the blueprint validator guarantees points for drawn types
            options: tuple[str, ...] = TRUE_FALSE
            if qtype is not QuestionType.true_false:
                # Four bytes of one hash per option (at most 8 options: 32 bytes).
                noise = shuffle(q.id)
                order = sorted(range(len(q.options)), key=lambda i: noise[4 * i : 4 * i + 4])
                options = tuple(q.options[i].key for i in order)
            questions.append(PaperQuestion(q.id, q.topic, qtype, points, options))
            digests.append(question_digest(q))
    return Paper(
        curriculum=curriculum.code,
        version=curriculum.version,
        seed=key,
        time_limit_minutes=blueprint.time_limit_minutes,
        partial_credit=blueprint.partial_credit,
        key_digest=key_digest(digests),
        questions=tuple(questions),
    )


# --- what the trainee sees -----------------------------------------------------------------


@dataclass(frozen=True)
class OptionView:
    id: str
    label: str
    zh: str
    en: str


@dataclass(frozen=True)
class QuestionView:
    number: int
    question_id: str
    type: QuestionType
    points: Fraction
    stem_zh: str
    stem_en: str
    options: tuple[OptionView, ...]


@dataclass(frozen=True)
class PaperView:
    """A paper as a trainee's kiosk shows it: stems and options in paper order, no key."""

    curriculum: str
    version: str
    time_limit_minutes: int
    total_points: Fraction
    questions: tuple[QuestionView, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "curriculum": self.curriculum,
            "version": self.version,
            "time_limit_minutes": self.time_limit_minutes,
            "total_points": text(self.total_points),
            "questions": [
                {
                    "number": q.number,
                    "id": q.question_id,
                    "type": q.type.value,
                    "points": text(q.points),
                    "stem": {"zh": q.stem_zh, "en": q.stem_en},
                    "options": [
                        {"id": o.id, "label": o.label, "zh": o.zh, "en": o.en} for o in q.options
                    ],
                }
                for q in self.questions
            ],
        }


def bank_questions(paper: Paper, curriculum: Curriculum) -> list[Question]:
    """The bank's question for each paper question, checking the paper belongs to this bank."""
    if paper.curriculum != curriculum.code:
        raise PaperMismatch(
            f"试卷属于课程体系 {paper.curriculum}，不是 {curriculum.code}",
            f"the paper belongs to curriculum {paper.curriculum}, not {curriculum.code}",
        )
    by_id = {q.id: q for q in curriculum.questions}
    found: list[Question] = []
    for pq in paper.questions:
        q = by_id.get(pq.question_id)
        ids = tuple(o.key for o in q.options) if q is not None else ()
        if q is not None and q.type is QuestionType.true_false:
            ids = TRUE_FALSE
        if q is None or q.type is not pq.type or q.topic != pq.topic or set(ids) != set(pq.options):
            raise question_mismatch(pq.question_id)
        found.append(q)
    if key_digest(map(question_digest, found)) != paper.key_digest:
        raise bank_changed(paper)
    return found


def question_mismatch(question_id: str) -> PaperMismatch:
    return PaperMismatch(
        f"试卷上的第 {question_id} 题与题库不一致",
        f"question {question_id} on the paper does not match the bank",
        details={"question": question_id},
    )


def bank_changed(paper: Paper) -> PaperMismatch:
    return PaperMismatch(
        f"抽题后题库中本卷试题的选项或答案已改动（{paper.curriculum}），不能按现有题库评分",
        f"the options or keys of this paper's questions changed in the bank after it was drawn "
        f"({paper.curriculum}); it cannot be graded against the bank as it is now",
        code="bank_changed",
    )


def paper_view(paper: Paper, curriculum: Curriculum) -> PaperView:
    """The paper without its key, for the trainee's screen (no answers, no explanations)."""
    views: list[QuestionView] = []
    for number, (pq, q) in enumerate(
        zip(paper.questions, bank_questions(paper, curriculum), strict=True), start=1
    ):
        if pq.type is QuestionType.true_false:
            texts = _TRUE_FALSE_TEXT
        else:
            texts = {o.key: (o.zh, o.en) for o in q.options}
        options = tuple(
            OptionView(oid, pq.label(oid), texts[oid][0], texts[oid][1]) for oid in pq.options
        )
        views.append(
            QuestionView(number, pq.question_id, pq.type, pq.points, q.stem.zh, q.stem.en, options)
        )
    return PaperView(
        curriculum=paper.curriculum,
        version=paper.version,
        time_limit_minutes=paper.time_limit_minutes,
        total_points=paper.total_points,
        questions=tuple(views),
    )


@dataclass(frozen=True)
class KeyEntry:
    question_id: str
    options: tuple[str, ...]  # the right option ids
    labels: tuple[str, ...]  # the letters they are shown with on this paper, in letter order


def answer_key(paper: Paper, curriculum: Curriculum) -> tuple[KeyEntry, ...]:
    """This paper's key with the letters remapped to its option order (for staff, never trainees)."""
    entries: list[KeyEntry] = []
    for pq, q in zip(paper.questions, bank_questions(paper, curriculum), strict=True):
        ordered = tuple(sorted(q.answer, key=pq.options.index))
        entries.append(KeyEntry(pq.question_id, ordered, tuple(pq.label(o) for o in ordered)))
    return tuple(entries)


# --- the stored form -----------------------------------------------------------------------


def _bad(field_name: str, problem_zh: str, problem_en: str) -> PaperFormatError:
    return PaperFormatError(
        f"试卷数据有误：{field_name} {problem_zh}",
        f"stored paper is malformed: {field_name} {problem_en}",
        details={"field": field_name},
    )


def _get(data: dict[str, Any], name: str, kind: type, where: str = "") -> Any:
    value = data.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _bad(f"{where}{name}", f"应为 {kind.__name__}", f"must be a {kind.__name__}")
    return value


_POINTS: dict[str, Fraction] = {}
_TYPES = {t.value: t for t in QuestionType}
_CHOICE_IDS = frozenset(LETTERS)


def _points(value: Any, i: int) -> Fraction:
    """Parse a points value once per distinct text, so a paper's questions share the object."""
    found = _POINTS.get(value) if isinstance(value, str) else None
    if found is None:
        if not isinstance(value, str):
            raise _bad(f"questions[{i}].points", "应为文本形式的数值", "must be a number as text")
        try:
            found = Fraction(value)
        except (ValueError, ZeroDivisionError):
            raise _bad(f"questions[{i}].points", "不是数值", "is not a number") from None
        if found <= 0:
            raise _bad(f"questions[{i}].points", "应大于 0", "must be above 0")
        if len(_POINTS) < 1000:
            _POINTS[value] = found
    return found


def _parse_question(data: Any, i: int) -> PaperQuestion:
    if not isinstance(data, dict):
        raise _bad(f"questions[{i}]", "应为对象", "must be an object")
    question_id, topic = data.get("id"), data.get("topic")
    if not isinstance(question_id, str) or not question_id:
        raise _bad(f"questions[{i}].id", "应为题目编号", "must be a question id")
    if not isinstance(topic, str):
        raise _bad(f"questions[{i}].topic", "应为文本", "must be text")
    qtype = _TYPES.get(data.get("type"))  # type: ignore[arg-type]
    if qtype is None:
        raise _bad(f"questions[{i}].type", "不是已知题型", "is not a question type")
    points = _points(data.get("points"), i)
    raw = data.get("options")
    options = tuple(raw) if isinstance(raw, list) else ()
    if qtype is QuestionType.true_false:
        if options != TRUE_FALSE:
            raise _bad(f"questions[{i}].options", '判断题应为 ["T", "F"]', 'must be ["T", "F"]')
    elif (
        len(options) < 2
        or not _CHOICE_IDS.issuperset(options)
        or len(frozenset(options)) != len(options)
    ):
        raise _bad(
            f"questions[{i}].options",
            "应为 A–H 中不重复的至少两个",
            "must be two or more distinct of A–H",
        )
    return PaperQuestion(question_id, topic, qtype, points, options)


def _parse_paper(data: Any) -> Paper:
    if not isinstance(data, dict):
        raise _bad("(paper)", "应为对象", "must be an object")
    if data.get("format") != FORMAT:
        raise _bad("format", f"应为 {FORMAT}", f"must be {FORMAT}")
    raw = _get(data, "questions", list)
    questions = tuple([_parse_question(q, i) for i, q in enumerate(raw)])
    if not questions:
        raise _bad("questions", "为空", "is empty")
    if len({q.question_id for q in questions}) != len(questions):
        raise _bad("questions", "有重复的题目", "repeats a question")
    paper = Paper(
        curriculum=_get(data, "curriculum", str),
        version=_get(data, "version", str),
        seed=_get(data, "seed", str),
        time_limit_minutes=_get(data, "time_limit_minutes", int),
        partial_credit=_get(data, "partial_credit", bool),
        key_digest=_get(data, "key_digest", str),
        questions=questions,
    )
    if paper.total_points != HUNDRED:
        raise _bad("questions", "总分应为 100", "must add up to 100 points")
    return paper
