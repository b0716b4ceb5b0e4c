"""``kgbuild train re`` on a user's own CoNLL04 files: mistakes refused before training."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from kgbuild.errors import DataFormatError, InputError
from kgbuild.nlp.tiny import make_tiny_bert
from kgbuild.training.re import train_re
from tests.conftest import in_cp1252, refused_then_read_in_cp1252, write_keyword_conll04


def test_dev_relation_labels_absent_from_training_are_refused(tmp_path: Path) -> None:
    """A dev file with a label train lacks trained it on no example and scored it anyway."""
    train = write_keyword_conll04(tmp_path / "train.json", 16, seed=0)
    dev = write_keyword_conll04(tmp_path / "dev.json", 4, seed=1)
    records = json.loads(dev.read_text(encoding="utf-8"))
    for record in records:
        for relation in record["relations"]:
            relation[4] = relation[4].replace("OrgBased_In", "Located_In")
    dev.write_text(json.dumps(records), encoding="utf-8")
    base = make_tiny_bert(tmp_path / "base", ["O"])
    message = (
        rf"{re.escape(str(dev))}: dev relation labels Located_In appear in no training "
        r"example \(it has OrgBased_In, Work_For\)"
    )
    with pytest.raises(InputError, match=message):
        train_re(train, dev, base=str(base), out=tmp_path / "m", epochs=1, device="cpu")
    assert not (tmp_path / "m").exists()


def _docred(path: Path, relation: str, person: str = "PER") -> Path:
    sentence = ["John", "Smith", "of", "Reuters", "went", "to", "Paris", "."]
    vertex = [
        [{"name": "John Smith", "sent_id": 0, "pos": [0, 2], "type": person}],
        [{"name": "Reuters", "sent_id": 0, "pos": [3, 4], "type": "ORG"}],
        [{"name": "Paris", "sent_id": 0, "pos": [6, 7], "type": "LOC"}],
    ]
    labels = [{"h": 0, "t": 1, "r": relation, "evidence": [0]}]
    document = {"title": "d", "sents": [sentence], "vertexSet": vertex, "labels": labels}
    path.write_text(json.dumps([document] * 3), encoding="utf-8")
    return path


def test_docred_dev_relation_labels_absent_from_training_are_refused(tmp_path: Path) -> None:
    from kgbuild.training.doc_re_train import train_doc_re

    train = _docred(tmp_path / "train.json", "P108")
    dev = _docred(tmp_path / "dev.json", "P17")  # a schema type, but not in train.json
    base = make_tiny_bert(tmp_path / "base", ["O"])
    message = rf"{re.escape(str(dev))}: dev relation labels P17 appear in no training"
    with pytest.raises(InputError, match=message + r" example \(it has P108\)"):
        train_doc_re(train, out=tmp_path / "m", base=str(base), dev=dev, device="cpu")
    assert not (tmp_path / "m").exists()


def test_docred_relation_labels_the_schema_does_not_declare_are_refused(tmp_path: Path) -> None:
    """A label no schema type stands for trained a score column the build drops."""
    from kgbuild.training.doc_re_train import train_doc_re

    train = _docred(tmp_path / "train.json", "P9999")
    with pytest.raises(DataFormatError) as info:
        train_doc_re(train, out=tmp_path / "m", base="unused", dev_docs=1, device="cpu")
    message = str(info.value)
    assert message.startswith(
        f"{train}: record 0 'd': label 0: relation 'P9999' is not declared by the schema "
        "(wikidata), which expects a relation type's name or Wikidata id, e.g. "
        "HEAD_OF_GOVERNMENT (P6), COUNTRY (P17), "
    )
    assert message.endswith(
        " in all). In all, 3 relation labels of 1 type the schema (wikidata) does not "
        "declare: P9999 (3). Rename them, train for another schema (--schema), or leave them "
        "out (--unknown-relations drop)"
    )
    assert not (tmp_path / "m").exists()


def test_docred_entity_types_the_schema_does_not_declare_are_refused(tmp_path: Path) -> None:
    from kgbuild.training.doc_re_train import train_doc_re

    train = _docred(tmp_path / "train.json", "P108", person="PERSON")
    with pytest.raises(DataFormatError) as info:
        train_doc_re(train, out=tmp_path / "m", base="unused", dev_docs=1, schema=Path("business"))
    assert str(info.value) == (
        f"{train}: record 0 'd': entity 0 mention 0 'John Smith' has type 'PERSON', which the "
        "schema (business) does not declare; it declares LOC, MISC, ORG, PER. In all, 3 "
        "mentions of types it does not declare: PERSON (3)"
    )


def test_docred_labels_are_checked_in_the_dev_file_and_by_name(tmp_path: Path) -> None:
    """Business declares WORKS_FOR by name; its relations have no Wikidata id but P-codes of
    attributes, so ``P108`` is unknown there."""
    from kgbuild.training.doc_re_train import train_doc_re

    train = _docred(tmp_path / "train.json", "WORKS_FOR")
    dev = _docred(tmp_path / "dev.json", "P108")
    with pytest.raises(DataFormatError, match=rf"^{re.escape(str(dev))}: record 0 'd': label 0: "):
        train_doc_re(train, out=tmp_path / "m", base="unused", dev=dev, schema=Path("business"))


def test_unknown_docred_relations_are_dropped_with_a_counted_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from kgbuild.readers.docred import read_docred
    from kgbuild.schema import load_schema
    from kgbuild.training.doc_re_labels import DocLabelCheck

    path = tmp_path / "train.json"
    documents = json.loads(_docred(path, "P17").read_text(encoding="utf-8"))
    documents[0]["labels"] += [
        {"h": 1, "t": 2, "r": "P9999", "evidence": []},
        {"h": 2, "t": 1, "r": "P9999", "evidence": []},
        {"h": 0, "t": 2, "r": "P7", "evidence": []},
    ]
    documents[1]["labels"].append({"h": 1, "t": 0, "r": "P9999", "evidence": []})
    path.write_text(json.dumps(documents), encoding="utf-8")
    check = DocLabelCheck(load_schema(None), "wikidata", "drop")
    with caplog.at_level(logging.WARNING, logger="kgbuild.training.doc_re_labels"):
        kept = check.documents(path, read_docred(path))
    assert [[r.relation for r in doc.relations] for doc in kept] == [["P17"]] * 3
    assert caplog.messages == [
        f"{path}: dropped 4 relation labels of 2 types the schema (wikidata) does not "
        "declare: P9999 (3), P7 (1)"
    ]


def test_cli_refuses_an_unknown_relations_mode_and_schema_options_without_docred(
    tmp_path: Path,
) -> None:
    from typer.testing import CliRunner

    from kgbuild.cli import app

    train = _docred(tmp_path / "train.json", "P17")
    args = ["train", "re", "--train", str(train), "--out", str(tmp_path / "m")]
    bad = CliRunner().invoke(app, [*args, "--format", "docred", "--unknown-relations", "keep"])
    assert bad.exit_code != 0
    assert "--unknown-relations must be error or drop, not 'keep'" in " ".join(bad.output.split())
    other = CliRunner().invoke(app, [*args, "--schema", "business"])
    assert other.exit_code != 0
    assert "--schema is for --format docred" in " ".join(other.output.split())


def test_a_run_dropping_unknown_relations_resumes_only_with_the_same_schema(
    tmp_path: Path,
) -> None:
    """Dropped labels depend on the schema: a checkpoint of one must not go on with another."""
    from kgbuild.training.doc_re_train import DocReData, DocReRun, DocReTask

    train = _docred(tmp_path / "train.json", "P17")

    def settings(data: DocReData) -> dict[str, object]:
        task = DocReTask(train, DocReRun(), data, base="b", out=tmp_path / "m")
        return task._checkpoint_settings()

    kept = settings(DocReData())
    assert "dropped_unknown_relations" not in kept  # checkpoints of earlier runs still resume
    wide = settings(DocReData(unknown_relations="drop"))
    narrow = settings(DocReData(unknown_relations="drop", schema=Path("business")))
    assert wide["dropped_unknown_relations"] != narrow["dropped_unknown_relations"]
    assert {k: v for k, v in wide.items() if k != "dropped_unknown_relations"} == kept


@pytest.mark.parametrize("data_format", ["conll04", "docred"])
def test_train_re_reads_its_files_in_the_encoding_given(tmp_path: Path, data_format: str) -> None:
    """Decoded in --encoding, the files get as far as the dev-label check before training."""
    from kgbuild.cli import app

    if data_format == "conll04":
        train = in_cp1252(write_keyword_conll04(tmp_path / "train.json", 16, seed=0))
        dev = write_keyword_conll04(tmp_path / "dev.json", 4, seed=1)
        records = json.loads(dev.read_text(encoding="utf-8"))
        for record in records:
            for relation in record["relations"]:
                relation[4] = relation[4].replace("OrgBased_In", "Located_In")
        dev.write_text(json.dumps(records), encoding="utf-8")
        dev = in_cp1252(dev)
        absent = "Located_In"
    else:
        train = in_cp1252(_docred(tmp_path / "train.json", "P108"))
        dev = in_cp1252(_docred(tmp_path / "dev.json", "P17"))
        absent = "P17"
    base = make_tiny_bert(tmp_path / "base", ["O"])
    command = ["train", "re", "--format", data_format, "--train", str(train), "--dev", str(dev)]
    command += ["--base", str(base), "--out", str(tmp_path / "m"), "--device", "cpu"]
    result = refused_then_read_in_cp1252(app, command, train)
    assert result.exit_code == 2, result.output
    assert f"dev relation labels {absent} appear in no training" in result.output
    assert not (tmp_path / "m").exists()


def test_train_doc_re_reads_its_files_in_the_encoding_given(tmp_path: Path) -> None:
    """The Python API takes the CLI's --encoding: decoded, the file reaches the schema check."""
    from kgbuild.training.doc_re_train import train_doc_re

    train = in_cp1252(_docred(tmp_path / "train.json", "P9999"))
    with pytest.raises(DataFormatError, match="not utf-8 text"):
        train_doc_re(train, out=tmp_path / "m", base="unused", dev_docs=1, device="cpu")
    with pytest.raises(DataFormatError, match="relation 'P9999' is not declared by the schema"):
        train_doc_re(
            train, out=tmp_path / "m", base="unused", dev_docs=1, device="cpu", encoding="cp1252"
        )
    assert not (tmp_path / "m").exists()
