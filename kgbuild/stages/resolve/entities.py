"""Entities from clusters: label vote, canonical name, stable id and the record of each merge."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

from kgbuild.config import ResolveConfig
from kgbuild.data import Entity, Mention, Merge
from kgbuild.ids import stable_id
from kgbuild.stages.resolve.clustering import Clustering, find_clusters
from kgbuild.stages.resolve.document_rules import DOCUMENT_RULES
from kgbuild.stages.resolve.names import (
    DEFAULT_CONFIG,
    INSIDE_WORDS,
    compile_rules,
    normalize_name,
    starts_with_honorific,
)


class ResolutionResult(BaseModel):
    """Entities found by :func:`resolve_mentions` and where each mention went."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    entities: tuple[Entity, ...]
    """Entities sorted by id."""

    mention_to_entity: dict[str, str]
    """Mention id to entity id, for every input mention."""

    merges: int
    """Distinct ``(label, normalized name)`` keys merged into another key's entity."""


def _canonical(texts: Iterable[str], label: str, config: ResolveConfig) -> str:
    """The fullest name of a cluster, the one an entity is shown and keyed by.

    Among the forms with the most normalised tokens ("Acme Robotics" over "Acme",
    "David Chen" over "Dr. Chen"), the most frequent; ties go to a form not all in
    capitals ("Acme Corp" over "ACME CORP" from a headline), then to one without a
    leading title or "the" ("Jane Roe" over "Dr. Jane Roe", "Acme Corp" over "the Acme
    Corp": see :func:`starts_with_honorific`), then the longest text (not counting
    invisible characters such as a soft hyphen), then the lexicographically smallest.
    """
    counts = Counter(texts)
    sizes = {t: len(normalize_name(t, label, config=config).split()) for t in counts}
    fullest = max(sizes.values())
    rules = compile_rules(config)
    return min(
        (t for t in counts if sizes[t] == fullest),
        key=lambda t: (
            -counts[t],
            _shouted(t),
            starts_with_honorific(t, label, rules),
            -len(t.translate(INSIDE_WORDS)),
            t,
        ),
    )


def _shouted(text: str) -> bool:
    """Whether a name is written all in capitals ("ACME CORP", as headlines write it).

    >>> _shouted("ACME CORP"), _shouted("Acme Corp"), _shouted("ACME Inc"), _shouted("3M")
    (True, False, False, False)
    """
    cased = [ch for ch in text if ch.isupper() or ch.islower()]
    return len(cased) >= 2 and not any(ch.islower() for ch in cased)


def _vote(labels: Sequence[str], scores: Sequence[float]) -> str:
    """The majority label (ties: the higher summed score, then the alphabetically first).

    A name tagged once as a person and once as MISC is the person when the model was surer
    of that: the confidence breaks the tie, not the alphabet.
    """
    counts = Counter(labels)
    weight: dict[str, float] = defaultdict(float)
    for label, score in zip(labels, scores, strict=True):
        weight[label] += score
    return min(counts, key=lambda label: (-counts[label], -weight[label], label))


def _merge_records(
    clustering: Clustering,
    texts: Sequence[str],
    doc_ids: Sequence[str],
    entity_of_cluster: Mapping[int, Entity],
) -> dict[int, list[Merge]]:
    """The merges of each cluster: its key links, and its moved mentions by rule and name."""
    keys, key_of_mention = clustering.keys, clustering.key_of_mention
    forms: dict[int, Counter[str]] = defaultdict(Counter)
    linked = {k for a, b, _, _ in clustering.links for k in (a, b)}
    for index, key in enumerate(key_of_mention.tolist()):
        if key in linked:
            forms[key][texts[index]] += 1

    def form(key: int) -> str:
        return min(forms[key], key=lambda t: (-forms[key][t], t))

    records: dict[int, list[Merge]] = defaultdict(list)
    for a, b, rule, score in clustering.links:
        cluster = int(clustering.key_cluster[a])
        if cluster in entity_of_cluster:
            records[cluster].append(
                Merge(
                    rule=rule,
                    score=round(score, 2),
                    source=form(a),
                    source_label=keys.labels[a],
                    target=form(b),
                    target_label=keys.labels[b],
                )
            )
    moved: dict[tuple[int, str, str, int], set[str]] = defaultdict(set)
    for index in np.flatnonzero(clustering.moved_by).tolist():
        key = int(key_of_mention[index])
        cluster = int(clustering.cluster[index])
        rule = DOCUMENT_RULES[int(clustering.moved_by[index]) - 1]
        moved[cluster, rule, texts[index], key].add(doc_ids[index])
    for (cluster, rule, text, key), docs in moved.items():
        entity = entity_of_cluster[cluster]
        records[cluster].append(
            Merge(
                rule=rule,
                score=100.0,
                source=text,
                source_label=keys.labels[key],
                target=entity.name,
                target_label=entity.label,
                doc_ids=tuple(sorted(docs)),
            )
        )
    return records


def resolve_mentions(
    mentions: Sequence[Mention],
    config: ResolveConfig = DEFAULT_CONFIG,
    *,
    sentences: Mapping[str, str] | None = None,
) -> ResolutionResult:
    """Resolve mentions into entities across documents.

    Complexity: that of :func:`cluster_names`, plus ``O(N log N)`` to group and sort.

    Args:
        mentions: Mentions with unique ids, from any number of documents.
        config: Thresholds and switches.
        sentences: Chunk id to text, for ``config.context_similarity`` (ignored when off).

    Returns:
        Entities sorted by id. An entity's ``label`` is the majority label of its
        mentions (ties: the higher summed NER score, then alphabetical); its ``name``
        is its fullest surface form (most normalised words; then most frequent,
        not all in capitals, without a leading title or "the", longest,
        lexicographically smallest) among mentions that no document rule
        moved to it; ``aliases`` are its other surface forms, sorted (in both, each
        run of whitespace, a line break too, is one space); ``mention_ids`` and
        ``doc_ids`` are sorted; ``merges`` say which rule joined which names. Its id is
        ``stable_id("ent", label, normalize_name(name, label))``, so it is stable
        across runs and batches as long as the canonical name is (should two entities
        get one id, the later in cluster order also hashes its cluster's first key).

    Raises:
        ValueError: If two mentions share an id, or context similarity is on without
            ``sentences``.
    """
    ids = [m.id for m in mentions]
    if len(set(ids)) != len(ids):
        raise ValueError("mention ids must be unique")
    labels = [m.label for m in mentions]
    texts = [m.text for m in mentions]
    forms = [" ".join(text.split()) for text in texts]  # a name wrapped over two lines
    doc_ids = [m.provenance.doc_id for m in mentions]
    contexts = None
    if config.context_similarity:
        if sentences is None:
            raise ValueError("context_similarity needs the sentences (chunk id -> text)")
        contexts = [  # the name itself left out: only its surroundings count
            " ".join(sentences.get(m.provenance.chunk_id, "").replace(m.text, " ").split())
            for m in mentions
        ]
    starts = [m.span.start for m in mentions]
    mention_scores = [m.provenance.score for m in mentions]
    result = find_clusters(labels, texts, doc_ids, config, contexts, starts)
    anchored = result.key_cluster[result.key_of_mention] == result.cluster
    adjectives = [a for a, _, rule, _ in result.links if rule == "demonym"]
    adjective = np.isin(result.key_of_mention, adjectives)  # named after the place instead

    members: dict[int, list[int]] = defaultdict(list)
    for index, cluster in enumerate(result.cluster.tolist()):
        members[cluster].append(index)
    entity_of_cluster: dict[int, Entity] = {}
    used: set[str] = set()
    for cluster in sorted(members):
        group = members[cluster]
        label = _vote([labels[i] for i in group], [mention_scores[i] for i in group])
        shown = (
            [forms[i] for i in group if anchored[i] and not adjective[i]]
            or [forms[i] for i in group if anchored[i]]
            or [forms[i] for i in group]
        )
        name = _canonical(shown, label, config)
        norm = normalize_name(name, label, config=config)
        entity_id = stable_id("ent", label, norm)
        if entity_id in used and cluster >= len(result.keys.norms):  # a lowercase part
            entity_id = stable_id("ent", label, norm, "lowercase", doc_ids[group[0]])
        elif entity_id in used:  # rare: see Returns
            first = result.keys
            entity_id = stable_id("ent", label, norm, first.labels[cluster], first.norms[cluster])
        used.add(entity_id)
        entity_of_cluster[cluster] = Entity(
            id=entity_id,
            label=label,
            name=name,
            aliases=tuple(sorted({forms[i] for i in group} - {name})),
            mention_ids=tuple(sorted(ids[i] for i in group)),
            doc_ids=tuple(sorted({doc_ids[i] for i in group})),
        )
    records = _merge_records(result, forms, doc_ids, entity_of_cluster)
    entities = sorted(
        (
            entity.model_copy(update={"merges": tuple(sorted(records[c], key=_merge_order))})
            if records.get(c)
            else entity
            for c, entity in entity_of_cluster.items()
        ),
        key=lambda e: e.id,
    )
    mention_to_entity = {
        ids[i]: entity_of_cluster[c].id for c, group in members.items() for i in group
    }
    return ResolutionResult(
        entities=tuple(entities),
        mention_to_entity=mention_to_entity,
        merges=len(result.keys.norms) - len(entities),
    )


def _merge_order(merge: Merge) -> tuple[str, str, str, str, tuple[str, ...]]:
    return (merge.rule, merge.source, merge.source_label, merge.target, merge.doc_ids)
