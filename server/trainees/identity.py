"""Identity documents, phone numbers and education of a trainee: parsing, checking and masking.

A value that does not pass raises `IdentityError` carrying one `FieldProblem`: a machine code and
a message in Simplified Chinese and English that a trainer can act on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import NoReturn, TypeVar

from curricula.model import EducationLevel

_E = TypeVar("_E", bound=StrEnum)

# A Chinese input method left in full-width mode types ０–９, Ａ–Ｚ, （ and the ideographic space:
# they look right on screen but would fail every check below.
_FULLWIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_INVISIBLE = re.compile(r"[\s\u200b\ufeff]+")
_KEY_IGNORED = re.compile(r"[\s\u200b\ufeff_\-'’.]+")


def fold_fullwidth(text: str) -> str:
    """Replace full-width forms of ASCII characters (and the ideographic space) by ASCII."""
    return text.translate(_FULLWIDTH)


def lookup_key(text: str) -> str:
    """The form in which header names and coded cell values are compared with what we accept.

    Case, full-width forms, spaces (Chinese forms pad 男 to "男 " or 本科 to "本  科"),
    underscores, hyphens, apostrophes and dots do not matter: "ID_Type" matches "id type".
    """
    return _KEY_IGNORED.sub("", fold_fullwidth(text).casefold())


def _index(names: Mapping[_E, tuple[str, ...]]) -> dict[str, _E]:
    return {lookup_key(name): member for member, aliases in names.items() for name in aliases}


def _label(labels: Mapping[_E, tuple[str, str]], member: _E, lang: str) -> str:
    zh, en = labels[member]
    return en if lang == "en" else zh


@dataclass(frozen=True)
class FieldProblem:
    """One problem with one field: `field` names it, `code` is for machines, zh/en for people."""

    field: str
    code: str
    zh: str
    en: str


class IdentityError(ValueError):
    """A value of a trainee's identity that does not pass; `problem` says which and why."""

    def __init__(self, problem: FieldProblem) -> None:
        super().__init__(problem.en)
        self.problem = problem


def _fail(field: str, code: str, zh: str, en: str) -> NoReturn:
    raise IdentityError(FieldProblem(field, code, zh, en))


# --- document types and sex ---------------------------------------------------------------


class IdType(StrEnum):
    resident_id = "resident_id"
    passport = "passport"
    hk_macao_permit = "hk_macao_permit"
    taiwan_permit = "taiwan_permit"
    foreign_permanent_id = "foreign_permanent_id"
    other = "other"

    def label(self, lang: str) -> str:
        return _label(_ID_TYPE_LABELS, self, lang)


_ID_TYPE_LABELS = {
    IdType.resident_id: ("居民身份证", "Resident identity card"),
    IdType.passport: ("护照", "Passport"),
    IdType.hk_macao_permit: (
        "港澳居民来往内地通行证",
        "Mainland travel permit for Hong Kong and Macao residents",
    ),
    IdType.taiwan_permit: ("台湾居民来往大陆通行证", "Mainland travel permit for Taiwan residents"),
    IdType.foreign_permanent_id: ("外国人永久居留身份证", "Foreign permanent resident ID card"),
    IdType.other: ("其他", "Other"),
}

# "港澳通行证" and "台湾通行证" are left out on purpose: in everyday speech they name the permits
# mainland residents travel *to* Hong Kong, Macao or Taiwan with, which are not identity documents.
# Residence permits of Hong Kong, Macao and Taiwan residents carry a GB 11643 number (81/82/83…),
# so they are entered as resident IDs.
_ID_TYPES = _index(
    {
        member: (member.value, *_ID_TYPE_LABELS[member], *aliases)
        for member, aliases in {
            IdType.resident_id: (
                "身份证",
                "二代身份证",
                "居民身份证号码",
                "港澳台居民居住证",
                "resident id",
                "id card",
            ),
            IdType.passport: ("护照号码",),
            IdType.hk_macao_permit: ("回乡证", "港澳居民通行证", "home return permit"),
            IdType.taiwan_permit: ("台胞证", "台湾居民通行证", "mtp", "taiwan compatriot permit"),
            IdType.foreign_permanent_id: (
                "外国人永久居留证",
                "永久居留身份证",
                "永居证",
                "foreign permanent resident id",
            ),
            IdType.other: ("其它",),
        }.items()
    }
)


def parse_id_type(text: str) -> IdType:
    """The document type a header or cell names: its code, zh or en label or a common name."""
    found = _ID_TYPES.get(lookup_key(text))
    if found is None:
        _fail(
            "id_type",
            "id_type_unknown",
            f"证件类型“{text.strip()}”无法识别；可填：" + "、".join(t.label("zh") for t in IdType),
            f"unknown ID type '{text.strip()}'; use one of: "
            + ", ".join(t.label("en") for t in IdType),
        )
    return found


class Sex(StrEnum):
    male = "male"
    female = "female"

    def label(self, lang: str) -> str:
        return _label(_SEX_LABELS, self, lang)


_SEX_LABELS = {Sex.male: ("男", "Male"), Sex.female: ("女", "Female")}
_SEXES = _index(
    {
        Sex.male: ("male", "男", "男性", "m"),
        Sex.female: ("female", "女", "女性", "f"),
    }
)


def parse_sex(text: str) -> Sex:
    """男/女, male/female or M/F."""
    found = _SEXES.get(lookup_key(text))
    if found is None:
        _fail(
            "sex",
            "sex_unknown",
            f"性别“{text.strip()}”无法识别；请填“男”或“女”",
            f"unknown sex '{text.strip()}'; use male or female",
        )
    return found


# --- resident identity card (GB 11643-1999) -----------------------------------------------

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
_SEVENTEEN_DIGITS = re.compile(r"[0-9]{17}")
# Province-level codes of GB/T 2260; 71 Taiwan, 81 Hong Kong, 82 Macao. 83 appears on the
# residence permits of Taiwan residents (830000), which use the same number format.
_PROVINCES = frozenset(
    str(code)
    for first, last in (
        (11, 15),
        (21, 23),
        (31, 37),
        (41, 46),
        (50, 54),
        (61, 65),
        (71, 71),
        (81, 83),
    )
    for code in range(first, last + 1)
)
_EARLIEST_BIRTH = date(1900, 1, 1)
_MAX_AGE = 120


@dataclass(frozen=True)
class ResidentId:
    number: str  # 18 characters, upper-case X
    region_code: str  # 6 digits, the issuing county
    birth_date: date
    sex: Sex


def check_digit(first17: str) -> str:
    """The 18th character of a resident ID number from its first 17 digits."""
    if not _SEVENTEEN_DIGITS.fullmatch(first17):
        raise ValueError(f"check_digit needs 17 ASCII digits, got {first17!r}")
    total = sum(int(digit) * weight for digit, weight in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def _compact(value: str) -> str:
    return _INVISIBLE.sub("", fold_fullwidth(value)).upper()


def age_on(birth: date, day: date) -> int:
    """Full years of someone born on `birth`, on `day`."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def birth_date_problem(birth: date, today: date) -> tuple[str, str] | None:
    """Why `birth` cannot be a trainee's birth date (zh, en), or None when it can."""
    shown = birth.isoformat()
    if birth > today:
        return f"出生日期 {shown} 晚于今天", f"birth date {shown} is in the future"
    if birth < _EARLIEST_BIRTH:
        return f"出生日期 {shown} 早于 1900 年", f"birth date {shown} is before 1900"
    if age_on(birth, today) > _MAX_AGE:
        return (
            f"出生日期 {shown} 表示年龄超过 {_MAX_AGE} 岁",
            f"birth date {shown} would make the person older than {_MAX_AGE}",
        )
    return None


def parse_resident_id(value: str, *, today: date) -> ResidentId:
    """Check a resident ID number (spaces, lower-case x and full-width forms are accepted)."""
    number = _compact(value)
    if len(number) != 18:
        _fail(
            "id_number",
            "id_number_length",
            f"身份证号码应为 18 位，实为 {len(number)} 位（不受理 15 位旧号码）",
            f"a resident ID number has 18 characters, this one has {len(number)}"
            " (old 15-digit numbers are not accepted)",
        )
    for position, char in enumerate(number, start=1):
        if char in "0123456789" or (position == 18 and char == "X"):
            continue
        allowed_zh, allowed_en = (
            ("数字或 X", "a digit or X") if position == 18 else ("数字", "a digit")
        )
        _fail(
            "id_number",
            "id_number_chars",
            f"身份证号码第 {position} 位应为{allowed_zh}，实为“{char}”",
            f"character {position} of a resident ID number must be {allowed_en}, got '{char}'",
        )
    if number[:2] not in _PROVINCES:
        _fail(
            "id_number",
            "id_number_region",
            f"身份证号码前两位“{number[:2]}”不是有效的省级行政区划代码",
            f"the first two digits '{number[:2]}' are not a province-level region code",
        )
    digits = number[6:14]
    try:
        birth = date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        _fail(
            "id_number",
            "id_number_birth_date",
            f"身份证号码中的出生日期“{digits}”不是有效日期",
            f"the birth date '{digits}' in the resident ID number is not a real date",
        )
    if why := birth_date_problem(birth, today):
        _fail(
            "id_number",
            "id_number_birth_date",
            f"身份证号码中的{why[0]}",
            f"in the resident ID number, {why[1]}",
        )
    expected = check_digit(number[:17])
    if number[17] != expected:
        _fail(
            "id_number",
            "id_number_check_digit",
            f"身份证号码校验位错误：应为 {expected}，实为 {number[17]}",
            f"resident ID check digit is wrong: expected {expected}, got {number[17]}",
        )
    sex = Sex.male if int(number[16]) % 2 else Sex.female
    return ResidentId(number=number, region_code=number[:6], birth_date=birth, sex=sex)


def make_resident_id(region: str, birth: date, serial: int, sex: Sex) -> str:
    """A valid resident ID number, for demo data and tests.

    `serial` (0–499) counts the people of that sex born that day in that region: the 3-digit
    sequence code is `2 * serial + 1` for men and `2 * serial` for women, so each pair gives a
    different number. The region is only required to be 6 digits, so a test can build a number
    with a valid check digit and an invalid region.
    """
    if not re.fullmatch(r"[0-9]{6}", region):
        raise ValueError(f"region must be 6 digits, got {region!r}")
    if not 0 <= serial <= 499:
        raise ValueError(f"serial must be 0–499, got {serial}")
    sequence = 2 * serial + (1 if sex is Sex.male else 0)
    first17 = f"{region}{birth.year:04d}{birth.month:02d}{birth.day:02d}{sequence:03d}"
    return first17 + check_digit(first17)


# --- other documents, masking -------------------------------------------------------------

_DOCUMENT_NUMBER = re.compile(r"[A-Z0-9-]+")


def normalize_document_number(id_type: IdType, value: str, *, today: date | None = None) -> str:
    """The number of a document of `id_type` in canonical form.

    A resident ID goes through `parse_resident_id`, which needs `today` to judge the birth date.
    """
    if id_type is IdType.resident_id:
        if today is None:
            raise TypeError("normalize_document_number needs today= for a resident ID")
        return parse_resident_id(value, today=today).number
    number = _compact(value)
    if not 5 <= len(number) <= 30:
        _fail(
            "id_number",
            "document_number_format",
            f"证件号码应为 5–30 位，实为 {len(number)} 位",
            f"a document number has 5 to 30 characters, this one has {len(number)}",
        )
    if not _DOCUMENT_NUMBER.fullmatch(number):
        position, char = next(
            (i, c) for i, c in enumerate(number, start=1) if not _DOCUMENT_NUMBER.fullmatch(c)
        )
        _fail(
            "id_number",
            "document_number_format",
            f"证件号码只能包含字母、数字和“-”，第 {position} 位是“{char}”",
            f"a document number may only contain letters, digits and '-';"
            f" character {position} is '{char}'",
        )
    return number


def mask_id_number(value: str) -> str:
    """The number for display to roles that need not see it: 1101**********4514.

    Eight characters or fewer keep only the first and the last; two or fewer are hidden whole.
    """
    if len(value) <= 2:
        return "*" * len(value)
    keep = 4 if len(value) > 8 else 1
    return value[:keep] + "*" * (len(value) - 2 * keep) + value[-keep:]


# --- phone numbers --------------------------------------------------------------------------

_MOBILE = re.compile(r"(?:\+86|0086|86)?(1[3-9][0-9]{9})")
# The area code decides where the number starts even when no separator is written: 010 and
# 020–029 are the only 3-digit codes, every other area code has 4 digits (0310–0999).
_LANDLINE = re.compile(
    r"\(?(010|02[0-9]|0[3-9][0-9]{2})\)?-?([0-9]{7,8})(?:(?:-|转|分机|ext|x)([0-9]{1,6}))?",
    re.IGNORECASE,
)


def normalize_phone(value: str) -> str:
    """A mainland mobile as 11 digits, or a landline as 0AAA-NNNNNNNN[-EXT]."""
    text = _INVISIBLE.sub("", fold_fullwidth(value))
    if mobile := _MOBILE.fullmatch(text.replace("-", "")):
        return mobile.group(1)
    if landline := _LANDLINE.fullmatch(text):
        area, number, extension = landline.groups()
        return f"{area}-{number}" + (f"-{extension}" if extension else "")
    _fail(
        "phone",
        "phone_format",
        f"电话号码“{value.strip()}”格式不对：手机号为 11 位（如 13812345678），"
        "固定电话为 区号-号码（如 010-12345678）",
        f"phone number '{value.strip()}' is not valid: a mobile has 11 digits"
        " (e.g. 13812345678), a landline is area code-number (e.g. 010-12345678)",
    )


# --- education ------------------------------------------------------------------------------

_EDUCATION_LABELS = {
    EducationLevel.primary: ("小学", "Primary school"),
    EducationLevel.junior_high: ("初中", "Junior high school"),
    EducationLevel.senior_high: ("高中", "Senior high school"),
    EducationLevel.vocational_secondary: ("中专", "Secondary vocational school"),
    EducationLevel.junior_college: ("大专", "Junior college"),
    EducationLevel.bachelor: ("本科", "Bachelor's degree"),
    EducationLevel.master: ("硕士", "Master's degree"),
    EducationLevel.doctorate: ("博士", "Doctorate"),
}
# "college" and "graduate" are not accepted: both name more than one of these levels.
_EDUCATION = _index(
    {
        level: (level.value, *_EDUCATION_LABELS[level], *aliases)
        for level, aliases in {
            EducationLevel.primary: ("primary", "elementary school"),
            EducationLevel.junior_high: ("junior high", "middle school", "初级中学"),
            EducationLevel.senior_high: ("senior high", "high school", "普通高中"),
            EducationLevel.vocational_secondary: (
                "中技",
                "技校",
                "职高",
                "职业高中",
                "中等专业学校",
                "技工学校",
                "vocational secondary",
                "secondary vocational",
                "technical school",
            ),
            EducationLevel.junior_college: ("专科", "大学专科", "高职", "associate degree"),
            EducationLevel.bachelor: (
                "大学本科",
                "大学",
                "bachelor",
                "bachelors",
                "undergraduate",
                "university",
            ),
            EducationLevel.master: ("研究生", "硕士研究生", "master", "masters", "postgraduate"),
            EducationLevel.doctorate: ("博士研究生", "doctor", "doctoral", "phd"),
        }.items()
    }
)


def education_label(level: EducationLevel, lang: str) -> str:
    return _label(_EDUCATION_LABELS, level, lang)


def parse_education(text: str) -> EducationLevel:
    """The education level a cell names: code, English words or Chinese (本科, 本科学历, 技校 …)."""
    found = _EDUCATION.get(lookup_key(text).removesuffix("学历"))
    if found is None:
        _fail(
            "education",
            "education_unknown",
            f"文化程度“{text.strip()}”无法识别；可填："
            + "、".join(education_label(level, "zh") for level in EducationLevel),
            f"unknown education level '{text.strip()}'; use one of: "
            + ", ".join(education_label(level, "en") for level in EducationLevel),
        )
    return found
