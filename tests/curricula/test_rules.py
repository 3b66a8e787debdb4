"""The rule sets' short names, which the scoring decisions' reasons show to trainees."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from curricula import CatalogueError, catalogue, load_catalogue, rule_set_on
from curricula.loader import CURRICULA_DIR, RULESETS_DIR
from curricula.rules import RuleSet


def _on(day: str) -> RuleSet:
    return rule_set_on(catalogue().rule_sets, dt.date.fromisoformat(day))


class TestShortTitle:
    def test_each_order_has_the_name_a_trainee_reads(self) -> None:
        old, new = _on("2026-05-31"), _on("2026-06-01")
        assert (old.short_title.zh, old.short_title.en) == ("安监总局令第30号", "SAWS Order No. 30")
        assert (new.short_title.zh, new.short_title.en) == (
            "应急管理部令第19号",
            "MEM Order No. 19",
        )
        for rs in (old, new):
            assert rs.short_title.zh in rs.title.zh

    def test_a_rule_set_without_one_is_refused(self, tmp_path: Path) -> None:
        data, rules = tmp_path / "data", tmp_path / "rulesets"
        shutil.copytree(CURRICULA_DIR, data)
        shutil.copytree(RULESETS_DIR, rules)
        path = rules / "mem-order-19.toml"
        text = path.read_text(encoding="utf-8")
        start = text.index("[short_title]")
        end = text.index("[title]")
        path.write_text(text[:start] + text[end:], encoding="utf-8")
        with pytest.raises(CatalogueError) as caught:
            load_catalogue(data, rules)
        [error] = caught.value.errors
        assert error.path == path
        assert error.problems[0][0] == "short_title"
