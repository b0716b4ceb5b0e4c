"""Sentence-level relation data as extra training documents for the document-level model.

FewRel (sentences with one marked head and tail, labelled with a Wikidata property) and
CoNLL04 (sentences with all their entities and relations) become pseudo-documents of a
few sentences each, so they train the same model as DocRED documents:

* FewRel: the head and the tail of a sentence are entities (no type is given: ``MISC``);
  the labelled pair is a fact (both ways for a symmetric property); every other pair of
  the pseudo-document is a negative (the sentences are unrelated).
* CoNLL04: entities keep their types (``Peop`` -> ``PER`` ...); relations are renamed to
  Wikidata properties where one fits (:data:`CONLL04_TO_WIKIDATA`); ``Kill`` has none, so
  those pairs are negatives.

Only facts whose property is one of the model's labels are kept.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from pathlib import Path

from kgbuild.errors import DataFormatError
from kgbuild.nlp.doc_windows import MentionSpan
from kgbuild.readers.files import load_json
from kgbuild.readers.relations import CONLL04_ENTITY_TYPES, read_conll04
from kgbuild.training.doc_re import DocExample

__all__ = ["CONLL04_TO_WIKIDATA", "SYMMETRIC", "conll04_documents", "fewrel_documents"]

CONLL04_TO_WIKIDATA = {
    "Work_For": "P108",
    "OrgBased_In": "P159",
    "Live_In": "P551",
    "Located_In": "P131",
}
"""CoNLL04 relation -> the Wikidata property that states it (``Kill`` has none)."""

SYMMETRIC = frozenset({"P26", "P3373", "P190", "P47", "P530"})
"""Wikidata properties that hold both ways (a fact adds its reverse)."""

# (tokens, entities as (start, end, type), facts as (head, tail, property))
_Sentence = tuple[list[str], list[tuple[int, int, str]], list[tuple[int, int, str]]]


def _pseudo_documents(
    sentences: Sequence[_Sentence], per_document: int, title: str
) -> list[DocExample]:
    out = []
    for first in range(0, len(sentences), per_document):
        text_parts: list[str] = []
        spans: list[tuple[int, int]] = []
        mentions: list[MentionSpan] = []
        types: list[str] = []
        names: list[tuple[str, ...]] = []
        facts: list[tuple[int, int, str, tuple[int, ...]]] = []
        position = 0
        for index, (tokens, entities, relations) in enumerate(
            sentences[first : first + per_document]
        ):
            starts, offset = [], position
            for token in tokens:
                starts.append(offset)
                offset += len(token) + 1
            spans.append((position, offset - 1))
            base = len(types)
            for start, end, kind in entities:
                mentions.append(
                    MentionSpan(starts[start], starts[end - 1] + len(tokens[end - 1]), len(types))
                )
                types.append(kind)
                names.append((" ".join(tokens[start:end]),))
            for head, tail, prop in relations:
                facts.append((base + head, base + tail, prop, (index,)))
            text_parts.append(" ".join(tokens))
            position = offset
        out.append(
            DocExample(
                title=f"{title} {first // per_document}",
                text=" ".join(text_parts),
                sentences=tuple(spans),
                mentions=tuple(mentions),
                entity_types=tuple(types),
                entity_names=tuple(names),
                facts=tuple(facts),
            )
        )
    return out


def fewrel_documents(
    path: Path,
    labels: Sequence[str],
    *,
    per_document: int = 8,
    seed: int = 0,
    encoding: str = "utf-8",
) -> list[DocExample]:
    """FewRel sentences of the properties in ``labels``, shuffled into pseudo-documents.

    Raises:
        InputError: The file is missing.
        DataFormatError: The file is not text in ``encoding``, or not FewRel JSON
            (``{property: [instances]}``).
    """
    data = load_json(path, encoding)
    if not isinstance(data, dict):
        raise DataFormatError(f"{path}: expected an object of property -> instances")
    wanted = set(labels)
    sentences: list[_Sentence] = []
    for prop, instances in data.items():
        if prop not in wanted:
            continue
        for n, instance in enumerate(instances):
            try:
                tokens = [str(t) for t in instance["tokens"]]
                head = instance["h"][2][0]
                tail = instance["t"][2][0]
                entities = [
                    (min(head), max(head) + 1, "MISC"),
                    (min(tail), max(tail) + 1, "MISC"),
                ]
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                raise DataFormatError(f"{path}: {prop} instance {n}: {exc!r}") from exc
            if entities[0][0] < entities[1][1] and entities[1][0] < entities[0][1]:
                continue  # overlapping head and tail
            facts = [(0, 1, prop)] + ([(1, 0, prop)] if prop in SYMMETRIC else [])
            sentences.append((tokens, entities, facts))
    random.Random(seed).shuffle(sentences)
    return _pseudo_documents(sentences, per_document, "fewrel")


def conll04_documents(
    path: Path,
    labels: Sequence[str],
    *,
    mapping: Mapping[str, str] = CONLL04_TO_WIKIDATA,
    per_document: int = 8,
    seed: int = 0,
    encoding: str = "utf-8",
) -> list[DocExample]:
    """CoNLL04 sentences as pseudo-documents, relations renamed to Wikidata properties."""
    wanted = set(labels)
    sentences: list[_Sentence] = []
    for example in read_conll04(path, encoding=encoding):
        entities = [
            (e.start, e.end, CONLL04_ENTITY_TYPES.get(e.label, e.label)) for e in example.entities
        ]
        facts = [
            (r.head, r.tail, mapping[r.label])
            for r in example.relations
            if mapping.get(r.label) in wanted
        ]
        sentences.append((list(example.tokens), entities, facts))
    random.Random(seed).shuffle(sentences)
    return _pseudo_documents(sentences, per_document, "conll04")
