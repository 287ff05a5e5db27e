"""The ``database`` source: incremental syncs of SQL database tables that never miss a change.

* :mod:`.config` — the YAML settings;
* :mod:`.connection` — reading a source database (any SQLAlchemy URL) as Arrow batches, and
  the row hash each dialect computes in SQL;
* :mod:`.sync` — one table's incremental sync into history, with overlap and de-duplication;
* :mod:`.reconcile` — comparing source and platform by key range and repairing what differs;
* :mod:`.source` — the :class:`~civiclake.ingest.base.Source` tying them together.
"""
