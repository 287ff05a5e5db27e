"""Parse and type: API pages of string records into typed Arrow tables."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from civiclake.ingest.exceptions import BadFileError, IngestError
from civiclake.ingest.records import (
    ALLOWED_TYPES,
    InvalidTypeError,
    TypedRecords,
    normalise_type,
    read_json_pages,
    type_records,
)


def page(tmp_path: Path, name: str, records: Any) -> Path:
    path = tmp_path / name
    path.write_text(records if isinstance(records, str) else json.dumps(records), "utf-8")
    return path


def strings(**columns: list[str | None]) -> pa.Table:
    """A records table as read_json_pages makes it: string columns plus lineage."""
    n = len(next(iter(columns.values())))
    return pa.table(
        {
            **{k: pa.array(v, pa.string()) for k, v in columns.items()},
            "_source_file": pa.array(["p1.json"] * n),
            "_source_row": pa.array(range(1, n + 1), pa.int64()),
        }
    )


def types(result: TypedRecords) -> dict[str, pa.DataType]:
    return {f.name: f.type for f in result.table.schema}


# --- reading pages -----------------------------------------------------------------------


def test_values_become_strings_nulls_stay_null_and_empty_strings_become_null(
    tmp_path: Path,
) -> None:
    p = page(
        tmp_path,
        "p1.json",
        [
            {"id": "7", "fee": 12.50, "paid": True, "count": 3, "note": "", "ceased": None},
            {"id": "8", "fee": "1e3", "paid": False, "count": 12345678901234567890123},
        ],
    )
    table = read_json_pages([p])
    assert all(pa.types.is_string(f.type) for f in table.schema if not f.name.startswith("_"))
    rows = table.to_pylist()
    assert rows[0] == {
        "id": "7",
        "fee": "12.5",
        "paid": "true",
        "count": "3",
        "note": None,
        "ceased": None,
        "_source_file": str(p),
        "_source_row": 1,
    }
    assert rows[1]["count"] == "12345678901234567890123"  # every digit kept
    assert rows[1]["paid"] == "false"
    assert rows[1]["note"] is None and rows[1]["ceased"] is None  # missing key


def test_dates_and_numbers_in_strings_are_not_auto_typed(tmp_path: Path) -> None:
    p = page(tmp_path, "p.json", [{"d": "2024-01-31", "t": "2024-01-31 10:00:00", "n": "42"}])
    table = read_json_pages([p])
    assert table.schema.field("d").type == pa.string()
    assert table.to_pylist()[0]["t"] == "2024-01-31 10:00:00"


def test_columns_are_the_union_of_keys_in_order_of_first_appearance(tmp_path: Path) -> None:
    p1 = page(tmp_path, "p1.json", [{"b": "1", "a": "2"}, {"a": "3", "c": "4"}])
    p2 = page(tmp_path, "p2.json", [{"d": "5", "b": "6"}])
    table = read_json_pages([p1, p2])
    assert table.column_names == ["b", "a", "c", "d", "_source_file", "_source_row"]
    assert table.column("c").to_pylist() == [None, "4", None]
    assert table.column("d").to_pylist() == [None, None, "5"]


def test_names_are_normalised_like_the_files_source(tmp_path: Path) -> None:
    p = page(
        tmp_path,
        "p.json",
        [{"ApplicationId": "1", "Site Address (X)": "2", "fee": "3", "Fee": "4", "": "5"}],
    )
    table = read_json_pages([p])
    assert table.column_names[:5] == ["application_id", "site_address_x", "fee", "fee_2", "column"]
    assert table.to_pylist()[0]["fee_2"] == "4"  # keys differing in case stay apart
    odd = page(tmp_path, "odd.json", [{"a/b": "1", "t~x": "2", "a.b": "3", 'q"x': "4"}])
    assert read_json_pages([odd]).to_pylist()[0] == {
        "a_b": "1",
        "t_x": "2",
        "a_b_2": "3",
        "q_x": "4",
        "_source_file": str(odd),
        "_source_row": 1,
    }


def test_nested_objects_flatten_to_parent__child_columns(tmp_path: Path) -> None:
    p = page(
        tmp_path,
        "p.json",
        [
            {"id": "1", "site": {"x": "530000", "y": 180000.5, "ward": {"code": "E05"}}},
            {"id": "2", "site": None},
            {"id": "3"},
        ],
    )
    table = read_json_pages([p])
    assert table.column_names == [
        "id",
        "site__x",
        "site__y",
        "site__ward__code",
        "_source_file",
        "_source_row",
    ]
    assert table.column("site__y").to_pylist() == ["180000.5", None, None]
    assert table.column("site__ward__code").to_pylist() == ["E05", None, None]


def test_nested_objects_as_struct_columns_of_strings(tmp_path: Path) -> None:
    p = page(
        tmp_path,
        "p.json",
        [
            {"id": "1", "site": {"X Coord": 1, "ward": {"code": "E05"}}},
            {"id": "2", "site": None},
        ],
    )
    table = read_json_pages([p], nested="struct")
    assert table.schema.field("site").type == pa.struct(
        [("x_coord", pa.string()), ("ward", pa.struct([("code", pa.string())]))]
    )
    assert table.column("site").to_pylist() == [
        {"x_coord": "1", "ward": {"code": "E05"}},
        None,
    ]


def test_a_key_that_is_sometimes_an_object_stays_one_json_text_column(tmp_path: Path) -> None:
    p = page(tmp_path, "p.json", [{"a": {"x": 1}, "e": {}}, {"a": "plain", "e": {}}])
    table = read_json_pages([p])
    assert table.column("a").to_pylist() == ['{"x":1}', "plain"]
    assert table.column("e").to_pylist() == ["{}", "{}"]  # no fields to split into


def test_lists_become_json_text(tmp_path: Path) -> None:
    p = page(tmp_path, "p.json", [{"tags": ["a", "b"], "fees": [{"fee": 1.5}]}, {"tags": []}])
    table = read_json_pages([p], nested="struct")
    assert table.column("tags").to_pylist() == ['["a","b"]', "[]"]
    assert json.loads(table.column("fees")[0].as_py()) == [{"fee": 1.5}]


def test_drop_removes_fields_by_original_or_normalised_name(tmp_path: Path) -> None:
    p = page(
        tmp_path,
        "p.json",
        [
            {
                "id": "1",
                "gis_map_image_base64": "A" * 100_000,
                "OfficerName": "x",
                "site": {"x": "1", "secret": "s"},
            }
        ],
    )
    table = read_json_pages([p], drop=["gis_map_image_base64", "officer_name", "site.secret"])
    assert table.column_names == ["id", "site__x", "_source_file", "_source_row"]
    flat = read_json_pages([p], drop=["gis_map_image_base64", "OfficerName", "site__secret"])
    assert flat.column_names == ["id", "site__x", "_source_file", "_source_row"]
    gone = read_json_pages([p], drop=["gis_map_image_base64", "site.x", "site.secret"])
    assert gone.column_names == ["id", "officer_name", "_source_file", "_source_row"]


def test_a_record_larger_than_duckdbs_default_object_size_is_read(tmp_path: Path) -> None:
    image = "iVBORw0KGgo" * (33 * 1024 * 1024 // 11)  # DuckDB's default fails past 32 MB
    p = page(tmp_path, "p.json", [{"id": "1", "gis_map_image_base64": image}, {"id": "2"}])
    table = read_json_pages([p], drop=["gis_map_image_base64"])
    assert table.column("id").to_pylist() == ["1", "2"]


def test_empty_pages_and_202_style_empty_files_hold_no_records(tmp_path: Path) -> None:
    empty = page(tmp_path, "empty.json", "")
    blank = page(tmp_path, "blank.json", "  \n")
    none = page(tmp_path, "none.json", "[ \n]")
    assert read_json_pages([empty, blank, none]).to_pylist() == []
    assert read_json_pages([]).column_names == ["_source_file", "_source_row"]

    full = page(tmp_path, "full.json", [{"id": "1"}, {"id": "2"}])
    table = read_json_pages([empty, full, none])
    assert table.to_pylist() == [
        {"id": "1", "_source_file": str(full), "_source_row": 1},
        {"id": "2", "_source_file": str(full), "_source_row": 2},
    ]


def test_lineage_is_the_path_as_given_and_the_position_in_its_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    page(tmp_path, "a.json", [{"n": "a1"}, {"n": "a2"}, {"n": "a3"}])
    page(tmp_path, "b[1].json", [{"n": "b1"}])
    page(tmp_path, "b1.json", [{"n": "not this one"}])
    table = read_json_pages([Path("b[1].json"), Path("a.json")])  # relative, given order
    assert table.select(["n", "_source_file", "_source_row"]).to_pylist() == [
        {"n": "b1", "_source_file": "b[1].json", "_source_row": 1},
        {"n": "a1", "_source_file": "a.json", "_source_row": 1},
        {"n": "a2", "_source_file": "a.json", "_source_row": 2},
        {"n": "a3", "_source_file": "a.json", "_source_row": 3},
    ]
    assert table.schema.field("_source_row").type == pa.int64()


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ('[{"a": 1},', "cut short"),
        ('[{"a": 1} {"b": 2}]', "not a JSON array"),
        ('{"a": 1}', "does not end with"),
        ('[{"a": 1}, 2]', "element 2"),
    ],
)
def test_a_page_that_is_not_an_array_of_records_fails_naming_the_file(
    tmp_path: Path, text: str, found: str
) -> None:
    good = page(tmp_path, "good.json", [{"a": "1"}])
    bad = page(tmp_path, "bad.json", text)
    with pytest.raises(BadFileError, match=found) as caught:
        read_json_pages([good, bad])
    assert "bad.json" in str(caught.value)


def test_missing_and_repeated_pages_are_errors(tmp_path: Path) -> None:
    p = page(tmp_path, "p.json", [{"a": "1"}])
    with pytest.raises(BadFileError, match=r"missing\.json"):
        read_json_pages([tmp_path / "missing.json"])
    with pytest.raises(IngestError, match="listed twice"):
        read_json_pages([p, p])


# --- inference ---------------------------------------------------------------------------


def test_inference_picks_the_narrowest_type_of_each_column() -> None:
    records = strings(
        flag=["true", "False", None],
        zero_one=["1", "0", "1"],  # numbers, not booleans
        id=["1", "-20", "300"],
        fee=["1.5", "2", "1e3"],
        received=["2024-01-31", "2024-02-29", None],
        updated=["2024-01-31 10:11:12", "2024-01-31T10:11:12.123", "2024-02-01"],
        ref=["2024/0001", "A1", "3"],
        empty=[None, None, None],
    )
    result = type_records(records)
    assert types(result) == {
        "flag": pa.bool_(),
        "zero_one": pa.int64(),
        "id": pa.int64(),
        "fee": pa.float64(),
        "received": pa.date32(),
        "updated": pa.timestamp("us"),
        "ref": pa.string(),
        "empty": pa.string(),
        "_source_file": pa.string(),
        "_source_row": pa.int64(),
    }
    row = result.table.to_pylist()[1]
    assert row["flag"] is False and row["id"] == -20 and row["fee"] == 2.0
    assert row["updated"] == dt.datetime(2024, 1, 31, 10, 11, 12, 123000)
    assert result.table.column("updated")[2].as_py() == dt.datetime(2024, 2, 1)
    assert result.added == [
        ("flag", "BOOLEAN"),
        ("zero_one", "BIGINT"),
        ("id", "BIGINT"),
        ("fee", "DOUBLE"),
        ("received", "DATE"),
        ("updated", "TIMESTAMP"),
        ("ref", "VARCHAR"),
        ("empty", "VARCHAR"),
    ]
    assert result.widened == [] and result.rejected.num_rows == 0


@pytest.mark.parametrize(
    "values",
    [
        ["yes", "no"],  # not booleans
        ["007", "12"],  # a leading zero would be lost
        ["07700900123"],  # a phone number
        ["+5"],
        ["12345678901234567890"],  # beyond BIGINT
        ["1.5", "NaN"],
        ["2024-01-31T10:00:00Z"],  # an offset
        ["2024-1-31"],
        ["2024-02-30"],
        ["1", "2024-01-01"],  # no common type
        ["true", "1"],
    ],
)
def test_inference_keeps_text_that_a_type_would_change(values: list[str]) -> None:
    result = type_records(strings(v=values))
    assert types(result)["v"] == pa.string()
    assert result.table.column("v").to_pylist() == values


def test_one_odd_column_does_not_make_the_others_text() -> None:
    result = type_records(strings(n=["1", "2"], odd=["1", "x"], d=["2024-01-01", None]))
    assert types(result)["n"] == pa.int64()
    assert types(result)["odd"] == pa.string()
    assert types(result)["d"] == pa.date32()


def test_blank_values_are_null_in_typed_columns() -> None:
    result = type_records(strings(n=["1", "  ", ""], t=["a", " ", ""]))
    assert result.table.column("n").to_pylist() == [1, None, None]
    assert result.table.column("t").to_pylist() == ["a", " ", ""]  # text is kept as sent


def test_struct_columns_get_typed_fields() -> None:
    site = pa.array(
        [{"x": "530000", "y": "1.5"}, None, {"x": "1", "y": None}],
        pa.struct([("x", pa.string()), ("y", pa.string())]),
    )
    records = strings(id=["1", "2", "3"]).add_column(1, "site", site)
    result = type_records(records)
    assert types(result)["site"] == pa.struct([("x", pa.int64()), ("y", pa.float64())])
    assert result.table.column("site").to_pylist() == [
        {"x": 530000, "y": 1.5},
        None,
        {"x": 1, "y": None},
    ]
    assert result.added == [("id", "BIGINT"), ("site", "STRUCT(x BIGINT, y DOUBLE)")]


# --- overrides ---------------------------------------------------------------------------


def test_overrides_choose_the_type() -> None:
    records = strings(
        uprn=["100023336956", "007"],
        application_reference_number=["2024001", "2024002"],
        fee=["12.50", "3"],
    )
    result = type_records(
        records,
        overrides={
            "uprn": "bigint",
            "application_reference_number": "TEXT",
            "fee": "DECIMAL(10,2)",
        },
    )
    assert types(result)["uprn"] == pa.int64()
    assert types(result)["application_reference_number"] == pa.string()
    assert types(result)["fee"] == pa.decimal128(10, 2)
    assert result.table.column("uprn").to_pylist() == [100023336956, 7]
    assert result.table.column("fee").to_pylist() == [Decimal("12.50"), Decimal("3.00")]
    assert ("application_reference_number", "VARCHAR") in result.added


def test_an_override_for_an_absent_column_is_ignored() -> None:
    result = type_records(strings(a=["1"]), overrides={"not_here": "BIGINT"})
    assert result.table.column_names == ["a", "_source_file", "_source_row"]


def test_an_unknown_override_type_names_the_column_and_the_allowed_types() -> None:
    with pytest.raises(InvalidTypeError) as caught:
        type_records(strings(fee=["1"]), overrides={"fee": "MONEY"})
    message = str(caught.value)
    assert "`fee`" in message and "'MONEY'" in message
    assert all(t in message for t in ALLOWED_TYPES)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, IngestError)
    assert normalise_type(" timestamptz ", "at") == "TIMESTAMP WITH TIME ZONE"
    assert normalise_type("numeric(12, 2)", "fee") == "DECIMAL(12,2)"
    with pytest.raises(InvalidTypeError, match="did you mean `DOUBLE`"):
        normalise_type("DOUBEL", "fee")


def test_values_that_do_not_fit_an_override_are_rejected_not_changed() -> None:
    records = strings(id=["1", "2", "3"], fee=["1.555", "2", "0x10"])
    result = type_records(records, overrides={"fee": "DECIMAL(10,2)"}, context="x.fees")
    assert result.table.column("id").to_pylist() == [2]
    assert result.rejected.column("_reject_reason").to_pylist() == [
        "x.fees.fee: '1.555' is not a DECIMAL(10,2)",
        "x.fees.fee: '0x10' is not a DECIMAL(10,2)",
    ]


# --- an existing schema ------------------------------------------------------------------

EXISTING = pa.schema(
    [
        ("id", pa.int64()),
        ("fee", pa.float64()),
        ("paid", pa.bool_()),
        ("received", pa.date32()),
        ("ceased_date", pa.timestamp("us")),
        ("old_column", pa.string()),
        ("_import_id", pa.string()),
    ]
)


def test_columns_are_cast_to_the_existing_schema_existing_order_first() -> None:
    records = strings(
        new_flag=["true", "false"],
        fee=["3", "4.5"],
        id=["1", "2"],
        paid=["true", "1"],
        received=["2024-01-31", None],
        ceased_date=["2024-02-01 09:00:00", "2024-02-02"],
    )
    result = type_records(records, existing=EXISTING)
    assert result.table.schema == pa.schema(
        [
            ("id", pa.int64()),
            ("fee", pa.float64()),
            ("paid", pa.bool_()),
            ("received", pa.date32()),
            ("ceased_date", pa.timestamp("us")),
            ("new_flag", pa.bool_()),
            ("_source_file", pa.string()),
            ("_source_row", pa.int64()),
        ]
    )  # old_column is left for the writer to fill
    assert result.table.column("fee").to_pylist() == [3.0, 4.5]
    assert result.table.column("paid").to_pylist() == [True, True]
    assert result.added == [("new_flag", "BOOLEAN")]
    assert result.widened == [] and result.rejected.num_rows == 0


def test_existing_arrow_types_are_kept_exactly() -> None:
    existing = pa.schema([("n", pa.int32()), ("at", pa.timestamp("us", tz="Europe/London"))])
    result = type_records(strings(n=["5"], at=["2024-06-01 12:00:00+01:00"]), existing=existing)
    assert types(result)["n"] == pa.int32()
    assert types(result)["at"] == pa.timestamp("us", tz="Europe/London")
    assert result.table.column("at")[0].as_py() == dt.datetime(2024, 6, 1, 11, tzinfo=dt.UTC)


def test_a_bigint_column_widens_to_double_when_every_misfit_is_a_number() -> None:
    records = strings(id=["1", "2", "3"], fee=["10", "12.5", None])
    existing = pa.schema([("id", pa.int64()), ("fee", pa.int64())])
    result = type_records(records, existing=existing)
    assert result.widened == [("fee", "BIGINT", "DOUBLE")]
    assert types(result)["fee"] == pa.float64()
    assert result.table.column("fee").to_pylist() == [10.0, 12.5, None]
    assert result.rejected.num_rows == 0 and result.added == []


def test_a_date_column_widens_to_timestamp() -> None:
    result = type_records(
        strings(d=["2024-01-31", "2024-02-01 10:30:00"]), existing=pa.schema([("d", pa.date32())])
    )
    assert result.widened == [("d", "DATE", "TIMESTAMP")]
    assert result.table.column("d").to_pylist() == [
        dt.datetime(2024, 1, 31),
        dt.datetime(2024, 2, 1, 10, 30),
    ]


def test_text_in_a_numeric_column_rejects_the_row_with_the_reason() -> None:
    records = strings(id=["1", "2", "3", "4"], fee=["1.5", "abc", "2", "n/a"])
    existing = pa.schema([("id", pa.int64()), ("fee", pa.float64())])
    result = type_records(records, existing=existing, context="planning_refined.fees")
    assert result.table.select(["id", "fee", "_source_row"]).to_pylist() == [
        {"id": 1, "fee": 1.5, "_source_row": 1},
        {"id": 3, "fee": 2.0, "_source_row": 3},
    ]
    assert result.rejected.to_pylist() == [
        {
            "id": "2",
            "fee": "abc",
            "_source_file": "p1.json",
            "_source_row": 2,
            "_reject_column": "fee",
            "_reject_value": "abc",
            "_reject_reason": "planning_refined.fees.fee: 'abc' is not a DOUBLE",
        },
        {
            "id": "4",
            "fee": "n/a",
            "_source_file": "p1.json",
            "_source_row": 4,
            "_reject_column": "fee",
            "_reject_value": "n/a",
            "_reject_reason": "planning_refined.fees.fee: 'n/a' is not a DOUBLE",
        },
    ]
    assert result.widened == []


def test_a_row_is_rejected_once_with_its_first_failing_column() -> None:
    records = strings(a=["x", "1"], b=["y", "2"])
    existing = pa.schema([("a", pa.int64()), ("b", pa.int32())])
    result = type_records(records, existing=existing)
    assert result.rejected.num_rows == 1
    assert result.rejected.column("_reject_column").to_pylist() == ["a"]
    assert result.rejected.column("_reject_reason").to_pylist() == ["a: 'x' is not a BIGINT"]
    assert result.table.column("b").to_pylist() == [2]


def test_text_and_decimals_in_a_bigint_column_reject_rather_than_widen() -> None:
    records = strings(n=["1", "2.5", "x"])
    result = type_records(records, existing=pa.schema([("n", pa.int64())]))
    assert result.widened == []
    assert types(result)["n"] == pa.int64()
    assert result.rejected.column("_reject_value").to_pylist() == ["2.5", "x"]


def test_existing_struct_fields_are_cast_and_new_fields_added() -> None:
    site = pa.array(
        [{"x": "1", "z": "a"}, {"x": "oops", "z": "b"}],
        pa.struct([("x", pa.string()), ("z", pa.string())]),
    )
    records = strings(id=["1", "2"]).add_column(1, "site", site)
    existing = pa.schema(
        [("id", pa.int64()), ("site", pa.struct([("x", pa.int64()), ("y", pa.float64())]))]
    )
    result = type_records(records, existing=existing, context="c")
    assert types(result)["site"] == pa.struct(
        [("x", pa.int64()), ("y", pa.float64()), ("z", pa.string())]
    )
    assert result.table.column("site").to_pylist() == [{"x": 1, "y": None, "z": "a"}]
    assert result.added == [("site.z", "VARCHAR")]
    assert result.rejected.column("_reject_reason").to_pylist() == [
        "c.site.x: 'oops' is not a BIGINT"
    ]
    assert result.rejected.column("site").to_pylist() == [{"x": "oops", "z": "b"}]


def test_a_struct_in_the_records_against_a_flat_column_is_an_error() -> None:
    site = pa.array([{"x": "1"}], pa.struct([("x", pa.string())]))
    records = strings(id=["1"]).add_column(1, "site", site)
    with pytest.raises(IngestError, match="`nested`"):
        type_records(records, existing=pa.schema([("site", pa.int64())]))


def test_lineage_columns_pass_through_untouched() -> None:
    records = strings(n=["1", "x"]).append_column(
        "_imported_at", pa.array([dt.datetime(2024, 1, 1)] * 2, pa.timestamp("ms"))
    )
    result = type_records(records, existing=pa.schema([("n", pa.int64())]))
    assert result.table.column_names == ["n", "_source_file", "_source_row", "_imported_at"]
    assert types(result)["_imported_at"] == pa.timestamp("ms")
    assert result.rejected.column_names[:4] == ["n", "_source_file", "_source_row", "_imported_at"]


def test_empty_records_give_empty_tables() -> None:
    result = type_records(read_json_pages([]), existing=EXISTING)
    assert result.table.num_rows == 0 and result.rejected.num_rows == 0
    assert result.rejected.column_names[-3:] == [
        "_reject_column",
        "_reject_value",
        "_reject_reason",
    ]
    assert result.added == [] and result.widened == []


def test_typing_is_deterministic(tmp_path: Path) -> None:
    pages = [
        page(tmp_path, f"p{i}.json", [{"id": str(i * 10 + j), "v": f"{j}.5"} for j in range(10)])
        for i in range(5)
    ]
    runs = [
        type_records(read_json_pages(pages), existing=pa.schema([("v", pa.int64())]))
        for _ in range(2)
    ]
    assert runs[0].table.equals(runs[1].table)
    assert runs[0].rejected.equals(runs[1].rejected)
    assert runs[0].widened == runs[1].widened == [("v", "BIGINT", "DOUBLE")]
    assert runs[0].table.column("id").to_pylist() == list(range(50))


# --- end to end --------------------------------------------------------------------------


def test_planning_style_pages_end_to_end(tmp_path: Path) -> None:
    record = {
        "id": "101",
        "application_reference_number": "2024/0101/FUL",
        "received_date": "2024-03-01",
        "last_updated": "2024-03-02 16:45:10",
        "ceased": "false",
        "fee": "462.00",
        "uprn": "100021065587",
        "gis_map_image_base64": "iVBORw0KGgo" * 1000,
    }
    p1 = page(tmp_path, "applications_p1.json", [record, record | {"id": "102", "fee": "abc"}])
    p2 = page(tmp_path, "applications_p2.json", "")  # HTTP 202
    records = read_json_pages([p1, p2], drop=["gis_map_image_base64"])
    first = type_records(records, overrides={"uprn": "BIGINT"}, context="planning_raw.apps")
    assert types(first)["fee"] == pa.string()  # "abc" on day one keeps the column text
    day_two = read_json_pages([page(tmp_path, "p3.json", [record | {"fee": "abc"}])])
    existing = pa.schema(
        [
            ("id", pa.int64()),
            ("received_date", pa.date32()),
            ("fee", pa.float64()),
            ("uprn", pa.int64()),
        ]
    )
    second = type_records(day_two, existing=existing, context="planning_refined.applications")
    assert second.table.num_rows == 0
    assert second.rejected.column("_reject_reason").to_pylist() == [
        "planning_refined.applications.fee: 'abc' is not a DOUBLE"
    ]


def test_many_pages_smoke(tmp_path: Path) -> None:
    """100k records over 1,000 pages: read and typed correctly (speed is for bench/)."""
    paths = []
    for p in range(1000):
        rows = [
            {
                "id": str(p * 100 + i),
                "fee": f"{(p * 100 + i) / 4}",
                "ceased": "true" if i % 7 == 0 else "false",
                "last_updated": f"2024-03-{1 + i % 28:02d} 10:00:00",
                "site": {"x": str(i), "y": i + 0.5},
                "note": "" if i % 3 else "text",
            }
            for i in range(100)
        ]
        paths.append(page(tmp_path, f"page_{p:04d}.json", rows))
    records = read_json_pages(paths)
    assert records.num_rows == 100_000
    assert records.column("_source_row").to_pylist()[98:102] == [99, 100, 1, 2]
    assert records.column("_source_file")[100_000 - 1].as_py() == str(paths[-1])
    result = type_records(records)
    assert types(result)["id"] == pa.int64()
    assert types(result)["site__y"] == pa.float64()
    assert types(result)["last_updated"] == pa.timestamp("us")
    assert result.table.column("id").to_pylist() == list(range(100_000))
    assert result.table.column("ceased").combine_chunks().true_count == sum(
        1 for p in range(1000) for i in range(100) if i % 7 == 0
    )
    assert result.table.column("note").null_count == 100_000 - 34 * 1000
