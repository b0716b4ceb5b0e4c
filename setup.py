"""Packaging hook: the wheel carries ``models/`` and ``schemas/`` as package data.

Everything else is declared in pyproject.toml. The two folders stay at the top of the
repository (where the docs, the Makefile and ``models/manifest.yaml`` name them); a
regular build copies them to ``kgbuild/_resources/``, where
:func:`kgbuild.resources.resource_dir` finds them through ``importlib.resources``. An
editable install copies nothing: it reads the repository's folders.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

RESOURCES = ("models", "schemas")
HERE = Path(__file__).resolve().parent


class BuildWithResources(build_py):
    """``build_py`` that also copies the resource folders into the built package."""

    def run(self) -> None:
        """Build the packages, then copy ``models/`` and ``schemas/`` next to them."""
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "kgbuild" / "_resources"
        for name in RESOURCES:
            destination = target / name
            if destination.exists():
                shutil.rmtree(destination)
            shutil.copytree(
                HERE / name, destination, ignore=shutil.ignore_patterns("__pycache__", ".*")
            )


setup(cmdclass={"build_py": BuildWithResources})
