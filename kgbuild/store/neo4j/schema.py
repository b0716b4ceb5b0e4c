"""The allowed graph schema: validation of labels and types, constraints, per-name queries.

A Cypher label or relationship type cannot be a query parameter. Every name that ends up in query
text therefore goes through :class:`GraphSchema`: it must match ``^[A-Z][A-Za-z0-9_]*$``, must not
be one of the structural names this store uses itself, and must be in the allowed set. Only then
are the templates of :mod:`kgbuild.store.neo4j.queries` filled in with it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from neo4j import Driver, ManagedTransaction

from kgbuild.errors import InputError
from kgbuild.schema import RESERVED_ENTITY_LABELS, RESERVED_RELATION_TYPES
from kgbuild.store.neo4j import queries

__all__ = [
    "DERIVED_TYPES",
    "NAME_PATTERN",
    "STRUCTURAL_LABELS",
    "STRUCTURAL_TYPES",
    "GraphSchema",
    "SchemaError",
    "constraint_statements",
    "create_constraints",
]

log = logging.getLogger(__name__)

NAME_PATTERN: Final = re.compile(r"[A-Z][A-Za-z0-9_]*")
#: Node labels of the store's own model; entity labels may not reuse them.
STRUCTURAL_LABELS: Final = RESERVED_ENTITY_LABELS
#: Edges derived from mentions (kgbuild.graph.cooccurrence), with an ``id`` each.
DERIVED_TYPES: Final = ("CO_OCCURS", "IN_DOCUMENT")
#: Relationship types of the store's own model; relation types may not reuse them.
STRUCTURAL_TYPES: Final = RESERVED_RELATION_TYPES


class SchemaError(InputError, ValueError):
    """A label or relationship type that the graph schema does not allow."""


def _check_name(kind: str, name: object, reserved: frozenset[str]) -> str:
    if not isinstance(name, str) or NAME_PATTERN.fullmatch(name) is None:
        raise SchemaError(
            f"invalid {kind} {name!r}: names must match ^[A-Z][A-Za-z0-9_]*$ "
            "(an uppercase letter, then letters, digits or underscores)"
        )
    if name in reserved:
        raise SchemaError(
            f"invalid {kind} {name!r}: it is reserved for the store's own model "
            f"({', '.join(sorted(reserved))})"
        )
    return name


@dataclass(frozen=True)
class GraphSchema:
    """Allowed entity labels and relation types, validated, with their pre-built queries.

    Build it with :meth:`of`; the query dicts are keyed by validated names only.

    Attributes:
        entity_labels: Labels an Entity node may carry besides ``Entity`` (e.g. PER, ORG).
        relation_types: Relationship types allowed between entities (e.g. WORKS_FOR).
    """

    entity_labels: frozenset[str]
    relation_types: frozenset[str]
    entity_queries: Mapping[str, str] = field(repr=False)
    create_entity_queries: Mapping[str, str] = field(repr=False)
    changed_relation_queries: Mapping[str, str] = field(repr=False)
    unlink_relation_queries: Mapping[str, str] = field(repr=False)
    relation_queries: Mapping[str, str] = field(repr=False)
    create_relation_queries: Mapping[str, str] = field(repr=False)
    delete_docs_relation_queries: Mapping[str, str] = field(repr=False)
    trim_docs_relation_queries: Mapping[str, str] = field(repr=False)
    reversed_relation_queries: Mapping[str, str] = field(repr=False)

    @classmethod
    def of(cls, entity_labels: Iterable[str], relation_types: Iterable[str]) -> GraphSchema:
        """Validate the names and pre-build one query text per label and per type.

        Args:
            entity_labels: Allowed entity labels.
            relation_types: Allowed relation types.

        Returns:
            The schema.

        Raises:
            SchemaError: A name is malformed or reserved.
        """
        if isinstance(entity_labels, str) or isinstance(relation_types, str):
            raise SchemaError("pass collections of names, not a single string")
        labels = frozenset(_check_name("entity label", x, STRUCTURAL_LABELS) for x in entity_labels)
        types = frozenset(_check_name("relation type", x, STRUCTURAL_TYPES) for x in relation_types)
        entity_queries: dict[str, str] = {}
        for label in sorted(labels):
            others = sorted(labels - {label})
            remove = (
                queries.REMOVE_LABELS_TEMPLATE.format(labels=":".join(others)) if others else ""
            )
            entity_queries[label] = queries.UPSERT_ENTITIES_TEMPLATE.format(
                label=label, remove_labels=remove
            )
        return cls(
            entity_labels=labels,
            relation_types=types,
            entity_queries=entity_queries,
            create_entity_queries={
                label: queries.CREATE_ENTITIES_TEMPLATE.format(label=label)
                for label in sorted(labels)
            },
            changed_relation_queries={
                t: queries.CHANGED_RELATIONS_TEMPLATE.format(rel_type=t) for t in sorted(types)
            },
            unlink_relation_queries={
                t: queries.UNLINK_RELATIONS_TEMPLATE.format(rel_type=t) for t in sorted(types)
            },
            relation_queries={
                t: queries.UPSERT_RELATIONS_TEMPLATE.format(rel_type=t) for t in sorted(types)
            },
            create_relation_queries={
                t: queries.CREATE_RELATIONS_TEMPLATE.format(rel_type=t) for t in sorted(types)
            },
            delete_docs_relation_queries={
                t: queries.DELETE_DOCS_RELATIONS_TEMPLATE.format(rel_type=t) for t in sorted(types)
            },
            trim_docs_relation_queries={
                t: queries.TRIM_DOCS_RELATIONS_TEMPLATE.format(rel_type=t) for t in sorted(types)
            },
            reversed_relation_queries={
                t: queries.DELETE_REVERSED_RELATIONS_TEMPLATE.format(rel_type=t)
                for t in sorted(types)
            },
        )

    def check_label(self, label: str) -> str:
        """Return ``label`` if it is an allowed entity label.

        Raises:
            SchemaError: Naming the bad label and the allowed ones.
        """
        if label not in self.entity_labels:
            raise SchemaError(
                f"entity label {label!r} is not in the graph schema; allowed labels: "
                f"{', '.join(sorted(self.entity_labels)) or '(none)'}"
            )
        return label

    def check_relation_type(self, rel_type: str) -> str:
        """Return ``rel_type`` if it is an allowed relation type.

        Raises:
            SchemaError: Naming the bad type and the allowed ones.
        """
        if rel_type not in self.relation_types:
            raise SchemaError(
                f"relation type {rel_type!r} is not in the graph schema; allowed types: "
                f"{', '.join(sorted(self.relation_types)) or '(none)'}"
            )
        return rel_type


def constraint_statements(schema: GraphSchema) -> list[str]:
    """Return the ``CREATE CONSTRAINT/INDEX ... IF NOT EXISTS`` statements for ``schema``.

    One uniqueness constraint on ``id`` for every structural label, every relation type and
    the derived edge types (relationship uniqueness constraints exist in Community from 5.7), plus the ``doc_id``
    indexes that document replacement uses.
    """
    statements = [
        queries.NODE_ID_CONSTRAINT_TEMPLATE.format(name=f"kg_{label.lower()}_id", label=label)
        for label in sorted(STRUCTURAL_LABELS)
    ]
    statements += [
        queries.REL_ID_CONSTRAINT_TEMPLATE.format(name=f"kg_rel_{rel_type}_id", rel_type=rel_type)
        for rel_type in sorted(schema.relation_types) + list(DERIVED_TYPES)
    ]
    statements += list(queries.INDEXES)
    return statements


def create_constraints(
    driver: Driver, schema: GraphSchema, *, database: str = "neo4j", timeout_s: int = 300
) -> int:
    """Create all constraints and indexes (idempotent) and wait until they are online.

    The server's notices that a constraint or index already exists (one per statement on every
    run into an existing graph) are not requested; one INFO line says what was created, if any.

    Args:
        driver: An open Neo4j driver.
        schema: The validated schema.
        database: Target database.
        timeout_s: Seconds to wait for the indexes to come online.

    Returns:
        How many constraints and indexes were created.
    """

    def run(tx: ManagedTransaction, statement: str) -> int:
        counters = tx.run(statement).consume().counters
        return counters.constraints_added + counters.indexes_added

    with driver.session(
        database=database, notifications_disabled_classifications=["SCHEMA"]
    ) as session:
        created = sum(
            session.execute_write(run, statement) for statement in constraint_statements(schema)
        )
        session.execute_read(
            lambda tx: tx.run(queries.AWAIT_INDEXES, {"timeout_s": timeout_s}).consume()
        )
    if created:
        log.info("neo4j database %r: created %d constraints and indexes", database, created)
    return created
