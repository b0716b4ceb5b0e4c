"""The clustering: keys linked by the key rules, then mentions moved by the document rules.

Steps 1 to 6 of :mod:`kgbuild.stages.resolve`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain

import networkx as nx  # type: ignore[import-untyped, unused-ignore]
import numpy as np
import numpy.typing as npt

from kgbuild.config import ResolveConfig
from kgbuild.stages.resolve.acronyms import (
    acronym_edges,
    document_acronyms,
    find_long_forms,
    find_spelled_out,
)
from kgbuild.stages.resolve.codes import IntArray
from kgbuild.stages.resolve.context import KeyPairVeto, context_veto
from kgbuild.stages.resolve.document_rules import (
    document_overrides,
    same_name_in_document,
    short_forms_elsewhere,
    split_lowercase,
)
from kgbuild.stages.resolve.fuzzy import fuzzy_edges
from kgbuild.stages.resolve.key_rules import (
    demonym_edges,
    numeral_edges,
    person_candidates,
    person_rule_edges,
    short_form_edges,
    token_order_edges,
    type_majority_edges,
    written_together_edges,
)
from kgbuild.stages.resolve.keys import Keys, build_keys
from kgbuild.stages.resolve.names import DEFAULT_CONFIG, compile_rules

CONTEXT_CHECKED = frozenset({"fuzzy", "person_name", "org_short_form", "acronym", "type_majority"})
"""Key-level rules that context similarity can veto (they join names across documents)."""


@dataclass(frozen=True)
class Clustering:
    """Everything :func:`~kgbuild.stages.resolve.resolve_mentions` needs besides the cluster ids."""

    keys: Keys
    key_of_mention: IntArray
    key_cluster: IntArray  # cluster id of each key
    cluster: IntArray  # cluster id of each mention (document rules move some mentions)
    links: list[tuple[int, int, str, float]]  # key-level merges: key, key, rule, score
    moved_by: npt.NDArray[np.int8]  # per mention: 0, or 1 + index of its document rule


@dataclass
class Links:
    """The graph of merged keys and the rule and score of each of its edges."""

    size: int
    veto: KeyPairVeto | None = None
    graph: nx.Graph[int] = field(default_factory=nx.Graph)
    found: list[tuple[int, int, str, float]] = field(default_factory=list)
    pairs: set[tuple[int, int]] = field(default_factory=set)

    def add(self, edges: Sequence[tuple[int, int, float]], rule: str) -> bool:
        """Add ``(key, key, score)`` edges found by ``rule``; tell whether any was kept."""
        if self.veto is not None and edges and rule in CONTEXT_CHECKED:
            keep = self.veto([(a, b) for a, b, _ in edges])
            edges = [edge for edge, ok in zip(edges, keep, strict=True) if ok]
        fresh = []
        for a, b, score in edges:  # one record per pair, the first found
            pair = (a, b) if a < b else (b, a)
            if pair not in self.pairs:
                self.pairs.add(pair)
                fresh.append((a, b, rule, score))
        self.graph.add_edges_from((a, b) for a, b, _, _ in fresh)
        self.found.extend(fresh)
        return bool(edges)

    def clusters(self) -> IntArray:
        """Cluster id of every key (see :func:`_components`)."""
        return _components(self.size, self.graph)


def _components(size: int, graph: nx.Graph[int]) -> IntArray:
    """Cluster id of every key: the smallest key id of its connected component."""
    cluster = np.arange(size, dtype=np.int64)
    components = list(nx.connected_components(graph))
    if not components:
        return cluster
    sizes = np.fromiter(map(len, components), dtype=np.int64, count=len(components))
    members = np.fromiter(chain.from_iterable(components), dtype=np.int64, count=int(sizes.sum()))
    smallest = np.minimum.reduceat(members, np.cumsum(sizes) - sizes)
    cluster[members] = np.repeat(smallest, sizes)
    return cluster


def _key_clusters(
    keys: Keys,
    counts: IntArray,
    config: ResolveConfig,
    links: Links,
    key_of_mention: IntArray,
    doc: IntArray,
) -> tuple[IntArray, dict[str, list[int]]]:
    """The cluster of every key, and the long forms (steps 3 to 5 of the package docstring)."""
    if len(keys.norms):
        links.add(fuzzy_edges(keys, counts, config), "fuzzy")
        links.add(type_majority_edges(keys, counts, config), "type_majority")
    if config.token_order:
        links.add([(a, b, 100.0) for a, b in token_order_edges(keys)], "token_order")
        links.add([(a, b, 100.0) for a, b in written_together_edges(keys)], "written_together")
    if config.numeral_forms:
        links.add([(a, b, 100.0) for a, b in numeral_edges(keys)], "numeral_form")
    if config.demonyms:
        links.add(demonym_edges(keys, compile_rules(config)), "demonym")
    key_cluster = links.clusters()
    long_forms = find_long_forms(keys) if config.acronyms else {}
    if long_forms:
        spelled_out = find_spelled_out(keys, key_of_mention, doc, long_forms, config)
        acronyms = acronym_edges(keys, key_cluster, long_forms, config, spelled_out)
        if links.add(acronyms, "acronym"):
            key_cluster = links.clusters()
    if (
        config.org_short_forms
        and config.org_short_forms_across_documents
        and links.add(short_form_edges(keys, key_cluster, counts, config), "org_short_form")
    ):
        key_cluster = links.clusters()
    pending = person_candidates(keys) if config.person_rules else {}
    while pending:  # repeat for names that were ambiguous until nothing changes
        edges, pending = person_rule_edges(keys, key_cluster, pending)
        if not links.add([(a, b, 100.0) for a, b in edges], "person_name"):
            break
        key_cluster = links.clusters()
    return key_cluster, long_forms


def find_clusters(
    labels: Sequence[str],
    texts: Sequence[str],
    doc_ids: Sequence[str],
    config: ResolveConfig,
    contexts: Sequence[str] | None = None,
    starts: Sequence[int] | None = None,
) -> Clustering:
    """Run the whole algorithm (see :mod:`kgbuild.stages.resolve`).

    ``contexts`` (the sentence of each mention) turns on the context veto.
    """
    if not len(labels) == len(texts) == len(doc_ids):
        raise ValueError(
            f"labels, texts and doc_ids differ in length: "
            f"{len(labels)}, {len(texts)}, {len(doc_ids)}"
        )
    rules = compile_rules(config)
    keys, key_of_mention, name_of_mention = build_keys(labels, texts, rules)
    size = len(keys.norms)
    counts = np.bincount(key_of_mention, minlength=size).astype(np.int64)
    veto = None if contexts is None else context_veto(key_of_mention, contexts, config)
    links = Links(size, veto)
    doc_index = {doc: i for i, doc in enumerate(dict.fromkeys(doc_ids))}
    doc = np.fromiter(map(doc_index.__getitem__, doc_ids), dtype=np.int64, count=len(doc_ids))
    key_cluster, long_forms = _key_clusters(keys, counts, config, links, key_of_mention, doc)

    cluster = key_cluster[key_of_mention]
    moved_by = np.zeros(len(cluster), dtype=np.int8)
    if config.document_rules:
        offsets = None if starts is None else np.asarray(starts, dtype=np.int64)
        document_overrides(
            keys, key_of_mention, doc, key_cluster, cluster, moved_by, config, offsets
        )
    if long_forms:
        document_acronyms(keys, key_of_mention, doc, cluster, moved_by, long_forms)
    if config.document_rules and config.org_short_forms and config.org_short_forms_elsewhere:
        short_forms_elsewhere(keys, key_of_mention, doc, key_cluster, cluster, moved_by)
    if config.same_name_rule:
        same_name_in_document(name_of_mention, doc, cluster, moved_by)
    if config.case_in_document:
        split_lowercase(texts, doc_ids, name_of_mention, doc, cluster, len(keys.norms))
    return Clustering(
        keys=keys,
        key_of_mention=key_of_mention,
        key_cluster=key_cluster,
        cluster=cluster,
        links=links.found,
        moved_by=moved_by,
    )


def cluster_names(
    labels: Sequence[str],
    texts: Sequence[str],
    doc_ids: Sequence[str],
    config: ResolveConfig = DEFAULT_CONFIG,
) -> IntArray:
    """Cluster mentions given as parallel sequences; return a cluster id per mention.

    Complexity: near-linear, see :mod:`kgbuild.stages.resolve` for the steps and their costs.
    Memory is ``O(N + K * (max_block_size + window))``: a few integer arrays per
    mention, per key and per candidate pair (scored ``batch_size`` at a time).

    Args:
        labels: The NER label of each mention. Different labels never share a cluster.
        texts: The surface text of each mention.
        doc_ids: The document id of each mention.
        config: Thresholds and switches.

    Returns:
        One int64 cluster id per mention; equal ids mean the same entity. Ids depend
        only on the multiset of mentions, not on their order (an id is the index of
        the cluster's first key in sorted ``(label, normalized)`` order).

    Raises:
        ValueError: If the three sequences differ in length.

    Examples:
        >>> ids = cluster_names(
        ...     ["ORG", "ORG", "ORG", "PER", "PER"],
        ...     ["Acme Robotics Inc.", "ACME robtics", "Acme Robotics", "David Chen", "Linda Chen"],
        ...     ["d1", "d2", "d3", "d1", "d1"],
        ... )
        >>> ids.tolist()
        [0, 0, 0, 2, 3]
    """
    return find_clusters(labels, texts, doc_ids, config).cluster
