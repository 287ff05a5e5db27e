"""``civiclake doctor``: damage is found, not inherited.

Every dataset in the catalog is checked against what is on disk:

* its Delta log: contiguous commits from the newest checkpoint, each commit readable
  (:func:`civiclake.storage.damage.inspect_log`);
* the version the catalog recorded against the log's newest (a lost latest commit leaves
  the log *behind* the catalog, and the next write would silently take its number);
* every data file the current version reads, present;
* the landing zone's kept copies of loaded files, present and matching the sha256 the
  ledger (``loaded_files``) recorded.

Each :class:`Finding` carries the command or step that repairs it, chosen from what can
rebuild the dataset: ``civiclake history rebuild`` for a daily source's keyed history,
``civiclake files reprocess`` for a files source's table (from landing's kept copies), a
re-run for a job's output. :class:`Advisor` gives the same repair to the errors a damaged
table raises during ``run`` and ``query`` (it is set on the project's
:class:`~civiclake.storage.TableStore` by the CLI).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from civiclake.exceptions import ConfigError
from civiclake.naming import HISTORY_SUFFIX
from civiclake.snapshots import REJECTED_SUFFIX
from civiclake.storage import DatasetRef

if TYPE_CHECKING:
    from civiclake.project import Project


@dataclass(frozen=True)
class Finding:
    """One thing wrong: the dataset, what, the file concerned, and how to repair it."""

    dataset: str
    kind: str
    file: str
    detail: str
    repair: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class Report:
    findings: list[Finding]
    datasets: int
    """Datasets checked."""
    landing_files: int
    """Kept landing copies checked against the ledger."""


class Advisor:
    """What repairs each dataset of a project (computed once, from its sources and jobs)."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self._steps: tuple[set[str], dict[str, tuple[str, str]], set[str]] | None = None

    def _discover(self) -> tuple[set[str], dict[str, tuple[str, str]], set[str]]:
        """The datasets a daily source can rebuild, each dataset's (step, kind), and the
        datasets the landing ledger holds files of."""
        if self._steps is not None:
            return self._steps
        from civiclake.runner.plan import discover
        from civiclake.steps import Replayable

        rebuildable: set[str] = set()
        producers: dict[str, tuple[str, str]] = {}
        try:
            steps = discover(self.project)
        except Exception:  # a broken file: its datasets get the generic repair
            steps = []
        for step in steps:
            definition = step.definition
            for out in definition.writes:
                producers.setdefault(out.qualified, (definition.name, definition.kind))
            caps = definition.capabilities
            if caps.backfill and caps.replay and isinstance(step, Replayable):
                rebuildable |= {step.dataset(t).qualified for t in step.replay_tables()}
        ledger = {str(row["dataset"]) for row in self.project.store.loaded_files()}
        self._steps = rebuildable, producers, ledger
        return self._steps

    def repair(self, dataset: str) -> str:
        """The command (or steps) that repairs ``dataset``'s table."""
        rebuildable, producers, ledger = self._discover()
        base = dataset.removesuffix(HISTORY_SUFFIX).removesuffix(REJECTED_SUFFIX)
        if base in rebuildable:
            return f"`civiclake history rebuild {base}` (rebuilds it from what landing holds)"
        if base in ledger:
            return (
                f"`civiclake files reprocess {base}` (reloads it from landing's kept copies; "
                "the damaged table is kept beside it)"
            )
        step, kind = producers.get(base, ("", ""))
        folder = self._folder(dataset)
        if kind == "job":
            return f"move {folder} aside, then `civiclake run --select {step}` (writes it again)"
        return (
            f"restore {folder} from a backup ({step or 'its producer'} cannot rebuild it "
            "from landing)"
        )

    def _folder(self, dataset: str) -> str:
        ref = self.project.parse_dataset(dataset)
        uri = self.project.catalog.table_of(ref) if ref is not None else dataset
        try:
            return Path(uri).resolve().relative_to(self.project.dir).as_posix()
        except ValueError:
            return uri

    def for_uri(self, uri: str) -> tuple[str | None, str | None]:
        """(dataset, repair) of the table at ``uri``; (None, None) when the catalog has none."""
        catalog = self.project.catalog
        names = [
            ref.qualified for ref in catalog.datasets() if catalog.table_of(ref) == uri.rstrip("/")
        ]
        if not names:
            return None, None
        name = min(names, key=len)  # x before x__history
        return name, self.repair(name)


def examine(project: Project, datasets: Sequence[str] = ()) -> Report:
    """Check ``datasets`` (every dataset in the catalog when empty); see the module docstring."""
    rows = project.store.datasets()
    known = {row["qualified_name"]: row for row in rows}
    wanted = [_known(name, known) for name in datasets] or list(known)
    advisor = Advisor(project)
    findings: list[Finding] = []
    seen: set[str] = set()
    landing = 0
    ledgers: dict[str, list[dict[str, Any]]] = {}
    for entry in project.store.loaded_files():
        ledgers.setdefault(str(entry["dataset"]), []).append(entry)
    for name in sorted(wanted, key=len):  # x before x__history: one table, reported once
        row = known[name]
        ref = DatasetRef(row["department"], row["zone"], row["name"])
        uri = project.catalog.table_of(ref)
        if uri not in seen:
            seen.add(uri)
            for kind, file, detail in _table(project, uri, row.get("version")):
                findings.append(Finding(name, kind, file, detail, advisor.repair(name)))
        ledger = ledgers.get(name, [])
        landing += len(ledger)
        findings += _landing(project, name, ledger)
    return Report(findings, len(wanted), landing)


def _known(name: str, known: dict[str, Any]) -> str:
    if name in known:
        return name
    from difflib import get_close_matches

    close = get_close_matches(name, list(known), n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    raise ConfigError(
        f"{name!r} is not a dataset in the catalog{hint} (`civiclake datasets` lists them)"
    )


def _table(project: Project, uri: str, recorded: int | None) -> list[tuple[str, str, str]]:
    """(kind, file, detail) for what is wrong with the table at ``uri``."""
    from civiclake.storage import damage
    from civiclake.storage.exceptions import StorageError

    tables = project.tables
    if not tables.exists(uri):
        return [("missing-table", uri, "the table's folder or Delta log is gone")]
    found = damage.inspect_log(uri)
    if found:
        return [(d.kind, d.file, d.detail) for d in found]
    try:
        dt = tables.open(uri)
    except StorageError as exc:
        return [("unreadable-log", f"{uri}/_delta_log", str(exc))]
    problems: list[tuple[str, str, str]] = []
    version = int(dt.version())
    if recorded is not None and version < int(recorded):
        problems.append(
            (
                "behind-catalog",
                damage.commit_file(uri, version + 1),
                f"the catalog recorded version {recorded} but the log ends at version "
                f"{version}: commit files were lost",
            )
        )
    problems += [(d.kind, d.file, d.detail) for d in damage.missing_files(list(dt.file_uris()))]
    return problems


def _landing(project: Project, dataset: str, ledger: list[dict[str, Any]]) -> list[Finding]:
    """Kept copies missing or changed since the ledger recorded their sha256."""
    from civiclake.ingest.landing import sha256_of

    findings = []
    for entry in ledger:
        kept = Path(project.layout.join(str(entry["archived_path"])))
        if not project.layout.is_local:
            continue
        if not kept.exists():
            findings.append(
                Finding(
                    dataset,
                    "landing-missing",
                    str(kept),
                    "landing's kept copy of a loaded file is gone (the dataset cannot be "
                    "rebuilt from landing without it)",
                    f"restore {kept.name} from the sender or a backup to {kept}",
                )
            )
        elif sha256_of(kept) != entry["sha256"]:
            findings.append(
                Finding(
                    dataset,
                    "landing-changed",
                    str(kept),
                    "landing's kept copy no longer matches the sha256 recorded when it was "
                    "loaded (it was edited or overwritten)",
                    f"restore the original {kept.name} from the sender or a backup to {kept}",
                )
            )
    return findings


def as_json(report: Report) -> dict[str, Any]:
    return {
        "ok": not report.findings,
        "datasets_checked": report.datasets,
        "landing_files_checked": report.landing_files,
        "findings": [f.to_dict() for f in report.findings],
    }


def advise(project: Project) -> None:
    """Let damage errors raised through ``project``'s tables name their dataset and repair."""
    advisor = Advisor(project)
    project.tables.advisor = advisor.for_uri


def dataset_ref(project: Project, name: str) -> DatasetRef:
    ref = project.parse_dataset(name)
    if ref is None:
        raise ConfigError(
            f"{name!r} is not a dataset name; write <department>_<zone>.<name>, e.g. "
            "housing_raw.rent_accounts (`civiclake datasets` lists them)"
        )
    return ref


__all__ = ["Advisor", "Finding", "Report", "advise", "as_json", "examine"]
