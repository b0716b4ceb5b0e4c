"""A small invented graph for the explorer tests, built through the project's own data models.

Three documents (a file without a title, a JSON Lines record with a metadata title, one
without), eight entities: an organisation with three relations, an attribute and an alias;
people and places with one relation each; "Quill Capital" (no relation, a name that starts
like "Quillon"); "Ines Okafor", who has no relation at all but shares sentences with others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

from kgbuild.data import (
    Attribute,
    Chunk,
    Document,
    Entity,
    Evidence,
    GraphDelta,
    Mention,
    Provenance,
    Relation,
    Span,
)
from kgbuild.graph.build import build_graph
from kgbuild.ids import content_hash, stable_id

__all__ = ["ENTITIES", "MERGES", "SmallGraph", "chain_graph", "crowd_graph", "small_graph"]

ENTITIES = {
    "quillon": ("ORG", "Quillon Robotics", ("Quillon",)),
    "marta": ("PER", "Márta Velasquez", ("Marta Velasquez",)),
    "tobin": ("PER", "Tobin Achebe", ()),
    "lisbon": ("LOC", "Lisbon", ()),
    "harbor": ("ORG", "Harborline Freight", ("Harborline",)),
    "ostrava": ("LOC", "Ostrava", ()),
    "quill": ("ORG", "Quill Capital", ()),
    "ines": ("PER", "Ines Okafor", ()),
}
"""key -> (label, name, other names)."""

# document id, source, metadata, sentences: (text, [(key, surface form)])
_DOCUMENTS: list[tuple[str, str, dict[str, str], list[tuple[str, list[tuple[str, str]]]]]] = [
    (
        "rec-1",
        "/data/news.jsonl:1",
        {"title": "Quillon opens a Lisbon office"},
        [
            (
                "Marta Velasquez works for Quillon Robotics in Lisbon .",
                [
                    ("marta", "Marta Velasquez"),
                    ("quillon", "Quillon Robotics"),
                    ("lisbon", "Lisbon"),
                ],
            ),
            ("Quillon opened its office in 2019 .", [("quillon", "Quillon")]),
        ],
    ),
    (
        "notes/harbor.txt",
        "/data/notes/harbor.txt",
        {},
        [
            (
                "Tobin Achebe works for Quillon Robotics .",
                [("tobin", "Tobin Achebe"), ("quillon", "Quillon Robotics")],
            ),
            (
                "Ines Okafor met Harborline Freight in Ostrava .",
                [("ines", "Ines Okafor"), ("harbor", "Harborline Freight"), ("ostrava", "Ostrava")],
            ),
        ],
    ),
    (
        "rec-2",
        "/data/news.jsonl:2",
        {},
        [
            (
                "Quill Capital and Ines Okafor spoke .",
                [("quill", "Quill Capital"), ("ines", "Ines Okafor")],
            )
        ],
    ),
]

# (head, type, tail, document, sentence index)
_RELATIONS = [
    ("marta", "WORKS_FOR", "quillon", "rec-1", 0),
    ("quillon", "HEADQUARTERED_IN", "lisbon", "rec-1", 0),
    ("tobin", "WORKS_FOR", "quillon", "notes/harbor.txt", 0),
    ("harbor", "HEADQUARTERED_IN", "ostrava", "notes/harbor.txt", 1),
]

MERGES = [
    {
        "rule": "short_form",
        "score": 100.0,
        "source": "Quillon",
        "source_label": "ORG",
        "target": "Quillon Robotics",
        "target_label": "ORG",
        "doc_ids": ["rec-1"],
    }
]
"""A merge record in the shape resolution writes on entity nodes (``merges``)."""


def entity_id(key: str) -> str:
    """The id of an entity of :data:`ENTITIES`."""
    label, name, _ = ENTITIES[key]
    return stable_id("ent", label, name)


@dataclass
class SmallGraph:
    """The graph's parts: what the Neo4j writer takes, and the documents' graph nodes."""

    delta: GraphDelta
    entities: list[Entity]
    documents: list[dict[str, str]]
    ids: dict[str, str] = field(default_factory=dict)

    def graph(self, *, merges: bool = False, co_occurs: bool = False) -> nx.MultiDiGraph[str]:
        """The graph as ``kgbuild build`` assembles it (optionally with merge records and a
        ``CO_OCCURS`` edge, the shapes other graph-model changes add)."""
        mention_to_entity = {m: e.id for e in self.entities for m in e.mention_ids}
        graph = build_graph(
            self.documents,
            self.entities,
            self.delta.mentions,
            mention_to_entity,
            self.delta.relations,
            attributes=self.delta.attributes,
        )
        if merges:
            graph.nodes[self.ids["quillon"]]["merges"] = MERGES
        if co_occurs:
            graph.add_edge(
                self.ids["quillon"], self.ids["ines"], key="co", type="CO_OCCURS", count=1
            )
        return graph

    def node_link(self, **options: Any) -> dict[str, Any]:
        """The graph as ``graph.json`` holds it."""
        return dict(nx.node_link_data(self.graph(**options), edges="edges"))

    def write_json(self, path: Path, **options: Any) -> Path:
        """Write ``graph.json`` (as ``kgbuild build`` does)."""
        from kgbuild.graph.export import write_node_link

        return write_node_link(self.graph(**options), path)


def _provenance(doc_id: str, chunk_id: str, start: int, end: int, stage: str) -> Provenance:
    return Provenance(
        doc_id=doc_id,
        chunk_id=chunk_id,
        span=Span(start=start, end=end),
        score=0.9,
        model="test",
        model_revision="r1",
        run_id="run-test",
        stage=stage,
    )


def small_graph() -> SmallGraph:
    """Build the graph's documents, sentences, mentions, entities, relations and attribute."""
    ids = {key: entity_id(key) for key in ENTITIES}
    docs, chunks, mentions = [], [], []
    chunk_of: dict[tuple[str, int], Chunk] = {}
    mentions_of: dict[str, list[str]] = {key: [] for key in ENTITIES}
    docs_of: dict[str, set[str]] = {key: set() for key in ENTITIES}
    for doc_id, source, metadata, sentences in _DOCUMENTS:
        text = " ".join(sentence for sentence, _ in sentences)
        docs.append(
            Document(
                id=doc_id,
                text=text,
                source=source,
                content_hash=content_hash(text),
                metadata=metadata,
            )
        )
        at = 0
        for index, (sentence, names) in enumerate(sentences):
            chunk = Chunk(
                id=stable_id("chk", doc_id, index),
                doc_id=doc_id,
                index=index,
                span=Span(start=at, end=at + len(sentence)),
                text=sentence,
            )
            chunks.append(chunk)
            chunk_of[(doc_id, index)] = chunk
            for key, surface in names:
                start = at + sentence.index(surface)
                mention = Mention(
                    id=stable_id("m", chunk.id, start),
                    text=surface,
                    label=ENTITIES[key][0],
                    provenance=_provenance(doc_id, chunk.id, start, start + len(surface), "ner"),
                )
                mentions.append(mention)
                mentions_of[key].append(mention.id)
                docs_of[key].add(doc_id)
            at += len(sentence) + 1

    def evidence(doc_id: str, index: int) -> tuple[Evidence, ...]:
        chunk = chunk_of[(doc_id, index)]
        span = chunk.span
        return (
            Evidence(
                provenance=_provenance(doc_id, chunk.id, span.start, span.end, "relations"),
                text=chunk.text,
            ),
        )

    relations = [
        Relation(
            id=stable_id("rel", ids[head], kind, ids[tail]),
            head=ids[head],
            tail=ids[tail],
            type=kind,
            score=0.8 + 0.01 * n,
            evidence=evidence(doc_id, index),
        )
        for n, (head, kind, tail, doc_id, index) in enumerate(_RELATIONS)
    ]
    attributes = [
        Attribute(
            id=stable_id("attr", ids["quillon"], "office_opened"),
            entity=ids["quillon"],
            key="office_opened",
            value="2019",
            value_type="date",
            score=0.7,
            evidence=evidence("rec-1", 1),
        )
    ]
    entities = [
        Entity(
            id=ids[key],
            label=label,
            name=name,
            aliases=aliases,
            mention_ids=tuple(mentions_of[key]),
            doc_ids=tuple(sorted(docs_of[key])),
        )
        for key, (label, name, aliases) in ENTITIES.items()
    ]
    delta = GraphDelta(
        run_id="run-test",
        documents=tuple(docs),
        chunks=tuple(chunks),
        entities=tuple(entities),
        mentions=tuple(mentions),
        relations=tuple(relations),
        attributes=tuple(attributes),
    )
    documents = [
        {
            "id": d.id,
            "source": d.source,
            "content_hash": d.content_hash,
            **{f"meta_{k}": v for k, v in d.metadata.items()},
        }
        for d in docs
    ]
    return SmallGraph(delta=delta, entities=entities, documents=documents, ids=ids)


def _organisation(
    entity_id: str,
    name: str,
    mention_id: str,
    doc_id: str,
    chunk_id: str,
    start: int,
    aliases: tuple[str, ...] = (),
) -> tuple[Mention, Entity]:
    """An organisation named once, at ``start`` of ``chunk_id``: its mention and entity."""
    provenance = _provenance(doc_id, chunk_id, start, start + len(name), "ner")
    mention = Mention(id=mention_id, text=name, label="ORG", provenance=provenance)
    entity = Entity(
        id=entity_id,
        label="ORG",
        name=name,
        aliases=aliases,
        mention_ids=(mention_id,),
        doc_ids=(doc_id,),
    )
    return mention, entity


def chain_graph(size: int, related: int) -> nx.MultiDiGraph[str]:
    """``size`` invented organisations, "Varnok 0", "Varnok 1", ..., each named in a sentence
    of its own; the first ``related`` form a chain (each works with the next), the rest have
    no relation. Entity ``i`` has the alias "V<i>"."""
    doc_id = "chain.txt"
    ids = [stable_id("ent", "ORG", f"varnok {i}") for i in range(size)]
    mentions, entities = [], []
    for i, entity in enumerate(ids):
        mention, named = _organisation(
            entity, f"Varnok {i}", f"m{i}", doc_id, f"c{i}", 100 * i, aliases=(f"V{i}",)
        )
        mentions.append(mention)
        entities.append(named)
    relations = [
        Relation(
            id=stable_id("rel", ids[i], "PARTNER_OF", ids[i + 1]),
            head=ids[i],
            tail=ids[i + 1],
            type="PARTNER_OF",
            score=0.9,
            evidence=(
                Evidence(
                    provenance=_provenance(doc_id, f"c{i}", 100 * i, 100 * i + 20, "relations"),
                    text=f"Varnok {i} works with Varnok {i + 1} .",
                ),
            ),
        )
        for i in range(related - 1)
    ]
    document = {"id": doc_id, "source": f"/data/{doc_id}", "content_hash": "h"}
    mention_to_entity = {m.id: ids[i] for i, m in enumerate(mentions)}
    return build_graph([document], entities, mentions, mention_to_entity, relations)


def crowd_graph(size: int) -> nx.MultiDiGraph[str]:
    """``size`` invented organisations, "Orvel 0", "Orvel 1", ..., all named in one sentence
    ("Orvel 0 , Orvel 1 , ..."): each is mentioned with every other one; no relation."""
    doc_id = "crowd.txt"
    names = [f"Orvel {i}" for i in range(size)]
    ids = [stable_id("ent", "ORG", name.lower()) for name in names]
    mentions, entities, at = [], [], 0
    for i, (entity, name) in enumerate(zip(ids, names, strict=True)):
        mention, named = _organisation(entity, name, f"m{i}", doc_id, "c0", at)
        at += len(name) + 3  # " , "
        mentions.append(mention)
        entities.append(named)
    document = {"id": doc_id, "source": f"/data/{doc_id}", "content_hash": "h"}
    mention_to_entity = {m.id: ids[i] for i, m in enumerate(mentions)}
    return build_graph([document], entities, mentions, mention_to_entity, [])
