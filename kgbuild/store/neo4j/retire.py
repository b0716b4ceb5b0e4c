"""Deleting: what of retired documents' contribution goes, and the transactions that delete.

:func:`retire_evidence` removes the retired documents' evidence entries that their current rows
(:class:`Keep`) no longer hold; the other transaction functions delete nodes and edges by id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from neo4j import ManagedTransaction, Session

from kgbuild.data import Evidence
from kgbuild.store.neo4j import queries
from kgbuild.store.neo4j.rows import Row
from kgbuild.store.neo4j.steps import single

__all__ = [
    "Keep",
    "all_ids",
    "delete_documents",
    "delete_ids",
    "delete_mentions",
    "delete_unmentioned",
    "evidence_docs",
    "ids_of",
    "retire_evidence",
]


@dataclass(frozen=True)
class Keep:
    """What stays of the retired documents: ids, and per relation/attribute id its documents."""

    documents: set[str]
    chunks: set[str]
    mentions: set[str]
    relations: dict[str, set[str]]
    attributes: dict[str, set[str]]


def evidence_docs(evidence: Sequence[Evidence]) -> set[str]:
    """The documents that ``evidence`` comes from."""
    return {e.provenance.doc_id for e in evidence}


def ids_of(session: Session, query: str, doc_ids: list[str]) -> list[str]:
    """The ids that ``query`` finds for ``doc_ids``, in a read transaction of its own."""
    found: list[str] = session.execute_read(
        lambda tx: tx.run(query, doc_ids=doc_ids).single(strict=True)["ids"]
    )
    return found


def all_ids(tx: ManagedTransaction, query: str) -> list[str]:
    """Transaction function: every id that ``query`` finds."""
    ids: list[str] = tx.run(query).single(strict=True)["ids"]
    return ids


def delete_ids(tx: ManagedTransaction, query: str, ids: list[str]) -> int:
    """Transaction function: delete what ``query`` finds by ``ids``; return how many."""
    return single(tx.run(query, ids=ids), "deleted")


def delete_documents(tx: ManagedTransaction, doc_ids: list[str]) -> int:
    """Transaction function: delete the Document nodes ``doc_ids``; return how many."""
    if not doc_ids:
        return 0
    return single(tx.run(queries.DELETE_DOCUMENTS, doc_ids=doc_ids), "deleted")


def delete_mentions(tx: ManagedTransaction, ids: list[str]) -> tuple[list[str], int]:
    """Delete mentions; return the entities they referred to and how many were deleted."""
    entity_ids: list[str] = tx.run(queries.MENTION_ENTITIES, ids=ids).single(strict=True)[
        "entity_ids"
    ]
    return entity_ids, delete_ids(tx, queries.DELETE_MENTIONS, ids)


def delete_unmentioned(tx: ManagedTransaction, entity_ids: list[str]) -> int:
    """Transaction function: delete those of ``entity_ids`` no Mention refers to."""
    return single(tx.run(queries.DELETE_UNMENTIONED_ENTITIES, entity_ids=entity_ids), "deleted")


def _stale_evidence(
    records: Iterable[Any], key: str, retired: set[str], keep: Mapping[str, set[str]]
) -> tuple[list[Any], list[Row]]:
    """Split rows holding evidence of ``retired`` documents into ones to delete and to trim.

    An entry of a retired document goes unless the row's current version (``keep``, by id)
    has evidence from that document too (then the write just replaced it).
    """
    delete: list[Any] = []
    trim: list[Row] = []
    for record in records:
        stored = set(record["doc_ids"] or [])
        drop = (stored & retired) - keep.get(record["id"], set())
        if not drop:
            continue
        if stored <= drop:
            delete.append(record[key])
        else:
            trim.append({key: record[key], **_trim_fields(drop)})
    return delete, trim


def _trim_fields(drop: set[str]) -> Row:
    """A row for the evidence merge that only removes the entries of ``drop``.

    ``write_hash`` is cleared, so that the next write of the row rewrites it whole.
    """
    row: Row = {"replace_doc_ids": sorted(drop), "props": {"write_hash": None}}
    for field in ("texts", "doc_ids", "chunk_ids", "starts", "ends"):
        row[f"ev_{field}"] = []
    for role in ("head", "tail"):
        for field in ("mentions", "starts", "ends"):
            row[f"ev_{role}_{field}"] = []
    return row


def retire_evidence(tx: ManagedTransaction, doc_ids: list[str], keep: Keep) -> dict[str, int]:
    """Transaction function: the retired documents' stale relation and attribute evidence."""
    retired = set(doc_ids)
    records = list(tx.run(queries.DOCUMENTS_RELATION_EVIDENCE, doc_ids=doc_ids))
    delete, trim = _stale_evidence(records, "eid", retired, keep.relations)
    out = {
        "relations_deleted": single(
            tx.run(queries.DELETE_RELATIONSHIPS_BY_ELEMENT_ID, eids=delete), "deleted"
        ),
        "relations_trimmed": single(
            tx.run(queries.TRIM_RELATIONSHIPS_BY_ELEMENT_ID, rows=trim), "trimmed"
        ),
    }
    records = list(tx.run(queries.DOCUMENTS_ATTRIBUTE_EVIDENCE, doc_ids=doc_ids))
    delete, trim = _stale_evidence(records, "id", retired, keep.attributes)
    out["attributes_deleted"] = delete_ids(tx, queries.DELETE_ATTRIBUTES, delete)
    out["attributes_trimmed"] = single(tx.run(queries.TRIM_ATTRIBUTES, rows=trim), "trimmed")
    return out
