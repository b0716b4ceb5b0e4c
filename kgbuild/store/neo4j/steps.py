"""Write steps: the statements that write a batch of rows of one kind, and their transaction.

A :class:`Kind` names the query that finds a batch's new and changed rows and the statements
those rows need; :func:`write_batch` runs them in one transaction and fails (rolling it back)
when rows refer to nodes that exist nowhere.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from neo4j import ManagedTransaction

from kgbuild.store.neo4j import queries
from kgbuild.store.neo4j.errors import MissingNodeError
from kgbuild.store.neo4j.rows import Row

__all__ = [
    "ATTRIBUTES",
    "CHUNKS",
    "CO_OCCURS",
    "DOCUMENTS",
    "IN_DOCUMENT",
    "MENTIONS",
    "Kind",
    "entity_steps",
    "relation_steps",
    "single",
    "write_batch",
]


@dataclass(frozen=True)
class _Step:
    """One statement of a batch transaction; ``expect`` rows must report as written."""

    query: str
    rows: list[Row]
    expect: int | None = None
    missing_query: str | None = None
    missing_ids: tuple[str, ...] = ()
    what: str = ""


@dataclass(frozen=True)
class Kind:
    """How to write one kind of row.

    ``changed_query`` finds which rows are new or differ from the graph (by ``write_hash``);
    ``steps(todo, existing)`` gives the statements for the rows to write, ``existing`` being
    those among them that are already in the graph (only they may need stale links removed).
    """

    name: str
    changed_query: str
    steps: Callable[[list[Row], list[Row]], list[_Step]]


class _Rows(list[Row]):
    """A batch parameter whose ``repr`` is its size.

    The driver (neo4j 6.4) formats every RUN's parameters for its debug log whether or not
    debug logging is on: about 13 ms for a 5,000-row batch of relations, 5% of a write. Its
    packers take list subclasses as lists.
    """

    def __repr__(self) -> str:
        return f"<{len(self)} rows>"


def write_batch(tx: ManagedTransaction, kind: Kind, rows: list[Row]) -> int:
    """Transaction function: write the new or changed rows of one batch (idempotent)."""
    keys = _Rows({"id": r["id"], "h": r["props"]["write_hash"]} for r in rows)
    record = tx.run(kind.changed_query, keys=keys).single(strict=True)
    new_ids, changed_ids = set(record["new_ids"]), set(record["changed_ids"])
    if not new_ids and not changed_ids:
        return 0
    todo = [r for r in rows if r["id"] in new_ids or r["id"] in changed_ids]
    existing = [r for r in todo if r["id"] in changed_ids]
    _run_steps(tx, kind.steps(todo, existing))
    return len(todo)


def _run_steps(tx: ManagedTransaction, steps: list[_Step]) -> None:
    """Run each step; fail (and so roll back) when rows refer to nodes that do not exist."""
    for step in steps:
        if not step.rows:
            continue
        result = tx.run(step.query, rows=_Rows(step.rows))
        if step.expect is None:
            result.consume()
            continue
        written = single(result, "written")
        if written != step.expect:
            missing: list[str] = []
            if step.missing_query is not None:
                record = tx.run(step.missing_query, ids=list(step.missing_ids)).single(strict=True)
                missing = list(record["missing"])
            shown = ", ".join(repr(x) for x in missing[:20])
            more = f" and {len(missing) - 20} more" if len(missing) > 20 else ""
            raise MissingNodeError(
                f"{step.expect - written} of {step.expect} {step.what} that exist neither in "
                f"the batch nor in the graph: {shown or '(unknown)'}{more}; nothing of this "
                "batch was written"
            )


def _plain_steps(query: str, rows: list[Row], existing: list[Row]) -> list[_Step]:
    return [_Step(query, rows)]


def entity_steps(upsert: str, create: str, rows: list[Row], existing: list[Row]) -> list[_Step]:
    """Statements for one batch of entities of one label.

    Existing ones: MERGE (their label may change). New ones: CREATE, which costs the server
    about half as much (no locking look-up, no labels to remove).
    """
    existing_ids = {r["id"] for r in existing}
    return [
        _Step(upsert, existing),
        _Step(create, [r for r in rows if r["id"] not in existing_ids]),
    ]


def _chunk_steps(rows: list[Row], existing: list[Row]) -> list[_Step]:
    return [
        _Step(
            queries.UPSERT_CHUNKS,
            rows,
            expect=len(rows),
            missing_query=queries.MISSING_DOCUMENTS,
            missing_ids=tuple(r["doc_id"] for r in rows),
            what="chunks refer to documents",
        )
    ]


def _mention_steps(rows: list[Row], existing: list[Row]) -> list[_Step]:
    linked = [r for r in rows if r["entity_id"] is not None]
    return [
        _Step(
            queries.UPSERT_MENTIONS,
            rows,
            expect=len(rows),
            missing_query=queries.MISSING_CHUNKS,
            missing_ids=tuple(r["chunk_id"] for r in rows),
            what="mentions refer to chunks",
        ),
        _Step(queries.UNLINK_MENTION_CHUNKS, existing),
        _Step(queries.UNLINK_MENTIONS, existing),
        _Step(
            queries.LINK_MENTIONS,
            linked,
            expect=len(linked),
            missing_query=queries.MISSING_ENTITIES,
            missing_ids=tuple(r["entity_id"] for r in linked),
            what="mentions refer to entities",
        ),
    ]


def relation_steps(
    unlink: str, upsert: str, create: str, rows: list[Row], existing: list[Row]
) -> list[_Step]:
    """Statements for one batch of relationships of one type.

    Existing ones: unlink those whose endpoints moved, then MERGE (merging evidence). New
    ones: CREATE, which costs the server far less than MERGE with its evidence merge.
    """
    existing_ids = {r["id"] for r in existing}
    new = [r for r in rows if r["id"] not in existing_ids]
    missing = "relations refer to entities"
    return [
        _Step(unlink, existing),
        _Step(
            upsert,
            existing,
            expect=len(existing),
            missing_query=queries.MISSING_ENTITIES,
            missing_ids=tuple(x for r in existing for x in (r["head"], r["tail"])),
            what=missing,
        ),
        _Step(
            create,
            new,
            expect=len(new),
            missing_query=queries.MISSING_ENTITIES,
            missing_ids=tuple(x for r in new for x in (r["head"], r["tail"])),
            what=missing,
        ),
    ]


def _attribute_steps(rows: list[Row], existing: list[Row]) -> list[_Step]:
    return [
        _Step(queries.UNLINK_ATTRIBUTES, existing),
        _Step(
            queries.UPSERT_ATTRIBUTES,
            rows,
            expect=len(rows),
            missing_query=queries.MISSING_ENTITIES,
            missing_ids=tuple(r["entity_id"] for r in rows),
            what="attributes refer to entities",
        ),
    ]


def _co_occurs_steps(rows: list[Row], existing: list[Row]) -> list[_Step]:
    return [
        _Step(
            queries.UPSERT_CO_OCCURS,
            rows,
            expect=len(rows),
            missing_query=queries.MISSING_ENTITIES,
            missing_ids=tuple(x for r in rows for x in (r["source"], r["target"])),
            what="co-occurrences refer to entities",
        )
    ]


def _in_document_steps(rows: list[Row], existing: list[Row]) -> list[_Step]:
    return [
        _Step(
            queries.UPSERT_IN_DOCUMENT,
            rows,
            expect=len(rows),
            missing_query=queries.MISSING_IN_DOCUMENT_ENDS,
            missing_ids=tuple(x for r in rows for x in (r["entity_id"], r["doc_id"])),
            what="document links refer to entities or documents",
        )
    ]


DOCUMENTS: Final = Kind(
    "documents",
    queries.CHANGED_DOCUMENTS,
    functools.partial(_plain_steps, queries.UPSERT_DOCUMENTS),
)
CHUNKS: Final = Kind("chunks", queries.CHANGED_CHUNKS, _chunk_steps)
MENTIONS: Final = Kind("mentions", queries.CHANGED_MENTIONS, _mention_steps)
ATTRIBUTES: Final = Kind("attributes", queries.CHANGED_ATTRIBUTES, _attribute_steps)
CO_OCCURS: Final = Kind("co-occurrences", queries.CHANGED_CO_OCCURS, _co_occurs_steps)
IN_DOCUMENT: Final = Kind("document links", queries.CHANGED_IN_DOCUMENT, _in_document_steps)


def single(result: Any, key: str) -> int:
    """The value of ``key`` in a result's one record (a count)."""
    record = result.single(strict=True)
    value: int = record[key]
    return value
