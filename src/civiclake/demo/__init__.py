"""The demo council, the fictional Borough of Riverside, for ``civiclake demo``.

:mod:`civiclake.demo.data` generates its landing files; ``files/`` holds the
demo project's source declarations and jobs, copied into the new project.
"""

from civiclake.demo.build import DemoReport, build_demo

__all__ = ["DemoReport", "build_demo"]
