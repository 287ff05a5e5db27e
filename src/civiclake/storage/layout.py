"""Where things live under the storage root.

::

    <root>/landing/<department>/<source>/                 files dropped here (the inbox)
    <root>/landing/<department>/<source>/<import_date>/   received files, kept unmodified
    <root>/<zone>/<department>/<dataset>/                 one Delta table per dataset

The root is a local path or an object-store URL (``s3://bucket/prefix``);
everything here is string/URL arithmetic so both work the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from civiclake.naming import TABLE_ZONES, schema_name, sql_name


@dataclass(frozen=True, order=True)
class DatasetRef:
    """One dataset: a table in one zone of one department."""

    department: str
    zone: str
    name: str

    @property
    def schema(self) -> str:
        """SQL schema, e.g. ``housing_repairs_refined``."""
        return schema_name(self.department, self.zone)

    @property
    def qualified(self) -> str:
        """SQL name, e.g. ``housing_refined.rent_accounts``."""
        return f"{self.schema}.{self.name}"

    def sibling(self, name: str) -> DatasetRef:
        """Another dataset in the same zone and department (e.g. ``x__rejected``)."""
        return DatasetRef(self.department, self.zone, name)

    def __str__(self) -> str:
        return self.qualified

    @classmethod
    def parse(cls, qualified: str, departments: list[str]) -> DatasetRef | None:
        """``housing_repairs_raw.jobs`` → DatasetRef, given the known department ids."""
        schema, _, name = qualified.partition(".")
        if not name:
            return None
        return cls.from_schema(schema, name, departments)

    @classmethod
    def from_schema(cls, schema: str, name: str, departments: list[str]) -> DatasetRef | None:
        schema = schema.lower()
        for zone in TABLE_ZONES:
            suffix = f"_{zone}"
            if schema.endswith(suffix):
                dept_sql = schema[: -len(suffix)]
                for dept in departments:
                    if sql_name(dept) == dept_sql:
                        return cls(dept, zone, name.lower())
        return None


def is_url(root: str) -> bool:
    return "://" in root


class Layout:
    """Paths and URIs under one storage root."""

    def __init__(self, root: str, project_dir: Path | None = None) -> None:
        if not is_url(root):
            path = Path(root)
            if not path.is_absolute() and project_dir is not None:
                path = project_dir / path
            root = str(path.resolve())
        self.root = root.rstrip("/")

    @property
    def is_local(self) -> bool:
        return not is_url(self.root)

    def join(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def table_uri(self, ref: DatasetRef) -> str:
        return self.join(ref.zone, ref.department, ref.name)

    def landing_inbox(self, department: str, source: str) -> str:
        return self.join("landing", department, source)

    def landing_archive(self, department: str, source: str, import_date: str) -> str:
        return self.join("landing", department, source, import_date)
