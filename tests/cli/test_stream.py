"""``civiclake stream``: consume until SIGTERM, commit the batch in flight, exit cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from civiclake import Project
from civiclake.cli.app import app
from civiclake.simulators.housing import TENURE_TOPIC
from civiclake.simulators.registry import SchemaRegistry

from ..ingest.kafka._support import new_prefix, produce, tenure_offsets, write_source

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def registry() -> Iterator[str]:
    with SchemaRegistry().start() as reg:
        yield reg.url


def test_unknown_stream_source_names_the_choices(project_dir: Path) -> None:
    result = CliRunner().invoke(app, ["stream", "housing/nope", "--project", str(project_dir)])
    assert result.exit_code != 0
    assert "no stream source 'housing/nope'" in str(result.exception)


def test_sigterm_commits_the_batch_in_flight_and_exits(
    project_dir: Path, kafka_bootstrap: str, registry: str
) -> None:
    prefix = new_prefix()
    produce(kafka_bootstrap, registry, prefix, events=400, poison=1)
    write_source(project_dir, kafka_bootstrap, registry, prefix + TENURE_TOPIC, batch=50)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "civiclake",
            "stream",
            "housing/tenure_events",
            "--project",
            str(project_dir),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait for the first committed batch
        line = process.stdout.readline()
        lines.append(line)
        if line.startswith("batch:"):
            break
    process.send_signal(signal.SIGTERM)
    rest, _ = process.communicate(timeout=60)
    output = "".join(lines) + rest
    assert process.returncode == 0, output
    assert "stopped cleanly" in output
    project = Project.load(project_dir)
    committed = {
        r["partition"]: r["committed_offset"]
        for r in project.store.stream_partitions("housing/tenure_events")
    }
    held = tenure_offsets(project)
    assert held == sorted({(p, o) for p, end in committed.items() for o in range(end)})
    assert project.store.runs(1)[0].status == "success"
