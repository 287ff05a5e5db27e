"""`new source` from a sample file: its pattern, dialect, key, PII guesses and YAML."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest

from civiclake import Project
from civiclake.config.loader import load_model
from civiclake.exceptions import ConfigError
from civiclake.ingest import load_sources
from civiclake.ingest.exceptions import BadFileError
from civiclake.ingest.files.config import FilesSourceConfig, time_from_name
from civiclake.ingest.files.inspect import file_pattern
from civiclake.ingest.files.scaffold import new_source


@pytest.mark.parametrize(
    ("name", "pattern", "next_month"),
    [
        (
            "rent_accounts_2026-03.csv",
            "rent_accounts_{month:%Y-%m}.csv",
            "rent_accounts_2026-04.csv",
        ),
        (
            "rent_accounts_2026_03.csv",
            "rent_accounts_{month:%Y_%m}.csv",
            "rent_accounts_2026_04.csv",
        ),
        ("rent_accounts_202603.csv", "rent_accounts_{month:%Y%m}.csv", "rent_accounts_202604.csv"),
        ("arrears_20260331.xlsx", "arrears_{day:%Y%m%d}.xlsx", "arrears_20260430.xlsx"),
        ("rents_Mar2026.xlsx", "rents_{month:%b%Y}.xlsx", "rents_Apr2026.xlsx"),
        ("Rents March 2026.xlsx", "Rents {month:%B %Y}.xlsx", "Rents April 2026.xlsx"),
        ("tenancies.csv", "tenancies.csv", "tenancies.csv"),
    ],
)
def test_a_date_in_the_name_becomes_a_placeholder_that_matches_next_month(
    name: str, pattern: str, next_month: str
) -> None:
    assert file_pattern(name)[0] == pattern
    FilesSourceConfig(patterns=[pattern])  # the files config reads it
    if "{" in pattern:
        assert time_from_name(pattern, name) is not None
        assert time_from_name(pattern, next_month) > time_from_name(pattern, name)  # type: ignore[operator]


def test_a_number_that_is_not_a_date_stays_in_the_pattern() -> None:
    assert file_pattern("ward_202699.csv") == ("ward_202699.csv", None)


def _csv(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


ACCOUNTS = (
    "Rent accounts, exported 31/03/2026\n"
    "Tenancy Ref;Ward;Tenant Name;Contact;NI;Date of Birth;Balance\n"
    + "".join(
        f"T{100 + i};{'North' if i % 2 else 'South'};Person {i};p{i}@example.org;"
        f"AB{123456 + i}C;19{50 + i}-0{1 + i % 9}-1{i % 9};{i * 10.5:.2f}\n"
        for i in range(12)
    )
)


def test_the_source_file_has_the_dialect_key_and_pii_guesses_and_loads(
    project: Project, tmp_path: Path
) -> None:
    sample = _csv(tmp_path / "rent_accounts_2026-03.csv", ACCOUNTS)
    made = new_source(project, "housing/rent_accounts", sample)
    text = made.config.read_text()
    assert made.config == project.dir / "sources/housing/rent_accounts.yaml"
    config = load_model(made.config, FilesSourceConfig)  # validated as a run loads it
    assert config.patterns == ["rent_accounts_{month:%Y-%m}.csv"]
    assert (config.format, config.csv.delimiter, config.csv.skip_rows) == ("csv", ";", 1)
    assert config.csv.encoding == "utf-8" and config.csv.header
    assert config.key == ["tenancy_ref"] and config.full_export
    assert config.pii == ["tenant_name", "contact", "ni", "date_of_birth"]
    assert (
        "  - contact  # review: guessed from its values (100% look like e-mail addresses)" in text
    )
    assert "  - ni  # review: guessed from its values (100% look like NI numbers)" in text
    assert "  - tenant_name  # review: guessed from the column name" in text
    assert "# other key candidates:" in text
    assert [s.name for s in load_sources(project)] == ["housing/rent_accounts"]
    assert (
        made.landed == Path(project.layout.landing_inbox("housing", "rent_accounts")) / sample.name
    )
    assert made.landed.read_bytes() == sample.read_bytes()


def test_a_latin_1_file_is_written_with_its_encoding(project: Project, tmp_path: Path) -> None:
    text = "ref,name,town\n" + "".join(f"R{i},Jos\u00e9 {i},Li\u00e8ge\n" for i in range(5))
    sample = _csv(tmp_path / "people.csv", text, "latin-1")
    made = new_source(project, "housing/people", sample)
    config = load_model(made.config, FilesSourceConfig)
    assert config.csv.encoding == "latin-1"
    assert config.patterns == ["people.csv"]
    assert "review: no date in the name" in made.config.read_text()


def test_without_a_single_unique_column_the_key_is_a_pair(project: Project, tmp_path: Path) -> None:
    rows = "".join(f"{ward},{period},10\n" for ward in "AB" for period in "xyz")
    sample = _csv(tmp_path / "rates.csv", "ward,period,amount_due\n" + rows)
    config = load_model(new_source(project, "housing/rates", sample).config, FilesSourceConfig)
    assert config.key == ["ward", "period"]


def test_without_any_key_rows_are_appended(project: Project, tmp_path: Path) -> None:
    sample = _csv(tmp_path / "notes.csv", "ward,note\nA,x\nA,x\nB,y\n")
    made = new_source(project, "housing/notes", sample)
    config = load_model(made.config, FilesSourceConfig)
    assert config.key == [] and not config.full_export
    assert "# key: none found" in made.config.read_text()


def test_an_excel_workbook_gets_the_sheet_with_the_data(project: Project, tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    cover = wb.active
    assert cover is not None
    cover.title = "Cover"
    cover.append(["Rent accounts, March 2026"])
    sheet = wb.create_sheet("Accounts")
    sheet.append(["Account No", "Email Address", "Opened"])
    for i in range(6):
        sheet.append([f"A{i}", f"a{i}@example.org", dt.date(2024, 1, 1 + i)])
    wb.save(tmp_path / "accounts_Mar2026.xlsx")
    made = new_source(project, "housing/accounts", tmp_path / "accounts_Mar2026.xlsx")
    config = load_model(made.config, FilesSourceConfig)
    assert (config.format, config.excel.sheet) == ("excel", "Accounts")
    assert config.patterns == ["accounts_{month:%b%Y}.xlsx"]
    assert config.key == ["account_no"] and config.pii == ["email_address"]


def test_an_existing_source_is_kept_unless_forced(project: Project, tmp_path: Path) -> None:
    sample = _csv(tmp_path / "rent_accounts_2026-03.csv", ACCOUNTS)
    new_source(project, "housing/rent_accounts", sample)
    path = project.dir / "sources/housing/rent_accounts.yaml"
    path.write_text(path.read_text() + "# my edits\n")
    with pytest.raises(ConfigError) as caught:
        new_source(project, "housing/rent_accounts", sample)
    assert str(caught.value) == (
        "sources/housing/rent_accounts.yaml already exists; edit it, choose another name, "
        "or pass --force to write it again from this file"
    )
    assert path.read_text().endswith("# my edits\n")
    new_source(project, "housing/rent_accounts", sample, force=True)
    assert "# my edits" not in path.read_text()


def test_names_departments_and_files_are_checked(project: Project, tmp_path: Path) -> None:
    sample = _csv(tmp_path / "x.csv", "a\n1\n")
    with pytest.raises(ConfigError, match=r"unknown department 'houses'.*did you mean"):
        new_source(project, "houses/rents", sample)
    with pytest.raises(ConfigError, match=r"needs its department: <department>/<name>"):
        new_source(project, "rents", sample)
    with pytest.raises(ConfigError, match=r"nothing\.csv: no such file to look at"):
        new_source(project, "housing/rents", tmp_path / "nothing.csv")
    with pytest.raises(BadFileError, match=r"x\.pdf: civiclake reads CSV .* not \.pdf"):
        new_source(project, "housing/rents", _csv(tmp_path / "x.pdf", "%PDF"))
    assert not list((project.dir / "sources").glob("*/*.yaml"))
