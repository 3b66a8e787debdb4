"""Bilingual text: Simplified Chinese first, English second, and the console's catalogue."""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path

LANGUAGES = ("zh", "en")
# messages.toml holds the console's shared words; messages-<area>.toml files hold one area's.
CATALOGUE_DIR = Path(__file__).parent


def catalogue_files() -> list[Path]:
    return sorted(CATALOGUE_DIR.glob("messages*.toml"))


def bilingual(zh: str, en: str) -> str:
    """The form used where one string must serve both readers (API messages, CLI output)."""
    return f"{zh} / {en}"


@cache
def catalogue() -> dict[str, dict[str, str]]:
    data: dict[str, dict[str, str]] = {}
    seen_in: dict[str, Path] = {}
    for path in catalogue_files():
        with path.open("rb") as fh:
            entries = tomllib.load(fh)
        for key, entry in entries.items():
            if key in seen_in:
                raise ValueError(f"{path}: message {key!r} is already defined in {seen_in[key]}")
            missing = [lang for lang in LANGUAGES if not entry.get(lang)]
            if missing:
                raise ValueError(f"{path}: message {key!r} lacks {missing}")
            seen_in[key] = path
            data[key] = entry
    return data


def translate(key: str, lang: str, **values: object) -> str:
    entry = catalogue()[key]
    text = entry["en" if lang == "en" else "zh"]
    return text.format(**values) if values else text


def pick_language(requested: str | None) -> str:
    return requested if requested in LANGUAGES else "zh"
