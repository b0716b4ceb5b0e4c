"""Hand-checked cases for kgbuild.stages.resolve."""

from __future__ import annotations

import random

import numpy as np
import pytest
from rapidfuzz import fuzz

from kgbuild.data import Mention, Provenance, Span
from kgbuild.ids import stable_id
from kgbuild.stages.resolve import (
    RULES,
    ResolutionResult,
    ResolveConfig,
    cluster_names,
    normalize_name,
    resolve_mentions,
)
from kgbuild.stages.resolve.blocking import window_pairs
from kgbuild.stages.resolve.names import is_regnal_number, is_roman_numeral, numeral_value

SHORT_FORMS = ResolveConfig(org_short_forms_across_documents=True)
"""Short forms across documents are off by default (on Re-DocRED none it joined was right)."""


def make_mentions(*specs: tuple[str, str, str]) -> list[Mention]:
    """Build mentions from ``(text, label, doc_id)``; ids are m0, m1, ... in order.

    Each mention starts after the one before it (offsets follow the order given).
    """
    return [
        Mention(
            id=f"m{i}",
            text=text,
            label=label,
            provenance=Provenance(
                doc_id=doc,
                chunk_id=f"{doc}-c0",
                span=Span(start=1000 * i, end=1000 * i + max(len(text), 1)),
                score=0.9,
                model="test",
                model_revision="0",
                run_id="run",
                stage="ner",
            ),
        )
        for i, (text, label, doc) in enumerate(specs)
    ]


def groups(result: ResolutionResult) -> set[frozenset[str]]:
    """The partition of mention ids, as a set of frozensets."""
    return {frozenset(e.mention_ids) for e in result.entities}


def same(result: ResolutionResult, a: str, b: str) -> bool:
    """Tell whether two mention ids went to one entity."""
    return result.mention_to_entity[a] == result.mention_to_entity[b]


# --------------------------------------------------------------------------- normalize_name


@pytest.mark.parametrize(
    ("text", "label", "expected"),
    [
        ("Acme Robotics, Inc.", "ORG", "acme robotics"),
        ("ACME ROBOTICS LTD", "ORG", "acme robotics"),
        ("Acme Robotics Corporation", "ORG", "acme robotics"),
        ("Acme Co., Ltd.", "ORG", "acme"),
        ("Société Générale S.A.", "ORG", "societe generale"),
        ("The Coca-Cola Company", "ORG", "coca cola"),
        ("Procter & Gamble Co.", "ORG", "procter and gamble"),
        ("Siemens AG", "ORG", "siemens"),
        ("Inc.", "ORG", "inc"),  # never strips everything
        ("Dr. José  Álvarez", "PER", "jose alvarez"),
        ("Mr. John O'Neill", "PER", "john oneill"),
        ("Smith, John", "PER", "john smith"),
        ("John Smith, Jr.", "PER", "john smith jr"),
        ("Jane Doe, PhD", "PER", "jane doe"),
        ("Dr.", "PER", "dr"),
        ("ﬁnland", "LOC", "finland"),  # NFKC ligature
        ("Inc.", "LOC", "inc"),  # suffixes only for organisations
        ("the United Kingdom", "LOC", "united kingdom"),  # a leading article for places too
        ("The Hague", "GPE", "hague"),
        ("the Bible", "MISC", "the bible"),
        ("The", "LOC", "the"),
        ("Acme Inc.", "PER", "acme inc"),
        ("...", "ORG", "..."),
    ],
)
def test_normalize_name(text: str, label: str, expected: str) -> None:
    assert normalize_name(text, label) == expected


def test_normalize_name_uses_config_lists() -> None:
    config = ResolveConfig(corporate_suffixes=("Holdings",), person_titles=())
    assert normalize_name("Acme Holdings", "ORG", config=config) == "acme"
    assert normalize_name("Acme Inc.", "ORG", config=config) == "acme inc"
    assert normalize_name("Dr. No", "PER", config=config) == "dr no"


# --------------------------------------------------------------------------- merging


def test_transitive_merging() -> None:
    a, b, c = "Maple Grove", "Maple Grave", "Mable Grave"
    # Hand-checked: a~b and b~c score 90.9 (one substitution each, tokens 80), a~c 81.8.
    assert fuzz.ratio(a.lower(), b.lower()) >= 90
    assert fuzz.ratio(b.lower(), c.lower()) >= 90
    assert fuzz.ratio(a.lower(), c.lower()) < 90
    result = resolve_mentions(make_mentions((a, "ORG", "d1"), (c, "ORG", "d2")))
    assert len(result.entities) == 2
    result = resolve_mentions(make_mentions((a, "ORG", "d1"), (b, "ORG", "d2"), (c, "ORG", "d3")))
    assert groups(result) == {frozenset({"m0", "m1", "m2"})}
    assert result.merges == 2


def test_suffix_case_and_accent_variants_merge() -> None:
    result = resolve_mentions(
        make_mentions(
            ("Acme Robotics Inc.", "ORG", "d1"),
            ("ACME ROBOTICS", "ORG", "d2"),
            ("acme robotics ltd", "ORG", "d3"),
            ("Nestlé S.A.", "ORG", "d1"),
            ("Nestle", "ORG", "d4"),
        )
    )
    assert groups(result) == {frozenset({"m0", "m1", "m2"}), frozenset({"m3", "m4"})}


def test_letters_with_a_stroke_or_ligature_fold_like_accents() -> None:
    # NFD takes the accent off "é" but not the stroke off "ł" or "ø": "Lech Wałęsa" and
    # "Lech Walesa" were two people, "Ørsted" and "Orsted" two companies
    result = resolve_mentions(
        make_mentions(
            ("Lech Wałęsa", "PER", "d1"),
            ("Lech Walesa", "PER", "d2"),
            ("Ørsted", "ORG", "d1"),
            ("Orsted", "ORG", "d3"),
            ("Łódź", "LOC", "d1"),
            ("Lodz", "LOC", "d4"),
            ("Æbeltoft", "LOC", "d1"),
            ("Aebeltoft", "LOC", "d5"),
        )
    )
    assert groups(result) == {
        frozenset({"m0", "m1"}),
        frozenset({"m2", "m3"}),
        frozenset({"m4", "m5"}),
        frozenset({"m6", "m7"}),
    }
    assert normalize_name("Søren Kierkegaard", "PER") == "soren kierkegaard"
    assert normalize_name("Þór Đorđević", "PER") == "thor dordevic"


def test_names_with_invisible_characters_inside_words_merge() -> None:
    # a soft hyphen (text copied from a web page or a PDF), a word joiner or a BOM inside
    # a word does not make another name; a zero-width space between two words separates them
    result = resolve_mentions(
        make_mentions(
            ("Hans Müller", "PER", "d1"),
            ("Hans Mül\u00adler", "PER", "d2"),
            ("Bluefin Analytics", "ORG", "d1"),
            ("Bluefin Ana\u00adly\u2060tics", "ORG", "d3"),
            ("\ufeffBluefin\u200bAnalytics", "ORG", "d4"),
        )
    )
    assert groups(result) == {frozenset({"m0", "m1"}), frozenset({"m2", "m3", "m4"})}
    assert {e.name for e in result.entities} == {"Hans Müller", "Bluefin Analytics"}


def test_a_place_with_and_without_its_article_is_one_entity_across_documents() -> None:
    """Each document writing both forms must not leave two entities that each hold both."""
    result = resolve_mentions(
        make_mentions(
            ("the United Kingdom", "LOC", "d1"),
            ("United Kingdom", "LOC", "d1"),
            ("United Kingdom", "LOC", "d2"),
            ("United Kingdom", "LOC", "d3"),
            ("the United Kingdom", "LOC", "d3"),
            ("the Bible", "MISC", "d1"),
            ("Bible", "MISC", "d2"),
        )
    )
    assert groups(result) == {
        frozenset({"m0", "m1", "m2", "m3", "m4"}),
        frozenset({"m5"}),  # other labels keep their article across documents
        frozenset({"m6"}),
    }
    kingdom = next(e for e in result.entities if "m0" in e.mention_ids)
    assert kingdom.name == "United Kingdom"  # the more frequent of the two fullest forms
    assert kingdom.aliases == ("the United Kingdom",)


def test_typo_merges() -> None:
    result = resolve_mentions(
        make_mentions(("Acme Robotics", "ORG", "d1"), ("Acme Robtics", "ORG", "d2"))
    )
    assert same(result, "m0", "m1")


def test_unrelated_names_stay_apart() -> None:
    result = resolve_mentions(
        make_mentions(
            ("Acme Robotics", "ORG", "d1"),
            ("Acme Foods", "ORG", "d1"),
            ("Austria", "LOC", "d1"),
            ("Australia", "LOC", "d1"),
            ("Windows 10", "MISC", "d1"),
            ("Windows 11", "MISC", "d1"),
        )
    )
    assert len(result.entities) == 6


def test_initial_links_when_unambiguous() -> None:
    result = resolve_mentions(
        make_mentions(
            ("John Smith", "PER", "d1"),
            ("J. Smith", "PER", "d2"),
            ("Mary Jones", "PER", "d3"),
        )
    )
    assert same(result, "m0", "m1")
    assert len(result.entities) == 2


def test_initial_stays_apart_when_ambiguous() -> None:
    result = resolve_mentions(
        make_mentions(
            ("John Smith", "PER", "d1"),
            ("James Smith", "PER", "d2"),
            ("J. Smith", "PER", "d3"),
            ("Mary Smith", "PER", "d4"),
        )
    )
    assert len(result.entities) == 4


def test_different_initials_never_fuzzy_match() -> None:
    result = resolve_mentions(
        make_mentions(("J. Smithson", "PER", "d1"), ("A. Smithson", "PER", "d2"))
    )
    assert len(result.entities) == 2


def test_middle_initial_links_when_unambiguous() -> None:
    result = resolve_mentions(
        make_mentions(
            ("John A. Smith", "PER", "d1"),
            ("John Smith", "PER", "d2"),
            ("J. Smith", "PER", "d3"),
        )
    )
    assert groups(result) == {frozenset({"m0", "m1", "m2"})}


def test_typo_variant_counts_as_one_candidate() -> None:
    # "Jonathan Smith" and its typo are one fuzzy cluster, so "J. Smith" is unambiguous.
    result = resolve_mentions(
        make_mentions(
            ("Jonathan Smith", "PER", "d1"),
            ("Jonathon Smith", "PER", "d2"),
            ("J. Smith", "PER", "d3"),
        ),
        ResolveConfig(fuzzy_person_names=True, fuzzy_given_names=True),
    )
    assert groups(result) == {frozenset({"m0", "m1", "m2"})}


def test_a_surname_joins_its_full_name_when_a_shorter_form_of_it_is_written_too() -> None:
    # "van Beethoven" joins "Ludwig van Beethoven"; the bare "Beethoven" fits both and was
    # left alone as ambiguous, one person's name counted as two candidates
    result = resolve_mentions(
        make_mentions(
            ("Ludwig van Beethoven", "PER", "d1"),
            ("van Beethoven", "PER", "d1"),
            ("Beethoven", "PER", "d1"),
            ("John Smith", "PER", "d2"),
            ("J. Smith", "PER", "d2"),
            ("Smith", "PER", "d2"),
            ("Jane Smith", "PER", "d3"),  # "J. Smith" is ambiguous across the corpus
            ("David Chen", "PER", "d4"),
            ("D. Chen", "PER", "d4"),
            ("Linda Chen", "PER", "d4"),
            ("Chen", "PER", "d4"),  # two people: still ambiguous
        )
    )
    assert groups(result) == {
        frozenset({"m0", "m1", "m2"}),
        frozenset({"m3", "m4", "m5"}),
        frozenset({"m6"}),
        frozenset({"m7", "m8"}),
        frozenset({"m9"}),
        frozenset({"m10"}),
    }


def test_a_surname_joins_its_documents_full_name_ending_in_jr() -> None:
    # the surname rule took "jr" for the surname: "King" and "Dr. King" stayed apart from
    # "Martin Luther King Jr." in its own document
    result = resolve_mentions(
        make_mentions(
            ("Martin Luther King Jr.", "PER", "d1"),
            ("King", "PER", "d1"),
            ("Dr. King", "PER", "d1"),
            ("Robert Downey Jr.", "PER", "d2"),
            ("Downey", "PER", "d2"),
            ("John Smith Jr.", "PER", "d3"),
            ("John Smith Sr.", "PER", "d3"),
            ("Smith", "PER", "d3"),  # father or son: left alone
        )
    )
    assert groups(result) == {
        frozenset({"m0", "m1", "m2"}),
        frozenset({"m3", "m4"}),
        frozenset({"m5"}),
        frozenset({"m6"}),
        frozenset({"m7"}),
    }
    king = next(e for e in result.entities if "m0" in e.mention_ids)
    assert king.name == "Martin Luther King Jr."


def test_surname_links_only_within_the_same_document() -> None:
    result = resolve_mentions(
        make_mentions(
            ("John Smith", "PER", "d1"),
            ("Smith", "PER", "d1"),
            ("Smith", "PER", "d2"),  # no full name in d2
            ("Smith", "PER", "d3"),  # ambiguous in d3
            ("John Smith", "PER", "d3"),
            ("Mary Smith", "PER", "d3"),
        )
    )
    assert same(result, "m0", "m1")
    assert same(result, "m0", "m4")
    assert not same(result, "m0", "m2")
    assert not same(result, "m3", "m4")
    assert not same(result, "m3", "m5")
    # Unlinked bare surnames fall back to one global "Smith" key (like exact matching).
    assert same(result, "m2", "m3")
    by_id = {e.id: e for e in result.entities}
    john = by_id[result.mention_to_entity["m0"]]
    assert john.name == "John Smith"
    assert john.aliases == ("Smith",)
    assert john.doc_ids == ("d1", "d3")
    smith = by_id[result.mention_to_entity["m2"]]
    assert smith.name == "Smith"
    assert smith.id != john.id


def test_moved_surnames_do_not_decide_the_canonical_name() -> None:
    result = resolve_mentions(
        make_mentions(
            ("John Smith", "PER", "d1"),
            ("Smith", "PER", "d1"),
            ("Smith", "PER", "d1"),
            ("Smith", "PER", "d1"),
            ("Smith", "PER", "d2"),
        )
    )
    by_mention = {m: e for e in result.entities for m in e.mention_ids}
    assert by_mention["m0"].name == "John Smith"
    assert by_mention["m0"].id == stable_id("ent", "PER", "john smith")
    assert by_mention["m0"].mention_ids == ("m0", "m1", "m2", "m3")
    assert by_mention["m4"].name == "Smith"
    assert by_mention["m4"].id == stable_id("ent", "PER", "smith")


def test_large_surname_block_keeps_people_apart() -> None:
    # 3,000 people named "<given> Chen" form one block far above max_block_size: it
    # is scanned by window, and no two of them merge (given names are all distinct).
    given = [a + b + c + "o" for a in "bcdfghjklm" for b in "aeiou" for c in "bcdfghjklmnprst"]
    texts = [f"{g.capitalize()}{t} Chen" for g in given for t in ("", "n", "r", "s")][:3000]
    ids = cluster_names(["PER"] * len(texts), texts, [f"d{i}" for i in range(len(texts))])
    assert len(set(ids.tolist())) == len(texts)


def test_surname_rule_can_be_switched_off() -> None:
    mentions = make_mentions(("John Smith", "PER", "d1"), ("Smith", "PER", "d1"))
    assert same(resolve_mentions(mentions), "m0", "m1")
    result = resolve_mentions(mentions, ResolveConfig(document_rules=False))
    assert not same(result, "m0", "m1")


def test_initial_links_within_a_document_even_if_globally_ambiguous() -> None:
    result = resolve_mentions(
        make_mentions(
            ("John Smith", "PER", "d1"),
            ("J. Smith", "PER", "d1"),
            ("James Smith", "PER", "d2"),
            ("J. Smith", "PER", "d3"),  # no fuller name in d3: stays apart
        )
    )
    assert same(result, "m0", "m1")
    assert not same(result, "m2", "m1")
    assert not same(result, "m3", "m0")
    assert not same(result, "m3", "m2")
    john = next(e for e in result.entities if "m0" in e.mention_ids)
    assert john.aliases == ("J. Smith",)
    assert john.name == "John Smith"


def test_organisation_short_form_within_a_document() -> None:
    result = resolve_mentions(
        make_mentions(
            ("Acme Robotics Inc.", "ORG", "d1"),
            ("Acme", "ORG", "d1"),
            ("Acme Foods", "ORG", "d2"),
            ("Acme", "ORG", "d2"),
            ("Acme", "ORG", "d3"),  # ambiguous globally, no long form in d3
        ),
        SHORT_FORMS,
    )
    assert same(result, "m0", "m1")
    assert same(result, "m2", "m3")
    assert not same(result, "m0", "m2")
    assert not same(result, "m4", "m0")
    assert not same(result, "m4", "m2")


def test_frequency_guard_keeps_established_names_apart() -> None:
    # Two established names one interior letter apart (ratio 90.9), and a typo.
    specs = [("Belgrovenia", "LOC", f"a{i}") for i in range(5)]
    specs += [("Belgravenia", "LOC", f"b{i}") for i in range(5)]
    specs += [("Belgravnia", "LOC", "c0")]  # a one-off typo still matches
    mentions = make_mentions(*specs)
    result = resolve_mentions(mentions)
    assert not same(result, "m0", "m5")
    assert same(result, "m10", "m5")
    assert len(resolve_mentions(mentions, ResolveConfig(max_variant_share=1.0)).entities) == 1


def test_best_match_only_limits_chaining() -> None:
    # The typo "Geilga" is one letter from both "Gelga" and "Geiga" (90.9 each), which
    # are 80 apart. It joins only its best match (tie on score and mentions: the first
    # key in sorted order, "geiga").
    specs = [("Gelga", "ORG", f"a{i}") for i in range(5)]
    specs += [("Geiga", "ORG", f"b{i}") for i in range(5)]
    specs += [("Geilga", "ORG", "c0")]
    result = resolve_mentions(make_mentions(*specs))
    assert groups(result) == {
        frozenset(f"m{i}" for i in range(5)),
        frozenset(f"m{i}" for i in range(5, 11)),
    }
    chained = resolve_mentions(make_mentions(*specs), ResolveConfig(best_match_only=False))
    assert len(chained.entities) == 1


def test_people_sharing_a_surname_stay_apart() -> None:
    result = resolve_mentions(
        make_mentions(
            ("David Chen", "PER", "d1"),
            ("Linda Chen", "PER", "d1"),
            ("Chen", "PER", "d1"),
            ("D. Chen", "PER", "d2"),
            ("John Smith", "PER", "d3"),
            ("Joan Smith", "PER", "d3"),
        )
    )
    assert not same(result, "m0", "m1")
    assert not same(result, "m2", "m0")
    assert not same(result, "m2", "m1")
    assert same(result, "m3", "m0")  # only one "D." Chen
    assert not same(result, "m4", "m5")


def test_token_order_variants_merge() -> None:
    result = resolve_mentions(
        make_mentions(("David Chen", "PER", "d1"), ("CHEN David", "PER", "d2"))
    )
    assert same(result, "m0", "m1")


def test_chinese_and_japanese_names_with_and_without_separators_merge() -> None:
    # a foreign name in Chinese is written with a middle dot or without, a Japanese name
    # with a space or without: each was two entities
    result = resolve_mentions(
        make_mentions(
            ("迈克尔·乔丹", "PER", "d1"),
            ("乔丹", "PER", "d1"),  # the surname still joins its document's full name
            ("迈克尔乔丹", "PER", "d2"),
            ("迈克尔・乔丹", "PER", "d3"),
            ("山田 太郎", "PER", "d4"),
            ("山田太郎", "PER", "d5"),
            ("山田太郎", "ORG", "d6"),  # another label: not the person
            ("John Smith", "PER", "d7"),
            ("JohnSmith", "PER", "d8"),  # written with spaces: not joined
        )
    )
    assert groups(result) == {
        frozenset({"m0", "m1", "m2", "m3"}),
        frozenset({"m4", "m5"}),
        frozenset({"m6"}),
        frozenset({"m7"}),
        frozenset({"m8"}),
    }
    jordan = next(e for e in result.entities if "m0" in e.mention_ids)
    assert jordan.name == "迈克尔·乔丹"
    assert "written_together" in {m.rule for m in jordan.merges}
    off = resolve_mentions(
        make_mentions(("山田 太郎", "PER", "d4"), ("山田太郎", "PER", "d5")),
        ResolveConfig(token_order=False),
    )
    assert len(off.entities) == 2


def test_initials_inside_a_name_with_and_without_dots_merge() -> None:
    # "j p morgan" and "jp morgan" were two keys of other word counts, never compared
    result = resolve_mentions(
        make_mentions(
            ("J.P. Morgan", "ORG", "d1"),
            ("JP Morgan", "ORG", "d2"),
            ("U.S. Steel", "ORG", "d3"),
            ("US Steel", "ORG", "d4"),
            ("AT&T", "ORG", "d5"),
            ("A.T.&T.", "ORG", "d6"),
            ("J.P. Smith", "PER", "d7"),  # a person's initials: the person rules decide
            ("JP Smith", "PER", "d8"),
        )
    )
    assert groups(result) == {
        frozenset({"m0", "m1"}),
        frozenset({"m2", "m3"}),
        frozenset({"m4", "m5"}),
        frozenset({"m6"}),
        frozenset({"m7"}),
    }


def test_one_word_names_keep_their_labels_across_documents() -> None:
    result = resolve_mentions(
        make_mentions(
            ("Jordan", "PER", "d1"),
            ("Jordan", "LOC", "d2"),
            ("Acme", "ORG", "d1"),
            ("Acme", "PRODUCT", "d2"),
            ("Michael Jordan", "LOC", "d3"),
        )
    )
    assert len(result.entities) == 5
    assert {e.label for e in result.entities} == {"PER", "LOC", "ORG", "PRODUCT"}


def test_organisation_short_form() -> None:
    unique = resolve_mentions(
        make_mentions(("Acme", "ORG", "d1"), ("Acme Robotics Inc.", "ORG", "d2")), SHORT_FORMS
    )
    assert same(unique, "m0", "m1")
    ambiguous = resolve_mentions(
        make_mentions(
            ("Acme", "ORG", "d1"),
            ("Acme Robotics Inc.", "ORG", "d2"),
            ("Acme Foods", "ORG", "d3"),
        ),
        SHORT_FORMS,
    )
    assert len(ambiguous.entities) == 3


# --------------------------------------------------------------------------- output contract


def test_canonical_name_aliases_and_sorting() -> None:
    result = resolve_mentions(
        make_mentions(
            ("Acme Robotics", "ORG", "d3"),
            ("Acme Robotics Inc.", "ORG", "d2"),
            ("ACME", "ORG", "d1"),
            ("Acme Robotics Inc.", "ORG", "d1"),
            ("Acme Robotics", "ORG", "d2"),
        ),
        SHORT_FORMS,
    )
    (entity,) = result.entities
    # Two forms occur twice: the longer wins.
    assert entity.name == "Acme Robotics Inc."
    assert entity.aliases == ("ACME", "Acme Robotics")
    assert entity.mention_ids == ("m0", "m1", "m2", "m3", "m4")
    assert entity.doc_ids == ("d1", "d2", "d3")
    assert entity.label == "ORG"
    assert entity.id == stable_id("ent", "ORG", "acme robotics")
    assert result.merges == 1  # keys "acme robotics" and "acme"


def test_canonical_tie_breaks_lexicographically() -> None:
    result = resolve_mentions(make_mentions(("ACME Inc", "ORG", "d1"), ("Acme Inc", "ORG", "d1")))
    assert result.entities[0].name == "ACME Inc"


def test_canonical_tie_goes_to_the_best_cased_form() -> None:
    # a headline in capitals and the body's form, as often: the body's form names it
    forms = make_mentions(("ACME CORP", "ORG", "d1"), ("Acme Corp", "ORG", "d1"))
    assert [e.name for e in resolve_mentions(forms).entities] == ["Acme Corp"]
    more = make_mentions(("ZELTA ROBOTICS INC.", "ORG", "d1"), ("Zelta Robotics Inc", "ORG", "d1"))
    assert resolve_mentions(more).entities[0].name == "Zelta Robotics Inc"
    # more frequent still wins
    shouted = make_mentions(
        *(("VORN GROUP", "ORG", d) for d in ("d1", "d2")), ("Vorn Group", "ORG", "d3")
    )
    assert resolve_mentions(shouted).entities[0].name == "VORN GROUP"


def test_canonical_tie_goes_to_the_form_without_a_title_or_article() -> None:
    # equal counts: the title or "the" made the longer form win
    person = make_mentions(("Dr. Wenna Talloch", "PER", "d1"), ("Wenna Talloch", "PER", "d2"))
    (entity,) = resolve_mentions(person).entities
    assert entity.name == "Wenna Talloch"
    assert entity.aliases == ("Dr. Wenna Talloch",)
    assert entity.id == stable_id("ent", "PER", "wenna talloch")  # the id is unchanged
    mister = make_mentions(("Mr. Quell", "PER", "d1"), ("Quell", "PER", "d1"))
    assert resolve_mentions(mister).entities[0].name == "Quell"
    company = make_mentions(("the Brindle Corp", "ORG", "d1"), ("Brindle Corp", "ORG", "d2"))
    assert resolve_mentions(company).entities[0].name == "Brindle Corp"
    # counts still come first
    titled = make_mentions(
        *(("Prof. Orla Venn", "PER", d) for d in ("d1", "d2")), ("Orla Venn", "PER", "d3")
    )
    assert resolve_mentions(titled).entities[0].name == "Prof. Orla Venn"


def test_ids_are_stable_across_runs_and_batches() -> None:
    first = resolve_mentions(make_mentions(("John Smith", "PER", "d1"), ("Acme", "ORG", "d1")))
    second = resolve_mentions(make_mentions(("Acme", "ORG", "d9"), ("John Smith", "PER", "d7")))
    assert {e.id for e in first.entities} == {e.id for e in second.entities}
    assert {e.id for e in first.entities} == {
        stable_id("ent", "PER", "john smith"),
        stable_id("ent", "ORG", "acme"),
    }


def test_deterministic_under_shuffled_input() -> None:
    mentions = make_mentions(
        ("John Smith", "PER", "d1"),
        ("Smith", "PER", "d1"),
        ("J. Smith", "PER", "d2"),
        ("Mary Smith", "PER", "d3"),
        ("Smith", "PER", "d3"),
        ("Acme Robotics Inc.", "ORG", "d1"),
        ("ACME Robtics", "ORG", "d2"),
        ("Acme", "ORG", "d3"),
        ("Acme Foods Ltd", "ORG", "d3"),
        ("Northwind Traders", "ORG", "d1"),
        ("Northwind Tradrs", "ORG", "d2"),
        ("Paris", "LOC", "d1"),
        ("paris", "LOC", "d4"),
    )
    expected = resolve_mentions(mentions)
    labels = [m.label for m in mentions]
    texts = [m.text for m in mentions]
    docs = [m.doc_id for m in mentions]
    expected_ids = cluster_names(labels, texts, docs)
    rng = random.Random(7)
    for _ in range(10):
        order = list(range(len(mentions)))
        rng.shuffle(order)
        assert resolve_mentions([mentions[i] for i in order]) == expected
        shuffled_ids = cluster_names(
            [labels[i] for i in order], [texts[i] for i in order], [docs[i] for i in order]
        )
        assert shuffled_ids.tolist() == [expected_ids[i] for i in order]


def test_window_pairs_small_blocks_all_pairs_large_blocks_windowed() -> None:
    members = np.arange(13, dtype=np.int64)
    block = np.array([0] * 10 + [1] * 3, dtype=np.int64)
    order = np.arange(13, dtype=np.int64)[::-1].copy()  # sorted within block by order
    left, right = window_pairs(members, block, order, max_block_size=4, window=2)
    pairs = {tuple(sorted(p)) for p in zip(left.tolist(), right.tolist(), strict=True)}
    big = {(i, i + d) for i in range(10) for d in (1, 2) if i + d < 10}
    assert pairs == big | {(10, 11), (10, 12), (11, 12)}
    assert len(left) == len(pairs)


def test_tiny_blocks_still_match_neighbours() -> None:
    # max_block_size=2 forces the sorted-neighbourhood path in every block.
    config = ResolveConfig(max_block_size=2, window=1)
    texts = [f"{w} Widgets" for w in ("Alpha", "Bravo", "Delta", "Echo", "Foxtrot")]
    texts += ["Charlie Widgets", "Charlie Widgetz", "Acme Robotics", "Acme Robtics"]
    ids = cluster_names(["ORG"] * len(texts), texts, ["d1"] * len(texts), config).tolist()
    assert ids[5] == ids[6]
    assert ids[7] == ids[8]
    assert len(set(ids)) == 7


def test_given_names_must_match_unless_configured() -> None:
    mentions = make_mentions(("Christina Miller", "PER", "d1"), ("Christine Miller", "PER", "d2"))
    assert len(resolve_mentions(mentions).entities) == 2
    similar = ResolveConfig(fuzzy_person_names=True)
    assert len(resolve_mentions(mentions, similar).entities) == 2
    fuzzy = resolve_mentions(
        mentions, ResolveConfig(fuzzy_person_names=True, fuzzy_given_names=True)
    )
    assert len(fuzzy.entities) == 1


def test_surname_typo_merges_only_when_person_names_may_differ() -> None:
    mentions = make_mentions(("Maria Williams", "PER", "d1"), ("Maria Wiliams", "PER", "d2"))
    assert not same(resolve_mentions(mentions), "m0", "m1")
    assert same(resolve_mentions(mentions, ResolveConfig(fuzzy_person_names=True)), "m0", "m1")


def test_people_one_letter_apart_stay_apart_by_default() -> None:
    """Across documents "Christina" / "Cristina", "John Baird" / "John Beard" are two people."""
    result = resolve_mentions(
        make_mentions(
            ("Kristiana", "PER", "d1"),
            ("Kristana", "PER", "d2"),
            ("Talira", "PER", "d3"),
            ("Tlaira", "PER", "d4"),  # one swap of neighbouring letters
            ("Oren Bairdly", "PER", "d5"),
            ("Oren Beardly", "PER", "d6"),
            ("Maros Bohlmann", "PER", "d7"),
            ("Maros Bolmann", "PER", "d8"),
            ("Kestrel Robotix", "ORG", "d1"),  # other labels keep their typo matching
            ("Kestrel Robotics", "ORG", "d2"),
        )
    )
    assert groups(result) == {
        *(frozenset({f"m{i}"}) for i in range(8)),
        frozenset({"m8", "m9"}),
    }


def test_roman_numerals_tell_rulers_and_editions_apart() -> None:
    """ "Henry VI" / "Henry VII", "Super Bowl XLIV" / "XLV": one letter, another thing."""
    config = ResolveConfig(fuzzy_person_names=True)  # even where person names may differ
    result = resolve_mentions(
        make_mentions(
            ("Aldric VI", "PER", "d1"),
            ("Aldric VII", "PER", "d2"),
            ("Darvos II", "PER", "d3"),
            ("Darvos III", "PER", "d4"),
            ("Vell Cup XLIV", "MISC", "d5"),
            ("Vell Cup XLV", "MISC", "d6"),
            ("XI Lancer Corps", "ORG", "d7"),
            ("XII Lancer Corps", "ORG", "d8"),
        ),
        config,
    )
    assert len(result.entities) == 8


def test_a_name_ending_in_a_numeral_is_no_shorter_form() -> None:
    """ "Frederick I" is not "Frederick William I"; "Cosimo I" is not "Cosimo II"."""
    result = resolve_mentions(
        make_mentions(
            ("Anselm I", "PER", "d1"),
            ("Anselm Wilhelm I", "PER", "d2"),
            ("Jorund III", "PER", "d3"),
            ("Jorund Davison Rockwell III", "PER", "d3"),  # one document, too
            ("Cosimar I de Vellici", "PER", "d4"),
            ("Cosimar II de Vellici", "PER", "d5"),
            ("Anselm Wilhelm Ostrander", "PER", "d6"),  # the person rule still works
            ("Anselm Ostrander", "PER", "d7"),
        )
    )
    assert groups(result) == {
        *(frozenset({f"m{i}"}) for i in range(6)),
        frozenset({"m6", "m7"}),
    }


def test_word_order_joins_names_but_not_numbers_or_initials() -> None:
    result = resolve_mentions(
        make_mentions(
            ("River Kessel", "LOC", "d1"),
            ("Kessel River", "LOC", "d2"),
            ("19 October 2031", "TIME", "d3"),
            ("October 19, 2031", "TIME", "d4"),
            ("2 - 1", "NUM", "d5"),  # two scores of one match
            ("1–2", "NUM", "d6"),
            ("R.T.", "PER", "d7"),
            ("T.R.", "PER", "d8"),
            ("3 to 1 vote", "MISC", "d9"),
            ("1 to 3 vote", "MISC", "d10"),
        )
    )
    assert groups(result) == {
        frozenset({"m0", "m1"}),
        frozenset({"m2", "m3"}),
        *(frozenset({f"m{i}"}) for i in range(4, 10)),
    }


def test_a_surname_that_reads_as_a_numeral_is_still_a_surname() -> None:
    """ "Li" is 51 in Roman numerals and one of the commonest surnames."""
    result = resolve_mentions(
        make_mentions(("Wei Jun Li", "PER", "d1"), ("Wei Li", "PER", "d2"), ("W. Li", "PER", "d3"))
    )
    assert len(result.entities) == 1
    assert is_roman_numeral("li") and not is_regnal_number("li")
    assert is_regnal_number("xxxviii") and not is_regnal_number("xl")


@pytest.mark.parametrize(
    ("token", "numeral"),
    [
        ("i", True),
        ("vii", True),
        ("xliv", True),
        ("cccxcix", True),
        ("xiiii", False),
        ("mix", False),
        ("civil", False),
        ("", False),
        ("vi1", False),
    ],
)
def test_is_roman_numeral(token: str, numeral: bool) -> None:
    assert is_roman_numeral(token) is numeral


@pytest.mark.parametrize(
    ("token", "first", "value"),
    [
        ("two", False, "2"),
        ("second", True, "2"),
        ("2nd", True, "2"),
        ("02", False, "02"),  # digits as written: "3,000" must not read as "3 0"
        ("ii", False, "2"),
        ("xiv", False, "14"),
        ("xix", False, "19"),
        ("i", True, None),  # "I, Robot": a first word is not read as a numeral
        ("li", False, None),  # a surname, see is_regnal_number
        ("twentyone", False, None),
        ("war", False, None),
    ],
)
def test_numeral_value(token: str, first: bool, value: str | None) -> None:
    assert numeral_value(token, first=first) == value


def test_names_that_write_one_number_in_other_forms_join() -> None:
    result = resolve_mentions(
        make_mentions(
            ("World War II", "MISC", "d1"),
            ("World War Two", "MISC", "d2"),
            ("Second World War", "MISC", "d3"),
            ("WWII", "MISC", "d4"),  # its acronym writes the numeral whole
            ("World War I", "MISC", "d5"),
            ("First World War", "MISC", "d6"),
            ("WWI", "MISC", "d7"),
            ("1st Kessel Army", "ORG", "d8"),
            ("First Kessel Army", "ORG", "d9"),
            ("Second Kessel Army", "ORG", "d10"),
            ("Kessel Route 2 North 5", "LOC", "d11"),
            ("Kessel Route Five North Two", "LOC", "d12"),  # the numbers in another order
            ("3,000", "NUM", "d13"),  # a number, not the score "3 - 0"
            ("3 - 0", "NUM", "d14"),
        )
    )
    assert groups(result) == {
        frozenset({"m0", "m1", "m2", "m3"}),
        frozenset({"m4", "m5", "m6"}),
        frozenset({"m7", "m8"}),
        frozenset({"m9"}),
        frozenset({"m10"}),
        frozenset({"m11"}),
        frozenset({"m12"}),
        frozenset({"m13"}),
    }
    world_war = next(e for e in result.entities if "m1" in e.mention_ids)
    assert {m.rule for m in world_war.merges} == {"numeral_form", "acronym"}
    apollo = make_mentions(("Apollo XI", "MISC", "a"), ("Apollo 11", "MISC", "b"))
    assert same(resolve_mentions(apollo), "m0", "m1")
    assert not same(resolve_mentions(apollo, ResolveConfig(numeral_forms=False)), "m0", "m1")


def test_cluster_names_validates_lengths() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        cluster_names(["PER"], ["a", "b"], ["d1", "d1"])


def test_duplicate_mention_ids_are_rejected() -> None:
    mentions = make_mentions(("A", "PER", "d1"))
    with pytest.raises(ValueError, match="unique"):
        resolve_mentions([mentions[0], mentions[0]])


def test_empty_input() -> None:
    result = resolve_mentions([])
    assert result.entities == ()
    assert result.mention_to_entity == {}
    assert result.merges == 0
    assert cluster_names([], [], []).tolist() == []


def test_short_org_form_joins_the_dominant_candidate_and_name_is_the_fullest() -> None:
    texts = ["Acme"] * 6 + ["Acme Robotics"] * 4 + ["Acme Robotics Inc."] * 2 + ["Acme board"]
    mentions = [
        Mention(
            id=f"m{i}",
            text=t,
            label="ORG",
            provenance=Provenance(
                doc_id=f"d{i}",
                chunk_id="c",
                span=Span(start=0, end=len(t)),
                score=0.9,
                model="m",
                model_revision="r",
                run_id="run",
                stage="ner",
            ),
        )
        for i, t in enumerate(texts)
    ]
    result = resolve_mentions(mentions, SHORT_FORMS)
    by_name = {e.name: e for e in result.entities}
    assert set(by_name) == {"Acme Robotics", "Acme board"}
    assert len(by_name["Acme Robotics"].mention_ids) == 12


# --------------------------------------------------------------------------- issue 15: merges
# Invented names of the shapes that went wrong on real text.


def test_a_name_with_a_prefix_is_another_genus() -> None:
    # "Eopseudotrilobus" is "Pseudotrilobus" plus a prefix (ratio 93): two genera.
    result = resolve_mentions(
        make_mentions(
            ("Pseudotrilobus", "MISC", "d1"),
            ("Eopseudotrilobus", "MISC", "d1"),
            ("Eopseudotrilobus", "MISC", "d2"),
        )
    )
    assert not same(result, "m0", "m1")
    assert same(result, "m1", "m2")


def test_taxon_suffixes_are_different_taxa() -> None:
    # Genus, order and family one or two letters apart (ratios 91 and 96).
    result = resolve_mentions(
        make_mentions(
            ("Spinoplaxa", "MISC", "d1"),
            ("Spinoplaxida", "MISC", "d1"),
            ("Spinoplaxidae", "MISC", "d2"),
            ("Spinoplaxinae", "MISC", "d3"),  # a subfamily: one substitution from the family
        )
    )
    assert len(result.entities) == 4


def test_binomial_does_not_join_its_genus() -> None:
    result = resolve_mentions(
        make_mentions(
            ("Fungaria velutipes", "ORG", "d1"),
            ("Fungaria", "ORG", "d1"),
            ("Fungaria", "ORG", "d2"),
            ("Brackley Robotics", "ORG", "d3"),  # a proper name: its short form joins
            ("Brackley", "ORG", "d3"),
            ("Brackley", "ORG", "d4"),
        ),
        SHORT_FORMS,
    )
    assert not same(result, "m0", "m1")
    assert not same(result, "m0", "m2")
    assert same(result, "m3", "m4")
    assert same(result, "m3", "m5")


def test_a_short_form_joins_the_full_name_written_before_it_in_its_document() -> None:
    result = resolve_mentions(
        make_mentions(
            ("Brackley Robotics", "ORG", "d1"),
            ("Brackley", "ORG", "d1"),  # after the full name: its short form
            ("Brackley", "ORG", "d2"),  # before the full name: another organisation
            ("Brackley Electronics", "ORG", "d2"),
            ("Brackley", "ORG", "d3"),  # two organisations start with it: joins neither
        )
    )
    assert same(result, "m0", "m1")
    assert not same(result, "m2", "m3")
    assert not same(result, "m4", "m0") and not same(result, "m4", "m3")
    (merge,) = [m for e in result.entities for m in e.merges]
    assert merge.rule == "document_short_form" and merge.doc_ids == ("d1",)


def test_a_short_form_alone_joins_the_organisation_other_documents_write_it_after() -> None:
    mentions = make_mentions(
        ("Northwind Logistics", "ORG", "d1"),
        ("Northwind", "ORG", "d1"),  # after the full name: the short form
        ("Northwind Logistics Ltd.", "ORG", "d2"),
        ("Northwind", "ORG", "d2"),  # and again: two documents join the two
        ("Northwind", "ORG", "d3"),  # alone: the organisation d1 and d2 say it is
        ("Northwind", "ORG", "d4"),  # a title before the full name: d4 alone keeps them
        ("Northwind Logistics", "ORG", "d4"),  # apart, fewer documents than join them
        ("Northwind", "ORG", "d4"),
        ("Northwind", "LOC", "d5"),  # another label: not the company
        ("Kestrel", "ORG", "d6"),  # no document writes it after a full name
        ("Kestrel Aerospace", "ORG", "d7"),
    )
    result = resolve_mentions(mentions)
    assert groups(result) == {
        frozenset({"m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7"}),
        frozenset({"m8"}),
        frozenset({"m9"}),
        frozenset({"m10"}),
    }
    company = next(e for e in result.entities if "m4" in e.mention_ids)
    assert company.name == "Northwind Logistics"
    elsewhere = [m for m in company.merges if m.rule == "short_form_elsewhere"]
    assert [(m.source, m.doc_ids) for m in elsewhere] == [("Northwind", ("d3", "d4"))]
    off = resolve_mentions(mentions, ResolveConfig(org_short_forms_elsewhere=False))
    assert not same(off, "m4", "m0")
    assert "short_form_elsewhere" in RULES


def test_a_short_form_kept_apart_by_as_many_documents_is_not_joined_elsewhere() -> None:
    result = resolve_mentions(
        make_mentions(
            ("Samsung Electronics", "ORG", "d1"),
            ("Samsung", "ORG", "d1"),  # after the full name: joined in d1
            ("Samsung", "ORG", "d2"),  # written before the full name and never after it:
            ("Samsung Electronics", "ORG", "d2"),  # d2 names two organisations
            ("Samsung", "ORG", "d3"),
        )
    )
    assert same(result, "m0", "m1")
    assert not same(result, "m2", "m3")
    assert not same(result, "m4", "m0")


def test_lowercase_phrase_is_not_the_capitalised_title_of_its_document() -> None:
    result = resolve_mentions(
        make_mentions(
            ("Three Rooms Over", "MISC", "d1"),  # a song
            ("three rooms over", "MISC", "d1"),  # "a party three rooms over the hall"
            ("Three Rooms Over", "MISC", "d1"),
            ("three rooms over", "MISC", "d1"),
            ("three rooms over", "MISC", "d2"),  # only lowercase here: left with the title
            ("Souvlaki", "MISC", "d3"),  # capital only at the start: a sentence's first word
            ("souvlaki", "MISC", "d3"),
        )
    )
    assert same(result, "m0", "m2")
    assert not same(result, "m0", "m1")
    assert same(result, "m1", "m3")
    assert same(result, "m0", "m4")
    assert same(result, "m5", "m6")
    ids = [e.id for e in result.entities]
    assert len(ids) == len(set(ids)) == 3
    lowercase = next(e for e in result.entities if "m1" in e.mention_ids)
    assert lowercase.name == "three rooms over"
    assert lowercase.mention_ids == ("m1", "m3")
    off = resolve_mentions(
        make_mentions(("Three Rooms Over", "MISC", "d1"), ("three rooms over", "MISC", "d1")),
        ResolveConfig(case_in_document=False),
    )
    assert len(off.entities) == 1


def test_accent_folded_word_with_one_more_letter_stays_apart() -> None:
    # "castelière" folds to "casteliere", "Castelier" plus one letter (ratio 94.7).
    result = resolve_mentions(
        make_mentions(("Castelier", "ORG", "d1"), ("castelière", "ORG", "d2"))
    )
    assert len(result.entities) == 2


def test_one_word_typos_inside_the_word_still_merge() -> None:
    specs = [("Marovinna", "LOC", f"a{i}") for i in range(6)]
    specs += [("Marovinan", "LOC", "b0"), ("Marovina", "LOC", "b1")]
    result = resolve_mentions(make_mentions(*specs))
    # A swap of the last two letters (ratio 88.9) joins; "Marovina" is "Marovinna"
    # less one of its doubled letters, a typo too.
    assert len(result.entities) == 1
    rules = {(m.source, m.rule) for m in result.entities[0].merges}
    assert ("Marovinan", "fuzzy") in rules


def test_words_with_another_first_letter_stay_apart() -> None:
    result = resolve_mentions(
        make_mentions(("Eastern Varnosia", "LOC", "d1"), ("Western Varnosia", "LOC", "d2"))
    )
    assert len(result.entities) == 2


def test_possessive_is_the_same_name() -> None:
    result = resolve_mentions(
        make_mentions(("Brackley Robotics", "ORG", "d1"), ("Brackley Robotics'", "ORG", "d2"))
    )
    assert same(result, "m0", "m1")
    assert normalize_name("Acme\u2019s", "ORG") == "acme"


def test_a_possessive_in_capitals_is_the_same_name() -> None:
    # a headline's "ACME'S" was the key "acmes", another entity than "Acme"
    result = resolve_mentions(
        make_mentions(("Brackley Robotics", "ORG", "d1"), ("BRACKLEY ROBOTICS'S", "ORG", "d2"))
    )
    assert same(result, "m0", "m1")
    assert normalize_name("ACME\u2019S", "ORG") == "acme"
    assert normalize_name("DAVID CHEN'S", "PER") == "david chen"


# --------------------------------------------------------------------------- issue 15: splits


def test_one_name_under_three_labels_in_a_document_is_one_entity() -> None:
    result = resolve_mentions(
        make_mentions(
            ("Tsamunghkal", "LOC", "d1"),
            ("Tsamunghkal", "ORG", "d1"),
            ("Tsamunghkal", "PER", "d1"),
            ("Tsamunghkal", "LOC", "d1"),
            ("Varnosia", "LOC", "d2"),
            ("Varnosia", "MISC", "d2"),
        )
    )
    assert groups(result) == {frozenset({"m0", "m1", "m2", "m3"}), frozenset({"m4", "m5"})}
    by_name = {e.name: e for e in result.entities}
    assert by_name["Tsamunghkal"].label == "LOC"  # the majority of its mentions
    merge = next(m for m in by_name["Tsamunghkal"].merges if m.source_label == "PER")
    assert (merge.rule, merge.target_label, merge.doc_ids) == (
        "same_name_in_document",
        "LOC",
        ("d1",),
    )
    assert by_name["Varnosia"].label == "LOC"  # tie: alphabetical


def test_same_name_in_a_document_ignores_the_labels_own_rules() -> None:
    # As an organisation "Brackley Robotics Ltd." normalises to "brackley robotics".
    result = resolve_mentions(
        make_mentions(
            ("Brackley Robotics Ltd.", "ORG", "d1"),
            ("Brackley Robotics Ltd.", "ORG", "d1"),
            ("Brackley Robotics Ltd.", "MISC", "d1"),
            ("Dr. Varno", "PER", "d2"),
            ("Dr. Varno", "ORG", "d2"),
            ("Varno", "LOC", "d2"),  # another name
        )
    )
    assert same(result, "m0", "m2")
    assert same(result, "m3", "m4")
    assert not same(result, "m3", "m5")


def test_same_name_in_a_document_keeps_what_other_rules_moved_with_the_name() -> None:
    # "Varno" joins "Delia Varno" (a person); the full name, also tagged MISC once, must
    # not leave the surname behind when the two labels become one entity.
    result = resolve_mentions(
        make_mentions(
            ("Delia Varno", "PER", "d1"),
            ("Varno", "PER", "d1"),
            ("Varno", "PER", "d1"),
            ("Delia Varno", "MISC", "d1"),
            ("Delia Varno", "MISC", "d2"),  # another document: its own decision
        )
    )
    assert groups(result) == {frozenset({"m0", "m1", "m2", "m3"}), frozenset({"m4"})}
    (delia,) = [e for e in result.entities if "m0" in e.mention_ids]
    assert delia.name == "Delia Varno"
    assert delia.label == "PER"
    assert {m.rule for m in delia.merges} == {"document_person", "same_name_in_document"}


def _scored(mention: Mention, score: float) -> Mention:
    """``mention`` with another NER score."""
    provenance = mention.provenance.model_copy(update={"score": score})
    return mention.model_copy(update={"provenance": provenance})


def test_a_tie_of_labels_goes_to_the_label_the_model_was_surer_of() -> None:
    mentions = make_mentions(("Delia Varno", "PER", "d1"), ("Delia Varno", "MISC", "d1"))
    (entity,) = resolve_mentions([mentions[0], _scored(mentions[1], 0.95)]).entities
    assert entity.label == "MISC"  # 0.95 against 0.9
    (entity,) = resolve_mentions(mentions).entities  # equal scores: alphabetical
    assert entity.label == "MISC"
    (entity,) = resolve_mentions([_scored(mentions[0], 0.99), mentions[1]]).entities
    assert entity.label == "PER"


def test_a_surname_with_its_particle_joins_the_full_name_in_its_document() -> None:
    result = resolve_mentions(
        make_mentions(
            ("Elena Di Varno", "PER", "d1"),
            ("Di Varno", "PER", "d1"),
            ("Jim Orlo", "PER", "d2"),
            ("Van Orlo", "PER", "d2"),  # not "... van Orlo": another person
            ("Piet van der Kessel", "PER", "d3"),
            ("van der Kessel", "PER", "d3"),
        )
    )
    assert same(result, "m0", "m1")
    assert not same(result, "m2", "m3")
    assert same(result, "m4", "m5")


def test_same_name_rule_can_be_switched_off() -> None:
    mentions = make_mentions(("Varnosia", "LOC", "d1"), ("Varnosia", "MISC", "d1"))
    assert len(resolve_mentions(mentions, ResolveConfig(same_name_rule=False)).entities) == 2


def test_multi_word_name_joins_its_dominant_label_across_documents() -> None:
    specs = [("Marrow Bay Navy", "ORG", f"a{i}") for i in range(3)]
    specs += [("Marrow Bay Navy", "LOC", "b0")]
    specs += [("Kestrel Point", "LOC", "c0"), ("Kestrel Point", "ORG", "c1")]  # no majority
    result = resolve_mentions(make_mentions(*specs))
    assert same(result, "m0", "m3")
    navy = next(e for e in result.entities if "m0" in e.mention_ids)
    assert navy.label == "ORG"
    assert [(m.rule, m.score) for m in navy.merges] == [("type_majority", 75.0)]
    assert not same(result, "m4", "m5")


def test_one_word_name_joins_its_majority_label_between_loc_and_misc() -> None:
    # A language tagged LOC in some documents and MISC in others is one entity.
    specs = [("Varnish", "LOC", f"a{i}") for i in range(3)]
    specs += [("Varnish", "MISC", f"b{i}") for i in range(2)]
    specs += [("Orlendo", "LOC", "c0"), ("Orlendo", "PER", "c1"), ("Orlendo", "PER", "c2")]
    specs += [("Quill", "LOC", "d0"), ("Quill", "MISC", "d1")]  # a tie: no majority
    specs += [("The Varnish", "MISC", "e0")]  # a title, not the one word: stays apart
    result = resolve_mentions(make_mentions(*specs))
    assert groups(result) >= {frozenset({"m0", "m1", "m2", "m3", "m4"})}
    varnish = next(e for e in result.entities if "m0" in e.mention_ids)
    assert varnish.label == "LOC"
    assert [(m.rule, m.source_label, m.score) for m in varnish.merges] == [
        ("type_majority", "MISC", 60.0)
    ]
    assert not same(result, "m5", "m6")  # a place and a person: not under these labels
    assert not same(result, "m8", "m9")
    assert not same(result, "m0", "m10")


def test_one_word_type_labels_empty_keeps_one_word_labels_apart() -> None:
    specs = [("Varnish", "LOC", "a0"), ("Varnish", "LOC", "a1"), ("Varnish", "MISC", "b0")]
    mentions = make_mentions(*specs)
    assert len(resolve_mentions(mentions).entities) == 1
    config = ResolveConfig(one_word_type_labels=frozenset())
    assert len(resolve_mentions(mentions, config).entities) == 2
    stricter = ResolveConfig(one_word_type_dominance=3.0)  # 2 LOC against 1 MISC: not enough
    assert len(resolve_mentions(mentions, stricter).entities) == 2


def test_acronym_joins_its_long_form_in_a_document() -> None:
    long_form = "National Center for Tidal Analysis and Monitoring"
    result = resolve_mentions(
        make_mentions(
            (long_form, "ORG", "d1"),
            ("NCTAM", "ORG", "d1"),
            ("NCTAM", "MISC", "d1"),  # any label within the document
            ("NCTAM", "ORG", "d2"),  # another document: the corpus has one long form
        )
    )
    assert groups(result) == {frozenset({"m0", "m1", "m2", "m3"})}
    (entity,) = result.entities
    assert entity.name == long_form
    assert entity.label == "ORG"
    rules = {m.rule for m in entity.merges}
    assert rules == {"acronym"} | ({"document_acronym"} if len(entity.merges) > 1 else set())


def test_acronym_spells_the_legal_form_its_long_form_writes_out() -> None:
    # "Corporation" and "Group" are stripped from the long form's key, yet its acronym
    # spells them: "BBC" and "BCG" stayed apart from their long forms, even side by side
    result = resolve_mentions(
        make_mentions(
            ("British Broadcasting Corporation", "ORG", "d1"),
            ("BBC", "ORG", "d1"),
            ("BBC", "ORG", "d2"),
            ("Boston Consulting Group", "ORG", "d3"),
            ("BCG", "ORG", "d4"),
            ("Acme Co.", "ORG", "d5"),  # an abbreviated legal form is not spelled: "AC"
            ("AC", "ORG", "d5"),
        )
    )
    assert groups(result) == {
        frozenset({"m0", "m1", "m2"}),
        frozenset({"m3", "m4"}),
        frozenset({"m5"}),
        frozenset({"m6"}),
    }
    bbc = next(e for e in result.entities if "m0" in e.mention_ids)
    assert bbc.name == "British Broadcasting Corporation"


def test_acronym_across_documents_only_when_the_long_form_is_unambiguous() -> None:
    unique = resolve_mentions(
        make_mentions(
            ("United Kingdom Geodetic Service", "ORG", "d1"),
            ("UKGS", "ORG", "d2"),
            ("N.R.", "LOC", "d3"),  # dotted: two letters are enough
            ("Northern Republic", "LOC", "d4"),
            ("NR", "LOC", "d5"),  # the same acronym without dots
        )
    )
    assert same(unique, "m0", "m1")
    assert same(unique, "m2", "m3")
    assert same(unique, "m2", "m4")
    ambiguous = resolve_mentions(
        make_mentions(
            ("United Kingdom Geodetic Service", "ORG", "d1"),
            ("Upper Kent Gliding Society", "ORG", "d3"),
            ("UKGS", "ORG", "d2"),
            ("UKGS", "ORG", "d3"),
        )
    )
    assert not same(ambiguous, "m2", "m0")
    assert not same(ambiguous, "m2", "m1")
    assert same(ambiguous, "m3", "m1")  # its own document decides
    off = resolve_mentions(
        make_mentions(("United Kingdom Geodetic Service", "ORG", "d1"), ("UKGS", "ORG", "d1")),
        ResolveConfig(acronyms=False),
    )
    assert not same(off, "m0", "m1")


def test_two_letter_acronym_across_documents_only_where_a_document_spells_it_out() -> None:
    unseen = resolve_mentions(
        make_mentions(("Northern Republic", "LOC", "d1"), ("NR", "LOC", "d2"))
    )
    assert not same(unseen, "m0", "m1")  # two letters: nothing says what "NR" stands for
    spelled = resolve_mentions(
        make_mentions(
            ("Northern Republic", "LOC", "d1"),
            ("NR", "LOC", "d1"),  # this document writes the two together
            ("NR", "LOC", "d2"),
            ("NR", "LOC", "d3"),
            ("Northern Republic", "LOC", "d4"),
            ("NR", "ORG", "d5"),  # another label: not the place
        )
    )
    assert groups(spelled) == {frozenset({"m0", "m1", "m2", "m3", "m4"}), frozenset({"m5"})}
    entity = next(e for e in spelled.entities if "m2" in e.mention_ids)
    assert entity.name == "Northern Republic"
    assert "acronym" in {m.rule for m in entity.merges}
    ambiguous = resolve_mentions(
        make_mentions(
            ("Northern Republic", "LOC", "d1"),
            ("NR", "LOC", "d1"),
            ("Nova Riviera", "LOC", "d2"),  # a second long form with those initials
            ("NR", "LOC", "d3"),
        )
    )
    assert same(ambiguous, "m0", "m1")  # its own document decides
    assert not same(ambiguous, "m3", "m0") and not same(ambiguous, "m3", "m2")
    assert not same(ambiguous, "m0", "m2")


def test_acronym_short_form_of_a_name_in_capitals_stays_apart() -> None:
    # "ZORBA Live" (an album) starts with "ZORBA" in capitals: the parent, not it.
    result = resolve_mentions(
        make_mentions(
            ("ZORBA Live", "ORG", "d1"),
            ("ZORBA", "ORG", "d1"),
            ("ZORBA", "ORG", "d2"),
        )
    )
    assert not same(result, "m0", "m1")
    assert not same(result, "m0", "m2")


def test_every_merge_says_why() -> None:
    result = resolve_mentions(
        make_mentions(
            ("Acme Robotics Inc.", "ORG", "d1"),
            ("Acme Robtics", "ORG", "d2"),
            ("John Smith", "PER", "d1"),
            ("Smith", "PER", "d1"),
        )
    )
    acme = next(e for e in result.entities if "m0" in e.mention_ids)
    (fuzzy,) = acme.merges
    assert fuzzy.rule == "fuzzy"
    assert {fuzzy.source, fuzzy.target} == {"Acme Robotics Inc.", "Acme Robtics"}
    assert 90 <= fuzzy.score < 100
    assert fuzzy.doc_ids == ()
    smith = next(e for e in result.entities if "m2" in e.mention_ids)
    (moved,) = smith.merges
    assert (moved.rule, moved.source, moved.target, moved.doc_ids) == (
        "document_person",
        "Smith",
        "John Smith",
        ("d1",),
    )
    assert all(merge.rule in RULES for e in result.entities for merge in e.merges)
    single = next(e for e in result.entities if e.mention_ids == ("m0", "m1"))
    assert single.merges


def test_context_similarity_vetoes_a_merge_whose_sentences_disagree() -> None:
    mentions = make_mentions(
        ("Marovinna", "LOC", "d1"),
        ("Marovinna", "LOC", "d2"),
        ("Marovinan", "LOC", "d3"),  # a typo, in a town's sentence
    )
    sentences = {
        "d1-c0": "Marovinna is a small town in the river valley, known for its cheese market.",
        "d2-c0": "Marovinna lies in the valley; its weekly cheese market draws farmers.",
        "d3-c0": "Marovinan, a small town in the valley, holds a cheese market every week.",
    }
    config = ResolveConfig(context_similarity=True)
    assert same(resolve_mentions(mentions, config, sentences=sentences), "m0", "m2")
    sentences["d3-c0"] = "The striker Marovinan scored twice in the cup final on Saturday."
    vetoed = resolve_mentions(mentions, config, sentences=sentences)
    assert not same(vetoed, "m0", "m2")
    assert same(resolve_mentions(mentions, sentences=sentences), "m0", "m2")  # off by default
    with pytest.raises(ValueError, match="sentences"):
        resolve_mentions(mentions, config)


def test_graph_exports_show_the_merges_on_entity_nodes(tmp_path) -> None:
    import json

    import networkx as nx

    from kgbuild.graph.build import build_graph
    from kgbuild.graph.export import write_graphml, write_node_link

    mentions = make_mentions(
        ("National Center for Tidal Analysis and Monitoring", "ORG", "d1"),
        ("NCTAM", "ORG", "d1"),
        ("Varnosia", "LOC", "d1"),
    )
    result = resolve_mentions(mentions)
    graph = build_graph(
        [{"id": "d1", "source": "d1.txt", "content_hash": "h"}],
        result.entities,
        mentions,
        result.mention_to_entity,
    )
    center = result.mention_to_entity["m0"]
    (merge,) = graph.nodes[center]["merges"]
    assert merge["rule"] in {"acronym", "document_acronym"}
    assert {merge["source"], merge["target"]} <= {"NCTAM", mentions[0].text}
    assert graph.nodes[result.mention_to_entity["m2"]]["merges"] == []
    data = json.loads(write_node_link(graph, tmp_path / "g.json").read_text(encoding="utf-8"))
    node = next(n for n in data["nodes"] if n["id"] == center)
    assert node["merges"] == [merge]
    graphml = nx.read_graphml(write_graphml(graph, tmp_path / "g.graphml"))
    assert json.loads(graphml.nodes[center]["merges"]) == [merge]
    # graph.json writes a node's key as its "id" (doc:d1): the bare id an entity's
    # doc_ids and every provenance name is the document's doc_id
    (document,) = (n for n in data["nodes"] if n["kind"] == "document")
    assert document["id"] == "doc:d1" and document["doc_id"] == "d1"
    assert graphml.nodes["doc:d1"]["doc_id"] == "d1"


DEMONYMS = ResolveConfig(demonyms=True)


def test_nationality_adjective_joins_its_country_and_the_entity_keeps_the_country_name() -> None:
    mentions = make_mentions(
        ("Swedish", "LOC", "d1"),
        ("Swedish", "LOC", "d1"),
        ("Sweden", "LOC", "d2"),
        ("Norwegian", "LOC", "d2"),  # no Norway in the corpus: stays as it is
    )
    result = resolve_mentions(mentions, DEMONYMS)
    assert same(result, "m0", "m2")
    sweden = next(e for e in result.entities if "m2" in e.mention_ids)
    assert sweden.name == "Sweden"  # not the more frequent adjective
    assert [(m.rule, m.source, m.target) for m in sweden.merges] == [
        ("demonym", "Swedish", "Sweden")
    ]
    assert not same(result, "m3", "m0")
    assert len(resolve_mentions(mentions).entities) == 3  # off by default


def test_demonym_rule_needs_the_same_place_label_and_an_unambiguous_adjective() -> None:
    mentions = make_mentions(
        ("Swedish", "MISC", "d1"),  # a language or nationality, not the place
        ("Sweden", "LOC", "d1"),
        ("Dominican", "LOC", "d2"),  # Dominica or the Dominican Republic: not in the table
        ("Dominican Republic", "LOC", "d2"),
        ("American", "LOC", "d3"),
        ("U.S.", "LOC", "d3"),
        ("the United States", "LOC", "d4"),
    )
    result = resolve_mentions(mentions, DEMONYMS.model_copy(update={"same_name_rule": False}))
    assert not same(result, "m0", "m1")
    assert not same(result, "m2", "m3")
    assert same(result, "m4", "m5") and same(result, "m4", "m6")
    united = next(e for e in result.entities if "m4" in e.mention_ids)
    assert united.name == "the United States"


def test_users_add_their_own_demonyms() -> None:
    mentions = make_mentions(("Varnosian", "GPE", "d1"), ("Varnosia", "GPE", "d2"))
    assert not same(resolve_mentions(mentions, DEMONYMS), "m0", "m1")
    config = DEMONYMS.model_copy(update={"extra_demonyms": (("Varnosian", "Varnosia"),)})
    assert same(resolve_mentions(mentions, config), "m0", "m1")
    assert "demonym" in RULES


def test_a_name_wrapped_over_two_lines_is_named_with_a_space() -> None:
    result = resolve_mentions(
        make_mentions(
            ("Hanns-Peter\nBoehm", "PER", "d1"),
            ("Hanns-Peter\r\n  Boehm", "PER", "d2"),
            ("Boehm", "PER", "d1"),
        )
    )
    (entity,) = result.entities
    assert entity.name == "Hanns-Peter Boehm"
    assert entity.aliases == ("Boehm",)
    assert entity.id == stable_id("ent", "PER", "hanns peter boehm")


def test_a_compound_surname_joins_its_full_name_in_its_document() -> None:
    result = resolve_mentions(
        make_mentions(
            ("Gabriel García Márquez", "PER", "d1"),
            ("García Márquez", "PER", "d1"),
            ("Márquez", "PER", "d1"),
            ("Ana Lucía Pérez Roldán", "PER", "d2"),
            ("Pérez Roldán", "PER", "d2"),
            ("Roldán", "PER", "d2"),
            ("Tomás Pérez Roldán", "PER", "d3"),
            ("Luis Pérez Roldán", "PER", "d3"),
            ("Pérez Roldán", "PER", "d3"),
        )
    )
    assert same(result, "m0", "m1") and same(result, "m0", "m2")
    assert same(result, "m3", "m4") and same(result, "m3", "m5")
    # two brothers: "Pérez Roldán" may be either, and joins neither
    assert not same(result, "m6", "m7")
    assert not same(result, "m8", "m6") and not same(result, "m8", "m7")
    (garcia,) = [e for e in result.entities if "m0" in e.mention_ids]
    assert garcia.name == "Gabriel García Márquez"
