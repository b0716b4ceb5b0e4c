"""The ``--label-map`` option of ``train ner`` and ``evaluate ner``: a data set's types renamed."""

from __future__ import annotations

from typing import Annotated

import typer

from kgbuild.errors import InputError

__all__ = ["LabelMapOption", "parse_label_map"]

LabelMapOption = Annotated[
    list[str] | None,
    typer.Option(
        help="Rename an entity type of the data as it is read, repeatable: TYPE=NEW "
        "(NAME=PER, GPE.NAM=LOC), or TYPE=O to drop the type (its words become O). Every "
        "TYPE must occur in the data.",
    ),
]


def parse_label_map(specs: list[str] | None) -> dict[str, str]:
    """``--label-map`` values (``TYPE=NEW``) as a mapping.

    Raises:
        InputError: A value without ``=``, an empty side, or a type mapped twice.
    """
    mapping: dict[str, str] = {}
    for spec in specs or []:
        old, sep, new = (part.strip() for part in spec.partition("="))
        if not sep or not old or not new:
            raise InputError(f"--label-map {spec!r}: write TYPE=NEW (NAME=PER) or TYPE=O")
        if old in mapping and mapping[old] != new:
            raise InputError(f"--label-map maps {old} twice ({mapping[old]}, {new})")
        mapping[old] = new
    return mapping
