"""The ``files`` source: CSV, Excel and JSON/NDJSON files dropped in a folder.

Modules, in the order a file meets them: :mod:`.config` (the YAML settings),
:mod:`.landing` (finding, hashing and archiving files), :mod:`.readers` with
:mod:`.delimited`, :mod:`.structured` and :mod:`.sheets` (parsing and typing in
DuckDB; where a workbook's table is), :mod:`.migrate` (the table changed for
``renames:`` and type overrides), :mod:`.conform` (fitting types to the existing
table), :mod:`.load` (writing one file) and :mod:`.source` (the run over a folder). Nothing heavy is
imported here, so listing sources stays fast.
"""

from civiclake.ingest.files.config import FilesSourceConfig

__all__ = ["FilesSourceConfig"]
