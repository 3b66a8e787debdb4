"""Reads the curriculum and rule-set TOML files shipped in this package and validates them."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from curricula.errors import CurriculumError
from curricula.model import Curriculum
from curricula.rules import RuleSet, check_no_overlap

PACKAGE_DIR = Path(__file__).resolve().parent
CURRICULA_DIR = PACKAGE_DIR / "data"
RULESETS_DIR = PACKAGE_DIR / "rulesets"

M = TypeVar("M", bound=BaseModel)


def _key_path(loc: tuple[int | str, ...], data: Any) -> str:
    """Render a pydantic location as a TOML key path, naming list entries by their code or id."""
    parts: list[str] = []
    node = data
    for step in loc:
        if isinstance(step, int):
            label = str(step)
            if isinstance(node, list) and 0 <= step < len(node) and isinstance(node[step], dict):
                ident = node[step].get("id") or node[step].get("code")
                label = f"{step}:{ident}" if ident else label
            parts[-1:] = [f"{parts[-1]}[{label}]"] if parts else [f"[{label}]"]
        else:
            parts.append(step)
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            node = None
    return ".".join(parts)


def _load(path: Path, model: type[M]) -> M:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise CurriculumError(path, [("", f"not valid TOML: {exc}")]) from exc
    except OSError as exc:
        raise CurriculumError(path, [("", f"cannot read: {exc.strerror}")]) from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [
            (_key_path(err["loc"], data), err["msg"].removeprefix("Value error, "))
            for err in exc.errors()
        ]
        raise CurriculumError(path, problems) from exc


def load_curriculum(path: Path) -> Curriculum:
    return _load(path, Curriculum)


def load_rule_set(path: Path) -> RuleSet:
    return _load(path, RuleSet)


@dataclass(frozen=True)
class Catalogue:
    """Everything in curricula/: the curricula by code and the rule sets in date order."""

    curricula: dict[str, Curriculum]
    rule_sets: tuple[RuleSet, ...]

    def get(self, code: str) -> Curriculum | None:
        return self.curricula.get(code)


def load_catalogue(
    curricula_dir: Path = CURRICULA_DIR, rulesets_dir: Path = RULESETS_DIR
) -> Catalogue:
    """Load and validate every file; collects all problems of all files before raising."""
    errors: list[CurriculumError] = []
    curricula: dict[str, Curriculum] = {}
    for path in sorted(curricula_dir.glob("*.toml")):
        try:
            c = load_curriculum(path)
        except CurriculumError as exc:
            errors.append(exc)
            continue
        if c.code in curricula:
            errors.append(CurriculumError(path, [("code", f"{c.code} is used by another file")]))
        curricula[c.code] = c
    rule_sets: list[RuleSet] = []
    for path in sorted(rulesets_dir.glob("*.toml")):
        try:
            rule_sets.append(load_rule_set(path))
        except CurriculumError as exc:
            errors.append(exc)
    ordered = tuple(sorted(rule_sets, key=lambda r: r.effective_from))
    overlap = check_no_overlap(ordered)
    if overlap:
        errors.append(CurriculumError(rulesets_dir, [("effective_from", p) for p in overlap]))
    if errors:
        raise CatalogueError(errors)
    return Catalogue(curricula=curricula, rule_sets=ordered)


class CatalogueError(Exception):
    def __init__(self, errors: list[CurriculumError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


@cache
def catalogue() -> Catalogue:
    """The shipped catalogue, loaded once per process."""
    return load_catalogue()
