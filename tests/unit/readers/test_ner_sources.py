import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kgbuild.cli import app
from kgbuild.errors import DataFormatError, InputError
from kgbuild.nlp.context import context_room, context_window
from kgbuild.nlp.tiny import make_tiny_bert
from kgbuild.readers.conll import TaggedSentence, iter_conll_documents
from kgbuild.readers.ner_sources import NerSource, parse_source, read_source, unannotated_words
from tests.unit.training.test_train_ner import _write_conll, _write_docred


def test_sources_name_format_file_and_document_slice() -> None:
    assert parse_source("data/train.txt") == NerSource(format="conll", path=Path("data/train.txt"))
    assert parse_source("x.txt", "bmes").format == "bmes"
    docred = parse_source("docred:/d/dev_revised.json@100:500")
    assert (docred.format, docred.path, docred.docs) == (
        "docred",
        Path("/d/dev_revised.json"),
        (100, 500),
    )
    assert parse_source("docred:dev.json@:100").docs == (0, 100)
    assert parse_source("docred:dev.json@400:").docs == (400, None)
    assert str(parse_source("docred:dev.json@0:100")) == "docred:dev.json@0:100"
    assert parse_source("wnut17:w.conll").partial and not docred.partial
    with pytest.raises(InputError, match="unknown format 'xml'"):
        parse_source("w.conll", "xml")
    with pytest.raises(InputError, match="is empty"):
        parse_source("docred:dev.json@5:5")
    with pytest.raises(InputError, match="names no file"):
        parse_source("conll:")


def test_docred_slice_reads_documents_with_longer_mentions_tagged(tmp_path: Path) -> None:
    path = _write_docred(tmp_path / "docred.json")
    documents = read_source(parse_source(f"docred:{path}@0:2"))
    assert len(documents) == 2 and all(len(doc) == 2 for doc in documents)
    first = documents[0]
    assert first[0].tags == (
        "B-PER", "I-PER", "O", "B-ORG", "O", "O", "B-LOC", "O", "B-TIME", "O",
    )  # fmt: skip
    # "London Paris" (MISC) holds "London" (LOC): the longer one is tagged
    assert first[1].tags == ("O", "O", "B-NUM", "O", "O", "B-MISC", "I-MISC", "O")
    assert documents[1][1].tags[5:7] == ("B-LOC", "O")
    assert len(read_source(parse_source(f"docred:{path}@2:"))) == 1


def test_conll_documents_and_wnut_types(tmp_path: Path) -> None:
    conll = tmp_path / "c.txt"
    conll.write_text(
        "-DOCSTART- O\n\nA O\n\nB B-PER\n\n-DOCSTART- O\n\nC B-LOC\n", encoding="utf-8"
    )
    assert [len(doc) for doc in iter_conll_documents(conll)] == [2, 1]
    assert [len(doc) for doc in read_source(parse_source(f"conll:{conll}"))] == [2, 1]
    wnut = tmp_path / "w.conll"
    wnut.write_text(
        "Mary\tB-person\nJane\tI-person\nof\tO\nAcme\tB-corporation\nBand\tB-group\n\n"
        "Tetris\tB-creative-work\nPhone\tB-product\nParis\tB-location\n",
        encoding="utf-8",
    )
    documents = read_source(parse_source(f"wnut17:{wnut}"))
    assert [doc[0].tags for doc in documents] == [
        ("B-PER", "I-PER", "O", "B-ORG", "B-ORG"),
        ("B-MISC", "B-MISC", "B-LOC"),
    ]


def test_a_wnut_type_it_does_not_know_is_refused_not_untagged(tmp_path: Path) -> None:
    wnut = tmp_path / "w.conll"
    wnut.write_text("Mary\tB-person\n\nin\tO\nLyon\tB-locaton\n", encoding="utf-8")
    with pytest.raises(DataFormatError) as info:
        read_source(parse_source(f"wnut17:{wnut}"))
    assert str(info.value) == (
        f"{wnut}: sentence 2: word 2 'Lyon': tag 'B-locaton' has entity type 'locaton', not "
        "one of person, location, corporation, group, creative-work, product (WNUT-17 types)"
    )


def test_dates_and_numbers_are_unannotated_in_partial_corpora() -> None:
    sentence = TaggedSentence(
        tokens=("In", "May", "1996", ",", "3rd", "may", "go", "to", "2000", "Street"),
        tags=("O", "O", "O", "O", "O", "O", "O", "O", "B-LOC", "I-LOC"),
    )
    assert unannotated_words(sentence) == (
        False, True, True, False, True, False, False, False, False, False,
    )  # fmt: skip


def test_context_is_trimmed_nearest_first() -> None:
    assert context_room(100, 100, 10) == (5, 5)
    assert context_room(2, 100, 10) == (2, 8)
    assert context_room(100, 3, 10) == (7, 3)
    assert context_room(5, 5, 0) == (0, 0)
    pieces = [[1, 2, 3], [4, 5], [6, 7, 8, 9], [10]]
    assert context_window(pieces, 2, 4) == ([3, 4, 5], [10])  # the right needs less
    assert context_window(pieces, 2, 3) == ([4, 5], [10])
    assert context_window(pieces, 0, 20) == ([], [4, 5, 6, 7, 8, 9, 10])
    assert context_window(pieces, 2, 0) == ([], [])


def test_cli_trains_on_sources_and_scores_docred(tmp_path: Path) -> None:
    base = make_tiny_bert(tmp_path / "base", ["O"])
    conll = _write_conll(tmp_path / "train.txt", 16, 0)
    docred = _write_docred(tmp_path / "docred.json")
    out = tmp_path / "model"
    runner = CliRunner()
    trained = runner.invoke(
        app,
        [
            "train", "ner", "--train", f"conll:{conll}", "--train", f"docred:{docred}@1:3",
            "--dev", str(conll), "--out", str(out), "--base", str(base), "--max-steps", "2",
            "--lora-rank", "4", "--batch-size", "8", "--max-length", "64", "--context",
            "--device", "cpu", "--language", "en",
        ],
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    manifest = json.loads((out / "kgbuild_model.json").read_text())
    assert manifest["context"] is True
    assert manifest["languages"] == ["en"]
    target = tmp_path / "scores.json"
    scored = runner.invoke(
        app,
        [
            "evaluate", "ner", "--model", str(out), "--data", str(docred), "--format", "docred",
            "--docs", "0:1", "--device", "cpu", "--json-out", str(target),
        ],
    )  # fmt: skip
    assert scored.exit_code == 0, scored.output
    written = json.loads(target.read_text())
    assert written["data"] == f"docred:{docred}@0:1"
    assert {"PER", "ORG", "LOC", "MISC", "TIME", "NUM"} <= set(written["per_type"])
    assert written["micro"]["support"] == 7
    assert "TIME:" in scored.output
    for extra, reads_in_context in (([], True), (["--no-context"], False)):
        continued = tmp_path / f"continued{len(extra)}"
        trained = runner.invoke(
            app,
            [
                "train", "ner", "--train", str(conll), "--dev", str(conll), "--init", str(out),
                "--out", str(continued), "--base", str(base), "--max-steps", "1",
                "--lora-rank", "4", "--batch-size", "8", "--max-length", "64",
                "--device", "cpu", *extra,
            ],
        )  # fmt: skip
        assert trained.exit_code == 0, trained.output
        manifest = json.loads((continued / "kgbuild_model.json").read_text())
        # was False without --context: the continued model read each sentence alone
        assert manifest["context"] is reads_in_context


def test_fewrel_and_text_sources_are_words_without_gold(tmp_path: Path) -> None:
    fewrel = tmp_path / "fewrel.json"
    fewrel.write_text(
        json.dumps(
            {
                "P57": [{"tokens": ["Varno", "directed", "Kestrel", "."], "h": [], "t": []}],
                "P50": [{"tokens": ["Lumo", "wrote", "it"], "h": [], "t": []}],
            }
        ),
        encoding="utf-8",
    )
    source = parse_source(f"fewrel:{fewrel}")
    assert source.unlabeled and not source.partial
    documents = read_source(source)
    assert [[s.tokens for s in d] for d in documents] == [
        [("Varno", "directed", "Kestrel", ".")],
        [("Lumo", "wrote", "it")],
    ]
    text = tmp_path / "words.txt"
    text.write_text("First one here .\nSecond  one\n\n\nAnother document\n", encoding="utf-8")
    documents = read_source(parse_source(f"text:{text}"))
    assert [[s.tokens for s in d] for d in documents] == [
        [("First", "one", "here", "."), ("Second", "one")],
        [("Another", "document")],
    ]
    assert not parse_source("conll:x.txt").unlabeled


def test_a_malformed_unlabeled_source_says_what_it_expected(tmp_path: Path) -> None:
    from kgbuild.errors import DataFormatError

    bad = tmp_path / "bad.json"
    bad.write_text('["not", "fewrel"]', encoding="utf-8")
    with pytest.raises(DataFormatError, match="not FewRel JSON"):
        read_source(parse_source(f"fewrel:{bad}"))
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"bad\xff")
    with pytest.raises(DataFormatError, match="not utf-8 text"):
        read_source(parse_source(f"text:{binary}"))
