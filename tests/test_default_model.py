"""The shipped default NER model (LoRA adapter over MiniLM-L6) on a few fixed sentences."""

from kgbuild.config import NerConfig
from kgbuild.data import Document
from kgbuild.ids import content_hash
from kgbuild.stages.chunking import chunk_document
from kgbuild.stages.ner import NerStage


def test_default_model_tags_people_organisations_and_places() -> None:
    text = (
        "Maria Gonzalez founded Acme Robotics in Toronto in 2011. "
        "Angela Merkel met Emmanuel Macron in Berlin. "
        "Microsoft bought GitHub, a company based in San Francisco."
    )
    doc = Document(id="d", text=text, source="d", content_hash=content_hash(text))
    stage = NerStage(NerConfig(), run_id="r")
    assert stage.loaded.name.endswith("ner-en-minilm")
    found = {(m.text, m.label) for m in stage(chunk_document(doc), {"d": "en"})}
    expected = {
        ("Maria Gonzalez", "PER"),
        ("Toronto", "LOC"),
        ("Angela Merkel", "PER"),
        ("Emmanuel Macron", "PER"),
        ("Berlin", "LOC"),
        ("Microsoft", "ORG"),
        ("San Francisco", "LOC"),
    }
    assert expected <= found, found
