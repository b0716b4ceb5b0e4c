"""Attribute filling: value normalisation, the stage, lifting to entities, the whole build."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from kgbuild.config import AttributeConfig, NerConfig, Settings
from kgbuild.data import Evidence, MentionAttribute, Provenance, Span
from kgbuild.errors import ConfigError
from kgbuild.graph.build import resolve_attributes
from kgbuild.lang import detect_lang
from kgbuild.schema import AttributeSpec, EntityType, GraphSchema, load_schema
from kgbuild.stages.values import _parsed_date, normalise_date, normalise_number, normalise_value

# -- normalisation (hand-checked) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2011", "2011"),
        ("in 2011.", "2011"),
        ("March 2019", "2019-03"),
        ("Sept. 2016", "2016-09"),
        ("14 July 2021", "2021-07-14"),
        ("July 14, 2021", "2021-07-14"),
        ("1st of May 2020", "2020-05-01"),
        ("2021-07-14", "2021-07-14"),
        ("2011年", "2011"),
        ("2021年7月14日", "2021-07-14"),
        ("14/07/2021", "2021-07-14"),
        ("29 February 2024", "2024-02-29"),
        ("August 20 , 1920", "1920-08-20"),  # tokenized text (Re-DocRED)
        ("20 August , 1920", "1920-08-20"),
        ("March , 2019", "2019-03"),
        ("1443", "1443"),  # years from 1000 on, as dateparser reads them
        ("18 September 1443", "1443-09-18"),
        ("late-2003", "2003"),  # the year is known
        ("mid 1990", "1990"),
    ],
)
def test_dates_become_iso_8601(text: str, iso: str) -> None:
    assert normalise_date(text) == iso


def test_tokenized_dates_and_decades_are_read_without_dateparser() -> None:
    # dateparser costs a tenth of a second to start and about a millisecond a string: the
    # shapes of tokenized text and decades are settled by the patterns
    _parsed_date.cache_clear()
    assert normalise_date("July 3 , 1954", "en") == "1954-07-03"
    assert normalise_date("1950s", "en") is None
    assert normalise_date("18 September 1443", "en") == "1443-09-18"
    assert normalise_date("late-2003", "en") == "2003"
    assert _parsed_date.cache_info().currsize == 0


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("June 17, 1953", "1953-06-17"),
        ("17th of June, 1953", "1953-06-17"),
        ("Thursday, 17 June 1953", "1953-06-17"),
        ("c. 1850", "1850"),
    ],
)
def test_other_dates_are_read_by_dateparser(text: str, iso: str) -> None:
    assert normalise_date(text) == iso
    assert normalise_date(text, "en") == iso  # an English document's parser reads them too


def test_the_document_language_limits_dateparser_to_its_names() -> None:
    assert normalise_date("Donnerstag, 17. Juni 1953") == "1953-06-17"  # any language
    assert normalise_date("Donnerstag, 17. Juni 1953", "de") == "1953-06-17"
    assert normalise_date("Donnerstag, 17. Juni 1953", "en") is None  # not English names
    assert normalise_date("1953年6月17日", "zh") == "1953-06-17"  # the pattern, any language
    assert normalise_date("Thursday, 17 June 1953", "xx") == "1953-06-17"  # unknown: all


@pytest.mark.parametrize(
    ("sentence", "date", "iso"),
    [
        # Malay, detected as Indonesian: its month names are read too
        (
            "Syarikat itu ditubuhkan pada 15 Ogos 2020 di Kuala Lumpur oleh dua orang.",
            "15 Ogos 2020",
            "2020-08-15",
        ),
        (
            "Kilang itu dibuka pada Disember 2019 dan sejak itu telah mempunyai 500 pekerja.",
            "Disember 2019",
            "2019-12",
        ),
        (
            "Perusahaan itu didirikan pada 15 Agustus 2020 di Jakarta oleh dua orang.",
            "15 Agustus 2020",
            "2020-08-15",
        ),
        # Vietnamese, detected as such, reads its own
        (
            "Công ty được thành lập ngày 2 tháng 9 năm 1945 tại Hà Nội.",
            "2 tháng 9 năm 1945",
            "1945-09-02",
        ),
    ],
)
def test_a_date_is_read_in_its_sentence_language(sentence: str, date: str, iso: str) -> None:
    # as the attribute reader does: the language of the sentence that holds the answer
    assert normalise_value(date, "date", detect_lang(sentence)) == iso


@pytest.mark.parametrize(
    "text",
    [
        "last spring",
        "Toronto",
        "13/13/2020",
        "32 May 2020",
        "31 February 2001",  # days the month does not have: no ISO 8601 date
        "2001-02-30",
        "31/04/2021",
        "29 February 2023",
        "",
        "11",
        "German",  # wrong values the old attribute stage stored as dates or places
        "South",
        "Chicago Bears",
        "Monday",  # no year written: refused, never "this year"
        "12 June",
        "after 1900",  # a bound, which dateparser read as 1900
        "by 2020",
        "2020/21",  # a span, which dateparser read as 21 December 2020
        "1990–1995",
        "1950s",  # a decade
        "the 1990 's",
        "mid-1980s",
    ],
)
def test_non_dates_are_refused(text: str) -> None:
    assert normalise_date(text) is None


def test_dotted_dates_are_day_month_year() -> None:
    # was 1999-12-05: dateparser reads the English month-first order
    assert normalise_date("12.05.1999", "en") == "1999-05-12"
    assert normalise_date("31.02.1999") is None


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("$12M", 12_000_000),
        ("€85 million", 85_000_000),
        ("1,200", 1200),
        ("about 3.5 billion", 3_500_000_000),
        ("40", 40),
        ("2.5", 2.5),
        ("1.2万", 12_000),
    ],
)
def test_numbers_are_parsed(text: str, number: float) -> None:
    assert normalise_number(text) == number


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("8,848 m", None),  # metres, not 8.8 billion
        ("100 m", None),
        ("3 b", None),
        ("$3 m", 3_000_000),  # after a currency a letter is a scale
        ("12M", 12_000_000),
        ("5k", 5000),
    ],
)
def test_one_letter_scales_only_when_attached_or_after_a_currency(
    text: str, number: float | None
) -> None:
    assert normalise_number(text) == number


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("8,848 m", "8848 m"),
        ("about 12.5 km", "12.5 km"),
        ("2 million square kilometres", "2000000 square kilometres"),
        ("45%", "45%"),
        ("40", None),  # a bare number has no unit
        ("twelve km", None),
        ("1.2 billion", None),  # a scale is no unit
        ("5 bn", None),
        ("12M", None),
        ("5 years ago", None),  # a point in time
        ("3 decades later", None),
        ("1.5 m tall", "1.5 m"),  # what was measured is not the unit
        ("2 m high", "2 m"),
        ("100 m", "100 m"),
        ("$2.5 million", "$2500000"),  # a currency is the unit
        ("$12M", "$12000000"),
        ("€40", "€40"),
    ],
)
def test_quantities_keep_their_unit(text: str, value: str | None) -> None:
    assert normalise_value(text, "quantity") == value


@pytest.mark.parametrize(
    ("text", "value", "number"),
    [
        ("$ 12 million", "$12000000", 12_000_000),  # Re-DocRED tokens: a space after the sign
        ("U.S. $ 5 million", "US$5000000", 5_000_000),
        ("US$5 million", "US$5000000", 5_000_000),
        ("US $ 5 million", "US$5000000", 5_000_000),
        ("USD 5 million", "USD 5000000", 5_000_000),
        ("€ 3.5 m", "€3500000", 3_500_000),
    ],
)
def test_tokenized_and_prefixed_currencies_read_as_written_together(
    text: str, value: str, number: int
) -> None:
    # "U.S. $ 5 million" and "US$5 million" were no quantity and no number
    assert normalise_value(text, "quantity") == value
    assert normalise_number(text) == number


@pytest.mark.parametrize(
    ("text", "number", "money"),
    [
        ("€ 3,5 million", 3_500_000, "€3500000"),  # a decimal comma, as in translated text
        ("3,5 million euros", 3_500_000, "3500000 euros"),
        ("€ 2,50", 2.5, "€2.5"),
        ("3,500 dollars", 3500, "3500 dollars"),  # three digits: thousands, as before
        ("1,234,567.5 dollars", 1_234_567.5, "1234567.5 dollars"),
        ("1,2,3", None, None),  # a list, not a number
        ("12,34,567", None, None),
    ],
)
def test_a_comma_before_one_or_two_digits_is_a_decimal_comma(
    text: str, number: float | None, money: str | None
) -> None:
    # "€ 3,5 million" (a film's budget) was refused as no number at all
    assert normalise_number(text) == number
    assert normalise_value(text, "quantity", unit="currency") == money


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("12 million US dollars", 12_000_000),  # as "12 million dollars" was
        ("12 million U.S. dollars", 12_000_000),
        ("1.2 billion yuan", 1_200_000_000),
        ("HK $ 5 million", 5_000_000),
        ("C$5 million", 5_000_000),
        ("a $5 million", None),  # an article, not Australian dollars
    ],
)
def test_numbers_read_the_currencies_quantities_read(text: str, number: int | None) -> None:
    assert normalise_number(text) == number
    assert (normalise_value(text, "quantity", unit="currency") is None) == (number is None)


@pytest.mark.parametrize(
    ("text", "unit", "value"),
    [
        ("$12 million", "currency", "$12000000"),
        ("12 million dollars", "currency", "12000000 dollars"),
        ("€3.5m", "currency", "€3500000"),
        ("U.S. $ 5 million", "currency", "US$5000000"),
        ("5 million USD", "currency", "5000000 USD"),
        ("2019", "currency", None),  # a year is no budget
        ("12 million", "currency", None),  # nor a number without its currency
        ("95 minutes", "currency", None),
        ("95 minutes", "minutes", "95 minutes"),
        ("1 h 35 min", "minutes", "95 minutes"),  # a duration is stored in the declared unit
        ("1h 35m", "minutes", "95 minutes"),
        ("1 hour and 35 minutes", "minutes", "95 minutes"),
        ("a 90-minute", "minutes", None),
        ("90-minute", "minutes", "90 minutes"),
        ("2 hours", "minutes", "120 minutes"),
        ("90 minutes", "hours", "1.5 hours"),
        ("$12 million", "minutes", None),  # a sum of money is no running time
        ("2019", "minutes", None),
        ("100 m", "minutes", None),  # "m" alone is metres
        ("5 minutes later", "minutes", None),
        ("over 90 minutes", "minutes", None),
    ],
)
def test_a_quantity_with_a_unit_measures_it(text: str, unit: str, value: str | None) -> None:
    # a quantity took any unit: "$12000000" was stored as a running time
    assert normalise_value(text, "quantity", unit=unit) == value


def test_quantity_units_are_those_the_normaliser_reads() -> None:
    from typing import get_args

    from kgbuild.schema import QuantityUnit
    from kgbuild.stages.values import DURATION_UNITS

    assert set(get_args(QuantityUnit)) == {"currency", *DURATION_UNITS}
    with pytest.raises(ValueError, match="unknown quantity unit 'parsecs'"):
        normalise_value("3 parsecs", "quantity", unit="parsecs")


@pytest.mark.parametrize(
    "text", ["over 500", "more than 1,200", "up to $3 million", "at least 40", "under 5k"]
)
def test_a_bound_is_no_number(text: str) -> None:
    # "over 500" was stored as 500: a bound, like "after 1900" for a date, states no value
    assert normalise_number(text) is None


@pytest.mark.parametrize("text", ["over 500 km", "more than 12%", "up to $3 million"])
def test_a_bound_is_no_quantity(text: str) -> None:
    assert normalise_value(text, "quantity") is None


@pytest.mark.parametrize(
    ("text", "number"), [("about 500", 500), ("nearly 1,200", 1200), ("circa 40", 40)]
)
def test_a_rounded_number_is_kept(text: str, number: int) -> None:
    assert normalise_number(text) == number


def test_years_come_from_dates() -> None:
    assert normalise_value("June 17, 1953", "year") == "1953"
    assert normalise_value("Norwich City", "year") is None


def test_text_and_locations_are_trimmed_and_bad_numbers_refused() -> None:
    assert normalise_value(" Toronto, ", "location") == "Toronto"
    assert normalise_value("twelve", "number") is None
    assert normalise_value("  ", "text") is None


# -- schema -----------------------------------------------------------------------------------


def test_schema_attribute_errors_name_the_field(tmp_path: Path) -> None:
    from kgbuild.errors import ConfigError

    bad = tmp_path / "s.yaml"
    bad.write_text(
        "entity_types: [{name: ORG}]\n"
        "attributes: [{name: founded, entity_type: ORG, question: 'When was it founded?'}]\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"attributes\.0.*\{head\} or \{name\}"):
        load_schema(bad)
    bad.write_text(
        "entity_types: [{name: ORG}]\n"
        "attributes: [{name: founded, entity_type: ORG, model: some/tagger}]\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"attributes\.0.*label is required"):
        load_schema(bad)


def test_default_schema_declares_attributes_with_questions() -> None:
    schema = load_schema("business")
    names = {a.name for a in schema.attributes}
    assert {"founding_year", "headquarters", "birthplace"} <= names
    assert all("{head}" in a.question for a in schema.attributes if a.model is None)
    assert {a.name: a.value_type for a in schema.attributes}["founding_year"] == "year"


# -- lifting to entities ----------------------------------------------------------------------


def _attribute(mention: str, value: str, score: float, doc: str, start: int) -> MentionAttribute:
    provenance = Provenance(
        doc_id=doc,
        chunk_id=f"{doc}-c",
        span=Span(start=start, end=start + 10),
        score=score,
        model="m",
        model_revision="r",
        run_id="run",
        stage="attributes",
    )
    return MentionAttribute(
        id=f"a-{mention}",
        mention=mention,
        key="headquarters",
        value=value,
        value_type="location",
        score=score,
        evidence=(Evidence(provenance=provenance, text="..."),),
    )


def test_resolve_attributes_keeps_the_best_value_with_all_its_evidence() -> None:
    found = [
        _attribute("m1", "Toronto", 0.6, "d1", 0),
        _attribute("m2", "Berlin", 0.9, "d2", 5),
        _attribute("m3", "Berlin", 0.4, "d3", 7),
        _attribute("m4", "Oslo", 0.99, "d4", 0),  # another entity
        _attribute("m5", "Lima", 0.99, "d5", 0),  # a mention resolved to nothing
    ]
    lifted = resolve_attributes(found, {"m1": "E1", "m2": "E1", "m3": "E1", "m4": "E2"})
    by_entity = {a.entity: a for a in lifted}
    assert set(by_entity) == {"E1", "E2"}
    assert by_entity["E1"].value == "Berlin"
    assert by_entity["E1"].score == 0.9
    assert [e.provenance.doc_id for e in by_entity["E1"].evidence] == ["d2", "d3"]
    assert (
        by_entity["E1"].id
        == resolve_attributes(found[:3], {"m1": "E1", "m2": "E1", "m3": "E1"})[0].id
    )


def test_resolve_attributes_takes_the_finest_date_that_agrees_with_the_best() -> None:
    def dated(mention: str, value: str, score: float, doc: str) -> MentionAttribute:
        found = _attribute(mention, value, score, doc, 0)
        return found.model_copy(update={"key": "release_date", "value_type": "date"})

    found = [
        dated("m1", "2015", 0.99, "d1"),  # "a 2015 drama film"
        dated("m2", "2015-06", 0.6, "d2"),
        dated("m3", "2015-06-14", 0.8, "d3"),  # "premiered on 14 June 2015"
        dated("m4", "2016-01-02", 0.9, "d4"),  # disagrees: no refinement of 2015
    ]
    [lifted] = resolve_attributes(found, dict.fromkeys(("m1", "m2", "m3", "m4"), "E1"))
    assert (lifted.value, lifted.score) == ("2015-06-14", 0.8)
    assert [e.provenance.doc_id for e in lifted.evidence] == ["d3"]
    [year] = resolve_attributes(found[:1] + found[3:], {"m1": "E1", "m4": "E1"})
    assert year.value == "2015"


def test_entity_values_agree_by_the_entity_they_name_and_take_its_name() -> None:
    def located(mention: str, value: str, tail: str, score: float, doc: str) -> MentionAttribute:
        base = _attribute(mention, value, score, doc, 0)
        evidence = base.evidence[0].model_copy(update={"tail": tail})
        return base.model_copy(update={"value_type": "entity", "evidence": (evidence,)})

    found = [
        located("m1", "BERLIN", "t1", 0.9, "d1"),  # a dateline
        located("m2", "Berlin", "t2", 0.5, "d2"),
        located("m3", "Munich", "t3", 0.7, "d3"),
    ]
    to_entity = {"m1": "E1", "m2": "E1", "m3": "E1", "t1": "L1", "t2": "L1", "t3": "L2"}
    [lifted] = resolve_attributes(found, to_entity, {"L1": "Berlin", "L2": "Munich"})
    assert lifted.value == "Berlin"  # the entity's canonical name, not the dateline's capitals
    assert [e.provenance.doc_id for e in lifted.evidence] == ["d1", "d2"]  # both name Berlin
    [unnamed] = resolve_attributes(found, to_entity)
    assert unnamed.value == "BERLIN" and len(unnamed.evidence) == 2


# -- the stage and the whole build with tiny trained models -----------------------------------

WORK_SCHEMA = GraphSchema(
    entity_types=(EntityType(name="PER"), EntityType(name="ORG"), EntityType(name="LOC")),
    attributes=(
        AttributeSpec(name="employer", entity_type="PER", question="who does {name} work for ?"),
        AttributeSpec(
            name="city",
            entity_type="PER",
            question="in which city does {name} work ?",
            value_type="location",
        ),
    ),
)


def _write_schema(path: Path) -> Path:
    path.write_text(json.dumps(WORK_SCHEMA.model_dump(mode="json")), encoding="utf-8")
    return path


def test_build_fills_attributes_with_evidence(
    tmp_path: Path, keyword_ner_model: Path, keyword_qa_model: Path
) -> None:
    from kgbuild.pipeline import build

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text(
        "the company said on monday . maria gonzalez works for acme robotics in berlin .",
        encoding="utf-8",
    )
    (docs / "b.txt").write_text(
        "on monday the company said . david chen works for helix in nairobi .",
        encoding="utf-8",
    )
    settings = Settings(
        out_dir=tmp_path / "out",
        ner=NerConfig(model=str(keyword_ner_model)),
        attributes=AttributeConfig(enabled=True, model=str(keyword_qa_model), threshold=0.005),
        schema_path=_write_schema(tmp_path / "schema.json"),
    )
    report = build([str(docs)], settings, progress=False)
    assert report.attributes >= 2
    graph = json.loads((tmp_path / "out" / "graph.json").read_text())
    people = {n["name"].lower(): n for n in graph["nodes"] if n.get("label") == "PER"}
    maria = people["maria gonzalez"]["attributes"]
    assert maria["employer"]["value"] == "acme robotics"
    assert maria["city"]["value"] == "berlin"
    evidence = maria["employer"]["evidence"][0]
    assert evidence["doc_id"] == "a.txt"
    assert "acme robotics" in evidence["text"]
    assert evidence["model"] == str(keyword_qa_model)
    # the answer is never the entity's own name
    assert all(
        slot["value"] != name
        for name, node in people.items()
        for slot in node.get("attributes", {}).values()
    )
    # an unchanged re-run reuses the stored attributes (no model work) and gives the same graph
    again = build([str(docs)], settings, progress=False)
    assert again.skipped == 2 and again.processed == 0
    assert json.loads((tmp_path / "out" / "graph.json").read_text()) == graph


def test_cues_limit_the_sentences_read(keyword_qa_model: Path) -> None:
    from kgbuild.data import Chunk, Mention
    from kgbuild.stages.attributes import AttributeStage

    schema = GraphSchema(
        entity_types=(EntityType(name="PER"), EntityType(name="LOC")),
        attributes=(
            AttributeSpec(
                name="city",
                entity_type="PER",
                question="in which city does {name} work ?",
                value_type="location",
                cues=("WORKS",),  # optional, case-insensitive
            ),
        ),
    )
    texts = [
        "maria gonzalez works for acme robotics in berlin .",
        "maria gonzalez met acme robotics in lisbon .",
    ]
    chunks, mentions, offset = [], [], 0
    for index, text in enumerate(texts):
        chunk = Chunk(
            id=f"c{index}",
            doc_id="d",
            index=index,
            span=Span(start=offset, end=offset + len(text)),
            text=text,
        )
        chunks.append(chunk)
        provenance = Provenance(
            doc_id="d", chunk_id=chunk.id, span=Span(start=offset, end=offset + 14), score=0.9,
            model="m", model_revision="r", run_id="run", stage="ner",
        )  # fmt: skip
        mentions.append(
            Mention(id=f"m{index}", text="maria gonzalez", label="PER", provenance=provenance)
        )
        city = text.split(" in ")[1].split()[0]
        start = offset + text.index(city)
        place = provenance.model_copy(update={"span": Span(start=start, end=start + len(city))})
        mentions.append(Mention(id=f"p{index}", text=city, label="LOC", provenance=place))
        offset += len(text) + 1
    stage = AttributeStage(
        AttributeConfig(model=str(keyword_qa_model), threshold=0.0), schema=schema, run_id="run"
    )
    assert stage.reading is not None
    read = stage.reading.questions(chunks, mentions, list(stage.templates))
    assert [q.chunks[-1].id for q in read] == ["c0"]  # the sentence without the cue is not read
    [city] = stage(chunks, mentions)
    assert city.value == "berlin"
    assert [e.provenance.chunk_id for e in city.evidence] == ["c0"]


# -- attributes from the relation model --------------------------------------------------------


def _relation_schema() -> GraphSchema:
    from kgbuild.schema import RelationType

    return GraphSchema(
        entity_types=tuple(EntityType(name=n) for n in ("PER", "ORG", "LOC", "TIME")),
        relation_types=(
            RelationType(name="DATE_OF_BIRTH", domain=("PER",), range=("TIME",), wikidata="P569"),
            RelationType(name="PLACE_OF_BIRTH", domain=("PER",), range=("LOC",), wikidata="P19"),
            RelationType(name="EMPLOYER", domain=("PER",), range=("ORG",), wikidata="P108"),
        ),
        attributes=(
            AttributeSpec(
                name="birth_date",
                entity_type="PER",
                question="When was {head} born?",
                value_type="date",
                wikidata="P569",
            ),
            AttributeSpec(
                name="birthplace",
                entity_type="PER",
                question="Where was {head} born?",
                value_type="entity",
                range=("LOC",),
                wikidata="P19",
            ),
        ),
    )


def _sentence_with(words: list[tuple[str, str | None]], doc: str = "d") -> tuple[object, list]:
    """One chunk of ``words`` (text, label or None) and a mention per labelled word."""
    from kgbuild.data import Chunk, Mention

    text, mentions, offset = "", [], 0
    spans = []
    for word, label in words:
        start = len(text)
        text += word + " "
        if label:
            spans.append((word, label, start, start + len(word)))
    chunk = Chunk(
        id=f"{doc}-c0", doc_id=doc, index=0, span=Span(start=offset, end=len(text)), text=text
    )
    for index, (word, label, start, end) in enumerate(spans):
        provenance = Provenance(
            doc_id=doc, chunk_id=chunk.id, span=Span(start=start, end=end), score=0.9,
            model="ner", model_revision="r", run_id="run", stage="ner",
        )  # fmt: skip
        mentions.append(
            Mention(id=f"{doc}-m{index}", text=word, label=label, provenance=provenance)
        )
    return chunk, mentions


def _relation(kind: str, head: object, tail: object, chunk: object, score: float) -> object:
    from kgbuild.data import MentionRelation

    provenance = Provenance(
        doc_id=chunk.doc_id, chunk_id=chunk.id, span=chunk.span, score=score,
        model="re-model", model_revision="rev", run_id="run", stage="re",
    )  # fmt: skip
    return MentionRelation(
        id=f"{head.id}-{kind}-{tail.id}",
        head=head.id,
        tail=tail.id,
        type=kind,
        score=score,
        evidence=(Evidence(provenance=provenance, text=chunk.text, head=head.id, tail=tail.id),),
    )


def test_attributes_the_relation_model_covers_come_from_its_relations() -> None:
    from kgbuild.stages.attributes import AttributeStage, attribute_relation_types

    schema = _relation_schema()
    mapping = attribute_relation_types(schema.attributes, schema, ["DATE_OF_BIRTH", "EMPLOYER"])
    assert mapping == {"birth_date": "DATE_OF_BIRTH"}  # birthplace: not predicted, read by QA
    stage = AttributeStage(
        AttributeConfig(),
        schema=schema,
        run_id="run",
        relation_types={"birth_date": "DATE_OF_BIRTH", "birthplace": "PLACE_OF_BIRTH"},
    )
    assert stage.reading is None  # no attribute is left to the QA model: none is loaded
    chunk, (ada, born, london, acme) = _sentence_with(
        [("Ada", "PER"), ("was", None), ("born", None), ("1815-12-10", "TIME"),
         ("in", None), ("London", "LOC"), ("and", None), ("joined", None), ("Acme", "ORG")]
    )  # fmt: skip
    relations = [
        _relation("DATE_OF_BIRTH", ada, born, chunk, 0.91),
        _relation("PLACE_OF_BIRTH", ada, london, chunk, 0.12),  # calibrated: kept at any score
        _relation("EMPLOYER", ada, acme, chunk, 0.99),  # no attribute stands for it
    ]
    found = {a.key: a for a in stage([chunk], [ada, born, london, acme], relations=relations)}
    assert set(found) == {"birth_date", "birthplace"}
    date, place = found["birth_date"], found["birthplace"]
    assert (date.value, date.value_type, date.score) == ("1815-12-10", "date", 0.91)
    assert (place.value, place.value_type) == ("London", "entity")
    assert date.mention == ada.id
    [evidence] = date.evidence  # the value's mention and the relation model are its provenance
    assert (evidence.head, evidence.tail) == (ada.id, born.id)
    assert evidence.provenance.model == "re-model"
    assert evidence.provenance.stage == "attributes"
    strict = AttributeStage(
        AttributeConfig(),
        schema=schema,
        run_id="run",
        relation_types={"birth_date": "DATE_OF_BIRTH", "birthplace": "PLACE_OF_BIRTH"},
        relation_thresholds={"DATE_OF_BIRTH": 0.95},  # the attributes' own operating point
    )
    kept = strict([chunk], [ada, born, london, acme], relations=relations)
    assert [a.key for a in kept] == ["birthplace"]  # the 0.91 birth date is below 0.95


def test_an_attribute_sharing_the_name_but_not_the_property_is_read_by_qa(
    keyword_qa_model: Path,
) -> None:
    from kgbuild.schema import RelationType
    from kgbuild.stages.attributes import AttributeStage, attribute_relation_types

    schema = GraphSchema(
        entity_types=tuple(EntityType(name=n) for n in ("ORG", "MISC", "TIME")),
        relation_types=(
            RelationType(name="INCEPTION", domain=("ORG", "MISC"), range=("TIME",), wikidata="P571"),
        ),
        attributes=(
            AttributeSpec(
                name="inception", entity_type="ORG", wikidata="P571",
                question="When was {head} founded?", value_type="date",
            ),
            AttributeSpec(  # the user's own slot of another type, with no property
                name="inception", entity_type="MISC",
                question="When was {head} first performed?", value_type="date",
            ),
        ),
    )  # fmt: skip
    mapping = attribute_relation_types(schema.attributes, schema, ["INCEPTION"])
    stage = AttributeStage(
        AttributeConfig(model=str(keyword_qa_model), threshold=0.99),
        schema=schema,
        run_id="run",
        relation_types=mapping,
    )
    assert [s.entity_type for s in stage.templates.values()] == ["MISC"]  # asked by QA
    chunk, (acme, play, year) = _sentence_with(
        [("Acme", "ORG"), ("staged", None), ("Hamlet", "MISC"), ("1999-05-01", "TIME")]
    )
    relations = [
        _relation("INCEPTION", acme, year, chunk, 0.9),
        _relation("INCEPTION", play, year, chunk, 0.9),  # not the MISC slot's source
    ]
    from_model = [
        a.mention
        for a in stage([chunk], [acme, play, year], relations=relations)
        if a.evidence[0].provenance.model == "re-model"
    ]
    assert from_model == [acme.id]


def test_relations_that_are_no_value_of_the_type_are_refused() -> None:
    from kgbuild.stages.attributes import AttributeStage

    schema = _relation_schema()
    stage = AttributeStage(
        AttributeConfig(),
        schema=schema,
        run_id="run",
        relation_types={"birth_date": "DATE_OF_BIRTH", "birthplace": "PLACE_OF_BIRTH"},
    )
    chunk, (ada, spring, acme, bob) = _sentence_with(
        [("Ada", "PER"), ("born", None), ("spring", "TIME"), ("at", None), ("Acme", "ORG"),
         ("with", None), ("Bob", "ORG")]
    )  # fmt: skip
    relations = [
        _relation("DATE_OF_BIRTH", ada, spring, chunk, 0.95),  # "spring" is not a date
        _relation("PLACE_OF_BIRTH", ada, acme, chunk, 0.95),  # an ORG is not a LOC value
        _relation("DATE_OF_BIRTH", bob, spring, chunk, 0.95),  # head is no PER
    ]
    assert stage([chunk], [ada, spring, acme, bob], relations=relations) == []
    assert stage.refused == {("d", "birth_date"): 1, ("d", "birthplace"): 1}


def test_a_quantity_attribute_refuses_values_not_in_its_unit() -> None:
    from kgbuild.schema import RelationType
    from kgbuild.stages.attributes import AttributeStage, template_of

    budget = AttributeSpec(
        name="budget", entity_type="MISC", question="What was the budget of {head}?",
        value_type="quantity", unit="currency", wikidata="P2130",
    )  # fmt: skip
    assert template_of(budget).unit == "currency"  # and so read by QA too
    schema = GraphSchema(
        entity_types=tuple(EntityType(name=n) for n in ("MISC", "NUM")),
        relation_types=(
            RelationType(name="COST", domain=("MISC",), range=("NUM",), wikidata="P2130"),
        ),
        attributes=(budget,),
    )
    stage = AttributeStage(
        AttributeConfig(), schema=schema, run_id="run", relation_types={"budget": "COST"}
    )
    chunk, (film, year, other, cost) = _sentence_with(
        [("Vertigo", "MISC"), ("1958", "NUM"), ("Psycho", "MISC"), ("$2.5M", "NUM")]
    )
    relations = [
        _relation("COST", film, year, chunk, 0.95),  # a year is no sum of money
        _relation("COST", other, cost, chunk, 0.95),
    ]
    [stored] = stage([chunk], [film, year, other, cost], relations=relations)
    assert (stored.mention, stored.value) == (other.id, "$2500000")
    assert stage.refused == {("d", "budget"): 1}


def test_a_text_attribute_from_relations_refuses_the_heads_own_name() -> None:
    from kgbuild.schema import RelationType
    from kgbuild.stages.attributes import AttributeStage

    schema = GraphSchema(
        entity_types=(EntityType(name="MISC"),),
        relation_types=(
            RelationType(name="GENRE", domain=("MISC",), range=("MISC",), wikidata="P136"),
        ),
        attributes=(
            AttributeSpec(
                name="genre", entity_type="MISC", question="What genre is {head}?",
                value_type="string", wikidata="P136",
            ),
        ),
    )  # fmt: skip
    stage = AttributeStage(
        AttributeConfig(), schema=schema, run_id="run", relation_types={"genre": "GENRE"}
    )
    chunk, (film, again, noir) = _sentence_with(
        [("Vertigo", "MISC"), ("Vertigo", "MISC"), ("noir", "MISC")]
    )
    relations = [
        _relation("GENRE", film, again, chunk, 0.95),  # the film's own name
        _relation("GENRE", film, noir, chunk, 0.9),
    ]
    [stored] = stage([chunk], [film, again, noir], relations=relations)
    assert stored.value == "noir"
    assert stage.refused == {("d", "genre"): 1}


def test_a_date_attribute_takes_the_finest_date_that_agrees_with_the_best() -> None:
    from kgbuild.stages.attributes import AttributeStage

    stage = AttributeStage(
        AttributeConfig(),
        schema=_relation_schema(),
        run_id="run",
        relation_types={"birth_date": "DATE_OF_BIRTH"},
    )
    chunk, (ada, year, day) = _sentence_with(
        [("Ada", "PER"), ("1815", "TIME"), ("1815-12-10", "TIME")]
    )
    relations = [
        _relation("DATE_OF_BIRTH", ada, year, chunk, 0.95),
        _relation("DATE_OF_BIRTH", ada, day, chunk, 0.85),
    ]
    [born] = stage([chunk], [ada, year, day], relations=relations)
    # the year scored best, but the text gives the day: it was stored as "1815"
    assert (born.value, born.score) == ("1815-12-10", 0.85)
    assert [e.tail for e in born.evidence] == [day.id]


def test_a_number_attribute_from_relations_refuses_a_date_mention() -> None:
    from kgbuild.schema import RelationType
    from kgbuild.stages.attributes import AttributeStage

    schema = GraphSchema(
        entity_types=tuple(EntityType(name=n) for n in ("MISC", "NUM", "TIME")),
        relation_types=(
            RelationType(name="COST", domain=("MISC",), range=("NUM", "TIME"), wikidata="P2130"),
        ),
        attributes=(
            AttributeSpec(
                name="budget", entity_type="MISC", question="What was the budget of {head}?",
                value_type="number", wikidata="P2130",
            ),
        ),
    )  # fmt: skip
    stage = AttributeStage(
        AttributeConfig(), schema=schema, run_id="run", relation_types={"budget": "COST"}
    )
    chunk, (film, year, other, cost) = _sentence_with(
        [("Vertigo", "MISC"), ("1958", "TIME"), ("Psycho", "MISC"), ("806,947", "NUM")]
    )
    relations = [
        _relation("COST", film, year, chunk, 0.95),  # a date, not an amount
        _relation("COST", other, cost, chunk, 0.95),
    ]
    [stored] = stage([chunk], [film, year, other, cost], relations=relations)
    assert (stored.mention, stored.value) == (other.id, 806947)
    assert stage.refused == {("d", "budget"): 1}


def test_a_unit_is_for_quantities_only() -> None:
    with pytest.raises(ValueError, match="unit is for quantity values"):
        AttributeSpec(
            name="budget", entity_type="MISC", question="Budget of {head}?",
            value_type="number", unit="currency",
        )  # fmt: skip


def test_with_relations_on_attributes_also_read_the_facts_below_the_relations_point() -> None:
    """The relation step keeps its own point; the attribute step reads down to its own."""
    from kgbuild.config import ReConfig
    from kgbuild.data import Document
    from kgbuild.extraction import Extractor
    from kgbuild.stages.attributes import AttributeStage
    from kgbuild.stages.factories import AttributesStep
    from kgbuild.stages.registry import StageBatch

    laxer = AttributeConfig(enabled=True, min_precision=0.8)  # than the relations' 0.85
    settings = Settings(relations=ReConfig(enabled=True), attributes=laxer)
    steps = {step.label: step for step in Extractor(settings, run_id="run").stages}
    relations = steps["re"].stage  # type: ignore[attr-defined]
    attributes = steps["attributes"].stage  # type: ignore[attr-defined]
    column = relations.types.index("DATE_OF_BIRTH")
    assert relations.floors[column] == attributes.relation_thresholds["DATE_OF_BIRTH"]
    assert relations.floors[column] < relations.thresholds[column]  # 0.8's point under 0.85's
    assert relations.floors[relations.types.index("EMPLOYER")] == np.inf  # no attribute
    step = AttributesStep(
        AttributeStage(
            AttributeConfig(),
            schema=_relation_schema(),
            run_id="run",
            relation_types={"birth_date": "DATE_OF_BIRTH", "birthplace": "PLACE_OF_BIRTH"},
            relation_thresholds={"DATE_OF_BIRTH": 0.5, "PLACE_OF_BIRTH": 0.5},
        )
    )
    chunk, (ada, born, london) = _sentence_with(
        [("Ada", "PER"), ("born", None), ("1815-12-10", "TIME"), ("in", None), ("London", "LOC")]
    )
    document = Document(id="d", source="d.txt", content_hash="h", text=chunk.text)
    batch = StageBatch(
        documents=[document],
        chunks={"d": [chunk]},
        langs={"d": "en"},
        skipped={"d": ()},
        mentions=[ada, born, london],
        relations=[_relation("PLACE_OF_BIRTH", ada, london, chunk, 0.97)],
        attribute_relations=[_relation("DATE_OF_BIRTH", ada, born, chunk, 0.6)],
    )
    step(batch)
    assert {a.key: a.score for a in batch.attributes} == {"birth_date": 0.6, "birthplace": 0.97}
    assert [r.type for r in batch.relations] == ["PLACE_OF_BIRTH"]  # not a relation


def test_attributes_read_the_relation_model_even_with_relations_off() -> None:
    """The default schema's attributes come from the default relation model's own pass."""
    from kgbuild.extraction import Extractor

    settings = Settings(attributes=AttributeConfig(enabled=True, min_precision=0.8))
    assert not settings.relations.enabled
    step = Extractor(settings, run_id="run").stages[-1]
    assert step.label == "attributes"
    stage = step.stage  # type: ignore[attr-defined]
    assert stage.relation_types["birth_date"] == "DATE_OF_BIRTH"
    assert stage.reading is None  # every default attribute is a relation model's type
    own = step.relations  # type: ignore[attr-defined]
    assert own is not None and set(filter(None, own.types)) == set(stage.relation_types.values())
    at_80 = own.type_thresholds(0.8)  # the attributes' point, laxer than the relations' 0.85
    assert stage.relation_thresholds["DATE_OF_BIRTH"] == at_80["DATE_OF_BIRTH"]
    column = own.types.index("DATE_OF_BIRTH")
    assert (
        own.thresholds[column]
        == own.type_thresholds(0.85)["DATE_OF_BIRTH"]
        > at_80["DATE_OF_BIRTH"]
    )
    assert own.floors is not None and own.floors[column] == at_80["DATE_OF_BIRTH"]
    with pytest.raises(ConfigError, match=r"attributes\.min_precision"):
        Extractor(
            Settings(attributes=AttributeConfig(enabled=True, min_precision=1.0)), run_id="run"
        )
    off = Settings(attributes=AttributeConfig(enabled=True, from_relations=False))
    qa_step = Extractor(off, run_id="run").stages[-1]
    assert qa_step.relations is None and qa_step.stage.reading is not None  # type: ignore[attr-defined]
    assert step.model_key != qa_step.model_key


def test_a_tagger_attribute_rereads_when_its_model_is_retrained_in_place(tmp_path: Path) -> None:
    """The stage's key (what decides whether a document is read again) holds the tagger's
    revision, not only its folder: retrained in place, its values are read anew."""
    from kgbuild.nlp.hf import clear_model_cache
    from kgbuild.nlp.tiny import make_tiny_bert
    from kgbuild.stages.attributes import AttributeStage

    tagger = make_tiny_bert(tmp_path / "tagger", ["O", "B-GENE", "I-GENE"], seed=0)
    spec = AttributeSpec(
        name="target", entity_type="DRUG", model=str(tagger), label="GENE", value_type="string"
    )
    schema = GraphSchema(entity_types=(EntityType(name="DRUG"),), attributes=(spec,))

    def key() -> str:
        clear_model_cache()  # as a new process would
        return AttributeStage(AttributeConfig(), schema=schema, run_id="r").model_key

    before = key()
    assert key() == before
    make_tiny_bert(tmp_path / "tagger", ["O", "B-GENE", "I-GENE"], seed=1)  # retrained
    assert key() != before
    # a schema without taggers keeps the key it had before taggers were keyed: no
    # re-extraction of every document after an upgrade
    untagged = GraphSchema(entity_types=(EntityType(name="DRUG"),))
    plain = AttributeStage(AttributeConfig(), schema=untagged, run_id="r").model_key
    assert '"taggers"' in before and '"taggers"' not in plain


def test_a_tagger_attribute_whose_label_the_model_never_tags_is_refused(tmp_path: Path) -> None:
    """`label: GENES` (a typo) for a GENE tagger would leave the attribute empty for ever."""
    from kgbuild.nlp.tiny import make_tiny_bert
    from kgbuild.stages.attributes import AttributeStage

    tagger = make_tiny_bert(tmp_path / "tagger", ["O", "B-GENE", "I-GENE"], seed=0)
    drug = EntityType(name="DRUG")

    def stage(label: str) -> AttributeStage:
        spec = AttributeSpec(
            name="target", entity_type="DRUG", model=str(tagger), label=label, value_type="string"
        )
        schema = GraphSchema(entity_types=(drug,), attributes=(spec,))
        return AttributeStage(AttributeConfig(), schema=schema, run_id="r")

    with pytest.raises(
        ConfigError, match=r"attributes\.0\.label: model .* tags no 'GENES'.*its labels: GENE\)"
    ):
        stage("GENES")
    assert stage("GENE").model_key


def test_a_tagger_attribute_whose_model_cannot_be_loaded_is_named(tmp_path: Path) -> None:
    """The docs' `model: my/finance-tagger` placeholder, or a folder that holds no model."""
    from kgbuild.errors import ModelLoadError
    from kgbuild.stages.attributes import AttributeStage

    folder = tmp_path / "finance-tagger"
    folder.mkdir()
    revenue = AttributeSpec(
        name="revenue", entity_type="ORG", model=str(folder), label="MONEY", value_type="number"
    )
    age = AttributeSpec(name="age", entity_type="PER", question="How old is {head}?")
    schema = GraphSchema(
        entity_types=(EntityType(name="PER"), EntityType(name="ORG")), attributes=(age, revenue)
    )
    message = (
        f"the schema's attributes.1 (ORG.revenue) names model '{folder}', which cannot be "
        f"loaded: model '{folder}': cannot load its config"
    )
    with pytest.raises(ModelLoadError, match=re.escape(message)):
        AttributeStage(AttributeConfig(), schema=schema, run_id="r")


def test_no_relation_model_is_read_for_attributes_it_cannot_fill(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A user's schema whose attributes share no Wikidata property with a relation type."""
    import logging

    from kgbuild.extraction import Extractor

    schema = tmp_path / "film.yaml"
    schema.write_text(
        "entity_types: [{name: PER}, {name: MISC}]\n"
        "relation_types: [{name: DIRECTED_BY, question: 'Who directed {head}?',"
        " domain: [MISC], range: [PER]}]\n"
        "attributes: [{name: release_year, entity_type: MISC,"
        " question: 'When was {head} released?', value_type: year}]\n",
        encoding="utf-8",
    )
    settings = Settings(schema_path=schema, attributes=AttributeConfig(enabled=True))
    with caplog.at_level(logging.INFO):
        step = Extractor(settings, run_id="run").stages[-1]
    assert step.label == "attributes"
    assert step.relations is None  # type: ignore[attr-defined]
    assert step.stage.reading is not None  # type: ignore[attr-defined]  # read by QA
    # the Wikidata relation model was loaded and dropped, warning of 95 undeclared types
    assert not [r for r in caplog.records if r.name == "kgbuild.stages.doc_relations"]
