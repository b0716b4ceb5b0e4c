"""Entity resolution: cluster NER mentions into entities across documents.

The algorithm works on plain parallel sequences ``(label, text, doc_id)`` so that
it scales to millions of mentions without building a pydantic object per mention;
:func:`resolve_mentions` is the typed wrapper used by the pipeline.

Steps (every one deterministic and independent of input order):

1. **Normalise and dedupe.** Each distinct ``(label, text)`` is normalised once
   (:func:`normalize_name`) and the mentions are reduced to unique
   ``(label, normalized)`` *keys*; all later steps run on keys, not mentions.
   Each key also notes whether it is written as an acronym ("USGS", "U.S.") and,
   for organisations, whether it reads as a proper name (every word after the
   first capitalised, as in "Acme Robotics" but not "Amanita thiersii").
2. **Blocking.** Candidate key pairs come from sorted-neighbourhood passes within
   one label and token count: keys sharing their first token, keys sharing their
   last token (inside a block that is too large, also sub-blocked by the first or
   last two characters of the other tokens), and one-token keys sharing their
   first or last two characters. A block of at most ``max_block_size`` keys is
   compared all-pairs; a larger block (a common first name or surname) only
   within a sliding ``window`` of its sorted order, so the number of pairs is
   ``O(K * (max_block_size + window))`` at worst and never quadratic.
3. **Similarity.** Candidate pairs are scored with rapidfuzz ``fuzz.ratio``
   (``process.cpdist``, in C) and kept at ``threshold`` or above, if their digits
   agree and every aligned token is also similar (``token_threshold``) without
   being a prefix or suffix of the other ("Korea"/"Korean", "Prince"/"Princess":
   another word, not a typo); for people the given names must be equal, so
   "David Chen" and "Linda Chen", or "J Smith" and "A Smith", stay apart.
   One-token names match only as a one-edit typo inside the word (same first
   letter, one insertion, deletion, substitution or swap, neither name a prefix
   or suffix of the other): "Eoleonaspis"/"Leonaspis", "Odontopleura"/
   "Odontopleurida"/"Odontopleuridae" and "frontière"/"Frontier" stay apart.
   Two guards limit chaining: the rarer key of a pair must be rare relative to
   the other (``max_variant_share``: typos are rare, two established names one
   letter apart are different entities), and each key keeps only its edge to its
   best match among keys at least as frequent (``best_match_only``), so a typo
   joins one name, not two. Keys made of the same tokens in another order are
   matched too, and Chinese or Japanese keys of the same characters with and without
   separators ("迈克尔·乔丹", "迈克尔乔丹"), and names other than people's with initials
   written with and without dots ("J.P. Morgan", "JP Morgan").
4. **Key rules on the fuzzy clusters** (global, "only when unambiguous"). A person
   key with an initial or a missing middle name ("J. Smith", "John Smith") joins
   the fuzzy cluster of fuller names with the same surname that it fits, if there
   is exactly one; names that were ambiguous are retried after each round of
   merges. With ``org_short_forms_across_documents`` (off by default), a one-token
   organisation ("Acme") joins the one cluster of proper-named organisations whose name
   starts with that token ("Acme Robotics Inc."). An acronym of three letters or more,
   or a dotted one ("U.S."), joins the long form whose initials it spells ("USGS" and
   "United States Geological Survey", stop words such as "of" taken or left out, a legal
   form written out counted: "BBC", "British Broadcasting Corporation") when
   every long form of the corpus with those initials is one cluster of its label; a shorter one ("UK")
   does so only if some document writes it beside that long form (a long form's last
   word that is a Roman numeral is written whole: "WWII" is "World War II", not "World
   War I"). Names that write the same numbers in other forms join ("World War II",
   "World War Two", "Second World War"; ``numeral_forms``). A multi-word name
   found under several labels joins the label that has ``type_dominance`` times
   its mentions ("U.S. Navy" as ORG 9 times and as LOC once); a one-word name does
   so only between ``one_word_type_labels`` (LOC and MISC: "Hindi" as LOC 160 times
   and as MISC 53) and by a plain majority (``one_word_type_dominance``), so "Jordan"
   the person never joins "Jordan" the place. A nationality adjective tagged as
   a place ("Swedish") joins the place it names ("Sweden", the same label) wherever the
   corpus has it (:mod:`kgbuild.stages.demonyms`); the entity keeps the place's name.
5. **Transitive closure** with :func:`networkx.connected_components` on the graph
   of matched keys, so pairs ``{a, b}`` and ``{b, c}`` give one entity.
6. **Document rules** (per mention). Within one document, a bare surname
   ("Smith", "De Masi" with its particle), an initial ("J. Smith") or an organisation's first word written after
   the full name ("Acme Robotics ... Acme") joins the fuller name of that document it
   fits, if the fuller names it fits there are exactly one cluster. "Smith" in a
   document with both "David Smith" and "Linda Smith", or with no full name, stays with
   the global key "smith" (as exact matching would do, which keeps mononyms such as
   "Plato" together).
   An acronym joins the one long form of its document that it spells, whatever
   the labels. An organisation's first word in a document without its full name
   joins the organisation other documents write it after ("Northwind" alone, where
   others write "Northwind Logistics ... Northwind"), if no other organisation of the
   corpus starts with that word and more documents joined the two than kept them apart
   (``org_short_forms_elsewhere``). Then mentions of one name under different labels in
   one document ("Japan" as LOC and as MISC) become one entity: within the document, the
   clusters they are in become the one holding most of the document's mentions, with
   what other rules moved to them ("Parton" stays with "Dolly Parton"). Last, where a
   document writes a name with capitals inside ("Two Doors Down"), its mentions written
   all in lowercase ("two doors down the hall") leave that cluster for one of their own
   (``case_in_document``).

An entity's label is the majority label of its mentions (a tie: the label of the higher
summed NER score), and every merge keeps its
reason (:class:`kgbuild.data.Merge`: rule, score, the two surface forms and, for a
document rule, the document) on the entity, so it can be checked and switched off
by the rule's setting.

Complexity: ``O(N)`` dictionary work and ``O(N log N)`` numpy sorting over the
``N`` mentions, normalisation of each distinct surface form, ``O(K log K)``
sorting of the ``K`` keys, ``O(K * (max_block_size + window))`` string
comparisons in the worst case, and ``O(K + E)`` for the components.

Modules, in the order the steps use them: ``names`` (normalisation), ``keys`` (step 1),
``codes`` (integer code arrays), ``blocking`` (step 2), ``fuzzy`` (step 3), ``key_rules``
and ``acronyms`` (step 4; ``acronyms`` also moves mentions within documents),
``document_rules`` (step 6), ``context`` (the optional context veto), ``clustering``
(steps 1 to 6 put together) and ``entities`` (entities and their merge records).
"""

from __future__ import annotations

from kgbuild.config import ResolveConfig
from kgbuild.stages.resolve.clustering import cluster_names
from kgbuild.stages.resolve.entities import ResolutionResult, resolve_mentions
from kgbuild.stages.resolve.names import DEFAULT_CONFIG, normalize_name

__all__ = [
    "DEFAULT_CONFIG",
    "RULES",
    "ResolutionResult",
    "ResolveConfig",
    "cluster_names",
    "normalize_name",
    "resolve_mentions",
]

RULES: dict[str, str] = {
    "fuzzy": "similar names of one label, scored by fuzz.ratio (threshold, one_token_typos)",
    "token_order": "the same words in another order (token_order)",
    "written_together": "the same characters with and without separators: Chinese or "
    "Japanese, or initials with and without dots (token_order)",
    "numeral_form": "the same numbers in other forms: II, two, second, 2nd (numeral_forms)",
    "person_name": "an initial or a missing middle name, one fuller name fits (person_rules)",
    "org_short_form": "an organisation's first word, one organisation fits "
    "(org_short_forms_across_documents)",
    "acronym": "an acronym and the one long form it spells in the corpus (acronyms)",
    "type_majority": "a name under a dominated label (type_dominance; one word: "
    "one_word_type_labels)",
    "demonym": "a nationality adjective tagged as a place and the place's name (demonyms)",
    "document_person": "a surname or initial and its document's fuller name (document_rules)",
    "document_short_form": "an organisation's first word after its full name in a document "
    "(org_short_forms)",
    "short_form_elsewhere": "an organisation's first word alone, joined to the organisation "
    "that other documents write it after (org_short_forms_elsewhere)",
    "document_acronym": "an acronym and its document's long form (acronyms)",
    "same_name_in_document": "one name under several labels in a document (same_name_rule)",
}
"""Every rule that merges mentions (:attr:`kgbuild.data.Merge.rule`), and the
:class:`ResolveConfig` setting that turns it off."""
