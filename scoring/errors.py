"""The errors scoring raises: input that cannot be scored, each with a code and zh/en text.

ScoringError (ValueError)
 ├── PaperFormatError     a stored paper is not a valid paper (field named in `details`)
 ├── PaperMismatch        a paper does not belong to the curriculum it is graded against
 ├── InvalidAnswer        an answer names a question or option the paper does not have
 ├── InvalidMarks         a practical checklist is incomplete or marks something unknown
 ├── InvalidDeviceResult  a device `result` frame cannot be scored
 └── InconsistentHistory  an attempt history the regulation could not have produced

The server turns any of them into its own `InvalidInput` (HTTP 422) with the same code.
"""

from __future__ import annotations

from typing import Any


class ScoringError(ValueError):
    code = "scoring_error"

    def __init__(self, zh: str, en: str, *, code: str | None = None, details: Any = None) -> None:
        self.zh = zh
        self.en = en
        self.code = code or type(self).code
        self.details = details
        super().__init__(f"{zh} / {en}")


class PaperFormatError(ScoringError):
    code = "paper_format"


class PaperMismatch(ScoringError):
    code = "paper_mismatch"


class InvalidAnswer(ScoringError):
    code = "invalid_answer"


class InvalidMarks(ScoringError):
    code = "invalid_marks"


class InvalidDeviceResult(ScoringError):
    code = "invalid_device_result"


class InconsistentHistory(ScoringError):
    code = "inconsistent_history"
