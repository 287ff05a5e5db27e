#!/usr/bin/env bash
# Create the virtual environment and install civiclake (editable) with its dev extras.
# Uses uv when it can be installed (much faster), plain pip otherwise.
set -euo pipefail
venv="${1:-.venv}"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
if "$venv/bin/python" -m pip install -q uv >/dev/null 2>&1; then
  "$venv/bin/python" -m uv pip install --python "$venv/bin/python" -q -e '.[dev]'
else
  "$venv/bin/python" -m pip install -q -e '.[dev]'
fi
