"""A model reads only the languages its manifest declares; other documents are skipped."""

import json
import shutil
import unicodedata
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from kgbuild.errors import ConfigError
from kgbuild.lang import covers, detect_lang, model_languages
from kgbuild.nlp.sentences import sentence_spans
from kgbuild.pipeline import BuildReport, build
from kgbuild.store.sql.orm import StageEventRow, make_engine

# Chinese text (detected as "zh") with invented names the keyword model tags in English.
CHINESE = "玛丽亚创立了 Acme Robotics 公司，总部位于多伦多。David Chen 说这家公司在内罗毕工作。"
ENGLISH = "Maria Gonzalez founded Acme Robotics in Toronto."


def with_languages(model: Path, folder: Path, languages: list[str] | None) -> Path:
    """A copy of ``model`` whose manifest declares ``languages`` (None: no field)."""
    copy = folder / "model"
    shutil.copytree(model, copy)
    manifest_path = copy / "kgbuild_model.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest.pop("languages", None)
    if languages is not None:
        manifest["languages"] = languages
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    return copy


def corpus(folder: Path) -> Path:
    docs = folder / "docs"
    docs.mkdir()
    (docs / "en.txt").write_text(ENGLISH, encoding="utf-8")
    (docs / "zh.txt").write_text(CHINESE, encoding="utf-8")
    return docs


def test_chinese_document_is_not_read_by_an_english_model(
    tmp_path, keyword_ner_model, settings_for
) -> None:
    settings = settings_for(with_languages(keyword_ner_model, tmp_path, ["en"]))
    report = build([corpus(tmp_path)], settings)
    assert (report.processed, report.failed) == (2, 0)
    ((key, sources),) = report.language_skips.items()
    assert (key, [Path(s).name for s in sources]) == (("zh", ("ner",)), ["zh.txt"])
    assert "skipped ner for 1 document(s) in language 'zh'" in report.summary()
    data = json.loads(report.outputs["json"].read_text(encoding="utf-8"))
    documents = {n["id"] for n in data["nodes"] if n["kind"] == "document"}
    assert documents == {"doc:en.txt", "doc:zh.txt"}  # the document node is still there
    entity_docs = {d for n in data["nodes"] if n["kind"] == "entity" for d in n["doc_ids"]}
    assert entity_docs == {"en.txt"}  # no mention from the Chinese document
    engine = make_engine(settings.resolved_ledger_url())
    with Session(engine) as session:
        events = session.scalars(
            select(StageEventRow).where(StageEventRow.doc_id == "zh.txt")
        ).all()
        assert {(e.stage, e.status) for e in events} == {("chunk", "ok")}  # chunked, no NER
    assert report.chunks >= 3  # both documents were chunked


def test_a_chinese_paragraph_in_an_english_document_is_left_out_by_an_english_model(
    tmp_path, keyword_ner_model, settings_for
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    # the document reads as English; its middle paragraph is Chinese (naming Acme Robotics)
    english = f"{ENGLISH} The company grew quickly and opened offices in several cities."
    (docs / "mixed.txt").write_text(f"{english}\n\n{CHINESE}\n\n{english}", encoding="utf-8")

    def build_with(languages: list[str] | None, name: str) -> tuple[BuildReport, set[str]]:
        folder = tmp_path / name
        folder.mkdir()
        report = build([docs], settings_for(with_languages(keyword_ner_model, folder, languages)))
        data = json.loads(report.outputs["json"].read_text(encoding="utf-8"))
        names = {n["name"] for n in data["nodes"] if n["kind"] == "entity"}
        return report, names

    report, names = build_with(["en"], "en")
    assert (report.processed, report.failed, report.language_skips) == (1, 0, {})
    assert "Maria Gonzalez" in names
    ((key, found),) = report.sentence_skips.items()
    assert key == ("zh", ("ner",)) and [Path(s).name for s, _ in found] == ["mixed.txt"]
    assert found[0][1] >= 1
    assert "skipped ner for" in report.summary() and "in language 'zh' in 1 document(s)" in (
        report.summary()
    )
    assert report.chunks >= 3  # the Chinese sentences are still chunked and kept
    # a model that reads any language reads the paragraph too: one more mention of Acme
    read_all, _ = build_with(None, "any")
    assert read_all.sentence_skips == {} and read_all.mentions > report.mentions


def test_a_model_without_languages_reads_any_language(
    tmp_path, keyword_ner_model, settings_for
) -> None:
    settings = settings_for(with_languages(keyword_ner_model, tmp_path, None))
    report = build([corpus(tmp_path)], settings)
    assert report.language_skips == {}
    assert "no configured model reads it" not in report.summary()
    engine = make_engine(settings.resolved_ledger_url())
    with Session(engine) as session:
        events = session.scalars(
            select(StageEventRow).where(StageEventRow.doc_id == "zh.txt")
        ).all()
        assert {(e.stage, e.status) for e in events} == {("chunk", "ok"), ("ner", "ok")}


def test_shipped_models_declare_english() -> None:
    models = Path(__file__).resolve().parents[2] / "models"
    manifests = sorted(models.glob("*/kgbuild_model.json"))
    assert manifests
    for path in manifests:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        assert model_languages(manifest, str(path)) == frozenset({"en"}), path


def test_languages_field_is_checked() -> None:
    assert covers(model_languages({"languages": ["EN"]}, "m"), "en-GB")
    assert not covers(model_languages({"languages": ["en"]}, "m"), "zh")
    for bad in ("en", [], [1]):
        with pytest.raises(ConfigError, match="languages"):
            model_languages({"languages": bad}, "my-model")


# Invented names in Japanese, Korean, Russian and Arabic: none of them is English.
OTHER_SCRIPTS = {
    "ja": "マリア・ゴンザレスはトロントでアクメ・ロボティクスを設立した。デイビッドはナイロビにいる。",
    "ko": "마리아 곤잘레스는 토론토에서 애크미 로보틱스를 설립했다. 데이비드는 나이로비에 있다.",
    "ru": "Мария Гонсалес основала Acme Robotics в Торонто. Дэвид Чен живёт в Найроби.",
    "ar": "أسست ماريا غونزاليس شركة أكمي للروبوتات في تورونتو.",
}


def test_documents_in_other_scripts_are_not_read_by_an_english_model(
    tmp_path, keyword_ner_model, settings_for
) -> None:
    settings = settings_for(with_languages(keyword_ner_model, tmp_path, ["en"]))
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "en.txt").write_text(ENGLISH, encoding="utf-8")
    for lang, text in OTHER_SCRIPTS.items():
        (docs / f"{lang}.txt").write_text(text, encoding="utf-8")
    report = build([docs], settings)
    assert (report.processed, report.failed) == (5, 0)
    skipped = {
        lang: [Path(s).name for s in sources]
        for (lang, _), sources in report.language_skips.items()
    }
    assert skipped == {lang: [f"{lang}.txt"] for lang in OTHER_SCRIPTS}
    data = json.loads(report.outputs["json"].read_text(encoding="utf-8"))
    entity_docs = {d for n in data["nodes"] if n["kind"] == "entity" for d in n["doc_ids"]}
    assert entity_docs == {"en.txt"}


# Invented names in Latin-script languages other than English, and English text whose
# names hold their words.
LATIN = {
    "de": "Maria Gonzalez hat die Firma Acme Robotics in Toronto gegründet, und sie wird "
    "seit 2011 von ihr geleitet. David Chen ist auch dabei.",
    "fr": "Maria Gonzalez a fondé la société Acme Robotics à Toronto et elle est dirigée "
    "depuis par David Chen, qui vit dans le nord de la ville.",
    "es": "Maria Gonzalez fundó la empresa Acme Robotics en Toronto y David Chen es uno de "
    "los socios que la dirigen desde el año pasado.",
    "it": "Maria Gonzalez ha fondato la società Acme Robotics a Toronto e David Chen è uno "
    "dei soci che la dirigono nella sede della città.",
    "pt": "Maria Gonzalez fundou a empresa Acme Robotics em Toronto e David Chen é um dos "
    "sócios que a dirigem desde o ano passado na sua sede.",
    "nl": "Maria Gonzalez heeft het bedrijf Acme Robotics in Toronto opgericht en David Chen "
    "is een van de partners die het leiden met haar.",
    "sv": "Maria Gonzalez grundade företaget Acme Robotics i Toronto och hon är fortfarande "
    "dess chef. David Chen har också arbetat där sedan det startade.",
    "da": "Maria Gonzalez grundlagde firmaet Acme Robotics i Toronto, og hun er stadig dets "
    "direktør. David Chen har også arbejdet der, siden det blev startet.",
    "nb": "Maria Gonzalez grunnla selskapet Acme Robotics i Toronto, og hun er fortsatt "
    "direktør. David Chen har også jobbet der etter at det ble startet.",
    "fi": "Maria Gonzalez perusti Acme Robotics -yhtiön Torontossa, ja hän on edelleen sen "
    "johtaja. David Chen on myös ollut mukana yhtiössä sen alusta asti.",
    "pl": "Maria Gonzalez założyła firmę Acme Robotics w Toronto i nadal jest jej prezesem. "
    "David Chen także pracuje w firmie, która szybko się rozwija.",
    "cs": "Maria Gonzalez založila firmu Acme Robotics v Torontu a je také její ředitelkou. "
    "David Chen byl jejím společníkem, který pracuje v Berlíně.",
    "sk": "Maria Gonzalez založila firmu Acme Robotics v Toronte a je tiež jej riaditeľkou. "
    "David Chen bol jej spoločníkom, ktorý pracuje v Berlíne.",
    "ro": "Maria Gonzalez a fondat compania Acme Robotics în Toronto și este directoarea "
    "acesteia. David Chen a fost partenerul ei după anul 2011.",
    "hu": "Maria Gonzalez alapította az Acme Robotics céget Torontóban, és még ma is ő "
    "vezeti. David Chen szerint a cég gyorsan nő, de még nem nyereséges.",
    "tr": "Maria Gonzalez, Acme Robotics şirketini Toronto'da kurdu ve bu şirket daha sonra "
    "çok büyüdü. David Chen ise şirketin kurucu ortağı olarak çalışıyor.",
    "id": "Maria Gonzalez mendirikan perusahaan Acme Robotics di Toronto dan sampai sekarang "
    "masih memimpinnya. David Chen adalah rekan yang bekerja dengan dia sejak tahun 2011.",
}
READ_WITHOUT_ACCENTS = {"de", "fr", "es", "it", "pt", "nl", "sv", "da", "nb", "hu", "tr", "id"}
"""Those whose function words are still found with the accented letters left out."""
ENGLISH_WITH_NAMES = (
    "Maria Gonzalez of the Banco de la Nación met David Chen at Acme Robotics in Toronto; "
    "the Société des Transports said it was a good year for them."
)


def test_latin_script_languages_are_detected_from_their_words() -> None:
    for lang, text in LATIN.items():
        assert detect_lang(text) == lang, lang
        if lang in READ_WITHOUT_ACCENTS:
            assert detect_lang(text.encode("ascii", "ignore").decode()) == lang, lang
    assert detect_lang(ENGLISH_WITH_NAMES) == "en"
    assert detect_lang(ENGLISH) == "en"
    assert detect_lang("Where did Maria Gonzalez found Acme Robotics?") == "en"


def typed_without_diacritics(text: str) -> str:
    """``text`` as an ASCII keyboard types it: "się" as "sie", "için" as "icin"."""
    plain = unicodedata.normalize("NFKD", text.translate(str.maketrans("łŁı", "lLi")))
    return "".join(ch for ch in plain if not unicodedata.combining(ch))


def test_latin_script_languages_typed_without_diacritics_are_detected() -> None:
    for lang, text in LATIN.items():
        assert detect_lang(typed_without_diacritics(text)) == lang, lang


def test_english_with_names_from_other_latin_languages_stays_english() -> None:
    # Swedish, Polish, Romanian... are told from English by their words: names, however
    # accented, and words that are English too ("men", "care", "din", "'ve") do not count
    for text in (
        "Björn Borg won in Göteborg, then flew to Łódź to meet Ştefan Popescu.",
        "Søren Kierkegaard was born in København and Zoltán Kovács in Győr.",
        "Ştefan cel Mare was a prince of Moldavia; Türkiye İş Bankası opened in Ankara.",
        "Hans Berg, Meg Ek and Dan Yang met Ole Aki at the Politechnika Warszawska.",
        "I've said we've done what they've asked: the men of Din Care took care of it.",
        "Sen. Warren visited Universitas Indonesia and Bank Negara Indonesia in Jakarta.",
        "Where was Björn Borg born?",
    ):
        assert detect_lang(text) == "en", text


def test_symbols_and_digits_inside_a_token_do_not_make_a_language() -> None:
    # an English note with a pasted base64 blob: the letter runs between the blob's digits
    # and symbols ("+de/", "9la+", "y0") once counted as Spanish function words
    import random
    import string

    rng = random.Random(1)
    blob = "".join(rng.choice(string.ascii_letters + string.digits + "+/") for _ in range(6000))
    english = "Maria Gonzalez founded Acme Robotics in Toronto. "
    assert detect_lang(english + blob + " David Chen lives in Berlin.") == "en"
    assert detect_lang(blob) == "en"  # nothing to read: the default
    # words joined by apostrophes or hyphens, or wrapped in punctuation, still count
    assert (
        detect_lang(
            "«L'entreprise a été fondée à Lyon par Marie Dupont, et elle est dirigée par elle.»"
        )
        == "fr"
    )
    # a URL or a path in prose is skipped, not read
    assert detect_lang(LATIN["de"] + " https://example.org/de/la/el/y/del/los") == "de"
    assert detect_lang(ENGLISH + " see https://example.org/es/de/la/el/y/del/los/las/que") == "en"


def test_documents_in_other_latin_languages_are_not_read_by_an_english_model(
    tmp_path, keyword_ner_model, settings_for
) -> None:
    settings = settings_for(with_languages(keyword_ner_model, tmp_path, ["en"]))
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "en.txt").write_text(ENGLISH_WITH_NAMES, encoding="utf-8")
    for lang, text in LATIN.items():
        (docs / f"{lang}.txt").write_text(text, encoding="utf-8")
    report = build([docs], settings)
    assert (report.processed, report.failed) == (len(LATIN) + 1, 0)
    skipped = {
        lang: [Path(s).name for s in sources]
        for (lang, _), sources in report.language_skips.items()
    }
    assert skipped == {lang: [f"{lang}.txt"] for lang in LATIN}
    summary = report.summary()
    for lang in LATIN:
        assert f"skipped ner for 1 document(s) in language {lang!r}" in summary, lang
    data = json.loads(report.outputs["json"].read_text(encoding="utf-8"))
    langs = {n["id"]: n["lang"] for n in data["nodes"] if n["kind"] == "document"}
    assert langs == {"doc:en.txt": "en", **{f"doc:{lang}.txt": lang for lang in LATIN}}
    entity_docs = {d for n in data["nodes"] if n["kind"] == "entity" for d in n["doc_ids"]}
    assert entity_docs == {"en.txt"}


def test_a_japanese_document_is_split_into_its_sentences() -> None:
    text = OTHER_SCRIPTS["ja"]
    spans = sentence_spans(text, detect_lang(text), max_sentence_chars=400)
    assert [text[start:end] for start, end in spans] == [
        "マリア・ゴンザレスはトロントでアクメ・ロボティクスを設立した。",
        "デイビッドはナイロビにいる。",
    ]


def test_language_codes_with_a_region_read_as_their_language(tmp_path, settings_for) -> None:
    # POSIX "en_US" is English to an English model; "zh-CN" is chunked as Chinese
    default_ner = Path(__file__).resolve().parents[2] / "models" / "ner-wide-minilm"
    settings = settings_for(default_ner)
    records = [
        {"id": "us", "text": ENGLISH, "metadata": {"lang": "en_US"}},
        {
            "id": "cn",
            "text": "阿克米机器人公司总部位于柏林。玛丽亚是首席执行官。",
            "metadata": {"lang": "zh-CN"},
        },
    ]
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "docs.jsonl").write_text(
        "\n".join(json.dumps(r, ensure_ascii=False) for r in records), encoding="utf-8"
    )
    report = build([docs], settings)
    assert [key for key in report.language_skips] == [("zh-CN", ("ner",))]
    data = json.loads(report.outputs["json"].read_text(encoding="utf-8"))
    names = {n["name"] for n in data["nodes"] if n["kind"] == "entity"}
    assert {"Maria Gonzalez", "Acme Robotics", "Toronto"} <= names
    assert report.chunks == 3  # the English sentence and both Chinese ones


# Invented: Maria Gonzalez founded Acme Robotics in Toronto in 2011; David Chen co-founded it.
VIETNAMESE = (
    "Maria Gonzalez đã thành lập công ty Acme Robotics tại Toronto vào năm 2011. "
    "David Chen là người đồng sáng lập và hiện sống ở Nairobi."
)


def test_a_vietnamese_document_is_split_into_its_sentences() -> None:
    # spacy.blank("vi") needs the pyvi package: the words are split as the "xx" pipeline's
    spans = sentence_spans(VIETNAMESE, detect_lang(VIETNAMESE), max_sentence_chars=400)
    assert [VIETNAMESE[start:end] for start, end in spans] == [
        "Maria Gonzalez đã thành lập công ty Acme Robotics tại Toronto vào năm 2011.",
        "David Chen là người đồng sáng lập và hiện sống ở Nairobi.",
    ]


def test_a_vietnamese_document_is_not_read_by_the_english_model(tmp_path, settings_for) -> None:
    default_ner = Path(__file__).resolve().parents[2] / "models" / "ner-wide-minilm"
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "en.txt").write_text(ENGLISH, encoding="utf-8")
    (docs / "vi.txt").write_text(VIETNAMESE, encoding="utf-8")
    report = build([docs], settings_for(default_ner))
    assert (report.processed, report.failed) == (2, 0)
    skipped = {
        key: [Path(s).name for s in sources] for key, sources in report.language_skips.items()
    }
    assert skipped == {("vi", ("ner",)): ["vi.txt"]}
    assert "skipped ner for 1 document(s) in language 'vi'" in report.summary()
    assert report.chunks == 3  # the English sentence and both Vietnamese ones
    data = json.loads(report.outputs["json"].read_text(encoding="utf-8"))
    langs = {n["id"]: n["lang"] for n in data["nodes"] if n["kind"] == "document"}
    assert langs == {"doc:en.txt": "en", "doc:vi.txt": "vi"}
    entity_docs = {d for n in data["nodes"] if n["kind"] == "entity" for d in n["doc_ids"]}
    assert entity_docs == {"en.txt"}
