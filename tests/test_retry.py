"""Only transient failures are retried, with growing delays, a bounded number of times."""

from __future__ import annotations

import pytest

from civiclake.exceptions import ConfigError, TransientError
from civiclake.retry import backoff_delays, call_with_retries


def test_transient_failures_are_retried_until_success() -> None:
    slept: list[float] = []
    calls: list[int] = []

    def flaky(attempt: int) -> str:
        calls.append(attempt)
        if attempt < 3:
            raise TransientError("disk busy")
        return "done"

    result, attempts = call_with_retries(flaky, retries=3, base_delay=1.0, sleep=slept.append)
    assert (result, attempts, calls) == ("done", 3, [1, 2, 3])
    assert len(slept) == 2 and slept[1] > slept[0] >= 1.0


def test_retries_run_out_and_the_last_error_is_raised() -> None:
    def always(attempt: int) -> None:
        raise TransientError(f"try {attempt}")

    with pytest.raises(TransientError, match="try 3"):
        call_with_retries(always, retries=2, base_delay=0, sleep=lambda s: None)


def test_terminal_errors_are_not_retried() -> None:
    calls: list[int] = []

    def broken(attempt: int) -> None:
        calls.append(attempt)
        raise ConfigError("bad key")

    with pytest.raises(ConfigError):
        call_with_retries(broken, retries=5, base_delay=0, sleep=lambda s: None)
    assert calls == [1]


def test_backoff_grows_exponentially_and_is_capped() -> None:
    delays = backoff_delays(8, 1.0, cap=30)
    assert delays[0] < delays[1] < delays[2]
    assert max(delays) <= 33
