"""Every Cypher statement the Neo4j store runs, as module constants.

Data always travels as parameters (``$rows``, ``$doc_ids`` ...). Labels, relationship types and
constraint names cannot be parameters, so the few ``*_TEMPLATE`` strings below take them through
:func:`str.format`; :mod:`kgbuild.store.neo4j.schema` fills them in only with names that match
``^[A-Z][A-Za-z0-9_]*$`` and belong to the allowed schema. Nothing else is ever formatted into
Cypher, except by :data:`EXPLAIN_TEMPLATE`, which prefixes a ``kgbuild cypher`` user's own query.

Graph model::

    (:Document {id, source, content_hash, lang, run_id, meta_<key> per metadata entry})
    (:Chunk {id, doc_id, index, start, end, text, page | element, element_tag})
        -[:PART_OF]->(:Document)
    (:Mention {id, text, label, start, end, score, model, model_revision, run_id, doc_id,
               chunk_id})-[:IN_CHUNK]->(:Chunk)
    (:Mention)-[:REFERS_TO]->(:Entity:<LABEL> {id, name, label, aliases})
    (:Entity)-[:<TYPE> {id, score, doc_id, chunk_id, start, end, model, run_id, evidence,
                        evidence_doc_ids, evidence_chunk_ids, evidence_starts,
                        evidence_ends, evidence_head_mentions, evidence_tail_mentions,
                        evidence_head_starts, evidence_head_ends, evidence_tail_starts,
                        evidence_tail_ends}]->(:Entity)
    (:Entity)-[:CO_OCCURS {id, count, docs}]->(:Entity)      (smaller id -> larger id)
    (:Entity)-[:IN_DOCUMENT {id, count}]->(:Document)
    (:GraphState {id: 'kgbuild', version})                    (changes with entities/mentions)
    (:Entity)-[:HAS_ATTRIBUTE]->(:Attribute {id, entity_id, key, value, value_type, score,
                                             doc_id, chunk_id, start, end, model, run_id,
                                             evidence, evidence_*})

Every node and relation the writer owns also carries ``write_hash``, a digest of the row last
written to it: a batch first asks which rows are new or changed (``CHANGED_*``) and writes only
those, so re-writing an identical batch only reads.

Relations and attributes keep one entry per evidence span in parallel lists (``evidence`` holds
the texts, offsets are document offsets); the scalar ``doc_id``/``chunk_id``/``start``/``end``
describe the first entry, ``model``/``run_id`` the latest write. A write puts the incoming
entries first, replacing the stored entries of the documents they come from, and keeps the
others, so a relation seen in several documents keeps all of them.
"""

from __future__ import annotations

from typing import Final

# -- schema -------------------------------------------------------------------------------------

#: Uniqueness constraint on ``id`` for a node label; ``{name}``/``{label}`` are validated names.
NODE_ID_CONSTRAINT_TEMPLATE: Final = (
    "CREATE CONSTRAINT {name} IF NOT EXISTS FOR (n:{label}) REQUIRE n.id IS UNIQUE"
)
#: Uniqueness constraint on ``id`` for a relationship type (Neo4j 5.7+, Community included).
REL_ID_CONSTRAINT_TEMPLATE: Final = (
    "CREATE CONSTRAINT {name} IF NOT EXISTS FOR ()-[r:{rel_type}]-() REQUIRE r.id IS UNIQUE"
)
#: Range indexes used by :data:`DELETE_DOCUMENT_MENTIONS` and :data:`DELETE_DOCUMENT_CHUNKS`.
INDEXES: Final = (
    "CREATE INDEX kg_chunk_doc_id IF NOT EXISTS FOR (n:Chunk) ON (n.doc_id)",
    "CREATE INDEX kg_mention_doc_id IF NOT EXISTS FOR (n:Mention) ON (n.doc_id)",
)
AWAIT_INDEXES: Final = "CALL db.awaitIndexes($timeout_s)"
#: The plan of a user's query (``kgbuild cypher``), checked before the query runs; the query
#: text is the user's own, which runs next anyway (see :mod:`kgbuild.store.neo4j.read_query`).
EXPLAIN_TEMPLATE: Final = "EXPLAIN {query}"
SHOW_CONSTRAINTS: Final = (
    "SHOW CONSTRAINTS YIELD name, type, entityType, labelsOrTypes, properties "
    "RETURN name, type, entityType, labelsOrTypes, properties"
)

# -- change detection ---------------------------------------------------------------------------

#: ``$keys`` is ``[{id, h}]``; returns the ids not in the graph and those whose ``write_hash``
#: differs. ``{label}`` is one of the store's own labels (see the constants below).
CHANGED_NODES_TEMPLATE: Final = """
UNWIND $keys AS k
OPTIONAL MATCH (n:{label} {{id: k.id}})
RETURN collect(CASE WHEN n IS NULL THEN k.id END) AS new_ids,
       collect(CASE WHEN n IS NOT NULL AND coalesce(n.write_hash, '') <> k.h THEN k.id END)
         AS changed_ids
"""
CHANGED_DOCUMENTS: Final = CHANGED_NODES_TEMPLATE.format(label="Document")
CHANGED_CHUNKS: Final = CHANGED_NODES_TEMPLATE.format(label="Chunk")
CHANGED_MENTIONS: Final = CHANGED_NODES_TEMPLATE.format(label="Mention")
CHANGED_ENTITIES: Final = CHANGED_NODES_TEMPLATE.format(label="Entity")
CHANGED_ATTRIBUTES: Final = CHANGED_NODES_TEMPLATE.format(label="Attribute")

#: The same for the relationships of one validated type.
CHANGED_RELATIONS_TEMPLATE: Final = """
UNWIND $keys AS k
OPTIONAL MATCH ()-[x:{rel_type} {{id: k.id}}]->()
RETURN collect(CASE WHEN x IS NULL THEN k.id END) AS new_ids,
       collect(CASE WHEN x IS NOT NULL AND coalesce(x.write_hash, '') <> k.h THEN k.id END)
         AS changed_ids
"""

# -- documents and chunks -----------------------------------------------------------------------

#: ``SET d = row.props`` (``props`` holds ``id``): the node gets exactly these properties, so
#: a metadata entry removed from the document is removed from the node.
UPSERT_DOCUMENTS: Final = """
UNWIND $rows AS row
MERGE (d:Document {id: row.id})
SET d = row.props
RETURN count(*) AS written
"""

UPSERT_CHUNKS: Final = """
UNWIND $rows AS row
MATCH (d:Document {id: row.doc_id})
MERGE (c:Chunk {id: row.id})
SET c += row.props
MERGE (c)-[:PART_OF]->(d)
RETURN count(*) AS written
"""

# -- entities -----------------------------------------------------------------------------------

#: Upsert entities of one label. ``{label}`` is the validated label; ``{remove_labels}`` is empty
#: or ``REMOVE n:A:B`` with the other allowed labels (an entity whose label changed loses the old).
UPSERT_ENTITIES_TEMPLATE: Final = """
UNWIND $rows AS row
MERGE (n:Entity {{id: row.id}})
SET n += row.props, n:{label}
{remove_labels}
RETURN count(*) AS written
"""
REMOVE_LABELS_TEMPLATE: Final = "REMOVE n:{labels}"

#: Entities that the changed-query found absent: CREATE, with their one label; no lookup or
#: label removal. The uniqueness constraint on ``id`` still refuses a duplicate if a retried
#: batch had committed.
CREATE_ENTITIES_TEMPLATE: Final = """
UNWIND $rows AS row
CREATE (n:Entity:{label} {{id: row.id}})
SET n += row.props
RETURN count(*) AS written
"""

# -- mentions -----------------------------------------------------------------------------------

UPSERT_MENTIONS: Final = """
UNWIND $rows AS row
MATCH (c:Chunk {id: row.chunk_id})
MERGE (m:Mention {id: row.id})
SET m += row.props
MERGE (m)-[:IN_CHUNK]->(c)
RETURN count(*) AS written
"""

#: Drop REFERS_TO links that no longer hold (the mention now refers to another entity or none).
UNLINK_MENTIONS: Final = """
UNWIND $rows AS row
MATCH (m:Mention {id: row.id})-[old:REFERS_TO]->(e:Entity)
WHERE row.entity_id IS NULL OR e.id <> row.entity_id
DELETE old
"""

#: Drop the IN_CHUNK link of a mention whose chunk changed (its document was rewritten: new
#: chunk ids); the old chunk itself goes with the old contribution.
UNLINK_MENTION_CHUNKS: Final = """
UNWIND $rows AS row
MATCH (m:Mention {id: row.id})-[old:IN_CHUNK]->(c:Chunk)
WHERE c.id <> row.chunk_id
DELETE old
"""

LINK_MENTIONS: Final = """
UNWIND $rows AS row
MATCH (m:Mention {id: row.id})
MATCH (e:Entity {id: row.entity_id})
MERGE (m)-[:REFERS_TO]->(e)
RETURN count(*) AS written
"""

# -- evidence lists (shared by relations and attributes) ----------------------------------------

#: Parallel evidence lists: (property, row field, value for a stored entry that lacks it).
_EVIDENCE_LISTS: Final = (
    ("evidence", "ev_texts", "''"),
    ("evidence_doc_ids", "ev_doc_ids", "''"),
    ("evidence_chunk_ids", "ev_chunk_ids", "''"),
    ("evidence_starts", "ev_starts", "-1"),
    ("evidence_ends", "ev_ends", "-1"),
)
#: Relations also name, per evidence entry, the head's and the tail's mention (id and offsets;
#: ``''``/``-1`` where unknown).
_MENTION_LISTS: Final = (
    ("evidence_head_mentions", "ev_head_mentions", "''"),
    ("evidence_tail_mentions", "ev_tail_mentions", "''"),
    ("evidence_head_starts", "ev_head_starts", "-1"),
    ("evidence_head_ends", "ev_head_ends", "-1"),
    ("evidence_tail_starts", "ev_tail_starts", "-1"),
    ("evidence_tail_ends", "ev_tail_ends", "-1"),
)


def _merge_evidence(lists: tuple[tuple[str, str, str], ...]) -> str:
    """Cypher merging incoming evidence into ``x`` (see :data:`_MERGE_EVIDENCE`)."""
    merged = ",\n     ".join(
        f"row.{field} + [i IN keep | coalesce(x.{prop}[i], {default})] AS {field}"
        for prop, field, default in lists
    )
    assigned = ",\n    ".join(f"x.{prop} = {field}" for prop, field, _ in lists)
    return f"""
WITH x, row, [i IN range(0, size(coalesce(x.evidence_doc_ids, [])) - 1)
              WHERE NOT x.evidence_doc_ids[i] IN row.replace_doc_ids] AS keep
WITH x, row,
     {merged}
SET x += row.props,
    {assigned},
    x.doc_id = ev_doc_ids[0],
    x.chunk_id = ev_chunk_ids[0],
    x.start = ev_starts[0],
    x.end = ev_ends[0]
"""


#: Merge incoming evidence into ``x``: the incoming entries (``row.ev_*``) come first, then the
#: stored entries whose document is not in ``row.replace_doc_ids``; the scalar ``doc_id``,
#: ``chunk_id``, ``start``, ``end`` describe the first entry. ``row.props`` (score, model, run_id,
#: write_hash) is set as given. Only a few string lists per relation: Neo4j stores each string
#: list in its own 128-byte array block, the main cost in store size and write time.
_MERGE_EVIDENCE: Final = _merge_evidence(_EVIDENCE_LISTS)
#: The same for relations, whose entries also name their head and tail mentions.
_MERGE_RELATION_EVIDENCE: Final = _merge_evidence(_EVIDENCE_LISTS + _MENTION_LISTS)

#: A ``row`` for :data:`_MERGE_EVIDENCE` or :data:`_MERGE_RELATION_EVIDENCE` that only
#: removes the entries of ``$doc_ids`` (and clears ``write_hash``, so that a later identical write restores them).
_TRIM_ROW: Final = (
    "{replace_doc_ids: $doc_ids, props: {write_hash: null}, "
    + ", ".join(f"{field}: []" for _, field, _ in _EVIDENCE_LISTS + _MENTION_LISTS)
    + "} AS row"
)

# -- relations (one query text per validated relationship type) ---------------------------------

#: Delete relationships whose id now joins other entities (re-resolved endpoints).
UNLINK_RELATIONS_TEMPLATE: Final = """
UNWIND $rows AS row
MATCH (a)-[r:{rel_type} {{id: row.id}}]->(b)
WHERE a.id <> row.head OR b.id <> row.tail
DELETE r
"""

UPSERT_RELATIONS_TEMPLATE: Final = (
    """
UNWIND $rows AS row
MATCH (a:Entity {{id: row.head}})
MATCH (b:Entity {{id: row.tail}})
MERGE (a)-[x:{rel_type} {{id: row.id}}]->(b)
"""
    + _MERGE_RELATION_EVIDENCE.replace("{", "{{").replace("}", "}}")
    + """
RETURN count(*) AS written
"""
)

#: Relationships that the changed-query found absent: CREATE, no evidence to merge. The
#: uniqueness constraint on ``id`` still refuses a duplicate if a retried batch had committed.
CREATE_RELATIONS_TEMPLATE: Final = """
UNWIND $rows AS row
MATCH (a:Entity {{id: row.head}})
MATCH (b:Entity {{id: row.tail}})
CREATE (a)-[x:{rel_type} {{id: row.id}}]->(b)
SET x += row.props,
    x.evidence = row.ev_texts,
    x.evidence_doc_ids = row.ev_doc_ids,
    x.evidence_chunk_ids = row.ev_chunk_ids,
    x.evidence_starts = row.ev_starts,
    x.evidence_ends = row.ev_ends,
    x.evidence_head_mentions = row.ev_head_mentions,
    x.evidence_tail_mentions = row.ev_tail_mentions,
    x.evidence_head_starts = row.ev_head_starts,
    x.evidence_head_ends = row.ev_head_ends,
    x.evidence_tail_starts = row.ev_tail_starts,
    x.evidence_tail_ends = row.ev_tail_ends,
    x.doc_id = row.ev_doc_ids[0],
    x.chunk_id = row.ev_chunk_ids[0],
    x.start = row.ev_starts[0],
    x.end = row.ev_ends[0]
RETURN count(*) AS written
"""

DELETE_DOCS_RELATIONS_TEMPLATE: Final = """
MATCH ()-[r:{rel_type}]->()
WHERE size(coalesce(r.evidence_doc_ids, [])) > 0
  AND all(d IN r.evidence_doc_ids WHERE d IN $doc_ids)
DELETE r
RETURN count(*) AS deleted
"""

#: Edges of a symmetric relation type that run from the larger entity id to the smaller: a
#: symmetric type is one edge per pair, from the smaller id (:func:`kgbuild.graph.build.
#: resolve_relations`), so these were written before it was (an upgrade, a schema that
#: made the type symmetric) and the pair's current edge holds their evidence.
DELETE_REVERSED_RELATIONS_TEMPLATE: Final = """
MATCH (h:Entity)-[r:{rel_type}]->(t:Entity)
WHERE h.id > t.id
DELETE r
RETURN count(*) AS deleted
"""

TRIM_DOCS_RELATIONS_TEMPLATE: Final = (
    """
MATCH ()-[x:{rel_type}]->()
WHERE any(d IN x.evidence_doc_ids WHERE d IN $doc_ids)
WITH x, """
    + _TRIM_ROW.replace("{", "{{").replace("}", "}}")
    + _MERGE_RELATION_EVIDENCE.replace("{", "{{").replace("}", "}}")
    + """
RETURN count(*) AS trimmed
"""
)

# -- derived edges: CO_OCCURS between entities, IN_DOCUMENT to documents ---------------------
#
# Recomputed from the current mentions on every build (kgbuild.graph.cooccurrence): the writer
# upserts the current edges (unchanged ones only read, by write_hash) and deletes the others.

CHANGED_CO_OCCURS: Final = CHANGED_RELATIONS_TEMPLATE.format(rel_type="CO_OCCURS")
CHANGED_IN_DOCUMENT: Final = CHANGED_RELATIONS_TEMPLATE.format(rel_type="IN_DOCUMENT")

UPSERT_CO_OCCURS: Final = """
UNWIND $rows AS row
MATCH (a:Entity {id: row.source})
MATCH (b:Entity {id: row.target})
MERGE (a)-[x:CO_OCCURS {id: row.id}]->(b)
SET x += row.props
RETURN count(*) AS written
"""

UPSERT_IN_DOCUMENT: Final = """
UNWIND $rows AS row
MATCH (e:Entity {id: row.entity_id})
MATCH (d:Document {id: row.doc_id})
MERGE (e)-[x:IN_DOCUMENT {id: row.id}]->(d)
SET x += row.props
RETURN count(*) AS written
"""

#: Rows of UPSERT_IN_DOCUMENT whose entity or document is missing (for the error message).
MISSING_IN_DOCUMENT_ENDS: Final = """
UNWIND $ids AS id
OPTIONAL MATCH (e:Entity {id: id})
OPTIONAL MATCH (d:Document {id: id})
WITH id, e, d WHERE e IS NULL AND d IS NULL
RETURN collect(DISTINCT id) AS missing
"""

CO_OCCURS_IDS: Final = "MATCH ()-[x:CO_OCCURS]->() RETURN collect(x.id) AS ids"
IN_DOCUMENT_IDS: Final = "MATCH ()-[x:IN_DOCUMENT]->() RETURN collect(x.id) AS ids"

DELETE_CO_OCCURS: Final = """
UNWIND $ids AS id
MATCH ()-[x:CO_OCCURS {id: id}]->()
DELETE x
RETURN count(*) AS deleted
"""

DELETE_IN_DOCUMENT: Final = """
UNWIND $ids AS id
MATCH ()-[x:IN_DOCUMENT {id: id}]->()
DELETE x
RETURN count(*) AS deleted
"""

#: A new version of the graph's entities and mentions (the question-answering name index
#: reads them again when it changes).
BUMP_GRAPH_VERSION: Final = """
MERGE (s:GraphState {id: 'kgbuild'})
SET s.version = randomUUID()
"""

# -- attributes ---------------------------------------------------------------------------------

UNLINK_ATTRIBUTES: Final = """
UNWIND $rows AS row
MATCH (e:Entity)-[h:HAS_ATTRIBUTE]->(:Attribute {id: row.id})
WHERE e.id <> row.entity_id
DELETE h
"""

UPSERT_ATTRIBUTES: Final = (
    """
UNWIND $rows AS row
MATCH (e:Entity {id: row.entity_id})
MERGE (x:Attribute {id: row.id})
MERGE (e)-[:HAS_ATTRIBUTE]->(x)
"""
    + _MERGE_EVIDENCE
    + """
RETURN count(*) AS written
"""
)

DELETE_DOCS_ATTRIBUTES: Final = """
MATCH (x:Attribute)
WHERE size(coalesce(x.evidence_doc_ids, [])) > 0
  AND all(d IN x.evidence_doc_ids WHERE d IN $doc_ids)
DETACH DELETE x
RETURN count(*) AS deleted
"""

TRIM_DOCS_ATTRIBUTES: Final = (
    """
MATCH (x:Attribute)
WHERE any(d IN x.evidence_doc_ids WHERE d IN $doc_ids)
WITH x, """
    + _TRIM_ROW
    + _MERGE_EVIDENCE
    + """
RETURN count(*) AS trimmed
"""
)

# -- document removal (one transaction per group of documents) ----------------------------------

DOCUMENT_MENTION_ENTITIES: Final = """
UNWIND $doc_ids AS doc_id
MATCH (:Mention {doc_id: doc_id})-[:REFERS_TO]->(e:Entity)
RETURN collect(DISTINCT e.id) AS entity_ids
"""

DELETE_DOCUMENT_MENTIONS: Final = """
UNWIND $doc_ids AS doc_id
MATCH (m:Mention {doc_id: doc_id})
DETACH DELETE m
RETURN count(*) AS deleted
"""

DELETE_DOCUMENT_CHUNKS: Final = """
UNWIND $doc_ids AS doc_id
MATCH (c:Chunk {doc_id: doc_id})
DETACH DELETE c
RETURN count(*) AS deleted
"""

DELETE_DOCUMENTS: Final = """
UNWIND $doc_ids AS doc_id
MATCH (d:Document {id: doc_id})
DETACH DELETE d
RETURN count(*) AS deleted
"""

#: Delete the given entities that no Mention refers to any more, with their attributes.
DELETE_UNMENTIONED_ENTITIES: Final = """
UNWIND $entity_ids AS entity_id
MATCH (e:Entity {id: entity_id})
WHERE NOT EXISTS { MATCH (e)<-[:REFERS_TO]-(:Mention) }
CALL (e) {
  MATCH (e)-[:HAS_ATTRIBUTE]->(x:Attribute)
  DETACH DELETE x
}
DETACH DELETE e
RETURN count(*) AS deleted
"""

#: Every Entity that no Mention refers to (for a full clean-up).
UNMENTIONED_ENTITY_IDS: Final = """
MATCH (e:Entity)
WHERE NOT EXISTS { MATCH (e)<-[:REFERS_TO]-(:Mention) }
RETURN collect(e.id) AS entity_ids
"""

# -- retiring an old contribution (after the new one is written) -------------------------------
#
# Rewriting a document writes its new contribution beside the old one (MERGE on content-hash
# ids: what did not change is the same node) and only then deletes what the old contribution
# held and the new one does not, so a reader never sees the document missing. The writer reads
# the candidates below, decides in Python what is stale, and deletes or trims by id, in the
# same transaction for relationships (their element ids are only used within it).

#: Ids of the Mention nodes of ``$doc_ids`` (``kg_mention_doc_id`` index).
DOCUMENT_MENTION_IDS: Final = """
UNWIND $doc_ids AS doc_id
MATCH (m:Mention {doc_id: doc_id})
RETURN collect(m.id) AS ids
"""

#: Ids of the Chunk nodes of ``$doc_ids`` (``kg_chunk_doc_id`` index).
DOCUMENT_CHUNK_IDS: Final = """
UNWIND $doc_ids AS doc_id
MATCH (c:Chunk {doc_id: doc_id})
RETURN collect(c.id) AS ids
"""

#: Entities that the Mention nodes ``$ids`` refer to (to prune once those are gone).
MENTION_ENTITIES: Final = """
UNWIND $ids AS id
MATCH (:Mention {id: id})-[:REFERS_TO]->(e:Entity)
RETURN collect(DISTINCT e.id) AS entity_ids
"""

DELETE_MENTIONS: Final = """
UNWIND $ids AS id
MATCH (m:Mention {id: id})
DETACH DELETE m
RETURN count(*) AS deleted
"""

DELETE_CHUNKS: Final = """
UNWIND $ids AS id
MATCH (c:Chunk {id: id})
DETACH DELETE c
RETURN count(*) AS deleted
"""

#: Relationships between entities that hold evidence from ``$doc_ids`` (any relation type).
DOCUMENTS_RELATION_EVIDENCE: Final = """
MATCH (:Entity)-[x]->(:Entity)
WHERE any(d IN coalesce(x.evidence_doc_ids, []) WHERE d IN $doc_ids)
RETURN elementId(x) AS eid, x.id AS id, x.evidence_doc_ids AS doc_ids
"""

DELETE_RELATIONSHIPS_BY_ELEMENT_ID: Final = """
UNWIND $eids AS eid
MATCH ()-[x]->() WHERE elementId(x) = eid
DELETE x
RETURN count(*) AS deleted
"""

#: ``row.eid`` plus a :data:`_MERGE_RELATION_EVIDENCE` row with no incoming entries, whose
#: ``replace_doc_ids`` are the documents whose entries go.
TRIM_RELATIONSHIPS_BY_ELEMENT_ID: Final = (
    """
UNWIND $rows AS row
MATCH ()-[x]->() WHERE elementId(x) = row.eid
"""
    + _MERGE_RELATION_EVIDENCE
    + """
RETURN count(*) AS trimmed
"""
)

#: Attribute nodes that hold evidence from ``$doc_ids``.
DOCUMENTS_ATTRIBUTE_EVIDENCE: Final = """
MATCH (x:Attribute)
WHERE any(d IN coalesce(x.evidence_doc_ids, []) WHERE d IN $doc_ids)
RETURN x.id AS id, x.evidence_doc_ids AS doc_ids
"""

DELETE_ATTRIBUTES: Final = """
UNWIND $ids AS id
MATCH (x:Attribute {id: id})
DETACH DELETE x
RETURN count(*) AS deleted
"""

TRIM_ATTRIBUTES: Final = (
    """
UNWIND $rows AS row
MATCH (x:Attribute {id: row.id})
"""
    + _MERGE_EVIDENCE
    + """
RETURN count(*) AS trimmed
"""
)

# -- diagnostics --------------------------------------------------------------------------------

#: Id and source of the Document nodes among ``$ids`` (which documents the graph really holds).
DOCUMENT_SOURCES: Final = """
UNWIND $ids AS id
MATCH (n:Document {id: id})
RETURN collect([n.id, n.source]) AS found
"""

#: A document unchanged but read from another file (a JSON Lines record moved) keeps its node.
SET_DOCUMENT_SOURCES: Final = """
UNWIND $rows AS row
MATCH (n:Document {id: row.id})
SET n.source = row.source
RETURN count(n) AS changed
"""

MISSING_DOCUMENTS: Final = """
UNWIND $ids AS id
OPTIONAL MATCH (n:Document {id: id})
WITH id, n WHERE n IS NULL
RETURN collect(DISTINCT id) AS missing
"""

MISSING_CHUNKS: Final = """
UNWIND $ids AS id
OPTIONAL MATCH (n:Chunk {id: id})
WITH id, n WHERE n IS NULL
RETURN collect(DISTINCT id) AS missing
"""

MISSING_ENTITIES: Final = """
UNWIND $ids AS id
OPTIONAL MATCH (n:Entity {id: id})
WITH id, n WHERE n IS NULL
RETURN collect(DISTINCT id) AS missing
"""

#: Node counts per structural label (served from the count store, no scan).
COUNT_NODES: Final = """
MATCH (n:Document) RETURN 'Document' AS label, count(n) AS n
UNION ALL MATCH (n:Chunk) RETURN 'Chunk' AS label, count(n) AS n
UNION ALL MATCH (n:Mention) RETURN 'Mention' AS label, count(n) AS n
UNION ALL MATCH (n:Entity) RETURN 'Entity' AS label, count(n) AS n
UNION ALL MATCH (n:Attribute) RETURN 'Attribute' AS label, count(n) AS n
"""

COUNT_RELATIONSHIPS: Final = """
MATCH ()-[r]->()
RETURN type(r) AS type, count(*) AS n
"""

# -- question answering (read only; kgbuild.qa.neo4j_store) -------------------------------------

#: Full-text index over entity names and aliases (accent-folding analyzer) for entity linking.
QA_FULLTEXT_INDEX: Final = "kg_entity_names"
CREATE_QA_FULLTEXT_INDEX: Final = """
CREATE FULLTEXT INDEX kg_entity_names IF NOT EXISTS
FOR (n:Entity) ON EACH [n.name, n.aliases]
OPTIONS {indexConfig: {`fulltext.analyzer`: 'standard-folding'}}
"""
#: Whether the full-text index exists and is online.
QA_FULLTEXT_STATE: Final = """
SHOW FULLTEXT INDEXES YIELD name, state WHERE name = $name RETURN state
"""

#: ``$query`` is a Lucene query built from escaped question words only.
QA_SEARCH_ENTITIES: Final = """
CALL db.index.fulltext.queryNodes($index, $query, {limit: $limit}) YIELD node, score
RETURN node.id AS id, node.name AS name, node.label AS label,
       coalesce(node.aliases, []) AS aliases,
       COUNT { (node)<-[:REFERS_TO]-(:Mention) } AS mention_count, score
ORDER BY score DESC, mention_count DESC, id
"""

QA_ENTITY: Final = """
MATCH (e:Entity {id: $id})
RETURN e.id AS id, e.name AS name, e.label AS label, coalesce(e.aliases, []) AS aliases
"""

#: Mentions of an entity with their chunks, in document and offset order.
QA_ENTITY_MENTIONS: Final = """
MATCH (e:Entity {id: $id})<-[:REFERS_TO]-(m:Mention)
RETURN m.doc_id AS doc_id, m.chunk_id AS chunk_id, m.start AS start, m.end AS end,
       m.text AS text, m.score AS score
ORDER BY doc_id, start, end
"""

QA_ENTITY_ATTRIBUTES: Final = """
MATCH (e:Entity {id: $id})-[:HAS_ATTRIBUTE]->(x:Attribute)
RETURN x.key AS key, x.value AS value, x.value_type AS value_type, x.score AS score,
       coalesce(x.evidence, []) AS texts, coalesce(x.evidence_doc_ids, []) AS doc_ids,
       coalesce(x.evidence_chunk_ids, []) AS chunk_ids, coalesce(x.evidence_starts, []) AS starts,
       coalesce(x.evidence_ends, []) AS ends
ORDER BY key
"""

#: Relations between entities touching ``$id`` (both directions; derived CO_OCCURS excluded).
QA_ENTITY_RELATIONS: Final = """
MATCH (e:Entity {id: $id})-[r:!CO_OCCURS]-(o:Entity)
WITH r, startNode(r) AS h, endNode(r) AS t
RETURN r.id AS id, type(r) AS type, h.id AS head_id, h.name AS head_name, h.label AS head_label,
       t.id AS tail_id, t.name AS tail_name, t.label AS tail_label, r.score AS score,
       coalesce(r.evidence, []) AS texts, coalesce(r.evidence_doc_ids, []) AS doc_ids,
       coalesce(r.evidence_chunk_ids, []) AS chunk_ids, coalesce(r.evidence_starts, []) AS starts,
       coalesce(r.evidence_ends, []) AS ends
"""

#: Relations of one type from (``$outgoing``) or to an entity; the type is a parameter.
QA_RELATED: Final = """
MATCH (e:Entity {id: $id})-[r]-(o:Entity)
WHERE type(r) = $rel_type AND ($outgoing IS NULL OR (startNode(r) = e) = $outgoing)
WITH r, startNode(r) AS h, endNode(r) AS t
RETURN r.id AS id, type(r) AS type, h.id AS head_id, h.name AS head_name, h.label AS head_label,
       t.id AS tail_id, t.name AS tail_name, t.label AS tail_label, r.score AS score,
       coalesce(r.evidence, []) AS texts, coalesce(r.evidence_doc_ids, []) AS doc_ids,
       coalesce(r.evidence_chunk_ids, []) AS chunk_ids, coalesce(r.evidence_starts, []) AS starts,
       coalesce(r.evidence_ends, []) AS ends
"""

QA_SENTENCES: Final = """
UNWIND $ids AS id
MATCH (c:Chunk {id: id})
RETURN c.id AS chunk_id, c.doc_id AS doc_id, c.start AS start, c.end AS end, c.text AS text
"""

QA_COUNTS: Final = """
CALL () { MATCH (n:Entity) RETURN count(n) AS entities }
CALL () { MATCH (n:Document) RETURN count(n) AS documents }
CALL () { MATCH (:Entity)-[r:!CO_OCCURS]->(:Entity) RETURN count(r) AS relations }
RETURN entities, documents, relations
"""

# -- explorer (read only; kgbuild.qa.neo4j_store, kgbuild.explorer) ---------------------------
#
# ``$skip`` lists the relationship types between entities that are not extracted relations
# (co-mentions); a node's ``degree`` counts the others, both directions.

#: Type-ahead: ``$query`` is a Lucene prefix query built from folded, escaped typed words only.
EXPLORER_SUGGEST: Final = """
CALL db.index.fulltext.queryNodes($index, $query, {limit: $limit}) YIELD node
RETURN node.id AS id, node.name AS name, node.label AS label,
       coalesce(node.aliases, []) AS aliases,
       COUNT { (node)<-[:REFERS_TO]-() } AS mention_count,
       COUNT { (node)-[r]-(:Entity) WHERE NOT type(r) IN $skip } AS degree
"""

EXPLORER_ENTITY_NODES: Final = """
UNWIND $ids AS id
MATCH (e:Entity {id: id})
RETURN e.id AS id, e.name AS name, e.label AS label, coalesce(e.aliases, []) AS aliases,
       COUNT { (e)<-[:REFERS_TO]-() } AS mention_count,
       COUNT { (e)-[r]-(:Entity) WHERE NOT type(r) IN $skip } AS degree
"""

#: The entities with most relations, then most mentions (reads every entity once).
EXPLORER_TOP_ENTITIES: Final = """
MATCH (e:Entity)
WITH e, COUNT { (e)-[r]-(:Entity) WHERE NOT type(r) IN $skip } AS degree,
     COUNT { (e)<-[:REFERS_TO]-() } AS mention_count
ORDER BY degree DESC, mention_count DESC, e.id
LIMIT $limit
RETURN e.id AS id, e.name AS name, e.label AS label, coalesce(e.aliases, []) AS aliases,
       mention_count, degree
"""

EXPLORER_RELATIONS_AMONG: Final = """
MATCH (a:Entity)-[r]->(b:Entity)
WHERE a.id IN $ids AND b.id IN $ids AND NOT type(r) IN $skip
RETURN r.id AS id, type(r) AS type, a.id AS source, b.id AS target, r.score AS score
ORDER BY source, type, target, id
"""

#: The chunks each entity is mentioned in, in document and offset order, at most ``$per``.
EXPLORER_MENTION_CHUNKS: Final = """
UNWIND $ids AS id
MATCH (e:Entity {id: id})<-[:REFERS_TO]-(m:Mention)
WITH id, m ORDER BY m.doc_id, m.start, m.end
WITH id, collect(m.chunk_id) AS chunk_ids
RETURN id, chunk_ids
"""

#: Every entity mention in the chunks (Chunk ids are constrained, so indexed).
EXPLORER_CHUNK_MENTIONS: Final = """
UNWIND $ids AS chunk_id
MATCH (:Chunk {id: chunk_id})<-[:IN_CHUNK]-(m:Mention)-[:REFERS_TO]->(e:Entity)
RETURN e.id AS entity_id, e.name AS name, e.label AS label, m.doc_id AS doc_id,
       chunk_id, m.start AS start, m.end AS end
"""

EXPLORER_DOCUMENTS: Final = """
UNWIND $ids AS id
MATCH (d:Document {id: id})
RETURN d.id AS id, d.source AS source, d.meta_title AS title
"""

#: The entity's merge records (JSON text written by resolution; absent when there are none).
EXPLORER_MERGES: Final = """
MATCH (e:Entity {id: $id})
RETURN e.merges AS merges
"""

#: The graph's version (changed by every write of entities or mentions) and entity count:
#: the name index is read again when either changes.
QA_GRAPH_VERSION: Final = """
CALL () { MATCH (n:Entity) RETURN count(n) AS entities }
OPTIONAL MATCH (s:GraphState {id: 'kgbuild'})
RETURN s.version AS version, entities
"""

#: Every entity's names and mention count, for the name index that links questions.
QA_ENTITY_NAMES: Final = """
MATCH (e:Entity)
RETURN e.id AS id, e.name AS name, e.label AS label, coalesce(e.aliases, []) AS aliases,
       COUNT { (e)<-[:REFERS_TO]-(:Mention) } AS mention_count
"""
