"""A council project pulling from the real planning simulator on a loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from civiclake import Project, init_project
from civiclake.simulators.planning import PlanningSimulator, PlanningWorld

from ._support import PRIVATE, PUBLIC, START


@pytest.fixture(scope="module")
def world() -> PlanningWorld:
    """Deterministic and append-only, so tests of one module can share it."""
    return PlanningWorld(seed=11, start=START)


@pytest.fixture
def simulator(world: PlanningWorld) -> Iterator[PlanningSimulator]:
    sim = PlanningSimulator(world, public_key=PUBLIC, private_key=PRIVATE, page_size=100)
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLANNING_API_PUBLIC_KEY", PUBLIC)
    monkeypatch.setenv("PLANNING_API_PRIVATE_KEY", PRIVATE)


@pytest.fixture
def planning(tmp_path: Path, simulator: PlanningSimulator, keys: None) -> Iterator[Project]:
    """A project with a planning department and ``sources/planning/planning_api.yaml``."""
    directory = init_project(tmp_path / "council", departments=["planning"])
    write_source(directory, simulator.url)
    project = Project.load(directory)
    yield project
    if "store" in project.__dict__:
        project.store.close()


def write_source(directory: Path, url: str, **overrides: Any) -> Path:
    settings: dict[str, Any] = {
        "type": "planning_api",
        "url": url,
        "public_key": "${PLANNING_API_PUBLIC_KEY}",
        "private_key": "${PLANNING_API_PRIVATE_KEY}",
        "tables": {
            "applications": {
                "drop": ["gis_map_image_base64"],
                "types": {"site_address_x": "DOUBLE"},
                "nested": "flatten",
            },
            "wards": {},
            "fees": {},
        },
        "lookback_days": 60,
        "overlap_days": 2,
        "concurrency": 4,
        "timeout_seconds": 10,
        "retries": 1,
        "retry_backoff_seconds": 0.01,
        **overrides,
    }
    path = directory / "sources" / "planning" / "planning_api.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    return path
