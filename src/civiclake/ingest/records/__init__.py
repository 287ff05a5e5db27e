"""Parse and type JSON records whose values arrive as strings.

A REST API such as the planning system's sends every value as a string and
adds or drops fields from one day to the next. Two steps turn its pages
into a typed Arrow table, both in DuckDB with no per-record Python:

1. :func:`read_json_pages` reads page files into **one table of strings**;
2. :func:`type_records` **types** that table against the dataset's existing
   schema, widening where that loses nothing and rejecting rows that do not
   fit.

Reading pages
-------------
Each file is one page: a JSON array of objects. An empty file (an HTTP 202
"no results" response) or ``[]`` holds no records. A file that is not an
array of objects, is malformed, or is cut short (``[{...},`` at the end) is
a :class:`~civiclake.ingest.exceptions.BadFileError` naming the file;
nothing is read from any page then, so a run can fetch the page again.

* Records keep file order, then array order. Two lineage columns are added:
  ``_source_file`` (the path as given) and ``_source_row`` (the record's
  1-based position in its page).
* Columns are the union of the records' keys, in order of first appearance;
  a key missing from a record is NULL there. Names are snake_case ASCII as
  for files (``FeeAmount`` → ``fee_amount``; names that clash after that get
  ``_2``, ``_3``…).
* Every value becomes a string: JSON numbers and booleans as JSON text
  (``12.50`` → ``12.5``, ``true``; integers of any size keep every digit);
  ``null`` and ``""`` become NULL. Lists become their JSON text
  (``["a","b"]``), as do objects that are not split (below).
* ``drop`` removes fields before anything else is done with them (e.g. the
  huge ``gis_map_image_base64`` is never extracted), by original or
  normalised name; a nested field by ``parent.child`` or its flattened name
  ``parent__child`` (an object whose every field is dropped goes too).
* Objects (a key whose every non-null value is an object) are, with
  ``nested="flatten"``, one string column per field, named
  ``parent__child`` (recursively: ``a__b__c``); with ``nested="struct"``,
  a struct column of strings (structs within structs for deeper objects).
  A key that holds an object in some records and a scalar in others stays
  one string column, the objects as JSON text; so does a key whose objects
  are all empty. A string holding a JSON object counts as that object.

Typing
------
:func:`type_records` gives every column (and every field of a struct
column) a type, in this order of precedence:

1. **The existing table's type**, when the column is in ``existing``.
2. **An override** from ``overrides`` (column → type; ``parent.field`` for a
   struct field). Allowed: VARCHAR, BOOLEAN, SMALLINT, INTEGER, BIGINT,
   DOUBLE, DECIMAL(p,s), DATE, TIMESTAMP, TIMESTAMP WITH TIME ZONE (also
   TEXT, STRING, BOOL, INT, LONG, DATETIME, TIMESTAMPTZ). Any other name is
   an :class:`InvalidTypeError` (a ``ValueError``) naming the column and the
   allowed types (:func:`normalise_type` checks one, e.g. when a config
   file is read). An override for a column the records do not have is
   ignored (a day may lack it); once a column is in the table, the table's
   type wins.
3. **Inference** over the column's non-blank values: the narrowest of

   ============  ===========================================================
   BOOLEAN       ``true``/``false`` in any case (not ``0``/``1``, not ``yes``)
   BIGINT        whole numbers written plainly: no ``+``, no leading zero
                 (``007`` and phone numbers stay text: a number would lose
                 the zero); too large for BIGINT stays text
   DOUBLE        decimals or exponents (``2.50``, ``1e3``), mixed with whole
                 numbers or not; not ``NaN``/``Infinity``
   DATE          ``YYYY-MM-DD``
   TIMESTAMP     ``YYYY-MM-DD HH:MM:SS[.fff]`` or with ``T``; mixed with
                 dates or not. An offset (``Z``, ``+01:00``) keeps it text
   VARCHAR       anything else, any other mix, and columns with no values
   ============  ===========================================================

   A column that is NULL in every record is VARCHAR: pin it with an
   override if later records will hold something else. Inference is one
   aggregate query over all columns, so one odd column never turns the
   others into text. A struct column's fields are inferred one by one.

Values that are blank (``""`` or only whitespace) are NULL in every typed
column; VARCHAR columns keep them as sent. Casting to a known (existing or
overridden) type is a little more lenient than inference — blanks around a
value, ``+5``, ``007``, ``1.0`` into an integer, ``2024-1-5``, and
``t``/``f``/``yes``/``no``/``1``/``0`` into a BOOLEAN are fine — but never
changes a value silently: ``1.5`` is not a BIGINT (DuckDB would round it),
``2024-01-01 10:00`` is not a DATE (DuckDB would drop the time), ``0x10``
and ``1_000`` are not numbers, a timestamp with an offset is not a TIMESTAMP
(only a TIMESTAMP WITH TIME ZONE, which is read in UTC), and DECIMAL(p,s)
takes at most ``s`` decimals.

Widening and rejects
--------------------
When some values of a column in ``existing`` do not cast to its type:

* an integer column (BIGINT, INTEGER…) whose failing values all cast to
  DOUBLE becomes **DOUBLE**, and a DATE column whose failing values all cast
  to TIMESTAMP becomes **TIMESTAMP**: the whole column is cast to the wider
  type and ``widened`` lists ``(column, old, new)``; the writer migrates the
  stored column;
* otherwise (and always for overridden types) each row holding a failing
  value goes to ``rejected`` — once, however many of its columns fail, with
  the first failing column in the typed table's order. ``rejected`` keeps
  the row's original string columns and lineage, plus ``_reject_column``,
  ``_reject_value`` (the whole value) and ``_reject_reason``, e.g.
  ``planning_refined.fees.fee: 'abc' is not a DOUBLE`` (``context`` and a
  dot first when given; values over 200 characters are cut in the reason).

The typed ``table`` has the columns of ``existing`` that the records hold,
in the existing order and at the existing Arrow type (or widened), then new
columns in the records' order, then the lineage columns (names starting
``_``) exactly as they came. Columns of ``existing`` that the records lack
are left out (the writer fills NULLs); a field of an existing struct that
the records lack is kept as NULL so the struct keeps its shape. ``added``
lists ``(column, type)`` for every new column (``parent.field`` for a new
field of an existing struct); with no ``existing``, every column. Row
order is kept, and the same input always gives the same output.
"""

from civiclake.ingest.records._casts import ALLOWED_TYPES, InvalidTypeError, normalise_type
from civiclake.ingest.records._pages import NestedMode, read_json_pages
from civiclake.ingest.records._typed import TypedRecords, type_records

__all__ = [
    "ALLOWED_TYPES",
    "InvalidTypeError",
    "NestedMode",
    "TypedRecords",
    "normalise_type",
    "read_json_pages",
    "type_records",
]
