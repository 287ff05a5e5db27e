"""civiclake: a data platform in a box for public-sector data teams."""

from civiclake.exceptions import CivicLakeError, ConfigError, TransientError
from civiclake.jobs.python import job

__version__ = "0.1.0.dev0"
__all__ = ["CivicLakeError", "ConfigError", "TransientError", "__version__", "job"]
