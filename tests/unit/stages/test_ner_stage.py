import json
import logging
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from kgbuild.config import NerConfig
from kgbuild.data import Chunk, Document
from kgbuild.ids import content_hash
from kgbuild.nlp.tiny import make_tiny_bert
from kgbuild.stages.chunking import chunk_document
from kgbuild.stages.ner import NerStage


def document(text: str, lang: str = "en", doc_id: str = "doc") -> Document:
    return Document(id=doc_id, text=text, source=doc_id, content_hash=content_hash(text), lang=lang)


def run(stage: NerStage, doc: Document, chunks: list[Chunk] | None = None) -> list[tuple[str, str]]:
    mentions = stage(chunks or chunk_document(doc), {doc.id: doc.lang})
    for mention in mentions:
        assert doc.text[mention.span.start : mention.span.end] == mention.text
    return [(m.text, m.label) for m in mentions]


def test_keyword_model_finds_typed_mentions_with_provenance(keyword_ner_model: Path) -> None:
    stage = NerStage(NerConfig(model=str(keyword_ner_model)), run_id="run_test")
    doc = document("Maria Gonzalez joined Acme Robotics in Berlin. David Chen works in Toronto.")
    mentions = stage(chunk_document(doc), {doc.id: "en"})
    assert [(m.text, m.label) for m in mentions] == [
        ("Maria Gonzalez", "PER"),
        ("Acme Robotics", "ORG"),
        ("Berlin", "LOC"),
        ("David Chen", "PER"),
        ("Toronto", "LOC"),
    ]
    first = mentions[0]
    assert (first.span.start, first.span.end) == (0, 14)
    prov = first.provenance
    assert prov.doc_id == "doc" and prov.run_id == "run_test" and prov.stage == "ner"
    assert prov.model == stage.loaded.name and prov.model_revision == stage.loaded.revision
    assert 0.5 <= prov.score <= 1.0
    assert prov.chunk_id == chunk_document(doc)[0].id


def test_long_sentence_is_windowed_and_read_to_its_end(keyword_ner_model: Path) -> None:
    # one 3,000-word sentence (no full stop) is far longer than the tiny model's 128 positions
    words = ["the", "company", "said", "that", "it", "was", "a", "good", "year"] * 333
    text = " ".join(words) + " said that Maria Gonzalez was in Lisbon"
    doc = document(text)
    chunk = Chunk(id="c0", doc_id=doc.id, index=0, span={"start": 0, "end": len(text)}, text=text)
    stage = NerStage(NerConfig(model=str(keyword_ner_model), stride=16), run_id="r")
    assert run(stage, doc, [chunk])[-2:] == [("Maria Gonzalez", "PER"), ("Lisbon", "LOC")]


def test_batch_widths_round_up_only_as_far_as_the_model_has_positions(tmp_path: Path) -> None:
    # 100 positions is not a multiple of 16: a 100-token window padded to 112 would index
    # position embeddings the model does not have
    model = make_tiny_bert(tmp_path / "m", ["O", "B-PER", "I-PER"], max_length=100)
    text = " ".join(["the company said that it was a good year"] * 60)
    doc = document(text)
    chunk = Chunk(id="c0", doc_id=doc.id, index=0, span={"start": 0, "end": len(text)}, text=text)
    stage = NerStage(NerConfig(model=str(model), stride=16, threshold=0.0), run_id="r")
    assert stage.loaded.max_length == 100
    mentions = stage([chunk], {doc.id: doc.lang})
    assert mentions and max(m.span.end for m in mentions) > 0.9 * len(text)


def test_small_windows_give_the_same_mentions(keyword_ner_model: Path) -> None:
    text = (
        "Linda Chen said on Monday that Omar Haddad was in Nairobi for Northwind Logistics "
        "and its work in the city of Berlin for Granite Capital was a good year for Helix "
        "in the city that Acme Robotics said was good for Toronto"
    )
    doc = document(text)
    chunk = Chunk(id="c0", doc_id=doc.id, index=0, span={"start": 0, "end": len(text)}, text=text)
    whole = run(NerStage(NerConfig(model=str(keyword_ner_model)), run_id="r"), doc, [chunk])
    windowed = run(
        NerStage(NerConfig(model=str(keyword_ner_model), max_length=16, stride=6), run_id="r"),
        doc,
        [chunk],
    )
    assert len(whole) == 9
    assert windowed == whole


@pytest.mark.parametrize("batch_size", [1, 2, 3])
def test_batches_of_mixed_lengths_give_the_same_mentions(
    keyword_ner_model: Path, batch_size: int
) -> None:
    # short and long sentences, each ending in a name, in no length order: batches hold
    # windows of near lengths (never in input order) and every window must get its own
    # probabilities up to its last token
    filler = " ".join(["the company said that it was a good year"] * 5)
    texts = [
        "She said it was in Berlin.",
        f"{filler} in Toronto.",
        "He said it was in Nairobi.",
        f"{filler} and then it said so again in Lisbon.",
        "They said it was good for Helix.",
        f"{filler} for Granite Capital.",
    ]
    chunks = []
    for index, text in enumerate(texts):
        chunks.extend(chunk_document(document(text, doc_id=f"d{index}")))
    langs = {chunk.doc_id: "en" for chunk in chunks}

    def found(size: int) -> list[tuple[str, str, str]]:
        config = NerConfig(model=str(keyword_ner_model), batch_size=size, precision="fp32")
        mentions = NerStage(config, run_id="r")(chunks, langs)
        return [(m.provenance.doc_id, m.text, m.label) for m in mentions]

    whole = found(32)
    assert [text for _, text, _ in whole] == [
        "Berlin",
        "Toronto",
        "Nairobi",
        "Lisbon",
        "Helix",
        "Granite Capital",
    ]
    assert found(batch_size) == whole


def test_unpadded_fp32_batches_give_the_same_mentions_as_shape_buckets(
    keyword_ner_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # fp32 on a CPU pads a batch only to its longest window; bf16 rounds widths up to
    # multiples of 16: the padding is masked, so the mentions and scores are the same
    import kgbuild.stages.ner as ner

    texts = [
        "She said it was in Berlin.",
        "Linda Chen said on Monday that Omar Haddad was in Nairobi for Northwind Logistics.",
        "They said it was good for Helix and for Granite Capital in Toronto.",
    ]
    chunks = []
    for index, text in enumerate(texts):
        chunks.extend(chunk_document(document(text, doc_id=f"d{index}")))
    langs = {chunk.doc_id: "en" for chunk in chunks}
    widths: list[int] = []

    def found() -> list[tuple[str, str, str, float]]:
        config = NerConfig(model=str(keyword_ner_model), precision="fp32")
        stage = NerStage(config, run_id="r")
        forward = stage.loaded.model.forward
        stage.loaded.model.forward = lambda input_ids, **kw: (  # type: ignore[method-assign]
            widths.append(input_ids.shape[1]) or forward(input_ids=input_ids, **kw)
        )
        return [
            (m.provenance.doc_id, m.text, m.label, m.provenance.score) for m in stage(chunks, langs)
        ]

    unpadded = found()
    assert widths and any(w % 16 for w in widths)
    widths.clear()
    monkeypatch.setattr(ner, "shape_multiple", lambda bf16, device: 16)
    bucketed = found()
    assert widths and all(w % 16 == 0 for w in widths)
    assert len(unpadded) >= 7
    assert [m[:3] for m in bucketed] == [m[:3] for m in unpadded]
    assert [m[3] for m in bucketed] == pytest.approx([m[3] for m in unpadded], abs=1e-5)


@pytest.mark.parametrize("strategy", ["first", "average", "max"])
def test_aggregation_strategies_keep_offsets_exact(random_ner_model: Path, strategy: str) -> None:
    stage = NerStage(
        NerConfig(model=str(random_ner_model), aggregation=strategy, threshold=0.0), run_id="r"
    )
    doc = document(
        "Zoë Müller-Lüdenscheidt of Acme Robotics Inc. met the U.S. delegation in São Paulo."
    )
    assert run(stage, doc)  # random model, threshold 0: spans exist and slice back exactly


def test_chinese_text_gives_character_offsets(random_ner_model: Path) -> None:
    stage = NerStage(NerConfig(model=str(random_ner_model), threshold=0.0), run_id="r")
    doc = document("阿克米机器人公司成立于2012年。总部位于柏林！", lang="zh")
    found = run(stage, doc)
    assert found
    assert all(len(text) >= 1 for text, _ in found)


def test_threshold_filters_low_scores(random_ner_model: Path) -> None:
    doc = document("Acme Robotics opened an office in Berlin.")
    low = run(NerStage(NerConfig(model=str(random_ner_model), threshold=0.0), run_id="r"), doc)
    high = run(NerStage(NerConfig(model=str(random_ner_model), threshold=0.99), run_id="r"), doc)
    assert len(low) > len(high) == 0


def test_model_key_changes_with_settings(random_ner_model: Path) -> None:
    a = NerStage(NerConfig(model=str(random_ner_model)), run_id="r").model_key
    b = NerStage(NerConfig(model=str(random_ner_model), threshold=0.7), run_id="r").model_key
    assert a != b


def test_a_name_never_spans_a_line_break() -> None:
    from kgbuild.stages.ner import _line_pieces

    text = "Acme Robotics\nAcme Robotics Inc. grew"
    words = [(0, 4), (5, 13), (14, 18), (19, 27), (28, 32)]
    assert _line_pieces(text, words, 0, 3) == [(0, 1), (2, 3)]
    assert _line_pieces(text, words, 2, 4) == [(2, 4)]


def test_decoding_setting_changes_mentions_and_model_key(random_ner_model: Path) -> None:
    doc = document(
        "Zoë Müller of Acme Robotics Inc. met the U.S. delegation in São Paulo on Monday, "
        "then flew with Ben Ortiz of Quarn Labs to Lagos and Lima for the Velto summit."
    )
    configs = {
        kind: NerConfig(model=str(random_ner_model), threshold=0.0, decoding=kind)
        for kind in ("constrained", "argmax")
    }
    stages = {kind: NerStage(config, run_id="r") for kind, config in configs.items()}
    # a random model's per-word argmax breaks spans that the constrained decoding joins
    assert run(stages["constrained"], doc) != run(stages["argmax"], doc)
    assert stages["constrained"].model_key != stages["argmax"].model_key


def test_names_cut_at_hyphens_come_out_whole(keyword_ner_model: Path) -> None:
    # the keyword model knows "Maria Gonzalez" and "Berlin", never "Anna", "Ruiz" or "Nord"
    text = (
        "Anna-Maria Gonzalez met Maria Gonzalez-Ruiz in Nord-Berlin. David Chen works in Toronto."
    )
    doc = document(text)
    found = run(NerStage(NerConfig(model=str(keyword_ner_model)), run_id="r"), doc)
    assert found == [
        ("Anna-Maria Gonzalez", "PER"),
        ("Maria Gonzalez-Ruiz", "PER"),
        ("Nord-Berlin", "LOC"),
        ("David Chen", "PER"),
        ("Toronto", "LOC"),
    ]
    cut = run(NerStage(NerConfig(model=str(keyword_ner_model), whole_words=False), run_id="r"), doc)
    assert ("Maria Gonzalez", "PER") in cut and ("Berlin", "LOC") in cut


def test_whole_word_spans_join_pieces_of_one_name() -> None:
    from kgbuild.nlp.words import whole_word_spans

    def spans(text: str, *parts: tuple[str, str]) -> list[str]:
        found = [(text.index(p), text.index(p) + len(p), label, 0.9) for p, label in parts]
        return [text[start:end] for start, end, _, _ in whole_word_spans(text, found)]

    # "suk" and "Sin Gwang" of "Sin Gwang-suk": one name again
    assert spans("Kim Dal-bong met Pak Ryong-hui.", ("Pak Ryong", "PER"), ("hui", "PER")) == [
        "Pak Ryong-hui"
    ]
    assert spans("Ulla-Britt Norrgard spoke.", ("Britt Norrgard", "PER")) == ["Ulla-Britt Norrgard"]
    assert spans("the ZKTia group", ("ZKT", "ORG")) == ["ZKTia"]  # a prefix cut by the tokenizer
    # a word's edge is left alone: punctuation, possessives, and CJK characters
    assert spans("(Velto) said", ("Velto", "ORG")) == ["Velto"]
    assert spans("Velto's plan", ("Velto", "ORG")) == ["Velto"]
    assert spans("阿克米机器人公司", ("机器", "ORG")) == ["机器"]


def _context_model(source: Path, target: Path) -> Path:
    """The same weights, declared as trained with document context."""
    shutil.copytree(source, target)
    (target / "kgbuild_model.json").write_text(
        json.dumps(
            {
                "base": str(source),
                "task": "token-classification",
                "labels": json.loads((source / "config.json").read_text())["id2label"],
                "format": "full",
                "context": True,
            }
        ),
        encoding="utf-8",
    )
    return target


def test_context_model_reads_neighbouring_sentences(random_ner_model: Path, tmp_path: Path) -> None:
    from kgbuild.nlp.words import word_spans

    context_model = _context_model(random_ner_model, tmp_path / "context-model")
    text = "Acme Robotics opened in Berlin. Maria Gonzalez said so. Helix grew in Lisbon."
    doc = document(text)
    chunks = chunk_document(doc)
    assert len(chunks) == 3
    config = {"threshold": 0.0}
    plain = NerStage(NerConfig(model=str(random_ner_model), **config), run_id="r")
    reader = NerStage(
        NerConfig(model=str(context_model), context_margin=1000, **config), run_id="r"
    )
    assert reader.context and not plain.context and reader.model_key != plain.model_key

    words = [word_spans(c.text, "en") for c in chunks]
    windows = reader._windows(chunks, words)
    own = [len(plain.loaded.tokenizer(c.text)["input_ids"]) for c in chunks]
    # a margin of half the window or more: each chunk one window holding its neighbours
    # too; only its own words are decoded
    assert windows.lengths.tolist() == [sum(own) - 4] * 3
    per_window = np.split(windows.token_chunk, windows.bounds[1:-1])
    assert [sorted(set(w.tolist()) - {-1}) for w in per_window] == [[0], [1], [2]]
    middle = windows.word_ids[windows.bounds[1] : windows.bounds[2]]
    assert (middle >= 0).sum() == own[1] - 2 and middle[1] == -1

    # the neighbours change what the model reads: chunk 2 alone reads like the plain model
    with_context = run(reader, doc)
    assert run(reader, doc, chunks[1:2]) == run(plain, doc, chunks[1:2])
    assert with_context != run(plain, doc)

    # a small margin: the three short chunks share one window, each labelled once
    packed = NerStage(NerConfig(model=str(context_model), context_margin=4, **config), run_id="r")
    assert packed.model_key != reader.model_key
    shared = packed._windows(chunks, words)
    assert shared.lengths.tolist() == [sum(own) - 4]
    assert shared.token_chunk.tolist() == [-1] + [
        chunk for chunk, n in enumerate(own) for _ in range(n - 2)
    ] + [-1]
    assert (shared.word_ids >= 0).tolist() == (shared.token_chunk >= 0).tolist()
    found = packed(chunks, {doc.id: doc.lang})
    assert {m.provenance.chunk_id for m in found} == {c.id for c in chunks}
    assert all(doc.text[m.span.start : m.span.end] == m.text for m in found)

    # a short window: context is trimmed, never the centre
    assert max(own) <= 24 < sum(own) - 4
    short = NerStage(NerConfig(model=str(context_model), max_length=24, **config), run_id="r")
    trimmed = short._windows(chunks, words)
    assert trimmed.lengths.tolist() == [24, 24, 24]
    assert [(w >= 0).sum() for w in np.split(trimmed.word_ids, trimmed.bounds[1:-1])] == [
        n - 2 for n in own
    ]


NEWS = (
    "Granite Ventures of San Francisco led the round in Acme Robotics of Toronto. "
    "The firm was founded in 2012 by Linda Chen and is based in the United States. "
    "Its earlier investments include solar panels and robots for warehouses in the region. "
    "Bluefin Analytics of Singapore builds software for trucks and vans."
)


def _violations(found: list[tuple[str, str]], *, lowercase: bool) -> list[tuple[str, str]]:
    from kgbuild.nlp.name_checks import FUNCTION_WORDS, written_lowercase

    return [
        (text, label)
        for text, label in found
        if text.split()[-1] in FUNCTION_WORDS
        or (lowercase and label in ("PER", "ORG", "LOC") and written_lowercase(text))
    ]


def test_name_checks_trim_function_words_and_drop_lowercase_names(random_ner_model: Path) -> None:
    doc = document(NEWS)

    def stage(**settings: object) -> NerStage:
        config = NerConfig(model=str(random_ner_model), threshold=0.0, **settings)  # type: ignore[arg-type]
        return NerStage(config, run_id="r")

    raw = run(stage(name_checks=False), doc)
    checked = run(stage(), doc)
    # a random model's spans end on "of" and "the" and name lowercase words
    assert _violations(raw, lowercase=True)
    assert checked and not _violations(checked, lowercase=True)
    assert stage().model_key != stage(name_checks=False).model_key
    # with PER alone a name label, an all-lowercase ORG or LOC stays
    per_only = run(stage(name_labels=("PER",)), doc)
    assert any(label != "PER" for _, label in _violations(per_only, lowercase=True))


def test_lowercase_names_stay_in_uncased_or_non_english_text(random_ner_model: Path) -> None:
    config = NerConfig(model=str(random_ner_model), threshold=0.0)
    on = NerStage(config, run_id="r")
    off = NerStage(config.model_copy(update={"name_checks": False}), run_id="r")
    tweets = document(NEWS.lower())  # no sentence begins with a capital: casing says nothing
    found = run(on, tweets)
    assert _violations(found, lowercase=True)  # lowercase names kept
    assert not _violations(found, lowercase=False)  # function words still trimmed
    other = document(NEWS, lang="de")
    assert run(on, other) == run(off, other)


def test_quantities_take_in_their_units_unless_another_mention_holds_them(
    random_ner_model: Path,
) -> None:
    stage = NerStage(NerConfig(model=str(random_ner_model)), run_id="r")
    text = "Acme raised $ 30 million, 91.9 % of its goal, and US$ 5 more."

    def span(part: str, label: str) -> tuple[int, int, str, float]:
        start = text.index(part)
        return (start, start + len(part), label, 0.9)

    spans = [span("30", "NUM"), span("91.9", "NUM"), span("US$", "LOC"), span("5", "NUM")]
    checked = [(text[s:e], label) for s, e, label, _ in stage._checked(text, spans, cased=True)]
    # "US$" stays the LOC it was tagged, so the 5 does not take it in
    assert checked == [("$ 30 million", "NUM"), ("91.9 %", "NUM"), ("US$", "LOC"), ("5", "NUM")]
    off = NerStage(NerConfig(model=str(random_ner_model), quantity_units=False), run_id="r")
    assert [text[s:e] for s, e, *_ in off._checked(text, spans, cased=True)] == [
        "30",
        "91.9",
        "US$",
        "5",
    ]
    assert stage.model_key != off.model_key


def test_schema_types_the_ner_model_never_predicts_are_named(
    keyword_ner_model: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A schema type no model produces (GENE beside a PER/ORG/LOC model) gets nothing: say so."""
    from kgbuild.config import Settings
    from kgbuild.extraction import Extractor

    def warnings(types: str) -> list[str]:
        schema = tmp_path / "schema.yaml"
        schema.write_text(f"entity_types: [{types}]\n", encoding="utf-8")
        settings = Settings(
            out_dir=tmp_path / "out",
            ner=NerConfig(model=str(keyword_ner_model)),
            schema_path=schema,
        )
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="kgbuild.stages.factories"):
            Extractor(settings, run_id="t")
        return [r.getMessage() for r in caplog.records if "never predicts" in r.getMessage()]

    [message] = warnings("{name: PER}, {name: ORG}, {name: LOC}, {name: GENE}, {name: DRUG}")
    assert str(tmp_path / "schema.yaml") in message and str(keyword_ner_model) in message
    assert message.endswith(": DRUG, GENE; the model predicts LOC, ORG, PER")
    assert warnings("{name: PER}, {name: ORG}, {name: LOC}") == []


def test_whole_word_spans_and_answers_read_decomposed_accents_as_letters() -> None:
    # a combining mark ended a word: "María Pérez" of a decomposed "José-María Pérez" was
    # not joined to "José", and the sub-word answer "Amé" of "Amélie" not widened
    import unicodedata

    from kgbuild.nlp.words import whole_word_spans
    from kgbuild.qa.engine import _whole_words

    for form in ("NFC", "NFD"):
        text = unicodedata.normalize(form, "Yesterday José-María Pérez came.")
        start, end = text.index("Mar"), text.index(" came")
        [(s, e, _, _)] = whole_word_spans(text, [(start, end, "PER", 0.9)])
        assert unicodedata.normalize("NFC", text[s:e]) == "José-María Pérez"
        text = unicodedata.normalize(form, "The film Amélie won.")
        start = text.index("Am")
        s, e = _whole_words(text, start, start + len(unicodedata.normalize(form, "Amé")))
        assert unicodedata.normalize("NFC", text[s:e]) == "Amélie"


def test_a_mention_that_is_only_a_title_is_dropped() -> None:
    """A lone "Dr." was a PER mention: every one of a corpus became one entity "Dr."."""
    from kgbuild.stages.ner import _without_titles

    text = "Dr. King met Ms Chen and Prof. Dr. Weber. Sir Elton's band, Dr. Feelgood, played."
    words = ["Dr.", "King", "Ms", "Chen", "Prof.", "Dr. Weber", "Sir Elton", "Dr. Feelgood"]
    spans, at = [], 0
    for word in words:
        at = text.index(word, at)
        spans.append((at, at + len(word), "PER", 0.9))
        at += len(word)
    kept = [text[s:e] for s, e, _, _ in _without_titles(text, spans)]
    assert kept == ["King", "Chen", "Dr. Weber", "Sir Elton", "Dr. Feelgood"]


def test_a_name_wrapped_inside_a_paragraph_stays_whole(keyword_ner_model: Path) -> None:
    # a paragraph wrapped by hand: the line breaks fall inside names
    text = (
        "The company said that it was Maria\nGonzalez of Acme\r\nRobotics in the city of\n"
        "Berlin.\n\nAcme Robotics\nMaria Gonzalez\nDavid Chen\n"
    )
    found = run(NerStage(NerConfig(model=str(keyword_ner_model)), run_id="r"), document(text))
    assert found == [
        ("Maria\nGonzalez", "PER"),
        ("Acme\r\nRobotics", "ORG"),
        ("Berlin", "LOC"),
        # a heading and a list of names, one a line, are still one name a line
        ("Acme Robotics", "ORG"),
        ("Maria Gonzalez", "PER"),
        ("David Chen", "PER"),
    ]


def test_a_line_break_before_a_list_item_or_after_a_heading_cuts_a_name() -> None:
    from kgbuild.stages.ner import _line_pieces

    text = "- met Maria Gonzalez\n- David Chen\nAcme Robotics\nMaria Gonzalez"
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    assert _line_pieces(text, words, 2, 5) == [(2, 3), (4, 5)]  # a list item starts
    assert _line_pieces(text, words, 5, 8) == [(5, 6), (7, 8)]  # after a line of names
    assert _line_pieces(text, words, 8, 9) == [(8, 8), (9, 9)]
    form_feed = "it was Maria\fGonzalez"  # a page break is no wrap
    assert _line_pieces(form_feed, [(0, 2), (3, 6), (7, 12), (13, 21)], 2, 3) == [(2, 2), (3, 3)]


def test_a_bullet_starts_a_list_item_for_names_as_for_sentences() -> None:
    from kgbuild.stages.ner import _wraps_prose

    # the NER stage had its own list marks, without the bullets sentence splitting knows:
    # "Maria\n• Gonzalez" was one name across two items
    assert not _wraps_prose("met Maria\n• Gonzalez", 9, 10)
    assert _wraps_prose("met Maria\nGonzalez", 9, 10)
