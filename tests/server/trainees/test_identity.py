"""Identity documents, phones and education: each rule by example, the ID checksum by property."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from curricula.model import EducationLevel
from server.trainees.identity import (
    FieldProblem,
    IdentityError,
    IdType,
    Sex,
    check_digit,
    education_label,
    make_resident_id,
    mask_id_number,
    normalize_document_number,
    normalize_phone,
    parse_education,
    parse_id_type,
    parse_resident_id,
    parse_sex,
)

TODAY = date(2026, 11, 23)
PROVINCES = [
    *range(11, 16),
    *range(21, 24),
    *range(31, 38),
    *range(41, 47),
    *range(50, 55),
    *range(61, 66),
    71,
    81,
    82,
    83,
]
NOT_PROVINCES = [f"{code:02d}" for code in range(100) if code not in PROVINCES]


def problem_of(call: object, *args: object, **kwargs: object) -> FieldProblem:
    assert callable(call)
    with pytest.raises(IdentityError) as caught:
        call(*args, **kwargs)
    return caught.value.problem


def resident_problem(value: str, today: date = TODAY) -> FieldProblem:
    return problem_of(parse_resident_id, value, today=today)


class TestCheckDigit:
    @pytest.mark.parametrize(
        ("number", "expected"),
        [
            # The two examples printed in GB 11643-1999.
            ("11010519491231002", "X"),
            ("44052418800101001", "4"),
            ("11010119900307451", "4"),
        ],
    )
    def test_standard_examples(self, number: str, expected: str) -> None:
        assert check_digit(number) == expected

    @pytest.mark.parametrize("bad", ["1101051949123100", "110105194912310021", "1101051949123100a"])
    def test_refuses_anything_but_17_digits(self, bad: str) -> None:
        with pytest.raises(ValueError, match="17 ASCII digits"):
            check_digit(bad)


class TestParseResidentId:
    def test_valid_number_gives_region_birth_date_and_sex(self) -> None:
        parsed = parse_resident_id("110101199003074514", today=TODAY)
        assert parsed.number == "110101199003074514"
        assert parsed.region_code == "110101"
        assert parsed.birth_date == date(1990, 3, 7)
        assert parsed.sex is Sex.male

    def test_even_17th_digit_is_female(self) -> None:
        assert parse_resident_id("11010519491231002X", today=TODAY).sex is Sex.female

    @pytest.mark.parametrize(
        "written",
        [
            "11010519491231002x",
            " 110105 19491231 002X ",
            "１１０１０５１９４９１２３１００２Ｘ",
            "11010519491231002ｘ",
            "110105\u300019491231002X",
        ],
    )
    def test_spaces_lower_case_x_and_full_width_are_normalised(self, written: str) -> None:
        assert parse_resident_id(written, today=TODAY).number == "11010519491231002X"

    def test_old_fifteen_digit_number_is_refused(self) -> None:
        problem = resident_problem("110105491231002")
        assert problem.field == "id_number"
        assert problem.code == "id_number_length"
        assert "15 位旧号码" in problem.zh
        assert "15-digit" in problem.en

    @pytest.mark.parametrize("value", ["", "1101051949123100", "1101051949123100211"])
    def test_other_lengths_are_refused(self, value: str) -> None:
        assert resident_problem(value).code == "id_number_length"

    def test_a_letter_among_the_first_17_is_refused_with_its_position(self) -> None:
        problem = resident_problem("1101051949123I002X")
        assert problem.code == "id_number_chars"
        assert "第 14 位" in problem.zh
        assert "'I'" in problem.en

    def test_last_character_must_be_digit_or_x(self) -> None:
        problem = resident_problem("11010519491231002Y")
        assert problem.code == "id_number_chars"
        assert "数字或 X" in problem.zh

    @pytest.mark.parametrize("province", NOT_PROVINCES)
    def test_province_must_exist(self, province: str) -> None:
        number = make_resident_id(province + "0101", date(1990, 3, 7), 1, Sex.male)
        problem = resident_problem(number)
        assert problem.code == "id_number_region"
        assert f"“{province}”" in problem.zh

    @pytest.mark.parametrize("province", PROVINCES)
    def test_every_province_level_code_is_accepted(self, province: int) -> None:
        number = make_resident_id(f"{province}0000", date(1990, 3, 7), 1, Sex.male)
        assert parse_resident_id(number, today=TODAY).region_code == f"{province}0000"

    @pytest.mark.parametrize("digits", ["19900230", "19901301", "19900001", "00000000"])
    def test_birth_date_must_be_a_real_date(self, digits: str) -> None:
        first17 = f"110101{digits}451"
        problem = resident_problem(first17 + check_digit(first17))
        assert problem.code == "id_number_birth_date"
        assert digits in problem.zh

    def test_birth_date_in_the_future_is_refused(self) -> None:
        number = make_resident_id("110101", TODAY + timedelta(days=1), 1, Sex.male)
        problem = resident_problem(number)
        assert problem.code == "id_number_birth_date"
        assert "晚于今天" in problem.zh

    def test_born_today_is_accepted(self) -> None:
        number = make_resident_id("110101", TODAY, 1, Sex.male)
        assert parse_resident_id(number, today=TODAY).birth_date == TODAY

    def test_birth_before_1900_is_refused(self) -> None:
        problem = resident_problem("440524188001010014", today=date(1990, 1, 1))
        assert problem.code == "id_number_birth_date"
        assert "1900" in problem.zh

    def test_older_than_120_is_refused_but_120_is_not(self) -> None:
        still_120 = make_resident_id("110101", date(1905, 11, 24), 1, Sex.male)
        assert parse_resident_id(still_120, today=TODAY).birth_date == date(1905, 11, 24)
        turned_121 = make_resident_id("110101", date(1905, 11, 23), 1, Sex.male)
        assert parse_resident_id(turned_121, today=TODAY - timedelta(days=1)).number == turned_121
        problem = resident_problem(turned_121)
        assert problem.code == "id_number_birth_date"
        assert "120" in problem.zh

    def test_wrong_check_digit_names_expected_and_actual(self) -> None:
        problem = resident_problem("110101199003074515")
        assert problem == FieldProblem(
            "id_number",
            "id_number_check_digit",
            "身份证号码校验位错误：应为 4，实为 5",
            "resident ID check digit is wrong: expected 4, got 5",
        )

    @given(
        province=st.sampled_from(PROVINCES),
        county=st.integers(0, 9999),
        birth=st.dates(min_value=date(1905, 11, 24), max_value=TODAY),
        sequence=st.integers(0, 999),
        position=st.integers(0, 17),
        replacement=st.sampled_from("0123456789"),
    )
    def test_checksum_round_trip_and_single_changes_fail(
        self,
        province: int,
        county: int,
        birth: date,
        sequence: int,
        position: int,
        replacement: str,
    ) -> None:
        first17 = f"{province}{county:04d}{birth:%Y%m%d}{sequence:03d}"
        number = first17 + check_digit(first17)
        parsed = parse_resident_id(number, today=TODAY)
        assert parsed.birth_date == birth
        assert parsed.sex is (Sex.male if sequence % 2 else Sex.female)

        if number[position] == replacement:
            replacement = str((int(replacement) + 1) % 10)
        changed = number[:position] + replacement + number[position + 1 :]
        with pytest.raises(IdentityError):
            parse_resident_id(changed, today=TODAY)


class TestMakeResidentId:
    @given(
        birth=st.dates(min_value=date(1905, 11, 24), max_value=TODAY),
        serial=st.integers(0, 499),
        sex=st.sampled_from(Sex),
    )
    def test_builds_a_number_that_parses_back(self, birth: date, serial: int, sex: Sex) -> None:
        parsed = parse_resident_id(make_resident_id("320106", birth, serial, sex), today=TODAY)
        assert (parsed.region_code, parsed.birth_date, parsed.sex) == ("320106", birth, sex)

    def test_serial_and_sex_give_distinct_numbers(self) -> None:
        birth = date(1990, 3, 7)
        numbers = {make_resident_id("110101", birth, s, x) for s in range(500) for x in Sex}
        assert len(numbers) == 1000

    @pytest.mark.parametrize(("region", "serial"), [("11010", 1), ("11010a", 1), ("110101", 500)])
    def test_refuses_bad_arguments(self, region: str, serial: int) -> None:
        with pytest.raises(ValueError, match="must be"):
            make_resident_id(region, date(1990, 3, 7), serial, Sex.male)


class TestIdType:
    @pytest.mark.parametrize("member", list(IdType))
    def test_code_and_both_labels_are_accepted(self, member: IdType) -> None:
        for text in (
            member.value,
            member.label("zh"),
            member.label("en"),
            member.label("en").upper(),
        ):
            assert parse_id_type(text) is member

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("身份证", IdType.resident_id),
            (" 居民身份证 ", IdType.resident_id),
            ("二代身份证", IdType.resident_id),
            ("港澳台居民居住证", IdType.resident_id),
            ("Resident_ID", IdType.resident_id),
            ("ID card", IdType.resident_id),
            ("PASSPORT", IdType.passport),
            ("回乡证", IdType.hk_macao_permit),
            ("台胞证", IdType.taiwan_permit),
            ("外国人永久居留证", IdType.foreign_permanent_id),
            ("其它", IdType.other),
        ],
    )
    def test_common_spellings(self, text: str, expected: IdType) -> None:
        assert parse_id_type(text) is expected

    @pytest.mark.parametrize("text", ["港澳通行证", "驾驶证", ""])
    def test_unknown_or_ambiguous_names_are_refused_with_the_choices(self, text: str) -> None:
        problem = problem_of(parse_id_type, text)
        assert (problem.field, problem.code) == ("id_type", "id_type_unknown")
        assert "居民身份证、护照" in problem.zh
        assert "Passport" in problem.en

    def test_labels(self) -> None:
        assert IdType.hk_macao_permit.label("zh") == "港澳居民来往内地通行证"
        assert IdType.passport.label("en") == "Passport"


class TestSex:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("男", Sex.male),
            ("女 ", Sex.female),
            ("男性", Sex.male),
            ("Male", Sex.male),
            ("F", Sex.female),
            ("m", Sex.male),
        ],
    )
    def test_accepted_spellings(self, text: str, expected: Sex) -> None:
        assert parse_sex(text) is expected

    def test_unknown_is_refused(self) -> None:
        assert problem_of(parse_sex, "未知").code == "sex_unknown"

    def test_labels(self) -> None:
        assert [s.label("zh") for s in Sex] == ["男", "女"]
        assert Sex.female.label("en") == "Female"


class TestNormalizeDocumentNumber:
    def test_passport_is_stripped_and_upper_cased(self) -> None:
        assert normalize_document_number(IdType.passport, " e1234 5678 ") == "E12345678"

    def test_full_width_characters_are_accepted(self) -> None:
        assert (
            normalize_document_number(IdType.hk_macao_permit, "Ｈ１２３４５６７８") == "H12345678"
        )

    def test_hyphen_is_kept(self) -> None:
        assert normalize_document_number(IdType.other, "ab-1234") == "AB-1234"

    @pytest.mark.parametrize("value", ["A123", "A" * 31])
    def test_length_must_be_5_to_30(self, value: str) -> None:
        problem = problem_of(normalize_document_number, IdType.passport, value)
        assert (problem.field, problem.code) == ("id_number", "document_number_format")

    def test_other_characters_are_refused_with_the_position(self) -> None:
        problem = problem_of(normalize_document_number, IdType.passport, "E1234/678")
        assert problem.code == "document_number_format"
        assert "第 6 位是“/”" in problem.zh

    def test_resident_id_goes_through_the_full_check(self) -> None:
        assert (
            normalize_document_number(IdType.resident_id, "11010519491231002x", today=TODAY)
            == "11010519491231002X"
        )
        problem = problem_of(
            normalize_document_number, IdType.resident_id, "110101199003074515", today=TODAY
        )
        assert problem.code == "id_number_check_digit"

    def test_resident_id_needs_today(self) -> None:
        with pytest.raises(TypeError, match="today"):
            normalize_document_number(IdType.resident_id, "11010519491231002X")


class TestMaskIdNumber:
    @pytest.mark.parametrize(
        ("value", "masked"),
        [
            ("110101199003074514", "1101**********4514"),
            ("E123456789", "E123**6789"),
            ("E1234567", "E******7"),
            ("ABC", "A*C"),
            ("AB", "**"),
            ("", ""),
        ],
    )
    def test_masks(self, value: str, masked: str) -> None:
        assert mask_id_number(value) == masked


class TestNormalizePhone:
    @pytest.mark.parametrize(
        ("value", "canonical"),
        [
            ("13812345678", "13812345678"),
            ("138 1234 5678", "13812345678"),
            ("138-1234-5678", "13812345678"),
            ("+86 138 1234 5678", "13812345678"),
            ("8613812345678", "13812345678"),
            ("１３８１２３４５６７８", "13812345678"),
            ("19912345678", "19912345678"),
            ("010-12345678", "010-12345678"),
            ("0755-1234567", "0755-1234567"),
            ("(0755) 12345678", "0755-12345678"),
            ("021 12345678", "021-12345678"),
            ("02112345678", "021-12345678"),
            ("075512345678", "0755-12345678"),
            ("010-12345678-8001", "010-12345678-8001"),
            ("010-12345678转8001", "010-12345678-8001"),
        ],
    )
    def test_accepted_forms_become_canonical(self, value: str, canonical: str) -> None:
        assert normalize_phone(value) == canonical

    @pytest.mark.parametrize(
        "value",
        [
            "",
            "1381234567",
            "138123456789",
            "12812345678",
            "+1 2025550123",
            "010-123456",
            "010-123456789",
            "0123-12345678",
            "12345678",
            "138abcd5678",
        ],
    )
    def test_other_values_are_refused(self, value: str) -> None:
        problem = problem_of(normalize_phone, value)
        assert (problem.field, problem.code) == ("phone", "phone_format")
        assert "010-12345678" in problem.zh


class TestEducation:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("小学", EducationLevel.primary),
            ("初中", EducationLevel.junior_high),
            ("高中", EducationLevel.senior_high),
            ("中专", EducationLevel.vocational_secondary),
            ("中技", EducationLevel.vocational_secondary),
            ("技校", EducationLevel.vocational_secondary),
            ("职高", EducationLevel.vocational_secondary),
            ("职业高中", EducationLevel.vocational_secondary),
            ("大专", EducationLevel.junior_college),
            ("专科", EducationLevel.junior_college),
            ("高职", EducationLevel.junior_college),
            ("本科", EducationLevel.bachelor),
            ("大学本科", EducationLevel.bachelor),
            ("大学", EducationLevel.bachelor),
            ("本科学历", EducationLevel.bachelor),
            ("硕士", EducationLevel.master),
            ("研究生", EducationLevel.master),
            ("博士", EducationLevel.doctorate),
            ("本  科", EducationLevel.bachelor),
            ("junior_high", EducationLevel.junior_high),
            ("Junior High School", EducationLevel.junior_high),
            ("high school", EducationLevel.senior_high),
            ("Bachelor's degree", EducationLevel.bachelor),
            ("PhD", EducationLevel.doctorate),
        ],
    )
    def test_accepted_spellings(self, text: str, expected: EducationLevel) -> None:
        assert parse_education(text) is expected

    @pytest.mark.parametrize("level", list(EducationLevel))
    @pytest.mark.parametrize("lang", ["zh", "en"])
    def test_labels_and_codes_parse_back(self, level: EducationLevel, lang: str) -> None:
        assert parse_education(education_label(level, lang)) is level
        assert parse_education(level.value) is level

    @pytest.mark.parametrize("text", ["幼儿园", "college", ""])
    def test_unknown_lists_the_accepted_chinese_values(self, text: str) -> None:
        problem = problem_of(parse_education, text)
        assert (problem.field, problem.code) == ("education", "education_unknown")
        assert "小学、初中、高中、中专、大专、本科、硕士、博士" in problem.zh


class TestIdentityError:
    def test_is_a_value_error_whose_text_is_the_english_message(self) -> None:
        problem = resident_problem("123")
        error = IdentityError(problem)
        assert isinstance(error, ValueError)
        assert str(error) == problem.en
