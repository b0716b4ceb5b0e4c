"""Exception hierarchy of kgbuild.

Every error raised on purpose by the library derives from :class:`KGBuildError`, so
callers can catch the whole family with one ``except`` clause.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataFormatError",
    "InputError",
    "KGBuildError",
    "ModelLoadError",
]


class KGBuildError(Exception):
    """Base class of all kgbuild errors."""


class DataFormatError(KGBuildError):
    """A data file does not follow its expected format (message names file and line)."""


class ModelLoadError(KGBuildError):
    """A model could not be found or loaded (message names the model reference)."""


class ConfigError(KGBuildError):
    """A configuration value is missing or invalid."""


class InputError(KGBuildError):
    """An input given by the caller is invalid."""
