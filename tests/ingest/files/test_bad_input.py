"""Bad input named as what it is, with the line and what to do."""

from __future__ import annotations

import pytest

from civiclake import Project
from civiclake.ingest.exceptions import IngestError

from ._support import inbox, raw, run
from .conftest import MakeSource

HEADER = "ref,amount,due\n"
ROWS = [f"T{i:04d},{i},2026-01-{(i % 28) + 1:02d}\n" for i in range(3000)]
CONFIG = "sources/housing/rent_accounts.yaml"


def _fails(project: Project, make_source: MakeSource, name: str, data: bytes) -> str:
    (inbox(project) / name).write_bytes(data)
    with pytest.raises(IngestError) as err:
        run(make_source())
    assert (inbox(project) / name).exists()  # refused: it waits for a fixed file
    return str(err.value)


def test_a_nul_byte_refuses_the_file_naming_the_line(
    project: Project, make_source: MakeSource
) -> None:
    data = HEADER + "".join(ROWS[:10]) + "T0010,1\x002,2026-01-11\n" + "".join(ROWS[11:20])
    message = _fails(project, make_source, "rents.csv", data.encode())
    assert message.endswith(
        "rents.csv: NUL byte at line 12: a NUL is not text, so the export is damaged or not a "
        "CSV file. Nothing was loaded from it; export it again (or remove the NUL bytes, e.g. "
        "`tr -d '\\000' < in.csv > out.csv`) and drop it in again"
    )
    assert not project.tables.exists(project.layout.table_uri(raw()))


def test_a_file_mixing_utf8_and_latin1_says_so_with_the_line(
    project: Project, make_source: MakeSource
) -> None:
    data = (
        (HEADER + "".join(ROWS[:2500])).encode()
        + "Café,2,2026-01-02\n".encode("latin-1")
        + "Ünïcode,3,2026-01-03\n".encode()
    )
    message = _fails(project, make_source, "rents.csv", data)
    assert message == (
        "housing/rent_accounts: 1 of 1 file(s) could not be loaded (the other files were "
        "loaded):\n  - rents.csv, line 2502: the file mixes encodings: it is UTF-8 text, "
        "but line 2502 is Latin-1 (Windows-1252), so neither `csv.encoding` reads all of it. "
        "Nothing was loaded from it. Save the export again as UTF-8 (in Excel: Save As → "
        '"CSV UTF-8"), or fix that line, and drop the file in again'
    )


def test_a_latin1_file_read_as_utf8_is_told_to_set_the_encoding(
    project: Project, make_source: MakeSource
) -> None:
    data = (HEADER + "".join(ROWS[:10])).encode() + "Café,2,2026-01-02\n".encode("latin-1")
    message = _fails(project, make_source, "rents.csv", data)
    assert message.endswith(
        "rents.csv, line 12: the file is not utf-8 text. Nothing was loaded from it. It looks "
        f"like latin-1: set `csv.encoding: latin-1` in {CONFIG} and run again"
    )
    assert "delimiter" not in message


def test_a_file_cut_off_mid_row_is_called_truncated(
    project: Project, make_source: MakeSource
) -> None:
    data = (HEADER + "".join(ROWS[:2000]) + "T2000,5,2026-0").encode()
    message = _fails(project, make_source, "rents.csv", data)
    assert message.endswith(
        "rents.csv: it ends mid-row at line 2002 (the file looks truncated: was it copied "
        "completely?). Nothing was loaded from it; send the complete file again"
    )
    assert "DATE" not in message


def test_a_line_longer_than_the_limit_names_the_limit(
    project: Project, make_source: MakeSource
) -> None:
    data = (HEADER + "T1,1,2026-01-01\nT2," + "9" * (3 << 20) + ",2026-01-01\n").encode()
    (inbox(project) / "rents.csv").write_bytes(data)
    message = _fails(project, make_source, "rents.csv", data)
    assert message.endswith(
        "rents.csv, line 3: the line is 3,145,742 bytes, longer than the longest line read "
        "(2,000,000 bytes, DuckDB's max_line_size). Nothing was loaded from it. If the line "
        f"is meant to be that long, set `csv.max_line_size` in {CONFIG} (e.g. "
        "`csv.max_line_size: 4000000`); if not, a quote is probably left open on that line: "
        "fix the file and drop it in again"
    )


@pytest.mark.parametrize("where", ["header", "first row"])
def test_latin1_in_the_first_lines_gets_encoding_advice_not_delimiter_advice(
    project: Project, make_source: MakeSource, where: str
) -> None:
    if where == "header":
        data = "réf,montant\nT1,1\n".encode("latin-1")
    else:
        data = "ref,amount\nCafé,1\nT2,2\n".encode("latin-1")
    message = _fails(project, make_source, "rents.csv", data)
    assert f"set `csv.encoding: latin-1` in {CONFIG} and run again" in message
    assert "delimiter" not in message
