import unicodedata

from kgbuild.config import ChunkConfig
from kgbuild.data import Document
from kgbuild.ids import content_hash
from kgbuild.nlp.sentences import paragraph_spans
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
            "# Speakers",  # a heading is a sentence of its own (it was one with the name)
            "John Smith",
        ]
        assert all(text[c.span.start : c.span.end] == c.text for c in chunks)
        assert len(text_sentence_spans(text)) == 4
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


def sentences(text: str, lang: str = "en") -> list[str]:
    spans = sentence_spans(text, lang, max_sentence_chars=len(text) + 1)
    assert all(text[start:end].strip() == text[start:end] for start, end in spans)
    assert text_sentence_spans(text) == spans  # the free-text splitter agrees
    return [text[start:end] for start, end in spans]


def test_each_item_of_a_list_without_blank_lines_is_a_sentence() -> None:
    # the items were one run-on sentence: relations were read from one item to the next
    for mark in ("-", "*", "+", "1.", "1)", "•"):
        text = f"{mark} Alice founded Acme\n{mark} Bob lives in Paris\r\n  {mark} Carol joined"
        assert sentences(text) == [
            f"{mark} Alice founded Acme",
            f"{mark} Bob lives in Paris",
            f"{mark} Carol joined",
        ], mark
    # a number's point is the item's mark, not a sentence ("1." was one of its own)
    assert sentences("1. Alice founded Acme.\n2. Bob lives in Paris.") == [
        "1. Alice founded Acme.",
        "2. Bob lives in Paris.",
    ]
    # after a colon one item is a list; an item's wrapped line stays in it
    assert sentences("Our team:\n- Maria Gonzalez of\n  Acme Robotics\nThen came 2021.") == [
        "Our team:",
        "- Maria Gonzalez of\n  Acme Robotics\nThen came 2021.",
    ]
    assert sentences("Founders:\n12) Maria Gonzalez") == ["Founders:", "12) Maria Gonzalez"]
    assert sentences("Key facts\n1. Founded in\n   Toronto\n1. Based in Berlin") == [
        "Key facts",
        "1. Founded in\n   Toronto",
        "1. Based in Berlin",
    ]
    assert sentences("李明出生于北京\n• 后来他搬到了上海。他很高兴。", "zh") == [
        "李明出生于北京",
        "• 后来他搬到了上海。",
        "他很高兴。",
    ]


def test_each_item_of_a_chinese_or_japanese_list_is_a_sentence() -> None:
    # marks without a space after them were not read: a heading and its list were one
    # sentence, or the items ran into each other up to the next full stop
    items = ("星海科技成立于杭州", "李明是它的创始人", "王芳去年加入了公司")
    for marks in (
        ("1、", "2、", "3、"),
        ("１、", "２、", "３、"),
        ("一、", "二、", "三、"),
        ("（一）", "（二）", "（三）"),
        ("(一)", "(二)", "(三)"),
        ("①", "②", "③"),
        ("・", "・", "・"),
        ("●", "●", "●"),
        ("■ ", "■ ", "■ "),
    ):
        lines = [mark + item for mark, item in zip(marks, items, strict=True)]
        assert sentences("公司概况\n" + "\n".join(lines), "zh") == ["公司概况", *lines], marks
    text = "主要成员：\n1、李明，创始人。\n2、王芳。她负责销售。"
    assert sentences(text, "zh") == ["主要成员：", "1、李明，创始人。", "2、王芳。", "她负责销售。"]
    text = "登壇者\n・山田太郎は東京大学の教授である。\n・佐藤花子は大阪に住んでいる。"
    assert sentences(text, "ja") == [
        "登壇者",
        "・山田太郎は東京大学の教授である。",
        "・佐藤花子は大阪に住んでいる。",
    ]
    text = "会社の沿革\n①二〇一五年に東京で設立。\n②二〇二〇年に大阪へ移転。"
    assert sentences(text, "ja") == [
        "会社の沿革",
        "①二〇一五年に東京で設立。",
        "②二〇二〇年に大阪へ移転。",
    ]
    # prose that only wraps, with no mark, is still one sentence
    text = "星海科技成立于杭州，\n创始人是李明。"
    assert sentences(text, "zh") == [text]


def test_a_line_that_starts_with_a_number_or_a_dash_in_prose_is_no_list_item() -> None:
    # a number a wrapped line starts with stays with its sentence, the one before
    text = (
        "The court held that the law infringed article\n34. Again, it applied to everyone, "
        "and the\ncourt found that it also infringed article\n34. So the law was struck down."
    )
    assert [sentence.rsplit("\n")[-1] for sentence in sentences(text)] == ["34.", "34.", text[-27:]]
    for text in (
        "Acme grew fast in the year\n1990 was a good year for Acme.",
        "Acme was founded by Maria Gonzalez\n- the engineer from Guadalajara - in 2011.",
        "The firm counted\n3) Bob and more.",
        "It was Maria\n-Gonzalez and Acme\n*Robotics*.",
    ):
        assert sentences(text) == [text], text


def test_a_heading_is_a_sentence_of_its_own() -> None:
    # a heading was one sentence with the text under it: "Acme Corp Acme was founded ..."
    assert sentences("# Acme Corp\nAcme was founded in 1990 in Berlin.") == [
        "# Acme Corp",
        "Acme was founded in 1990 in Berlin.",
    ]
    assert sentences("Acme Corp\n=========\nAcme was founded.\n\nPeople\n---\nMaria") == [
        "Acme Corp\n=========",
        "Acme was founded.",
        "People\n---",
        "Maria",
    ]
    # plain text: a short first line over prose whose lines it would have been part of
    assert sentences("About Acme Robotics\r\nAcme Robotics Inc. was founded in 2011.") == [
        "About Acme Robotics",
        "Acme Robotics Inc. was founded in 2011.",
    ]
    assert sentences('Acme Corp\n"We build robots," Maria said.') == [
        "Acme Corp",
        '"We build robots," Maria said.',
    ]


def test_only_a_markdown_heading_starts_a_paragraph_not_a_hashtag() -> None:
    # any line starting with "#" started a paragraph: a tweet's hashtags cut it in two
    tweet = "Maria Gonzalez of Acme Robotics showed the new arm\n#robots #AI\nin Berlin today"
    assert list(paragraph_spans(tweet)) == [(0, len(tweet))]
    assert sentences(tweet) == [tweet]
    text = "Acme grew.\n## Outlook\nMore growth"
    assert list(paragraph_spans(text)) == [(0, 10), (11, len(text))]


def test_a_line_break_that_wraps_prose_or_names_cuts_no_sentence() -> None:
    for text in (
        # the next word would have fitted on the first line: it wraps prose
        "The company said that it was Maria\nGonzalez of Acme\r\nRobotics in the city of\nBerlin.",
        "The company said that\nMaria Gonzalez founded Acme in Toronto in 2011 and it grew.",
        "The year\n1990 was a good year for Acme.",
        "Acme Robotics\nMaria Gonzalez\nDavid Chen",  # no prose under it
        "Maria Gonzalez\nCo-founder and Chief Executive Officer",  # a signature
        "Acme Robotics Inc.\nAnnual Report to Shareholders, Fiscal Year 2023\nToronto, Canada",
        "Acme Robotics,\nMaria Gonzalez and David Chen were there.",
    ):
        assert sentences(text) == [text], text
