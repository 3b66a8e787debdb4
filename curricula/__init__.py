"""Curricula and regulation rule sets as validated data (TOML files plus their loader)."""

from curricula.errors import CurriculumError
from curricula.loader import Catalogue, CatalogueError, catalogue, load_catalogue
from curricula.model import Curriculum, EducationLevel, QuestionType, StationKind, Text
from curricula.rules import NoRuleSetInForce, RuleSet, rule_set_on

__all__ = [
    "Catalogue",
    "CatalogueError",
    "Curriculum",
    "CurriculumError",
    "EducationLevel",
    "NoRuleSetInForce",
    "QuestionType",
    "RuleSet",
    "StationKind",
    "Text",
    "catalogue",
    "load_catalogue",
    "rule_set_on",
]
