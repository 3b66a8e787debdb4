"""Reads a roster of trainees uploaded as CSV or XLSX and checks every row, alone and against the
other rows of the file; whether a trainee is already registered is for the service to check.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import PurePath
from typing import TypeVar

import openpyxl
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._read_only import ReadOnlyWorksheet
from openpyxl.worksheet.datavalidation import DataValidation

from curricula.model import EducationLevel
from server.trainees.identity import (
    FieldProblem,
    IdentityError,
    IdType,
    ResidentId,
    Sex,
    birth_date_problem,
    education_label,
    lookup_key,
    normalize_document_number,
    normalize_phone,
    parse_education,
    parse_id_type,
    parse_resident_id,
    parse_sex,
)

T = TypeVar("T")

MAX_ROWS = 5000
# The example row of the template carries the sample number printed in GB 11643-1999 itself, so
# it belongs to nobody; a roster that still contains it is refused row by row.
EXAMPLE_ID_NUMBER = "11010519491231002X"

# A cell once read: text, a number, or a date (XLSX date cells arrive as datetimes); "" is empty.
Cell = str | int | float | date


@dataclass(frozen=True)
class Column:
    key: str
    zh: str  # the header the template writes
    en: str
    required: bool
    aliases: tuple[str, ...] = ()


COLUMNS = (
    Column("name", "姓名", "name", required=True),
    Column("id_type", "证件类型", "ID type", required=False),
    Column("id_number", "证件号码", "ID number", required=True, aliases=("身份证号", "身份证号码")),
    # Required in each row whose document is not a resident ID, so not required as a column.
    Column("birth_date", "出生日期", "birth date", required=False, aliases=("date of birth",)),
    Column("sex", "性别", "sex", required=False, aliases=("gender",)),
    Column("phone", "手机号", "phone", required=True, aliases=("联系电话", "电话", "手机号码")),
    Column("employer", "工作单位", "employer", required=True, aliases=("单位",)),
    Column("job", "岗位", "job", required=False, aliases=("工种",)),
    Column("education", "文化程度", "education", required=True, aliases=("学历",)),
)
_COLUMN = {column.key: column for column in COLUMNS}
_HEADERS = {
    lookup_key(name): column.key
    for column in COLUMNS
    for name in (column.key, column.zh, column.en, *column.aliases)
}


@dataclass(frozen=True)
class RosterRow:
    """One trainee of the roster, every value normalised; `row_number` as the spreadsheet shows."""

    row_number: int
    name: str
    id_type: IdType
    id_number: str
    birth_date: date
    sex: Sex
    phone: str
    employer: str
    job: str | None
    education: EducationLevel


@dataclass(frozen=True)
class RowError:
    """One problem: row 0 is the file, row 1 the header; `column` is the header as written."""

    row_number: int
    column: str
    code: str
    zh: str
    en: str
    value: str


@dataclass
class RosterParse:
    rows: list[RosterRow]
    errors: list[RowError]
    skipped_blank: int
    # Field key → the header as written in the file, for errors the caller adds about a column.
    column_names: dict[str, str] = field(default_factory=dict)


def parse_roster(data: bytes, filename: str, *, today: date) -> RosterParse:
    """Read a CSV or XLSX roster; a row with any error is reported and left out of `rows`."""
    try:
        table = _read(data, filename)
    except _Unreadable as exc:
        return RosterParse(rows=[], errors=[exc.error], skipped_blank=0)
    positions, names, errors = _match_header(table.header)
    if errors:
        return RosterParse(rows=[], errors=errors, skipped_blank=0, column_names=names)

    rows: list[RosterRow] = []
    first_seen: dict[str, int] = {}
    for number, raw in table.rows:
        cells = {column.key: _at(raw, positions.get(column.key)) for column in COLUMNS}
        row, id_number, problems = _parse_row(number, cells, today)
        if id_number is not None:
            first = first_seen.setdefault(id_number, number)
            if first != number:
                problems.append(
                    FieldProblem(
                        "id_number",
                        "duplicate_in_file",
                        f"证件号码与第 {first} 行重复",
                        f"the same ID number as row {first}",
                    )
                )
        row_errors = [
            RowError(
                number,
                names.get(problem.field, _COLUMN[problem.field].zh),
                problem.code,
                problem.zh,
                problem.en,
                _shown(cells[problem.field]),
            )
            for problem in problems
        ]
        if stray := _stray_cell(number, raw, set(positions.values())):
            row_errors.append(stray)
        if row_errors:
            errors.extend(row_errors)
        elif row is not None:
            rows.append(row)
    return RosterParse(
        rows=rows, errors=errors, skipped_blank=table.skipped_blank, column_names=names
    )


# --- reading the file -----------------------------------------------------------------------

_ZIP_MAGIC = b"PK\x03\x04"
_MAX_SHOWN = 200


@dataclass
class _Table:
    header: list[Cell]
    rows: list[tuple[int, list[Cell]]]  # (spreadsheet row number, cells), blank rows left out
    skipped_blank: int


class _Unreadable(Exception):
    def __init__(self, error: RowError) -> None:
        super().__init__(error.en)
        self.error = error


def _file_error(code: str, zh: str, en: str) -> _Unreadable:
    return _Unreadable(RowError(0, "", code, zh, en, ""))


def _not_a_roster() -> _Unreadable:
    return _file_error(
        "file_format",
        "无法读取文件：只支持 .xlsx 或 .csv 文件（旧版 .xls 请在 Excel 中另存为 .xlsx）",
        "cannot read the file: only .xlsx and .csv files are accepted"
        " (save an old .xls as .xlsx in Excel)",
    )


def _read(data: bytes, filename: str) -> _Table:
    # The content decides first: an XLSX is a zip, and no CSV starts with the zip signature.
    if data.startswith(_ZIP_MAGIC):
        return _read_xlsx(data)
    if PurePath(filename).suffix.lower() == ".csv":
        return _read_csv(data)
    raise _not_a_roster()


def _decode(data: bytes) -> str:
    """The text of a CSV file: UTF-8 (with or without BOM), else GB18030.

    Excel on a Chinese Windows saves "CSV (逗号分隔)" in the ANSI code page, which is GBK (936),
    not UTF-8. GB18030 is a superset of GBK that also has the rare characters found in some
    names. UTF-8 is tried first because GBK text is almost never valid UTF-8, while the reverse
    does not hold: GB18030 would turn UTF-8 Chinese into plausible-looking nonsense.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise _file_error(
            "file_encoding",
            "无法识别 CSV 文件的编码：请保存为 UTF-8 或 GBK 编码",
            "cannot tell the encoding of the CSV file: save it as UTF-8 or GBK",
        ) from exc


def _read_csv(data: bytes) -> _Table:
    text = _decode(data)
    header_line = text.split("\n", 1)[0]
    # Excel writes ";" where the decimal separator is ",", and "Unicode text" is tab-separated.
    delimiter = max(",;\t", key=header_line.count)
    try:
        return _collect(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise _not_a_roster() from exc


def _read_xlsx(data: bytes) -> _Table:
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds of errors on a damaged file
        raise _not_a_roster() from exc
    try:
        if not workbook.worksheets:
            raise _not_a_roster()
        sheet = workbook.worksheets[0]
        if isinstance(sheet, ReadOnlyWorksheet):
            # The stored dimensions of files written by other programs may be wrong; reading
            # them would silently cut rows or columns off.
            sheet.reset_dimensions()
        return _collect(_guarded(sheet.iter_rows(values_only=True)))
    finally:
        workbook.close()


def _guarded(rows: Iterator[tuple[object, ...]]) -> Iterator[tuple[object, ...]]:
    """Rows of a sheet; a damaged sheet part becomes `file_format`, not an exception."""
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except Exception as exc:  # as in _read_xlsx: whatever openpyxl raises on bad XML
            raise _not_a_roster() from exc
        yield row


def _collect(rows: Iterable[Sequence[object]]) -> _Table:
    header: list[Cell] | None = None
    body: list[tuple[int, list[Cell]]] = []
    last_row = 1
    for number, raw in enumerate(rows, start=1):
        cells = [_cell(value) for value in raw]
        if header is None:
            header = cells
            continue
        if all(_blank(cell) for cell in cells):
            continue
        if len(body) == MAX_ROWS:
            raise _file_error(
                "too_many_rows",
                f"文件超过 {MAX_ROWS} 行学员：请分成几个文件导入",
                f"the file has more than {MAX_ROWS} trainee rows: split it into several files",
            )
        body.append((number, cells))
        last_row = number
    if header is None or (not body and all(_blank(cell) for cell in header)):
        raise _file_error("file_empty", "文件是空的", "the file is empty")
    # Blank rows after the last trainee are not counted: spreadsheets often carry many.
    return _Table(header=header, rows=body, skipped_blank=last_row - 1 - len(body))


def _cell(value: object) -> Cell:
    if value is None:
        return ""
    if isinstance(value, str | date | float) or (
        isinstance(value, int) and not isinstance(value, bool)
    ):
        return value
    return str(value)


def _blank(cell: Cell) -> bool:
    return isinstance(cell, str) and not cell.strip()


def _text(cell: Cell) -> str:
    """The cell as the trainer sees it in the spreadsheet."""
    if isinstance(cell, str):
        return cell
    if isinstance(cell, datetime):
        return cell.date().isoformat() if cell.time() == time() else cell.isoformat(sep=" ")
    if isinstance(cell, date):
        return cell.isoformat()
    if isinstance(cell, float):
        # Excel keeps 15 significant digits and shows longer numbers as 1.10101199003074E+17.
        if cell.is_integer() and abs(cell) < 1e15:
            return str(int(cell))
        return f"{cell:.15G}"
    return str(cell)


def _at(raw: list[Cell], index: int | None) -> Cell:
    """The cell of a column; rows may be shorter than the header, columns may be absent."""
    return raw[index] if index is not None and index < len(raw) else ""


def _shown(cell: Cell) -> str:
    text = _text(cell).strip()
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "…"


# --- the header -----------------------------------------------------------------------------


def _header_error(code: str, zh: str, en: str, value: str = "") -> RowError:
    return RowError(1, "", code, zh, en, value)


def _match_header(header: list[Cell]) -> tuple[dict[str, int], dict[str, str], list[RowError]]:
    """Where each column is, its header as written, and the header's problems."""
    positions: dict[str, int] = {}
    names: dict[str, str] = {}
    errors: list[RowError] = []
    for index, cell in enumerate(header):
        text = _text(cell).strip()
        if not text:
            continue
        key = _HEADERS.get(lookup_key(text))
        if key is None:
            errors.append(
                _header_error(
                    "unknown_column",
                    f"不认识的列“{text}”；可用的列：" + "、".join(c.zh for c in COLUMNS),
                    f"unknown column '{text}'; the columns are: "
                    + ", ".join(c.en for c in COLUMNS),
                    text,
                )
            )
        elif key in positions:
            errors.append(
                _header_error(
                    "duplicate_column",
                    f"“{names[key]}”和“{text}”是同一列，请只保留一列",
                    f"'{names[key]}' and '{text}' are the same column; keep only one",
                    text,
                )
            )
        else:
            positions[key] = index
            names[key] = text
    errors.extend(
        _header_error(
            "missing_column",
            f"缺少“{column.zh}”列（表头须在第 1 行）",
            f"the column '{column.en}' ({column.zh}) is missing (the header must be row 1)",
        )
        for column in COLUMNS
        if column.required and column.key not in positions
    )
    return positions, names, errors


def _stray_cell(number: int, raw: list[Cell], named: set[int]) -> RowError | None:
    """A value in a column without a header: a note, or a CSV row shifted by a stray comma."""
    for index, cell in enumerate(raw):
        if index not in named and not _blank(cell):
            letter = get_column_letter(index + 1)
            return RowError(
                number,
                "",
                "cell_without_header",
                f"第 {index + 1} 列（{letter} 列）有内容但没有表头；"
                "单元格里多出的逗号也会造成这种情况",
                f"column {index + 1} ({letter}) has a value but no header;"
                " a stray comma in a cell can cause this",
                _shown(cell),
            )
    return None


# --- one row --------------------------------------------------------------------------------

_PRECISION_LOST = re.compile(r"[0-9](?:\.[0-9]+)?E\+?[0-9]+", re.IGNORECASE)
_DATE = re.compile(
    r"([0-9]{4})\s*[-/.年]\s*([0-9]{1,2})\s*[-/.月]\s*([0-9]{1,2})\s*日?"
    r"(?:[ T]0{1,2}:00(?::00)?)?"
    r"|([0-9]{4})([0-9]{2})([0-9]{2})"
)


def _problem(key: str, code: str, zh: str, en: str) -> IdentityError:
    return IdentityError(FieldProblem(key, code, zh, en))


def _missing(key: str) -> IdentityError:
    column = _COLUMN[key]
    return _problem(key, "required", f"{column.zh}不能为空", f"{column.en} is required")


def _required_text(key: str, cell: Cell) -> str:
    text = _text(cell).strip()
    if not text:
        raise _missing(key)
    return text


def _text_field(key: str, cell: Cell, shortest: int, longest: int) -> str:
    text = " ".join(_text(cell).split())
    if shortest and not text:
        raise _missing(key)
    if not shortest <= len(text) <= longest:
        column = _COLUMN[key]
        raise _problem(
            key,
            f"{key}_length",
            f"{column.zh}应为 {shortest}–{longest} 个字，实为 {len(text)} 个",
            f"{column.en} must have {shortest} to {longest} characters, not {len(text)}",
        )
    return text


def _id_type(cell: Cell) -> IdType:
    text = _text(cell).strip()
    return parse_id_type(text) if text else IdType.resident_id


def _id_text(cell: Cell) -> str:
    text = _required_text("id_number", cell)
    if _PRECISION_LOST.fullmatch(text):
        raise _problem(
            "id_number",
            "id_number_precision_lost",
            f"证件号码显示为 {text}：Excel 把它当成了数字，末几位已丢失。"
            "请把该列设置为“文本”格式后重新填写号码",
            f"the ID number shows as {text}: Excel stored it as a number and lost the last digits."
            " Format the column as text and type the numbers again",
        )
    return text


def _birth_date(cell: Cell, today: date, *, required: bool) -> date | None:
    if _blank(cell):
        if required:
            raise _missing("birth_date")
        return None
    if isinstance(cell, datetime):
        birth = cell.date()
    elif isinstance(cell, date):
        birth = cell
    else:
        birth = _date_from_text(_text(cell).strip())
    if why := birth_date_problem(birth, today):
        raise _problem("birth_date", "birth_date_invalid", why[0], why[1])
    return birth


def _date_from_text(text: str) -> date:
    found = _DATE.fullmatch(text)
    try:
        if found is None:
            raise ValueError(text)
        year, month, day = (int(part) for part in found.groups() if part is not None)
        return date(year, month, day)
    except ValueError:
        raise _problem(
            "birth_date",
            "birth_date_format",
            f"出生日期“{text}”无法识别；请写作 1990-03-07",
            f"cannot read the birth date '{text}'; write it as 1990-03-07",
        ) from None


def _sex(cell: Cell, *, required: bool) -> Sex | None:
    if _blank(cell):
        if required:
            raise _missing("sex")
        return None
    return parse_sex(_text(cell))


def _mismatch(key: str, given: str, derived: str) -> FieldProblem:
    column = _COLUMN[key]
    return FieldProblem(
        key,
        f"{key}_mismatch",
        f"{column.zh}“{given}”与身份证号码中的“{derived}”不一致",
        f"{column.en} '{given}' disagrees with the resident ID number, which gives '{derived}'",
    )


def _parse_row(
    number: int, cells: Mapping[str, Cell], today: date
) -> tuple[RosterRow | None, str | None, list[FieldProblem]]:
    """The row (None if it has problems), its valid ID number if any, and its problems."""
    problems: list[FieldProblem] = []

    def attempt(parse: Callable[[], T]) -> T | None:
        try:
            return parse()
        except IdentityError as exc:
            problems.append(exc.problem)
            return None

    name = attempt(lambda: _text_field("name", cells["name"], 1, 50))
    id_type = attempt(lambda: _id_type(cells["id_type"]))
    resident: ResidentId | None = None
    id_number: str | None = None
    if id_type is IdType.resident_id:
        resident = attempt(lambda: parse_resident_id(_id_text(cells["id_number"]), today=today))
        id_number = resident.number if resident else None
    elif id_type is not None:
        document = id_type
        id_number = attempt(
            lambda: normalize_document_number(document, _id_text(cells["id_number"]))
        )
    if id_number == EXAMPLE_ID_NUMBER:
        problems.append(
            FieldProblem(
                "id_number",
                "template_example_row",
                "这是模板中的示例行，请删除",
                "this is the template's example row; delete it",
            )
        )

    # A resident ID number gives birth date and sex; other documents need both columns filled.
    own_details = id_type is not None and id_type is not IdType.resident_id
    birth_date = attempt(lambda: _birth_date(cells["birth_date"], today, required=own_details))
    sex = attempt(lambda: _sex(cells["sex"], required=own_details))
    if resident is not None:
        if birth_date is not None and birth_date != resident.birth_date:
            problems.append(
                _mismatch("birth_date", birth_date.isoformat(), resident.birth_date.isoformat())
            )
        if sex is not None and sex is not resident.sex:
            problems.append(_mismatch("sex", sex.label("zh"), resident.sex.label("zh")))
        birth_date, sex = resident.birth_date, resident.sex

    phone = attempt(lambda: normalize_phone(_required_text("phone", cells["phone"])))
    employer = attempt(lambda: _text_field("employer", cells["employer"], 2, 100))
    job = attempt(lambda: _text_field("job", cells["job"], 0, 50))
    education = attempt(lambda: parse_education(_required_text("education", cells["education"])))

    if (
        problems
        or name is None
        or id_type is None
        or id_number is None
        or birth_date is None
        or sex is None
        or phone is None
        or employer is None
        or education is None
    ):
        return None, id_number, problems
    row = RosterRow(
        row_number=number,
        name=name,
        id_type=id_type,
        id_number=id_number,
        birth_date=birth_date,
        sex=sex,
        phone=phone,
        employer=employer,
        job=job or None,
        education=education,
    )
    return row, id_number, problems


# --- templates ------------------------------------------------------------------------------

_EXAMPLE_ROW = {
    "name": "张三",
    "id_type": IdType.resident_id.label("zh"),
    "id_number": EXAMPLE_ID_NUMBER,
    "phone": "13800000000",
    "employer": "示例化工有限公司",
    "job": "硝化工艺操作",
    "education": education_label(EducationLevel.senior_high, "zh"),
}
_CHOICES = {
    "id_type": [t.label("zh") for t in IdType],
    "sex": [s.label("zh") for s in Sex],
    "education": [education_label(level, "zh") for level in EducationLevel],
}
_WIDTHS = {"id_type": 24, "id_number": 22, "phone": 16, "employer": 30, "job": 16}
_INSTRUCTIONS = (
    f"第 1 行是表头，请勿修改；每行一名学员，最多 {MAX_ROWS} 行。第 2 行（张三）是示例，请删除。",
    "必填：" + "、".join(c.zh for c in COLUMNS if c.required) + "。",
    "证件类型不填即为居民身份证；可填：" + "、".join(_CHOICES["id_type"]) + "。",
    "出生日期、性别：居民身份证可不填（由号码得出，填了须一致）；其他证件必填。"
    "出生日期写作 1990-03-07。",
    "证件号码、手机号两列须为“文本”格式，否则 Excel 会把 18 位号码变成 1.10101E+17，丢失末几位。",
    "手机号填 11 位手机号，或 区号-号码 的固定电话（如 010-12345678）。",
    "文化程度可填：" + "、".join(_CHOICES["education"]) + "。",
    "",
    f"Row 1 is the header; do not change it. One trainee per row, at most {MAX_ROWS} rows."
    " Row 2 (张三) is an example: delete it.",
    "Required: " + ", ".join(c.en for c in COLUMNS if c.required) + ".",
    "An empty ID type means a resident identity card (居民身份证).",
    "Birth date and sex come from a resident ID number (if given they must agree);"
    " other documents need both. Write dates as 1990-03-07.",
    "Keep the ID number and phone columns formatted as text, or Excel turns an 18-digit"
    " number into 1.10101E+17 and loses its last digits.",
    "Phone: an 11-digit mobile, or a landline as area code-number (e.g. 010-12345678).",
    "Education: "
    + ", ".join(education_label(level, "en") for level in EducationLevel)
    + " (or the Chinese above).",
)


def roster_template_xlsx() -> bytes:
    """An XLSX roster with the Chinese headers, one example row and a sheet of instructions."""
    workbook = openpyxl.Workbook()
    sheet = workbook.worksheets[0]
    sheet.title = "学员名单"
    sheet.append([column.zh for column in COLUMNS])
    sheet.append([_EXAMPLE_ROW.get(column.key, "") for column in COLUMNS])
    sheet.freeze_panes = "A2"
    for index, column in enumerate(COLUMNS, start=1):
        letter = get_column_letter(index)
        sheet.cell(1, index).font = Font(bold=True)
        sheet.column_dimensions[letter].width = _WIDTHS.get(column.key, 12)
        number_format = {"id_number": "@", "phone": "@", "birth_date": "yyyy-mm-dd"}.get(column.key)
        if number_format:
            sheet.column_dimensions[letter].number_format = number_format
            sheet.cell(2, index).number_format = number_format
        if choices := _CHOICES.get(column.key):
            # A drop-down that still accepts other spellings (技校, 身份证 …).
            validation = DataValidation(
                type="list",
                formula1='"' + ",".join(choices) + '"',
                allow_blank=True,
                showErrorMessage=False,
            )
            validation.add(f"{letter}2:{letter}{MAX_ROWS + 1}")
            sheet.add_data_validation(validation)
    notes = workbook.create_sheet("填写说明")
    notes.column_dimensions["A"].width = 120
    for line in _INSTRUCTIONS:
        notes.append([line])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def roster_template_csv() -> bytes:
    """A CSV roster with the Chinese headers and one example row, in UTF-8 with a BOM.

    Excel opens a CSV without a BOM in the system code page, which garbles UTF-8 Chinese.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([column.zh for column in COLUMNS])
    writer.writerow([_EXAMPLE_ROW.get(column.key, "") for column in COLUMNS])
    return buffer.getvalue().encode("utf-8-sig")
