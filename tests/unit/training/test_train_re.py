"""``kgbuild train re`` on a user's own CoNLL04 files: mistakes refused before training."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kgbuild.errors import InputError
from kgbuild.nlp.tiny import make_tiny_bert
from kgbuild.training.re import train_re
from tests.conftest import write_keyword_conll04


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


def _docred(path: Path, relation: str) -> Path:
    sentence = ["John", "Smith", "of", "Reuters", "went", "to", "Paris", "."]
    vertex = [
        [{"name": "John Smith", "sent_id": 0, "pos": [0, 2], "type": "PER"}],
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
    dev = _docred(tmp_path / "dev.json", "works_for")
    base = make_tiny_bert(tmp_path / "base", ["O"])
    message = rf"{re.escape(str(dev))}: dev relation labels works_for appear in no training"
    with pytest.raises(InputError, match=message + r" example \(it has P108\)"):
        train_doc_re(train, out=tmp_path / "m", base=str(base), dev=dev, device="cpu")
    assert not (tmp_path / "m").exists()


def _in_cp1252(path: Path) -> Path:
    """``path`` (UTF-8 JSON) rewritten in cp1252 with a word beyond ASCII ("…", byte 0x85)."""
    text = path.read_text(encoding="utf-8").replace('"."', '"\u2026"')
    assert "\u2026" in text
    path.write_bytes(text.encode("cp1252"))
    return path


@pytest.mark.parametrize("data_format", ["conll04", "docred"])
def test_train_re_reads_its_files_in_the_encoding_given(tmp_path: Path, data_format: str) -> None:
    """Decoded in --encoding, the files get as far as the dev-label check before training."""
    from typer.testing import CliRunner

    from kgbuild.cli import app

    if data_format == "conll04":
        train = _in_cp1252(write_keyword_conll04(tmp_path / "train.json", 16, seed=0))
        dev = write_keyword_conll04(tmp_path / "dev.json", 4, seed=1)
        records = json.loads(dev.read_text(encoding="utf-8"))
        for record in records:
            for relation in record["relations"]:
                relation[4] = relation[4].replace("OrgBased_In", "Located_In")
        dev.write_text(json.dumps(records), encoding="utf-8")
        dev = _in_cp1252(dev)
        absent = "Located_In"
    else:
        train = _in_cp1252(_docred(tmp_path / "train.json", "P108"))
        dev = _in_cp1252(_docred(tmp_path / "dev.json", "works_for"))
        absent = "works_for"
    base = make_tiny_bert(tmp_path / "base", ["O"])
    command = ["train", "re", "--format", data_format, "--train", str(train), "--dev", str(dev)]
    command += ["--base", str(base), "--out", str(tmp_path / "m"), "--device", "cpu"]
    refused = CliRunner().invoke(app, command)
    assert refused.exit_code == 2, refused.output
    assert f"{train}:1: not utf-8 text" in refused.output and "--encoding" in refused.output
    result = CliRunner().invoke(app, [*command, "--encoding", "cp1252"])
    assert result.exit_code == 2, result.output
    assert f"dev relation labels {absent} appear in no training" in result.output
    assert not (tmp_path / "m").exists()
