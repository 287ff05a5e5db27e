"""The exception tree: domain branches, with retryability a marker mixed in."""

from __future__ import annotations

import pytest

from civiclake.exceptions import (
    CivicLakeError,
    MetadataBusyError,
    MetadataError,
    Transient,
    TransientError,
)
from civiclake.ingest.exceptions import IngestError, SourceUnavailableError
from civiclake.ingest.streams.offsets import OffsetsMovedError
from civiclake.publish.exceptions import WarehouseError, WarehouseUnreachable
from civiclake.retry import call_with_retries
from civiclake.storage.exceptions import CommitConflictError, StorageError

TRANSIENT = [
    (CommitConflictError, StorageError),
    (SourceUnavailableError, IngestError),
    (OffsetsMovedError, IngestError),
    (WarehouseUnreachable, WarehouseError),
    (MetadataBusyError, MetadataError),
    (TransientError, CivicLakeError),
]


@pytest.mark.parametrize(("error", "branch"), TRANSIENT, ids=lambda e: e.__name__)
def test_transient_errors_stay_in_their_domain_branch(
    error: type[Exception], branch: type[Exception]
) -> None:
    assert issubclass(error, branch)
    assert issubclass(error, Transient)
    assert issubclass(error, CivicLakeError)


@pytest.mark.parametrize(("error", "branch"), TRANSIENT, ids=lambda e: e.__name__)
def test_the_retry_loop_retries_every_transient_error(
    error: type[Exception], branch: type[Exception]
) -> None:
    def flaky(attempt: int) -> str:
        if attempt < 3:
            raise error("try again")
        return "done"

    assert call_with_retries(flaky, retries=3, base_delay=0, sleep=lambda _: None) == ("done", 3)


def test_a_domain_error_without_the_marker_is_not_retried() -> None:
    calls = []

    def broken(attempt: int) -> None:
        calls.append(attempt)
        raise StorageError("the table is gone")

    with pytest.raises(StorageError):
        call_with_retries(broken, retries=3, base_delay=0, sleep=lambda _: None)
    assert calls == [1]
