"""The events source: event files in a landing folder → decoded, rejected, current tables."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path

import pytest

from civiclake import Project
from civiclake.ingest.base import load_sources
from civiclake.ingest.exceptions import IngestError
from civiclake.ingest.landing import sha256_of
from civiclake.simulators.housing import (
    TENURE_TOPIC,
    TENURE_V2,
    Encoder,
    HousingWorld,
    deliveries,
    to_folder,
)
from civiclake.steps import RunContext

SOURCE = """\
type: events
format: json
value_schema: schemas/tenure_event.avsc
dataset: tenure_events
min_file_age_seconds: 0
current:
  tenures:
    prefix: tenure_
    key: [id]
    deleted: terminated_is_terminated
    on_delete: {on_delete}
    children:
      tenure_household_members:
        field: household_members
        parent_key: tenure_id
        key: [person_id]
        rename: {{id: person_id}}
"""


def _setup(project_dir: Path, on_delete: str = "remove") -> Path:
    (project_dir / "schemas").mkdir()
    (project_dir / "schemas" / "tenure_event.avsc").write_text(json.dumps(TENURE_V2))
    folder = project_dir / "sources" / "housing"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tenure_files.yaml").write_text(SOURCE.format(on_delete=on_delete))
    project = Project.load(project_dir)
    return Path(project.layout.landing_inbox("housing", "tenure_files"))


def _run(project_dir: Path) -> tuple[Project, object]:
    project = Project.load(project_dir)
    source = next(s for s in load_sources(project) if s.type == "events")
    ctx = RunContext(project, run_id=0, import_id="imp", log=logging.getLogger("t"))
    return project, source.run(ctx)


def _query(project: Project, sql: str) -> list[dict[str, object]]:
    from civiclake.query import run_query

    return run_query(project, sql).read_all().to_pylist()


def test_files_to_tables_once_each(project_dir: Path, tmp_path: Path) -> None:
    inbox = _setup(project_dir)
    sent, truth = deliveries(HousingWorld(21).events(600), seed=21, poison=5)
    to_folder(sent, tmp_path / "drop", Encoder("json"), per_file=100)
    files = sorted((tmp_path / "drop" / TENURE_TOPIC).iterdir())
    inbox.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copy(f, inbox / f.name)
    (inbox / ".half-written.ndjson.tmp").write_bytes(files[0].read_bytes()[:100])
    project, result = _run(project_dir)

    tenure_msgs = [d for d in sent if d.topic == TENURE_TOPIC]
    poison = sum(1 for d in tenure_msgs if d.event is None)
    assert result.rows_in == len(tenure_msgs)  # type: ignore[attr-defined]
    assert result.rows_rejected == poison  # type: ignore[attr-defined]
    rejected = _query(
        project,
        "SELECT _source_file, _source_row, _reject_reason FROM housing_raw.tenure_events__rejected",
    )
    assert len(rejected) == poison and all(r["_source_row"] for r in rejected)
    live = truth.tenures(include_terminated=False)
    ids = _query(project, "SELECT id FROM housing_refined.tenures")
    assert {r["id"] for r in ids} == set(live)
    members = _query(
        project, "SELECT tenure_id, person_id FROM housing_refined.tenure_household_members"
    )
    want = {(t, m["Id"]) for t, x in live.items() for m in x["HouseholdMembers"]}
    assert {(m["tenure_id"], m["person_id"]) for m in members} == want
    assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == [
        ".half-written.ndjson.tmp"
    ]  # loaded files left the inbox; the temporary one was never read

    # the same file uploaded again, under another name: recognised, nothing written
    shutil.copy(files[0], inbox / "again.ndjson")
    project, again = _run(project_dir)
    assert again.rows_in == 0  # type: ignore[attr-defined]
    count = _query(project, "SELECT count(*) AS n FROM housing_refined.tenure_events")[0]["n"]
    assert count == len(tenure_msgs) - poison


def test_avro_files_and_flagged_terminations(project_dir: Path, tmp_path: Path) -> None:
    inbox = _setup(project_dir, on_delete="flag")
    sent, truth = deliveries(HousingWorld(5).events(400), seed=5, poison=4)
    inbox.mkdir(parents=True, exist_ok=True)
    to_folder(sent, tmp_path / "drop", Encoder("avro"), per_file=80)
    for f in (tmp_path / "drop" / TENURE_TOPIC).iterdir():
        os.replace(f, inbox / f.name)
    project, result = _run(project_dir)
    everyone = truth.tenures()
    rows = _query(project, "SELECT id, terminated_is_terminated AS t FROM housing_refined.tenures")
    assert {r["id"]: r["t"] for r in rows} == {
        k: v["Terminated"]["IsTerminated"] for k, v in everyone.items()
    }
    bad_files = sum(1 for d in sent if d.topic == TENURE_TOPIC and d.event is None)
    assert result.rows_rejected == bad_files  # type: ignore[attr-defined]


@pytest.mark.parametrize("body", [b'[{"Id": 1}, 2]', b"{\n}\n"])
def test_json_shapes_reject_what_is_not_an_event(project_dir: Path, body: bytes) -> None:
    inbox = _setup(project_dir)
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / "odd.json").write_bytes(body)
    _, result = _run(project_dir)
    assert result.rows_in >= 1  # type: ignore[attr-defined]


def test_contact_details_keyed_by_target_and_id(project_dir: Path, tmp_path: Path) -> None:
    from civiclake.simulators.housing import CONTACT_TOPIC, CONTACT_V1

    (project_dir / "schemas").mkdir()
    (project_dir / "schemas" / "contact.avsc").write_text(json.dumps(CONTACT_V1))
    folder = project_dir / "sources" / "housing"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "contacts.yaml").write_text(
        "type: events\nvalue_schema: schemas/contact.avsc\nformat: json\n"
        "min_file_age_seconds: 0\ncurrent:\n  contact_details:\n"
        "    prefix: contact_details_\n    key: [target_id, id]\n"
        "    deleted: NOT is_active\n    on_delete: remove\n"
    )
    sent, truth = deliveries(HousingWorld(8).events(800), seed=8, poison=0)
    to_folder(sent, tmp_path / "drop", Encoder("json"), per_file=200)
    project = Project.load(project_dir)
    inbox = Path(project.layout.landing_inbox("housing", "contacts"))
    inbox.mkdir(parents=True)
    for f in (tmp_path / "drop" / CONTACT_TOPIC).iterdir():
        os.replace(f, inbox / f.name)
    project, _ = _run(project_dir)
    rows = _query(
        project,
        "SELECT target_id, id, contact_information_value AS v FROM housing_refined.contact_details",
    )
    live = {
        k: e["ContactDetails"]
        for k, e in truth.latest(CONTACT_TOPIC).items()
        if e["ContactDetails"]["IsActive"]
    }
    assert {(r["target_id"], r["id"]): r["v"] for r in rows} == {
        k: c["ContactInformation"]["Value"] for k, c in live.items()
    }


def test_a_writer_that_stalls_past_the_age_window_loses_no_events(
    project_dir: Path, tmp_path: Path
) -> None:
    inbox = _setup(project_dir)
    sent, truth = deliveries(HousingWorld(8).events(250), seed=8, poison=0)
    to_folder(sent, tmp_path / "drop", Encoder("json"), per_file=1000)
    (whole,) = sorted((tmp_path / "drop" / TENURE_TOPIC).iterdir())
    data = whole.read_bytes()
    cut = data.index(b"\n", len(data) // 2) - 10  # half, ending mid-event
    inbox.mkdir(parents=True, exist_ok=True)
    path = inbox / "tenures.ndjson"
    with path.open("wb") as writer:  # the writer holds the file open
        writer.write(data[:cut])
        writer.flush()
        then = time.time() - 60
        os.utime(writer.fileno(), (then, then))  # and pauses past the age window
        _run(project_dir)
        writer.write(data[cut:])  # then finishes
        writer.flush()
        os.utime(writer.fileno(), (then, then))
    project, result = _run(project_dir)

    tenure_msgs = [d for d in sent if d.topic == TENURE_TOPIC]
    count = _query(project, "SELECT count(*) AS n FROM housing_refined.tenure_events")[0]["n"]
    assert count == len(tenure_msgs)  # every event exactly once
    rejected = _query(project, "SELECT count(*) AS n FROM housing_raw.tenure_events__rejected")
    assert rejected[0]["n"] == 0  # the half event went with the half file
    ids = _query(project, "SELECT id FROM housing_refined.tenures")
    assert {r["id"] for r in ids} == set(truth.tenures(include_terminated=False))
    (entry,) = project.store.loaded_files("housing/tenure_files")
    kept = Path(project.layout.join(entry["archived_path"]))
    assert sha256_of(kept) == entry["sha256"] and entry["rows_loaded"] == len(tenure_msgs)
    assert any("was still being written when it was taken" in n for n in result.notes)  # type: ignore[attr-defined]


def test_a_missing_folder_fails_and_stray_inbox_files_are_reported(project_dir: Path) -> None:
    inbox = _setup(project_dir)
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / "tenures.csv").write_text("not an event file")
    (inbox / ".~lock.tenures.csv#").write_text("lock")
    _, result = _run(project_dir)
    assert (
        "tenures.csv: matches none of the patterns ['*.ndjson', '*.jsonl', '*.json', '*.avro'] "
        "in sources/housing/tenure_files.yaml; left in the inbox (rename it, or add a pattern)"
    ) in result.notes  # type: ignore[attr-defined]

    source_file = project_dir / "sources" / "housing" / "tenure_files.yaml"
    source_file.write_text(source_file.read_text() + "folder: drops/tenures\n")
    with pytest.raises(
        IngestError,
        match=r"tenure_files.yaml, key `folder`: the folder .*"
        r"drops/tenures does not exist\. Nothing was loaded",
    ):
        _run(project_dir)
