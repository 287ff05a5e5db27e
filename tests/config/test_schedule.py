"""Schedules: words and cron, checked at load, DST-correct in the project's time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import pytest

from civiclake import ConfigError, Project, init_project
from civiclake.config.schedule import ScheduleError, parse_schedule


@pytest.mark.parametrize(
    ("text", "cron"),
    [
        ("every 15 minutes", "*/15 * * * *"),
        ("Every  minute", "*/1 * * * *"),
        ("every 2 hours", "0 */2 * * *"),
        ("hourly", "0 * * * *"),
        ("daily at 02:00", "0 2 * * *"),
        ("weekdays at 07:30", "30 7 * * 1-5"),
        ("mondays at 6:05", "5 6 * * 1"),
        ("0 1 * * 1-5", "0 1 * * 1-5"),
    ],
)
def test_words_and_cron_expressions(text: str, cron: str) -> None:
    assert parse_schedule(text).cron == cron


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("every 15 minutz", "did you mean `minute`"),
        ("dayly at 02:00", "did you mean `daily`"),
        ("weekdays at 25:00", "is not a time of day"),
        ("every 90 minutes", "every 1 to 59 minutes"),
        ("0 1 * *", "is not a schedule"),
        ("at teatime", "is not a schedule"),
    ],
)
def test_a_typo_is_an_error_that_says_what_would_work(text: str, hint: str) -> None:
    with pytest.raises(ScheduleError, match=hint):
        parse_schedule(text)


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_times_of_day_follow_london_clocks_through_summer_time() -> None:
    daily = parse_schedule("daily at 02:00")
    assert daily.next_after(_utc(2027, 1, 10, 12)) == _utc(2027, 1, 11, 2)  # GMT
    assert daily.next_after(_utc(2027, 7, 10, 12)) == _utc(2027, 7, 11, 1)  # BST


def test_the_missing_hour_runs_once_an_hour_late_and_the_repeated_hour_once() -> None:
    at_half_one = parse_schedule("daily at 01:30")
    # 28 March 2027: 01:00 GMT becomes 02:00 BST, so 01:30 never shows on a clock
    assert at_half_one.next_after(_utc(2027, 3, 27, 12)) == _utc(2027, 3, 28, 1, 30)
    # 31 October 2027: 02:00 BST becomes 01:00 GMT, so 01:30 shows twice; it runs once
    first = at_half_one.next_after(_utc(2027, 10, 30, 12))
    assert first == _utc(2027, 10, 31, 0, 30)
    assert at_half_one.next_after(first) == _utc(2027, 11, 1, 1, 30)


def test_intervals_neither_skip_nor_repeat_when_the_clocks_change() -> None:
    every = parse_schedule("*/15 * * * *")
    moment, seen = _utc(2027, 10, 31, 0, 0), []
    for _ in range(12):  # three hours across the change
        moment = every.next_after(moment)
        seen.append(moment)
    gaps = {(b - a).total_seconds() for a, b in pairwise(seen)}
    assert gaps == {900.0}


def test_a_bad_schedule_in_a_source_file_fails_at_load_with_the_file(tmp_path: Path) -> None:
    from civiclake.ingest import load_sources

    root = init_project(tmp_path / "council", departments=["housing"])
    path = root / "sources" / "housing" / "rents.yaml"
    path.write_text("type: files\ndataset: rents\npatterns: ['*.csv']\nschedule: every 15 minutz\n")
    with pytest.raises(ConfigError) as caught:
        load_sources(Project.load(root))
    message = str(caught.value)
    assert "rents.yaml" in message and "schedule" in message and "minute" in message


def test_an_unknown_time_zone_is_refused(tmp_path: Path) -> None:
    root = init_project(tmp_path / "council", departments=["housing"])
    config = root / "civiclake.yaml"
    config.write_text(config.read_text() + "timezone: Europe/Londn\n")
    with pytest.raises(ConfigError, match="Europe/London"):
        Project.load(root)
