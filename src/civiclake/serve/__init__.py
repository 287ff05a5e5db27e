"""The SQL HTTP API (`civiclake serve`): FastAPI + uvicorn over the embedded DuckDB.

Importing this package loads nothing heavy; :func:`create_app` imports FastAPI.
"""

from civiclake.serve.app import create_app

__all__ = ["create_app"]
