"""`civiclake alerts list|test|check` and `civiclake status` overdue-first, as a user runs them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from civiclake import Project, init_project
from civiclake.metadata import schema as t

from ._support import cli


def _council(tmp_path: Path, alerts: str = "") -> Path:
    root = init_project(tmp_path / "council", departments=["housing"])
    config = root / "civiclake.yaml"
    config.write_text(config.read_text() + alerts)
    for name, target in (("alpha", "26h"), ("zebra", "26h")):
        (root / "sources" / "housing" / f"{name}.yaml").write_text(
            f"type: files\ndataset: {name}\npatterns: ['*.csv']\nfreshness: {target}\n"
            "min_file_age_seconds: 0\n"
        )
        inbox = root / "data" / "landing" / "housing" / name
        inbox.mkdir(parents=True)
        (inbox / "a.csv").write_text("id,ward\n1,Hill\n")
    (root / "jobs" / "housing" / "wards.sql").write_text(
        "-- freshness: 2d\nSELECT DISTINCT ward FROM housing_raw.zebra\n"
    )
    return root


def _written_hours_ago(root: Path, step: str, dataset: str, hours: int) -> None:
    """As if ``step`` last wrote ``dataset`` ``hours`` ago (the run history and catalog say so)."""
    project = Project.load(root)
    when = datetime.now(UTC) - timedelta(hours=hours, minutes=5)
    with project.store.write() as conn:
        conn.execute(t.run_steps.update().where(t.run_steps.c.node == step).values(ended_at=when))
        conn.execute(
            t.datasets.update()
            .where(t.datasets.c.qualified_name == dataset)
            .values(updated_at=when)
        )
    project.store.close()


def test_status_shows_overdue_sources_and_datasets_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    root = _council(tmp_path)
    project = ["--project", str(root)]
    code, said = cli(capsys, "run", *project)
    assert code == 0, said
    _written_hours_ago(root, "housing/zebra", "housing_raw.zebra", 31)

    code, said = cli(capsys, "status", *project)
    assert code == 0, said
    assert "Freshness: 1 overdue" in said
    lines = said.splitlines()
    overdue = [i for i, line in enumerate(lines) if "OVERDUE" in line]
    zebra = [i for i, line in enumerate(lines) if "housing/zebra" in line]
    alpha = [i for i, line in enumerate(lines) if "housing/alpha" in line]
    assert "26h target, last written 31h ago" in lines[overdue[0]]
    assert "housing/zebra" in lines[overdue[0]]
    # both tables list the overdue source before the one within its target
    assert zebra[0] < alpha[0] and zebra[1] < alpha[1]
    assert any("housing/wards" in line and "2d target, last written" in line for line in lines)

    code, said = cli(capsys, "status", "housing/alpha", *project)
    assert code == 0 and "OVERDUE" not in said and "housing/zebra" not in said


def test_alerts_check_list_and_test(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    from tests.alerts._support import Receiver

    receiver = Receiver().start()
    try:
        root = _council(
            tmp_path,
            f"alerts:\n  channels:\n    team:\n      type: webhook\n      url: {receiver.url()}\n",
        )
        project = ["--project", str(root)]
        code, said = cli(capsys, "alerts", "list", *project)
        assert code == 0 and "No open incidents." in said
        assert cli(capsys, "run", *project)[0] == 0
        code, said = cli(capsys, "alerts", "check", *project)
        assert code == 0 and "Nothing new" in said

        _written_hours_ago(root, "housing/zebra", "housing_raw.zebra", 30)
        code, said = cli(capsys, "alerts", "check", *project)
        assert code == 0, said
        assert "overdue: housing/zebra" in said and "sent alert for incident 1 on team" in said
        code, said = cli(capsys, "alerts", "check", *project)
        assert "Nothing new" in said
        assert len(receiver.bodies()) == 1

        code, said = cli(capsys, "alerts", "list", *project)
        assert code == 0 and "housing/zebra" in said and "freshness" in said and "sent" in said

        assert cli(capsys, "run", "-s", "housing/zebra", *project)[0] == 0
        code, said = cli(capsys, "alerts", "list", *project)
        assert "No open incidents." in said
        code, said = cli(capsys, "alerts", "list", "--all", *project)
        assert "housing/zebra" in said and "closed" in said and "recovery sent" in said

        code, said = cli(capsys, "alerts", "test", *project)
        assert code == 0 and "sent a test message on team" in said
        assert "test message" in receiver.bodies()[-1]["title"]
        code, said = cli(capsys, "alerts", "test", "tem", *project)
        assert code == 1 and "did you mean `team`" in said
    finally:
        receiver.stop()

    code, said = cli(capsys, "alerts", "test", *project)  # the receiver is gone
    assert code == 1 and "not sent" in said and "alerts channel 'team'" in said
