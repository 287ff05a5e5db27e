"""The run recorder, shared by runs and the streaming mode: rows, redacted logs, failures."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from civiclake import Project, Runner
from civiclake.config.secrets import REDACTOR
from civiclake.ingest.exceptions import IngestError
from civiclake.steps import Counts, RunContext, SourceCapabilities, StepDefinition, Streamable

SECRET = "s3cr3t-token-for-the-stream-test"


class Ticker:
    """A stream source that commits three batches, logging a secret on the way."""

    def __init__(self, *, fail_at: int | None = None) -> None:
        self.fail_at = fail_at
        self.definition = StepDefinition(
            "housing/ticker",
            "source",
            "housing",
            type="ticker",
            capabilities=SourceCapabilities(stream=True),
        )

    def run(self, ctx: RunContext) -> Counts:
        return Counts()

    def stream(
        self,
        ctx: RunContext,
        stop: threading.Event,
        *,
        catch_up: bool,
        poll: float,
        on_batch: Callable[[Counts], None],
    ) -> Counts:
        total = Counts()
        for n in range(1, 4):
            if n == self.fail_at:
                raise IngestError(f"broker said no to {SECRET}")
            ctx.log.info("batch %d with token %s", n, SECRET)
            batch = Counts(rows_in=10, rows_out=9, rows_rejected=1, versions=9)
            on_batch(batch)
            total.add(batch)
        return total


@pytest.fixture(autouse=True)
def _secret() -> None:
    REDACTOR.add(SECRET)


def test_a_stream_is_recorded_as_a_run_with_a_redacted_log(project: Project) -> None:
    assert isinstance(Ticker(), Streamable)
    seen: list[int] = []
    summary = Runner(project).stream(
        Ticker(), threading.Event(), on_batch=lambda batch: seen.append(batch.rows_in)
    )
    assert seen == [10, 10, 10]
    assert summary.ok and summary.steps[0].result.rows_in == 30
    run = project.store.runs(1)[0]
    assert (run.command, run.status) == ("stream housing/ticker", "success")
    (step,) = project.store.steps(run.id)
    assert (step.status, step.rows_in, step.rows_out, step.rows_rejected) == ("success", 30, 27, 3)
    log = summary.log_path.read_text()
    assert "batch 3 with token" in log
    assert SECRET not in log


def test_a_failed_stream_is_recorded_and_raised_without_the_secret(project: Project) -> None:
    with pytest.raises(IngestError):
        Runner(project).stream(Ticker(fail_at=2), threading.Event())
    run = project.store.runs(1)[0]
    assert run.status == "failed"
    (step,) = project.store.steps(run.id)
    assert step.status == "failed"
    assert "broker said no" in (step.error or "") and SECRET not in (step.error or "")
    assert SECRET not in (run.error or "")
