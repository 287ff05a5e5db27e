"""The history engine: keyed datasets kept as every version, latest and as-of.

See :mod:`civiclake.history.engine` for how the tables are laid out.
"""

from civiclake.history.engine import (
    HistoryResult,
    HistorySpec,
    apply_increment,
    compact,
    rebuild,
)

__all__ = ["HistoryResult", "HistorySpec", "apply_increment", "compact", "rebuild"]
