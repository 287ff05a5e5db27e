"""Storage errors."""

from typing import Any

from civiclake.exceptions import CivicLakeError, Transient


class StorageError(CivicLakeError):
    """A Delta table or landing file could not be read or written."""


class CommitConflictError(StorageError, Transient):
    """Another writer committed first; retrying usually succeeds."""


class UnsupportedTableFeatureError(StorageError):
    """A table uses a Delta feature civiclake's readers do not support."""


class TableDamagedError(StorageError):
    """A table's Delta log or data files are damaged, or behind what the catalog recorded.

    Carries the table ``uri``, the :class:`~civiclake.storage.damage.Damage` found, and —
    when the layer raising it knows them — the ``dataset`` and the ``repair`` to run. The
    message names the dataset, the damaged file and the repair; nothing was read or written.
    """

    def __init__(
        self,
        uri: str,
        damage: list[Any],
        *,
        dataset: str | None = None,
        repair: str | None = None,
    ) -> None:
        self.uri = uri
        self.damage = list(damage)
        self.dataset = dataset
        self.repair = repair
        super().__init__(uri)

    def __str__(self) -> str:
        what = self.dataset or f"the Delta table at {self.uri}"
        first = self.damage[0]
        more = f" (and {len(self.damage) - 1} more)" if len(self.damage) > 1 else ""
        repair = self.repair or (
            f"`civiclake doctor {self.dataset}` names the repair"
            if self.dataset
            else "`civiclake doctor` names the dataset and its repair"
        )
        return (
            f"{what} is damaged, so it was not read or written: {first.detail}: {first.file}"
            f"{more}. Repair: {repair}"
        )
