import unicodedata

from kgbuild.config import ChunkConfig
from kgbuild.data import Document
from kgbuild.ids import content_hash
from kgbuild.stages.chunking import chunk_document, sentence_spans, text_sentence_spans


def doc(text: str, lang: str = "en", doc_id: str = "d") -> Document:
    return Document(id=doc_id, text=text, source=doc_id, content_hash=content_hash(text), lang=lang)


def test_sentences_slice_back_to_the_original_text() -> None:
    text = "# Acme\n\nAcme Robotics Inc. was founded by Dr. Maria Gonzalez in 2012.  It is based in Berlin.\nNorthwind is not."
    chunks = chunk_document(doc(text))
    assert [c.text for c in chunks] == [
        "# Acme",
        "Acme Robotics Inc. was founded by Dr. Maria Gonzalez in 2012.",
        "It is based in Berlin.",
        "Northwind is not.",
    ]
    for chunk in chunks:
        assert text[chunk.span.start : chunk.span.end] == chunk.text
    assert [c.index for c in chunks] == [0, 1, 2, 3]


def test_windows_and_old_mac_line_ends_break_paragraphs_as_unix_ones_do() -> None:
    # "\r\n\r\n" was no blank line: a heading, a paragraph and a list were one sentence
    unix = (
        "Annual report 2023\n\nMaria Gonzalez works for Acme Robotics\n \n# Speakers\nJohn Smith\n"
    )
    for line_end in ("\r\n", "\r"):
        text = unix.replace("\n", line_end)
        chunks = chunk_document(doc(text))
        assert [c.text for c in chunks] == [
            "Annual report 2023",
            "Maria Gonzalez works for Acme Robotics",
            f"# Speakers{line_end}John Smith",
        ]
        assert all(text[c.span.start : c.span.end] == c.text for c in chunks)
        assert len(text_sentence_spans(text)) == 3
    # one Windows line end is no blank line
    assert [c.text for c in chunk_document(doc("Acme Robotics\r\nis in Toronto."))] == [
        "Acme Robotics\r\nis in Toronto."
    ]


def test_decomposed_text_is_split_into_the_sentences_of_composed_text() -> None:
    # spaCy read "Bogota\u0301." as one word: the sentence went on into the next one
    composed = "Maria Gonzalez moved to Bogotá. She founded Acme in São Paulo.\n\nZoë left."
    text = unicodedata.normalize("NFD", composed)
    chunks = chunk_document(doc(text))
    assert [unicodedata.normalize("NFC", c.text) for c in chunks] == [
        "Maria Gonzalez moved to Bogotá.",
        "She founded Acme in São Paulo.",
        "Zoë left.",
    ]
    assert all(text[c.span.start : c.span.end] == c.text for c in chunks)
    assert len(text_sentence_spans(text)) == 3


def test_chinese_sentences() -> None:
    text = "阿克米公司成立于2012年。总部位于柏林！它有员工吗？"
    chunks = chunk_document(doc(text, "zh"))
    assert [c.text for c in chunks] == [
        "阿克米公司成立于2012年。",
        "总部位于柏林！",
        "它有员工吗？",
    ]


def test_a_point_inside_a_number_or_a_domain_does_not_end_a_chinese_sentence() -> None:
    # spaCy's Chinese tokenizer gives "3", ".", "5": its sentencizer ended a sentence there
    text = "阿克米去年收入3.5亿美元，网站是acme.com。玛丽亚说：“v2.0版很好。”売上は1.5億円だった。"
    chunks = chunk_document(doc(text, "zh"))
    assert [c.text for c in chunks] == [
        "阿克米去年收入3.5亿美元，网站是acme.com。",
        "玛丽亚说：“v2.0版很好。”",
        "売上は1.5億円だった。",
    ]


def test_an_english_abbreviation_does_not_end_a_chinese_sentence() -> None:
    # "Acme Inc." and "Dr." were sentences of their own, cut from what they are the subject of
    text = "Acme Inc.是一家公司。Dr.王在北京工作。他来了.我们走了。"
    chunks = chunk_document(doc(text, "zh"))
    assert [c.text for c in chunks] == [
        "Acme Inc.是一家公司。",
        "Dr.王在北京工作。",
        "他来了.",  # a point after Chinese still ends one
        "我们走了。",
    ]


def test_long_sentence_is_split_never_truncated() -> None:
    text = " ".join(f"word{i}" for i in range(3000))
    chunks = chunk_document(doc(text), ChunkConfig(max_sentence_chars=500))
    assert len(chunks) > 10
    assert all(len(c.text) <= 500 for c in chunks)
    assert " ".join(c.text for c in chunks) == text
    assert chunks[-1].text.endswith("word2999")


def test_a_long_sentence_is_not_cut_inside_a_name() -> None:
    # the last space before 500 characters is inside "Maria Gonzalez": the cut went there,
    # and NER found "Maria" in one chunk and nothing of "Gonzalez" in the next
    filler = " ".join(["the plant would open next year and hire many workers"] * 12)
    text = filler[:484] + " said Maria Gonzalez of Bank of America in Toronto and " + filler
    assert text.rfind(" ", 0, 500) == text.index(" Gonzalez")
    chunks = chunk_document(doc(text), ChunkConfig(max_sentence_chars=500))
    assert len(chunks) == 3
    assert any("said Maria Gonzalez of Bank of America in" in c.text for c in chunks)
    # Chinese: after a full-width comma, not inside a run of characters
    zh = "玛丽亚在多伦多创立了阿克米公司，" * 40 + "后来阿克米机器人公司搬到了柏林"
    pieces = chunk_document(doc(zh, "zh"), ChunkConfig(max_sentence_chars=500))
    assert all(c.text.endswith("，") for c in pieces[:-1])
    assert "".join(c.text for c in pieces) == zh


def test_ids_are_deterministic_and_change_with_content() -> None:
    first = chunk_document(doc("Acme is here. Berlin is there."))
    again = chunk_document(doc("Acme is here. Berlin is there."))
    changed = chunk_document(doc("Acme is here. Berlin is elsewhere."))
    assert [c.id for c in first] == [c.id for c in again]
    assert first[0].id != changed[0].id


def test_huge_document_is_chunked_to_its_end() -> None:
    sentence = "Acme Robotics opened an office in Berlin last spring. "
    text = sentence * 40_000
    chunks = chunk_document(doc(text))
    assert len(chunks) == 40_000
    assert chunks[-1].span.end == len(text.rstrip())


def test_text_sentence_spans_agree_with_the_splitter_and_skip_it_for_one_sentence() -> None:
    texts = {
        "  Acme was founded in 1999 in Oslo.  ": "en",
        "Dr. Lee joined Acme. She left in 2020! Why? Nobody said.": "en",
        "Report\n\nAcme grew.\n# Outlook\nMore growth": "en",
        "李明出生于北京。后来他搬到了上海。": "zh",
        "李明出生于北京。 后来他搬到了上海！ 是的。": "zh",  # a space after the full stops
        "मारिया ने कंपनी की स्थापना की। डेविड नैरोबी में रहता है।": "hi",
        "東京大学は日本にある．山田太郎は教授である．": "ja",  # full-width full stops
        "ﾏﾘｱはﾄﾛﾝﾄにいる｡ﾃﾞｲﾋﾞｯﾄﾞはﾅｲﾛﾋﾞにいる｡": "ja",  # half-width ones
        "هل أسست ماريا الشركة؟ نعم أسستها في تورونتو.": "ar",
        "   ": "en",
    }
    for text, lang in texts.items():
        expected = sentence_spans(text, lang, max_sentence_chars=len(text) + 1)
        assert text_sentence_spans(text) == expected, text
    assert text_sentence_spans("  Acme was founded in 1999 in Oslo.  ") == [(2, 35)]
    assert len(text_sentence_spans("Dr. Lee joined Acme. She left in 2020! Why? Nobody said.")) == 4
