"""Bilingual text: Simplified Chinese first, English second, and the console's catalogue."""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path

LANGUAGES = ("zh", "en")
CATALOGUE_FILE = Path(__file__).with_name("messages.toml")


def bilingual(zh: str, en: str) -> str:
    """The form used where one string must serve both readers (API messages, CLI output)."""
    return f"{zh} / {en}"


@cache
def catalogue() -> dict[str, dict[str, str]]:
    with CATALOGUE_FILE.open("rb") as fh:
        data = tomllib.load(fh)
    for key, entry in data.items():
        missing = [lang for lang in LANGUAGES if not entry.get(lang)]
        if missing:
            raise ValueError(f"{CATALOGUE_FILE}: message {key!r} lacks {missing}")
    return data


def translate(key: str, lang: str, **values: object) -> str:
    entry = catalogue()[key]
    text = entry["en" if lang == "en" else "zh"]
    return text.format(**values) if values else text


def pick_language(requested: str | None) -> str:
    return requested if requested in LANGUAGES else "zh"
