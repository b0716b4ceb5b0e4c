"""The shipped default models (LoRA adapters over MiniLM-L6) on a few fixed sentences."""

import unicodedata
from pathlib import Path
from typing import Any

from kgbuild.config import NerConfig, TemplateConfig
from kgbuild.data import Chunk, Document, Mention, Provenance, Span
from kgbuild.ids import content_hash
from kgbuild.schema import load_schema
from kgbuild.stages.chunking import chunk_document
from kgbuild.stages.ner import NerStage
from kgbuild.stages.zeroshot import TemplateRelationStage

NEWS = (
    "Maria Gonzalez founded Acme Robotics in Toronto in 2011. "
    "Angela Merkel met Emmanuel Macron in Berlin. "
    "Microsoft bought GitHub, a company based in San Francisco."
)
NEWS_ENTITIES = {
    ("2011", "TIME"),  # the default schema's dates: relation and attribute arguments
    ("Maria Gonzalez", "PER"),
    ("Acme Robotics", "ORG"),
    ("Toronto", "LOC"),
    ("Angela Merkel", "PER"),
    ("Emmanuel Macron", "PER"),
    ("Berlin", "LOC"),
    ("Microsoft", "ORG"),
    ("GitHub", "ORG"),
    ("San Francisco", "LOC"),
}


def _tagged(stage: NerStage, text: str) -> set[tuple[str, str]]:
    doc = Document(id="d", text=text, source="d", content_hash=content_hash(text))
    assert set(stage.labels) == {"PER", "ORG", "LOC", "MISC", "TIME", "NUM"}
    return {(m.text, m.label) for m in stage(chunk_document(doc), {"d": "en"})}


def test_default_model_tags_people_organisations_places_and_dates() -> None:
    stage = NerStage(NerConfig(), run_id="r")
    assert stage.loaded.name.endswith("ner-wide-minilm")
    found = _tagged(stage, NEWS)
    assert found >= NEWS_ENTITIES, found


def test_sentence_relation_model_and_default_attributes_on_the_business_schema() -> None:
    from kgbuild.config import AttributeConfig, ReConfig, Settings
    from kgbuild.extraction import Extractor
    from kgbuild.models import MODELS_DIR

    text = (
        "Maria Gonzalez works for Acme Robotics in Toronto. "
        "Acme Robotics was founded in 2011 by Maria Gonzalez. "
        "Acme Robotics is based in Toronto."
    )
    doc = Document(id="d", text=text, source="d", content_hash=content_hash(text))
    settings = Settings(
        relations=ReConfig(enabled=True, model=str(MODELS_DIR / "re-en-minilm")),
        attributes=AttributeConfig(enabled=True),
        schema_path=Path("business"),
    )
    extractor = Extractor(settings, run_id="r")
    assert extractor.relations is not None and extractor.attributes is not None
    assert extractor.relations.loaded.name.endswith("re-en-minilm")
    [found] = extractor([doc])
    # the business schema declares no TIME: the default NER's "2011" is refused, counted
    assert found.refused.get("TIME mention") == 1, found.refused
    assert all(m.label in {"PER", "ORG", "LOC", "MISC"} for m in found.mentions)
    names = {m.id: m.text for m in found.mentions}
    relations = {(names[r.head_mention], r.type, names[r.tail_mention]) for r in found.relations}
    assert ("Maria Gonzalez", "WORKS_FOR", "Acme Robotics") in relations, relations
    values = {(names[a.mention], a.key, a.value) for a in found.attributes}
    # an attribute names its entity's first mention ("Acme" or "Acme Robotics", one entity)
    assert any(
        name.startswith("Acme") and (key, value) == ("founding_year", "2011")
        for name, key, value in values
    ), values
    assert ("Acme", "headquarters", "Toronto") in values or (
        "Acme Robotics",
        "headquarters",
        "Toronto",
    ) in values, values


def test_default_qa_model_reads_answers_with_offsets() -> None:
    from kgbuild.models import resolve_task_model
    from kgbuild.nlp.reader import ExtractiveReader

    reader = ExtractiveReader(resolve_task_model("qa", "default"))
    context = "Acme Robotics was founded in 2011 in Toronto by Maria Gonzalez and David Chen."
    [best] = reader.read("When was Acme Robotics founded?", [context])
    assert best.text == "2011" and context[best.start : best.end] == "2011"
    [where] = reader.read("Where was Acme Robotics founded?", [context])
    assert where.text == "Toronto"


def test_default_qa_model_answers_keep_the_accents_of_decomposed_text() -> None:
    """An answer ending in a decomposed accent ("e" + U+0301, as macOS files hold it) ends after it."""
    import unicodedata

    from kgbuild.models import resolve_task_model
    from kgbuild.nlp.reader import ExtractiveReader

    reader = ExtractiveReader(resolve_task_model("qa", "default"))
    context = unicodedata.normalize("NFD", "The company was founded by Renée Dupré.")
    [best] = reader.read("Who founded the company?", [context])
    assert best.text == unicodedata.normalize("NFD", "Renée Dupré")
    assert context[best.start : best.end] == best.text


def _one_sentence(text: str, labels: dict[str, str]) -> tuple[Chunk, list[Mention]]:
    """A one-sentence document and a mention (id: its name) of each name in ``labels``."""
    chunk = Chunk(id="c0", doc_id="d", index=0, span=Span(start=0, end=len(text)), text=text)
    mentions = []
    for name, label in labels.items():
        span = Span(start=text.index(name), end=text.index(name) + len(name))
        provenance = Provenance(doc_id="d", chunk_id="c0", span=span, score=1.0, model="m",
                                model_revision="r", run_id="r", stage="ner")  # fmt: skip
        mentions.append(Mention(id=name, text=name, label=label, provenance=provenance))
    return chunk, mentions


def _template_stage(relation: str, **settings: Any) -> TemplateRelationStage:
    """The template stage of the default config (and ``settings``) for one wikidata type."""
    schema = load_schema("wikidata")
    return TemplateRelationStage(
        TemplateConfig(enabled=True, **settings),
        relation_types=[schema.relation_type(relation)],
        run_id="r",
        kinds=schema.kind_pool,
    )


def test_zero_shot_templates_read_with_the_abstaining_qa_model_by_default() -> None:
    stage = _template_stage("DIRECTOR")
    reader = stage.reading.reader
    assert Path(reader.loaded.name).name == "qa-abstain-minilm"
    assert reader.no_answer is not None  # calibrated: it can answer "no answer"
    chunk, mentions = _one_sentence(
        "Vertigo is a 1958 film directed by Alfred Hitchcock.",
        {"Vertigo": "MISC", "Alfred Hitchcock": "PER"},
    )
    found = stage([chunk], mentions)
    assert [(r.head_mention, r.type, r.tail_mention) for r in found] == [
        ("Vertigo", "DIRECTOR", "Alfred Hitchcock")
    ]
    assert found[0].score >= TemplateConfig().threshold


def test_a_sentence_naming_two_writers_answers_the_question_twice() -> None:
    chunk, mentions = _one_sentence(
        "Vertigo is a 1958 film directed by Alfred Hitchcock and written by Alec Coppel and "
        "Samuel A. Taylor.",
        {"Vertigo": "MISC", "Alfred Hitchcock": "PER", "Alec Coppel": "PER",
         "Samuel A. Taylor": "PER"},
    )  # fmt: skip

    def writers(answers_per_context: int) -> set[str]:
        stage = _template_stage("SCREENWRITER", answers_per_context=answers_per_context)
        found = stage([chunk], mentions)
        assert all(r.score >= stage.config.threshold for r in found)
        return {r.tail_mention for r in found}

    assert len(writers(1)) == 1
    assert {"Alec Coppel", "Samuel A. Taylor"} <= writers(3)


def test_shipped_conll04_ner_feeds_relations_end_to_end() -> None:
    """models/ner-conll04-minilm (CoNLL04 conventions) then the sentence-level relation model."""
    from kgbuild.config import ReConfig, Settings
    from kgbuild.extraction import Extractor
    from kgbuild.models import MODELS_DIR

    text = "Maria Gonzalez works for Acme Corp. in Toronto. Acme Corp. is based in Toronto."
    doc = Document(id="d", text=text, source="d", content_hash=content_hash(text))
    ner = NerConfig(model=str(MODELS_DIR / "ner-conll04-minilm"))
    relations = ReConfig(enabled=True, model=str(MODELS_DIR / "re-en-minilm"))
    settings = Settings(ner=ner, relations=relations, schema_path=Path("business"))
    extractor = Extractor(settings, run_id="r")
    [found] = extractor([doc])
    names = {m.id: m.text for m in found.mentions}
    assert {("Maria Gonzalez", "PER"), ("Acme Corp.", "ORG"), ("Toronto", "LOC")} <= {
        (m.text, m.label) for m in found.mentions
    }
    relations = {(names[r.head_mention], r.type, names[r.tail_mention]) for r in found.relations}
    assert ("Maria Gonzalez", "WORKS_FOR", "Acme Corp.") in relations, relations
    assert ("Acme Corp.", "HEADQUARTERED_IN", "Toronto") in relations, relations


def test_default_relation_model_reads_a_document_and_scores_probabilities() -> None:
    from kgbuild.config import ReConfig, Settings
    from kgbuild.extraction import Extractor
    from kgbuild.stages.doc_relations import DocRelationStage

    text = (
        "Brindle Harbour is a port town in the north of Norvania. "
        "Tomas Erlend was born in Brindle Harbour in 1931. "
        "He later joined Calder Shipping, a company based in Brindle Harbour."
    )
    doc = Document(id="d", text=text, source="d", content_hash=content_hash(text))
    # an operating point below the default (0.85) so that this short invented text yields facts
    extractor = Extractor(Settings(relations=ReConfig(enabled=True, min_precision=0.3)), run_id="r")
    assert isinstance(extractor.relations, DocRelationStage)
    assert extractor.relations.loaded.name.endswith("re-docred-minilm")
    [found] = extractor([doc])
    names = {m.id: m.text for m in found.mentions}
    facts = {(names[r.head_mention], r.type, names[r.tail_mention]): r for r in found.relations}
    located = [
        f
        for (h, t, tail), f in facts.items()
        if h.startswith("Brindle") and t == "LOCATED_IN" and tail == "Norvania"
    ]
    assert located, sorted(facts)
    assert all(0.0 < r.score < 1.0 for r in found.relations)
    assert located[0].evidence and "Norvania" in located[0].evidence[0].text


def test_accurate_tier_loads_its_base_from_the_split_packages_and_tags_the_same_sentences() -> None:
    from kgbuild.models import MODELS_DIR

    stage = NerStage(NerConfig(model=str(MODELS_DIR / "ner-wide-mpnet")), run_id="r")
    assert stage.loaded.revision.startswith("824a60481379+")  # all-mpnet-base-v2's weights
    found = _tagged(stage, NEWS)
    assert found >= NEWS_ENTITIES, found


def test_default_model_was_distilled_and_its_card_names_the_teacher_and_the_unlabeled_text() -> (
    None
):
    import json

    from kgbuild.models import MODELS_DIR

    folder = MODELS_DIR / "ner-wide-minilm"
    stage = NerStage(NerConfig(), run_id="r")
    assert stage.loaded.manifest["context"] is True  # reads its neighbours
    card = json.loads((folder / "model_card.json").read_text(encoding="utf-8"))
    assert card["hyperparameters"]["teacher"]["model"] == "models/ner-wide-mpnet"
    assert [e["format"] for e in card["data"]["train"] if e["unlabeled"]] == ["fewrel"]


def test_emoji_are_never_names_nor_parts_of_names() -> None:
    # the model reads an emoji as [UNK] and tags it like an unknown name; 👨‍💼 is two
    # emoji joined by U+200D, three words for spaCy
    stage = NerStage(NerConfig(), run_id="r")
    text = (
        "Meeting with \U0001f468\u200d\U0001f4bc John Smith from Bluefin Analytics \u2705 in "
        "London \U0001f1ec\U0001f1e7 today. \U0001f389\U0001f389 Maria\u00a0Gonzalez founded "
        "Acme Robotics. David Chen \U0001f600 moved to Nairobi."
    )
    doc = Document(id="d", text=text, source="d", content_hash=content_hash(text))
    mentions = stage(chunk_document(doc), {"d": "en"})
    assert all(text[m.span.start : m.span.end] == m.text for m in mentions)
    assert {(m.text, m.label) for m in mentions} == {
        ("John Smith", "PER"),
        ("Bluefin Analytics", "ORG"),
        ("London", "LOC"),
        ("Maria\u00a0Gonzalez", "PER"),
        ("Acme Robotics", "ORG"),
        ("David Chen", "PER"),
        ("Nairobi", "LOC"),
    }


def test_bidirectional_marks_around_a_name_stay_out_of_the_mention() -> None:
    # Hebrew or Arabic text marks an embedded Latin name with U+200F; U+202E ... U+202C
    # shows the name reversed: the marks were in the mention, and in the entity's name
    stage = NerStage(NerConfig(), run_id="r")
    text = "\u200fDavid Chen\u200f moved to \u202eToronto\u202c with Maria Gonzalez\u200e."
    doc = Document(id="d", text=text, source="d", content_hash=content_hash(text))
    mentions = stage(chunk_document(doc), {"d": "en"})
    assert all(text[m.span.start : m.span.end] == m.text for m in mentions)
    assert {(m.text, m.label) for m in mentions} == {
        ("David Chen", "PER"),
        ("Toronto", "LOC"),
        ("Maria Gonzalez", "PER"),
    }


def test_a_markdown_link_target_is_never_part_of_a_name() -> None:
    # spaCy kept "Toronto](http://x" as one word: the entity "Toronto](http://x"
    stage = NerStage(NerConfig(), run_id="r")
    text = (
        "**Maria Gonzalez** works for *Acme Robotics* in [Toronto](http://x).\n\n"
        "See [John Smith](mailto:j@x.org) and [Acme Robotics][1]."
    )
    doc = Document(id="d", text=text, source="d", content_hash=content_hash(text))
    mentions = stage(chunk_document(doc), {"d": "en"})
    assert all(text[m.span.start : m.span.end] == m.text for m in mentions)
    names = {m.text for m in mentions}
    assert {"Toronto", "John Smith"} <= names
    assert not any("]" in name or "(" in name for name in names), names


def test_markdown_emphasis_marks_stay_out_of_names() -> None:
    # the model tagged the "*" after "**Barack Obama" as part of the name
    stage = NerStage(NerConfig(), run_id="r")
    text = (
        "# People\n\nSee [Acme Robotics](https://acme.com/about) and [John Smith](mailto:j@x.org)."
        "\n\n**Barack Obama** was born in [Honolulu](https://en.wikipedia.org/wiki/Honolulu).\n"
    )
    doc = Document(id="d", text=text, source="d", content_hash=content_hash(text))
    mentions = stage(chunk_document(doc), {"d": "en"})
    assert all(text[m.span.start : m.span.end] == m.text for m in mentions)
    names = {m.text for m in mentions}
    assert "Barack Obama" in names
    assert not any(mark in name for name in names for mark in "*_#|"), names


def test_a_name_never_spans_an_old_mac_or_unicode_line_break() -> None:
    # only "\n" split a tagged run: one list of names became one PER "John Smith\rDavid Chen"
    stage = NerStage(NerConfig(), run_id="r")
    for line_end in ("\r", "\u2028", "\x0c"):
        text = line_end.join(["Speakers at the Toronto meeting", "John Smith", "David Chen", ""])
        doc = Document(id="d", text=text, source="d", content_hash=content_hash(text))
        mentions = stage(chunk_document(doc), {"d": "en"})
        assert all(text[m.span.start : m.span.end] == m.text for m in mentions)
        assert {m.text for m in mentions} == {"Toronto", "John Smith", "David Chen"}


def test_decomposed_text_gives_the_mentions_of_composed_text() -> None:
    # spaCy reads no letter in a combining mark: "Bogota\u0301." kept its full stop
    stage = NerStage(NerConfig(), run_id="r")
    composed = "Yesterday Hanns-Pétér Boehm met André-Gérard Noël in Bogotá."
    text = unicodedata.normalize("NFD", composed)
    doc = Document(id="d", text=text, source="d", content_hash=content_hash(text))
    mentions = stage(chunk_document(doc), {"d": "en"})
    assert all(text[m.span.start : m.span.end] == m.text for m in mentions)
    assert {unicodedata.normalize("NFC", m.text) for m in mentions} == {
        "Hanns-Pétér Boehm",
        "André-Gérard Noël",
        "Bogotá",
    }
