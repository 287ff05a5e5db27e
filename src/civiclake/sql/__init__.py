"""The SQL surface: one query, parsed once, every relation resolved by scope.

Every door that accepts SQL from a person uses this package: the SQL API and
``civiclake query`` (through :mod:`civiclake.access.guard`, which adds the
policy) and jobs' input discovery (:mod:`civiclake.jobs.sql`). It knows nothing
of users; it answers three questions about a text:

* is it exactly one read-only query? (:func:`parse_query`)
* what does each relation in it bind to — a CTE visible at that point, a
  ``<department>_<zone>.<dataset>`` name, an ``x_as_of(…)`` call, or something
  that is not allowed (a file path, a string, a table function)?
  (:func:`resolve_relations`)
* which functions does it call, and is each one a plain scalar, aggregate or
  window function? (:func:`check_functions`)

Resolution follows SQL's scoping rules with sqlglot's scope analysis — a CTE is
visible in the query it is attached to and in that query's subqueries, to the
CTEs after it in the same ``WITH`` (and to itself under ``RECURSIVE``), and
nowhere else — and is confirmed by walking the reference's own ancestors, so
both must agree before a name is taken for a CTE. A relation neither of them
can place is refused: the check fails closed.
"""

from civiclake.sql.exceptions import SqlRejected
from civiclake.sql.functions import check_functions
from civiclake.sql.parse import parse_query, regenerate
from civiclake.sql.relations import Relation, resolve_relations

__all__ = [
    "Relation",
    "SqlRejected",
    "check_functions",
    "parse_query",
    "regenerate",
    "resolve_relations",
]
