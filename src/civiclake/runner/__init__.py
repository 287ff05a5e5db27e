"""Running sources and jobs in dependency order, with retries and run history."""

from civiclake.runner.context import Node, RunContext, StepResult

__all__ = ["Node", "RunContext", "StepResult"]
