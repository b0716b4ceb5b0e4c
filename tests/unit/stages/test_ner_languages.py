"""NER models per language: a document is read by its language's model (ner.language_models)."""

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from transformers import BertForTokenClassification

from kgbuild.config import Settings
from kgbuild.data import Document, DocumentResult
from kgbuild.errors import ConfigError, ModelLoadError
from kgbuild.extraction import Extractor
from kgbuild.ids import content_hash
from kgbuild.nlp.tiny import make_tiny_bert
from kgbuild.pipeline import build
from kgbuild.stages.factories import NerStep
from tests.conftest import LABELS
from tests.unit.test_language_gate import CHINESE, ENGLISH, corpus


def document(doc_id: str, text: str, lang: str) -> Document:
    return Document(id=doc_id, text=text, source=doc_id, content_hash=content_hash(text), lang=lang)


def tagger(
    folder: Path, label: str, languages: list[str], *, seed: int = 0, labels: list[str] = LABELS
) -> Path:
    """A tiny NER model that tags every word ``B-<label>``, declaring ``languages``."""
    path = make_tiny_bert(folder, labels, seed=seed)
    model = BertForTokenClassification.from_pretrained(path)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.fill_(-10.0)
        model.classifier.bias[labels.index(f"B-{label}")] = 10.0
    model.save_pretrained(path)
    manifest = {"base": str(path), "task": "token-classification", "languages": languages}
    (path / "kgbuild_model.json").write_text(json.dumps(manifest), encoding="utf-8")
    return path


def models(tmp_path: Path, zh: list[str]) -> tuple[Path, Path]:
    """A model declaring English that finds places, one declaring ``zh`` that finds people."""
    return tagger(tmp_path / "en", "LOC", ["en"]), tagger(tmp_path / "zh", "PER", zh)


def ner_step(extractor: Extractor) -> NerStep:
    step = next(s for s in extractor.stages if s.label == "ner")
    assert isinstance(step, NerStep)
    return step


def test_chinese_documents_are_read_by_the_chinese_model(tmp_path, settings_for) -> None:
    main, chinese = models(tmp_path, ["zh"])
    settings = settings_for(main, language_models={"zh": str(chinese)})
    extractor = Extractor(settings, run_id="t")
    assert extractor.languages["ner"] == frozenset({"en", "zh"})
    en, zh = extractor([document("en", ENGLISH, "en"), document("zh", CHINESE, "zh-CN")])
    assert en.mentions and zh.mentions
    assert {m.provenance.model for m in en.mentions} == {str(main)}
    assert {m.provenance.model for m in zh.mentions} == {str(chinese)}
    assert (en.skipped_stages, zh.skipped_stages) == ((), ())

    report = build([corpus(tmp_path)], settings)
    assert (report.processed, report.failed, report.language_skips) == (2, 0, {})
    assert "skipped ner" not in report.summary()
    data = json.loads(report.outputs["json"].read_text(encoding="utf-8"))
    entity_docs = {d for n in data["nodes"] if n["kind"] == "entity" for d in n["doc_ids"]}
    assert entity_docs == {"en.txt", "zh.txt"}


def test_a_chinese_paragraph_is_read_by_the_chinese_model_in_document_order(
    tmp_path, settings_for
) -> None:
    main, chinese = models(tmp_path, ["zh"])
    text = f"{ENGLISH}\n\n{CHINESE}\n\n{ENGLISH}"
    extractor = Extractor(settings_for(main, language_models={"zh": str(chinese)}), run_id="t")
    (result,) = extractor([document("mixed", text, "en")])
    middle = (text.index(CHINESE), text.index(CHINESE) + len(CHINESE))

    def model(start: int) -> str:
        return str(chinese) if middle[0] <= start < middle[1] else str(main)

    starts = [m.provenance.span.start for m in result.mentions]
    assert starts == sorted(starts)  # both models' mentions, merged in document order
    assert {m.provenance.model for m in result.mentions} == {str(main), str(chinese)}
    for mention in result.mentions:
        assert mention.provenance.model == model(mention.provenance.span.start)
    assert result.skipped_sentences == ()


def test_without_a_chinese_model_the_chinese_document_is_skipped(tmp_path, settings_for) -> None:
    main, _ = models(tmp_path, ["zh"])
    extractor = Extractor(settings_for(main, language_models={}), run_id="t")
    assert ner_step(extractor).by_language is None
    en, zh = extractor([document("en", ENGLISH, "en"), document("zh", CHINESE, "zh")])
    assert (en.skipped_stages, zh.skipped_stages) == ((), ("ner",))
    assert en.mentions and not zh.mentions


def test_a_language_model_must_declare_its_language(tmp_path, settings_for) -> None:
    main, english = models(tmp_path, ["en"])
    with pytest.raises(
        ConfigError, match=rf"language 'zh-cn' to model {english}, which declares only en"
    ):
        Extractor(settings_for(main, language_models={"zh-CN": str(english)}), run_id="t")


def test_an_english_build_never_loads_the_chinese_model(tmp_path, settings_for) -> None:
    main, chinese = models(tmp_path, ["zh"])
    [weights] = chinese.glob("*.safetensors")
    weights.write_bytes(b"not a safetensors file")  # checked and keyed from its files; unloadable
    extractor = Extractor(settings_for(main, language_models={"zh": str(chinese)}), run_id="t")
    routes = ner_step(extractor).by_language
    assert routes is not None
    (en,) = extractor([document("en", ENGLISH, "en")])
    assert en.mentions and routes.loaded == {}
    with pytest.raises(
        ModelLoadError, match=re.escape(str(chinese))
    ):  # the first Chinese text loads it
        extractor([document("zh", CHINESE, "zh")])


def test_the_key_changes_with_the_language_models(tmp_path, settings_for) -> None:
    main, chinese = models(tmp_path, ["zh"])
    other = tagger(tmp_path / "other", "PER", ["zh"], seed=1)  # other weights

    def key(**ner: object) -> str:
        return Extractor(settings_for(main, **ner), run_id="t").model_key

    alone = key()
    assert key(language_models={}) == alone  # no language model: the key of earlier builds
    keys = {
        alone,
        key(language_models={"zh": str(chinese)}),
        key(language_models={"zh": str(other)}),
    }
    assert len(keys) == 3


def test_the_manifest_names_the_language_models(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    main, chinese = models(tmp_path, ["zh"])
    docs = [document("en", ENGLISH, "en"), document("zh", CHINESE, "zh-CN")]

    def extracted(by_language: str, **ner: object) -> list[DocumentResult]:
        folder = tmp_path / f"models-{len(list(tmp_path.glob('models-*')))}"
        folder.mkdir()
        shutil.copytree(chinese, folder / "ner-zh")
        manifest = f"ner:\n  default: {main}\n  by_language: {by_language}\n"
        (folder / "manifest.yaml").write_text(manifest, encoding="utf-8")
        monkeypatch.setenv("KGBUILD_MODELS_DIR", str(folder))
        settings = Settings(out_dir=tmp_path / "out", ner=ner)  # type: ignore[arg-type]
        return Extractor(settings, run_id="t")(docs)

    _, zh = extracted("{zh_CN: ner-zh}")  # language_models unset: the manifest's
    assert {m.provenance.model for m in zh.mentions} == {str(tmp_path / "models-0" / "ner-zh")}
    _, zh = extracted("{zh: ner-zh}", language_models={})  # a mapping replaces the manifest's
    assert zh.skipped_stages == ("ner",)
    with pytest.raises(ConfigError, match="ner-missing"):
        extracted("{zh: ner-missing}")
    with pytest.raises(ConfigError, match="by_language must map language codes"):
        extracted("[ner-zh]")


def test_a_new_language_model_re_reads_only_the_documents_in_its_language(
    tmp_path, settings_for
) -> None:
    main, chinese = models(tmp_path, ["zh"])
    other = tagger(tmp_path / "other", "PER", ["zh"], seed=1)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "en.txt").write_text(ENGLISH, encoding="utf-8")
    (docs / "zh.txt").write_text(CHINESE, encoding="utf-8")
    (docs / "mixed.txt").write_text(f"{ENGLISH}\n\n{CHINESE}\n\n{ENGLISH}", encoding="utf-8")

    def built(**ner: object) -> tuple[int, int]:
        report = build([docs], settings_for(main, **ner))
        assert report.failed == 0
        return report.processed, report.skipped

    assert built() == (3, 0)
    # the Chinese document and the English one with a Chinese paragraph; en.txt is reused
    assert built(language_models={"zh": str(chinese)}) == (2, 1)
    assert built(language_models={"zh": str(chinese)}) == (0, 3)
    assert built(language_models={"zh": str(other)}) == (2, 1)  # another Chinese model
    japanese = tagger(tmp_path / "ja", "PER", ["ja"])
    assert built(language_models={"ja": str(japanese)}) == (2, 1)  # no Chinese model again
    extractor = Extractor(settings_for(main, language_models={"zh": str(chinese)}), run_id="t")
    english = document("en", ENGLISH, "en")
    assert extractor.document_key(english) == Extractor(settings_for(main), run_id="t").model_key
    assert extractor.document_key(document("zh", CHINESE, "zh")) == extractor.model_key


def test_a_language_models_types_the_schema_lacks_are_refused(tmp_path, settings_for) -> None:
    main, _ = models(tmp_path, ["zh"])
    genes = tagger(tmp_path / "genes", "GENE", ["zh"], labels=["O", "B-GENE", "I-GENE"])
    extractor = Extractor(settings_for(main, language_models={"zh": str(genes)}), run_id="t")
    en, zh = extractor([document("en", ENGLISH, "en"), document("zh", CHINESE, "zh")])
    assert en.mentions and not zh.mentions
    assert zh.refused["GENE mention"] > 0  # counted, never stored
    assert "GENE" in extractor.document_key(document("zh", CHINESE, "zh"))
    assert "GENE" not in extractor.document_key(document("en", ENGLISH, "en"))
    with pytest.raises(ConfigError, match="renames model labels to GENE"):
        settings = settings_for(main, language_models={"zh": str(genes)}, label_map={"LOC": "GENE"})
        Extractor(settings, run_id="t")


def test_a_language_model_lacking_schema_types_is_named_with_its_language(
    tmp_path, settings_for, caplog: pytest.LogCaptureFixture
) -> None:
    """The build's model said its types would never be found, though the zh text is read by
    another model; the zh model's said "in zh text", not that only the text routed to it."""
    import logging

    main, _ = models(tmp_path, ["zh"])
    few = tagger(tmp_path / "few", "PER", ["zh"], labels=["O", "B-PER", "I-PER"])
    lead = "the graph schema (wikidata) declares entity types that NER model"
    found = "(none of them, nor relations and attributes of them, will be found"

    def warned(**ner: object) -> list[str]:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="kgbuild.stages.factories"):
            Extractor(settings_for(main, **ner), run_id="t")
        return [r.getMessage() for r in caplog.records if "never predicts" in r.getMessage()]

    assert warned(language_models={}) == [
        f"{lead} {main} never predicts {found}): MISC, NUM, TIME; the model predicts LOC, ORG, PER"
    ]
    assert warned(language_models={"zh": str(few), "zh_TW": str(few)}) == [
        f"{lead} {main} never predicts {found} in the text it reads: all but the zh, zh-tw text "
        "that ner.language_models routes to other models): MISC, NUM, TIME; "
        "the model predicts LOC, ORG, PER",
        f"{lead} {few} never predicts {found} in the zh, zh-tw text that ner.language_models "
        f"routes to it; {main} reads the rest): LOC, MISC, NUM, ORG, TIME; the model predicts PER",
    ]


def regional(tmp_path: Path) -> tuple[Path, Path, Path]:
    """:func:`models`, and one declaring ``zh-TW`` that finds organisations."""
    main, chinese = models(tmp_path, ["zh"])
    return main, chinese, tagger(tmp_path / "zh-tw", "ORG", ["zh-TW"])


def test_a_regional_code_takes_its_regions_documents_from_its_languages_model(
    tmp_path, settings_for
) -> None:
    main, chinese, taiwan = regional(tmp_path)
    routes = {"zh": str(chinese), "zh_tw": str(taiwan)}
    extractor = Extractor(settings_for(main, language_models=routes), run_id="t")
    results = extractor(
        [
            document("tw", CHINESE, "zh-TW"),
            document("tw-posix", CHINESE, "ZH_tw"),
            document("cn", CHINESE, "zh-CN"),
            document("zh", CHINESE, "zh"),  # detected: the language only
            document("mixed", f"{ENGLISH}\n\n{CHINESE}", "en"),  # a script tells no region
        ]
    )
    assert {r.doc_id: {m.provenance.model for m in r.mentions} for r in results} == {
        "tw": {str(taiwan)},
        "tw-posix": {str(taiwan)},
        "cn": {str(chinese)},
        "zh": {str(chinese)},
        "mixed": {str(main), str(chinese)},
    }
    assert all((r.skipped_stages, r.skipped_sentences) == ((), ()) for r in results)


def test_a_regional_model_alone_reads_no_other_region(tmp_path, settings_for) -> None:
    main, _, taiwan = regional(tmp_path)
    extractor = Extractor(settings_for(main, language_models={"zh-TW": str(taiwan)}), run_id="t")
    tw, cn, zh = extractor(
        [
            document("tw", CHINESE, "zh-TW"),
            document("cn", CHINESE, "zh-CN"),
            document("zh", CHINESE, "zh"),
        ]
    )
    # the Chinese sentences of a zh-TW document are in its language, not "zh" left out
    assert (tw.skipped_stages, tw.skipped_sentences) == ((), ())
    assert tw.mentions and {m.provenance.model for m in tw.mentions} == {str(taiwan)}
    assert (cn.skipped_stages, zh.skipped_stages) == (("ner",), ("ner",))  # the English model's
    assert not cn.mentions and not zh.mentions


def test_a_model_of_a_region_serves_no_other(tmp_path, settings_for) -> None:
    main, chinese, taiwan = regional(tmp_path)
    with pytest.raises(
        ConfigError, match=rf"language 'zh' to model {taiwan}, which declares only zh-tw"
    ):
        Extractor(settings_for(main, language_models={"zh": str(taiwan)}), run_id="t")
    with pytest.raises(ConfigError, match=rf"language 'zh-cn' to model {taiwan}"):
        Extractor(settings_for(main, language_models={"zh-CN": str(taiwan)}), run_id="t")
    # a model of the language serves any of its regions
    routes = {"zh-HK": str(chinese), "zh-TW": str(taiwan)}
    assert ner_step(
        Extractor(settings_for(main, language_models=routes), run_id="t")
    ).routed_languages == {"zh-hk", "zh-tw"}


def test_a_regional_model_re_reads_only_the_documents_of_its_region(tmp_path, settings_for) -> None:
    main, chinese, taiwan = regional(tmp_path)
    other = tagger(tmp_path / "other", "PER", ["zh"], seed=1)
    records = [
        {"id": "en", "text": ENGLISH},
        {"id": "mixed", "text": f"{ENGLISH}\n\n{CHINESE}"},
        {"id": "cn", "text": CHINESE, "metadata": {"lang": "zh-CN"}},
        {"id": "tw", "text": CHINESE, "metadata": {"lang": "zh-TW"}},
    ]
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "docs.jsonl").write_text(
        "\n".join(json.dumps(r, ensure_ascii=False) for r in records), encoding="utf-8"
    )

    def built(**routes: str) -> tuple[int, int]:
        report = build([docs], settings_for(main, language_models=routes))
        assert (report.failed, report.language_skips) == (0, {})
        return report.processed, report.skipped

    assert built(zh=str(chinese)) == (4, 0)
    assert built(zh=str(chinese), **{"zh-TW": str(taiwan)}) == (1, 3)  # tw only
    assert built(zh=str(other), **{"zh-TW": str(taiwan)}) == (2, 2)  # mixed and cn, not tw
