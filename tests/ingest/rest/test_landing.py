"""Keeping page bodies in landing, and the batch manifests that give the import order."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from civiclake.ingest.rest.landing import BatchLog, batch_id, keep_bytes
from civiclake.ingest.rest.retry import retry_after_seconds


def test_bodies_are_kept_byte_for_byte_and_never_overwritten(tmp_path: Path) -> None:
    first = keep_bytes(tmp_path / "d", "2026-03-08-p0001.json", b'[{"id": "1"}]')
    again = keep_bytes(tmp_path / "d", "2026-03-08-p0001.json", b'[{"id": "1"}]')
    other = keep_bytes(tmp_path / "d", "2026-03-08-p0001.json", b'[{"id": "2"}]')
    assert first.path == again.path
    assert first.path.read_bytes() == b'[{"id": "1"}]'
    assert other.path.name == f"2026-03-08-p0001.{other.sha256[:8]}.json"
    assert other.path.read_bytes() == b'[{"id": "2"}]'
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == sorted(
        [first.path.name, other.path.name]
    )  # no temp files left behind


def test_batch_ids_depend_on_the_files_and_their_order() -> None:
    assert batch_id("planning:fees", ["a", "b"]) == batch_id("planning:fees", ["a", "b"])
    assert batch_id("planning:fees", ["a", "b"]) != batch_id("planning:fees", ["b", "a"])
    assert batch_id("planning:fees", ["a"]).startswith("planning:fees:")


def test_batches_come_back_in_the_order_recorded(tmp_path: Path) -> None:
    root = tmp_path / "data"
    log = BatchLog(root / "landing" / "planning" / "api" / "fees", str(root))
    recorded = []
    for day, body in [("2026-03-09", b"[1]"), ("2026-03-08", b"[2]"), ("2026-03-09", b"[3]")]:
        kept = keep_bytes(log.folder / day, "full-p0001.json", body)
        landed = log.landed(kept, url="http://x/fees?page=1", status=200, page=1, params={})
        recorded.append(
            log.record(
                day,
                app_id=batch_id("p", [kept.sha256]),
                import_id="i",
                today=day,
                files=[landed],
                state={"n": len(recorded)},
            )
        )
    batches = log.batches()
    assert [b.seq for b in batches] == [1, 2, 3]
    assert [b.state for b in batches] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert [b.app_id for b in batches] == [r.app_id for r in recorded]
    assert [b.seq for b in log.batches(after=2)] == [3]
    assert batches[0].files[0].path == "landing/planning/api/fees/2026-03-09/full-p0001.json"
    assert log.path_of(batches[1].files[0]).read_bytes() == b"[2]"


def test_retry_after_parsing() -> None:
    now = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)
    assert retry_after_seconds("120", now) == 120.0
    assert retry_after_seconds("Mon, 09 Mar 2026 12:01:00 GMT", now) == 60.0
    assert retry_after_seconds("Mon, 09 Mar 2026 11:00:00 GMT", now) == 0.0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None
