"""Statutory retirement age under the 2025 reform, and the enrolment eligibility decision."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from curricula.model import EducationLevel, Eligibility
from scoring.eligibility import (
    EligibilityDecision,
    PostType,
    age_on,
    check_eligibility,
    retirement_age_months,
    retirement_date,
)
from server.trainees.identity import Sex


def ym(years: int, months: int = 0) -> int:
    return years * 12 + months


# Rows of the official 对照表 (出生时间 → 改革后法定退休年龄, 改革后退休时间), one birth day per row.
MEN = [
    (date(1960, 7, 1), ym(60), date(2020, 7, 1)),  # long before the window
    (date(1964, 12, 15), ym(60), date(2024, 12, 15)),  # last month before the window
    (date(1965, 1, 15), ym(60, 1), date(2025, 2, 15)),  # 1965-01..04 → 60岁1个月
    (date(1965, 4, 30), ym(60, 1), date(2025, 5, 30)),
    (date(1965, 5, 1), ym(60, 2), date(2025, 7, 1)),  # 1965-05..08 → 60岁2个月
    (date(1965, 8, 20), ym(60, 2), date(2025, 10, 20)),
    (date(1965, 9, 1), ym(60, 3), date(2025, 12, 1)),  # 1965-09..12 → 60岁3个月
    (date(1965, 12, 1), ym(60, 3), date(2026, 3, 1)),
    (date(1970, 1, 10), ym(61, 4), date(2031, 5, 10)),  # 1970-01..04 → 61岁4个月
    (date(1976, 8, 5), ym(62, 11), date(2039, 7, 5)),  # 1976-05..08 → 62岁11个月
    (date(1976, 9, 1), ym(63), date(2039, 9, 1)),  # 1976-09 onwards → 63岁
    (date(1976, 12, 31), ym(63), date(2039, 12, 31)),
    (date(1995, 12, 1), ym(63), date(2058, 12, 1)),  # long after the cap
]
WOMEN_CADRE = [
    (date(1963, 4, 1), ym(55), date(2018, 4, 1)),
    (date(1969, 12, 31), ym(55), date(2024, 12, 31)),
    (date(1970, 1, 1), ym(55, 1), date(2025, 2, 1)),  # 1970-01..04 → 55岁1个月
    (date(1970, 5, 1), ym(55, 2), date(2025, 7, 1)),  # 1970-05..08 → 55岁2个月
    (date(1971, 4, 1), ym(55, 4), date(2026, 8, 1)),  # 1971-01..04 → 55岁4个月
    (date(1981, 8, 1), ym(57, 11), date(2039, 7, 1)),  # 1981-05..08 → 57岁11个月
    (date(1981, 9, 1), ym(58), date(2039, 9, 1)),  # 1981-09 onwards → 58岁
    (date(2000, 12, 1), ym(58), date(2058, 12, 1)),
]
WOMEN_WORKER = [
    (date(1972, 6, 1), ym(50), date(2022, 6, 1)),
    (date(1974, 12, 31), ym(50), date(2024, 12, 31)),
    (date(1975, 1, 1), ym(50, 1), date(2025, 2, 1)),  # 1975-01..02 → 50岁1个月
    (date(1975, 2, 1), ym(50, 1), date(2025, 3, 1)),
    (date(1975, 3, 1), ym(50, 2), date(2025, 5, 1)),  # 1975-03..04 → 50岁2个月
    (date(1975, 12, 1), ym(50, 6), date(2026, 6, 1)),  # 1975-11..12 → 50岁6个月
    (date(1980, 1, 1), ym(52, 7), date(2032, 8, 1)),  # 1980-01..02 → 52岁7个月
    (date(1984, 10, 1), ym(54, 11), date(2039, 9, 1)),  # 1984-09..10 → 54岁11个月
    (date(1984, 11, 1), ym(55), date(2039, 11, 1)),  # 1984-11 onwards → 55岁
    (date(1995, 12, 1), ym(55), date(2050, 12, 1)),
]


class TestRetirementAge:
    @pytest.mark.parametrize(("birth", "months", "retires"), MEN)
    def test_men(self, birth: date, months: int, retires: date) -> None:
        assert retirement_age_months(birth, "male") == months
        assert retirement_date(birth, "male") == retires

    @pytest.mark.parametrize(("birth", "months", "retires"), WOMEN_CADRE)
    def test_women_in_cadre_posts(self, birth: date, months: int, retires: date) -> None:
        assert retirement_age_months(birth, "female", PostType.cadre) == months
        assert retirement_date(birth, "female", PostType.cadre) == retires

    @pytest.mark.parametrize(("birth", "months", "retires"), WOMEN_WORKER)
    def test_women_in_worker_posts(self, birth: date, months: int, retires: date) -> None:
        assert retirement_age_months(birth, "female", PostType.worker) == months
        assert retirement_date(birth, "female", PostType.worker) == retires

    def test_women_default_to_worker_post(self) -> None:
        assert retirement_date(date(1975, 3, 1), "female") == date(2025, 5, 1)

    def test_men_ignore_the_post(self) -> None:
        birth = date(1970, 1, 10)
        assert retirement_date(birth, "male", PostType.cadre) == date(2031, 5, 10)
        assert retirement_date(birth, "male", PostType.worker) == date(2031, 5, 10)

    def test_accepts_the_servers_sex_enum_and_post_strings(self) -> None:
        assert retirement_date(date(1965, 1, 15), Sex.male) == date(2025, 2, 15)
        assert retirement_age_months(date(1971, 4, 1), Sex.female, PostType("cadre")) == ym(55, 4)

    @pytest.mark.parametrize("sex", ["m", "Male", "", "unknown"])
    def test_unknown_sex_is_refused(self, sex: str) -> None:
        with pytest.raises(ValueError, match="sex must be 'male' or 'female'"):
            retirement_date(date(1980, 1, 1), sex)

    def test_unknown_post_is_refused(self) -> None:
        with pytest.raises(ValueError, match="post must be 'worker' or 'cadre'"):
            retirement_date(date(1980, 1, 1), "female", "manager")  # type: ignore[arg-type]


class TestRetirementDayClamping:
    @pytest.mark.parametrize(
        ("birth", "sex", "post", "retires"),
        [
            # born 31 January, 60 years 10 months later is November: 30 days
            (date(1968, 1, 31), "male", PostType.worker, date(2028, 11, 30)),
            (date(1973, 1, 31), "female", PostType.cadre, date(2028, 11, 30)),
            # born 31 March, 60 years 1 month later is April
            (date(1965, 3, 31), "male", PostType.worker, date(2025, 4, 30)),
            # into February
            (date(1965, 1, 31), "male", PostType.worker, date(2025, 2, 28)),
            (date(1975, 1, 31), "female", PostType.worker, date(2025, 2, 28)),
            # 29 February: kept in a leap year, 28 February otherwise
            (date(1964, 2, 29), "male", PostType.worker, date(2024, 2, 29)),
            (date(1972, 2, 29), "female", PostType.worker, date(2022, 2, 28)),
        ],
    )
    def test_day_is_clamped_to_the_end_of_a_shorter_month(
        self, birth: date, sex: str, post: PostType, retires: date
    ) -> None:
        assert retirement_date(birth, sex, post) == retires


sexes_posts = st.sampled_from(
    [("male", PostType.worker), ("female", PostType.cadre), ("female", PostType.worker)]
)
births = st.dates(min_value=date(1930, 1, 1), max_value=date(2020, 12, 31))
BOUNDS = {
    ("male", PostType.worker): (ym(60), ym(63)),
    ("female", PostType.cadre): (ym(55), ym(58)),
    ("female", PostType.worker): (ym(50), ym(55)),
}


class TestRetirementProperties:
    @given(group=sexes_posts, a=births, b=births)
    def test_monotone_in_birth_date(self, group: tuple[str, PostType], a: date, b: date) -> None:
        sex, post = group
        earlier, later = min(a, b), max(a, b)
        assert retirement_age_months(earlier, sex, post) <= retirement_age_months(later, sex, post)
        assert retirement_date(earlier, sex, post) <= retirement_date(later, sex, post)

    @given(group=sexes_posts, birth=births)
    def test_within_old_and_target_age(self, group: tuple[str, PostType], birth: date) -> None:
        sex, post = group
        old, target = BOUNDS[group]
        assert old <= retirement_age_months(birth, sex, post) <= target

    @given(group=sexes_posts, birth=births)
    def test_date_is_birth_plus_age(self, group: tuple[str, PostType], birth: date) -> None:
        sex, post = group
        months = retirement_age_months(birth, sex, post)
        retires = retirement_date(birth, sex, post)
        assert (retires.year * 12 + retires.month) - (birth.year * 12 + birth.month) == months
        assert retires.day == birth.day or (retires.day < birth.day and retires.day >= 28)


def birthday(birth: date, years: int) -> date:
    """The day `birth` turns `years`, 29 February falling on 28 February in a common year."""
    try:
        return birth.replace(year=birth.year + years)
    except ValueError:
        return birth.replace(year=birth.year + years, day=28)


class TestAgeOn:
    @pytest.mark.parametrize(
        ("birth", "on", "age"),
        [
            (date(2009, 3, 1), date(2026, 12, 1), 17),
            (date(2008, 12, 1), date(2026, 12, 1), 18),
            (date(2008, 12, 2), date(2026, 12, 1), 17),
            (date(2008, 2, 29), date(2026, 2, 27), 17),
            (date(2008, 2, 29), date(2026, 2, 28), 18),
            (date(2008, 2, 29), date(2028, 2, 29), 20),
            (date(2000, 5, 5), date(2000, 5, 5), 0),
        ],
    )
    def test_whole_years(self, birth: date, on: date, age: int) -> None:
        assert age_on(birth, on) == age

    def test_a_day_before_birth_is_refused(self) -> None:
        with pytest.raises(ValueError, match="before the birth date"):
            age_on(date(2000, 5, 5), date(2000, 5, 4))


ANY = Eligibility(min_age=18)
SENIOR_HIGH = Eligibility(min_age=18, min_education=EducationLevel.senior_high)


def decide(
    *,
    birth: date,
    on: date,
    rule: Eligibility = ANY,
    sex: str = "male",
    education: EducationLevel = EducationLevel.senior_high,
    post: PostType = PostType.worker,
) -> EligibilityDecision:
    return check_eligibility(birth=birth, sex=sex, education=education, rule=rule, on=on, post=post)


class TestCheckEligibility:
    def test_eligible_has_one_reason_saying_so(self) -> None:
        decision = decide(birth=date(1991, 6, 1), on=date(2026, 12, 1), rule=SENIOR_HIGH)
        assert decision.eligible
        assert decision.codes == ("eligible",)
        assert decision.reasons[0].zh == "符合报名条件（2026-12-01 开班时 35 周岁）"
        assert decision.reasons[0].en == (
            "meets the enrolment requirements (35 when the course starts on 2026-12-01)"
        )

    def test_too_young(self) -> None:
        decision = decide(birth=date(2009, 3, 1), on=date(2026, 12, 1))
        assert not decision.eligible
        assert decision.codes == ("too_young",)
        reason = decision.reasons[0]
        assert reason.zh == "开班时未满 18 周岁（2009-03-01 出生，2026-12-01 时 17 周岁）"
        assert reason.en == "under 18 when the course starts (born 2009-03-01, 17 on 2026-12-01)"

    def test_eighteenth_birthday_on_the_first_day_is_enough(self) -> None:
        assert decide(birth=date(2008, 12, 1), on=date(2026, 12, 1)).eligible
        assert decide(birth=date(2008, 12, 2), on=date(2026, 12, 1)).codes == ("too_young",)

    def test_past_retirement_man(self) -> None:
        # born 1965-01-15: 60 years 1 month, reached on 2025-02-15
        assert decide(birth=date(1965, 1, 15), on=date(2025, 2, 14)).eligible
        decision = decide(birth=date(1965, 1, 15), on=date(2025, 2, 15))
        assert decision.codes == ("past_retirement",)
        reason = decision.reasons[0]
        assert reason.zh == (
            "开班时已达到法定退休年龄（男，1965-01-15 出生，法定退休年龄 60 岁 1 个月，2025-02-15 到龄）"
        )
        assert reason.en == (
            "at or past statutory retirement age when the course starts (male, born 1965-01-15,"
            " retirement age 60 years 1 month, reached on 2025-02-15)"
        )

    def test_the_post_decides_a_womans_retirement(self) -> None:
        # born 1975-03-10: worker post 50 years 2 months (2025-05-10), cadre post 56 years 4 months
        birth, on = date(1975, 3, 10), date(2025, 6, 1)
        worker = decide(birth=birth, on=on, sex="female", post=PostType.worker)
        assert worker.codes == ("past_retirement",)
        assert "女，工人岗位" in worker.reasons[0].zh
        assert "50 岁 2 个月" in worker.reasons[0].zh
        assert "female, worker post" in worker.reasons[0].en
        assert "50 years 2 months" in worker.reasons[0].en
        assert decide(birth=birth, on=on, sex="female", post=PostType.cadre).eligible
        assert retirement_date(birth, "female", PostType.cadre) == date(2031, 7, 10)

    def test_servers_sex_enum_is_accepted(self) -> None:
        decision = decide(birth=date(1960, 1, 1), on=date(2026, 6, 1), sex=Sex.male)
        assert decision.codes == ("past_retirement",)
        assert "60 岁，" in decision.reasons[0].zh
        assert "retirement age 60 years," in decision.reasons[0].en

    def test_max_age_replaces_the_retirement_check(self) -> None:
        # a man of 64, retired since 2020, may take a course that admits up to 65
        up_to_65 = Eligibility(min_age=18, max_age=65)
        assert decide(birth=date(1962, 1, 1), on=date(2026, 6, 1), rule=up_to_65).eligible
        decision = decide(birth=date(1960, 1, 1), on=date(2026, 6, 1), rule=up_to_65)
        assert decision.codes == ("too_old",)
        assert decision.reasons[0].zh == (
            "开班时已超过 65 周岁（1960-01-01 出生，2026-06-01 时 66 周岁）"
        )
        assert decision.reasons[0].en == (
            "over 65 when the course starts (born 1960-01-01, 66 on 2026-06-01)"
        )

    def test_max_age_counts_whole_years(self) -> None:
        up_to_55 = Eligibility(min_age=18, max_age=55)
        on = date(2026, 6, 1)
        assert decide(birth=date(1970, 6, 2), on=on, rule=up_to_55).eligible  # 55 and 364 days
        assert decide(birth=date(1970, 6, 1), on=on, rule=up_to_55).codes == ("too_old",)

    def test_education_below_requirement(self) -> None:
        decision = decide(
            birth=date(1990, 1, 1),
            on=date(2026, 12, 1),
            rule=SENIOR_HIGH,
            education=EducationLevel.junior_high,
        )
        assert decision.codes == ("education",)
        assert decision.reasons[0].zh == "文化程度不符：要求高中或相当于高中及以上，学员为初中"
        assert decision.reasons[0].en == (
            "education too low: needs senior high school or equivalent or above,"
            " trainee has junior high school"
        )

    @pytest.mark.parametrize(
        ("required", "has", "ok"),
        [
            (EducationLevel.senior_high, EducationLevel.vocational_secondary, True),
            (EducationLevel.vocational_secondary, EducationLevel.senior_high, True),
            (EducationLevel.senior_high, EducationLevel.bachelor, True),
            (EducationLevel.junior_high, EducationLevel.junior_high, True),
            (EducationLevel.junior_high, EducationLevel.primary, False),
            (EducationLevel.junior_college, EducationLevel.vocational_secondary, False),
        ],
    )
    def test_education_levels(
        self, required: EducationLevel, has: EducationLevel, ok: bool
    ) -> None:
        rule = Eligibility(min_age=18, min_education=required)
        decision = decide(birth=date(1990, 1, 1), on=date(2026, 12, 1), rule=rule, education=has)
        assert decision.eligible is ok

    def test_education_names_a_level_of_its_own(self) -> None:
        rule = Eligibility(min_age=18, min_education=EducationLevel.junior_college)
        decision = decide(
            birth=date(1990, 1, 1),
            on=date(2026, 12, 1),
            rule=rule,
            education=EducationLevel.vocational_secondary,
        )
        assert decision.reasons[0].zh == "文化程度不符：要求大专及以上，学员为中专"

    def test_no_education_requirement_accepts_any_level(self) -> None:
        decision = decide(
            birth=date(1990, 1, 1), on=date(2026, 12, 1), education=EducationLevel.primary
        )
        assert decision.eligible

    def test_every_failed_check_is_a_reason(self) -> None:
        decision = decide(
            birth=date(2010, 1, 1),
            on=date(2026, 12, 1),
            rule=SENIOR_HIGH,
            education=EducationLevel.junior_high,
        )
        assert not decision.eligible
        assert decision.codes == ("too_young", "education")

    def test_all_three_at_once(self) -> None:
        # a 64-year-old man, retired since 2021, with primary school, for a course from 65 up
        rule = Eligibility(min_age=65, min_education=EducationLevel.senior_high)
        decision = decide(
            birth=date(1962, 1, 1), on=date(2026, 6, 1), rule=rule, education=EducationLevel.primary
        )
        assert decision.codes == ("too_young", "past_retirement", "education")
        assert "eligible" not in decision.codes

    def test_too_old_with_education(self) -> None:
        rule = Eligibility(min_age=18, max_age=50, min_education=EducationLevel.junior_high)
        decision = decide(
            birth=date(1970, 1, 1), on=date(2026, 6, 1), rule=rule, education=EducationLevel.primary
        )
        assert decision.codes == ("too_old", "education")

    def test_course_before_birth_is_refused(self) -> None:
        with pytest.raises(ValueError, match="before the birth date"):
            decide(birth=date(2027, 1, 1), on=date(2026, 12, 1))

    def test_unknown_sex_is_refused(self) -> None:
        with pytest.raises(ValueError, match="sex must be"):
            decide(birth=date(1990, 1, 1), on=date(2026, 12, 1), sex="x")


class TestEligibilityProperties:
    @given(
        birth=st.dates(min_value=date(1950, 1, 1), max_value=date(2015, 12, 31)),
        min_age=st.integers(min_value=14, max_value=70),
        group=sexes_posts,
    )
    def test_refused_the_day_before_the_birthday_accepted_on_it(
        self, birth: date, min_age: int, group: tuple[str, PostType]
    ) -> None:
        sex, post = group
        rule = Eligibility(min_age=min_age)
        turns = birthday(birth, min_age)
        before = decide(birth=birth, on=turns - timedelta(days=1), rule=rule, sex=sex, post=post)
        on_the_day = decide(birth=birth, on=turns, rule=rule, sex=sex, post=post)
        assert "too_young" in before.codes
        assert not before.eligible
        assert "too_young" not in on_the_day.codes

    @given(
        birth=st.dates(min_value=date(1930, 1, 1), max_value=date(2015, 12, 31)),
        days=st.integers(min_value=0, max_value=100 * 366),
        group=sexes_posts,
        education=st.sampled_from(EducationLevel),
        required=st.none() | st.sampled_from(EducationLevel),
        max_age=st.none() | st.integers(min_value=18, max_value=80),
    )
    def test_eligible_exactly_when_no_check_fails(
        self,
        birth: date,
        days: int,
        group: tuple[str, PostType],
        education: EducationLevel,
        required: EducationLevel | None,
        max_age: int | None,
    ) -> None:
        sex, post = group
        on = birth + timedelta(days=days)
        rule = Eligibility(min_age=18, max_age=max_age, min_education=required)
        decision = decide(birth=birth, on=on, rule=rule, sex=sex, post=post, education=education)
        age = age_on(birth, on)
        expected = {
            "too_young": age < 18,
            "too_old": max_age is not None and age > max_age,
            "past_retirement": max_age is None and on >= retirement_date(birth, sex, post),
            "education": required is not None and not education.at_least(required),
        }
        failed = [code for code, hit in expected.items() if hit]
        assert decision.eligible is (not failed)
        if failed:
            assert sorted(decision.codes) == sorted(failed)
        else:
            assert decision.codes == ("eligible",)
