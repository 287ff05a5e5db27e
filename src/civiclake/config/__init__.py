"""Typed configuration: ``civiclake.yaml``, secrets and error messages."""

from civiclake.config.loader import load_model, read_yaml
from civiclake.config.models import Department, ProjectConfig
from civiclake.config.secrets import REDACTOR, Secret

__all__ = ["REDACTOR", "Department", "ProjectConfig", "Secret", "load_model", "read_yaml"]
