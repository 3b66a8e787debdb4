"""Pure scoring functions: papers, grading, checklists, device scores, decisions, item analysis.

No database, no web, no I/O: the server stores what these return (`to_dict()` is plain JSON
data) and passes it back in. Modules, by what they are for:

- `papers`: theory papers drawn from a blueprint, stored and shown without the key;
- `answers`: checking saved answers, and a paper's answers as an `AnswerSheet`;
- `grading`: grading papers (one, or a batch with numpy) with the per-topic breakdown;
- `practical`: practical checklists with weighted subjects, deductions and veto items;
- `device`: VR pod and rig `result` frames in the same result shape;
- `decisions`: pass, retake, retraining and certification under the rule set of each date;
- `items`: item analysis over many attempts (difficulty, discrimination, KR-20);
- `results`, `reasons`, `numbers`, `errors`: the shared result shape, bilingual reasons,
  exact scores and rounding, and the errors raised;
- `eligibility`: who may enrol in a course.
"""

from scoring.answers import AnswerSheet, check_answer
from scoring.decisions import (
    Attempt,
    CertificationDecision,
    PartDecision,
    PartState,
    Policy,
    decide_certification,
    decide_part,
    required_parts,
)
from scoring.device import DeviceGrade, normalise_device_result
from scoring.errors import (
    InconsistentHistory,
    InvalidAnswer,
    InvalidDeviceResult,
    InvalidMarks,
    PaperFormatError,
    PaperMismatch,
    ScoringError,
)
from scoring.grading import Grader, TheoryGrade, grade_paper
from scoring.items import ItemAnalysis, Responses, analyse_items, responses_from_grades
from scoring.papers import Paper, PaperQuestion, answer_key, generate_paper, paper_view
from scoring.practical import ItemMark, PracticalGrade, grade_practical
from scoring.reasons import Reason, ReasonCode
from scoring.results import PRACTICAL, THEORY, PartKind, PartResult, device_part

__all__ = [
    "PRACTICAL",
    "THEORY",
    "AnswerSheet",
    "Attempt",
    "CertificationDecision",
    "DeviceGrade",
    "Grader",
    "InconsistentHistory",
    "InvalidAnswer",
    "InvalidDeviceResult",
    "InvalidMarks",
    "ItemAnalysis",
    "ItemMark",
    "Paper",
    "PaperFormatError",
    "PaperMismatch",
    "PaperQuestion",
    "PartDecision",
    "PartKind",
    "PartResult",
    "PartState",
    "Policy",
    "PracticalGrade",
    "Reason",
    "ReasonCode",
    "Responses",
    "ScoringError",
    "TheoryGrade",
    "analyse_items",
    "answer_key",
    "check_answer",
    "decide_certification",
    "decide_part",
    "device_part",
    "generate_paper",
    "grade_paper",
    "grade_practical",
    "normalise_device_result",
    "paper_view",
    "required_parts",
    "responses_from_grades",
]
