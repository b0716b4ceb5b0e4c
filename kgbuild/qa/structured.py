"""Questions that are graph queries: lists and counts over one relation of one entity.

"Which people work for Acme?", "How many companies did Northwind acquire?": a question
word pattern (``how many``, ``which/what <type noun>``, ``list``/``name``), a relation
trigger word, and one linked entity decide a one-hop query; the entity's side of the
relation follows from word order (subject before the verb), passive voice and the
schema's domain and range.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from kgbuild.qa.models import EntityHit, RelationFact
from kgbuild.qa.text import fold

__all__ = ["GraphQuery", "parse_graph_query"]

_TRIGGERS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("WORKS_FOR", "EMPLOYER"), r"\b(work|works|worked|working|employ\w*|staff)\b"),
    (("FOUNDED_BY",), r"\b(found|founded|founder|founders|co-?founded|started|set up)\b"),
    (("HEADQUARTERED_IN", "HEADQUARTERS_LOCATION"), r"\b(headquarter\w*|based)\b"),
    (("BORN_IN", "PLACE_OF_BIRTH"), r"\bborn\b"),
    (("LIVES_IN", "RESIDENCE"), r"\b(live|lives|lived|living|reside\w*)\b"),
    (("LOCATED_IN",), r"\blocated\b"),
    (("ACQUIRED",), r"\b(acquir\w*|bought|buy|buys|purchas\w*|took over)\b"),
    (("INVESTED_IN",), r"\b(invest\w*|backed|funded)\b"),
    (("PARTNER_OF",), r"\b(partner\w*|collaborat\w*)\b"),
    (("KILLED",), r"\b(kill\w*|murder\w*)\b"),
    (("DIRECTOR",), r"\b(direct|directed|directs|director|directors)\b"),
    (("AUTHOR",), r"\b(wrote|written|writes|author|authors)\b"),
    (("CAST_MEMBER",), r"\b(starred|stars|starring|cast)\b"),
    (("PUBLISHER",), r"\b(publish\w*)\b"),
)
"""Trigger words and the relation types they ask about: the business schema's name first,
then the Wikidata schema's (the first one the graph holds relations of answers)."""
#: Relation types whose active verb has the relation's tail as subject ("X founded Y").
_SUBJECT_IS_TAIL = frozenset({"FOUNDED_BY", "DIRECTOR", "AUTHOR", "CAST_MEMBER", "PUBLISHER"})
_PER, _ORG, _LOC, _MISC = (frozenset({t}) for t in ("PER", "ORG", "LOC", "MISC"))
#: Domain (head labels) and range (tail labels) of the relation types.
_DOMAIN_RANGE: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "WORKS_FOR": (_PER, _ORG),
    "EMPLOYER": (_PER, _ORG),
    "FOUNDED_BY": (frozenset({"ORG", "MISC"}), _PER),
    "HEADQUARTERED_IN": (_ORG, _LOC),
    "HEADQUARTERS_LOCATION": (_ORG, _LOC),
    "LOCATED_IN": (frozenset({"LOC", "ORG"}), _LOC),
    "LIVES_IN": (_PER, _LOC),
    "RESIDENCE": (_PER, _LOC),
    "BORN_IN": (_PER, _LOC),
    "PLACE_OF_BIRTH": (_PER, _LOC),
    "ACQUIRED": (_ORG, _ORG),
    "INVESTED_IN": (frozenset({"ORG", "PER"}), _ORG),
    "PARTNER_OF": (_ORG, _ORG),
    "KILLED": (_PER, _PER),
    "DIRECTOR": (_MISC, _PER),
    "AUTHOR": (_MISC, _PER),
    "CAST_MEMBER": (_MISC, _PER),
    "PUBLISHER": (_MISC, _ORG),
}
_TYPE_NOUNS = {
    "PER": "person people persons individuals founders founder employees employee executives "
    "executive engineers engineer",
    "ORG": "company companies firm firms organisation organisations organization organizations "
    "startup startups investor investors businesses business",
    "LOC": "city cities place places country countries location locations",
}
_NOUN_LABEL = {noun: label for label, nouns in _TYPE_NOUNS.items() for noun in nouns.split()}
_SINGULAR_WORDS = (
    "person company firm organisation organization startup investor business city place "
    "country location founder employee executive engineer"
)
_SINGULAR = frozenset(_SINGULAR_WORDS.split())


@dataclass(frozen=True)
class GraphQuery:
    """A one-hop query: relations of ``rel_types`` from (``outgoing``) or to ``entity``.

    ``rel_types`` are the same relation in the schemas kgbuild ships (``WORKS_FOR``,
    ``EMPLOYER``); the first one the graph holds relations of answers. A symmetric type
    is stored once per pair, from either side: it is read both ways; the edges of a type's
    ``inverse`` in the schema are read the other way (the same facts).
    """

    entity: EntityHit
    rel_types: tuple[str, ...]
    outgoing: bool
    mode: Literal["list", "count", "one"]
    answer_label: str | None

    def answers(self, relations: list[RelationFact]) -> list[RelationFact]:
        """The relations whose far end has the wanted label (all when no label is wanted)."""
        if self.answer_label is None:
            return relations
        return [r for r in relations if self.far_end(r)[1] == self.answer_label]

    def far_end(self, relation: RelationFact) -> tuple[str, str]:
        """The name and label of the relation's other entity than the asked one."""
        if relation.head_id == self.entity.id:
            return relation.tail_name, relation.tail_label
        return relation.head_name, relation.head_label


def _mode(q: str) -> tuple[Literal["list", "count", "one"], str | None] | None:
    if re.match(r"^how many\b", q):
        counted = re.match(r"^how many (\w+)", q)
        return "count", _NOUN_LABEL.get(counted.group(1)) if counted else None
    match = re.match(r"^(which|what) (\w+)\b", q)
    if match and match.group(2) in _NOUN_LABEL:
        noun = match.group(2)
        return ("one" if noun in _SINGULAR else "list"), _NOUN_LABEL[noun]
    if re.match(r"^(list|name) (all|every|the)?\b", q) or re.match(r"^who (are|were) (all )?", q):
        named = re.search(r"\b(" + "|".join(sorted(_NOUN_LABEL)) + r")\b", q)
        return "list", _NOUN_LABEL.get(named.group(1)) if named else None
    return None


def parse_graph_query(question: str, linked: list[EntityHit]) -> GraphQuery | None:
    """The graph query a list/count question asks, or ``None`` (then the reader answers)."""
    q = fold(question).strip()
    mode = _mode(q)
    if mode is None or not linked:
        return None
    found = [(t, m) for t, p in _TRIGGERS if (m := re.search(p, q))]
    if len(found) != 1:
        return None
    rel_types, trigger = found[0]
    rel_type = rel_types[0]
    # the linked entity, in folded-question coordinates (folding keeps most lengths)
    entity = linked[0]
    entity_pos = q.find(fold(entity.matched)) if entity.matched else -1
    if entity_pos < 0:
        return None
    subject = entity_pos < trigger.start()
    passive = re.search(
        r"\b(was|were|is|are|been|being)\s+\w*\s*" + re.escape(trigger.group()) + r"\s+by\b", q
    )
    if passive:
        subject = not subject
    is_head = subject != (rel_type in _SUBJECT_IS_TAIL)
    domain, range_ = _DOMAIN_RANGE.get(rel_type, (frozenset(), frozenset()))
    if is_head and entity.label not in domain and entity.label in range_:
        is_head = False
    elif not is_head and entity.label not in range_ and entity.label in domain:
        is_head = True
    return GraphQuery(
        entity=entity, rel_types=rel_types, outgoing=is_head, mode=mode[0], answer_label=mode[1]
    )
