"""The project: one folder with ``civiclake.yaml``, sources, jobs, models and a playbook.

:class:`Project` is the context object everything hangs off — configuration,
storage, the metadata store and the engine — so nothing lives in module
globals and every piece can be built for a test project in a temp folder.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from civiclake.config.loader import load_model
from civiclake.config.models import ProjectConfig
from civiclake.config.secrets import load_dotenv
from civiclake.config.suggest import did_you_mean
from civiclake.exceptions import ConfigError, ProjectNotFoundError
from civiclake.naming import TABLE_ZONES, department_id
from civiclake.storage import DatasetRef, Layout, TableStore
from civiclake.storage.connections import Connections

if TYPE_CHECKING:
    from civiclake.catalog import Catalog
    from civiclake.engines.base import Engine
    from civiclake.metadata import MetadataStore

CONFIG_FILE = "civiclake.yaml"


class Project:
    """A loaded civiclake project."""

    def __init__(self, directory: Path, config: ProjectConfig) -> None:
        self.dir = directory.resolve()
        self.config = config
        self.config_path = self.dir / CONFIG_FILE
        self.layout = Layout(config.storage.root, self.dir)
        options = {k: v.reveal() for k, v in config.storage.options.items()}
        self.connections = Connections(
            threads=config.engine.threads,
            memory_limit=config.engine.memory_limit,
            temp_directory=self.dir / ".civiclake" / "tmp",
        )
        """Every DuckDB connection of the project comes from here: its limits, its spill folder."""
        self.tables = TableStore(
            options,
            connections=self.connections,
            keep_replaced_hours=config.storage.keep_replaced_files_hours,
        )

    # -- loading --------------------------------------------------------------
    @classmethod
    def load(cls, start: Path | str | None = None) -> Project:
        """Load the project in ``start`` or the nearest parent holding ``civiclake.yaml``."""
        here = Path(start or Path.cwd()).resolve()
        for folder in [here, *here.parents]:
            if (folder / CONFIG_FILE).is_file():
                load_dotenv(folder / ".env")
                config = load_model(folder / CONFIG_FILE, ProjectConfig)
                return cls(folder, config)
        raise ProjectNotFoundError(
            f"no {CONFIG_FILE} in {here} or any parent folder; create a project with "
            "`civiclake init <dir>` or pass --project <dir>"
        )

    # -- folders --------------------------------------------------------------
    @property
    def state_dir(self) -> Path:
        """Per-machine state: logs, the default SQLite metadata database."""
        path = self.dir / ".civiclake"
        path.mkdir(exist_ok=True)
        return path

    @property
    def logs_dir(self) -> Path:
        path = self.state_dir / "logs"
        path.mkdir(exist_ok=True)
        return path

    # -- departments ----------------------------------------------------------
    @property
    def departments(self) -> list[str]:
        return self.config.department_ids()

    def require_department(self, name: str, *, where: str = "") -> str:
        """The department id for ``name``; an unknown one is an error with a suggestion."""
        ident = department_id(name)
        if ident not in self.departments:
            prefix = f"{where}: " if where else ""
            raise ConfigError(
                f"{prefix}unknown department {name!r}{did_you_mean(ident, self.departments)}. "
                f"Known: {', '.join(self.departments)}. Add it with "
                f"`civiclake department add {ident}`"
            )
        return ident

    def dataset(self, department: str, zone: str, name: str) -> DatasetRef:
        if zone not in TABLE_ZONES:
            raise ConfigError(
                f"unknown zone {zone!r}{did_you_mean(zone, TABLE_ZONES)}; "
                f"allowed: {', '.join(TABLE_ZONES)}"
            )
        return DatasetRef(self.require_department(department), zone, name)

    def parse_dataset(self, qualified: str) -> DatasetRef | None:
        """``housing_raw.rent_accounts`` → DatasetRef (None when the schema is not ours)."""
        return DatasetRef.parse(qualified, self.departments)

    # -- services -------------------------------------------------------------
    @cached_property
    def store(self) -> MetadataStore:
        from civiclake.metadata import MetadataStore

        return MetadataStore(
            self.config.metadata.url.reveal(),
            project_dir=self.dir,
            busy_timeout=self.config.metadata.busy_timeout_seconds,
        )

    def engine(self) -> Engine:
        return self._engine

    @cached_property
    def _engine(self) -> Engine:
        from civiclake.engines.base import ENGINES

        cfg = self.config.engine
        cls = ENGINES.load(cfg.name, where=f"{self.config_path}, key `engine.name`")
        allowed = [self.layout.root] if self.layout.is_local else []
        engine: Engine = cls(self.tables, self._readable_uri, allowed_directories=allowed)
        return engine

    def _readable_uri(self, ref: DatasetRef) -> str:
        """Where ``ref``'s table reads whole now: its own folder, or while a killed
        ``history rebuild`` left its swap unfinished, the folder holding the table."""
        from civiclake.storage.swap import readable

        return readable(self.layout.table_uri(ref))

    @cached_property
    def catalog(self) -> Catalog:
        """The one door datasets are written through (see :mod:`civiclake.catalog`)."""
        from civiclake.catalog import Catalog

        return Catalog(self.layout, self.tables, self.store, self.departments)


__all__ = ["CONFIG_FILE", "Project"]
