"""The shipped curricula and rule sets: valid, complete, and real enough to run exams from."""

from __future__ import annotations

import datetime as dt
import shutil
import tomllib
from collections import Counter
from pathlib import Path

import pytest

from curricula import CatalogueError, QuestionType, catalogue, load_catalogue, rule_set_on
from curricula.loader import CURRICULA_DIR, RULESETS_DIR
from curricula.model import CurriculumKind, ModuleKind
from curricula.rules import NoRuleSetInForce, OnExhaustion

HAZARDOUS_PROCESSES = {
    "NITRATION": "硝化",
    "HYDROGENATION": "加氢",
    "OXIDATION": "氧化",
    "CHLORINATION": "氯化",
    "SULFONATION": "磺化",
    "POLYMERIZATION": "聚合",
    "DIAZOTIZATION": "重氮化",
}


class TestShippedCurricula:
    def test_every_programme_the_base_teaches_is_there(self) -> None:
        codes = set(catalogue().curricula)
        assert set(HAZARDOUS_PROCESSES) | {"INJURY-EXPERIENCE", "CHEM-REFRESHER"} <= codes

    @pytest.mark.parametrize("code", sorted(HAZARDOUS_PROCESSES))
    def test_hazardous_process_has_a_real_bank(self, code: str) -> None:
        c = catalogue().curricula[code]
        assert c.kind is CurriculumKind.special_operation
        assert HAZARDOUS_PROCESSES[code] in c.title.zh
        assert c.operation_category is not None
        assert len(c.questions) >= 40
        types = Counter(q.type for q in c.questions)
        assert all(types[t] > 0 for t in QuestionType)
        # true/false answers are not all one way, and single-choice keys are spread over A–D
        assert len({q.answer[0] for q in c.questions if q.type is QuestionType.true_false}) == 2
        assert len({q.answer[0] for q in c.questions if q.type is QuestionType.single}) >= 4
        for q in c.questions:
            assert q.explanation.zh.strip() and q.explanation.en.strip()

    @pytest.mark.parametrize("code", sorted(HAZARDOUS_PROCESSES))
    def test_practical_has_weighted_subjects_and_a_veto_item(self, code: str) -> None:
        practical = catalogue().curricula[code].assessment.practical
        assert practical is not None
        assert {s.code for s in practical.subjects} >= {"K1", "K3", "K4"}
        assert any(item.veto for s in practical.subjects for item in s.items)

    @pytest.mark.parametrize("code", sorted(HAZARDOUS_PROCESSES))
    def test_vr_scenarios_fit_the_device_protocol(self, code: str) -> None:
        c = catalogue().curricula[code]
        assert any(m.kind is ModuleKind.vr for m in c.modules)
        for s in c.scenarios:
            assert len(s.code) <= 16
            assert s.steps

    def test_scenario_codes_are_unique_across_curricula(self) -> None:
        codes = [s.code for c in catalogue().curricula.values() for s in c.scenarios]
        assert len(codes) == len(set(codes))

    def test_injury_experience_uses_the_three_rigs(self) -> None:
        c = catalogue().curricula["INJURY-EXPERIENCE"]
        assert {s.station_kind.value for s in c.scenarios} == {"fall_rig", "shock_rig", "mech_rig"}

    def test_question_banks_have_no_repeated_stems(self) -> None:
        for c in catalogue().curricula.values():
            stems = [q.stem.zh for q in c.questions]
            assert len(stems) == len(set(stems)), c.code


class TestRuleSets:
    @pytest.mark.parametrize(
        ("day", "code"),
        [
            (dt.date(2026, 5, 31), "SAWS-30"),
            (dt.date(2026, 6, 1), "MEM-19"),
            (dt.date(2015, 1, 1), "SAWS-30"),
            (dt.date(2030, 1, 1), "MEM-19"),
        ],
    )
    def test_picked_by_the_date_of_the_event(self, day: dt.date, code: str) -> None:
        assert rule_set_on(catalogue().rule_sets, day).code == code

    def test_before_any_rule_set(self) -> None:
        with pytest.raises(NoRuleSetInForce):
            rule_set_on(catalogue().rule_sets, dt.date(2000, 1, 1))

    def test_order_30_and_order_19_differ_as_the_regulation_says(self) -> None:
        old = rule_set_on(catalogue().rule_sets, dt.date(2026, 5, 31))
        new = rule_set_on(catalogue().rule_sets, dt.date(2026, 6, 1))
        assert old.theory.pass_mark == new.theory.pass_mark == 80
        assert old.theory.max_attempts == 2 and old.theory.on_exhaustion is OnExhaustion.retrain
        assert new.theory.max_attempts is None
        assert new.practical.max_attempts == 5
        assert new.practical.on_exhaustion is OnExhaustion.reregister_theory
        assert (
            old.certificate.review_interval_years == 3
            and old.certificate.review_refresher_hours == 8
        )
        assert new.certificate.review_interval_years is None and new.certificate.renewal
        assert old.passing_score_valid_months == 12 and new.passing_score_valid_months is None


def _copy(tmp_path: Path) -> tuple[Path, Path]:
    data, rules = tmp_path / "data", tmp_path / "rulesets"
    shutil.copytree(CURRICULA_DIR, data)
    shutil.copytree(RULESETS_DIR, rules)
    return data, rules


class TestLoaderErrors:
    def test_bad_answer_key_names_file_and_question(self, tmp_path: Path) -> None:
        data, rules = _copy(tmp_path)
        path = data / "nitration.toml"
        text = path.read_text(encoding="utf-8")
        first = tomllib.loads(text)["questions"][0]
        assert first["type"] == "single"
        bad = text.replace(f'answer = ["{first["answer"][0]}"]', 'answer = ["H"]', 1)
        path.write_text(bad, encoding="utf-8")
        with pytest.raises(CatalogueError) as caught:
            load_catalogue(data, rules)
        [error] = caught.value.errors
        assert error.path == path
        [(key, message)] = error.problems
        assert key.startswith(f"questions[0:{first['id']}]")
        assert "H" in message

    def test_unknown_key_is_an_error(self, tmp_path: Path) -> None:
        data, rules = _copy(tmp_path)
        path = data / "oxidation.toml"
        path.write_text('flavour = "spicy"\n' + path.read_text(encoding="utf-8"), encoding="utf-8")
        with pytest.raises(CatalogueError) as caught:
            load_catalogue(data, rules)
        assert caught.value.errors[0].path == path
        assert caught.value.errors[0].problems[0][0] == "flavour"
        assert "Extra inputs are not permitted" in str(caught.value)

    def test_blueprint_asking_more_than_the_bank_holds(self, tmp_path: Path) -> None:
        data, rules = _copy(tmp_path)
        path = data / "sulfonation.toml"
        doc = path.read_text(encoding="utf-8")
        cut = doc.index("[[questions]]")
        path.write_text(doc[:cut], encoding="utf-8")
        with pytest.raises(CatalogueError) as caught:
            load_catalogue(data, rules)
        assert "the bank has 0" in str(caught.value)

    def test_broken_toml_names_the_file(self, tmp_path: Path) -> None:
        data, rules = _copy(tmp_path)
        (data / "broken.toml").write_text("code = \n", encoding="utf-8")
        with pytest.raises(CatalogueError) as caught:
            load_catalogue(data, rules)
        assert "broken.toml" in str(caught.value) and "not valid TOML" in str(caught.value)

    def test_overlapping_rule_sets_are_refused(self, tmp_path: Path) -> None:
        data, rules = _copy(tmp_path)
        path = rules / "mem-order-19.toml"
        path.write_text(
            path.read_text(encoding="utf-8").replace(
                "effective_from = 2026-06-01", "effective_from = 2026-05-01"
            ),
            encoding="utf-8",
        )
        with pytest.raises(CatalogueError) as caught:
            load_catalogue(data, rules)
        assert "both in force" in str(caught.value)
