"""DocRED training labels checked against the graph schema the model is trained for.

A relation model's label reaches the graph only when the schema declares it, by name
(``COUNTRY``) or Wikidata id (``P17``): :meth:`kgbuild.schema.GraphSchema.relation_for_label`,
as the document relation stage maps them. A label the schema does not know trains a score
column the build drops, and is mostly a typo or another dataset's id. Every mention's
entity type must be a declared entity type too (the stage pairs entities by them).

Unknown relation labels are refused (``unknown_relations="error"``) or left out of
training with one counted warning (``"drop"``); unknown entity types are always refused.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kgbuild.errors import DataFormatError
from kgbuild.readers.docred import DocREDDocument
from kgbuild.schema import GraphSchema

__all__ = ["UNKNOWN_RELATIONS", "DocLabelCheck", "UnknownRelations"]

logger = logging.getLogger(__name__)

UnknownRelations = Literal["error", "drop"]
UNKNOWN_RELATIONS: tuple[UnknownRelations, ...] = ("error", "drop")
"""What a relation label the schema does not declare does: refuse the file, or be dropped."""

_SHOWN = 10
"""Labels (or types) named in a message; the rest are counted."""


def _counted(counts: Counter[str]) -> str:
    """``P1001 (20), P999 (3), ...`` most frequent first, at most :data:`_SHOWN` named."""
    items = [f"{label} ({count})" for label, count in counts.most_common(_SHOWN)]
    if len(counts) > _SHOWN:
        items.append(f"and {len(counts) - _SHOWN} more")
    return ", ".join(items)


@dataclass(frozen=True)
class DocLabelCheck:
    """The schema a document relation model is trained for, and what to do with other labels."""

    schema: GraphSchema
    schema_name: str
    """How messages name the schema (its file or shipped name)."""
    unknown_relations: UnknownRelations = "error"

    def _expected(self) -> str:
        declared = [
            f"{r.name} ({r.wikidata})" if r.wikidata else r.name for r in self.schema.relation_types
        ]
        if not declared:
            return "no relation label: it declares no relation types"
        more = f", ... ({len(declared)} in all)" if len(declared) > _SHOWN else ""
        return f"a relation type's name or Wikidata id, e.g. {', '.join(declared[:_SHOWN])}{more}"

    def documents(self, path: Path, documents: Sequence[DocREDDocument]) -> list[DocREDDocument]:
        """The documents of ``path`` whose labels the schema knows (see the module docstring).

        Raises:
            DataFormatError: A mention's entity type, or (``unknown_relations="error"``) a
                relation label, that the schema does not declare; the message names the
                file, the first document (index and title) and label, and counts the others.
        """
        self._check_entity_types(path, documents)
        known = {r.name for r in self.schema.relation_types} | {
            r.wikidata for r in self.schema.relation_types if r.wikidata
        }  # what GraphSchema.relation_for_label maps, as a set
        unknown: Counter[str] = Counter()
        first: tuple[int, DocREDDocument, int, str] | None = None
        for index, doc in enumerate(documents):
            for l_index, relation in enumerate(doc.relations):
                if relation.relation not in known:
                    unknown[relation.relation] += 1
                    if first is None:
                        first = (index, doc, l_index, relation.relation)
        if first is None:
            return list(documents)
        total = sum(unknown.values())
        summary = (
            f"{total} relation label{'s' if total > 1 else ''} of {len(unknown)} "
            f"type{'s' if len(unknown) > 1 else ''} the schema ({self.schema_name}) does not "
            f"declare: {_counted(unknown)}"
        )
        if self.unknown_relations == "error":
            index, doc, l_index, label = first
            raise DataFormatError(
                f"{path}: record {index} {doc.title!r}: label {l_index}: relation {label!r} "
                f"is not declared by the schema ({self.schema_name}), which expects "
                f"{self._expected()}. In all, {summary}. Rename them, train for another "
                "schema (--schema), or leave them out (--unknown-relations drop)"
            )
        logger.warning("%s: dropped %s", path, summary)
        return [
            doc.model_copy(
                update={"relations": tuple(r for r in doc.relations if r.relation not in unknown)}
            )
            for doc in documents
        ]

    def _check_entity_types(self, path: Path, documents: Sequence[DocREDDocument]) -> None:
        declared = self.schema.entity_labels
        unknown: Counter[str] = Counter()
        first = ""
        for index, doc in enumerate(documents):
            for e_index, entity in enumerate(doc.entities):
                for m_index, mention in enumerate(entity.mentions):
                    if mention.type not in declared:
                        unknown[mention.type] += 1
                        first = first or (
                            f"{path}: record {index} {doc.title!r}: entity {e_index} mention "
                            f"{m_index} {mention.name!r} has type {mention.type!r}"
                        )
        if unknown:
            total = sum(unknown.values())
            raise DataFormatError(
                f"{first}, which the schema ({self.schema_name}) does not declare; it "
                f"declares {', '.join(sorted(declared))}. In all, {total} "
                f"mention{'s' if total > 1 else ''} of types it does not declare: "
                f"{_counted(unknown)}"
            )
