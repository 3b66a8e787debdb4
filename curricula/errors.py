"""The one error the curricula package raises: a data file that does not validate."""

from __future__ import annotations

from pathlib import Path


class CurriculumError(Exception):
    """A curriculum or rule-set file is wrong; names the file and the key path of each problem."""

    def __init__(self, path: Path | str, problems: list[tuple[str, str]]) -> None:
        self.path = Path(path)
        self.problems = problems
        lines = [f"{self.path}: {key or '(file)'}: {message}" for key, message in problems]
        super().__init__("\n".join(lines))
