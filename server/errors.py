"""The error family services raise; one handler turns each into {"error", "message", "details"}.

SafetrainError
 ├── InvalidInput      422  a field or file is wrong; details name it
 ├── NotAuthenticated  401  no or bad credentials
 ├── NotPermitted      403  authenticated, but this role may not do this
 ├── NotFound          404
 ├── Conflict          409  duplicate or clash; details name what it clashes with
 │    └── ExamClosed   409  an exam's time is up or the paper was handed in: nothing more is saved
 └── TooManyAttempts   429  rate limited; details carry retry_after_seconds
"""

from __future__ import annotations

from typing import Any

from server.i18n import bilingual


class SafetrainError(Exception):
    status = 400
    code = "error"

    def __init__(
        self,
        zh: str,
        en: str,
        *,
        code: str | None = None,
        details: Any = None,
    ) -> None:
        self.zh = zh
        self.en = en
        self.code = code or self.code
        self.details = details
        super().__init__(bilingual(zh, en))

    @property
    def message(self) -> str:
        return bilingual(self.zh, self.en)

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, "details": self.details}

    def headers(self) -> dict[str, str]:
        """HTTP headers the answer carries: Retry-After when the error says when to try again."""
        if isinstance(self.details, dict) and "retry_after_seconds" in self.details:
            return {"Retry-After": str(self.details["retry_after_seconds"])}
        return {}


class InvalidInput(SafetrainError):
    status = 422
    code = "invalid_input"


class NotAuthenticated(SafetrainError):
    status = 401
    code = "not_authenticated"


class NotPermitted(SafetrainError):
    status = 403
    code = "not_permitted"


class NotFound(SafetrainError):
    status = 404
    code = "not_found"


class Conflict(SafetrainError):
    status = 409
    code = "conflict"


class ExamClosed(Conflict):
    code = "exam_closed"


class TooManyAttempts(SafetrainError):
    status = 429
    code = "too_many_attempts"


def field_error(field: str, code: str, zh: str, en: str) -> dict[str, str]:
    """One entry of an InvalidInput's details list."""
    return {"field": field, "code": code, "message": bilingual(zh, en)}
