"""The public API is what __all__ says, and ``tracing`` is this repository's package."""

from __future__ import annotations

from pathlib import Path

from biztrace import tracing


def test_all_names_are_importable_and_public():
    for name in tracing.__all__:
        assert getattr(tracing, name) is not None
    public = {name for name in vars(tracing) if not name.startswith("_")}
    modules = {"api", "bootstrap", "context", "conventions", "processes", "processor", "propagation", "sampling",
               "annotations"}  # fmt: skip
    assert public - modules == set(tracing.__all__)


def test_tracing_is_the_repository_package_not_a_namesake():
    assert Path(tracing.__file__).resolve().parent == Path(__file__).resolve().parents[2] / "tracing"
