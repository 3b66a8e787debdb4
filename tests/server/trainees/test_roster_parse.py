"""Roster files: each rule by example; round trips and single-cell corruptions by property."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

import openpyxl
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from curricula.model import EducationLevel
from server.trainees.identity import IdType, Sex, make_resident_id
from server.trainees.roster import (
    EXAMPLE_ID_NUMBER,
    MAX_ROWS,
    RosterParse,
    RosterRow,
    parse_roster,
    roster_template_csv,
    roster_template_xlsx,
)

TODAY = date(2026, 11, 23)
Rows = Sequence[Sequence[object]]
HEADER = [
    "姓名",
    "证件类型",
    "证件号码",
    "出生日期",
    "性别",
    "手机号",
    "工作单位",
    "岗位",
    "文化程度",
]
KEYS = [
    "name",
    "id_type",
    "id_number",
    "birth_date",
    "sex",
    "phone",
    "employer",
    "job",
    "education",
]
ID_1 = make_resident_id("320106", date(1990, 3, 7), 1, Sex.male)
ID_2 = make_resident_id("440305", date(1985, 12, 31), 7, Sex.female)


def cells(**overrides: object) -> dict[str, object]:
    """One valid row, keyed by field, with the given cells replaced."""
    row: dict[str, object] = {
        "name": "王小明",
        "id_type": "",
        "id_number": ID_1,
        "birth_date": "",
        "sex": "",
        "phone": "13812345678",
        "employer": "南京某化工有限公司",
        "job": "硝化工",
        "education": "高中",
    }
    return row | overrides


def table(*rows: dict[str, object], header: list[str] = HEADER) -> list[list[object]]:
    keys = [KEYS[HEADER.index(h)] if h in HEADER else h for h in header]
    return [list(header), *([row.get(key, "") for key in keys] for row in rows)]


def csv_bytes(rows: Rows, *, encoding: str = "utf-8", delimiter: str = ",") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    return buffer.getvalue().encode(encoding)


def xlsx_bytes(rows: Rows) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.worksheets[0]
    for row in rows:
        sheet.append([None if value == "" else value for value in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def parse_csv(rows: Rows, **kwargs: str) -> RosterParse:
    return parse_roster(csv_bytes(rows, **kwargs), "roster.csv", today=TODAY)


def parse_xlsx(rows: Rows) -> RosterParse:
    return parse_roster(xlsx_bytes(rows), "roster.xlsx", today=TODAY)


def codes(result: RosterParse) -> list[tuple[int, str, str]]:
    return [(e.row_number, e.column, e.code) for e in result.errors]


class TestFileFormat:
    def test_unknown_extension_and_content_is_refused(self) -> None:
        result = parse_roster(b"hello", "roster.txt", today=TODAY)
        assert codes(result) == [(0, "", "file_format")]
        assert ".xls" in result.errors[0].zh

    def test_old_xls_is_refused_with_a_hint(self) -> None:
        ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512
        result = parse_roster(ole, "roster.xls", today=TODAY)
        assert codes(result) == [(0, "", "file_format")]
        assert "另存为 .xlsx" in result.errors[0].zh

    def test_xlsx_name_on_other_content_is_refused(self) -> None:
        result = parse_roster(csv_bytes(table(cells())), "roster.xlsx", today=TODAY)
        assert codes(result) == [(0, "", "file_format")]

    def test_zip_that_is_not_a_workbook_is_refused(self) -> None:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("hello.txt", "hello")
        result = parse_roster(buffer.getvalue(), "roster.xlsx", today=TODAY)
        assert codes(result) == [(0, "", "file_format")]

    def test_truncated_workbook_is_refused(self) -> None:
        data = xlsx_bytes(table(cells()))
        result = parse_roster(data[: len(data) // 2], "roster.xlsx", today=TODAY)
        assert codes(result) == [(0, "", "file_format")]

    @pytest.mark.parametrize("name", ["roster.csv", "roster", "名单.XLSX"])
    def test_workbook_is_recognised_by_content(self, name: str) -> None:
        result = parse_roster(xlsx_bytes(table(cells())), name, today=TODAY)
        assert [r.id_number for r in result.rows] == [ID_1]

    def test_csv_extension_is_case_insensitive(self) -> None:
        result = parse_roster(csv_bytes(table(cells())), "ROSTER.CSV", today=TODAY)
        assert len(result.rows) == 1

    @pytest.mark.parametrize("data", [b"", b"\r\n\r\n", b",,,\n,,\n"])
    def test_empty_file(self, data: bytes) -> None:
        assert codes(parse_roster(data, "roster.csv", today=TODAY)) == [(0, "", "file_empty")]

    def test_undecodable_csv_is_refused(self) -> None:
        result = parse_roster(b"\xff\xfe\xff\x80", "roster.csv", today=TODAY)
        assert codes(result) == [(0, "", "file_encoding")]

    @pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
    def test_csv_encodings(self, encoding: str) -> None:
        result = parse_csv(table(cells(name="欧阳娜娜")), encoding=encoding)
        assert [r.name for r in result.rows] == ["欧阳娜娜"]

    def test_gb18030_reads_names_gbk_cannot_hold(self) -> None:
        result = parse_csv(table(cells(name="吉𠮷")), encoding="gb18030")
        assert [r.name for r in result.rows] == ["吉𠮷"]

    @pytest.mark.parametrize("delimiter", [",", ";", "\t"])
    def test_delimiter_is_taken_from_the_header(self, delimiter: str) -> None:
        result = parse_csv(table(cells(employer="某化工, 二分厂")), delimiter=delimiter)
        assert [r.employer for r in result.rows] == ["某化工, 二分厂"]

    def test_too_many_rows(self) -> None:
        result = parse_csv(table(*[cells()] * (MAX_ROWS + 1)))
        assert codes(result) == [(0, "", "too_many_rows")]
        assert result.rows == []

    def test_blank_rows_do_not_count_towards_the_cap(self) -> None:
        rows = table(cells(), *[{} for _ in range(MAX_ROWS + 10)], cells(id_number=ID_2))
        result = parse_csv(rows)
        assert result.errors == []
        assert len(result.rows) == 2
        assert result.skipped_blank == MAX_ROWS + 10


class TestHeader:
    def test_english_headers_in_any_order_and_case(self) -> None:
        header = ["Education", "PHONE", "ID Number", "name", "employer"]
        rows = [header, ["本科", "13812345678", ID_1, "李雷", "某化工有限公司"]]
        result = parse_csv(rows)
        assert result.errors == []
        assert result.rows[0].education is EducationLevel.bachelor
        assert result.column_names["id_number"] == "ID Number"

    def test_aliases_and_padding(self) -> None:
        header = [" 姓  名 ", "身份证号", "联系电话", "单位", "学历", "工种"]
        rows = [header, ["李雷", ID_1, "13812345678", "某化工有限公司", "本科", "电工"]]
        result = parse_xlsx(rows)
        assert result.errors == []
        assert result.rows[0].job == "电工"
        assert result.column_names["name"] == "姓  名"

    def test_unknown_column_is_named(self) -> None:
        result = parse_csv(table(cells(), header=[*HEADER, "备注"]))
        assert codes(result) == [(1, "", "unknown_column")]
        assert result.errors[0].value == "备注"
        assert "“备注”" in result.errors[0].zh
        assert result.rows == []

    def test_missing_required_columns_are_each_named(self) -> None:
        result = parse_csv(table(cells(), header=["姓名", "证件号码", "工作单位"]))
        assert codes(result) == [(1, "", "missing_column")] * 2
        assert "缺少“手机号”列" in result.errors[0].zh
        assert "缺少“文化程度”列" in result.errors[1].zh

    def test_title_row_above_the_header_is_explained(self) -> None:
        result = parse_csv([["2026 年第 3 期学员名单"], *table(cells())])
        assert (1, "", "unknown_column") in codes(result)
        assert any("表头须在第 1 行" in e.zh for e in result.errors)

    def test_same_column_twice_is_refused(self) -> None:
        result = parse_csv(table(cells(), header=[*HEADER, "电话"]))
        assert codes(result) == [(1, "", "duplicate_column")]
        assert "“手机号”和“电话”" in result.errors[0].zh

    def test_optional_columns_may_be_left_out(self) -> None:
        header = ["姓名", "证件号码", "手机号", "工作单位", "文化程度"]
        result = parse_csv(table(cells(), header=header))
        assert result.rows[0].id_type is IdType.resident_id
        assert result.rows[0].job is None


class TestRows:
    def test_resident_id_gives_birth_date_and_sex(self) -> None:
        result = parse_csv(table(cells(name="  王  小明 ", id_number=ID_2.lower())))
        assert result.rows == [
            RosterRow(
                row_number=2,
                name="王 小明",
                id_type=IdType.resident_id,
                id_number=ID_2,
                birth_date=date(1985, 12, 31),
                sex=Sex.female,
                phone="13812345678",
                employer="南京某化工有限公司",
                job="硝化工",
                education=EducationLevel.senior_high,
            )
        ]

    @pytest.mark.parametrize("birth", ["1990-03-07", "1990/3/7", "1990.03.07", "19900307"])
    def test_given_birth_date_and_sex_that_agree_are_accepted(self, birth: str) -> None:
        result = parse_csv(table(cells(birth_date=birth, sex="男", id_type="身份证")))
        assert result.errors == []
        assert result.rows[0].birth_date == date(1990, 3, 7)

    def test_given_birth_date_and_sex_must_agree(self) -> None:
        result = parse_csv(table(cells(birth_date="1990年3月8日", sex="女")))
        assert codes(result) == [
            (2, "出生日期", "birth_date_mismatch"),
            (2, "性别", "sex_mismatch"),
        ]
        assert "1990-03-07" in result.errors[0].zh
        assert result.rows == []

    def test_other_documents_need_birth_date_and_sex(self) -> None:
        result = parse_csv(table(cells(id_type="护照", id_number="e12345678")))
        assert codes(result) == [(2, "出生日期", "required"), (2, "性别", "required")]

    def test_other_documents_need_the_columns_even_when_absent(self) -> None:
        header = ["姓名", "证件类型", "证件号码", "手机号", "工作单位", "文化程度"]
        result = parse_csv(table(cells(id_type="passport", id_number="E1234567"), header=header))
        assert codes(result) == [(2, "出生日期", "required"), (2, "性别", "required")]

    def test_passport_row(self) -> None:
        row = cells(id_type="Passport", id_number="e1234 5678", birth_date="1988-02-29", sex="F")
        [parsed] = parse_csv(table(row)).rows
        assert (parsed.id_type, parsed.id_number) == (IdType.passport, "E12345678")
        assert (parsed.birth_date, parsed.sex) == (date(1988, 2, 29), Sex.female)

    @pytest.mark.parametrize(
        ("birth", "code"),
        [
            ("1988-02-30", "birth_date_format"),
            ("去年", "birth_date_format"),
            ("2027-01-01", "birth_date_invalid"),
            ("1899-12-31", "birth_date_invalid"),
        ],
    )
    def test_bad_birth_dates(self, birth: str, code: str) -> None:
        row = cells(id_type="护照", id_number="E12345678", birth_date=birth, sex="男")
        assert codes(parse_csv(table(row))) == [(2, "出生日期", code)]

    def test_every_bad_column_is_reported_once(self) -> None:
        row = cells(
            name="",
            id_type="驾驶证",
            phone="12345",
            employer="X",
            job="很" * 51,
            education="幼儿园",
        )
        assert codes(parse_csv(table(row))) == [
            (2, "姓名", "required"),
            (2, "证件类型", "id_type_unknown"),
            (2, "手机号", "phone_format"),
            (2, "工作单位", "employer_length"),
            (2, "岗位", "job_length"),
            (2, "文化程度", "education_unknown"),
        ]

    def test_error_carries_the_cell_as_written(self) -> None:
        result = parse_csv(table(cells(phone=" 138-1234 ")))
        assert result.errors[0].value == "138-1234"

    def test_long_cells_are_shortened_in_errors(self) -> None:
        result = parse_csv(table(cells(name="长" * 500)))
        assert codes(result) == [(2, "姓名", "name_length")]
        assert len(result.errors[0].value) == 201

    @pytest.mark.parametrize("column", ["name", "id_number", "phone", "employer", "education"])
    def test_required_cells(self, column: str) -> None:
        result = parse_csv(table(cells(**{column: "  "})))
        assert codes(result) == [(2, HEADER[KEYS.index(column)], "required")]

    def test_names_and_employers_have_limits(self) -> None:
        assert parse_csv(table(cells(name="长" * 50, employer="某厂"))).errors == []
        result = parse_csv(table(cells(name="长" * 51, employer="厂" * 101)))
        assert codes(result) == [(2, "姓名", "name_length"), (2, "工作单位", "employer_length")]

    def test_values_are_normalised(self) -> None:
        row = cells(phone="+86 138 1234 5678", education="本科学历", job="  ", employer=" 某 厂 ")
        [parsed] = parse_csv(table(row)).rows
        assert (parsed.phone, parsed.education) == ("13812345678", EducationLevel.bachelor)
        assert (parsed.job, parsed.employer) == (None, "某 厂")

    def test_duplicates_in_the_file_name_the_first_row(self) -> None:
        rows = table(cells(), cells(id_number=ID_2), cells(id_number=ID_1.lower()), cells())
        result = parse_csv(rows)
        assert codes(result) == [
            (4, "证件号码", "duplicate_in_file"),
            (5, "证件号码", "duplicate_in_file"),
        ]
        assert "第 2 行" in result.errors[0].zh
        assert [r.row_number for r in result.rows] == [2, 3]

    def test_a_bad_first_occurrence_still_counts(self) -> None:
        result = parse_csv(table(cells(phone="1"), cells()))
        assert codes(result) == [
            (2, "手机号", "phone_format"),
            (3, "证件号码", "duplicate_in_file"),
        ]

    def test_blank_rows_are_skipped_and_counted_between_rows_only(self) -> None:
        rows = table(cells(), {}, {"name": "   "}, cells(id_number=ID_2), {}, {})
        result = parse_xlsx(rows)
        assert result.errors == []
        assert [r.row_number for r in result.rows] == [2, 5]
        assert result.skipped_blank == 2

    def test_value_without_a_header_is_an_error(self) -> None:
        result = parse_csv([[*HEADER, ""], [*table(cells())[1], "备注"]])
        assert codes(result) == [(2, "", "cell_without_header")]
        assert "第 10 列（J 列）" in result.errors[0].zh

    def test_template_example_row_is_refused(self) -> None:
        result = parse_csv(table(cells(id_number=EXAMPLE_ID_NUMBER)))
        assert codes(result) == [(2, "证件号码", "template_example_row")]


class TestXlsxCells:
    def test_date_cells_and_numbers(self) -> None:
        row = cells(
            id_type="护照",
            id_number=12345678,
            birth_date=datetime(1990, 3, 7),
            sex="女",
            phone=13812345678,
        )
        [parsed] = parse_xlsx(table(row)).rows
        assert parsed.id_number == "12345678"
        assert parsed.birth_date == date(1990, 3, 7)
        assert parsed.phone == "13812345678"

    def test_resident_id_stored_as_a_number_lost_digits(self) -> None:
        result = parse_xlsx(table(cells(id_number=float(ID_1))))
        assert codes(result) == [(2, "证件号码", "id_number_precision_lost")]
        assert result.errors[0].value.endswith("E+17")
        assert "文本" in result.errors[0].zh

    def test_same_in_csv_saved_by_excel(self) -> None:
        result = parse_csv(table(cells(id_number="3.20106E+17")))
        assert codes(result) == [(2, "证件号码", "id_number_precision_lost")]

    def test_first_sheet_is_read_even_with_wrong_dimensions(self) -> None:
        data = xlsx_bytes(table(cells(), cells(id_number=ID_2)))
        buffer = io.BytesIO()
        with (
            zipfile.ZipFile(io.BytesIO(data)) as source,
            zipfile.ZipFile(buffer, "w") as target,
        ):
            for item in source.infolist():
                content = source.read(item)
                if item.filename == "xl/worksheets/sheet1.xml":
                    content = content.replace(b'<dimension ref="A1:I3"', b'<dimension ref="A1:B2"')
                    assert b'"A1:B2"' in content
                target.writestr(item, content)
        assert len(parse_roster(buffer.getvalue(), "r.xlsx", today=TODAY).rows) == 2


class TestTemplates:
    def test_xlsx_template_has_the_headers_and_only_the_example_row_is_refused(self) -> None:
        data = roster_template_xlsx()
        workbook = openpyxl.load_workbook(io.BytesIO(data))
        sheet = workbook.worksheets[0]
        assert [c.value for c in sheet[1]] == HEADER
        assert sheet["C2"].value == EXAMPLE_ID_NUMBER
        assert sheet["C2"].number_format == "@"
        assert codes(parse_roster(data, "template.xlsx", today=TODAY)) == [
            (2, "证件号码", "template_example_row")
        ]

    def test_xlsx_template_filled_in_parses(self) -> None:
        workbook = openpyxl.load_workbook(io.BytesIO(roster_template_xlsx()))
        sheet = workbook.worksheets[0]
        sheet.delete_rows(2)
        sheet.append(table(cells())[1])
        buffer = io.BytesIO()
        workbook.save(buffer)
        result = parse_roster(buffer.getvalue(), "filled.xlsx", today=TODAY)
        assert result.errors == []
        assert [r.id_number for r in result.rows] == [ID_1]

    def test_csv_template_is_utf8_with_bom(self) -> None:
        data = roster_template_csv()
        assert data.startswith(b"\xef\xbb\xbf")
        lines = data.decode("utf-8-sig").splitlines()
        assert lines[0] == ",".join(HEADER)
        assert codes(parse_roster(data, "template.csv", today=TODAY)) == [
            (2, "证件号码", "template_example_row")
        ]


# --- properties -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Written:
    """A row as a trainer might write it, and what it must parse to."""

    cells: dict[str, object]
    expected: RosterRow


NAMES = st.text(
    alphabet="王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭·𠮷",
    min_size=1,
    max_size=5,
)
EMPLOYERS = st.sampled_from(
    ["南京某化工有限公司", "某石化分公司二厂", "Sino Chem Co., Ltd.", "宁波某科技"]
)
JOBS = st.sampled_from(["", "硝化工", "仪表工", "operator"])
EDUCATION = st.sampled_from(
    [
        ("初中", EducationLevel.junior_high),
        ("技校", EducationLevel.vocational_secondary),
        ("大专", EducationLevel.junior_college),
        ("本科", EducationLevel.bachelor),
        ("bachelor", EducationLevel.bachelor),
        ("研究生", EducationLevel.master),
    ]
)
BIRTHS = st.dates(min_value=date(1950, 1, 1), max_value=date(2008, 12, 31))


@st.composite
def written_rows(draw: st.DrawFn) -> Written:
    name = draw(NAMES)
    birth = draw(BIRTHS)
    sex = draw(st.sampled_from(Sex))
    mobile = draw(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
    employer = draw(EMPLOYERS)
    job = draw(JOBS)
    education_text, education = draw(EDUCATION)
    in_xlsx_date = draw(st.booleans())
    if draw(st.integers(0, 3)):
        id_type = IdType.resident_id
        region = draw(st.sampled_from(["110101", "320106", "440305", "810000", "830000"]))
        id_number = make_resident_id(region, birth, draw(st.integers(0, 499)), sex)
        written_type = draw(st.sampled_from(["", "居民身份证", "身份证", "resident_id"]))
        written_birth: object = draw(st.sampled_from(["", birth.isoformat()]))
        written_sex = draw(st.sampled_from(["", sex.label("zh")]))
    else:
        id_type = IdType.passport
        id_number = "E" + draw(st.from_regex(r"[0-9]{8}", fullmatch=True))
        written_type = draw(st.sampled_from(["护照", "passport"]))
        written_birth = birth if in_xlsx_date else birth.strftime("%Y/%m/%d")
        written_sex = draw(st.sampled_from([sex.label("zh"), sex.label("en"), sex.value[0]]))
    return Written(
        cells={
            "name": f" {name} ",
            "id_type": written_type,
            "id_number": id_number.lower() if draw(st.booleans()) else id_number,
            "birth_date": written_birth,
            "sex": written_sex,
            "phone": draw(st.sampled_from([mobile, f"+86 {mobile}", f"{mobile[:3]}-{mobile[3:]}"])),
            "employer": employer,
            "job": job,
            "education": education_text,
        },
        expected=RosterRow(
            row_number=0,
            name=name,
            id_type=id_type,
            id_number=id_number,
            birth_date=birth,
            sex=sex,
            phone=mobile,
            employer=employer,
            job=job or None,
            education=education,
        ),
    )


ROSTERS = st.lists(written_rows(), min_size=1, max_size=8, unique_by=lambda w: w.expected.id_number)
FORMATS = ["csv-utf-8", "csv-gb18030", "xlsx"]


def write(rows: Rows, file_format: str, delimiter: str = ",") -> tuple[bytes, str]:
    if file_format == "xlsx":
        return xlsx_bytes(rows), "roster.xlsx"
    text_rows = [[v.isoformat() if isinstance(v, date) else v for v in row] for row in rows]
    encoding = file_format.removeprefix("csv-")
    return csv_bytes(text_rows, encoding=encoding, delimiter=delimiter), "roster.csv"


class TestRosterProperties:
    @pytest.mark.parametrize("file_format", FORMATS)
    @settings(max_examples=30, deadline=None)
    @given(roster=ROSTERS, order=st.permutations(HEADER), delimiter=st.sampled_from(",;\t"))
    def test_valid_rows_parse_back_equal(
        self, file_format: str, roster: list[Written], order: list[str], delimiter: str
    ) -> None:
        data, filename = write(
            table(*(w.cells for w in roster), header=order), file_format, delimiter
        )
        result = parse_roster(data, filename, today=TODAY)
        assert result.errors == []
        assert result.rows == [
            replace(w.expected, row_number=n) for n, w in enumerate(roster, start=2)
        ]

    @settings(max_examples=50, deadline=None)
    @given(
        roster=ROSTERS,
        file_format=st.sampled_from(FORMATS),
        corruption=st.sampled_from(["check_digit", "empty_name", "bad_phone", "unknown_education"]),
        data=st.data(),
    )
    def test_one_bad_cell_gives_one_error_and_spares_the_other_rows(
        self, roster: list[Written], file_format: str, corruption: str, data: st.DataObject
    ) -> None:
        if corruption == "check_digit":
            candidates = [
                i for i, w in enumerate(roster) if w.expected.id_type is IdType.resident_id
            ]
        else:
            candidates = list(range(len(roster)))
        assume(candidates)
        target = data.draw(st.sampled_from(candidates))
        bad = dict(roster[target].cells)
        if corruption == "check_digit":
            number = roster[target].expected.id_number
            wrong = data.draw(st.sampled_from([c for c in "0123456789X" if c != number[-1]]))
            key, code, bad["id_number"] = "id_number", "id_number_check_digit", number[:-1] + wrong
        elif corruption == "empty_name":
            key, code, bad["name"] = "name", "required", ""
        elif corruption == "bad_phone":
            key, code, bad["phone"] = "phone", "phone_format", "138-1234"
        else:
            key, code, bad["education"] = "education", "education_unknown", "不详"
        written = [bad if i == target else w.cells for i, w in enumerate(roster)]

        file, filename = write(table(*written), file_format)
        result = parse_roster(file, filename, today=TODAY)

        assert codes(result) == [(target + 2, HEADER[KEYS.index(key)], code)]
        assert result.rows == [
            replace(w.expected, row_number=n)
            for n, w in enumerate(roster, start=2)
            if n != target + 2
        ]
