"""Everything importable lives under the ``biztrace`` namespace; the repository's folders map onto it."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _setuptools() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_package_is_under_the_biztrace_namespace():
    packages = _setuptools()["packages"]
    assert packages and all(name.startswith("biztrace.") for name in packages)


def test_each_top_level_folder_is_the_subpackage_it_maps_to():
    for package, folder in _setuptools()["package-dir"].items():
        module = importlib.import_module(package)
        assert Path(module.__file__).resolve().parent == ROOT / folder, package
