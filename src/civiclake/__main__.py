"""``python -m civiclake`` is the same as the ``civiclake`` command."""

from civiclake.cli import main

main()
