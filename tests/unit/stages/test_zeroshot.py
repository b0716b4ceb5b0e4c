"""Zero-shot relations and typed attributes: templates in the schema, read by a tiny QA model.

The models are tiny ones trained on the fly by our own training code (tests/conftest.py):
a keyword NER model and a keyword QA model that answers "who does X work for ?" and "in
which city does X work ?". Nothing here was trained on the relation types the schemas
below declare: they are read by their question templates only.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import networkx as nx
import pytest

from kgbuild.config import AttributeConfig, NerConfig, ReConfig, Settings, TemplateConfig
from kgbuild.data import Chunk, Mention, Provenance, Span
from kgbuild.errors import ConfigError
from kgbuild.schema import (
    AttributeSpec,
    EntityType,
    GraphSchema,
    RelationType,
    fill_question,
    load_schema,
)
from kgbuild.stages.zeroshot import template_types

# -- the schema -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (
            "relation_types: [{name: DIRECTOR, domain: [PER], range: [PER], "
            "question: 'Who directed it?'}]",
            r"relation_types\.0.*\{head\}",
        ),
        (
            "relation_types: [{name: DIRECTOR, domain: [PER], range: [PER], extract: template}]",
            r"relation_types\.0.*needs a question",
        ),
        (
            "relation_types: [{name: DIRECTOR, domain: [PER], range: [PER], "
            "question: 'Who directed {head}?', paraphrases: ['Who was the director?']}]",
            r"relation_types\.0.*paraphrase 'Who was the director\?' must contain \{head\}",
        ),
        (
            "relation_types: [{name: DIRECTOR, domain: [PER], range: [PER], "
            "paraphrases: ['Who was the director of {head}?']}]",
            r"relation_types\.0.*paraphrases need a question",
        ),
        (
            "attributes: [{name: born, entity_type: PER, question: 'When was {head} born?', "
            "value_type: entity}]",
            r"attributes\.0.*range",
        ),
        (
            "attributes: [{name: city, entity_type: PER, question: 'Where is {head}?', "
            "value_type: location}]",
            r"attributes\.0\.range.*LOC",
        ),
        (
            "attributes: [{name: born, entity_type: PER, question: 'When was {head} born?', "
            "value_type: moment}]",
            r"attributes\.0\.value_type",
        ),
        (  # only {head} is filled in: {year} would reach the QA model as written
            "relation_types: [{name: DIRECTOR, domain: [PER], range: [PER], "
            "question: 'Who directed {head} in {year}?'}]",
            r"relation_types\.0.*\{year\}",
        ),
        (
            "relation_types: [{name: DIRECTOR, domain: [PER], range: [PER], "
            "question: 'Who directed {head}?', paraphrases: ['Who directed {head} {film}?']}]",
            r"relation_types\.0.*paraphrase.*\{film\}",
        ),
        (  # doubled braces (Jinja, str.format) would reach the QA model as "{Vertigo}"
            "relation_types: [{name: DIRECTOR, domain: [PER], range: [PER], "
            "question: 'Who directed {{head}}?'}]",
            r"relation_types\.0.*question 'Who directed \{\{head\}\}\?' doubles its braces",
        ),
        (
            "attributes: [{name: born, entity_type: PER, question: 'When was {{head}} born?', "
            "value_type: date}]",
            r"attributes\.0.*doubles its braces: write \{head\}",
        ),
        (
            "attributes: [{name: budget, entity_type: PER, value_type: number, "
            "question: 'What was the budget of {head} in {currency}?'}]",
            r"attributes\.0.*\{currency\}",
        ),
        (
            "attributes: [{name: budget, entity_type: PER, value_type: number, range: [PER], "
            "question: 'What was the budget of {head}?'}]",
            r"attributes\.0.*range is for entity and location values: a number value",
        ),
    ],
)
def test_wrong_templates_name_the_field(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "schema.yaml"
    path.write_text("entity_types: [{name: PER}]\n" + text + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=field):
        load_schema(path)


def test_questions_are_filled_with_the_head_name() -> None:
    assert fill_question("Who directed {head}?", "Sailor's Luck") == "Who directed Sailor's Luck?"
    assert fill_question("When was {name} founded?", "A {b}") == "When was A {b} founded?"


def test_template_types_follow_the_model_the_schema_and_the_config() -> None:
    schema = GraphSchema(
        entity_types=(EntityType(name="PER"), EntityType(name="MISC")),
        relation_types=(
            RelationType(name="DIRECTOR", domain=("MISC",), range=("PER",), question="Who directed {head}?"),
            RelationType(name="AUTHOR", domain=("MISC",), range=("PER",), question="Who wrote {head}?"),
            RelationType(
                name="CAST", domain=("MISC",), range=("PER",), question="Who starred in {head}?",
                extract="template",
            ),
            RelationType(
                name="EDITOR", domain=("MISC",), range=("PER",), question="Who edited {head}?",
                extract="model",
            ),
            RelationType(name="SPOUSE", domain=("PER",), range=("PER",)),
        ),
    )  # fmt: skip
    predicted = {"DIRECTOR", "CAST", "SPOUSE"}
    names = [r.name for r in template_types(schema, predicted)]
    # AUTHOR: not predicted; CAST: forced by the schema; DIRECTOR: the model predicts it;
    # EDITOR: model only; SPOUSE: no question
    assert names == ["AUTHOR", "CAST"]
    assert [r.name for r in template_types(schema, predicted, ["DIRECTOR"])] == [
        "DIRECTOR",
        "AUTHOR",
        "CAST",
    ]
    with pytest.raises(KeyError, match="SPOUSE has no question"):
        template_types(schema, predicted, ["SPOUSE"])
    with pytest.raises(KeyError, match=r"PRODUCER is not declared in the schema.*AUTHOR, CAST"):
        template_types(schema, predicted, ["PRODUCER"])


def test_shipped_schemas_carry_templates_and_typed_attributes() -> None:
    wikidata = load_schema()
    templated = {r.name for r in wikidata.templated_relations}
    ten = {"DIRECTOR", "AUTHOR", "PUBLISHER", "CAST_MEMBER", "FOUNDED_BY", "EMPLOYER"}
    ten |= {"RECORD_LABEL", "SCREENWRITER", "PRODUCER", "MEMBER_OF_SPORTS_TEAM"}
    assert ten <= templated
    assert {"CHIEF_EXECUTIVE_OFFICER", "DISTRIBUTED_BY"} <= templated  # not in Re-DocRED
    attributes = {a.name: a for a in wikidata.attributes}
    assert attributes["birth_date"].value_type == "date"
    assert attributes["birthplace"].value_range == ("LOC",)
    assert attributes["inception"].wikidata == "P571"
    assert all(not a.cues for a in wikidata.attributes)  # no hand-written cue lists


# -- tiny documents ---------------------------------------------------------------------------

WORK_TEXTS = {
    "a.txt": "the company said on monday . maria gonzalez works for acme robotics in berlin .",
    "b.txt": "on monday the company said . david chen works for helix in nairobi .",
}

ZERO_SHOT_SCHEMA = GraphSchema(
    entity_types=(EntityType(name="PER"), EntityType(name="ORG"), EntityType(name="LOC")),
    relation_types=(
        # what the tiny relation model predicts (CoNLL04 labels mapped by relations.label_map)
        RelationType(name="WORKS_FOR", domain=("PER",), range=("ORG",)),
        RelationType(name="HEADQUARTERED_IN", domain=("ORG",), range=("LOC",)),
        # added by a user, never trained: read by template
        RelationType(
            name="EMPLOYER", domain=("PER",), range=("ORG",), question="who does {head} work for ?"
        ),
        RelationType(
            name="WORK_CITY",
            domain=("PER",),
            range=("LOC",),
            question="in which city does {head} work ?",
        ),
        # a question whose answers are of the wrong kind (organisations, not places)
        RelationType(
            name="EMPLOYER_PLACE",
            domain=("PER",),
            range=("LOC",),
            question="who does {head} work for ?",
        ),
    ),
)


def _docs(tmp_path: Path, texts: dict[str, str]) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in texts.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def zero_shot_settings(
    tmp_path: Path, ner: Path, re_model: Path, qa: Path, schema: GraphSchema
) -> Settings:
    schema_file = tmp_path / "schema.json"
    schema_file.write_text(json.dumps(schema.model_dump(mode="json")), encoding="utf-8")
    return Settings(
        out_dir=tmp_path / "out",
        ner=NerConfig(model=str(ner)),
        relations=ReConfig(enabled=True, model=str(re_model), threshold=0.5),
        templates=TemplateConfig(enabled=True, model=str(qa), threshold=0.005),
        schema_path=schema_file,
    )


def test_a_relation_type_added_with_a_template_gets_edges_with_evidence_without_training(
    tmp_path: Path, keyword_ner_model: Path, keyword_re_model: Path, keyword_qa_model: Path
) -> None:
    from kgbuild.pipeline import build

    settings = zero_shot_settings(
        tmp_path, keyword_ner_model, keyword_re_model, keyword_qa_model, ZERO_SHOT_SCHEMA
    )
    folder = _docs(tmp_path, WORK_TEXTS)
    report = build([str(folder)], settings, progress=False)
    graph = nx.read_graphml(report.outputs["graphml"])
    names = {node: data.get("name", "").lower() for node, data in graph.nodes(data=True)}
    edges = {(names[a], data.get("type"), names[b]): data for a, b, data in graph.edges(data=True)}
    assert ("maria gonzalez", "EMPLOYER", "acme robotics") in edges
    assert ("maria gonzalez", "WORK_CITY", "berlin") in edges
    assert not any(kind == "EMPLOYER_PLACE" for _, kind, _ in edges)  # never an ORG as a place
    data = json.loads(report.outputs["json"].read_text(encoding="utf-8"))
    edge = next(
        e
        for e in data["edges"]
        if e["type"] == "EMPLOYER" and names.get(e["source"]) == "maria gonzalez"
    )
    evidence = edge["provenance"][0]
    assert evidence["doc_id"] == "a.txt"
    assert evidence["text"] == "maria gonzalez works for acme robotics in berlin ."
    assert evidence["model"] == str(keyword_qa_model)
    # the answers of the wrong kind were refused and counted, per type
    assert report.refused.get("EMPLOYER_PLACE", 0) >= 1
    assert "EMPLOYER_PLACE" in report.summary()
    # an unchanged re-run reuses the stored results (no model work), the same graph
    again = build([str(folder)], settings, progress=False)
    assert again.skipped == 2 and again.processed == 0
    assert json.loads(report.outputs["json"].read_text(encoding="utf-8")) == data


def test_a_template_type_the_model_predicts_stays_with_the_model_unless_forced(
    tmp_path: Path, keyword_ner_model: Path, keyword_re_model: Path, keyword_qa_model: Path
) -> None:
    from kgbuild.extraction import Extractor

    schema = ZERO_SHOT_SCHEMA.model_copy(
        update={
            "relation_types": (
                RelationType(
                    name="WORKS_FOR",
                    domain=("PER",),
                    range=("ORG",),
                    question="in which city does {head} work ?",  # would give places
                ),
                *ZERO_SHOT_SCHEMA.relation_types[1:],
            )
        }
    )
    settings = zero_shot_settings(
        tmp_path, keyword_ner_model, keyword_re_model, keyword_qa_model, schema
    )
    extractor = Extractor(settings, run_id="t")
    assert extractor.templates is not None
    assert "WORKS_FOR" not in extractor.templates.types  # the relation model predicts it
    forced = settings.model_copy(
        update={"templates": settings.templates.model_copy(update={"types": ("WORKS_FOR",)})}
    )
    extractor = Extractor(forced, run_id="t")
    assert extractor.templates is not None and "WORKS_FOR" in extractor.templates.types
    from kgbuild.data import Document
    from kgbuild.ids import content_hash

    text = WORK_TEXTS["a.txt"]
    [result] = extractor([Document(id="d", text=text, source="d", content_hash=content_hash(text))])
    works_for = [r for r in result.relations if r.type == "WORKS_FOR"]
    # read by its (misleading) template only: the model's WORKS_FOR edges are dropped and the
    # template's answers (places) are not organisations, so they are refused
    assert works_for == []
    assert result.refused.get("WORKS_FOR", 0) >= 1


# -- typed attributes --------------------------------------------------------------------------


def _chunks_and_mentions(
    texts: list[str], people: dict[int, tuple[int, int]], others: list[tuple[int, int, int, str]]
) -> tuple[list[Chunk], list[Mention]]:
    """Chunks of one document and mentions (chunk index, start, end in the chunk, label)."""
    chunks, offset = [], 0
    for index, text in enumerate(texts):
        chunks.append(
            Chunk(id=f"c{index}", doc_id="d", index=index,
                  span=Span(start=offset, end=offset + len(text)), text=text)
        )  # fmt: skip
        offset += len(text) + 1
    spans = [(i, a, b, "PER") for i, (a, b) in people.items()] + others
    mentions = []
    for number, (index, a, b, label) in enumerate(spans):
        chunk = chunks[index]
        provenance = Provenance(
            doc_id="d", chunk_id=chunk.id,
            span=Span(start=chunk.span.start + a, end=chunk.span.start + b), score=0.9,
            model="m", model_revision="r", run_id="run", stage="ner",
        )  # fmt: skip
        mentions.append(
            Mention(id=f"m{number}", text=chunk.text[a:b], label=label, provenance=provenance)
        )
    return chunks, mentions


HOME = AttributeSpec(
    name="home", entity_type="PER", question="who does {head} work for ?", value_type="entity",
    range=("LOC",),
)  # fmt: skip
"""A place asked with an organisation's question: its best answer is no place."""


def _maria_in_berlin() -> tuple[list[Chunk], list[Mention]]:
    """One sentence: maria gonzalez (m0) works for acme robotics (m1, ORG) in berlin (m2, LOC)."""
    text = "maria gonzalez works for acme robotics in berlin ."
    return _chunks_and_mentions([text], {0: (0, 14)}, [(0, 25, 38, "ORG"), (0, 42, 48, "LOC")])


def test_attribute_values_are_typed_or_refused(keyword_qa_model: Path) -> None:
    from kgbuild.stages.attributes import AttributeStage

    schema = GraphSchema(
        entity_types=(EntityType(name="PER"), EntityType(name="ORG"), EntityType(name="LOC")),
        attributes=(
            AttributeSpec(
                name="city", entity_type="PER", question="in which city does {head} work ?",
                value_type="location",
            ),
            HOME,  # the answer is an organisation, not a place: refused
        ),
    )  # fmt: skip
    chunks, mentions = _maria_in_berlin()
    stage = AttributeStage(
        AttributeConfig(model=str(keyword_qa_model), threshold=0.005), schema=schema, run_id="r"
    )
    [city] = stage(chunks, mentions)
    assert (city.key, city.value, city.value_type) == ("city", "berlin", "location")
    assert city.evidence[0].tail == "m2" and city.evidence[0].head == "m0"
    assert stage.refused == {("d", "home"): 1}


def test_an_attribute_refused_its_best_span_takes_the_next_that_is_a_value(
    keyword_qa_model: Path,
) -> None:
    """A film's budget: the date the model liked best was refused, and "$ 5 million" after
    it never read; here a place asked "who does X work for ?"."""
    from kgbuild.stages.attributes import AttributeStage

    schema = GraphSchema(
        entity_types=(EntityType(name="PER"), EntityType(name="ORG"), EntityType(name="LOC")),
        attributes=(
            HOME,  # best span "acme robotics": no place; next "acme robotics in berlin": berlin
        ),
    )  # fmt: skip
    chunks, mentions = _maria_in_berlin()

    def stage(answers: int) -> AttributeStage:
        config = AttributeConfig(
            model=str(keyword_qa_model), threshold=0.005, answers_per_context=answers
        )
        return AttributeStage(config, schema=schema, run_id="r")

    one = stage(1)
    assert one(chunks, mentions) == []
    assert one.refused == {("d", "home"): 1}
    three = stage(3)
    [home] = three(chunks, mentions)
    assert (home.key, home.value) == ("home", "berlin")
    [evidence] = home.evidence  # one sentence, one answer of it
    assert (evidence.head, evidence.tail) == ("m0", "m2")
    # a sentence that gave a value is not refused, though its third span (the head's
    # own name with "works for acme robotics") was: refusals count sentences, not spans
    assert three.refused == {}
    # the setting is in the key (documents are read again); one span keeps the old key
    assert one.model_key != three.model_key
    assert "answers_per_context" not in one.model_key


def test_a_text_value_that_is_the_heads_own_name_is_refused() -> None:
    from kgbuild.stages.grouping import LocalEntity
    from kgbuild.stages.reading import Answer, Template, _Question, _typed, in_own_name

    texts = [
        "Silent Harbor is a film by Ana Lima .",
        "Fans of SILENT HARBOR call the Harbor a thriller .",
    ]
    # the title repeated in capitals is no mention: only the first sentence's is the head's
    chunks, mentions = _chunks_and_mentions(texts, {0: (27, 35)}, [(0, 0, 13, "MISC")])
    head = LocalEntity(label="MISC", mentions=(mentions[1],))
    genre = Template(
        key="genre", question="What genre is {head}?", head_types=frozenset({"MISC"}),
        value_type="string",
    )  # fmt: skip
    question = _Question(genre, head, (chunks[0], chunks[1]), "What genre is Silent Harbor?")
    second = chunks[1].span.start

    def answer(word: str) -> Answer | None:
        start = second + texts[1].index(word)
        return _typed(question, start, start + len(word), 0.9, mentions)

    assert answer("SILENT HARBOR") is None  # it was stored as the film's genre
    assert answer("Harbor") is None  # a word of the name, written as in it
    kept = answer("thriller")
    assert kept is not None and kept.value == "thriller"
    horror = LocalEntity(
        label="MISC", mentions=(mentions[1].model_copy(update={"text": "Horror Express"}),)
    )
    assert in_own_name("Express", horror) and in_own_name("HORROR EXPRESS", horror)
    assert not in_own_name("horror", horror)  # "Horror Express is a horror film"


def test_a_number_answer_that_is_a_year_tagged_as_a_date_is_refused() -> None:
    from kgbuild.stages.grouping import LocalEntity
    from kgbuild.stages.reading import Answer, Template, _Question, _typed

    text = (
        "Silent Harbor is a 2019 film set in the 1990s that cost 12 million , hired 2000 extras , "
        "runs 95 minutes ."
    )
    words = [("Silent Harbor", "MISC"), ("2019", "TIME"), ("1990s", "TIME"), ("12 million", "NUM"),
             ("2000", "NUM"), ("95 minutes", "TIME")]  # fmt: skip
    spans = [(0, text.index(w), text.index(w) + len(w), label) for w, label in words]
    chunks, mentions = _chunks_and_mentions([text], {}, spans)
    head = LocalEntity(label="MISC", mentions=(mentions[0],))

    def answer(word: str, value_type: str, unit: str | None = None) -> Answer | None:
        template = Template(
            key="k", question="How much is {head}?", head_types=frozenset({"MISC"}),
            value_type=value_type, unit=unit,
        )  # fmt: skip
        question = _Question(template, head, (chunks[0],), "How much is Silent Harbor?")
        start = text.index(word)
        return _typed(question, start, start + len(word), 0.9, mentions)

    assert answer("2019", "number") is None  # "a 2019 film": it was stored as the budget
    assert answer("2019 film", "quantity") is None  # and as a quantity of "film"
    assert answer("1990", "number") is None  # a decade: a time, though no one date
    kept = [answer("12 million", "number"), answer("2000", "number")]  # "2000 extras"
    assert [a.value if a else None for a in kept] == [12_000_000, 2000]
    duration = answer("95 minutes", "quantity", "minutes")  # a duration tagged TIME
    assert duration is not None and duration.value == "95 minutes"


def test_sentences_that_cannot_hold_the_value_are_not_read(keyword_qa_model: Path) -> None:
    from kgbuild.stages.attributes import AttributeStage

    schema = GraphSchema(
        entity_types=(EntityType(name="PER"), EntityType(name="LOC")),
        attributes=(
            AttributeSpec(name="born", entity_type="PER", question="when was {head} born ?",
                          value_type="date"),
            AttributeSpec(name="city", entity_type="PER", question="in which city does {head} work ?",
                          value_type="location"),
        ),
    )  # fmt: skip
    texts = [
        "maria gonzalez works for acme robotics .",  # no place, no year
        "the company said on monday .",  # after a mention: read for places only if one is here
        "maria gonzalez works in berlin .",
    ]
    chunks, mentions = _chunks_and_mentions(texts, {0: (0, 14), 2: (0, 14)}, [(2, 24, 30, "LOC")])
    stage = AttributeStage(
        AttributeConfig(model=str(keyword_qa_model), threshold=0.0), schema=schema, run_id="r"
    )
    assert stage.reading is not None
    read = stage.reading.questions(chunks, mentions, list(stage.templates))
    assert [(q.template.key, [c.id for c in q.chunks]) for q in read] == [("city", ["c2"])]


def test_nearest_sentences_to_the_question_are_read_first(keyword_qa_model: Path) -> None:
    from kgbuild.stages.attributes import AttributeStage

    schema = GraphSchema(
        entity_types=(EntityType(name="PER"), EntityType(name="LOC")),
        attributes=(
            AttributeSpec(name="city", entity_type="PER",
                          question="in which city does {head} work ?", value_type="location"),
        ),
    )  # fmt: skip
    texts = [
        "maria gonzalez met friends in lisbon on holiday .",
        "maria gonzalez works in berlin every day .",
    ]
    chunks, mentions = _chunks_and_mentions(
        texts, {0: (0, 14), 1: (0, 14)}, [(0, 30, 36, "LOC"), (1, 24, 30, "LOC")]
    )
    stage = AttributeStage(
        AttributeConfig(model=str(keyword_qa_model), threshold=0.0, max_contexts=1),
        schema=schema,
        run_id="r",
    )
    assert stage.reading is not None
    read = stage.reading.questions(chunks, mentions, list(stage.templates))
    assert [[c.id for c in q.chunks] for q in read] == [["c1"]]


def test_sentences_less_like_the_question_than_min_similarity_are_not_read(
    keyword_qa_model: Path,
) -> None:
    from kgbuild.nlp.sentence_encoder import load_sentence_encoder
    from kgbuild.stages.zeroshot import TemplateRelationStage

    work_city = ZERO_SHOT_SCHEMA.relation_type("WORK_CITY")
    texts = [
        "maria gonzalez met friends in lisbon on holiday .",
        "maria gonzalez works in berlin every day .",
    ]
    chunks, mentions = _chunks_and_mentions(
        texts, {0: (0, 14), 1: (0, 14)}, [(0, 30, 36, "LOC"), (1, 24, 30, "LOC")]
    )

    def read(min_similarity: float | None) -> list[str]:
        config = TemplateConfig(
            enabled=True, model=str(keyword_qa_model), min_similarity=min_similarity
        )
        stage = TemplateRelationStage(config, relation_types=[work_city], run_id="r")
        questions = stage.reading.questions(chunks, mentions, stage.templates)
        return [q.chunks[-1].id for q in questions]

    encoder = load_sentence_encoder(TemplateConfig().encoder)
    question, holiday, work = encoder.encode(["in which city does maria gonzalez work ?", *texts])
    low, high = sorted([float(question @ holiday), float(question @ work)])
    assert float(question @ work) == high  # the sentence about work is the nearer one
    assert read(None) == ["c0", "c1"]  # both fit under max_contexts: both read
    assert read((low + high) / 2) == ["c1"]
    assert read(high + 0.01) == []


def test_a_type_with_head_kinds_asks_only_entities_of_those_kinds(keyword_qa_model: Path) -> None:
    from kgbuild.nlp.sentence_encoder import load_sentence_encoder
    from kgbuild.stages.reading import KIND_TEXT
    from kgbuild.stages.zeroshot import TemplateRelationStage

    schema = GraphSchema(
        entity_types=(EntityType(name="PER"), EntityType(name="ORG")),
        relation_types=(
            RelationType(name="FOUNDED_BY", domain=("ORG",), range=("PER",),
                         question="who founded {head} ?", head_kinds=("company",)),
        ),
        kinds=("band",),
    )  # fmt: skip
    texts = [
        "acme robotics is a company founded by maria gonzalez .",
        "the beatles were an english rock band formed by john lennon .",
    ]
    chunks, mentions = _chunks_and_mentions(
        texts, {0: (38, 52), 1: (49, 60)}, [(0, 0, 13, "ORG"), (1, 0, 11, "ORG")]
    )
    encoder = load_sentence_encoder(TemplateConfig().encoder)
    company, band, *sentences = encoder.encode(
        [KIND_TEXT.format(kind="company"), KIND_TEXT.format(kind="band"), *texts]
    )
    assert float(sentences[0] @ company) > float(sentences[0] @ band)
    assert float(sentences[1] @ band) > float(sentences[1] @ company)

    def stage(kind_margin: float | None) -> TemplateRelationStage:
        config = TemplateConfig(enabled=True, model=str(keyword_qa_model), kind_margin=kind_margin)
        return TemplateRelationStage(
            config, relation_types=schema.relation_types, run_id="r", kinds=schema.kind_pool
        )

    def asked(kind_margin: float | None) -> tuple[list[str], dict[tuple[str, str], int]]:
        reading = stage(kind_margin).reading
        questions = reading.questions(chunks, mentions, list(reading_templates))
        heads = sorted({q.head.mentions[0].text for q in questions})
        return heads, dict(reading.wrong_kind)

    reading_templates = stage(None).templates
    assert asked(None) == (["acme robotics", "the beatles"], {})
    assert asked(0.0) == (["acme robotics"], {("d", "FOUNDED_BY"): 1})
    gap = float(sentences[1] @ band) - float(sentences[1] @ company)
    assert asked(gap + 0.01)[0] == asked(None)[0]  # within the margin: asked again
    # a build's results say, per document, how many entities each type did not ask
    from kgbuild.data import Document
    from kgbuild.extraction import _by_document
    from kgbuild.stages.factories import ZeroShotStep
    from kgbuild.stages.registry import StageBatch

    document = Document(id="d", text=" ".join(texts), source="d.txt", content_hash="h")
    batch = StageBatch(
        [document], chunks={"d": chunks}, langs={"d": "en"}, skipped={"d": ()}, mentions=mentions
    )
    ZeroShotStep(stage(0.0))(batch)
    (result,) = _by_document(batch)
    assert result.not_asked == {"FOUNDED_BY": 1}


# -- the build report -------------------------------------------------------------------------


def test_report_summary_counts_refusals_and_entities_not_asked_per_type() -> None:
    from kgbuild.data import Document, DocumentResult
    from kgbuild.pipeline import BuildReport, add_outcomes

    report = BuildReport(run_id="r")
    doc = Document(id="d", text="x", source="d", content_hash="h")
    add_outcomes(
        report,
        [
            DocumentResult(document=doc.info, refused={"DIRECTOR": 2, "birth_date": 1}),
            DocumentResult(document=doc.info, refused={"DIRECTOR": 1}, not_asked={"AUTHOR": 4}),
            DocumentResult(document=doc.info, not_asked={"AUTHOR": 1, "DIRECTOR": 2}),
        ],
    )
    assert report.refused == {"DIRECTOR": 3, "birth_date": 1}
    assert report.not_asked == {"AUTHOR": 5, "DIRECTOR": 2}
    summary = report.summary()
    assert "refused (not of the declared type, not stored): DIRECTOR 3, birth_date 1" in summary
    assert "entities not asked (not of the type's head kinds): AUTHOR 5, DIRECTOR 2" in summary


def test_listed_template_types_alone_are_read_with_relations_off(
    tmp_path: Path, keyword_ner_model: Path, keyword_re_model: Path, keyword_qa_model: Path
) -> None:
    from kgbuild.extraction import Extractor

    settings = zero_shot_settings(
        tmp_path, keyword_ner_model, keyword_re_model, keyword_qa_model, ZERO_SHOT_SCHEMA
    )
    off = settings.model_copy(
        update={
            "relations": ReConfig(enabled=False),
            "templates": settings.templates.model_copy(update={"types": ("WORK_CITY",)}),
        }
    )
    extractor = Extractor(off, run_id="t")
    assert extractor.relations is None
    assert extractor.templates is not None and extractor.templates.types == {"WORK_CITY"}
    assert (
        Extractor(settings.model_copy(update={"relations": ReConfig()}), run_id="t").templates
        is None
    )
    bad = off.model_copy(
        update={"templates": settings.templates.model_copy(update={"types": ("WORKS_FOR",)})}
    )
    with pytest.raises(ConfigError, match="WORKS_FOR has no question"):
        Extractor(bad, run_id="t")
    undeclared = off.model_copy(
        update={"templates": settings.templates.model_copy(update={"types": ("PRODUCER",)})}
    )
    with pytest.raises(ConfigError, match=r"templates\.types: relation type PRODUCER is not decl"):
        Extractor(undeclared, run_id="t")


def test_templates_on_with_relations_off_and_no_types_listed_say_they_read_nothing(
    tmp_path: Path,
    keyword_ner_model: Path,
    keyword_qa_model: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """`templates.enabled: true` alone (relations off, no `templates.types`) reads no type."""
    from kgbuild.extraction import Extractor

    schema_file = tmp_path / "schema.json"
    schema_file.write_text(json.dumps(ZERO_SHOT_SCHEMA.model_dump(mode="json")), encoding="utf-8")
    settings = Settings(
        out_dir=tmp_path / "out",
        ner=NerConfig(model=str(keyword_ner_model)),
        templates=TemplateConfig(enabled=True, model=str(keyword_qa_model)),
        schema_path=schema_file,
    )
    with caplog.at_level(logging.WARNING, logger="kgbuild.stages.factories"):
        assert Extractor(settings, run_id="t").templates is None
    [warning] = [r.getMessage() for r in caplog.records if "templates.enabled" in r.getMessage()]
    assert "only the types listed in templates.types" in warning
    templated = ", ".join(r.name for r in ZERO_SHOT_SCHEMA.templated_relations)
    assert f"(the schema's types with a question: {templated})" in warning
    caplog.clear()
    off = settings.model_copy(update={"templates": TemplateConfig()})
    with caplog.at_level(logging.WARNING, logger="kgbuild.stages.factories"):
        assert Extractor(off, run_id="t").templates is None
    assert not [r for r in caplog.records if "templates.enabled" in r.getMessage()]


def test_relation_types_nothing_extracts_are_named_at_build_start(
    tmp_path: Path,
    keyword_ner_model: Path,
    keyword_re_model: Path,
    keyword_qa_model: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A type the relation model does not predict, with no question (or ``extract: model``),
    is never found: the user is told which, not left with a graph without them."""
    from kgbuild.extraction import Extractor

    schema = ZERO_SHOT_SCHEMA.model_copy(
        update={
            "relation_types": (
                *ZERO_SHOT_SCHEMA.relation_types,
                RelationType(name="SUPPLIES", domain=("ORG",), range=("ORG",)),
                RelationType(
                    name="MANAGER",
                    domain=("PER",),
                    range=("PER",),
                    question="who manages {head} ?",
                    extract="model",
                ),
            )
        }
    )
    settings = zero_shot_settings(
        tmp_path, keyword_ner_model, keyword_re_model, keyword_qa_model, schema
    )
    with caplog.at_level(logging.INFO, logger="kgbuild.stages.factories"):
        assert Extractor(settings, run_id="t").templates is not None
    unfound = [r for r in caplog.records if "none of them will be found" in r.getMessage()]
    assert [r.levelno for r in unfound] == [logging.WARNING]
    message = unfound[0].getMessage()
    assert "(none of them will be found): SUPPLIES, MANAGER (extract: model);" in message
    assert "the model predicts HEADQUARTERED_IN, " in message and "WORKS_FOR" in message
    assert not [r for r in caplog.records if "templates.enabled off" in r.getMessage()]
    caplog.clear()
    off = settings.model_copy(update={"templates": TemplateConfig(model=str(keyword_qa_model))})
    with caplog.at_level(logging.INFO, logger="kgbuild.stages.factories"):
        assert Extractor(off, run_id="t").templates is None
    assert [r.levelno for r in caplog.records if "will be found" in r.getMessage()] == [
        logging.WARNING
    ]
    [left] = [r for r in caplog.records if "templates.enabled off" in r.getMessage()]
    assert left.levelno == logging.INFO  # the default, not a mistake
    assert left.getMessage().endswith("(not extracted): EMPLOYER, WORK_CITY, EMPLOYER_PLACE")
    assert not [r for r in caplog.records if "predicts none" in r.getMessage()]
    # a schema of the user's own types alone: the relation model runs for nothing
    own = ZERO_SHOT_SCHEMA.model_copy(
        update={"relation_types": ZERO_SHOT_SCHEMA.relation_types[2:]}
    )
    settings = zero_shot_settings(
        tmp_path, keyword_ner_model, keyword_re_model, keyword_qa_model, own
    )
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="kgbuild.stages.factories"):
        assert Extractor(settings, run_id="t").templates is not None
    [hint] = [r.getMessage() for r in caplog.records if "predicts none" in r.getMessage()]
    assert hint.endswith(
        "relations.enabled off with templates.types: [EMPLOYER, EMPLOYER_PLACE, WORK_CITY] "
        "reads the same without running it"
    )
    assert not [r for r in caplog.records if "will be found" in r.getMessage()]


# -- graph evaluation: zero-shot types apart, attributes against gold facts --------------------


def test_graph_scores_report_zero_shot_types_and_attribute_values() -> None:
    from kgbuild.data import Evidence, MentionAttribute, MentionRelation
    from kgbuild.readers.docred import _document
    from kgbuild.training.doc_re import docred_examples
    from kgbuild.training.graph_eval import score_graph
    from tests.unit.stages.test_doc_relations import _predicted

    # "dark harbour is by ilse varn . varn was born 3 may 1901 in quell ."
    doc = {
        "title": "film",
        "sents": [
            ["dark", "harbour", "is", "by", "ilse", "varn", "."],
            ["varn", "was", "born", "3", "may", "1901", "in", "quell", "."],
        ],
        "vertexSet": [
            [{"name": "dark harbour", "sent_id": 0, "pos": [0, 2], "type": "MISC"}],
            [
                {"name": "ilse varn", "sent_id": 0, "pos": [4, 6], "type": "PER"},
                {"name": "varn", "sent_id": 1, "pos": [0, 1], "type": "PER"},
            ],
            [{"name": "3 may 1901", "sent_id": 1, "pos": [3, 6], "type": "TIME"}],
            [{"name": "quell", "sent_id": 1, "pos": [7, 8], "type": "LOC"}],
        ],
        "labels": [
            {"h": 0, "t": 1, "r": "P57", "evidence": [0]},
            {"h": 1, "t": 2, "r": "P569", "evidence": [1]},
            {"h": 1, "t": 3, "r": "P19", "evidence": [1]},
        ],
    }
    [example] = docred_examples([_document(doc)])
    text = example.text

    def at(word: str) -> int:
        return text.index(word)

    film = _predicted("d", 0, 12, "MISC")
    ilse = _predicted("d", at("ilse"), at("ilse") + 9, "PER")
    quell = _predicted("d", at("quell"), at("quell") + 5, "LOC")
    mentions = [film, ilse, quell]
    entity = {m.id: m.id for m in mentions}

    def attribute(
        key: str, value: object, value_type: str, tail: str | None = None
    ) -> MentionAttribute:
        evidence = Evidence(provenance=ilse.provenance, text="x", tail=tail)
        return MentionAttribute(id=key, mention=ilse.id, key=key, value=value,  # type: ignore[arg-type]
                         value_type=value_type, score=0.9, evidence=(evidence,))  # type: ignore[arg-type]  # fmt: skip

    found = [
        attribute("birth_date", "1901", "date"),  # less precise than the gold date: right
        attribute("birthplace", "quell", "location", tail=quell.id),  # the gold place: right
        attribute("deathplace", "dark harbour", "location", tail=film.id),  # a MISC: wrong type
    ]
    specs = load_schema().attributes
    director = MentionRelation(
        id="r", head_mention=film.id, tail_mention=ilse.id, type="DIRECTOR", score=0.9, evidence=()
    )
    scores = score_graph(
        [example],
        [mentions],
        entity,
        [[director]],
        type_to_label={"DIRECTOR": "P57", "AUTHOR": "P50"},
        zero_shot=["P57", "P50"],
        attributes=[found],
        attribute_specs=specs,
    )
    assert scores.zero_shot["P57"].correct == 1 and scores.zero_shot["P50"].predicted == 0
    average = scores.zero_shot_average
    assert average["precision"] == 100.0  # over the one type that predicted
    assert average["recall"] == 50.0  # P57 100, P50 0 (no gold: 0)
    counts = scores.attributes
    assert (counts["birth_date"].stored, counts["birth_date"].correct) == (1, 1)
    assert (counts["birthplace"].correct, counts["birthplace"].gold) == (1, 1)
    assert counts["deathplace"].wrong_type == 1 and counts["deathplace"].correct == 0
    assert scores.as_dict()["attributes"]["wrong_type"] == 1


def test_types_compete_for_a_pair_unless_configured_not_to(keyword_qa_model: Path) -> None:
    from kgbuild.stages.zeroshot import TemplateRelationStage

    # two user types whose questions the QA model answers with the same organisation
    employer = ZERO_SHOT_SCHEMA.relation_type("EMPLOYER")
    client = RelationType(
        name="CLIENT", domain=("PER",), range=("ORG",), question="who employs {head} ?"
    )
    text = "maria gonzalez works for acme robotics in berlin ."
    chunks, mentions = _chunks_and_mentions(
        [text], {0: (0, 14)}, [(0, 25, 38, "ORG"), (0, 42, 48, "LOC")]
    )

    def read(one_type_per_pair: bool) -> tuple[dict[str, float], TemplateRelationStage]:
        config = TemplateConfig(
            enabled=True,
            model=str(keyword_qa_model),
            threshold=0.0,
            one_type_per_pair=one_type_per_pair,
        )
        stage = TemplateRelationStage(config, relation_types=[employer, client], run_id="r")
        found = stage(chunks, mentions)
        assert {(r.head_mention, r.tail_mention) for r in found} == {("m0", "m1")}
        return {r.type: r.score for r in found}, stage

    every, stage = read(False)
    assert set(every) == {"EMPLOYER", "CLIENT"} and every["EMPLOYER"] != every["CLIENT"]
    assert stage.outranked == {}
    winner = max(every, key=every.__getitem__)
    loser = min(every, key=every.__getitem__)
    best, stage = read(True)
    assert best == {winner: every[winner]}
    assert stage.outranked == {loser: 1}


def test_a_sentence_that_answers_twice_is_evidence_with_its_best_answer(
    keyword_qa_model: Path,
) -> None:
    from kgbuild.stages.zeroshot import TemplateRelationStage

    # two answer spans of one sentence ("acme robotics" and a near span) name one mention
    text = "maria gonzalez works for acme robotics in berlin ."
    chunks, mentions = _chunks_and_mentions(
        [text], {0: (0, 14)}, [(0, 25, 38, "ORG"), (0, 42, 48, "LOC")]
    )
    config = TemplateConfig(
        enabled=True, model=str(keyword_qa_model), threshold=0.0, answers_per_context=3
    )
    stage = TemplateRelationStage(
        config, relation_types=[ZERO_SHOT_SCHEMA.relation_type("EMPLOYER")], run_id="r"
    )
    answers = stage.reading(chunks, mentions, stage.templates).answers
    assert len([a for a in answers if a.mention is not None and a.mention.id == "m1"]) >= 2
    [relation] = stage(chunks, mentions)
    [evidence] = relation.evidence
    # the one sentence read is the evidence of the relation's score, not of a lesser answer
    assert evidence.provenance.score == relation.score


def test_outranked_keeps_ties_and_other_pairs() -> None:
    from kgbuild.stages.zeroshot import outranked

    scores = {
        ("film", "DIRECTOR", "ann"): 0.7,
        ("film", "SCREENWRITER", "ann"): 0.7,  # a tie: both kept
        ("film", "PRODUCER", "ann"): 0.4,
        ("film", "PRODUCER", "bo"): 0.2,  # another tail: its own pair
        ("book", "AUTHOR", "ann"): 0.1,  # another head: its own pair
    }
    assert outranked(scores) == {("film", "PRODUCER", "ann")}
    assert outranked({}) == set()
