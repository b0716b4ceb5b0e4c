"""Acronyms and the long forms they spell, across documents and within one."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from kgbuild.config import ResolveConfig
from kgbuild.stages.resolve.codes import IntArray
from kgbuild.stages.resolve.keys import STOP_WORDS, Keys
from kgbuild.stages.resolve.names import is_regnal_number


def _initials(tokens: Sequence[str]) -> set[str]:
    """The acronyms a multi-word name may have: its initials, each stop word taken or not.

    A last word that is a Roman numeral is written whole ("World War II" -> WWII, not
    WWI). With more than four stop words only "all" and "none" are tried. Fewer than two
    other words, or a word with a digit, give none.
    """
    if len(tokens) > 2 and is_regnal_number(tokens[-1]):
        return {initials + tokens[-1] for initials in _initials(tokens[:-1])}
    content = [t for t in tokens if t not in STOP_WORDS]
    if len(content) < 2 or any(not t.isalpha() for t in content):
        return set()
    optional = [i for i, t in enumerate(tokens) if t in STOP_WORDS]
    if len(optional) > 4:
        return {"".join(t[0] for t in content), "".join(t[0] for t in tokens)}
    found = set()
    for mask in range(1 << len(optional)):
        dropped = {i for bit, i in enumerate(optional) if not mask >> bit & 1}
        found.add("".join(t[0] for i, t in enumerate(tokens) if i not in dropped))
    return found


def find_long_forms(keys: Keys) -> dict[str, list[int]]:
    """Multi-word keys by the acronyms they may have, for the acronyms that occur.

    ``O(K)`` over multi-word keys, cheap checks first (no acronym -> nothing).
    """
    wanted = {a for a in keys.acronym if a}
    if not wanted:
        return {}
    shortest, longest = min(map(len, wanted)), max(map(len, wanted))
    heads = {a[0] for a in wanted}
    found: dict[str, list[int]] = defaultdict(list)
    sizes = keys.n_tokens  # initials have at most one letter per token
    sized = (sizes >= max(2, shortest)) & (sizes <= 2 * longest)
    written = np.fromiter(map(bool, keys.written_out), dtype=np.bool_, count=len(sizes))
    for k in np.flatnonzero(sized | written).tolist():
        spelled: set[str] = set()
        for tokens in (keys.tokens[k], *keys.written_out[k]):  # "BBC": its "Corporation" too
            if not max(2, shortest) <= len(tokens) <= 2 * longest:
                continue
            if tokens[0][0] not in heads and tokens[0] not in STOP_WORDS:
                continue
            spelled |= _initials(tokens) & wanted
        for initials in sorted(spelled):
            found[initials].append(k)
    return found


def find_spelled_out(
    keys: Keys,
    key_of_mention: IntArray,
    doc: IntArray,
    long_forms: Mapping[str, list[int]],
    config: ResolveConfig,
) -> set[tuple[int, int]]:
    """``(acronym key, long form key)`` pairs written in one document, for short acronyms.

    Only undotted acronyms shorter than ``min_acronym_letters`` ("UK") are looked at:
    the ones :func:`acronym_edges` links across documents only when some document of
    the corpus writes the long form beside them. ``O(N)`` in numpy.
    """
    short = [
        k
        for k, letters in enumerate(keys.acronym)
        if letters
        and letters in long_forms
        and len(letters) < config.min_acronym_letters
        and not keys.dotted[k]
    ]
    if not short:
        return set()
    wanted = set(short) | {c for k in short for c in long_forms[keys.acronym[k]]}
    held = np.flatnonzero(np.isin(key_of_mention, np.fromiter(wanted, dtype=np.int64)))
    keys_in_doc: dict[int, set[int]] = defaultdict(set)
    for d, k in zip(doc[held].tolist(), key_of_mention[held].tolist(), strict=True):
        keys_in_doc[d].add(k)
    found: set[tuple[int, int]] = set()
    for present in keys_in_doc.values():
        for k in present.intersection(short):
            found.update((k, c) for c in long_forms[keys.acronym[k]] if c in present)
    return found


def acronym_edges(
    keys: Keys,
    cluster: IntArray,
    long_forms: Mapping[str, list[int]],
    config: ResolveConfig,
    spelled_out: set[tuple[int, int]],
) -> list[tuple[int, int, float]]:
    """Link acronyms across documents to their long form, and acronym spellings together.

    An acronym of ``min_acronym_letters`` or more, or a dotted one, joins a long form
    of its label when every long form with its initials (any label) is one cluster. A
    shorter one ("UK") does too when some document writes it beside that long form
    (``spelled_out``, see :func:`find_spelled_out`): the corpus itself says what it stands for.
    Acronym keys of one label and letters ("U.S.", "US") are linked to each other.
    """
    edges: list[tuple[int, int, float]] = []
    spellings: dict[tuple[int, str], int] = {}
    clusters, label_ids = cluster.tolist(), keys.label_id.tolist()
    evidenced = {k for k, _ in spelled_out}
    for k, letters in enumerate(keys.acronym):
        if not letters:
            continue
        other = spellings.setdefault((label_ids[k], letters), k)
        if other != k:
            edges.append((other, k, 100.0))
        short = len(letters) < config.min_acronym_letters and not keys.dotted[k]
        if short and k not in evidenced:
            continue
        candidates = [c for c in long_forms.get(letters, ()) if c != k]
        if len({clusters[c] for c in candidates}) != 1:
            continue
        same_label = [c for c in candidates if label_ids[c] == label_ids[k]]
        if short:
            same_label = [c for c in same_label if (k, c) in spelled_out]
        if same_label and clusters[same_label[0]] != clusters[k]:
            edges.append((k, same_label[0], 100.0))
    return edges


def document_acronyms(
    keys: Keys,
    key_of_mention: IntArray,
    doc: IntArray,
    cluster: IntArray,
    moved_by: npt.NDArray[np.int8],
    long_forms: Mapping[str, list[int]],
) -> None:
    """Move acronym mentions to the one long form of their document they spell (in place).

    Any labels, acronyms of two letters or more. ``O(N)`` for the documents that hold
    an acronym with a long form somewhere in the corpus.
    """
    has_long = np.fromiter(
        (bool(a) and a in long_forms for a in keys.acronym), dtype=np.bool_, count=len(keys.acronym)
    )
    acronyms = np.flatnonzero(has_long[key_of_mention])
    if not len(acronyms):
        return
    in_docs = np.flatnonzero(np.isin(doc, np.unique(doc[acronyms])))
    present: dict[tuple[int, int], int] = {}
    for i, d, k in zip(
        in_docs.tolist(), doc[in_docs].tolist(), key_of_mention[in_docs].tolist(), strict=True
    ):
        present.setdefault((d, k), int(cluster[i]))
    for i, d, k in zip(
        acronyms.tolist(), doc[acronyms].tolist(), key_of_mention[acronyms].tolist(), strict=True
    ):
        found = {present[d, c] for c in long_forms[keys.acronym[k]] if (d, c) in present}
        if len(found) == 1 and (target := found.pop()) != cluster[i]:
            cluster[i] = target
            moved_by[i] = 3
