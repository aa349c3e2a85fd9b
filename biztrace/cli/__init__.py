"""The ``biztrace`` command and the process wiring (``up``): the top floor, which nothing imports."""

from __future__ import annotations

from biztrace.cli.main import main

__all__ = ["main"]
