"""The graph schema that ``kgbuild ask`` and ``serve`` read questions with.

A build records the schema it used beside the graph (``schema.yaml``,
:func:`kgbuild.graph.outputs.write_schema`). Settings that name no schema (no
``schema_path`` in the config or ``KGBUILD_SCHEMA_PATH``) read questions with that one;
settings that name one use it, with a warning when it is not the graph's. A graph built
before schemas were recorded is read with the settings' schema (the default if none), as
it always was.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from kgbuild.errors import ConfigError
from kgbuild.graph.outputs import recorded_schema
from kgbuild.schema import load_schema, read_schema_text

if TYPE_CHECKING:
    from kgbuild.config import Settings
    from kgbuild.schema import GraphSchema

__all__ = ["question_schema"]

log = logging.getLogger(__name__)


def question_schema(settings: Settings, folder: Path) -> GraphSchema:
    """The schema to read questions over the graph of the build folder ``folder`` with.

    ``folder`` holds the graph read (its ``graph.json``; for Neo4j, the settings'
    ``out_dir``). The graph's recorded schema when ``settings`` name none, else the
    settings' schema, with a warning naming both when the graph was built with another.

    Raises:
        ConfigError: the schema used cannot be read or is not a valid schema.
        KGBuildError: the graph's record of its schema is there but cannot be read.
    """
    recorded = recorded_schema(folder)
    if settings.schema_path is None:
        return load_schema(None) if recorded is None else recorded.load()
    given = read_schema_text(settings.schema_path)
    schema = given.load()
    if recorded is None:
        return schema
    try:
        same = recorded.load() == schema
    except ConfigError as exc:  # e.g. written by a newer kgbuild
        log.warning("%s; questions are read with %s", exc, given.source)
        return schema
    if not same:
        log.warning(
            "the graph in %s was built with the schema %s, not with %s, which your "
            "settings name (schema_path): questions are matched to the types of %s; leave "
            "schema_path unset to read them with the graph's",
            folder,
            recorded.source,
            given.source,
            given.source,
        )
    return schema
