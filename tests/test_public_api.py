"""The public API is what ``civiclake/__init__.py`` exports, and it all resolves."""

from __future__ import annotations

import civiclake


def test_every_exported_name_exists() -> None:
    for name in civiclake.__all__:
        assert hasattr(civiclake, name), name


def test_the_names_users_need_are_exported() -> None:
    assert {"job", "CivicLakeError", "ConfigError", "TransientError"} <= set(civiclake.__all__)
    assert issubclass(civiclake.TransientError, civiclake.CivicLakeError)
