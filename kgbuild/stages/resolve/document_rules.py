"""Rules that move single mentions within their document.

A surname or initial to its fuller name, an organisation's short form to its full name,
one name under several labels to one entity, a lowercase phrase away from a title.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from kgbuild.config import ResolveConfig
from kgbuild.stages.resolve.codes import IntArray, combine_codes, dense_codes, unique_codes
from kgbuild.stages.resolve.key_rules import subsumes
from kgbuild.stages.resolve.keys import Keys

DOCUMENT_RULES: tuple[str, ...] = (
    "document_person",
    "document_short_form",
    "document_acronym",
    "same_name_in_document",
    "short_form_elsewhere",
)
"""Mention-level rules, in ``Clustering.moved_by`` order (code ``1 + index``)."""


def _short_form_fits(tokens: list[str], full: list[str], config: ResolveConfig) -> bool:
    """Tell whether an organisation name (``tokens``) is the short form of ``full``.

    ``tokens`` is one token (``full``'s first, as the caller groups them), ``full`` is
    longer; the caller checks that ``full`` reads as a proper name.
    """
    return (
        config.org_short_forms
        and len(tokens) == 1
        and len(full) > 1
        and len(tokens[0]) >= config.min_short_form_chars
    )


_PARTICLES = "al bin da das de del della den der des di do dos du el ibn la le ten ter van von"

SURNAME_PARTICLES = frozenset(_PARTICLES.split())
"""Words that open a surname ("De Masi", "van Gogh", "bin Laden")."""


_SUFFIXES = frozenset({"jr", "sr"})
"""Generational suffixes written after the surname ("Martin Luther King Jr.")."""


def _without_suffix(tokens: list[str]) -> list[str]:
    """A person's name without a final "Jr."/"Sr.": the surname is the word before it."""
    return tokens[:-1] if len(tokens) > 1 and tokens[-1] in _SUFFIXES else tokens


def _surnames(keys: Keys) -> IntArray:
    """The token code of each key's surname: its last word, or the one before "Jr."/"Sr.".

    So "King" and "Martin Luther King Jr." share their surname.
    """
    last = keys.last.copy()
    suffixed = [
        k
        for k in np.flatnonzero(keys.is_person & (keys.n_tokens > 1)).tolist()
        if keys.tokens[k][-1] in _SUFFIXES
    ]
    if suffixed:
        code = {t[-1]: int(c) for t, c in zip(keys.tokens, last.tolist(), strict=True) if t}
        for k in suffixed:
            last[k] = code.setdefault(keys.tokens[k][-2], int(last.max(initial=-1)) + len(code))
    return last


def _person_fits(short: list[str], full: list[str]) -> bool:
    """Tell whether person name ``short`` is a less specific form of ``full`` (same surname).

    A surname with its particles ("de masi") fits a full name that ends with it
    ("francesco de masi"), and so does a compound surname ("garcia marquez" fits
    "gabriel garcia marquez"): any name of two words or more, none an initial, that a
    longer name ends with. Otherwise the given names must fit (:func:`subsumes`). A
    generational suffix of ``full`` that ``short`` lacks is left out ("King" fits
    "Martin Luther King Jr."; "Smith Sr." does not fit "John Smith Jr.").
    """
    if short[-1] not in _SUFFIXES:
        full = _without_suffix(full)
    if len(short) > 1 and SURNAME_PARTICLES.issuperset(short[:-1]):
        return len(full) > len(short) and full[-len(short) :] == short
    if len(short) > 1 and len(full) > len(short) and full[-len(short) :] == short:
        return all(len(word) > 1 for word in short)
    return subsumes(short[:-1], full[:-1])


def document_overrides(
    keys: Keys,
    key_of_mention: IntArray,
    doc: IntArray,
    key_cluster: IntArray,
    cluster: IntArray,
    moved_by: npt.NDArray[np.int8],
    config: ResolveConfig,
    starts: IntArray | None = None,
) -> None:
    """Move short names to their document's full name (updates ``cluster`` in place).

    Person mentions of one document with the same label and surname, and organisation
    mentions with the same label and first token, form a group (a person's name ending
    in a regnal number, "Frederick I", has no surname: it is in none). A mention that is a
    less specific name of other names in its group (:func:`subsumes`: a bare surname,
    an initial, a missing middle name; :func:`_short_form_fits`: an organisation's first
    word, of a proper name not written with it in capitals, written after that name's
    first mention in the document when ``starts`` gives each mention's offset: "Samsung ...
    its subsidiary Samsung Electronics" names two companies) moves to their
    cluster if they are exactly one cluster, different from its own (a name that itself
    moves counts as its target: "Beethoven" fits "van Beethoven", which joins "Ludwig van
    Beethoven"). Groups with more
    than ``max_block_size`` distinct names are left alone. ``O(N log N)`` in numpy
    plus ``O(g^2)`` per group of ``g`` distinct names.
    """
    eligible = ((keys.is_person & ~keys.regnal) | keys.is_org) & (keys.first >= 0)
    chosen = np.flatnonzero(eligible[key_of_mention])
    if len(chosen) < 2:
        return
    chosen_keys = key_of_mention[chosen]
    anchor = np.where(keys.is_person, _surnames(keys), keys.first)[chosen_keys]
    group = dense_codes(combine_codes(doc[chosen], keys.label_id[chosen_keys], anchor))
    first: dict[tuple[int, int], int] = {}  # (group, key) -> first offset in the document
    if starts is not None:
        for g, k, at in zip(
            group.tolist(), chosen_keys.tolist(), starts[chosen].tolist(), strict=True
        ):
            if at < first.get((g, k), at + 1):
                first[g, k] = at
    code = group * len(keys.norms) + chosen_keys  # one code per (group, key)

    distinct = unique_codes(code)
    groups, members = np.divmod(distinct, len(keys.norms))
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    sizes = np.diff(np.r_[starts, len(groups)])
    wanted = (sizes >= 2) & (sizes <= config.max_block_size)
    clusters, tokens, proper = key_cluster.tolist(), keys.tokens, keys.proper.tolist()
    acronym, caps_head = keys.acronym, keys.caps_head.tolist()
    moved: list[int] = []
    targets: list[int] = []
    for start, size in zip(starts[wanted].tolist(), sizes[wanted].tolist(), strict=True):
        names = members[start : start + size].tolist()
        person = bool(keys.is_person[names[0]])
        fits: dict[int, list[int]] = {}
        for a in names:
            if person:
                fits[a] = [b for b in names if b != a and _person_fits(tokens[a], tokens[b])]
            else:
                g = int(groups[start])
                fits[a] = [
                    b
                    for b in names
                    if b != a
                    and proper[b]
                    and not (acronym[a] and caps_head[b])
                    and _short_form_fits(tokens[a], tokens[b], config)
                    and (not first or first[g, b] < first[g, a])
                ]
        goes_to = {
            a: found.pop() for a in names if len(found := {clusters[b] for b in fits[a]}) == 1
        }
        if person:  # a fuller name that itself joined one ("van Beethoven") counts as that one
            for a in names:
                found = {goes_to.get(b, clusters[b]) for b in fits[a]}
                if a not in goes_to and len(found) == 1:
                    goes_to[a] = found.pop()
        for a in names:
            if a in goes_to and (target := goes_to[a]) != clusters[a]:
                moved.append(int(distinct[start]) - names[0] + a)
                targets.append(target)
    if not moved:
        return
    order = np.argsort(np.asarray(moved, dtype=np.int64))
    known = np.asarray(moved, dtype=np.int64)[order]
    target_of = np.asarray(targets, dtype=np.int64)[order]
    pos = np.minimum(np.searchsorted(known, code), len(known) - 1)
    hit = known[pos] == code
    cluster[chosen[hit]] = target_of[pos[hit]]
    rule = np.where(keys.is_person[chosen_keys[hit]], 1, 2).astype(np.int8)
    moved_by[chosen[hit]] = rule


def short_forms_elsewhere(
    keys: Keys,
    key_of_mention: IntArray,
    doc: IntArray,
    key_cluster: IntArray,
    cluster: IntArray,
    moved_by: npt.NDArray[np.int8],
) -> None:
    """Move short forms to the organisation other documents write them after (in place).

    ``document_short_form`` joined "Northwind" to "Northwind Logistics" in the documents
    that write the full name first; a document that writes "Northwind" alone then names
    the same organisation, when it is the only organisation of the corpus that starts with
    that word, every document that moved the short form moved it there, and more documents
    joined the two than kept them apart (a document holding both that never joined them,
    as "Samsung ... its subsidiary Samsung Electronics" does, or a title that names the
    company before its full name). Then every mention of the short form that no other
    rule moved joins it. ``O(N)`` in numpy plus dictionaries over the short forms.
    """
    moved = np.flatnonzero(moved_by == DOCUMENT_RULES.index("document_short_form") + 1)
    if not len(moved):
        return
    targets: dict[int, set[int]] = defaultdict(set)
    moved_in: set[tuple[int, int]] = set()  # (short form key, document) where it was moved
    for k, c, d in zip(
        key_of_mention[moved].tolist(), cluster[moved].tolist(), doc[moved].tolist(), strict=True
    ):
        targets[k].add(c)
        moved_in.add((k, d))
    full_names: dict[tuple[int, int], set[int]] = defaultdict(set)  # (label, first word)
    for k in np.flatnonzero(keys.is_org & keys.proper & (keys.n_tokens >= 2)).tolist():
        full_names[int(keys.label_id[k]), int(keys.first[k])].add(int(key_cluster[k]))
    target_of = {
        k: next(iter(found))
        for k, found in targets.items()
        if len(found) == 1 and full_names.get((int(keys.label_id[k]), int(keys.first[k]))) == found
    }
    if not target_of:
        return
    wanted = np.fromiter(target_of, dtype=np.int64, count=len(target_of))
    alone = np.flatnonzero(
        np.isin(key_of_mention, wanted) & (moved_by == 0) & (cluster == key_cluster[key_of_mention])
    )
    clusters = np.fromiter(set(target_of.values()), dtype=np.int64)
    holding = np.flatnonzero(np.isin(cluster, clusters))
    docs_of: dict[int, set[int]] = defaultdict(set)
    for c, d in zip(cluster[holding].tolist(), doc[holding].tolist(), strict=True):
        docs_of[c].add(d)
    joined = Counter(k for k, _ in moved_in)  # documents that joined the short form
    apart = {  # documents that hold the organisation and never joined the short form to it
        (k, d)
        for k, d in zip(key_of_mention[alone].tolist(), doc[alone].tolist(), strict=True)
        if d in docs_of[target_of[k]] and (k, d) not in moved_in
    }
    kept_apart = Counter(k for k, _ in apart)
    code = DOCUMENT_RULES.index("short_form_elsewhere") + 1
    for i, k in zip(alone.tolist(), key_of_mention[alone].tolist(), strict=True):
        if joined[k] > kept_apart[k]:
            cluster[i] = target_of[k]
            moved_by[i] = code


def same_name_in_document(
    name_of_mention: IntArray,
    doc: IntArray,
    cluster: IntArray,
    moved_by: npt.NDArray[np.int8],
) -> None:
    """Join the mentions of one name under several labels in one document (in place).

    Mentions that no other document rule moved, with one plain name
    (:func:`~kgbuild.stages.resolve.names.normalize_both`), in more than one cluster, make
    those clusters one within the document: every mention of the document in them goes
    to the one holding most of the document's mentions (ties: the smaller cluster id),
    with what other rules moved there ("Parton", moved to "Dolly Parton" as a person,
    stays with it when "Dolly Parton" is also tagged MISC). ``O(N log N)`` in numpy.
    """
    free = np.flatnonzero(moved_by == 0)
    if len(free) < 2:
        return
    group = combine_codes(doc[free], name_of_mention[free])
    order = np.lexsort((cluster[free], group))
    g, c = group[order], cluster[free][order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    ends = np.r_[starts[1:], len(g)]
    split = c[starts] != c[ends - 1]  # sorted by cluster within a group
    if not split.any():
        return
    docs = np.unique(doc[free[order[starts[split]]]])
    held = np.flatnonzero(np.isin(doc, docs))  # the mentions of the documents concerned
    in_doc: dict[tuple[int, int], list[int]] = defaultdict(list)
    for m, d, x in zip(held.tolist(), doc[held].tolist(), cluster[held].tolist(), strict=True):
        in_doc[d, x].append(m)
    for s, e in zip(starts[split].tolist(), ends[split].tolist(), strict=True):
        members = free[order[s:e]]
        d = int(doc[members[0]])
        found = {x for x in cluster[members].tolist() if (d, x) in in_doc}
        if len(found) < 2:  # an earlier group of this document joined them already
            continue
        target = min(found, key=lambda x: (-len(in_doc[d, x]), x))
        for x in found - {target}:
            moving = np.asarray(in_doc.pop((d, x)), dtype=np.int64)
            cluster[moving] = target
            moved_by[moving[moved_by[moving] == 0]] = 4
            in_doc[d, target].extend(moving.tolist())


def _lowercase(text: str) -> bool:
    """Tell whether a text has letters and all of them lowercase ("two doors down")."""
    return text.islower()


def _capital_inside(text: str) -> bool:
    """Tell whether a text has a capital after its first character ("Two Doors Down", "iOS").

    A capital only at the start may be the start of a sentence ("Souvlaki is ..."), which
    tells nothing about the words.
    """
    return any(ch.isupper() for ch in text[1:])


def split_lowercase(
    texts: Sequence[str],
    doc_ids: Sequence[str],
    name_of_mention: IntArray,
    doc: IntArray,
    cluster: IntArray,
    first_free: int,
) -> None:
    """Part a name written in lowercase from the same name written with capitals (in place).

    In a document that writes a name both ways ("Two Doors Down", the song, and a party
    "two doors down the hall"), the lowercase mentions are a common phrase or another
    thing: those that share a cluster with a mention of their name and document that has
    a capital beyond its first letter (:func:`_capital_inside`) become a cluster of their
    own, one per document and name, numbered from
    ``first_free`` in (document id, text) order. Names written only in lowercase (a tweet's
    "obama") are left as they are. ``O(N log N)`` in numpy.
    """
    lower = np.fromiter(map(_lowercase, texts), dtype=np.bool_, count=len(texts))
    if not lower.any() or lower.all():
        return
    group = combine_codes(doc, name_of_mention, cluster)
    titled = np.fromiter(map(_capital_inside, texts), dtype=np.bool_, count=len(texts))
    capitalised = np.unique(group[titled])
    moving = np.flatnonzero(lower & np.isin(group, capitalised))
    if not len(moving):
        return
    parts = combine_codes(doc[moving], name_of_mention[moving]).tolist()
    label: dict[int, tuple[str, str]] = {}
    for part, i in zip(parts, moving.tolist(), strict=True):
        label[part] = min(label.get(part, (doc_ids[i], texts[i])), (doc_ids[i], texts[i]))
    number = {part: n for n, part in enumerate(sorted(label, key=label.__getitem__))}
    cluster[moving] = first_free + np.fromiter(map(number.__getitem__, parts), dtype=np.int64)
